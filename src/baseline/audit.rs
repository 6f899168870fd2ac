//! `audit.jsonl` beside the baselines: the append-only log of every approve and reject
//! decision, one `audit::Record` per line (older lines in the baselines' own former shape
//! load too).

use std::io::Write;
use std::path::Path;

use super::BaselineError;
use crate::audit::Record;

/// Appends one entry as a single line and syncs it to disk.
pub(super) fn append(path: &Path, entry: &Record) -> Result<(), BaselineError> {
    let io = |source| BaselineError::Io { path: path.to_path_buf(), source };
    let mut line =
        serde_json::to_string(entry).map_err(|e| BaselineError::Io { path: path.into(), source: e.into() })?;
    line.push('\n');
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)
}

/// Every entry, oldest first. A missing log is empty.
pub(super) fn read(path: &Path) -> Result<Vec<Record>, BaselineError> {
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
