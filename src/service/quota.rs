//! The per-submitter quota (`--max-queue-per-submitter`): how many jobs one submitter may
//! have waiting or running at once, so one tenant's burst cannot fill the whole queue.
//!
//! Each submitter's unsettled job ids are kept in memory, built from the records at
//! start-up ([`Quota::load`]) and added to as jobs are accepted. Settling happens in the
//! workers, which may be other processes (`pixelproof worker`), so nothing removes an id
//! when its job settles: a submitter at the cap has its ids checked against their records,
//! and those settled or held are dropped ([`Quota::reserve`]). Jobs apps publish to RabbitMQ
//! themselves do not pass through here and are not counted.

use std::collections::{BTreeSet, HashMap};

use crate::jobs::JobStore;
use crate::jobs::{JobId, JobRecord, JobState};
use crate::store::StoreError;

/// Why a job was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    #[error(
        "submitter {submitter:?} already has {limit} jobs waiting or running (--max-queue-per-submitter): retry \
         after some have finished"
    )]
    Full { submitter: String, limit: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Unsettled job ids per submitter, and the cap (`None`: no cap, nothing kept).
#[derive(Debug, Default)]
pub struct Quota {
    limit: Option<usize>,
    unsettled: tokio::sync::Mutex<HashMap<String, BTreeSet<JobId>>>,
}

/// Whether a record no longer counts against its submitter.
fn finished(state: JobState) -> bool {
    state.is_settled() || state == JobState::Held
}

impl Quota {
    pub fn new(limit: Option<usize>) -> Quota {
        Quota { limit, unsettled: Default::default() }
    }

    /// Counts the unsettled jobs per submitter among `in_progress` (the jobs in progress that
    /// start-up recovery read from the job index). Nothing is counted without a cap.
    pub async fn load(&self, in_progress: &[JobRecord]) {
        if self.limit.is_none() {
            return;
        }
        let mut found: HashMap<String, BTreeSet<JobId>> = HashMap::new();
        for record in in_progress.iter().filter(|r| !finished(r.state)) {
            if let Some(submitter) = &record.submitter {
                found.entry(submitter.clone()).or_default().insert(record.id);
            }
        }
        let mut unsettled = self.unsettled.lock().await;
        for (submitter, ids) in found {
            unsettled.entry(submitter).or_default().extend(ids);
        }
    }

    /// Counts `id` against `submitter`, or refuses it when the submitter is at the cap
    /// (after dropping the ids whose records have settled).
    pub async fn reserve(&self, jobs: &JobStore, submitter: &str, id: JobId) -> Result<(), QuotaError> {
        let Some(limit) = self.limit else { return Ok(()) };
        let mut unsettled = self.unsettled.lock().await;
        let ids = unsettled.entry(submitter.to_string()).or_default();
        if ids.len() >= limit {
            let mut done = Vec::new();
            for &other in ids.iter() {
                match jobs.load(other).await? {
                    Some(record) if !finished(record.state) => {}
                    _ => done.push(other),
                }
            }
            for other in done {
                ids.remove(&other);
            }
        }
        if ids.len() >= limit && !ids.contains(&id) {
            return Err(QuotaError::Full { submitter: submitter.to_string(), limit });
        }
        ids.insert(id);
        Ok(())
    }

    /// Gives back a reservation whose job was not accepted after all.
    pub async fn release(&self, submitter: &str, id: JobId) {
        if self.limit.is_none() {
            return;
        }
        if let Some(ids) = self.unsettled.lock().await.get_mut(submitter) {
            ids.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn job(submitter: &str) -> JobRecord {
        let mut record = JobRecord::new(JobId::new(), serde_json::json!({}), None);
        record.submitter = Some(submitter.to_string());
        record
    }

    #[tokio::test]
    async fn the_jobs_in_progress_at_start_count_until_they_settle() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = JobStore::new(Arc::new(crate::store::LocalStore::open(dir.path()).unwrap()));
        let mut in_progress = vec![job("alice"), job("alice"), job("bob")];
        let mut settled = job("bob");
        settled.fail("a settled job counts for nobody").unwrap();
        in_progress.push(settled);
        for record in &in_progress {
            jobs.save(record).await.unwrap();
        }
        let quota = Quota::new(Some(2));
        quota.load(&in_progress).await;
        let full = quota.reserve(&jobs, "alice", JobId::new()).await;
        assert!(matches!(full, Err(QuotaError::Full { ref submitter, limit: 2 }) if submitter == "alice"), "{full:?}");
        quota.reserve(&jobs, "bob", JobId::new()).await.unwrap();
        // One of alice's jobs settles: her next job is taken.
        in_progress[0].fail("done with").unwrap();
        jobs.save(&in_progress[0]).await.unwrap();
        quota.reserve(&jobs, "alice", JobId::new()).await.unwrap();
    }
}
