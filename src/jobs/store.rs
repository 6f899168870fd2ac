//! [`JobStore`]: where a job's things live in any [`ObjectStore`]:
//!
//! * `jobs/{id}/job.json` — the [`JobRecord`] (overwritten on every change);
//! * `jobs/{id}/document.pdf` — the PDF, written once (a second put is a no-op);
//! * `jobs/{id}/artifacts/{name}` — diff images, verdicts, logs;
//! * `jobs/{id}/webhook.json` — how the job's latest webhook went (a [`WebhookOutcome`] of its
//!   own, so the outbox never rewrites the record an operator may be deciding on);
//! * `jobs/{id}/tombstone.json` — a [`Tombstone`] once the job was removed (everything else of
//!   it is gone): its id answers 410;
//! * `idempotency/by-submitter/{sha256(submitter)}/{sha256(key)}` — `{"job", "fingerprint"}`:
//!   the job that claimed a submitter's idempotency key first, and its body's fingerprint;
//! * `idempotency/{sha256(key)}` — a claim made before keys were scoped per submitter (a
//!   bare job id): only read ([`JobStore::legacy_idempotency_claim`]), never written.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::index::{self, Scope};
use super::{JobId, JobRecord, JobState};
use crate::idempotency::{BodyFingerprint, IdempotencyKey};
use crate::store::{ObjectKey, ObjectStore, PutOutcome, StoreError};

/// What is left of a removed job: enough to answer 410 to its owner, and why it went.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Tombstone {
    #[schema(value_type = String)]
    pub id: JobId,
    /// The job's owner (who may learn it is gone; anyone else gets a 404).
    pub submitter: Option<String>,
    pub removed_at: chrono::DateTime<chrono::Utc>,
    pub why: Removal,
}

/// Why a job was removed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Removal {
    /// `DELETE /v1/jobs/{id}` by this token.
    Request { token: String },
    /// `--retain-days` ran out.
    Retention { days: u32 },
}

/// Whether a PDF was stored now or had been stored before (by an earlier attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    AlreadyExisted,
}

/// What an idempotency key is bound to: a job, and the fingerprint of the body it came with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Claim {
    pub job: JobId,
    pub fingerprint: BodyFingerprint,
}

/// The outcome of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The key is now bound to the job given.
    New,
    /// The key was already bound to another job (and body): answer with it, or refuse a
    /// different body, instead of creating another.
    Existing(Claim),
}

/// Jobs' records, PDFs, artifacts and idempotency claims on top of an [`ObjectStore`].
#[derive(Debug, Clone)]
pub struct JobStore {
    objects: Arc<dyn ObjectStore>,
    /// Ids of jobs this process saw settle or be held, for `wait_settled`.
    settled: tokio::sync::broadcast::Sender<JobId>,
}

/// How often `wait_settled` looks at the record again when no notice comes (the job may
/// settle in another process: a `pixelproof worker`).
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// True for a record no worker will move again by itself.
fn is_final(record: &JobRecord) -> bool {
    record.state.is_settled() || record.state == crate::jobs::JobState::Held
}

/// Whether an index entry in `entry` may yet name the state of a record now in `record`: not once
/// the job settled, nor, once it is held, for a state before held.
fn may_yet_be_right(record: JobState, entry: JobState) -> bool {
    !record.is_settled() && (record != JobState::Held || entry.is_settled())
}

/// How many entries a listing of everything reads at a time.
const LIST_PAGE: usize = 500;

fn key(text: String) -> Result<ObjectKey, StoreError> {
    ObjectKey::parse(&text)
}

impl JobStore {
    pub fn new(objects: Arc<dyn ObjectStore>) -> JobStore {
        JobStore { objects, settled: tokio::sync::broadcast::channel(256).0 }
    }

    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    pub fn record_key(id: JobId) -> ObjectKey {
        ObjectKey::for_job(id, "job.json")
    }

    pub fn pdf_key(id: JobId) -> ObjectKey {
        ObjectKey::for_job(id, "document.pdf")
    }

