//! `put_if_absent` raced by many tasks on one key, for every `ObjectStore` (local, S3): exactly
//! one task creates the object, every other sees the winner's bytes, and the store keeps them.

use std::sync::Arc;

use pixelproof::store::{ObjectKey, ObjectStore, PutOutcome};

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
