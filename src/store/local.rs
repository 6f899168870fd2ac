//! [`LocalStore`]: an [`ObjectStore`] in a directory (default `DATA/objects/`). A key maps to
//! the same relative path under the root; writes go through `ROOT/.tmp/` and are renamed
//! (`put`) or hard-linked (`put_if_absent`) into place, then the directory is fsynced.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::{ObjectKey, ObjectStore, ObjectStream, PutOutcome, StoreError};
use crate::durable;

/// The directory under the root that holds files being written (never a key: keys cannot
/// start with '.').
const TMP_DIR: &str = ".tmp";

/// Objects as files under one directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    inner: Arc<Paths>,
}

#[derive(Debug)]
struct Paths {
    root: PathBuf,
    tmp: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

impl LocalStore {
    /// Opens (creating it if needed) the store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalStore, StoreError> {
        let root = root.into();
        let tmp = root.join(TMP_DIR);
        std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        sweep_stale_temporaries(&tmp);
        Ok(LocalStore { inner: Arc::new(Paths { root, tmp }) })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Where the object `key` lives on disk.
    pub fn path_of(&self, key: &ObjectKey) -> PathBuf {
        self.inner.root.join(key.as_str())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Paths) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Unavailable { detail: format!("a storage task stopped: {e}") })?
    }
}

impl Paths {
    fn path(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    fn make_parent(&self, path: &Path) -> Result<(), StoreError> {
        match path.parent() {
            Some(dir) => std::fs::create_dir_all(dir).map_err(io_err(dir)),
            None => Ok(()),
        }
    }
}

/// Temporary files older than this were left by a process that died mid-write.
const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes temporary files left by writes that were killed. Only old ones: another process
/// sharing the store may be writing right now.
fn sweep_stale_temporaries(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    for entry in entries.flatten() {
        let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if age.is_some_and(|age| age > STALE_TEMPORARY) {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "could not remove a stale temporary file");
            }
        }
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        let key = key.clone();
        self.blocking(move |p| {
            let path = p.path(&key);
            p.make_parent(&path)?;
            durable::write_atomic(&path, &p.tmp, &bytes).map_err(io_err(&path))
        })
        .await
    }

    async fn put_if_absent(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<PutOutcome, StoreError> {
        let key = key.clone();
        self.blocking(move |p| {
            let path = p.path(&key);
            p.make_parent(&path)?;
            if durable::write_if_absent(&path, &p.tmp, &bytes).map_err(io_err(&path))? {
                return Ok(PutOutcome::Created);
            }
            // The object is complete whenever it is visible (it was linked from a synced file).
            match read_optional(&path)? {
                Some(existing) => Ok(PutOutcome::Existing(existing)),
                None => Err(StoreError::Unavailable {
                    detail: format!("{} existed a moment ago and was deleted while being read", path.display()),
                }),
            }
        })
        .await
    }

    async fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.clone();
        self.blocking(move |p| read_optional(&p.path(&key))).await
    }

    async fn stream(&self, key: &ObjectKey) -> Result<Option<ObjectStream>, StoreError> {
        let path = self.path_of(key);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        // Objects are replaced by rename, never written in place: the open file stays whole.
        let length = file.metadata().await.map_err(io_err(&path))?.len();
        let chunks = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
        Ok(Some(ObjectStream { length: Some(length), chunks: Box::pin(chunks) }))
    }

    async fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.blocking(move |p| {
            let path = p.path(&key);
            match std::fs::metadata(&path) {
                Ok(meta) => Ok(meta.is_file()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_err(&path)(e)),
            }
        })
        .await
    }

    async fn delete(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.blocking(move |p| {
            let path = p.path(&key);
            durable::remove_durable(&path).map_err(io_err(&path))
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, StoreError> {
        let prefix = prefix.to_string();
        self.blocking(move |p| {
            // Walk only the directory the prefix's complete segments name.
            let dir_part = prefix.rfind('/').map(|i| &prefix[..i]).unwrap_or("");
            let start = if dir_part.is_empty() { p.root.clone() } else { p.path(&ObjectKey::parse(dir_part)?) };
            let mut keys = Vec::new();
            for entry in walkdir::WalkDir::new(&start).follow_links(false) {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) if e.io_error().map(|io| io.kind()) == Some(io::ErrorKind::NotFound) => continue,
                    Err(e) => {
                        let path = e.path().unwrap_or(&start).to_path_buf();
                        return Err(StoreError::Io { path, source: e.into() });
                    }
                };
                if !entry.file_type().is_file() {
                    continue;
                }
                let Ok(rel) = entry.path().strip_prefix(&p.root) else { continue };
                let Some(rel) = rel.to_str() else { continue };
                // Skips the store's own files (.tmp/) and anything that is not a key.
                if let Ok(key) = ObjectKey::parse(rel) {
                    if key.as_str().starts_with(&prefix) {
                        keys.push(key);
                    }
                }
            }
            keys.sort();
            Ok(keys)
        })
        .await
    }
}
