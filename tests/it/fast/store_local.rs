//! The local object store, `JobStore` and the routing table on real files: atomic puts (also
//! under `kill -9`), `put_if_absent` raced by many tasks, key validation, idempotency claims
//! raced by two processes, and the routing table's persistence and precedence.

use crate::support;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use support::store_contract::key;

use pixelproof::idempotency::{BodyFingerprint, IdempotencyKey};
use pixelproof::jobs::{Claim, Claimed, JobStore};
use pixelproof::jobs::{JobId, JobRecord, JobState};
use pixelproof::routing::{fingerprint, Match, NewRule, Renderer, RoutingError, RoutingTable};
use pixelproof::store::{LocalStore, ObjectKey, ObjectStore, StoreError};

const CHILD_DIR: &str = "PIXELPROOF_TEST_STORE_DIR";

fn child(test_name: &str, dir: &Path, extra: (&str, &str)) -> Command {
    let mut cmd = support::child_test(module_path!(), test_name);
    cmd.env(CHILD_DIR, dir).env(extra.0, extra.1);
    cmd
}

#[test]
fn keys_are_validated() {
    for good in ["a", "jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/job.json", "a.b_c-d/e..f", "x/y/z.pdf"] {
        assert!(ObjectKey::parse(good).is_ok(), "{good:?} was refused");
    }
    for bad in [
        "", "../x", "a/../x", "..", "/abs", "a//b", "a/", "%2e%2e/x", "a/%2e%2e", "./a", "a/./b", ".tmp/x", "a\\b",
        "a b", "é", "a/\0",
    ] {
        let err = ObjectKey::parse(bad).unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { .. }), "{bad:?}: {err}");
        assert!(!err.is_retryable());
    }
    assert!(ObjectKey::parse(&"a".repeat(513)).is_err());
    // Keys arriving through JSON are validated too.
    assert!(serde_json::from_str::<ObjectKey>("\"../etc/passwd\"").is_err());
}

#[tokio::test]
async fn put_get_exists_delete_list() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    assert_eq!(store.get(&key("a/b")).await.unwrap(), None);
    store.put(&key("a/b"), b"one".to_vec()).await.unwrap();
    store.put(&key("a/b"), b"two".to_vec()).await.unwrap();
    store.put(&key("a/c/d"), b"3".to_vec()).await.unwrap();
    store.put(&key("ab"), b"4".to_vec()).await.unwrap();
    assert_eq!(store.get(&key("a/b")).await.unwrap().as_deref(), Some(&b"two"[..]));
    assert!(store.exists(&key("a/c/d")).await.unwrap());
    assert!(!store.exists(&key("a/c")).await.unwrap(), "a directory is not an object");
    let listed = |v: Vec<ObjectKey>| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(listed(store.list("a/").await.unwrap()), ["a/b", "a/c/d"]);
    assert_eq!(listed(store.list("a").await.unwrap()), ["a/b", "a/c/d", "ab"]);
    assert_eq!(listed(store.list("").await.unwrap()), ["a/b", "a/c/d", "ab"], "the store's .tmp is not listed");
    assert!(store.list("zz/").await.unwrap().is_empty());
    assert!(store.delete(&key("a/b")).await.unwrap());
    assert!(!store.delete(&key("a/b")).await.unwrap());
    assert_eq!(store.get(&key("a/b")).await.unwrap(), None);
    assert_eq!(std::fs::read_dir(dir.path().join(".tmp")).unwrap().count(), 0, "temporary files left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_see_a_partial_put() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let k = key("big/object");
    store.put(&k, vec![0; 1 << 20]).await.unwrap();
    let writer = {
        let (store, k) = (store.clone(), k.clone());
        tokio::spawn(async move {
            for i in 0..60u8 {
                store.put(&k, vec![i; (1 << 20) + i as usize * 1000]).await.unwrap();
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() {
        let bytes = store.get(&k).await.unwrap().unwrap();
        let first = bytes[0];
        assert!(bytes.len() >= 1 << 20 && bytes.iter().all(|b| *b == first), "a read saw a partial object");
        assert_eq!(bytes.len(), (1 << 20) + first as usize * 1000, "a read saw a partial object");
        reads += 1;
    }
    writer.await.unwrap();
    assert!(reads > 5, "only {reads} reads overlapped the writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn put_if_absent_has_exactly_one_winner_among_many_tasks() {
    let dir = tempfile::tempdir().unwrap();
    support::store_contract::put_if_absent_race(Arc::new(LocalStore::open(dir.path()).unwrap()), 20, 32).await;
}

#[tokio::test]
#[ignore = "child process of put_survives_kill_9"]
async fn put_child() {
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    let store = LocalStore::open(&dir).unwrap();
    for i in std::process::id().. {
        store.put(&key("doc"), vec![b'a' + (i % 26) as u8; 4 << 20]).await.unwrap();
    }
}

#[test]
fn put_survives_kill_9() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("objects");
    std::fs::create_dir_all(&dir).unwrap();
    let mut fills = std::collections::BTreeSet::new();
    for kill in 0..8u64 {
        let mut worker = child("put_child", &dir, ("UNUSED", "")).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(60 + kill * 17));
        worker.kill().unwrap();
        worker.wait().unwrap();
        let bytes = std::fs::read(dir.join("doc")).unwrap_or_default();
        if kill > 0 || !bytes.is_empty() {
            assert_eq!(bytes.len(), 4 << 20, "kill {kill}: a torn object of {} bytes", bytes.len());
            assert!(bytes.iter().all(|b| *b == bytes[0]), "kill {kill}: a mixed object");
            fills.insert(bytes[0]);
        }
    }
    assert!(fills.len() > 1, "the object never changed between kills: no put completed");
    eprintln!("put under kill -9: 8 kills, {} distinct whole objects seen, 0 torn", fills.len());
    let store = LocalStore::open(&dir).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listed = rt.block_on(store.list("")).unwrap();
    assert_eq!(listed, vec![key("doc")], "only the object is listed (temporary files are not)");
}

#[tokio::test]
async fn job_store_records_pdf_once_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let store = JobStore::new(Arc::new(LocalStore::open(dir.path()).unwrap()));
    let id = support::store_contract::job_store_round_trip(&store).await;
    assert!(dir.path().join(format!("jobs/{id}/job.json")).is_file());
    assert!(dir.path().join(format!("jobs/{id}/document.pdf")).is_file());

    std::fs::write(dir.path().join(format!("jobs/{id}/job.json")), "not json").unwrap();
    let err = store.load(id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }) && err.to_string().contains("job.json"), "{err}");
}