    /// Writes (or replaces) the job's record.
    pub async fn save(&self, record: &JobRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| StoreError::Corrupt {
            key: Self::record_key(record.id).to_string(),
            what: "JSON",
            detail: e.to_string(),
        })?;
        // Its entries in the new state first: a crash between the two leaves an extra entry,
        // which listings skip, never a record missing from them.
        let entries = index::keys(record.id, record.state, record.submitter.as_deref())?;
        futures::future::try_join_all(entries.iter().map(|key| self.objects.put(key, Vec::new()))).await?;
        self.objects.put(&Self::record_key(record.id), bytes).await?;
        let mut left: Vec<JobState> = record.history.iter().map(|t| t.from).filter(|&s| s != record.state).collect();
        left.sort_unstable();
        left.dedup();
        self.forget_entries(record.id, &left, record.submitter.as_deref()).await;
        if is_final(record) {
            // Nobody waiting is fine: the send fails and no one needed it.
            let _ = self.settled.send(record.id);
        }
        Ok(())
    }

    /// Deletes the record of a job the queue refused, and its index entries (the record first:
    /// an entry left behind is skipped by listings). No tombstone: no one was given its id.
    pub async fn discard(&self, record: &JobRecord) -> Result<(), StoreError> {
        self.objects.delete(&Self::record_key(record.id)).await?;
        self.forget_entries(record.id, &[record.state], record.submitter.as_deref()).await;
        Ok(())
    }

    /// Deletes the job's index entries in `states` (a failure is logged: listings skip a stale
    /// entry and delete it once the job has settled).
    async fn forget_entries(&self, id: JobId, states: &[JobState], submitter: Option<&str>) {
        let mut keys = Vec::new();
        for &state in states {
            match index::keys(id, state, submitter) {
                Ok(k) => keys.extend(k),
                Err(e) => tracing::warn!(job = %id, error = %e, "could not name a job's index entry"),
            }
        }
        for (key, result) in
            keys.iter().zip(futures::future::join_all(keys.iter().map(|k| self.objects.delete(k))).await)
        {
            if let Err(e) = result {
                tracing::warn!(job = %id, key = %key, error = %e, "could not delete a stale index entry; listings skip it");
            }
        }
    }

    /// Jobs of `scope` in one of `states`, newest first, made before `before` (a cursor: the
    /// last id of the previous page), that `keep` accepts: at most `limit`, and the cursor of
    /// the next page when there may be one. Reads the index, then only the records it lists.
    pub async fn list(
        &self,
        scope: Scope<'_>,
        states: &[JobState],
        before: Option<JobId>,
        limit: usize,
        keep: impl Fn(&JobRecord) -> bool,
    ) -> Result<(Vec<JobRecord>, Option<JobId>), StoreError> {
        let mut found = Vec::new();
        let mut after = before;
        // A job that moved between two listed states while they were read is listed twice.
        let mut taken = std::collections::HashSet::new();
        while found.len() < limit {
            let (entries, more) = index::entries(&*self.objects, scope, states, after, limit - found.len()).await?;
            for entry in entries {
                after = Some(entry.id);
                if taken.contains(&entry.id) {
                    continue;
                }
                let record = match self.load(entry.id).await {
                    Ok(record) => record,
                    Err(StoreError::Corrupt { key, detail, .. }) => {
                        tracing::warn!(%key, %detail, "a listing skipped a job whose record cannot be read");
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                // An entry in another state than its record's was put just before the record's
                // save, or left by a crash: deleted once it can never be right again (the job
                // settled, was removed, or is held and the entry is for a state before).
                let stale = match &record {
                    Some(record) => record.state != entry.state && !may_yet_be_right(record.state, entry.state),
                    None => true,
                };
                if stale {
                    if let Err(e) = self.objects.delete(&entry.key).await {
                        tracing::warn!(key = %entry.key, error = %e, "could not delete a stale index entry");
                    }
                }
                // Listed when its record is in a listed state, whichever entry led to it.
                if let Some(record) = record.filter(|r| states.contains(&r.state)) {
                    taken.insert(record.id);
                    if keep(&record) {
                        found.push(record);
                    }
                }
                if found.len() == limit {
                    return Ok((found, after));
                }
            }
            if !more {
                break;
            }
        }
        Ok((found, None))
    }

    /// Every job of `scope` in one of `states`, newest first (read a page at a time).
    pub async fn list_all(&self, scope: Scope<'_>, states: &[JobState]) -> Result<Vec<JobRecord>, StoreError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = self.list(scope, states, cursor, LIST_PAGE, |_| true).await?;
            all.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Indexes every record, once per store: a store made before the index has records
    /// without entries. Start-up calls it; `index/v1` says it was done.
    pub async fn ensure_index(&self) -> Result<(), StoreError> {
        let marker = ObjectKey::parse(index::MARKER)?;
        if self.objects.exists(&marker).await? {
            return Ok(());
        }
        let mut indexed = 0usize;
        for id in self.job_ids().await? {
            let record = match self.load(id).await {
                Ok(Some(record)) => record,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(job = %id, error = %e, "could not index a job whose record cannot be read");
                    continue;
                }
            };
            for key in index::keys(id, record.state, record.submitter.as_deref())? {
                self.objects.put(&key, Vec::new()).await?;
            }
            indexed += 1;
        }
        self.objects.put(&marker, Vec::new()).await?;
        tracing::info!(jobs = indexed, "indexed the jobs stored before the job index");
        Ok(())
    }

    /// The job's record once it has settled or is held, or as it is after `limit`; `None` for
    /// an unknown job. Wakes as soon as this process saves the job's outcome, and looks at the
    /// record every 250 ms meanwhile (for outcomes saved by other processes).
    pub async fn wait_settled(&self, id: JobId, limit: std::time::Duration) -> Result<Option<JobRecord>, StoreError> {
        let mut notices = self.settled.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let record = self.load(id).await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match &record {
                Some(r) if !is_final(r) && !left.is_zero() => {}
                _ => return Ok(record),
            }
            let notice = async {
                loop {
                    match notices.recv().await {
                        Ok(settled) if settled == id => return,
                        Ok(_) => {}
                        // Missed notices: look at the record.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending().await,
                    }
                }
            };
            let _ = tokio::time::timeout(left.min(WAIT_POLL), notice).await;
        }
    }

    /// The job's record, or `None` for an unknown job.
    pub async fn load(&self, id: JobId) -> Result<Option<JobRecord>, StoreError> {
        let key = Self::record_key(id);
        let Some(bytes) = self.objects.get(&key).await? else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            what: "a job record",
            detail: e.to_string(),
        })
    }

    /// Stores the job's PDF once: a second put for the same job keeps the first PDF and says
    /// so (a redelivered job must not replace what was shipped).
    pub async fn put_pdf(&self, id: JobId, pdf: Vec<u8>) -> Result<(ObjectKey, Stored), StoreError> {
        let key = Self::pdf_key(id);
        let stored = match self.objects.put_if_absent(&key, pdf).await? {
            PutOutcome::Created => Stored::New,
            PutOutcome::Existing(_) => Stored::AlreadyExisted,
        };
        Ok((key, stored))
    }

    /// Where a client may fetch the job's PDF directly (a presigned S3 URL), if the store
    /// offers that.
    pub async fn pdf_download_url(&self, id: JobId) -> Result<Option<String>, StoreError> {
        self.objects.download_url(&JobStore::pdf_key(id)).await
    }

    /// The job's PDF as it arrives from the store (for answers that pass it on).
    pub async fn pdf_stream(&self, id: JobId) -> Result<Option<crate::store::ObjectStream>, StoreError> {
        self.objects.stream(&Self::pdf_key(id)).await
    }

    pub async fn get_pdf(&self, id: JobId) -> Result<Option<Vec<u8>>, StoreError> {
        self.objects.get(&Self::pdf_key(id)).await
    }

    /// Writes `jobs/{id}/artifacts/{name}` (`name` may contain `/`; validated as a key).
    pub async fn put_artifact(&self, id: JobId, name: &str, bytes: Vec<u8>) -> Result<ObjectKey, StoreError> {
        let key = key(format!("jobs/{id}/artifacts/{name}"))?;
        self.objects.put(&key, bytes).await?;
        Ok(key)
    }

    pub async fn get_artifact(&self, id: JobId, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.objects.get(&key(format!("jobs/{id}/artifacts/{name}"))?).await
    }

    /// The artifacts' names (relative to `jobs/{id}/artifacts/`), sorted.
    pub async fn artifacts(&self, id: JobId) -> Result<Vec<String>, StoreError> {
        let prefix = format!("jobs/{id}/artifacts/");
        let keys = self.objects.list(&prefix).await?;
        Ok(keys.iter().filter_map(|k| k.as_str().strip_prefix(&prefix).map(str::to_string)).collect())
    }

    /// Writes how the job's latest webhook went, unless the job was removed meanwhile.
    pub async fn save_webhook_outcome(&self, id: JobId, outcome: &super::WebhookOutcome) -> Result<(), StoreError> {
        if self.tombstone(id).await?.is_some() {
            return Ok(());
        }
        let key = ObjectKey::for_job(id, "webhook.json");
        let bytes = serde_json::to_vec_pretty(outcome).map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            what: "JSON",
            detail: e.to_string(),
        })?;
        self.objects.put(&key, bytes).await
    }

    /// How the job's latest webhook went, if one was sent or given up.
    pub async fn webhook_outcome(&self, id: JobId) -> Result<Option<super::WebhookOutcome>, StoreError> {
        let key = ObjectKey::for_job(id, "webhook.json");
        let Some(bytes) = self.objects.get(&key).await? else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            what: "a webhook outcome",
            detail: e.to_string(),
        })
    }

    pub fn tombstone_key(id: JobId) -> ObjectKey {
        ObjectKey::for_job(id, "tombstone.json")
    }

    /// Removes everything the job left (record first, so it leaves listings at once; then its
    /// PDF, artifacts and the rest) and keeps `tombstone`. Returns how many objects went.
    pub async fn remove(&self, tombstone: &Tombstone) -> Result<usize, StoreError> {
        let id = tombstone.id;
        let bytes = serde_json::to_vec_pretty(tombstone).map_err(|e| StoreError::Corrupt {
            key: Self::tombstone_key(id).to_string(),
            what: "JSON",
            detail: e.to_string(),
        })?;
        self.objects.put(&Self::tombstone_key(id), bytes).await?;
        let mut removed = usize::from(self.objects.delete(&Self::record_key(id)).await?);
        self.forget_entries(id, &JobState::ALL, tombstone.submitter.as_deref()).await;
        for key in self.objects.list(&format!("jobs/{id}/")).await? {
            if key != Self::tombstone_key(id) {
                removed += usize::from(self.objects.delete(&key).await?);
            }
        }
        Ok(removed)
    }

    /// The job's tombstone, if it was removed.
    pub async fn tombstone(&self, id: JobId) -> Result<Option<Tombstone>, StoreError> {
        let key = Self::tombstone_key(id);
        let Some(bytes) = self.objects.get(&key).await? else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            what: "a tombstone",
            detail: e.to_string(),
        })
    }

    /// Every job id that has a record, oldest first.
    pub async fn job_ids(&self) -> Result<Vec<JobId>, StoreError> {
        let keys = self.objects.list("jobs/").await?;
        Ok(keys
            .iter()
            .filter_map(|k| k.as_str().strip_prefix("jobs/")?.strip_suffix("/job.json"))
            .filter_map(|id| JobId::parse(id).ok())
            .collect())
    }

    /// Binds the submitter's `idempotency_key` to `claim` unless a claim was made first
    /// (atomic, also between processes). Submitter and key are stored hashed.
    pub async fn claim_idempotency_key(
        &self,
        submitter: &str,
        idempotency_key: &IdempotencyKey,
        claim: &Claim,
    ) -> Result<Claimed, StoreError> {
        let key = key(format!(
            "idempotency/by-submitter/{}/{}",
            hex::encode(Sha256::digest(submitter.as_bytes())),
            hex::encode(Sha256::digest(idempotency_key.as_str().as_bytes()))
        ))?;
        let bytes = serde_json::to_vec(claim).map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            what: "JSON",
            detail: e.to_string(),
        })?;
        match self.objects.put_if_absent(&key, bytes).await? {
            PutOutcome::Created => Ok(Claimed::New),
            PutOutcome::Existing(bytes) => {
                let existing: Claim = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                    key: key.to_string(),
                    what: "an idempotency claim",
                    detail: e.to_string(),
                })?;
                Ok(if existing == *claim { Claimed::New } else { Claimed::Existing(existing) })
            }
        }
    }

    /// The job a key claimed before keys were scoped per submitter (`idempotency/{sha256(key)}`,
    /// a bare job id), if any. Read only: new claims are per submitter.
    pub async fn legacy_idempotency_claim(
        &self,
        idempotency_key: &IdempotencyKey,
    ) -> Result<Option<JobId>, StoreError> {
        let key = key(format!("idempotency/{}", hex::encode(Sha256::digest(idempotency_key.as_str().as_bytes()))))?;
        let Some(bytes) = self.objects.get(&key).await? else { return Ok(None) };
        let corrupt = |detail: String| StoreError::Corrupt { key: key.to_string(), what: "a job id", detail };
        let text = String::from_utf8(bytes).map_err(|e| corrupt(e.to_string()))?;
        JobId::parse(text.trim()).map(Some).map_err(|e| corrupt(e.to_string()))
    }
}
