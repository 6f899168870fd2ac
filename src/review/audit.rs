//! The service's audit log, `DATA/audit.jsonl`: one `audit::Record` per decision on a held
//! job or a routing rule, appended and synced before the decision is answered. With an S3
//! store it is kept in the bucket instead, one object per decision
//! (`PREFIX/review-audit/ULID.json`), so it outlives the API's machine. Candidate decisions
//! are recorded with the baselines (`baseline::Store`); `audit::merged` joins the two.
//! Its methods are async: the file is appended to and read on a blocking thread (an append
//! waits for fsync), the bucket's requests are awaited.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audit::Record;
use crate::baseline;
use crate::store::{get_all, ObjectKey, ObjectStore, StoreError};

/// Where the log's objects go in a bucket (under the store's prefix).
pub const AUDIT_OBJECTS: &str = "review-audit/";

/// The service audit log's file name under the data directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("a reason is required: say why (a non-empty \"reason\")")]
    NoReason,
    #[error("could not write the audit log {path}: {source}. The decision was not made; check the data directory's space and permissions, then retry")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("could not read the audit log {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the audit log {path} has a line that is not an entry (line {line}: {detail}); it was changed outside pixelproof")]
    Invalid { path: PathBuf, line: usize, detail: String },
    #[error("could not read the baselines' audit log: {0}")]
    Baselines(#[from] baseline::BaselineError),
    #[error(
        "could not use the audit log in {location}: {source}. A decision was not made if this came from one; retry"
    )]
    Store { location: String, source: StoreError },
}

/// The append-only log: a file (appends from one process serialised) or objects in a bucket.
#[derive(Debug)]
pub struct AuditLog {
    place: Place,
    /// Serialises this process's use of the file.
    lock: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
enum Place {
    File(PathBuf),
    Objects { objects: Arc<dyn ObjectStore>, location: String },
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> AuditLog {
        AuditLog { place: Place::File(path.into()), lock: tokio::sync::Mutex::new(()) }
    }

    /// The log as objects under [`AUDIT_OBJECTS`] in `objects` (`location` names it in messages).
    pub fn in_store(objects: Arc<dyn ObjectStore>, location: impl Into<String>) -> AuditLog {
        AuditLog { place: Place::Objects { objects, location: location.into() }, lock: tokio::sync::Mutex::new(()) }
    }

    /// The file, or the bucket URL, for messages.
    pub fn location(&self) -> String {
        match &self.place {
            Place::File(path) => path.display().to_string(),
            Place::Objects { location, .. } => location.clone(),
        }
    }

    /// Appends `record` (one line synced to disk, or one object); refuses an empty reason.
    pub async fn append(&self, record: &Record) -> Result<(), AuditError> {
        if record.reason.trim().is_empty() {
            return Err(AuditError::NoReason);
        }
        match &self.place {
            Place::File(path) => {
                let write = |source| AuditError::Write { path: path.clone(), source };
                let mut line = serde_json::to_string(record).map_err(|e| write(e.into()))?;
                line.push('\n');
                let _guard = self.lock.lock().await;
                let file = path.clone();
                tokio::task::spawn_blocking(move || append_line(&file, &line))
                    .await
                    .map_err(|e| write(stopped(e)))?
                    .map_err(write)
            }
            Place::Objects { objects, location } => {
                let failed = |source| AuditError::Store { location: location.clone(), source };
                let bytes = serde_json::to_vec(record)
                    .map_err(|e| failed(StoreError::Unavailable { detail: e.to_string() }))?;
                let key = ObjectKey::parse(&format!("{AUDIT_OBJECTS}{}.json", ulid::Ulid::new())).map_err(failed)?;
                objects.put(&key, bytes).await.map_err(failed)
            }
        }
    }

    /// Every record, oldest first (a missing log is empty).
    pub async fn read(&self) -> Result<Vec<Record>, AuditError> {
        match &self.place {
            Place::File(path) => {
                let read = |source| AuditError::Read { path: path.clone(), source };
                let _guard = self.lock.lock().await;
                let file = path.clone();
                let text = tokio::task::spawn_blocking(move || match std::fs::read_to_string(file) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
                    other => other,
                })
                .await
                .map_err(|e| read(stopped(e)))?
                .map_err(read)?;
                text.lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                    .map(|(i, l)| {
                        serde_json::from_str(l).map_err(|e| AuditError::Invalid {
                            path: path.clone(),
                            line: i + 1,
                            detail: e.to_string(),
                        })
                    })
                    .collect()
            }
            Place::Objects { objects, location } => {
                let found = get_all(objects.as_ref(), AUDIT_OBJECTS)
                    .await
                    .map_err(|source| AuditError::Store { location: location.clone(), source })?;
                let mut records = found
                    .into_iter()
                    .enumerate()
                    .map(|(i, (key, bytes))| {
                        serde_json::from_slice::<Record>(&bytes).map_err(|e| AuditError::Invalid {
                            path: PathBuf::from(format!("{location}/{key}")),
                            line: i + 1,
                            detail: e.to_string(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                records.sort_by_key(|r| r.at);
                Ok(records)
            }
        }
    }
}

/// Appends `line` to `path` and syncs it to disk.
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

/// The error for a file task that died before it finished.
fn stopped(e: tokio::task::JoinError) -> std::io::Error {
    std::io::Error::other(format!("the task using it stopped: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Action, Details};

    #[tokio::test]
    async fn appends_reads_and_refuses_an_empty_reason() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join(AUDIT_FILE));
        assert!(log.read().await.unwrap().is_empty());
        let r = Record {
            at: "2026-01-01T00:00:00Z".parse().unwrap(),
            by: "ops".into(),
            action: Action::AddRoute,
            subject: "rule-1".into(),
            reason: "because".into(),
            details: Details::default(),
        };
        log.append(&r).await.unwrap();
        log.append(&Record { reason: "  ".into(), ..r.clone() }).await.unwrap_err();
        assert_eq!(log.read().await.unwrap(), vec![r]);
        let line = std::fs::read_to_string(log.location()).unwrap();
        assert!(line.contains("\"action\":\"add_route\"") && line.ends_with('\n'), "{line}");
    }
}