#[tokio::test]
#[ignore = "child process of idempotency_claims_race_between_two_processes"]
async fn claim_child() {
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    let me = std::env::var("CLAIMER").unwrap();
    let store = JobStore::new(Arc::new(LocalStore::open(dir.join("objects")).unwrap()));
    let my_id = JobId::new();
    while !dir.join("go").exists() {
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut out = String::new();
    let claim = Claim { job: my_id, fingerprint: BodyFingerprint::of(&serde_json::json!({"html": "<p>order</p>"})) };
    let key = |k: &str| IdempotencyKey::parse(k.as_bytes()).unwrap();
    for k in 0..100 {
        let line = match store.claim_idempotency_key("ci", &key(&format!("order-{k}")), &claim).await.unwrap() {
            Claimed::New => format!("{k} {my_id} new\n"),
            Claimed::Existing(other) => format!("{k} {} existing\n", other.job),
        };
        out.push_str(&line);
    }
    // A job claiming its own key again (its request retried after a crash) gets New again;
    // the loser keeps getting the winner.
    let again = store.claim_idempotency_key("ci", &key("order-0"), &claim).await.unwrap();
    let first_line = out.lines().next().unwrap_or_default();
    assert_eq!(again == Claimed::New, first_line.ends_with(" new"), "{first_line} then {again:?}");
    std::fs::write(dir.join(format!("claims-{me}")), out).unwrap();
}

#[test]
fn idempotency_claims_race_between_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|me| child("claim_child", dir.path(), ("CLAIMER", me)).stderr(Stdio::inherit()).spawn().unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(dir.path().join("go"), "").unwrap();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let mut by_key: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for me in ["a", "b"] {
        for line in std::fs::read_to_string(dir.path().join(format!("claims-{me}"))).unwrap().lines() {
            let w: Vec<&str> = line.split(' ').collect();
            by_key.entry(w[0].to_string()).or_default().push((w[1].to_string(), w[2].to_string()));
        }
    }
    assert_eq!(by_key.len(), 100);
    let mut wins = BTreeMap::new();
    for (k, claims) in &by_key {
        let new: Vec<_> = claims.iter().filter(|(_, how)| how == "new").collect();
        assert_eq!(new.len(), 1, "key {k}: {claims:?}");
        assert!(
            claims.iter().all(|(winner, _)| *winner == new[0].0),
            "key {k}: the two processes disagree: {claims:?}"
        );
        *wins.entry(new[0].0.clone()).or_insert(0) += 1;
    }
    eprintln!("idempotency race: 100 keys, wins per process {:?}", wins.values().collect::<Vec<_>>());
}

fn rule(m: Match, renderer: Renderer) -> NewRule {
    NewRule { matches: m, renderer, note: "breaks Chromium's table layout".into(), created_by: "ops".into() }
}

