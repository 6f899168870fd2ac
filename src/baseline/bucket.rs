//! Baselines in a bucket (`--baselines s3://BUCKET/PREFIX`), for fleets: every API process
//! and worker sees the same baselines and candidates, and an approval made through any of them
//! is seen by all. The files and manifests are the ones a [`DirStore`](super::DirStore) keeps;
//! only their places differ, because a bucket has no rename:
//!
//! ```text
//! PREFIX/baselines/TEMPLATE/FIXTURE/current         the generation in use (one ULID, as text)
//! PREFIX/baselines/TEMPLATE/FIXTURE/GEN/manifest.json, page-001.png, page-001.txt, …
//! PREFIX/candidates/TEMPLATE/FIXTURE/current
//! PREFIX/candidates/TEMPLATE/FIXTURE/GEN/…          plus comparison.json and diff-NNN.png
//! PREFIX/audit/ULID.json                            one object per approve/reject decision
//! PREFIX/fallback/{baselines,candidates}/…          the fallback engine's, laid out the same
//! ```
//!
//! A write puts a whole new generation (manifest last), checks it, and only then points
//! `current` at it: one PUT, so a reader sees the old generation or the new one, never a mix.
//! Older generations are removed afterwards; a generation a crash left behind is never pointed
//! at and is removed by the next write of that key.
//!
//! The store's methods are async, awaited on the caller's runtime (the client is made there,
//! [`BucketStore::connect`]). A generation's files are fetched first, then checked by the same
//! code as a directory's (`Files`); PNG decoding runs on a blocking thread.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use ulid::Ulid;

use super::{
    approval_entry, approved_files, check_decision, load_pages, no_candidate, off_runtime, read_candidate_verdict,
    read_manifest, rejection_entry, Area, Baseline, BaselineError, Candidate, CandidateSummary, CandidateVerdict,
    Decision, Files, Key, Manifest, Staged, StoredPage, COMPARISON_FILE, LEGACY_COMPARISON_FILE, MANIFEST_FILE,
};
use crate::audit::Record;
use crate::routing::Renderer;
use crate::store::{get_all, ObjectKey, ObjectStore, S3Config, S3Store, StoreError};

const BASELINES: &str = "baselines";
const CANDIDATES: &str = "candidates";
const AUDIT: &str = "audit";
const CURRENT: &str = "current";
/// The fallback engine's baselines and candidates: `PREFIX/fallback/{baselines,candidates}/…`.
const FALLBACK: &str = "fallback";

/// Whether `--baselines` names a bucket rather than a directory.
pub fn is_bucket_url(location: &str) -> bool {
    location.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("s3://"))
}

/// Baselines and candidates kept in an object store.
#[derive(Debug, Clone)]
pub struct BucketStore {
    objects: Arc<dyn ObjectStore>,
    location: String,
    engine: Renderer,
}

impl BucketStore {
    /// Connects to `s3://BUCKET/PREFIX` (configured by the `AWS_*` variables, like `--store`)
    /// and checks the bucket is reachable.
    pub async fn open(url: &str) -> Result<BucketStore, BaselineError> {
        let url = url.trim_end_matches('/');
        let config = S3Config::from_url(&format!("s3://{}", url.get(5..).unwrap_or_default()))
            .map_err(|source| BaselineError::Store { location: url.to_string(), source })?;
        BucketStore::connect(config).await
    }

    /// Connects to the bucket `config` names and checks it is reachable. The client lives on
    /// the caller's runtime, which drives every request it makes.
    pub async fn connect(config: S3Config) -> Result<BucketStore, BaselineError> {
        let location = config.url();
        let objects = S3Store::connect(config)
            .await
            .map_err(|source| BaselineError::Store { location: location.clone(), source })?;
        Ok(BucketStore { objects: Arc::new(objects), location, engine: Renderer::Chromium })
    }

    /// Chromium's baselines kept in `objects` (any object store; `location` names it in messages).
    pub fn new(objects: Arc<dyn ObjectStore>, location: impl Into<String>) -> BucketStore {
        BucketStore { objects, location: location.into(), engine: Renderer::Chromium }
    }

