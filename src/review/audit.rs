//! The service's audit log, `DATA/audit.jsonl`: one JSON object per operator decision made
//! through the API (candidates, held jobs, routing rules), appended and synced before the
//! decision is answered. With an S3 store it is kept in the bucket instead, one object per
//! decision (`PREFIX/review-audit/ULID.json`), so it outlives the API's machine. [`merged`]
//! joins it with the baselines' own audit log (decisions made with the CLI) into one history,
//! newest first.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::baseline;
use crate::store::{blocking, ObjectKey, ObjectStore, StoreError};

/// Where the log's objects go in a bucket (under the store's prefix).
pub const AUDIT_OBJECTS: &str = "review-audit/";

/// The service audit log's file name under the data directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// What an operator decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    ApproveCandidate,
    RejectCandidate,
    ReleaseJob,
    RejectJob,
    AddRoute,
    RemoveRoute,
}

/// One decision: who, when, what, on which subject, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    /// The token's name (or the `--by` name of a CLI decision).
    pub by: String,
    pub action: AuditAction,
    /// `TEMPLATE/FIXTURE`, a job id or a routing rule id.
    pub subject: String,
    pub reason: String,
    /// What else is worth keeping (the rule, the job's previous state, the baseline's environment).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

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
    lock: Mutex<()>,
}

#[derive(Debug)]
enum Place {
    File(PathBuf),
    Objects { objects: Arc<dyn ObjectStore>, location: String },
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> AuditLog {
        AuditLog { place: Place::File(path.into()), lock: Mutex::new(()) }
    }

    /// The log as objects under [`AUDIT_OBJECTS`] in `objects` (a client made by
    /// [`blocking::connect_s3`]; `location` names it in messages). Its methods block.
    pub fn in_store(objects: Arc<dyn ObjectStore>, location: impl Into<String>) -> AuditLog {
        AuditLog { place: Place::Objects { objects, location: location.into() }, lock: Mutex::new(()) }
    }

    /// The file, or the bucket URL, for messages.
    pub fn location(&self) -> String {
        match &self.place {
            Place::File(path) => path.display().to_string(),
            Place::Objects { location, .. } => location.clone(),
        }
    }

