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
use crate::jobs::{JobId, JobState};
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

    /// Reads the jobs in progress (from the job index) and counts the unsettled ones per submitter.
    /// Nothing is read without a cap.
    pub async fn load(&self, jobs: &JobStore) -> Result<(), StoreError> {
        if self.limit.is_none() {
            return Ok(());
        }
        let mut found: HashMap<String, BTreeSet<JobId>> = HashMap::new();
        for record in jobs.list_all(crate::jobs::Scope::All, &JobState::IN_PROGRESS).await? {
            if let Some(submitter) = record.submitter {
                found.entry(submitter).or_default().insert(record.id);
            }
        }
        let mut unsettled = self.unsettled.lock().await;
        for (submitter, ids) in found {
            unsettled.entry(submitter).or_default().extend(ids);
        }
        Ok(())
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
