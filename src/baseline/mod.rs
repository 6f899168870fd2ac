//! Baselines: approved page images per template fixture, their manifest, candidates
//! waiting for review, and the audit log of every decision.
//!
//! On disk, under the baselines directory (`baselines/` by default):
//!
//! ```text
//! TEMPLATE/FIXTURE/manifest.json             the approved baseline (see `Manifest`)
//! TEMPLATE/FIXTURE/page-001.png, page-001.txt
//! .candidates/TEMPLATE/FIXTURE/…             a candidate: the same files, plus
//!                                            verdict.json and diff-NNN.png when a baseline existed
//! audit.jsonl                                one JSON object per approve/reject decision
//! ```
//!
//! Every write goes to a hidden staging directory beside its target and is renamed into
//! place, so a crash never leaves a half-written baseline; the candidate is removed only
//! after its baseline is in place, so an interrupted approval can simply be run again.
//! Loading a baseline verifies every file against the sha256 its manifest records.

mod audit;
mod key;
mod manifest;
pub mod png;

use std::path::{Path, PathBuf};

use image::RgbaImage;
use tempfile::TempDir;

use crate::compare::verdict::PageInput;
use crate::pins::Environment;

pub use audit::{Action, AuditEntry};
pub use key::{is_valid_name, Key};
pub use manifest::{
    diff_image_name, now, page_image_name, page_text_name, BaselineInfo, CandidateVerdict, Manifest, PageEntry,
    MANIFEST_FILE, MANIFEST_FORMAT, VERDICT_FILE,
};

/// The directory under the baselines root that holds candidates.
pub const CANDIDATES_DIR: &str = ".candidates";
/// The audit log's file name under the baselines root.
pub const AUDIT_FILE: &str = "audit.jsonl";

const REMAKE: &str = "Restore it from version control, or re-make the baseline: `pixelproof check --update`, then `pixelproof baseline approve`";

/// Why a baseline or candidate could not be read, written, approved or rejected.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{what} name {name:?} is not allowed: use letters, digits, '-' and '_' only (no '.', '/', spaces or absolute paths)")]
    BadName { what: &'static str, name: String },
    #[error("{key:?} is not a baseline key: write it as TEMPLATE/FIXTURE, e.g. invoice/basic")]
    BadKey { key: String },
    #[error("could not access {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid: {detail}. {REMAKE}")]
    Invalid { path: PathBuf, detail: String },
    #[error("{path} is missing (its manifest lists it). {REMAKE}")]
    Missing { path: PathBuf },
    #[error("{path} does not match its manifest (sha256 {found}, the manifest says {expected}): it was changed or corrupted outside pixelproof. {REMAKE}")]
    Checksum { path: PathBuf, expected: String, found: String },
    #[error("{path} is not a readable PNG: {detail}. {REMAKE}")]
    Png { path: PathBuf, detail: String },
    #[error("could not encode page {page} of {key} as PNG: {detail}")]
    Encode { key: String, page: usize, detail: String },
    #[error("no candidate for {key}. Candidates waiting for review: {waiting}")]
    NoCandidate { key: String, waiting: String },
    #[error("the approval of {key} was interrupted (it left {leftover}); run `pixelproof baseline approve {key}` again: its candidate is still waiting")]
    Interrupted { key: String, leftover: PathBuf },
    #[error("a reason is required to {action} a candidate: say why (--reason TEXT)")]
    NoReason { action: &'static str },
    #[error("the person deciding must be named (--by NAME, or set PIXELPROOF_USER)")]
    NoUser,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BaselineError + '_ {
    move |source| BaselineError::Io { path: path.to_path_buf(), source }
}

/// One stored page, verified against its manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPage {
    pub number: usize,
    pub image: RgbaImage,
    pub text: String,
}

impl StoredPage {
    /// The page as the verdict sees it.
    pub fn input(&self) -> PageInput<'_> {
        PageInput { image: &self.image, text: &self.text }
    }
}

/// An approved baseline, loaded and verified.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub key: Key,
    pub manifest: Manifest,
    pub pages: Vec<StoredPage>,
}

/// A candidate waiting for review, loaded and verified.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub key: Key,
    pub manifest: Manifest,
    pub pages: Vec<StoredPage>,
    /// How it compared with the baseline it would replace; `None` for a new fixture.
    pub verdict: Option<CandidateVerdict>,
}

/// A candidate as `baseline list` shows it. Reading it does not verify the page files.
#[derive(Debug, Clone)]
pub struct CandidateSummary {
    pub key: Key,
    pub manifest: Option<Manifest>,
    pub verdict: Option<CandidateVerdict>,
    /// Why the manifest or verdict could not be read, if so.
    pub problem: Option<String>,
}