    /// The same bucket, for `engine`'s baselines (the fallback's under `PREFIX/fallback/`).
    pub fn for_engine(&self, engine: Renderer) -> BucketStore {
        BucketStore { engine, ..self.clone() }
    }

    pub fn engine(&self) -> Renderer {
        self.engine
    }

    /// `s3://BUCKET/PREFIX`
    pub fn location(&self) -> &str {
        &self.location
    }

    pub async fn read_manifest(&self, key: &Key) -> Result<Option<Manifest>, BaselineError> {
        match self.current(BASELINES, key).await? {
            Some(mut files) => files.manifest(key).await.map(Some),
            None => Ok(None),
        }
    }

    pub async fn load_baseline(&self, key: &Key) -> Result<Option<Baseline>, BaselineError> {
        let Some(mut files) = self.current(BASELINES, key).await? else { return Ok(None) };
        let manifest = files.manifest(key).await?;
        let pages = files.pages(&manifest).await?;
        Ok(Some(Baseline { key: key.clone(), manifest, pages }))
    }

    pub async fn load_candidate(&self, key: &Key) -> Result<Candidate, BaselineError> {
        let mut files = self.existing_candidate(key).await?;
        let manifest = files.manifest(key).await?;
        let verdict = files.verdict().await?;
        let pages = files.pages(&manifest).await?;
        Ok(Candidate { key: key.clone(), manifest, pages, verdict })
    }

    /// Writes a new candidate generation (`staged`, see [`super::Store::write_candidate`]) and
    /// points the candidate at it; returns its URL.
    pub(super) async fn write_candidate(&self, key: &Key, staged: &Staged) -> Result<PathBuf, BaselineError> {
        let files = self.write_generation(CANDIDATES, key, staged).await?;
        self.point(CANDIDATES, key, &files.generation).await?;
        self.sweep(CANDIDATES, key, Some(&files.generation)).await;
        tracing::info!(%key, at = %files.url(""), "candidate written");
        Ok(PathBuf::from(files.url("")))
    }

    pub async fn candidates(&self) -> Result<Vec<CandidateSummary>, BaselineError> {
        let mut out = Vec::new();
        for key in self.candidate_keys().await? {
            let mut problems = Vec::new();
            let (manifest, verdict) = match self.current(CANDIDATES, &key).await {
                Ok(Some(mut files)) => (
                    files.manifest(&key).await.map_err(|e| problems.push(e.to_string())).ok(),
                    files.verdict().await.map_err(|e| problems.push(e.to_string())).ok().flatten(),
                ),
                // Removed since it was listed: it is no longer waiting.
                Ok(None) => continue,
                Err(e) => {
                    problems.push(e.to_string());
                    (None, None)
                }
            };
            let problem = if problems.is_empty() { None } else { Some(problems.join("; ")) };
            out.push(CandidateSummary { key, manifest, verdict, problem });
        }
        Ok(out)
    }

    /// The keys that have a `current` candidate, sorted.
    pub async fn candidate_keys(&self) -> Result<Vec<Key>, BaselineError> {
        self.pointed_keys(CANDIDATES).await
    }

