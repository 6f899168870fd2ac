//! `audit.jsonl`: the append-only log of every approve and reject decision, one JSON
//! object per line.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::BaselineError;
use crate::pins::Environment;
use crate::routing::Renderer;

/// What an operator decided about a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Approve,
    Reject,
}

/// One line of `audit.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub by: String,
    pub action: Action,
    /// `TEMPLATE/FIXTURE`.
    pub key: String,
    /// Whose baseline it was: Chromium's (also every entry written before engines were
    /// recorded) or the fallback's.
    #[serde(default)]
    pub engine: Renderer,
    pub reason: String,
    /// The candidate's environment (`null` when its manifest could not be read, which
    /// only a reject allows).
    pub environment: Option<Environment>,
    /// The candidate's page count.
    pub pages: usize,
}

/// Appends one entry as a single line and syncs it to disk.
pub(super) fn append(path: &Path, entry: &AuditEntry) -> Result<(), BaselineError> {
    let io = |source| BaselineError::Io { path: path.to_path_buf(), source };
    let mut line =
        serde_json::to_string(entry).map_err(|e| BaselineError::Io { path: path.into(), source: e.into() })?;
    line.push('\n');
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)
}

/// Every entry, oldest first. A missing log is empty.
pub(super) fn read(path: &Path) -> Result<Vec<AuditEntry>, BaselineError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(BaselineError::Io { path: path.to_path_buf(), source }),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| BaselineError::Invalid {
                path: path.to_path_buf(),
                detail: format!("line {}: {e}", i + 1),
            })
        })
        .collect()
}
