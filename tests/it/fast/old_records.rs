//! What was stored before the typed contracts (issue 14) still loads: a held and a done job's
//! `job.json` exactly as pixelproof 40a533d wrote them (tests/it/fixtures: the held one is a
//! certificate job with another recipient's name against `certificate/default`, whose proofs
//! failed on both engines), and the committed baselines' audit log.

use std::sync::Arc;

use crate::support::{block_on, repo};
use pixelproof::audit::Action;
use pixelproof::jobs::{JobId, JobRecord, JobState, JobStore};
use pixelproof::review::page::job_item;
use pixelproof::review::HeldJob;
use pixelproof::routing::Renderer;
use pixelproof::rules::Rule;
use pixelproof::store::{LocalStore, ObjectKey, ObjectStore};

const HELD: &str = include_str!("../fixtures/held-job-40a533d.json");
const DONE: &str = include_str!("../fixtures/done-job-40a533d.json");

/// Stores `text` as a job's record, as the old version left it, and loads it with this one.
async fn stored(jobs: &JobStore, objects: &Arc<dyn ObjectStore>, text: &str) -> JobRecord {
    let raw: serde_json::Value = serde_json::from_str(text).expect("the fixture is JSON");
    let id: JobId = raw["id"].as_str().and_then(|s| s.parse().ok()).expect("the fixture has a job id");
    let key = ObjectKey::parse(&format!("jobs/{id}/job.json")).expect("a job key");
    objects.put(&key, text.as_bytes().to_vec()).await.expect("write the old record");
    jobs.load(id).await.expect("the old record loads").expect("the record is there")
}

#[test]
fn job_records_stored_before_the_typed_verdict_load() {
    block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let objects: Arc<dyn ObjectStore> = Arc::new(LocalStore::open(dir.path()).expect("store"));
        let jobs = JobStore::new(objects.clone());

        let held = stored(&jobs, &objects, HELD).await;
        assert_eq!(held.state, JobState::Held);
        let verdict = held.verdict.clone().expect("a held job has a verdict");
        assert!(!verdict.passed);
        let engines: Vec<Renderer> = verdict.attempts.iter().map(|a| a.engine).collect();
        assert_eq!(engines, [Renderer::Chromium, Renderer::Fallback], "read from the version strings");
        let chromium = verdict.attempt(Renderer::Chromium).expect("Chromium's attempt");
        assert!(chromium.renderer_version.starts_with("HeadlessChrome/"), "{}", chromium.renderer_version);
        let pixels = chromium.checked.rules.iter().find(|r| r.rule == Rule::Pixels).expect("the pixel rule");
        assert!(!pixels.passed && pixels.detail.contains("certificate/default"), "{}", pixels.detail);
        let compared = verdict.pixels.as_ref().expect("the pixel verdict");
        assert!(compared.pages[0].diff_pixels > 0 && compared.pages[0].text_changed);

        // The review page reads it without guessing: both engines' failed rules, named.
        let job =
            HeldJob { record: held.clone(), artifacts: Vec::new(), verdict: Some(verdict), sizes: Default::default() };
        let item = job_item(&job);
        assert!(item.changes.iter().any(|c| c.starts_with("chromium: pixels: ")), "{:?}", item.changes);
        assert!(item.changes.iter().any(|c| c.starts_with("fallback: ")), "{:?}", item.changes);
        assert!(
            item.subtitle.contains("printed by HeadlessChrome/") && item.subtitle.contains("fallback by WeasyPrint")
        );

        // Saved again by this version, it reads back the same.
        jobs.save(&held).await.expect("save");
        let again = jobs.load(held.id).await.expect("load").expect("there");
        assert_eq!(again.verdict, held.verdict);

        let done = stored(&jobs, &objects, DONE).await;
        assert_eq!(done.state, JobState::Done);
        let verdict = done.verdict.expect("a done job has a verdict");
        assert!(verdict.passed && verdict.reasons.is_empty());
        assert_eq!(verdict.attempts.iter().map(|a| a.engine).collect::<Vec<_>>(), [Renderer::Chromium]);
    });
}

#[test]
fn the_committed_baselines_audit_log_loads_as_records() {
    let store = pixelproof::baseline::DirStore::new(repo().join("baselines"));
    let log = store.audit_log().expect("the audit log loads");
    let lines = std::fs::read_to_string(repo().join("baselines/audit.jsonl")).expect("audit.jsonl");
    let lines: Vec<&str> = lines.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(log.len(), lines.len());
    for (record, line) in log.iter().zip(lines) {
        assert!(matches!(record.action, Action::ApproveCandidate | Action::RejectCandidate), "{record:?}");
        assert!(record.subject.contains('/') && record.details.pages.is_some(), "{record:?}");
        // Lines from before engines were recorded are Chromium's.
        let engine = if line.contains(r#""engine":"fallback""#) { Renderer::Fallback } else { Renderer::Chromium };
        assert_eq!(record.details.engine, Some(engine), "{line}");
    }
}
