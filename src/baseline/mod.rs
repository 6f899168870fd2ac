//! Baselines: approved page images per template fixture, their manifest, candidates
//! waiting for review, and the audit log of every decision.
//!
//! On disk, under the baselines directory (`baselines/` by default):
//!
//! ```text
//! TEMPLATE/FIXTURE/manifest.json             the approved baseline (see `Manifest`)
//! TEMPLATE/FIXTURE/page-001.png, page-001.txt
//! .candidates/TEMPLATE/FIXTURE/…             a candidate: the same files, plus
//!                                            comparison.json and diff-NNN.png when a baseline existed
//! audit.jsonl                                one JSON object per approve/reject decision
//! .fallback/TEMPLATE/FIXTURE/…, .fallback/.candidates/…
//!                                            the fallback engine's baselines and candidates
//! ```
//!
//! Baselines are kept per engine ([`Store::for_engine`]): the fallback (WeasyPrint) prints
//! other pixels than Chromium, so its output is only ever compared with baselines it made
//! itself, approved the same way. Every manifest and audit entry names its engine.
//!
//! Every write goes to a hidden staging directory beside its target and is renamed into
//! place, so a crash never leaves a half-written baseline; the candidate is removed only
//! after its baseline is in place, so an interrupted approval can simply be run again.
//! Loading a baseline verifies every file against the sha256 its manifest records.
//!
//! A fleet keeps the same files in a bucket instead (`--baselines s3://BUCKET/PREFIX`, see
//! [`bucket`]): the same manifest, the same checks, the same approval flow. [`Store`] is the
//! one type callers use; it is either a [`DirStore`] or a [`BucketStore`]. Its methods are
//! async: a directory's operation runs whole on a blocking thread (`DirStore` itself is
//! synchronous), a bucket's requests are awaited on the caller's runtime.

mod audit;
pub mod bucket;
pub mod dir;
mod manifest;
pub mod png;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use image::RgbaImage;

use crate::audit::{Action, Details, Record};
use crate::compare::verdict::PageInput;
use crate::pins::Environment;
use crate::routing::Renderer;
use crate::store::StoreError;

pub use crate::fixture::{is_valid_name, Key, KeyError};
pub use bucket::BucketStore;
pub use dir::DirStore;
pub use manifest::{
    diff_image_name, now, page_image_name, page_text_name, BaselineInfo, CandidateVerdict, Manifest, PageEntry,
    COMPARISON_FILE, LEGACY_COMPARISON_FILE, MANIFEST_FILE, MANIFEST_FORMAT,
};

/// The directory under the baselines root that holds candidates.
pub const CANDIDATES_DIR: &str = ".candidates";
/// The directory under the baselines root that holds the fallback engine's baselines and
/// candidates (the same layout again; hidden, so it is never taken for a template).
pub const FALLBACK_DIR: &str = ".fallback";
/// The audit log's file name under the baselines root.
pub const AUDIT_FILE: &str = "audit.jsonl";

const REMAKE: &str = "Restore it from version control, or re-make the baseline: `pixelproof check --update`, then `pixelproof baseline approve`";

/// Why a baseline or candidate could not be read, written, approved or rejected.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{what} name {name:?} is not allowed: use letters, digits, '-' and '_' only (no '.', '/', spaces or absolute paths)")]
    BadName { what: &'static str, name: String },
    #[error(transparent)]
    Key(#[from] KeyError),
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
    #[error("could not use the baselines in {location}: {source}")]
    Store { location: String, source: StoreError },
}

impl BaselineError {
    /// Whether the same operation may succeed later (the bucket was unreachable), as opposed
    /// to a baseline that is missing, damaged or refused.
    pub fn is_retryable(&self) -> bool {
        match self {
            BaselineError::Store { source, .. } => source.is_retryable(),
            _ => false,
        }
    }
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
    /// The engine that printed the pages (written into the manifest; the store must be that
    /// engine's, see [`Store::for_engine`]).
    pub engine: Renderer,
}

/// How a candidate compared with its baseline: written as `comparison.json` and `diff-NNN.png`.
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

/// Which of a key's two sets of files: its approved baseline or the candidate waiting for review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Baseline,
    Candidate,
}

