//! The baselines directory (`--baselines DIR`, `baselines/` by default): the layout in the
//! [module doc](super), written through hidden staging directories and renames so a crash never
//! leaves a half-written baseline or candidate. Its methods are synchronous; `Store` runs
//! each on a blocking thread.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::{
    approval_entry, approved_files, audit, candidate_files, check_decision, io_err, load_pages, no_candidate,
    read_candidate_verdict, read_manifest, rejection_entry, Area, Baseline, BaselineError, Candidate, CandidateSummary,
    Decision, Files, Key, Manifest, NewCandidate, Staged, AUDIT_FILE, CANDIDATES_DIR, FALLBACK_DIR, MANIFEST_FILE,
};
use crate::audit::Record;
use crate::routing::Renderer;

/// The files of one baseline or candidate directory.
struct DirFiles<'a>(&'a Path);

impl Files for DirFiles<'_> {
    fn locate(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, BaselineError> {
        let path = self.0.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(BaselineError::Io { path, source }),
        }
    }
}

/// The baselines directory, seen as one engine's baselines.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
    engine: Renderer,
}

impl DirStore {
    /// Chromium's baselines in `root`.
    pub fn new(root: impl Into<PathBuf>) -> DirStore {
        DirStore { root: root.into(), engine: Renderer::Chromium }
    }

    /// The same directory, for `engine`'s baselines.
    pub fn for_engine(&self, engine: Renderer) -> DirStore {
        DirStore { root: self.root.clone(), engine }
    }

