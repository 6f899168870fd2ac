//! What every `ObjectStore` (local, S3) must do, checked the same way for each: `put_if_absent`
//! raced by many tasks on one key (exactly one creates the object, every other sees the winner's
//! bytes, and the store keeps them), and a `JobStore` round trip on top of it.

use std::sync::Arc;

use pixelproof::jobs::{JobId, JobRecord, JobState};
use pixelproof::jobs::{JobStore, Stored};
use pixelproof::store::{ObjectKey, ObjectStore, PutOutcome};

/// `k` as a key; panics if it is not one.
pub fn key(k: &str) -> ObjectKey {
    ObjectKey::parse(k).unwrap()
}

pub async fn put_if_absent_race(store: Arc<dyn ObjectStore>, rounds: usize, tasks: usize) {
    for round in 0..rounds {
        let k = ObjectKey::parse(&format!("race/{round}")).expect("key");
        let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
        let handles: Vec<_> = (0..tasks)
            .map(|i| {
                let (store, k, barrier) = (store.clone(), k.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    (i, store.put_if_absent(&k, format!("task {i}").into_bytes()).await.expect("put_if_absent"))
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut seen = Vec::new();
        for h in handles {
            match h.await.expect("task") {
                (i, PutOutcome::Created) => winners.push(format!("task {i}").into_bytes()),
                (_, PutOutcome::Existing(bytes)) => seen.push(bytes),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {} winners", winners.len());
        assert_eq!(seen.len(), tasks - 1);
        assert!(
            seen.iter().all(|s| *s == winners[0]),
            "round {round}: a loser saw something other than the winner's bytes"
        );
        assert_eq!(store.get(&k).await.expect("get").expect("the object"), winners[0]);
    }
}

/// A job's record, PDF (stored once) and artifacts through `store`, which must be empty.
/// Returns the job's id, for the caller's checks of where the store put things.
pub async fn job_store_round_trip(store: &JobStore) -> JobId {
    let id = JobId::new();
    assert_eq!(store.load(id).await.unwrap(), None);
    let mut record = JobRecord::new(id, serde_json::json!({ "template": "invoice" }), Some("k1".into()));
    record.transition(JobState::Rendering, None).unwrap();
    let (pdf_key, stored) = store.put_pdf(id, b"%PDF first".to_vec()).await.unwrap();
    assert_eq!(stored, Stored::New);
    assert_eq!(store.put_pdf(id, b"%PDF second".to_vec()).await.unwrap(), (pdf_key.clone(), Stored::AlreadyExisted));
    assert_eq!(store.get_pdf(id).await.unwrap().unwrap(), b"%PDF first");
    record.pdf = Some(pdf_key);
    store.save(&record).await.unwrap();
    assert_eq!(store.load(id).await.unwrap().unwrap(), record);
    store.put_artifact(id, "diff/page-001.png", b"png".to_vec()).await.unwrap();
    store.put_artifact(id, "verdict.json", b"{}".to_vec()).await.unwrap();
    assert!(store.put_artifact(id, "../../escape", Vec::new()).await.is_err());
    assert_eq!(store.artifacts(id).await.unwrap(), ["diff/page-001.png", "verdict.json"]);
    assert_eq!(store.get_artifact(id, "verdict.json").await.unwrap().unwrap(), b"{}");
    assert_eq!(store.job_ids().await.unwrap(), vec![id]);
    id
}