/// Where baselines live: a directory ([`DirStore`], the default) or a bucket ([`BucketStore`],
/// for fleets). Both keep the same files with the same manifest and the same approval flow.
#[derive(Debug, Clone)]
pub enum Store {
    Dir(DirStore),
    Bucket(BucketStore),
}

impl Store {
    /// The baselines directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store::Dir(DirStore::new(root))
    }

    /// Opens `--baselines`: a directory, or `s3://BUCKET/PREFIX` (with the `AWS_*` variables,
    /// like `--store`), which is checked to be reachable.
    pub async fn open(location: &Path) -> Result<Store, BaselineError> {
        match location.to_str() {
            Some(url) if bucket::is_bucket_url(url) => Ok(Store::Bucket(BucketStore::open(url).await?)),
            _ => Ok(Store::new(location)),
        }
    }

    /// True when `location` (as `open` takes it) names a directory that is not there: every
    /// fixture would then have no baseline. A bucket is never "missing" here.
    pub fn is_missing_directory(location: &Path) -> bool {
        !location.to_str().is_some_and(bucket::is_bucket_url) && !location.is_dir()
    }

    /// The same directory or bucket, for the baselines of `engine`: Chromium's are the
    /// default; the fallback's live beside them (`ROOT/.fallback/…`, `PREFIX/fallback/…`),
    /// made and approved the same way, and their manifests name the engine.
    pub fn for_engine(&self, engine: Renderer) -> Store {
        match self {
            Store::Dir(s) => Store::Dir(s.for_engine(engine)),
            Store::Bucket(s) => Store::Bucket(s.for_engine(engine)),
        }
    }

    /// The engine whose baselines this store holds.
    pub fn engine(&self) -> Renderer {
        match self {
            Store::Dir(s) => s.engine(),
            Store::Bucket(s) => s.engine(),
        }
    }

    /// The directory or bucket URL, for messages (with the engine, for the fallback's).
    pub fn location(&self) -> String {
        let place = match self {
            Store::Dir(s) => s.root().display().to_string(),
            Store::Bucket(s) => s.location().to_string(),
        };
        match self.engine() {
            Renderer::Chromium => place,
            Renderer::Fallback => format!("{place} (fallback baselines)"),
        }
    }

    /// Whether several processes (on several machines) see the same baselines.
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Bucket(_))
    }

    /// The baseline's manifest alone (no page files read): `None` when there is no baseline.
    pub async fn read_manifest(&self, key: &Key) -> Result<Option<Manifest>, BaselineError> {
        match self {
            Store::Dir(s) => on_dir(s, key, |s, key| s.read_manifest(key)).await,
            Store::Bucket(s) => s.read_manifest(key).await,
        }
    }

    /// The baseline with every page verified against its manifest: `None` when there is none.
    pub async fn load_baseline(&self, key: &Key) -> Result<Option<Baseline>, BaselineError> {
        match self {
            Store::Dir(s) => on_dir(s, key, |s, key| s.load_baseline(key)).await,
            Store::Bucket(s) => s.load_baseline(key).await,
        }
    }

    /// The candidate with every page verified: an error naming the waiting candidates when
    /// there is none for `key`.
    pub async fn load_candidate(&self, key: &Key) -> Result<Candidate, BaselineError> {
        match self {
            Store::Dir(s) => on_dir(s, key, |s, key| s.load_candidate(key)).await,
            Store::Bucket(s) => s.load_candidate(key).await,
        }
    }

    /// Writes (or replaces) the candidate for `new.key`; returns where it is. The pages are
    /// encoded as PNG on the caller's thread (`new` borrows them), then written.
    pub async fn write_candidate(&self, new: &NewCandidate<'_>) -> Result<PathBuf, BaselineError> {
        if new.engine != self.engine() {
            return Err(BaselineError::Invalid {
                path: PathBuf::from(format!("{}/{}", self.location(), new.key)),
                detail: format!("pages printed by {} cannot be a {} candidate", new.engine, self.engine()),
            });
        }
        let staged = candidate_files(new)?;
        match self {
            Store::Dir(s) => on_dir(s, &new.key, move |s, key| s.write_staged_candidate(key, &staged)).await,
            Store::Bucket(s) => s.write_candidate(&new.key, &staged).await,
        }
    }

    /// Every candidate waiting for review, sorted by key.
    pub async fn candidates(&self) -> Result<Vec<CandidateSummary>, BaselineError> {
        match self {
            Store::Dir(s) => on_dir(s, &(), |s, ()| s.candidates()).await,
            Store::Bucket(s) => s.candidates().await,
        }
    }

    /// The keys of every candidate, sorted.
    pub async fn candidate_keys(&self) -> Result<Vec<Key>, BaselineError> {
        match self {
            Store::Dir(s) => on_dir(s, &(), |s, ()| s.candidate_keys()).await,
            Store::Bucket(s) => s.candidate_keys().await,
        }
    }

    /// Promotes the candidate for `key` to its baseline, then removes the candidate and
    /// records the decision. The candidate's files are verified first.
    pub async fn approve(&self, key: &Key, decision: &Decision) -> Result<Record, BaselineError> {
        match self {
            Store::Dir(s) => on_dir(s, &(key.clone(), decision.clone()), |s, (key, d)| s.approve(key, d)).await,
            Store::Bucket(s) => s.approve(key, decision).await,
        }
    }

    /// Removes the candidate for `key` and records the decision.
    pub async fn reject(&self, key: &Key, decision: &Decision) -> Result<Record, BaselineError> {
        match self {
            Store::Dir(s) => on_dir(s, &(key.clone(), decision.clone()), |s, (key, d)| s.reject(key, d)).await,
            Store::Bucket(s) => s.reject(key, decision).await,
        }
    }

    /// Every decision recorded, oldest first.
    pub async fn audit_log(&self) -> Result<Vec<Record>, BaselineError> {
        match self {
            Store::Dir(s) => on_dir(s, &(), |s, ()| s.audit_log()).await,
            Store::Bucket(s) => s.audit_log().await,
        }
    }

    /// The keys of every approved baseline, sorted.
    pub async fn baseline_keys(&self) -> Result<Vec<Key>, BaselineError> {
        match self {
            Store::Dir(s) => on_dir(s, &(), |s, ()| s.baseline_keys()).await,
            Store::Bucket(s) => s.baseline_keys().await,
        }
    }

    /// Copies the approved baseline for `key` from `from` as it is (its manifest's bytes and
    /// approval included), every file verified before it is written and the copy verified
    /// before it replaces anything. Returns its page count.
    pub async fn copy_baseline_from(&self, from: &Store, key: &Key) -> Result<usize, BaselineError> {
        let Some(manifest) = from.read_manifest(key).await? else {
            return Err(BaselineError::Missing { path: PathBuf::from(format!("{}/{key}", from.location())) });
        };
        if manifest.engine != self.engine() {
            return Err(BaselineError::Invalid {
                path: PathBuf::from(format!("{}/{key}", from.location())),
                detail: format!(
                    "it is a {} baseline and cannot be copied among {} baselines",
                    manifest.engine,
                    self.engine()
                ),
            });
        }
        let mut files = Vec::with_capacity(manifest.pages.len() * 2);
        for entry in &manifest.pages {
            for (name, sha256) in [(&entry.image, &entry.sha256), (&entry.text, &entry.text_sha256)] {
                let bytes = from.read_file(Area::Baseline, key, name).await?;
                let path = PathBuf::from(format!("{}/{key}/{name}", from.location()));
                files.push((name.clone(), checked(path, bytes, sha256)?));
            }
        }
        let pages = manifest.pages.len();
        let staged = Staged { files, manifest };
        match self {
            Store::Dir(s) => on_dir(s, key, move |s, key| s.install(key, &staged)).await?,
            Store::Bucket(s) => s.install(key, &staged).await?,
        }
        Ok(pages)
    }

    /// Ok when a candidate for `key` is waiting; else an error naming those that are.
    pub async fn require_candidate(&self, key: &Key) -> Result<(), BaselineError> {
        match self {
            Store::Dir(s) => on_dir(s, key, |s, key| s.existing_candidate_dir(key).map(drop)).await,
            Store::Bucket(s) => s.require_candidate(key).await,
        }
    }

    /// Whether a candidate for `key` is waiting (a store that cannot be read says no).
    pub async fn has_candidate(&self, key: &Key) -> bool {
        match self {
            Store::Dir(s) => on_dir(s, key, |s, key| Ok(s.candidate_dir(key).is_dir())).await.unwrap_or(false),
            Store::Bucket(s) => s.require_candidate(key).await.is_ok(),
        }
    }

    /// One file of a baseline or candidate (`page-001.png`, `diff-001.png`…) by name: `None`
    /// when there is no such file. `name` must be a plain file name.
    pub async fn read_file(&self, area: Area, key: &Key, name: &str) -> Result<Option<Vec<u8>>, BaselineError> {
        if !is_file_name(name) {
            return Err(BaselineError::BadName { what: "file", name: name.to_string() });
        }
        match self {
            Store::Dir(s) => {
                on_dir(s, &(key.clone(), name.to_string()), move |s, (key, name)| s.read_file(area, key, name)).await
            }
            Store::Bucket(s) => s.read_file(area, key, name).await,
        }
    }
}

