//! Crash-safe file primitives shared by the embedded queue, the local object store and the
//! routing table: write to a temporary file, fsync it, rename (or hard-link) it into place,
//! then fsync the directory so the new name survives a power cut as well as `kill -9`.
//!
//! Every function returns plain `std::io::Error`; callers wrap it with the path they were
//! working on in their own error type.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Makes a directory entry change (create, rename, unlink) in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to a fresh temporary file in `tmp_dir` and fsyncs it. The caller renames
/// or links it into place; it must be on the same filesystem as the destination.
pub fn write_temp(tmp_dir: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let path = tmp_dir.join(format!("{}.tmp", ulid::Ulid::new()));
    let mut file = OpenOptions::new().write(true).create_new(true).open(&path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(path)
}

/// Replaces `dest` atomically with `bytes`: readers see the old content or the new one,
/// never a mix, and never an empty file after a crash.
pub fn write_atomic(dest: &Path, tmp_dir: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = write_temp(tmp_dir, bytes)?;
    if let Err(e) = std::fs::rename(&tmp, dest) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_parent(dest)
}

/// Creates `dest` with `bytes` only if nothing is there yet, atomically even between
/// processes (hard link of a complete temporary file: `link(2)` fails when `dest` exists).
/// Returns `false` when `dest` already existed (and leaves it untouched).
pub fn write_if_absent(dest: &Path, tmp_dir: &Path, bytes: &[u8]) -> io::Result<bool> {
    let tmp = write_temp(tmp_dir, bytes)?;
    let linked = std::fs::hard_link(&tmp, dest);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => sync_parent(dest).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Renames `from` to `to` and makes both directory entries durable.
pub fn rename_durable(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)?;
    sync_parent(to)?;
    match (from.parent(), to.parent()) {
        (Some(a), Some(b)) if a != b => sync_dir(a),
        _ => Ok(()),
    }
}

/// Removes `path` and makes the removal durable; `Ok(false)` when it was not there.
pub fn remove_durable(path: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_parent(path).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}
