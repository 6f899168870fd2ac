//! The render cache: a job whose every input matches one that already shipped gets that
//! job's proved PDF and verdict without rendering or verifying again.
//!
//! # Why it exists
//! Apps print the same document again and again (a re-sent invoice, a retried request, a
//! report nobody changed). Proving it again costs a Chromium print, a PDFium raster and a
//! pixel comparison (hundreds of milliseconds, seconds with the fallback) to reach an answer
//! already known.
//!
//! # Why it is safe
//! Rendering is deterministic here: same document, same environment ⇒ identical rasters
//! (`tests/it/determinism.rs`) and identical PDF bytes (`pdf_bytes::normalize`,
//! `tests/it/pdf_bytes.rs`). So a PDF may be reused exactly when everything that decides the PDF
//! **and its verdict** is the same, and the key covers all of it. The key is the sha256 of a
//! versioned, length-prefixed encoding (each field: its name, its length, its bytes) of:
//!
//! * the format ([`KEY_FORMAT`]) and pixelproof's version (rules live in code: an upgrade misses);
//! * the **submitter**: entries are per submitter, so one tenant never learns from a hit (or its
//!   speed) what another printed, nor another's job id;
//! * the **environment**: Chromium's version, the PDFium build, the bundled fonts' hash, the DPI,
//!   and the fallback's version (or its absence): a job routed to Chromium can ship from the
//!   fallback, so both engines are in every key;
//! * the **route** chosen (`chromium` or `fallback`);
//! * the **document**: its origin (template or HTML), its HTML (for a template job, the HTML the
//!   template rendered with the data), all its print options (as JSON), and **every asset it
//!   may load**: an API job's in-memory assets (path and bytes), or every file under the
//!   template's folder (path and bytes: assets, sources, `template.json` and the fixtures the
//!   `pdf-size` rule is measured from) plus the template's loaded configuration;
//! * the **merged documents**, when the job merges any: each one's origin, HTML, options and
//!   assets, in order;
//! * the **baseline**: the job's baseline key, and the identity of Chromium's and the
//!   fallback's baselines of that key (the sha256 of each manifest, which lists every page
//!   file's sha256 and when it was approved; or why there is none);
//! * the **rules' inputs**: `--max-pages`, the pixel verdict's limits, the size tolerance, and
//!   for a template job whether start-up verification proved it on each engine.
//!
//! Only a job that **shipped** (`done` or `fallback`, every rule passed) is stored, after its own
//! PDF; held and failed jobs never are, and neither is a job the fallback printed only because
//! Chromium crashed on its last delivery (a fresh render would have given Chromium's PDF). A
//! document that prints the date in a header or footer template is never cached. Anything that
//! goes wrong reading the cache is a miss (logged), never a failed job.
//!
//! # Layout (any `ObjectStore`: a directory or a bucket)
//! * `cache/v1/{key}/entry.json`: [`Entry`] (the job that first proved it, state, renderer,
//!   verdict, the PDF's object and sha256), written with `put_if_absent` after the PDF;
//! * `cache/v1/{key}/{sha256 of the PDF}.pdf`: the PDF, checked against the entry on every hit.
//!
//! Entries go with the job that made them (`DELETE /v1/jobs/ID`, `--retain-days`, through the
//! `jobs/ID/cache-entry` pointer) and, with `--retain-days`, once as old; otherwise they are
//! kept: remove `cache/` to reclaim space.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Service;
use crate::baseline::{Baseline, Key, Manifest};
use crate::document::{Assets, Document, Origin};
use crate::jobs::{CacheOutcome, JobId, JobRecord, JobState};
use crate::routing::Renderer;
use crate::store::{ObjectKey, ObjectStore, PutOutcome};
use crate::template::Template;

/// Bump when what goes into the key, or how, changes.
pub const KEY_FORMAT: u32 = 1;

/// Where entries live in the object store.
const PREFIX: &str = "cache/v1";

/// A cache key: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey(String);

impl CacheKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn entry(&self) -> Result<ObjectKey, crate::store::StoreError> {
        ObjectKey::parse(&format!("{PREFIX}/{}/entry.json", self.0))
    }

    fn pdf(&self, sha256: &str) -> Result<ObjectKey, crate::store::StoreError> {
        ObjectKey::parse(&format!("{PREFIX}/{}/{sha256}.pdf", self.0))
    }
}

