//! Object storage for everything a job leaves behind: the [`ObjectStore`] trait (a local
//! directory, [`LocalStore`], or an S3 bucket, [`S3Store`]) and validated [`ObjectKey`]s.
//! Where a job's things live is `jobs::JobStore`'s to know. Every store is driven by the
//! application's runtime: the baselines, the routing table and the audit log await it too.

mod key;
pub mod local;
pub mod s3;

use async_trait::async_trait;

pub use key::ObjectKey;
pub use local::LocalStore;
pub use s3::{endpoint_url, S3Config, S3Credentials, S3Store};

/// Whether `put_if_absent` wrote the object or found one already there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object did not exist; it now holds the bytes given.
    Created,
    /// The object already existed; it was left alone. Its current content.
    Existing(Vec<u8>),
}

/// An object's bytes as they arrive from the store, for answers that pass them on without
/// holding the whole object (`GET /v1/jobs/{id}/pdf` with `--pdf-download proxy`).
pub struct ObjectStream {
    /// The object's size in bytes, when the store says it up front.
    pub length: Option<u64>,
    pub chunks: futures::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
}

impl std::fmt::Debug for ObjectStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStream").field("length", &self.length).finish_non_exhaustive()
    }
}

/// Why an object store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{key:?} is not a valid object key: {why}. Keys are '/'-separated segments of letters, digits, '.', '_' and '-' (no empty, '.' or '..' segment, no leading '/' or '.')")]
    InvalidKey { key: String, why: &'static str },
    #[error("could not access {path}: {source}{hint}", hint = io_hint(source))]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("object {key} holds data that cannot be read as {what}: {detail}. It was changed outside pixelproof; remove or restore it")]
    Corrupt { key: String, what: &'static str, detail: String },
    #[error("the object store is unavailable: {detail}. Retry later")]
    Unavailable { detail: String },
    /// The store answered and said no (credentials refused, no such bucket, a bad request):
    /// trying again will fail the same way until someone changes the configuration.
    #[error("the object store refused the request: {detail}")]
    Refused { detail: String },
    #[error("the object store is not configured correctly: {detail}")]
    Config { detail: String },
}

fn io_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => " (check the data directory's owner and permissions)",
        std::io::ErrorKind::StorageFull => " (the disk is full: free space, then retry)",
        _ => "",
    }
}

impl StoreError {
    /// Whether trying the same operation again later may succeed (a full disk, a network
    /// hiccup), as opposed to a mistake that will fail the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::InvalidKey { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Refused { .. }
            | StoreError::Config { .. } => false,
            StoreError::Unavailable { .. } => true,
            StoreError::Io { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::InvalidInput
                    | std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::IsADirectory
            ),
        }
    }
}

/// A key → bytes store with atomic writes. Implementations: [`LocalStore`] (a directory) and
/// [`S3Store`] (an S3 bucket, or any S3-compatible server).
#[async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Writes the object atomically: readers see the old bytes or the new ones, never a mix.
    async fn put(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<(), StoreError>;
    /// Writes the object only if it does not exist yet (atomically, even between processes).
    async fn put_if_absent(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<PutOutcome, StoreError>;
    /// The object's bytes, or `None` when there is no such object.
    async fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, StoreError>;
    async fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError>;
    /// Removes the object; `false` when it was not there.
    async fn delete(&self, key: &ObjectKey) -> Result<bool, StoreError>;
    /// Every key that starts with `prefix` (a plain string prefix, e.g. `jobs/` or
    /// `jobs/01H…/artifacts/`), sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, StoreError>;
    /// The first `limit` keys that start with `prefix` and sort after `start_after` (a whole
    /// key), sorted: a page of a listing too long to read at once (the job index). A store that
    /// cannot start mid-listing lists everything and cuts.
    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        let mut keys = self.list(prefix).await?;
        if let Some(after) = start_after {
            keys.retain(|k| k.as_str() > after);
        }
        keys.truncate(limit);
        Ok(keys)
    }
    /// The object's bytes as a stream, or `None` when there is no such object. A store that
    /// cannot stream reads the object whole and hands it on as one chunk.
    async fn stream(&self, key: &ObjectKey) -> Result<Option<ObjectStream>, StoreError> {
        Ok(self.get(key).await?.map(|bytes| ObjectStream {
            length: Some(bytes.len() as u64),
            chunks: Box::pin(futures::stream::once(async move { Ok(bytes::Bytes::from(bytes)) })),
        }))
    }
    /// A URL a client may download the object from directly (S3: presigned, for a limited
    /// time); `None` when the store has no such thing (a local directory: the API serves it).
    async fn download_url(&self, _key: &ObjectKey) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
}

/// Every object under `prefix` with its bytes, sorted by key (one that vanished between the
/// listing and its GET is left out): how the one-object-per-entry logs are read.
pub async fn get_all(objects: &dyn ObjectStore, prefix: &str) -> Result<Vec<(ObjectKey, Vec<u8>)>, StoreError> {
    let mut found = Vec::new();
    for key in objects.list(prefix).await? {
        if let Some(bytes) = objects.get(&key).await? {
            found.push((key, bytes));
        }
    }
    Ok(found)
}
