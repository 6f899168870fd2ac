//! `routing::Routes`, the rules a process routes by: a change made by another process (another
//! `RoutingTable` on the same file or bucket) is picked up within `ROUTING_TTL`, jobs never read
//! the table themselves (reads are counted through a real local object store), this process's
//! own edits apply at once, and a table that cannot be read keeps the rules read before.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pixelproof::routing::{fingerprint, Match, NewRule, Renderer, Routes, RoutingTable, ROUTING_OBJECT, ROUTING_TTL};
use pixelproof::store::LocalStore;

use crate::support::counting::CountingStore;

fn rule(template: &str, renderer: Renderer) -> NewRule {
    NewRule {
        matches: Match::Template(template.into()),
        renderer,
        note: "Chromium clips the totals".into(),
        created_by: "ops".into(),
    }
}

/// Routes `template` every 20 ms until it goes to `renderer`, at most `within`: how long that
/// took and how many jobs were routed.
async fn until_routed(routes: &Arc<Routes>, template: &str, renderer: Renderer, within: Duration) -> (Duration, usize) {
    let started = Instant::now();
    let fp = fingerprint("<p>a job</p>", "{}");
    let mut routed = 1;
    while routes.route(Some(template), &fp).renderer != renderer {
        assert!(started.elapsed() < within, "{template} still not routed to {renderer} after {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        routed += 1;
    }
    (started.elapsed(), routed)
}

#[tokio::test]
async fn another_process_s_rule_is_picked_up_after_the_ttl_without_a_read_per_job() {
    let dir = tempfile::tempdir().unwrap();
    let objects = CountingStore::open(dir.path(), ROUTING_OBJECT);
    let table = RoutingTable::load_object(objects.clone(), "local://routing.json").await.unwrap();
    let routes = Routes::new(table, Some(ROUTING_TTL));
    let reads = || objects.gets();
    assert_eq!(reads(), 1, "the table is read once at start");

    // Many jobs, and no read of the table for any of them.
    let fp = fingerprint("<p>a job</p>", "{}");
    for _ in 0..10_000 {
        assert_eq!(routes.route(Some("invoice"), &fp).renderer, Renderer::Chromium);
    }
    assert!(reads() <= 2, "routing read the table {} times for 10 000 jobs", reads() - 1);

    // Another process (its own store on the same directory) adds a rule: picked up within the
    // TTL (and one read), by a few background reads rather than one per routed job.
    let mut other = RoutingTable::load_object(Arc::new(LocalStore::open(dir.path()).unwrap()), "local://routing.json")
        .await
        .unwrap();
    let before = reads();
    let added = other.add(rule("invoice", Renderer::Fallback)).await.unwrap();
    let (took, routed) =
        until_routed(&routes, "invoice", Renderer::Fallback, ROUTING_TTL + Duration::from_secs(2)).await;
    let refreshes = reads() - before;
    // One read per TTL at most (and one that may have come just before the rule was written).
    let most = 2 + (took.as_secs_f64() / ROUTING_TTL.as_secs_f64()) as usize;
    assert!(
        (1..=most).contains(&refreshes),
        "{refreshes} reads for {routed} jobs routed in {took:?} (TTL {ROUTING_TTL:?})"
    );
    assert_eq!(routes.rules().as_slice(), std::slice::from_ref(&added));

    // This process's own edits apply at once, without a read.
    let before = reads();
    let ours = routes.add(rule("letter", Renderer::Fallback)).await.unwrap();
    assert_eq!(routes.route(Some("letter"), &fp).rule.as_deref(), Some(ours.id.as_str()));
    routes.remove(&added.id).await.unwrap();
    assert_eq!(routes.route(Some("invoice"), &fp).renderer, Renderer::Chromium);
    assert!(reads() - before <= 1, "an edit is not a read (a background read may have happened)");
    // ... and the other process sees them on its next read.
    other.reload().await.unwrap();
    assert_eq!(other.rules(), std::slice::from_ref(&ours));
}

#[tokio::test]
async fn a_shared_file_is_reread_and_a_damaged_one_keeps_the_rules_read_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routing.json");
    let routes = Routes::new(RoutingTable::load(&path).unwrap(), Some(ROUTING_TTL));
    let mut other = RoutingTable::load(&path).unwrap();
    let added = other.add(rule("invoice", Renderer::Fallback)).await.unwrap();
    until_routed(&routes, "invoice", Renderer::Fallback, ROUTING_TTL + Duration::from_secs(2)).await;

    // Damaged by hand: the refresh says what and where, and jobs keep the rules read before.
    std::fs::write(&path, "{ not json").unwrap();
    let err = routes.refresh().await.unwrap_err().to_string();
    assert!(err.contains("routing.json") && err.contains("not valid JSON"), "{err}");
    tokio::time::sleep(ROUTING_TTL * 2).await;
    assert_eq!(routes.rules().as_slice(), std::slice::from_ref(&added), "the rules read before stay");

    // Restored (the rule removed meanwhile): picked up again.
    std::fs::write(&path, r#"{"rules": []}"#).unwrap();
    until_routed(&routes, "invoice", Renderer::Chromium, ROUTING_TTL + Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_table_no_one_else_changes_is_never_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let objects = CountingStore::open(dir.path(), ROUTING_OBJECT);
    let table = RoutingTable::load_object(objects.clone(), "local://routing.json").await.unwrap();
    let routes = Routes::new(table, None);
    let fp = fingerprint("<p>a job</p>", "{}");
    routes.add(rule("invoice", Renderer::Fallback)).await.unwrap();
    tokio::time::sleep(ROUTING_TTL + Duration::from_millis(500)).await;
    assert_eq!(routes.route(Some("invoice"), &fp).renderer, Renderer::Fallback);
    assert_eq!(objects.gets(), 1, "only the start-up read");
}
