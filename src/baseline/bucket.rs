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
//! The store's methods are synchronous, like the directory's: each one runs its requests on
//! [`crate::store::blocking`]'s runtime and waits. Call them where blocking is allowed (a plain thread, or
//! `spawn_blocking` in async code).

use std::path::PathBuf;
use std::sync::Arc;

use ulid::Ulid;

use super::{
    approval_entry, approved_files, candidate_files, check_decision, load_pages, no_candidate, read_candidate_verdict,
    read_manifest, rejection_entry, Area, Baseline, BaselineError, Candidate, CandidateSummary, Decision, Files, Key,
    Manifest, NewCandidate, Staged, MANIFEST_FILE,
};
use crate::audit::Record;
use crate::routing::Renderer;
use crate::store::blocking::{self, connect_s3, wait};
use crate::store::{ObjectKey, ObjectStore, S3Config, StoreError};

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
    pub fn open(url: &str) -> Result<BucketStore, BaselineError> {
        let url = url.trim_end_matches('/');
        let config = S3Config::from_url(&format!("s3://{}", url.get(5..).unwrap_or_default()))
            .map_err(|source| BaselineError::Store { location: url.to_string(), source })?;
        BucketStore::connect(config)
    }

    /// Connects to the bucket `config` names and checks it is reachable. The client lives on
    /// the store's own runtime, like every request it makes.
    pub fn connect(config: S3Config) -> Result<BucketStore, BaselineError> {
        let location = config.url();
        let objects =
            connect_s3(config).map_err(|source| BaselineError::Store { location: location.clone(), source })?;
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

    pub fn read_manifest(&self, key: &Key) -> Result<Option<Manifest>, BaselineError> {
        match self.current(BASELINES, key)? {
            Some(files) => read_manifest(&files, key, self.engine).map(Some),
            None => Ok(None),
        }
    }

    pub fn load_baseline(&self, key: &Key) -> Result<Option<Baseline>, BaselineError> {
        let Some(files) = self.current(BASELINES, key)? else { return Ok(None) };
        let manifest = read_manifest(&files, key, self.engine)?;
        let pages = load_pages(&files, &manifest)?;
        Ok(Some(Baseline { key: key.clone(), manifest, pages }))
    }

    pub fn load_candidate(&self, key: &Key) -> Result<Candidate, BaselineError> {
        let files = self.existing_candidate(key)?;
        let manifest = read_manifest(&files, key, self.engine)?;
        let pages = load_pages(&files, &manifest)?;
        let verdict = read_candidate_verdict(&files)?;
        Ok(Candidate { key: key.clone(), manifest, pages, verdict })
    }

    /// Writes a new candidate generation and points the candidate at it; returns its URL.
    pub fn write_candidate(&self, new: &NewCandidate<'_>) -> Result<PathBuf, BaselineError> {
        let staged = candidate_files(new)?;
        let files = self.write_generation(CANDIDATES, &new.key, &staged)?;
        self.point(CANDIDATES, &new.key, &files.generation)?;
        self.sweep(CANDIDATES, &new.key, Some(&files.generation));
        tracing::info!(key = %new.key, at = %files.url(""), "candidate written");
        Ok(PathBuf::from(files.url("")))
    }

    pub fn candidates(&self) -> Result<Vec<CandidateSummary>, BaselineError> {
        let mut out = Vec::new();
        for key in self.candidate_keys()? {
            let mut problems = Vec::new();
            let (manifest, verdict) = match self.current(CANDIDATES, &key) {
                Ok(Some(files)) => (
                    read_manifest(&files, &key, self.engine).map_err(|e| problems.push(e.to_string())).ok(),
                    read_candidate_verdict(&files).map_err(|e| problems.push(e.to_string())).ok().flatten(),
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
    pub fn candidate_keys(&self) -> Result<Vec<Key>, BaselineError> {
        self.pointed_keys(CANDIDATES)
    }

    /// The keys of `AREA` that have a `current` pointer, sorted.
    fn pointed_keys(&self, area: &'static str) -> Result<Vec<Key>, BaselineError> {
        let area = self.area(area);
        let listed = blocking::list(&self.objects, format!("{area}/")).map_err(|e| self.store_error(e))?;
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
    pub fn baseline_keys(&self) -> Result<Vec<Key>, BaselineError> {
        self.pointed_keys(BASELINES)
    }

    /// Puts `staged` in place as the baseline for `key`: a new generation, verified, then pointed at.
    pub(super) fn install(&self, key: &Key, staged: &Staged) -> Result<(), BaselineError> {
        let files = self.write_generation(BASELINES, key, staged)?;
        // Verify the copy as it is stored before anything points at it.
        load_pages(&files, &staged.manifest)?;
        self.point(BASELINES, key, &files.generation)?;
        self.sweep(BASELINES, key, Some(&files.generation));
        Ok(())
    }

    /// Copies the verified candidate into a new baseline generation, checks the copy, points the
    /// baseline at it, records the decision, then removes the candidate and the old generation.
    pub fn approve(&self, key: &Key, decision: &Decision) -> Result<Record, BaselineError> {
        check_decision(decision, "approve")?;
        let candidate = self.existing_candidate(key)?;
        let (staged, at) = approved_files(&candidate, key, self.engine, decision)?;
        self.install(key, &staged)?;
        let entry = approval_entry(key, decision, &staged.manifest, at);
        self.append_audit(&entry)?;
        self.remove_candidate(key)?;
        tracing::info!(%key, by = %decision.by, "candidate approved");
        Ok(entry)
    }

    /// Records the decision first, then removes the candidate (a damaged one too).
    pub fn reject(&self, key: &Key, decision: &Decision) -> Result<Record, BaselineError> {
        check_decision(decision, "reject")?;
        let candidate = self.existing_candidate(key)?;
        let manifest = read_manifest(&candidate, key, self.engine).ok();
        let entry = rejection_entry(key, self.engine, decision, manifest.as_ref());
        self.append_audit(&entry)?;
        self.remove_candidate(key)?;
        tracing::info!(%key, by = %decision.by, "candidate rejected");
        Ok(entry)
    }

    /// Every decision, oldest first.
    pub fn audit_log(&self) -> Result<Vec<Record>, BaselineError> {
        let entries = blocking::get_all(&self.objects, format!("{AUDIT}/")).map_err(|e| self.store_error(e))?;
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

    pub fn require_candidate(&self, key: &Key) -> Result<(), BaselineError> {
        self.existing_candidate(key).map(drop)
    }

    pub(super) fn read_file(&self, area: Area, key: &Key, name: &str) -> Result<Option<Vec<u8>>, BaselineError> {
        let area = match area {
            Area::Baseline => BASELINES,
            Area::Candidate => CANDIDATES,
        };
        match self.current(area, key)? {
            Some(files) => files.read(name),
            None => Ok(None),
        }
    }

    fn existing_candidate(&self, key: &Key) -> Result<Generation, BaselineError> {
        match self.current(CANDIDATES, key)? {
            Some(files) => Ok(files),
            None => Err(no_candidate(key, &self.candidate_keys()?)),
        }
    }

    /// The generation `AREA/T/F/current` points at, `None` when there is none.
    fn current(&self, area: &'static str, key: &Key) -> Result<Option<Generation>, BaselineError> {
        let pointer = self.object_key(&format!("{}/{CURRENT}", self.dir_of(area, key)))?;
        let Some(bytes) = blocking::get(&self.objects, pointer).map_err(|e| self.store_error(e))? else {
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
        Generation { store: self.clone(), base: format!("{}/{generation}", self.dir_of(area, key)), generation }
    }

    /// Puts every staged file, then the manifest, under a new generation of `AREA/T/F`.
    fn write_generation(&self, area: &'static str, key: &Key, staged: &Staged) -> Result<Generation, BaselineError> {
        let files = self.generation(area, key, Ulid::new().to_string());
        let mut puts = Vec::with_capacity(staged.files.len() + 1);
        for (name, bytes) in &staged.files {
            puts.push((self.object_key(&format!("{}/{name}", files.base))?, bytes.clone()));
        }
        puts.push((self.object_key(&format!("{}/{MANIFEST_FILE}", files.base))?, staged.manifest_bytes()?));
        let objects = self.objects.clone();
        wait(async move {
            for (key, bytes) in puts {
                objects.put(&key, bytes).await?;
            }
            Ok(())
        })
        .map_err(|e| self.store_error(e))?;
        Ok(files)
    }

    /// Points `AREA/T/F/current` at `generation`: one PUT, seen whole or not at all.
    fn point(&self, area: &'static str, key: &Key, generation: &str) -> Result<(), BaselineError> {
        let pointer = self.object_key(&format!("{}/{CURRENT}", self.dir_of(area, key)))?;
        blocking::put(&self.objects, pointer, generation.as_bytes().to_vec()).map_err(|e| self.store_error(e))
    }

    /// Removes the generations of `AREA/T/F` older than `keep` (all of them when `None`). A
    /// failure only leaves unused objects behind, so it is logged, not returned.
    fn sweep(&self, area: &'static str, key: &Key, keep: Option<&str>) {
        let prefix = format!("{}/", self.dir_of(area, key));
        let keep = keep.map(str::to_string);
        let objects = self.objects.clone();
        let swept = wait(async move {
            let mut removed = 0usize;
            for object in objects.list(&prefix).await? {
                let Some(generation) = object.as_str()[prefix.len()..].split('/').next() else { continue };
                let Ok(generation) = Ulid::from_string(generation) else { continue };
                let older = keep.as_deref().and_then(|k| Ulid::from_string(k).ok()).is_none_or(|k| generation < k);
                if older && objects.delete(&object).await? {
                    removed += 1;
                }
            }
            Ok::<_, StoreError>(removed)
        });
        match swept {
            Ok(0) => {}
            Ok(n) => tracing::debug!(%key, area, objects = n, "removed older generations"),
            Err(e) => tracing::warn!(%key, area, error = %e, "could not remove older generations; they are unused"),
        }
    }

    /// Unpoints the candidate (it stops waiting at once), then removes its files.
    fn remove_candidate(&self, key: &Key) -> Result<(), BaselineError> {
        let pointer = self.object_key(&format!("{}/{CURRENT}", self.dir_of(CANDIDATES, key)))?;
        blocking::delete(&self.objects, pointer).map_err(|e| self.store_error(e))?;
        self.sweep(CANDIDATES, key, None);
        Ok(())
    }

    fn append_audit(&self, entry: &Record) -> Result<(), BaselineError> {
        let key = self.object_key(&format!("{AUDIT}/{}.json", Ulid::new()))?;
        let bytes = serde_json::to_vec(entry)
            .map_err(|e| BaselineError::Io { path: PathBuf::from(key.as_str()), source: e.into() })?;
        blocking::put(&self.objects, key, bytes).map_err(|e| self.store_error(e))
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

/// One generation of a baseline or candidate: where its files are read from.
struct Generation {
    store: BucketStore,
    /// `AREA/T/F/GEN`
    base: String,
    generation: String,
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
}

impl Files for Generation {
    fn locate(&self, name: &str) -> PathBuf {
        PathBuf::from(self.url(name))
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, BaselineError> {
        let key = self.store.object_key(&format!("{}/{name}", self.base))?;
        blocking::get(&self.store.objects, key).map_err(|e| self.store.store_error(e))
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
