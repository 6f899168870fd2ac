//! Object-store requests for synchronous callers (the baseline store, the routing table): each
//! runs on a small runtime of this module's own and the caller waits. Clients used this way are
//! made here too ([`connect_s3`]), so their connections live on the runtime that drives them.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use super::{ObjectKey, ObjectStore, S3Config, S3Store, StoreError};

/// The runtime the bucket's requests run on, whoever calls: started once, never stopped.
fn io_runtime() -> Result<&'static tokio::runtime::Runtime, StoreError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("pixelproof-store-io")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| StoreError::Unavailable { detail: format!("could not start the object store's I/O runtime: {e}") })
}

/// Runs `request` on the I/O runtime and waits for it. Inside a multi-threaded runtime the
/// wait tells tokio this thread blocks, so other tasks move elsewhere.
pub fn wait<T, F>(request: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, StoreError>> + Send + 'static,
{
    let runtime = io_runtime()?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(request.await);
    });
    let receive = move || rx.recv();
    let received = match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(receive)
        }
        _ => receive(),
    };
    received.unwrap_or_else(|_| {
        Err(StoreError::Unavailable { detail: "the request to the object store was dropped".into() })
    })
}

/// Connects to the bucket on the I/O runtime, for use through [`wait`].
pub fn connect_s3(config: S3Config) -> Result<S3Store, StoreError> {
    wait(async move { S3Store::connect(config).await })
}

/// [`ObjectStore::get`], waited for.
pub fn get(objects: &Arc<dyn ObjectStore>, key: ObjectKey) -> Result<Option<Vec<u8>>, StoreError> {
    let objects = objects.clone();
    wait(async move { objects.get(&key).await })
}

/// [`ObjectStore::put`], waited for.
pub fn put(objects: &Arc<dyn ObjectStore>, key: ObjectKey, bytes: Vec<u8>) -> Result<(), StoreError> {
    let objects = objects.clone();
    wait(async move { objects.put(&key, bytes).await })
}

/// [`ObjectStore::delete`], waited for.
pub fn delete(objects: &Arc<dyn ObjectStore>, key: ObjectKey) -> Result<bool, StoreError> {
    let objects = objects.clone();
    wait(async move { objects.delete(&key).await })
}

/// [`ObjectStore::list`], waited for.
pub fn list(objects: &Arc<dyn ObjectStore>, prefix: String) -> Result<Vec<ObjectKey>, StoreError> {
    let objects = objects.clone();
    wait(async move { objects.list(&prefix).await })
}

/// Every object under `prefix` with its bytes, sorted by key (one that vanished between the
/// listing and its GET is left out): how the one-object-per-entry logs are read.
pub fn get_all(objects: &Arc<dyn ObjectStore>, prefix: String) -> Result<Vec<(ObjectKey, Vec<u8>)>, StoreError> {
    let objects = objects.clone();
    wait(async move {
        let mut found = Vec::new();
        for key in objects.list(&prefix).await? {
            if let Some(bytes) = objects.get(&key).await? {
                found.push((key, bytes));
            }
        }
        Ok(found)
    })
}