    /// The keys of `AREA` that have a `current` pointer, sorted.
    async fn pointed_keys(&self, area: &'static str) -> Result<Vec<Key>, BaselineError> {
        let area = self.area(area);
        let listed = self.objects.list(&format!("{area}/")).await.map_err(|e| self.store_error(e))?;
        let mut keys: Vec<Key> = listed
            .iter()
            .filter_map(|k| match k.as_str().get(area.len() + 1..)?.split('/').collect::<Vec<_>>()[..] {
                [template, fixture, CURRENT] => Key::new(template, fixture).ok(),
                _ => None,
            })
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// The keys that have a `current` baseline, sorted.
    pub async fn baseline_keys(&self) -> Result<Vec<Key>, BaselineError> {
        self.pointed_keys(BASELINES).await
    }

    /// Puts `staged` in place as the baseline for `key`: a new generation, verified, then pointed at.
    pub(super) async fn install(&self, key: &Key, staged: &Staged) -> Result<(), BaselineError> {
        let mut files = self.write_generation(BASELINES, key, staged).await?;
        // Verify the copy as it is stored before anything points at it.
        files.pages(&staged.manifest).await?;
        self.point(BASELINES, key, &files.generation).await?;
        self.sweep(BASELINES, key, Some(&files.generation)).await;
        Ok(())
    }

    /// Copies the verified candidate into a new baseline generation, checks the copy, points the
    /// baseline at it, records the decision, then removes the candidate and the old generation.
    pub async fn approve(&self, key: &Key, decision: &Decision) -> Result<Record, BaselineError> {
        check_decision(decision, "approve")?;
        let mut candidate = self.existing_candidate(key).await?;
        let manifest = candidate.manifest(key).await?;
        candidate.fetch_pages(&manifest).await?;
        let (staged, at) = approved_files(&candidate, key, self.engine, decision)?;
        self.install(key, &staged).await?;
        let entry = approval_entry(key, decision, &staged.manifest, at);
        self.append_audit(&entry).await?;
        self.remove_candidate(key).await?;
        tracing::info!(%key, by = %decision.by, "candidate approved");
        Ok(entry)
    }

    /// Records the decision first, then removes the candidate (a damaged one too).
    pub async fn reject(&self, key: &Key, decision: &Decision) -> Result<Record, BaselineError> {
        check_decision(decision, "reject")?;
        let mut candidate = self.existing_candidate(key).await?;
        let manifest = candidate.manifest(key).await.ok();
        let entry = rejection_entry(key, self.engine, decision, manifest.as_ref());
        self.append_audit(&entry).await?;
        self.remove_candidate(key).await?;
        tracing::info!(%key, by = %decision.by, "candidate rejected");
        Ok(entry)
    }

    /// Every decision, oldest first.
    pub async fn audit_log(&self) -> Result<Vec<Record>, BaselineError> {
        let entries = get_all(self.objects.as_ref(), &format!("{AUDIT}/")).await.map_err(|e| self.store_error(e))?;
        let mut log = entries
            .into_iter()
            .map(|(key, bytes)| {
                serde_json::from_slice::<Record>(&bytes).map_err(|e| BaselineError::Invalid {
                    path: PathBuf::from(format!("{}/{key}", self.location)),
                    detail: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // ULID keys sort by time to the millisecond; the timestamp decides between processes.
        log.sort_by_key(|e| e.at);
        Ok(log)
    }

    pub async fn require_candidate(&self, key: &Key) -> Result<(), BaselineError> {
        self.existing_candidate(key).await.map(drop)
    }

    pub(super) async fn read_file(&self, area: Area, key: &Key, name: &str) -> Result<Option<Vec<u8>>, BaselineError> {
        let area = match area {
            Area::Baseline => BASELINES,
            Area::Candidate => CANDIDATES,
        };
        match self.current(area, key).await? {
            Some(files) => files.get(name).await,
            None => Ok(None),
        }
    }

    async fn existing_candidate(&self, key: &Key) -> Result<Generation, BaselineError> {
        match self.current(CANDIDATES, key).await? {
            Some(files) => Ok(files),
            None => Err(no_candidate(key, &self.candidate_keys().await?)),
        }
    }

    /// The generation `AREA/T/F/current` points at, `None` when there is none.
    async fn current(&self, area: &'static str, key: &Key) -> Result<Option<Generation>, BaselineError> {
        let pointer = self.object_key(&format!("{}/{CURRENT}", self.dir_of(area, key)))?;
        let Some(bytes) = self.objects.get(&pointer).await.map_err(|e| self.store_error(e))? else {
            return Ok(None);
        };
        let generation = String::from_utf8_lossy(&bytes).trim().to_string();
        if Ulid::from_string(&generation).is_err() {
            return Err(BaselineError::Invalid {
                path: PathBuf::from(format!("{}/{}/{CURRENT}", self.location, self.dir_of(area, key))),
                detail: format!("it should hold a generation id (a ULID), not {:?}", truncate(&generation)),
            });
        }
        Ok(Some(self.generation(area, key, generation)))
    }

    fn generation(&self, area: &'static str, key: &Key, generation: String) -> Generation {
        Generation {
            store: self.clone(),
            base: format!("{}/{generation}", self.dir_of(area, key)),
            generation,
            fetched: HashMap::new(),
        }
    }

    /// Puts every staged file, then the manifest, under a new generation of `AREA/T/F`.
    async fn write_generation(
        &self,
        area: &'static str,
        key: &Key,
        staged: &Staged,
    ) -> Result<Generation, BaselineError> {
        let files = self.generation(area, key, Ulid::new().to_string());
        let manifest = (MANIFEST_FILE.to_string(), staged.manifest_bytes()?);
        for (name, bytes) in staged.files.iter().chain([&manifest]) {
            let object = self.object_key(&format!("{}/{name}", files.base))?;
            self.objects.put(&object, bytes.clone()).await.map_err(|e| self.store_error(e))?;
        }
        Ok(files)
    }

    /// Points `AREA/T/F/current` at `generation`: one PUT, seen whole or not at all.
    async fn point(&self, area: &'static str, key: &Key, generation: &str) -> Result<(), BaselineError> {
        let pointer = self.object_key(&format!("{}/{CURRENT}", self.dir_of(area, key)))?;
        self.objects.put(&pointer, generation.as_bytes().to_vec()).await.map_err(|e| self.store_error(e))
    }

    /// Removes the generations of `AREA/T/F` older than `keep` (all of them when `None`). A
    /// failure only leaves unused objects behind, so it is logged, not returned.
    async fn sweep(&self, area: &'static str, key: &Key, keep: Option<&str>) {
        let prefix = format!("{}/", self.dir_of(area, key));
        let keep = keep.and_then(|k| Ulid::from_string(k).ok());
        let swept = async {
            let mut removed = 0usize;
            for object in self.objects.list(&prefix).await? {
                let Some(generation) = object.as_str()[prefix.len()..].split('/').next() else { continue };
                let Ok(generation) = Ulid::from_string(generation) else { continue };
                if keep.is_none_or(|k| generation < k) && self.objects.delete(&object).await? {
                    removed += 1;
                }
            }
            Ok::<_, StoreError>(removed)
        };
        match swept.await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(%key, area, objects = n, "removed older generations"),
            Err(e) => tracing::warn!(%key, area, error = %e, "could not remove older generations; they are unused"),
        }
    }

    /// Unpoints the candidate (it stops waiting at once), then removes its files.
    async fn remove_candidate(&self, key: &Key) -> Result<(), BaselineError> {
        let pointer = self.object_key(&format!("{}/{CURRENT}", self.dir_of(CANDIDATES, key)))?;
        self.objects.delete(&pointer).await.map_err(|e| self.store_error(e))?;
        self.sweep(CANDIDATES, key, None).await;
        Ok(())
    }

    async fn append_audit(&self, entry: &Record) -> Result<(), BaselineError> {
        let key = self.object_key(&format!("{AUDIT}/{}.json", Ulid::new()))?;
        let bytes = serde_json::to_vec(entry)
            .map_err(|e| BaselineError::Io { path: PathBuf::from(key.as_str()), source: e.into() })?;
        self.objects.put(&key, bytes).await.map_err(|e| self.store_error(e))
    }

    /// `AREA` for Chromium's, `fallback/AREA` for the fallback's.
    fn area(&self, area: &str) -> String {
        match self.engine {
            Renderer::Chromium => area.to_string(),
            Renderer::Fallback => format!("{FALLBACK}/{area}"),
        }
    }

    /// `AREA/TEMPLATE/FIXTURE` (under `fallback/` for the fallback's)
    fn dir_of(&self, area: &str, key: &Key) -> String {
        format!("{}/{}/{}", self.area(area), key.template(), key.fixture())
    }

    fn object_key(&self, key: &str) -> Result<ObjectKey, BaselineError> {
        ObjectKey::parse(key).map_err(|e| self.store_error(e))
    }

    fn store_error(&self, source: StoreError) -> BaselineError {
        BaselineError::Store { location: self.location.clone(), source }
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(60).collect()
}

/// One generation of a baseline or candidate: where its files are read from, and those read
/// so far ([`Generation::fetch`]), which the shared checks read through [`Files`].
struct Generation {
    store: BucketStore,
    /// `AREA/T/F/GEN`
    base: String,
    generation: String,
    fetched: HashMap<String, Option<Vec<u8>>>,
}

impl Generation {
    fn url(&self, name: &str) -> String {
        let base = format!("{}/{}", self.store.location, self.base);
        if name.is_empty() {
            base
        } else {
            format!("{base}/{name}")
        }
    }

    /// The file `name`, read now: `None` when there is none.
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, BaselineError> {
        let key = self.store.object_key(&format!("{}/{name}", self.base))?;
        self.store.objects.get(&key).await.map_err(|e| self.store.store_error(e))
    }

    /// Reads the files `names` (missing ones too, as missing) for the checks to see.
    async fn fetch(&mut self, names: Vec<String>) -> Result<(), BaselineError> {
        for name in names {
            let bytes = self.get(&name).await?;
            self.fetched.insert(name, bytes);
        }
        Ok(())
    }

    /// The manifest, read and checked against `key` and the store's engine.
    async fn manifest(&mut self, key: &Key) -> Result<Manifest, BaselineError> {
        self.fetch(vec![MANIFEST_FILE.to_string()]).await?;
        read_manifest(self, key, self.store.engine)
    }

    /// The candidate's verdict, if it has one.
    async fn verdict(&mut self) -> Result<Option<CandidateVerdict>, BaselineError> {
        self.fetch(vec![COMPARISON_FILE.to_string(), LEGACY_COMPARISON_FILE.to_string()]).await?;
        read_candidate_verdict(self)
    }

    /// Reads every page file `manifest` lists.
    async fn fetch_pages(&mut self, manifest: &Manifest) -> Result<(), BaselineError> {
        let names = manifest.pages.iter().flat_map(|p| [p.image.clone(), p.text.clone()]).collect();
        self.fetch(names).await
    }

    /// Every page `manifest` lists, read, verified and decoded (on a blocking thread: PNG
    /// decoding is slow).
    async fn pages(&mut self, manifest: &Manifest) -> Result<Vec<StoredPage>, BaselineError> {
        self.fetch_pages(manifest).await?;
        let files = Fetched { url: self.url(""), files: std::mem::take(&mut self.fetched) };
        let manifest = manifest.clone();
        off_runtime(PathBuf::from(self.url("")), move || load_pages(&files, &manifest)).await
    }
}

impl Files for Generation {
    fn locate(&self, name: &str) -> PathBuf {
        PathBuf::from(self.url(name))
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, BaselineError> {
        fetched(&self.fetched, self.locate(name), name)
    }
}

/// A generation's files, fetched, on their way to a blocking thread.
struct Fetched {
    url: String,
    files: HashMap<String, Option<Vec<u8>>>,
}

impl Files for Fetched {
    fn locate(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("{}/{name}", self.url))
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, BaselineError> {
        fetched(&self.files, self.locate(name), name)
    }
}

/// The file `name` among those fetched; one never fetched is a mistake of this module.
fn fetched(
    files: &HashMap<String, Option<Vec<u8>>>,
    path: PathBuf,
    name: &str,
) -> Result<Option<Vec<u8>>, BaselineError> {
    match files.get(name) {
        Some(bytes) => Ok(bytes.clone()),
        None => Err(BaselineError::Invalid {
            path,
            detail: "pixelproof checked it before reading it from the bucket (a bug: please report it)".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_urls_are_told_from_directories() {
        assert!(is_bucket_url("s3://b/p") && is_bucket_url("S3://b"));
        assert!(!is_bucket_url("baselines") && !is_bucket_url("./s3:/x") && !is_bucket_url("s3"));
    }
}