    /// Appends `record` (one line synced to disk, or one object); refuses an empty reason.
    pub fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        if record.reason.trim().is_empty() {
            return Err(AuditError::NoReason);
        }
        match &self.place {
            Place::File(path) => {
                let write = |source| AuditError::Write { path: path.clone(), source };
                let mut line = serde_json::to_string(record).map_err(|e| write(e.into()))?;
                line.push('\n');
                let _guard = self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(write)?;
                file.write_all(line.as_bytes()).map_err(write)?;
                file.sync_data().map_err(write)
            }
            Place::Objects { objects, location } => {
                let failed = |source| AuditError::Store { location: location.clone(), source };
                let bytes = serde_json::to_vec(record)
                    .map_err(|e| failed(StoreError::Unavailable { detail: e.to_string() }))?;
                let key = ObjectKey::parse(&format!("{AUDIT_OBJECTS}{}.json", ulid::Ulid::new())).map_err(failed)?;
                blocking::put(objects, key, bytes).map_err(failed)
            }
        }
    }

    /// Every record, oldest first (a missing log is empty).
    pub fn read(&self) -> Result<Vec<AuditRecord>, AuditError> {
        match &self.place {
            Place::File(path) => {
                let _guard = self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let text = match std::fs::read_to_string(path) {
                    Ok(t) => t,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(source) => return Err(AuditError::Read { path: path.clone(), source }),
                };
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
                let found = blocking::get_all(objects, AUDIT_OBJECTS.to_string())
                    .map_err(|source| AuditError::Store { location: location.clone(), source })?;
                let mut records = found
                    .into_iter()
                    .enumerate()
                    .map(|(i, (key, bytes))| {
                        serde_json::from_slice::<AuditRecord>(&bytes).map_err(|e| AuditError::Invalid {
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

/// The details of a candidate decision: the baselines' own entry (its time links the two logs).
pub fn candidate_details(entry: &baseline::AuditEntry) -> serde_json::Value {
    serde_json::json!({
        "source": "api",
        "baseline_entry_at": entry.at,
        "engine": entry.engine,
        "pages": entry.pages,
        "environment": entry.environment,
    })
}

/// The service's records and the baselines' entries as one history, newest first, at most
/// `limit`. A baselines entry the service already recorded (same key and time, see
/// [`candidate_details`]) appears once.
pub fn merged(service: Vec<AuditRecord>, baselines: Vec<baseline::AuditEntry>, limit: usize) -> Vec<AuditRecord> {
    let recorded: std::collections::HashSet<(String, String)> = service
        .iter()
        .filter_map(|r| Some((r.subject.clone(), r.details.get("baseline_entry_at")?.as_str()?.to_string())))
        .collect();
    let mut all = service;
    for entry in baselines {
        let at = serde_json::to_value(entry.at).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        if recorded.contains(&(entry.key.clone(), at)) {
            continue;
        }
        all.push(AuditRecord {
            at: entry.at,
            by: entry.by,
            action: match entry.action {
                baseline::Action::Approve => AuditAction::ApproveCandidate,
                baseline::Action::Reject => AuditAction::RejectCandidate,
            },
            subject: entry.key,
            reason: entry.reason,
            details: serde_json::json!({
                "source": "baselines",
                "engine": entry.engine,
                "pages": entry.pages,
                "environment": entry.environment,
            }),
        });
    }
    // Stable: records made at the same instant keep the order they were written in, reversed.
    all.reverse();
    all.sort_by_key(|r| std::cmp::Reverse(r.at));
    all.truncate(limit);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at: &str, action: AuditAction, subject: &str, details: serde_json::Value) -> AuditRecord {
        AuditRecord {
            at: at.parse().unwrap(),
            by: "ops".into(),
            action,
            subject: subject.into(),
            reason: "because".into(),
            details,
        }
    }

    #[test]
    fn appends_reads_and_refuses_an_empty_reason() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join(AUDIT_FILE));
        assert!(log.read().unwrap().is_empty());
        let r = record("2026-01-01T00:00:00Z", AuditAction::AddRoute, "rule-1", serde_json::json!({}));
        log.append(&r).unwrap();
        log.append(&AuditRecord { reason: "  ".into(), ..r.clone() }).unwrap_err();
        assert_eq!(log.read().unwrap(), vec![r]);
        let line = std::fs::read_to_string(log.location()).unwrap();
        assert!(line.contains("\"action\":\"add_route\"") && line.ends_with('\n'), "{line}");
    }

    #[test]
    fn merges_newest_first_without_the_mirrored_baseline_entry() {
        let cli = baseline::AuditEntry {
            at: "2026-01-02T00:00:00Z".parse().unwrap(),
            by: "alice".into(),
            action: baseline::Action::Reject,
            key: "invoice/basic".into(),
            engine: crate::routing::Renderer::Chromium,
            reason: "cli".into(),
            environment: None,
            pages: 1,
        };
        let mirrored = baseline::AuditEntry { at: "2026-01-03T00:00:00Z".parse().unwrap(), ..cli.clone() };
        let api = record(
            "2026-01-03T00:00:00Z",
            AuditAction::ApproveCandidate,
            "invoice/basic",
            candidate_details(&mirrored),
        );
        let old = record("2026-01-01T00:00:00Z", AuditAction::AddRoute, "rule-1", serde_json::json!({}));
        let all = merged(vec![old.clone(), api.clone()], vec![cli, mirrored], 10);
        let order: Vec<_> = all.iter().map(|r| (r.action, r.by.as_str())).collect();
        assert_eq!(
            order,
            [
                (AuditAction::ApproveCandidate, "ops"),
                (AuditAction::RejectCandidate, "alice"),
                (AuditAction::AddRoute, "ops")
            ]
        );
        assert_eq!(merged(vec![old, api], vec![], 1).len(), 1);
    }
}
