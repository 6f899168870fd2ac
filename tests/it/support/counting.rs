//! A real local object store that counts the GETs of keys under a prefix, so a test can show
//! what a listing or a cache reads, and what it leaves alone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use pixelproof::store::{LocalStore, ObjectKey, ObjectStore, PutOutcome, StoreError};

#[derive(Debug)]
pub struct CountingStore {
    inner: LocalStore,
    /// GETs of keys starting with this are counted (`""`: every GET).
    counted: String,
    gets: AtomicUsize,
}

impl CountingStore {
    /// A local store in `dir` counting the GETs of keys that start with `counted`.
    pub fn open(dir: &std::path::Path, counted: &str) -> Arc<CountingStore> {
        let inner = LocalStore::open(dir).expect("open a local store");
        Arc::new(CountingStore { inner, counted: counted.to_string(), gets: AtomicUsize::new(0) })
    }

    /// The counted GETs so far.
    pub fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }

    /// Starts counting again from 0.
    pub fn reset(&self) {
        self.gets.store(0, Ordering::SeqCst);
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.inner.put(key, bytes).await
    }
    async fn put_if_absent(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<PutOutcome, StoreError> {
        self.inner.put_if_absent(key, bytes).await
    }
    async fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, StoreError> {
        if key.as_str().starts_with(&self.counted) {
            self.gets.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.get(key).await
    }
    async fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        self.inner.exists(key).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, StoreError> {
        self.inner.list(prefix).await
    }
}