impl CandidateSummary {
    /// A one-line description of what changed: `new`, or the changed pixels, text,
    /// page count and environment drift against the baseline.
    pub fn change(&self) -> String {
        let Some(cv) = &self.verdict else { return "new".to_string() };
        let v = &cv.verdict;
        let mut parts = Vec::new();
        let changed: Vec<_> = v.pages.iter().filter(|p| p.diff_pixels > 0).collect();
        if !changed.is_empty() {
            let pixels: u64 = changed.iter().map(|p| p.diff_pixels).sum();
            let pages = changed.iter().map(|p| p.page.to_string()).collect::<Vec<_>>().join(", ");
            let s = if changed.len() == 1 { "" } else { "s" };
            parts.push(format!("{pixels} px changed on page{s} {pages}"));
        }
        let text: Vec<_> = v.pages.iter().filter(|p| p.text_changed).map(|p| p.page.to_string()).collect();
        if !text.is_empty() {
            parts.push(format!("text changed on page {}", text.join(", ")));
        }
        let sized: Vec<_> = v.pages.iter().filter(|p| p.size_changed).map(|p| p.page.to_string()).collect();
        if !sized.is_empty() {
            parts.push(format!("size changed on page {}", sized.join(", ")));
        }
        if v.baseline_pages != v.candidate_pages {
            parts.push(format!("{} → {} pages", v.baseline_pages, v.candidate_pages));
        }
        if !cv.drift.is_empty() {
            parts.push(format!("environment drift ({})", cv.drift.join("; ")));
        }
        if parts.is_empty() {
            "no pixel change".to_string()
        } else {
            parts.join("; ")
        }
    }
}

/// A candidate to write: the rendered pages, and how they compared with the baseline.
#[derive(Debug, Clone)]
pub struct NewCandidate<'a> {
    pub key: Key,
    pub pages: Vec<PageInput<'a>>,
    pub environment: Environment,
    pub created_by: String,
    /// `None` for a fixture without a baseline.
    pub comparison: Option<Comparison<'a>>,
}

/// How a candidate compared with its baseline: written as `verdict.json` and `diff-NNN.png`.
#[derive(Debug, Clone)]
pub struct Comparison<'a> {
    pub verdict: CandidateVerdict,
    /// The diff image per compared page (index 0 is page 1), as `judge` returns them.
    pub diffs: &'a [Option<RgbaImage>],
}

/// Who decided about a candidate, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub by: String,
    pub reason: String,
}

