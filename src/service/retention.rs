//! Removing jobs: one at its submitter's request (`DELETE /v1/jobs/{id}`) or every settled job
//! older than `--retain-days` ([`Service::run_retention`], at start and every hour). A removed
//! job loses its record, PDF, artifacts, waiting webhooks and the render-cache entry it made;
//! a tombstone stays, so its id answers 410. Held jobs are kept until an operator decides,
//! and a job still queued or rendering is never touched.

use std::time::Duration;

use chrono::Utc;

use super::Service;
use crate::jobs::{JobRecord, JobState, Removal, Scope, Tombstone};
use crate::store::StoreError;

/// How often the retention sweep runs (besides once at start).
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// How many old jobs one step of a sweep loads.
const SWEEP_PAGE: usize = 200;

/// Why a job cannot be removed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("job {id} is held for review: an operator releases or rejects it first, then it can be removed")]
    Held { id: crate::jobs::JobId },
    #[error("job {id} is {state}: it can be removed once it is done, fallback or failed")]
    NotSettled { id: crate::jobs::JobId, state: JobState },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    pub jobs: usize,
    pub cache_entries: usize,
}

impl Service {
    /// Removes a settled job (see the module doc); its tombstone.
    pub async fn remove_job(&self, record: &JobRecord, why: Removal) -> Result<Tombstone, RemoveError> {
        match record.state {
            JobState::Held => return Err(RemoveError::Held { id: record.id }),
            s if !s.is_settled() => return Err(RemoveError::NotSettled { id: record.id, state: s }),
            _ => {}
        }
        let tombstone = Tombstone { id: record.id, submitter: record.submitter.clone(), removed_at: Utc::now(), why };
        // The cache entry first: the pointer to it goes with the job's objects.
        let cached = self.cache.forget(record.id).await?;
        let waiting = self.forget_webhooks(record.id).await?;
        let objects = self.jobs.remove(&tombstone).await?;
        tracing::info!(job = %record.id, objects, cached, waiting, why = ?tombstone.why, "job removed");
        Ok(tombstone)
    }

    /// One sweep: every settled job last changed more than `days` ago, and cache entries as old.
    pub async fn sweep(&self, days: u32) -> Result<Swept, StoreError> {
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(days));
        let mut swept = Swept::default();
        // A job that settled before the cutoff was made before it: the index lists those only
        // (records that cannot be read are skipped by the listing, and stay).
        let mut cursor = Some(crate::jobs::index::first_id_at(cutoff));
        while let Some(before) = cursor {
            let (page, next) = self
                .jobs
                .list(Scope::All, &JobState::SETTLED, Some(before), SWEEP_PAGE, |r| r.updated_at < cutoff)
                .await?;
            for record in page {
                // One job that cannot be removed does not stop the sweep.
                match self.remove_job(&record, Removal::Retention { days }).await {
                    Ok(_) => swept.jobs += 1,
                    Err(e) => {
                        tracing::warn!(job = %record.id, error = %e, "retention could not remove a job; next sweep tries again")
                    }
                }
            }
            cursor = next;
        }
        swept.cache_entries = self.cache.expire(cutoff).await?;
        Ok(swept)
    }

    /// Sweeps at start and every hour until `stop`, when `--retain-days` is set.
    pub async fn run_retention(&self, days: u32, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            match self.sweep(days).await {
                Ok(swept) => tracing::info!(
                    days,
                    jobs = swept.jobs,
                    cache_entries = swept.cache_entries,
                    "retention sweep finished"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "the retention sweep stopped early; it runs again within the hour")
                }
            }
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
            }
            if *stop.borrow() {
                break;
            }
        }
    }
}
