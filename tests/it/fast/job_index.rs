//! The job index (`jobs::index`) through `JobStore` on a real local store that counts its GETs:
//! listings read the index and then only the records they list, page newest first from a
//! cursor, skip and delete stale entries, and a store made before the index is indexed once.

use std::sync::Arc;

use pixelproof::jobs::{index, JobId, JobRecord, JobState, JobStore, Removal, Scope, Tombstone};
use pixelproof::store::ObjectStore;

use crate::support::counting::CountingStore;

fn store(dir: &std::path::Path) -> (JobStore, Arc<CountingStore>) {
    let counting = CountingStore::open(dir, "");
    (JobStore::new(counting.clone()), counting)
}

fn job(submitter: &str) -> JobRecord {
    let mut record = JobRecord::new(JobId::new(), serde_json::json!({}), None);
    record.submitter = Some(submitter.to_string());
    record
}

async fn moved(jobs: &JobStore, record: &mut JobRecord, to: &[JobState]) {
    for &state in to {
        record.transition(state, None).unwrap();
        jobs.save(record).await.unwrap();
    }
}

fn ids(records: &[JobRecord]) -> Vec<JobId> {
    records.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn listings_read_the_index_and_only_the_records_they_list() {
    let dir = tempfile::tempdir().unwrap();
    let (jobs, counting) = store(dir.path());
    let mut held = Vec::new();
    for n in 0..60 {
        let mut record = job(if n % 2 == 0 { "alice" } else { "bob" });
        jobs.save(&record).await.unwrap();
        let path: &[JobState] = if n % 20 == 7 {
            &[JobState::Rendering, JobState::Verifying, JobState::Held]
        } else {
            &[JobState::Rendering, JobState::Verifying, JobState::Done]
        };
        moved(&jobs, &mut record, path).await;
        if record.state == JobState::Held {
            held.push(record.id);
        }
    }
    held.reverse();
    counting.reset();
    let (found, next) = jobs.list(Scope::All, &[JobState::Held], None, 10, |_| true).await.unwrap();
    assert_eq!(ids(&found), held);
    assert_eq!(next, None);
    assert_eq!(counting.gets(), held.len(), "read records it did not list");
    // Every done job left its earlier states' entries.
    let (rendering, _) = jobs.list(Scope::All, &JobState::IN_PROGRESS, None, 100, |_| true).await.unwrap();
    assert!(rendering.is_empty());
    assert_eq!(dir.path().join("index/state/rendering").read_dir().map(|d| d.count()).unwrap_or(0), 0);
    // Pages of a submitter's jobs, newest first, resume at the cursor and end with none.
    let (mut pages, mut cursor) = (Vec::new(), None);
    loop {
        let (page, next) = jobs.list(Scope::Owner("alice"), &JobState::ALL, cursor, 7, |_| true).await.unwrap();
        assert!(page.len() <= 7);
        pages.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages.len(), 30);
    assert!(pages.iter().all(|r| r.submitter.as_deref() == Some("alice")));
    assert!(ids(&pages).windows(2).all(|w| w[0] > w[1]), "not newest first, or repeated");
}

#[tokio::test]
async fn stale_entries_are_skipped_and_removed_jobs_leave_every_listing() {
    let dir = tempfile::tempdir().unwrap();
    let (jobs, counting) = store(dir.path());
    let mut record = job("alice");
    jobs.save(&record).await.unwrap();
    moved(&jobs, &mut record, &[JobState::Rendering, JobState::Verifying, JobState::Done]).await;
    // A crash between a new entry and the record's save: an entry says held.
    for key in index::keys(record.id, JobState::Held, Some("alice")).unwrap() {
        counting.put(&key, Vec::new()).await.unwrap();
    }
    let (held, _) = jobs.list(Scope::All, &[JobState::Held], None, 10, |_| true).await.unwrap();
    assert!(held.is_empty(), "listed a done job as held");
    let stale = index::keys(record.id, JobState::Held, None).unwrap().remove(0);
    assert!(!counting.exists(&stale).await.unwrap());
    // Listed once however many entries lead to it, when its state is listed.
    counting.put(&stale, Vec::new()).await.unwrap();
    let (all, _) = jobs.list(Scope::All, &JobState::ALL, None, 10, |_| true).await.unwrap();
    assert_eq!(ids(&all), vec![record.id]);
    assert!(!counting.exists(&stale).await.unwrap());
    let tombstone = Tombstone {
        id: record.id,
        submitter: record.submitter.clone(),
        removed_at: chrono::Utc::now(),
        why: Removal::Retention { days: 1 },
    };
    jobs.remove(&tombstone).await.unwrap();
    assert!(counting.list("index/").await.unwrap().is_empty(), "the removed job left entries");
}

#[tokio::test]
async fn a_store_made_before_the_index_is_indexed_once() {
    let dir = tempfile::tempdir().unwrap();
    let (jobs, counting) = store(dir.path());
    let mut old = job("alice");
    old.transition(JobState::Rendering, None).unwrap();
    old.transition(JobState::Verifying, None).unwrap();
    old.transition(JobState::Held, None).unwrap();
    // Written the way a release before the index wrote it: the record alone.
    counting.put(&JobStore::record_key(old.id), serde_json::to_vec(&old).unwrap()).await.unwrap();
    assert!(jobs.list_all(Scope::All, &[JobState::Held]).await.unwrap().is_empty());
    jobs.ensure_index().await.unwrap();
    assert_eq!(ids(&jobs.list_all(Scope::All, &[JobState::Held]).await.unwrap()), vec![old.id]);
    assert_eq!(ids(&jobs.list_all(Scope::Owner("alice"), &JobState::ALL).await.unwrap()), vec![old.id]);
    counting.reset();
    jobs.ensure_index().await.unwrap();
    assert_eq!(counting.gets(), 0, "indexed again");
}

#[tokio::test]
async fn a_job_the_queue_refused_leaves_no_record_and_no_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (jobs, counting) = store(dir.path());
    let record = job("alice");
    jobs.save(&record).await.unwrap();
    assert_eq!(counting.list("index/").await.unwrap().len(), 2, "queued, in every job's and alice's listing");
    jobs.discard(&record).await.unwrap();
    assert_eq!(jobs.load(record.id).await.unwrap(), None);
    assert!(counting.list("index/").await.unwrap().is_empty(), "the refused job left entries");
}