/// The baselines directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `ROOT/TEMPLATE/FIXTURE`
    pub fn baseline_dir(&self, key: &Key) -> PathBuf {
        self.root.join(key.template()).join(key.fixture())
    }

    /// `ROOT/.candidates/TEMPLATE/FIXTURE`
    pub fn candidate_dir(&self, key: &Key) -> PathBuf {
        self.root.join(CANDIDATES_DIR).join(key.template()).join(key.fixture())
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
        read_manifest(&dir, key).map(Some)
    }

    /// The baseline with every page verified against its manifest: `None` when there is none.
    pub fn load_baseline(&self, key: &Key) -> Result<Option<Baseline>, BaselineError> {
        let Some(manifest) = self.read_manifest(key)? else { return Ok(None) };
        let pages = load_pages(&self.baseline_dir(key), &manifest)?;
        Ok(Some(Baseline { key: key.clone(), manifest, pages }))
    }

    /// The candidate with every page verified: an error naming the waiting candidates when
    /// there is none for `key`.
    pub fn load_candidate(&self, key: &Key) -> Result<Candidate, BaselineError> {
        let dir = self.existing_candidate_dir(key)?;
        let manifest = read_manifest(&dir, key)?;
        let pages = load_pages(&dir, &manifest)?;
        let verdict = read_candidate_verdict(&dir)?;
        Ok(Candidate { key: key.clone(), manifest, pages, verdict })
    }

    /// Writes (or replaces) the candidate for `new.key`; returns its directory.
    pub fn write_candidate(&self, new: &NewCandidate<'_>) -> Result<PathBuf, BaselineError> {
        let target = self.candidate_dir(&new.key);
        let staging = staging_dir(&target, "writing")?;
        let mut entries = Vec::with_capacity(new.pages.len());
        for (index, page) in new.pages.iter().enumerate() {
            let number = index + 1;
            let png = png::encode(page.image).map_err(|e| BaselineError::Encode {
                key: new.key.to_string(),
                page: number,
                detail: e.to_string(),
            })?;
            entries.push(write_page(staging.path(), number, &png, page.image, page.text)?);
        }
        if let Some(comparison) = &new.comparison {
            for (index, diff) in comparison.diffs.iter().enumerate() {
                let Some(diff) = diff else { continue };
                let number = index + 1;
                let png = png::encode(diff).map_err(|e| BaselineError::Encode {
                    key: new.key.to_string(),
                    page: number,
                    detail: e.to_string(),
                })?;
                write_file(&staging.path().join(diff_image_name(number)), &png)?;
            }
            write_json(&staging.path().join(VERDICT_FILE), &comparison.verdict)?;
        }
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            template: new.key.template().to_string(),
            fixture: new.key.fixture().to_string(),
            pages: entries,
            environment: new.environment.clone(),
            created_at: now(),
            created_by: new.created_by.clone(),
            approved_at: None,
            approved_by: None,
            reason: None,
        };
        write_json(&staging.path().join(MANIFEST_FILE), &manifest)?;
        swap_in(staging, &target)?;
        tracing::info!(key = %new.key, dir = %target.display(), "candidate written");
        Ok(target)
    }

    /// Every candidate waiting for review, sorted by key.
    pub fn candidates(&self) -> Result<Vec<CandidateSummary>, BaselineError> {
        let mut out = Vec::new();
        for key in self.candidate_keys()? {
            let dir = self.candidate_dir(&key);
            let mut problems = Vec::new();
            let manifest = read_manifest(&dir, &key).map_err(|e| problems.push(e.to_string())).ok();
            let verdict = read_candidate_verdict(&dir).map_err(|e| problems.push(e.to_string())).ok().flatten();
            let problem = if problems.is_empty() { None } else { Some(problems.join("; ")) };
            out.push(CandidateSummary { key, manifest, verdict, problem });
        }
        Ok(out)
    }

    /// The keys of every candidate directory, sorted. Hidden (staging) directories and
    /// names that are not valid keys are skipped.
    pub fn candidate_keys(&self) -> Result<Vec<Key>, BaselineError> {
        let root = self.root.join(CANDIDATES_DIR);
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

    /// Promotes the candidate for `key` to its baseline, then removes the candidate and
    /// records the decision. The candidate's files are verified first.
    pub fn approve(&self, key: &Key, decision: &Decision) -> Result<AuditEntry, BaselineError> {
        check_decision(decision, "approve")?;
        let cand_dir = self.existing_candidate_dir(key)?;
        let candidate = read_manifest(&cand_dir, key)?;
        let target = self.baseline_dir(key);
        remove_leftovers(&target)?;
        let staging = staging_dir(&target, "approving")?;
        for entry in &candidate.pages {
            let image = read_verified(&cand_dir.join(&entry.image), &entry.sha256)?;
            write_file(&staging.path().join(&entry.image), &image)?;
            let text = read_verified(&cand_dir.join(&entry.text), &entry.text_sha256)?;
            write_file(&staging.path().join(&entry.text), &text)?;
        }
        let mut manifest = candidate;
        let at = now();
        manifest.approved_at = Some(at);
        manifest.approved_by = Some(decision.by.clone());
        manifest.reason = Some(decision.reason.clone());
        write_json(&staging.path().join(MANIFEST_FILE), &manifest)?;
        // Verify the staged copy (checksums, PNG decoding, sizes) before it replaces anything.
        load_pages(staging.path(), &manifest)?;
        swap_in(staging, &target)?;
        let entry = AuditEntry {
            at,
            by: decision.by.clone(),
            action: Action::Approve,
            key: key.to_string(),
            reason: decision.reason.clone(),
            environment: Some(manifest.environment.clone()),
            pages: manifest.pages.len(),
        };
        audit::append(&self.audit_path(), &entry)?;
        self.remove_candidate(key)?;
        tracing::info!(%key, by = %decision.by, "candidate approved");
        Ok(entry)
    }

    /// Removes the candidate for `key` and records the decision. A candidate whose files
    /// are damaged can still be rejected.
    pub fn reject(&self, key: &Key, decision: &Decision) -> Result<AuditEntry, BaselineError> {
        check_decision(decision, "reject")?;
        let dir = self.existing_candidate_dir(key)?;
        let manifest = read_manifest(&dir, key).ok();
        let entry = AuditEntry {
            at: now(),
            by: decision.by.clone(),
            action: Action::Reject,
            key: key.to_string(),
            reason: decision.reason.clone(),
            environment: manifest.as_ref().map(|m| m.environment.clone()),
            pages: manifest.as_ref().map_or(0, |m| m.pages.len()),
        };
        // Record first: a crash in between leaves the candidate, never an unrecorded decision.
        audit::append(&self.audit_path(), &entry)?;
        self.remove_candidate(key)?;
        tracing::info!(%key, by = %decision.by, "candidate rejected");
        Ok(entry)
    }

    /// Every decision recorded in `audit.jsonl`, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>, BaselineError> {
        audit::read(&self.audit_path())
    }

    /// The candidate directory for `key`, or an error naming the candidates that are waiting.
    pub fn existing_candidate_dir(&self, key: &Key) -> Result<PathBuf, BaselineError> {
        let dir = self.candidate_dir(key);
        if dir.is_dir() {
            return Ok(dir);
        }
        let waiting = self.candidate_keys()?.iter().map(Key::to_string).collect::<Vec<_>>();
        let waiting = if waiting.is_empty() { "none".to_string() } else { waiting.join(", ") };
        Err(BaselineError::NoCandidate { key: key.to_string(), waiting })
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

fn check_decision(decision: &Decision, action: &'static str) -> Result<(), BaselineError> {
    if decision.reason.trim().is_empty() {
        return Err(BaselineError::NoReason { action });
    }
    if decision.by.trim().is_empty() {
        return Err(BaselineError::NoUser);
    }
    Ok(())
}

fn read_manifest(dir: &Path, key: &Key) -> Result<Manifest, BaselineError> {
    let path = dir.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BaselineError::Missing { path }),
        Err(source) => return Err(BaselineError::Io { path, source }),
    };
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| BaselineError::Invalid { path: path.clone(), detail: e.to_string() })?;
    let invalid = |detail: String| BaselineError::Invalid { path: path.clone(), detail };
    if manifest.format > MANIFEST_FORMAT {
        return Err(invalid(format!(
            "format {} was written by a newer pixelproof (this one reads up to {MANIFEST_FORMAT})",
            manifest.format
        )));
    }
    if manifest.template != key.template() || manifest.fixture != key.fixture() {
        return Err(invalid(format!(
            "it belongs to {}/{}, not {key} (was the directory copied or renamed?)",
            manifest.template, manifest.fixture
        )));
    }
    if manifest.pages.is_empty() {
        return Err(invalid("it lists no pages".to_string()));
    }
    for (index, page) in manifest.pages.iter().enumerate() {
        let number = index + 1;
        // File names come from the page number, never from the manifest's text alone:
        // a manifest cannot point outside its directory.
        if page.number != number || page.image != page_image_name(number) || page.text != page_text_name(number) {
            return Err(invalid(format!(
                "page entry {number} should be number {number} with files {} and {}",
                page_image_name(number),
                page_text_name(number)
            )));
        }
    }
    Ok(manifest)
}