/// What is stored for a shipped job (`entry.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// [`KEY_FORMAT`] when written.
    pub format: u32,
    /// The job that proved the PDF (the one a hit's history names).
    pub job: JobId,
    pub state: JobState,
    /// The printing engine's version (stored as `renderer` before 2026-12).
    #[serde(alias = "renderer")]
    pub renderer_version: String,
    pub verdict: crate::rules::JobVerdict,
    /// The PDF's object key and sha256.
    pub pdf: ObjectKey,
    pub pdf_sha256: String,
    pub stored_at: chrono::DateTime<chrono::Utc>,
}

/// A job answered from the cache: the PDF (its checksum verified) and what proved it.
pub struct Hit {
    pub entry: Entry,
    pub pdf: Vec<u8>,
}

/// What a lookup found.
pub enum Lookup {
    /// The cache is off.
    Off,
    /// The job cannot use the cache (why, for the log).
    Bypass,
    /// Nothing usable under the key: render, then store under it if the job ships.
    Miss(CacheKey),
    Hit(Box<Hit>),
}

impl Lookup {
    pub fn outcome(&self) -> CacheOutcome {
        match self {
            Lookup::Off => CacheOutcome::Off,
            Lookup::Bypass => CacheOutcome::Bypass,
            Lookup::Miss(_) => CacheOutcome::Miss,
            Lookup::Hit(_) => CacheOutcome::Hit,
        }
    }
}

/// The render cache on the service's object store.
#[derive(Debug, Clone)]
pub struct RenderCache {
    objects: Arc<dyn ObjectStore>,
    enabled: bool,
}

/// The job's inputs the worker has at hand when it looks the job up.
pub struct Inputs<'a> {
    pub submitter: &'a str,
    pub doc: &'a Document,
    pub template: Option<&'a Template>,
    pub route: Renderer,
    /// The job's baseline key, if it names one.
    pub baseline_key: Option<Key>,
    /// Chromium's baseline of that key as the worker loaded it (or why it could not).
    pub chromium_baseline: Option<Result<&'a Baseline, &'a str>>,
}