#[tokio::test]
async fn routing_rules_persist_and_fingerprints_win() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routing.json");
    let fp = fingerprint("<p>hi</p>", r#"{"paper":"A4"}"#);
    assert_eq!(fp.len(), 64);
    assert_ne!(fp, fingerprint("<p>hi</p>{\"paper\"", r#":"A4"}"#), "moving text between the parts changes it");

    let mut table = RoutingTable::load(&path).unwrap();
    assert_eq!(table.route(Some("invoice"), &fp).renderer, Renderer::Chromium);
    let by_template = table.add(rule(Match::Template("invoice".into()), Renderer::Fallback)).await.unwrap();
    let by_fp = table.add(rule(Match::Fingerprint(fp.clone()), Renderer::Chromium)).await.unwrap();

    let table = RoutingTable::load(&path).unwrap();
    assert_eq!(table.rules().len(), 2);
    let route = table.route(Some("invoice"), &fp);
    assert_eq!((route.renderer, route.rule.as_deref()), (Renderer::Chromium, Some(by_fp.id.as_str())));
    let other = fingerprint("<p>other</p>", "{}");
    let route = table.route(Some("invoice"), &other);
    assert_eq!((route.renderer, route.rule.as_deref()), (Renderer::Fallback, Some(by_template.id.as_str())));
    assert_eq!(table.route(None, &other).renderer, Renderer::Chromium);
    assert_eq!(table.route(Some("receipt"), &other).rule, None);

    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(json["rules"][0]["match"]["template"], "invoice");
    assert_eq!(json["rules"][0]["renderer"], "fallback");

    let mut table = table;
    table.remove(&by_template.id).await.unwrap();
    assert_eq!(RoutingTable::load(&path).unwrap().route(Some("invoice"), &other).renderer, Renderer::Chromium);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("routing.json")], "temporary files left behind");
}

#[tokio::test]
async fn routing_refuses_bad_rules_saying_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routing.json");
    let mut table = RoutingTable::load(&path).unwrap();
    let err = |r: Result<_, RoutingError>| r.unwrap_err().to_string();
    assert!(err(table.add(rule(Match::Template("../x".into()), Renderer::Fallback)).await)
        .contains("template name \"../x\""));
    assert!(
        err(table.add(rule(Match::Fingerprint("ABC".into()), Renderer::Fallback)).await).contains("64 lowercase hex")
    );
    let mut no_note = rule(Match::Template("invoice".into()), Renderer::Fallback);
    no_note.note = "  ".into();
    assert!(err(table.add(no_note).await).contains("note"));
    let mut nobody = rule(Match::Template("invoice".into()), Renderer::Fallback);
    nobody.created_by = String::new();
    assert!(err(table.add(nobody).await).contains("created_by"));
    let first = table.add(rule(Match::Template("invoice".into()), Renderer::Fallback)).await.unwrap();
    let dup = err(table.add(rule(Match::Template("invoice".into()), Renderer::Chromium)).await);
    assert!(dup.contains(&first.id) && dup.contains("template invoice"), "{dup}");
    let missing = err(table.remove("rule-nope").await);
    assert!(missing.contains("rule-nope") && missing.contains(&first.id), "{missing}");
    assert_eq!(RoutingTable::load(&path).unwrap().rules().len(), 1, "refused changes are not saved");

    std::fs::write(&path, "{ not json").unwrap();
    let bad = RoutingTable::load(&path).unwrap_err().to_string();
    assert!(bad.contains("routing.json") && bad.contains("not valid JSON"), "{bad}");
    std::fs::write(&path, r#"{"rules":[{"id":"r1","match":{"template":"a/b"},"renderer":"fallback","note":"n","created_by":"x","created_at":"2026-01-01T00:00:00Z"}]}"#).unwrap();
    assert!(RoutingTable::load(&path).unwrap_err().to_string().contains("rule r1"));
}

#[tokio::test]
async fn a_data_directory_opens_once_and_keeps_its_jobs() {
    use pixelproof::data::DataDir;
    use pixelproof::queue::{Queue, QueueConfig};
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::new(dir.path().join("data"));
    let id = JobId::new();
    {
        let embedded = data.open(QueueConfig::default()).unwrap();
        embedded.jobs.save(&JobRecord::new(id, serde_json::json!({}), None)).await.unwrap();
        embedded.queue.enqueue(id).await.unwrap();
        let second = data.open(QueueConfig::default()).unwrap_err().to_string();
        assert!(second.contains("already in use") && second.contains("queue"), "{second}");
    }
    let embedded = data.open(QueueConfig::default()).unwrap();
    assert_eq!(embedded.queue.dequeue(Duration::ZERO).await.unwrap().unwrap().job, id);
    assert_eq!(embedded.jobs.load(id).await.unwrap().unwrap().state, JobState::Queued);
    assert!(data.routing_file().starts_with(data.root()));
}