fn read_candidate_verdict(dir: &Path) -> Result<Option<CandidateVerdict>, BaselineError> {
    let path = dir.join(VERDICT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| BaselineError::Invalid { path: path.clone(), detail: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BaselineError::Io { path, source }),
    }
}

/// Reads every page file the manifest lists, checking its sha256 and size.
fn load_pages(dir: &Path, manifest: &Manifest) -> Result<Vec<StoredPage>, BaselineError> {
    manifest
        .pages
        .iter()
        .map(|entry| {
            let png_path = dir.join(&entry.image);
            let png_bytes = read_verified(&png_path, &entry.sha256)?;
            let image = png::decode(&png_bytes)
                .map_err(|e| BaselineError::Png { path: png_path.clone(), detail: e.to_string() })?;
            if image.dimensions() != (entry.width, entry.height) {
                return Err(BaselineError::Invalid {
                    path: png_path,
                    detail: format!(
                        "it is {}x{} but the manifest says {}x{}",
                        image.width(),
                        image.height(),
                        entry.width,
                        entry.height
                    ),
                });
            }
            let text_path = dir.join(&entry.text);
            let text = String::from_utf8(read_verified(&text_path, &entry.text_sha256)?).map_err(|_| {
                BaselineError::Invalid { path: text_path.clone(), detail: "it is not UTF-8 text".to_string() }
            })?;
            Ok(StoredPage { number: entry.number, image, text })
        })
        .collect()
}

fn read_verified(path: &Path, expected: &str) -> Result<Vec<u8>, BaselineError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BaselineError::Missing { path: path.to_path_buf() })
        }
        Err(source) => return Err(BaselineError::Io { path: path.to_path_buf(), source }),
    };
    let found = png::sha256_hex(&bytes);
    if !found.eq_ignore_ascii_case(expected) {
        return Err(BaselineError::Checksum { path: path.to_path_buf(), expected: expected.to_string(), found });
    }
    Ok(bytes)
}

fn write_page(
    dir: &Path,
    number: usize,
    png: &[u8],
    image: &RgbaImage,
    text: &str,
) -> Result<PageEntry, BaselineError> {
    let entry = PageEntry {
        number,
        image: page_image_name(number),
        sha256: png::sha256_hex(png),
        text: page_text_name(number),
        text_sha256: png::sha256_hex(text.as_bytes()),
        width: image.width(),
        height: image.height(),
    };
    write_file(&dir.join(&entry.image), png)?;
    write_file(&dir.join(&entry.text), text.as_bytes())?;
    Ok(entry)
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), BaselineError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| BaselineError::Io { path: path.to_path_buf(), source: e.into() })?;
    text.push('\n');
    write_file(path, text.as_bytes())
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