impl RenderCache {
    pub fn new(objects: Arc<dyn ObjectStore>, enabled: bool) -> RenderCache {
        RenderCache { objects, enabled }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Looks the job up. Every failure is a miss or a bypass (logged, counted as `error`).
    pub async fn lookup(&self, service: &Service, job: JobId, inputs: Inputs<'_>) -> Lookup {
        if !self.enabled {
            return Lookup::Off;
        }
        let lookup = match key(service, &inputs).await {
            Err(why) => {
                tracing::info!(%job, %why, "render cache bypassed");
                Lookup::Bypass
            }
            Ok(key) => match self.read(&key).await {
                Ok(Some(hit)) => Lookup::Hit(Box::new(hit)),
                Ok(None) => Lookup::Miss(key),
                Err(why) => {
                    service.metrics.render_cache("error");
                    tracing::warn!(%job, key = key.as_str(), %why, "render cache read failed: the job renders");
                    Lookup::Miss(key)
                }
            },
        };
        let counted = match &lookup {
            Lookup::Off => None,
            Lookup::Bypass => Some("bypass"),
            Lookup::Miss(_) => Some("miss"),
            Lookup::Hit(_) => Some("hit"),
        };
        if let Some(outcome) = counted {
            service.metrics.render_cache(outcome);
        }
        lookup
    }

    /// The entry under `key` with its PDF, if both are there and agree.
    async fn read(&self, key: &CacheKey) -> Result<Option<Hit>, String> {
        let Some(bytes) =
            self.objects.get(&key.entry().map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let entry: Entry = serde_json::from_slice(&bytes).map_err(|e| format!("entry.json cannot be read: {e}"))?;
        if entry.format != KEY_FORMAT || !matches!(entry.state, JobState::Done | JobState::Fallback) {
            return Err(format!("entry.json is of format {} and state {}: not usable", entry.format, entry.state));
        }
        if !entry.verdict.passed {
            return Err("entry.json holds a verdict that did not pass".into());
        }
        let pdf = self
            .objects
            .get(&entry.pdf)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the entry's PDF {} is missing", entry.pdf))?;
        let found = hex::encode(Sha256::digest(&pdf));
        if found != entry.pdf_sha256 {
            return Err(format!("the PDF {} has sha256 {found}, the entry says {}", entry.pdf, entry.pdf_sha256));
        }
        Ok(Some(Hit { entry, pdf }))
    }

    /// Stores a shipped job under `key`: the PDF, then the entry (the first job stored under
    /// a key stays; a later identical one changes nothing). Errors are logged, not returned:
    /// the job has shipped already.
    pub async fn store(&self, service: &Service, key: &CacheKey, record: &JobRecord, pdf: &[u8]) {
        if !matches!(record.state, JobState::Done | JobState::Fallback) {
            return;
        }
        let (Some(verdict), Some(renderer)) = (&record.verdict, &record.renderer_version) else { return };
        match self.write(key, record, verdict, renderer, pdf).await {
            Ok(true) => {
                service.metrics.render_cache("store");
                tracing::debug!(job = %record.id, key = key.as_str(), "stored in the render cache");
            }
            Ok(false) => tracing::debug!(job = %record.id, key = key.as_str(), "already in the render cache"),
            Err(why) => {
                service.metrics.render_cache("error");
                tracing::warn!(job = %record.id, key = key.as_str(), %why, "could not store the job in the render cache");
            }
        }
    }

    async fn write(
        &self,
        key: &CacheKey,
        record: &JobRecord,
        verdict: &crate::rules::JobVerdict,
        renderer: &str,
        pdf: &[u8],
    ) -> Result<bool, crate::store::StoreError> {
        let sha = hex::encode(Sha256::digest(pdf));
        let entry_key = key.entry()?;
        if self.objects.exists(&entry_key).await? {
            return Ok(false);
        }
        let pdf_key = key.pdf(&sha)?;
        self.objects.put_if_absent(&pdf_key, pdf.to_vec()).await?;
        let entry = Entry {
            format: KEY_FORMAT,
            job: record.id,
            state: record.state,
            renderer_version: renderer.to_string(),
            verdict: verdict.clone(),
            pdf: pdf_key,
            pdf_sha256: sha,
            stored_at: chrono::Utc::now(),
        };
        let bytes = serde_json::to_vec_pretty(&entry).map_err(|e| crate::store::StoreError::Corrupt {
            key: entry_key.to_string(),
            what: "JSON",
            detail: e.to_string(),
        })?;
        let created = matches!(self.objects.put_if_absent(&entry_key, bytes).await?, PutOutcome::Created);
        if created {
            // So removing the job (DELETE, retention) removes the copy of its PDF kept here.
            self.objects.put(&entry_pointer(record.id), key.0.clone().into_bytes()).await?;
        }
        Ok(created)
    }

    /// Removes the entry `job` made (if it made one): its PDF and verdict.
    pub async fn forget(&self, job: JobId) -> Result<usize, crate::store::StoreError> {
        let Some(bytes) = self.objects.get(&entry_pointer(job)).await? else { return Ok(0) };
        let key = String::from_utf8_lossy(&bytes).trim().to_string();
        if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(0);
        }
        self.remove_entry(&key).await
    }

    async fn remove_entry(&self, key: &str) -> Result<usize, crate::store::StoreError> {
        let mut removed = 0;
        for k in self.objects.list(&format!("{PREFIX}/{key}/")).await? {
            removed += usize::from(self.objects.delete(&k).await?);
        }
        Ok(removed)
    }

    /// Removes every entry stored before `cutoff` (retention); how many.
    pub async fn expire(&self, cutoff: chrono::DateTime<chrono::Utc>) -> Result<usize, crate::store::StoreError> {
        let mut expired = 0;
        for k in self.objects.list(&format!("{PREFIX}/")).await? {
            let Some(key) = k.as_str().strip_prefix(&format!("{PREFIX}/")).and_then(|r| r.strip_suffix("/entry.json"))
            else {
                continue;
            };
            let Some(bytes) = self.objects.get(&k).await? else { continue };
            let stored_at = serde_json::from_slice::<Entry>(&bytes).map(|e| e.stored_at).ok();
            if stored_at.is_none_or(|t| t < cutoff) {
                self.remove_entry(key).await?;
                expired += 1;
            }
        }
        Ok(expired)
    }
}

/// Where a job notes the cache entry it made: `jobs/{id}/cache-entry` (the key).
fn entry_pointer(job: JobId) -> ObjectKey {
    ObjectKey::for_job(job, "cache-entry")
}

/// The length-prefixed, versioned encoding the key is the sha256 of.
struct Encoder(Sha256);

impl Encoder {
    fn new() -> Encoder {
        let mut e = Encoder(Sha256::new());
        e.field("pixelproof render cache", format!("{KEY_FORMAT} {}", env!("CARGO_PKG_VERSION")).as_bytes());
        e
    }