    pub fn engine(&self) -> Renderer {
        self.engine
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where this engine's baselines and candidates are: `ROOT` for Chromium,
    /// `ROOT/.fallback` for the fallback.
    fn engine_root(&self) -> PathBuf {
        match self.engine {
            Renderer::Chromium => self.root.clone(),
            Renderer::Fallback => self.root.join(FALLBACK_DIR),
        }
    }

    /// `ROOT/TEMPLATE/FIXTURE` (`ROOT/.fallback/TEMPLATE/FIXTURE` for the fallback)
    pub fn baseline_dir(&self, key: &Key) -> PathBuf {
        self.engine_root().join(key.template()).join(key.fixture())
    }

    /// `ROOT/.candidates/TEMPLATE/FIXTURE` (under `ROOT/.fallback` for the fallback)
    pub fn candidate_dir(&self, key: &Key) -> PathBuf {
        self.engine_root().join(CANDIDATES_DIR).join(key.template()).join(key.fixture())
    }

    /// `ROOT/audit.jsonl`
    pub fn audit_path(&self) -> PathBuf {
        self.root.join(AUDIT_FILE)
    }

    /// The baseline's manifest alone (no page files read): `None` when there is no baseline.
    pub fn read_manifest(&self, key: &Key) -> Result<Option<Manifest>, BaselineError> {
        let dir = self.baseline_dir(key);
        if !dir.join(MANIFEST_FILE).is_file() {
            self.check_not_interrupted(key)?;
            return Ok(None);
        }
        read_manifest(&DirFiles(&dir), key, self.engine).map(Some)
    }

    /// The baseline with every page verified against its manifest: `None` when there is none.
    pub fn load_baseline(&self, key: &Key) -> Result<Option<Baseline>, BaselineError> {
        let Some(manifest) = self.read_manifest(key)? else { return Ok(None) };
        let pages = load_pages(&DirFiles(&self.baseline_dir(key)), &manifest)?;
        Ok(Some(Baseline { key: key.clone(), manifest, pages }))
    }

    /// The candidate with every page verified: an error naming the waiting candidates when
    /// there is none for `key`.
    pub fn load_candidate(&self, key: &Key) -> Result<Candidate, BaselineError> {
        let dir = self.existing_candidate_dir(key)?;
        let files = DirFiles(&dir);
        let manifest = read_manifest(&files, key, self.engine)?;
        let pages = load_pages(&files, &manifest)?;
        let verdict = read_candidate_verdict(&files)?;
        Ok(Candidate { key: key.clone(), manifest, pages, verdict })
    }

    /// Writes (or replaces) the candidate for `new.key`; returns its directory.
    pub fn write_candidate(&self, new: &NewCandidate<'_>) -> Result<PathBuf, BaselineError> {
        self.write_staged_candidate(&new.key, &candidate_files(new)?)
    }

    /// Writes (or replaces) the candidate for `key` with files already encoded.
    pub(super) fn write_staged_candidate(&self, key: &Key, staged: &Staged) -> Result<PathBuf, BaselineError> {
        let target = self.candidate_dir(key);
        let staging = staging_dir(&target, "writing")?;
        write_staged(staging.path(), staged)?;
        swap_in(staging, &target)?;
        tracing::info!(%key, dir = %target.display(), "candidate written");
        Ok(target)
    }

    /// Every candidate waiting for review, sorted by key.
    pub fn candidates(&self) -> Result<Vec<CandidateSummary>, BaselineError> {
        let mut out = Vec::new();
        for key in self.candidate_keys()? {
            let dir = self.candidate_dir(&key);
            let files = DirFiles(&dir);
            let mut problems = Vec::new();
            let manifest = read_manifest(&files, &key, self.engine).map_err(|e| problems.push(e.to_string())).ok();
            let verdict = read_candidate_verdict(&files).map_err(|e| problems.push(e.to_string())).ok().flatten();
            let problem = if problems.is_empty() { None } else { Some(problems.join("; ")) };
            out.push(CandidateSummary { key, manifest, verdict, problem });
        }
        Ok(out)
    }

    /// The keys of every candidate directory, sorted. Hidden (staging) directories and
    /// names that are not valid keys are skipped.
    pub fn candidate_keys(&self) -> Result<Vec<Key>, BaselineError> {
        let root = self.engine_root().join(CANDIDATES_DIR);
        let mut keys = Vec::new();
        for template in list_dirs(&root)? {
            for fixture in list_dirs(&root.join(&template))? {
                if let Ok(key) = Key::new(&template, &fixture) {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// The keys of every directory holding a `manifest.json`, sorted (`.candidates` and hidden
    /// staging directories skipped).
    pub fn baseline_keys(&self) -> Result<Vec<Key>, BaselineError> {
        let mut keys = Vec::new();
        let root = self.engine_root();
        for template in list_dirs(&root)? {
            for fixture in list_dirs(&root.join(&template))? {
                if let Ok(key) = Key::new(&template, &fixture) {
                    if self.baseline_dir(&key).join(MANIFEST_FILE).is_file() {
                        keys.push(key);
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Puts `staged` in place as the baseline for `key`, verified before it replaces anything.
    pub(super) fn install(&self, key: &Key, staged: &Staged) -> Result<(), BaselineError> {
        let target = self.baseline_dir(key);
        remove_leftovers(&target)?;
        let staging = staging_dir(&target, "installing")?;
        write_staged(staging.path(), staged)?;
        // Verify the staged copy (checksums, PNG decoding, sizes) before it replaces anything.
        load_pages(&DirFiles(staging.path()), &staged.manifest)?;
        swap_in(staging, &target)
    }

    /// Promotes the candidate for `key` to its baseline, then removes the candidate and
    /// records the decision. The candidate's files are verified first.
    pub fn approve(&self, key: &Key, decision: &Decision) -> Result<Record, BaselineError> {
        check_decision(decision, "approve")?;
        let cand_dir = self.existing_candidate_dir(key)?;
        let (staged, at) = approved_files(&DirFiles(&cand_dir), key, self.engine, decision)?;
        self.install(key, &staged)?;
        let entry = approval_entry(key, decision, &staged.manifest, at);
        audit::append(&self.audit_path(), &entry)?;
        self.remove_candidate(key)?;
        tracing::info!(%key, engine = %self.engine, by = %decision.by, "candidate approved");
        Ok(entry)
    }

    /// Removes the candidate for `key` and records the decision. A candidate whose files
    /// are damaged can still be rejected.
    pub fn reject(&self, key: &Key, decision: &Decision) -> Result<Record, BaselineError> {
        check_decision(decision, "reject")?;
        let dir = self.existing_candidate_dir(key)?;
        let manifest = read_manifest(&DirFiles(&dir), key, self.engine).ok();
        let entry = rejection_entry(key, self.engine, decision, manifest.as_ref());
        // Record first: a crash in between leaves the candidate, never an unrecorded decision.
        audit::append(&self.audit_path(), &entry)?;
        self.remove_candidate(key)?;
        tracing::info!(%key, engine = %self.engine, by = %decision.by, "candidate rejected");
        Ok(entry)
    }

    /// Every decision recorded in `audit.jsonl`, oldest first.
    pub fn audit_log(&self) -> Result<Vec<Record>, BaselineError> {
        audit::read(&self.audit_path())
    }

    /// The candidate directory for `key`, or an error naming the candidates that are waiting.
    pub fn existing_candidate_dir(&self, key: &Key) -> Result<PathBuf, BaselineError> {
        let dir = self.candidate_dir(key);
        if dir.is_dir() {
            return Ok(dir);
        }
        Err(no_candidate(key, &self.candidate_keys()?))
    }

    /// One file of a baseline or candidate; `name` was checked by [`super::Store::read_file`].
    pub(super) fn read_file(&self, area: Area, key: &Key, name: &str) -> Result<Option<Vec<u8>>, BaselineError> {
        let dir = match area {
            Area::Baseline => self.baseline_dir(key),
            Area::Candidate => self.candidate_dir(key),
        };
        DirFiles(&dir).read(name)
    }

    fn remove_candidate(&self, key: &Key) -> Result<(), BaselineError> {
        let dir = self.candidate_dir(key);
        // Rename first so a crash cannot leave a half-deleted candidate under its real name.
        let doomed = hidden_sibling(&dir, "removing");
        std::fs::rename(&dir, &doomed).map_err(io_err(&dir))?;
        std::fs::remove_dir_all(&doomed).map_err(io_err(&doomed))?;
        // Tidy up an empty template directory and an empty `.candidates`; removing a
        // directory that still holds others fails, and that is fine.
        for empty in dir.ancestors().skip(1).take(2) {
            let _ = std::fs::remove_dir(empty);
        }
        Ok(())
    }

    fn check_not_interrupted(&self, key: &Key) -> Result<(), BaselineError> {
        let target = self.baseline_dir(key);
        if let Some(leftover) = leftovers(&target)?.into_iter().find(|p| is_old_dir(p, key.fixture())) {
            return Err(BaselineError::Interrupted { key: key.to_string(), leftover });
        }
        Ok(())
    }
}

/// Writes every staged file, then the manifest, into `dir`.
fn write_staged(dir: &Path, staged: &Staged) -> Result<(), BaselineError> {
    for (name, bytes) in &staged.files {
        write_file(&dir.join(name), bytes)?;
    }
    write_file(&dir.join(MANIFEST_FILE), &staged.manifest_bytes()?)
}

/// Writes a file and syncs it, so a rename that follows never publishes unwritten data.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BaselineError> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// A fresh hidden directory beside `target` (`.FIXTURE.PURPOSE-XXXXXX`); removed on drop
/// unless it was renamed into place.
fn staging_dir(target: &Path, purpose: &str) -> Result<TempDir, BaselineError> {
    let (parent, name) = split(target);
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    tempfile::Builder::new().prefix(&format!(".{name}.{purpose}-")).tempdir_in(parent).map_err(io_err(parent))
}

/// Puts `staging` at `target`: the old directory (if any) is renamed aside first and
/// removed last, so `target` is at every moment either the old or the new directory,
/// or (between two renames) absent with both complete copies beside it.
fn swap_in(staging: TempDir, target: &Path) -> Result<(), BaselineError> {
    let (parent, _) = split(target);
    let staged = staging.keep();
    let result = (|| {
        if target.exists() {
            let old = hidden_sibling(target, "old");
            std::fs::rename(target, &old).map_err(io_err(target))?;
            if let Err(e) = std::fs::rename(&staged, target) {
                // Put the old one back; report the original failure.
                let _ = std::fs::rename(&old, target);
                return Err(BaselineError::Io { path: target.to_path_buf(), source: e });
            }
            if let Err(e) = std::fs::remove_dir_all(&old) {
                tracing::warn!(dir = %old.display(), error = %e, "could not remove the replaced directory");
            }
        } else {
            std::fs::rename(&staged, target).map_err(io_err(target))?;
        }
        std::fs::File::open(parent).and_then(|d| d.sync_all()).map_err(io_err(parent))
    })();
    if result.is_err() && staged.exists() {
        let _ = std::fs::remove_dir_all(&staged);
    }
    result
}

fn split(target: &Path) -> (&Path, String) {
    let parent = target.parent().unwrap_or(Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    (parent, name)
}

/// A unique hidden name beside `target` (`.FIXTURE.PURPOSE-PID-NANOS`).
fn hidden_sibling(target: &Path, purpose: &str) -> PathBuf {
    let (parent, name) = split(target);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    parent.join(format!(".{name}.{purpose}-{}-{nanos}", std::process::id()))
}

fn is_old_dir(path: &Path, name: &str) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!(".{name}.old-")))
}

/// Hidden directories a previous write of `target` left behind (a crash mid-way).
fn leftovers(target: &Path) -> Result<Vec<PathBuf>, BaselineError> {
    let (parent, name) = split(target);
    let prefix = format!(".{name}.");
    let entries = match std::fs::read_dir(parent) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(BaselineError::Io { path: parent.to_path_buf(), source }),
    };
    Ok(entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix) && e.path().is_dir())
        .map(|e| e.path())
        .collect())
}

fn remove_leftovers(target: &Path) -> Result<(), BaselineError> {
    for dir in leftovers(target)? {
        tracing::warn!(dir = %dir.display(), "removing what an interrupted write left behind");
        std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
    }
    Ok(())
}

/// Names of the visible subdirectories of `dir` (empty when it does not exist).
fn list_dirs(dir: &Path) -> Result<Vec<String>, BaselineError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(BaselineError::Io { path: dir.to_path_buf(), source }),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}