/// Runs `work` on the directory, whole, on a blocking thread, with its own copy of `args`:
/// a directory operation is a series of small file system calls (reads, renames, fsyncs)
/// whose order keeps it crash-safe, so it runs as it is, off the runtime.
async fn on_dir<A: Clone + Send + 'static, T: Send + 'static>(
    store: &DirStore,
    args: &A,
    work: impl FnOnce(&DirStore, &A) -> Result<T, BaselineError> + Send + 'static,
) -> Result<T, BaselineError> {
    let (dir, args) = (store.clone(), args.clone());
    off_runtime(store.root().to_path_buf(), move || work(&dir, &args)).await
}

/// Runs `work` on a blocking thread (file system calls, PNG decoding); `path` names what it
/// worked on should the task die.
async fn off_runtime<T: Send + 'static>(
    path: PathBuf,
    work: impl FnOnce() -> Result<T, BaselineError> + Send + 'static,
) -> Result<T, BaselineError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| BaselineError::Io {
        path,
        source: std::io::Error::other(format!("the task working on it stopped: {e}")),
    })?
}

/// A plain file name of a baseline or candidate: `[A-Za-z0-9_-]+.(png|txt|json)`.
fn is_file_name(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else { return false };
    is_valid_name(stem) && matches!(ext, "png" | "txt" | "json")
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

/// The files of one baseline or candidate, wherever they are kept: what the manifest checks
/// read through, so a directory and a bucket are verified by the same code.
trait Files {
    /// How to name the file `name` in a message (a path, or a bucket URL).
    fn locate(&self, name: &str) -> PathBuf;
    /// The file's bytes, `None` when it does not exist.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, BaselineError>;
}

/// The files to write for a baseline or candidate, then its manifest (written last).
struct Staged {
    files: Vec<(String, Vec<u8>)>,
    manifest: Manifest,
}

impl Staged {
    fn manifest_bytes(&self) -> Result<Vec<u8>, BaselineError> {
        json_bytes(&self.manifest, MANIFEST_FILE)
    }
}

/// A manifest read through `files` and checked against `key` and `engine`: its format, its
/// owner, its engine and its page entries (whose file names must be the ones its page
/// numbers give).
fn read_manifest(files: &dyn Files, key: &Key, engine: Renderer) -> Result<Manifest, BaselineError> {
    let path = files.locate(MANIFEST_FILE);
    let Some(bytes) = files.read(MANIFEST_FILE)? else { return Err(BaselineError::Missing { path }) };
    let manifest: Manifest = serde_json::from_slice(&bytes)
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
    if manifest.engine != engine {
        return Err(invalid(format!(
            "it holds pages printed by {}, but this is where {engine} baselines are kept (was it copied by hand?)",
            manifest.engine
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

/// How the candidate compared with its baseline: `comparison.json`, or `verdict.json` in a
/// candidate written before the file was renamed.
fn read_candidate_verdict(files: &dyn Files) -> Result<Option<CandidateVerdict>, BaselineError> {
    for name in [COMPARISON_FILE, LEGACY_COMPARISON_FILE] {
        if let Some(bytes) = files.read(name)? {
            return serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| BaselineError::Invalid { path: files.locate(name), detail: e.to_string() });
        }
    }
    Ok(None)
}

/// Reads every page file the manifest lists, checking its sha256 and size.
fn load_pages(files: &dyn Files, manifest: &Manifest) -> Result<Vec<StoredPage>, BaselineError> {
    manifest
        .pages
        .iter()
        .map(|entry| {
            let png_bytes = read_verified(files, &entry.image, &entry.sha256)?;
            let png_path = || files.locate(&entry.image);
            let image =
                png::decode(&png_bytes).map_err(|e| BaselineError::Png { path: png_path(), detail: e.to_string() })?;
            if image.dimensions() != (entry.width, entry.height) {
                return Err(BaselineError::Invalid {
                    path: png_path(),
                    detail: format!(
                        "it is {}x{} but the manifest says {}x{}",
                        image.width(),
                        image.height(),
                        entry.width,
                        entry.height
                    ),
                });
            }
            let text = String::from_utf8(read_verified(files, &entry.text, &entry.text_sha256)?).map_err(|_| {
                BaselineError::Invalid { path: files.locate(&entry.text), detail: "it is not UTF-8 text".to_string() }
            })?;
            Ok(StoredPage { number: entry.number, image, text })
        })
        .collect()
}

fn read_verified(files: &dyn Files, name: &str, expected: &str) -> Result<Vec<u8>, BaselineError> {
    checked(files.locate(name), files.read(name)?, expected)
}

/// `bytes`, when there are some and their sha256 is `expected`; `path` names them in errors.
fn checked(path: PathBuf, bytes: Option<Vec<u8>>, expected: &str) -> Result<Vec<u8>, BaselineError> {
    let Some(bytes) = bytes else { return Err(BaselineError::Missing { path }) };
    let found = png::sha256_hex(&bytes);
    if !found.eq_ignore_ascii_case(expected) {
        return Err(BaselineError::Checksum { path, expected: expected.to_string(), found });
    }
    Ok(bytes)
}

/// What writing `new` as a candidate puts in place: its pages, diffs and verdict, and its manifest.
fn candidate_files(new: &NewCandidate<'_>) -> Result<Staged, BaselineError> {
    let encode = |image: &RgbaImage, number: usize| {
        png::encode(image).map_err(|e| BaselineError::Encode {
            key: new.key.to_string(),
            page: number,
            detail: e.to_string(),
        })
    };
    let mut files = Vec::new();
    let mut entries = Vec::with_capacity(new.pages.len());
    for (index, page) in new.pages.iter().enumerate() {
        let number = index + 1;
        let png = encode(page.image, number)?;
        let entry = PageEntry {
            number,
            image: page_image_name(number),
            sha256: png::sha256_hex(&png),
            text: page_text_name(number),
            text_sha256: png::sha256_hex(page.text.as_bytes()),
            width: page.image.width(),
            height: page.image.height(),
        };
        files.push((entry.image.clone(), png));
        files.push((entry.text.clone(), page.text.as_bytes().to_vec()));
        entries.push(entry);
    }
    if let Some(comparison) = &new.comparison {
        for (index, diff) in comparison.diffs.iter().enumerate() {
            let Some(diff) = diff else { continue };
            let number = index + 1;
            files.push((diff_image_name(number), encode(diff, number)?));
        }
        files.push((COMPARISON_FILE.to_string(), json_bytes(&comparison.verdict, COMPARISON_FILE)?));
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        template: new.key.template().to_string(),
        fixture: new.key.fixture().to_string(),
        engine: new.engine,
        pages: entries,
        environment: new.environment.clone(),
        created_at: now(),
        created_by: new.created_by.clone(),
        approved_at: None,
        approved_by: None,
        reason: None,
    };
    Ok(Staged { files, manifest })
}

/// What approving the candidate in `candidate` puts in place: its verified page files and its
/// manifest with the decision recorded.
fn approved_files(
    candidate: &dyn Files,
    key: &Key,
    engine: Renderer,
    decision: &Decision,
) -> Result<(Staged, DateTime<Utc>), BaselineError> {
    let mut manifest = read_manifest(candidate, key, engine)?;
    let mut files = Vec::with_capacity(manifest.pages.len() * 2);
    for entry in &manifest.pages {
        files.push((entry.image.clone(), read_verified(candidate, &entry.image, &entry.sha256)?));
        files.push((entry.text.clone(), read_verified(candidate, &entry.text, &entry.text_sha256)?));
    }
    let at = now();
    manifest.approved_at = Some(at);
    manifest.approved_by = Some(decision.by.clone());
    manifest.reason = Some(decision.reason.clone());
    Ok((Staged { files, manifest }, at))
}

fn approval_entry(key: &Key, decision: &Decision, manifest: &Manifest, at: DateTime<Utc>) -> Record {
    Record {
        at,
        by: decision.by.clone(),
        action: Action::ApproveCandidate,
        subject: key.to_string(),
        reason: decision.reason.clone(),
        details: Details {
            engine: Some(manifest.engine),
            environment: Some(manifest.environment.clone()),
            pages: Some(manifest.pages.len()),
            ..Details::default()
        },
    }
}

/// The record of a rejection; `manifest` is `None` when the candidate's could not be read.
fn rejection_entry(key: &Key, engine: Renderer, decision: &Decision, manifest: Option<&Manifest>) -> Record {
    Record {
        at: now(),
        by: decision.by.clone(),
        action: Action::RejectCandidate,
        subject: key.to_string(),
        reason: decision.reason.clone(),
        details: Details {
            engine: Some(engine),
            environment: manifest.map(|m| m.environment.clone()),
            pages: Some(manifest.map_or(0, |m| m.pages.len())),
            ..Details::default()
        },
    }
}

/// Pretty JSON with a final newline: how manifests and verdicts are written.
fn json_bytes<T: serde::Serialize>(value: &T, name: &str) -> Result<Vec<u8>, BaselineError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| BaselineError::Io { path: PathBuf::from(name), source: e.into() })?;
    text.push('\n');
    Ok(text.into_bytes())
}

/// The names of candidates waiting, for a [`BaselineError::NoCandidate`].
fn no_candidate(key: &Key, waiting: &[Key]) -> BaselineError {
    let waiting = waiting.iter().map(Key::to_string).collect::<Vec<_>>();
    let waiting = if waiting.is_empty() { "none".to_string() } else { waiting.join(", ") };
    BaselineError::NoCandidate { key: key.to_string(), waiting }
}