    fn field(&mut self, name: &str, value: &[u8]) {
        for part in [name.as_bytes(), value] {
            self.0.update((part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
    }

    fn finish(self) -> CacheKey {
        CacheKey(hex::encode(self.0.finalize()))
    }
}

/// What of one document goes into the key: where it came from, its HTML, options and assets.
async fn encode_document(e: &mut Encoder, doc: &Document) -> Result<(), String> {
    let options = &doc.options;
    let prints_date = |t: &Option<String>| t.as_deref().is_some_and(|t| t.contains("date"));
    if prints_date(&options.header_template) || prints_date(&options.footer_template) {
        return Err("a header or footer template may print the date".into());
    }
    e.field("doc.origin", if doc.origin == Origin::Template { b"template" } else { b"html" });
    e.field("doc.html", doc.html.as_bytes());
    e.field("doc.options", &json(options)?);
    match &doc.assets {
        Assets::Memory(files) => {
            e.field("assets", b"memory");
            e.field("assets.count", files.len().to_string().as_bytes());
            for (path, bytes) in files {
                e.field("asset.path", path.as_bytes());
                e.field("asset.bytes", bytes);
            }
        }
        Assets::Template(dir) | Assets::Dir(dir) => {
            e.field("assets", b"folder");
            let dir = dir.clone();
            let files = tokio::task::spawn_blocking(move || folder_digest(&dir))
                .await
                .map_err(|err| format!("the asset hashing task stopped: {err}"))??;
            e.field("assets.folder", &files);
        }
        Assets::None => e.field("assets", b"none"),
    }
    Ok(())
}

/// The job's key (see the module doc), or why it has none.
async fn key(service: &Service, inputs: &Inputs<'_>) -> Result<CacheKey, String> {
    let mut e = Encoder::new();
    e.field("submitter", inputs.submitter.as_bytes());
    let env = &service.engine.environment;
    e.field("env.chromium", env.chromium.as_bytes());
    e.field("env.pdfium_build", env.pdfium_build.as_bytes());
    e.field("env.fonts_hash", env.fonts_hash.as_bytes());
    e.field("env.dpi", env.dpi.to_string().as_bytes());
    e.field("env.fallback", service.fallback.as_ref().map_or("", |f| f.version()).as_bytes());
    e.field("route", inputs.route.as_str().as_bytes());
    encode_document(&mut e, inputs.doc).await?;
    // Only a merging job's key says so: every other job keeps the key it had before merging was.
    if !inputs.doc.merge.is_empty() {
        e.field("merge.count", inputs.doc.merge.len().to_string().as_bytes());
        for merged in &inputs.doc.merge {
            encode_document(&mut e, merged).await?;
        }
    }
    match inputs.template {
        Some(t) => {
            e.field("template.name", t.name.as_bytes());
            e.field("template.config", &json(&t.config)?);
            for engine in [Renderer::Chromium, Renderer::Fallback] {
                let verified = match service.verification.on(engine, &t.name) {
                    Some(Ok(())) => "verified",
                    Some(Err(_)) => "failed",
                    None => "unknown",
                };
                e.field(&format!("template.verified.{}", engine.as_str()), verified.as_bytes());
            }
        }
        None => e.field("template.name", b""),
    }
    e.field("baseline.key", inputs.baseline_key.as_ref().map(|k| k.to_string()).unwrap_or_default().as_bytes());
    if let Some(k) = &inputs.baseline_key {
        let chromium = match inputs.chromium_baseline {
            Some(Ok(b)) => manifest_identity(&b.manifest)?,
            Some(Err(why)) => format!("unusable: {why}"),
            None => "none".to_string(),
        };
        e.field("baseline.chromium", chromium.as_bytes());
        let store = service.baselines.for_engine(Renderer::Fallback);
        let fallback = match store.read_manifest(k).await {
            Ok(Some(m)) => manifest_identity(&m)?,
            Ok(None) => "none".to_string(),
            Err(err) if err.is_retryable() => return Err(format!("the fallback's baseline cannot be read now: {err}")),
            Err(err) => format!("unusable: {err}"),
        };
        e.field("baseline.fallback", fallback.as_bytes());
    }
    e.field("rules.max_pages", service.config.limits.max_pages.to_string().as_bytes());
    e.field("rules.verdict_limits", format!("{:?}", service.config.verdict_limits).as_bytes());
    e.field("rules.size_tolerance", crate::rules::SIZE_TOLERANCE.to_string().as_bytes());
    Ok(e.finish())
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| format!("cannot encode for the key: {e}"))
}

/// A manifest's identity: the sha256 of its JSON (every page file's sha256, the environment,
/// when it was made and approved).
fn manifest_identity(manifest: &Manifest) -> Result<String, String> {
    Ok(hex::encode(Sha256::digest(json(manifest)?)))
}

/// sha256 over every file under `dir` (links followed), in path order: each relative path
/// and its bytes, length-prefixed.
fn folder_digest(dir: &std::path::Path) -> Result<Vec<u8>, String> {
    let mut hash = Sha256::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true).sort_by_file_name() {
        let entry = entry.map_err(|e| format!("cannot list the assets under {}: {e}", dir.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let rel = path.strip_prefix(dir).unwrap_or(path).to_string_lossy().into_owned();
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read the asset {}: {e}", path.display()))?;
        for part in [rel.as_bytes(), &bytes] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
    }
    Ok(hash.finalize().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_length_prefixed_so_boundaries_matter() {
        let key = |parts: &[(&str, &str)]| {
            let mut e = Encoder::new();
            for (n, v) in parts {
                e.field(n, v.as_bytes());
            }
            e.finish()
        };
        assert_eq!(key(&[("a", "bc")]), key(&[("a", "bc")]));
        assert_ne!(key(&[("a", "bc")]), key(&[("ab", "c")]));
        assert_ne!(key(&[("a", "b"), ("c", "")]), key(&[("a", "bc")]));
        assert_eq!(key(&[]).as_str().len(), 64);
        assert!(ObjectKey::parse(&format!("{PREFIX}/{}/entry.json", key(&[]).as_str())).is_ok());
    }

    #[test]
    fn a_changed_file_changes_the_folder_digest() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("img")).expect("mkdir");
        std::fs::write(dir.path().join("style.css"), "p{}").expect("write");
        std::fs::write(dir.path().join("img/logo.svg"), "<svg/>").expect("write");
        let before = folder_digest(dir.path()).expect("digest");
        assert_eq!(before, folder_digest(dir.path()).expect("digest"));
        std::fs::write(dir.path().join("img/logo.svg"), "<svg />").expect("write");
        let after = folder_digest(dir.path()).expect("digest");
        assert_ne!(before, after);
        std::fs::rename(dir.path().join("img/logo.svg"), dir.path().join("img/logo2.svg")).expect("rename");
        assert_ne!(after, folder_digest(dir.path()).expect("digest"), "a renamed file changes it too");
    }

    #[tokio::test]
    async fn entries_round_trip_and_a_corrupt_pdf_is_not_a_hit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let objects: Arc<dyn ObjectStore> = Arc::new(crate::store::LocalStore::open(dir.path()).expect("store"));
        let cache = RenderCache::new(objects.clone(), true);
        let key = CacheKey("ab".repeat(32));
        let mut record = JobRecord::new(JobId::new(), serde_json::json!({}), None);
        record.state = JobState::Done;
        record.renderer_version = Some("HeadlessChrome/156".into());
        record.verdict = Some(crate::rules::JobVerdict { passed: true, ..Default::default() });
        assert!(cache.read(&key).await.expect("read").is_none());
        assert!(cache
            .write(&key, &record, &crate::rules::JobVerdict { passed: true, ..Default::default() }, "r", b"%PDF-1")
            .await
            .expect("write"));
        assert!(!cache
            .write(&key, &record, &crate::rules::JobVerdict { passed: true, ..Default::default() }, "r", b"%PDF-2")
            .await
            .expect("again"));
        let hit = cache.read(&key).await.expect("read").expect("a hit");
        assert_eq!(hit.pdf, b"%PDF-1");
        assert_eq!(hit.entry.job, record.id);
        objects.put(&hit.entry.pdf, b"%PDF-X".to_vec()).await.expect("tamper");
        let err = cache.read(&key).await.err().expect("a changed PDF is refused");
        assert!(err.contains("sha256"), "{err}");
    }
}
