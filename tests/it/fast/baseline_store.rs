//! The baseline store on disk: candidates, approval, rejection, the audit log, and the
//! checks that refuse damaged baselines. Synthetic images; no Chromium needed.

use std::path::Path;

use image::RgbaImage;
use pixelproof::audit::Action;
use pixelproof::baseline::{
    page_image_name, BaselineError, BaselineInfo, CandidateVerdict, Comparison, Decision, DirStore as Store, Key,
    Manifest, NewCandidate,
};
use pixelproof::compare::verdict::{PageInput, PageVerdict, Reason, Verdict};
use pixelproof::pins::Environment;
use pixelproof::routing::Renderer;

use crate::support::baselines::{self, decision, page};

fn env() -> Environment {
    baselines::environment("156.0.8078.79", &"ab".repeat(32))
}

fn write_new(store: &Store, key: &Key, images: &[RgbaImage], texts: &[&str]) {
    let pages = images.iter().zip(texts).map(|(image, text)| PageInput { image, text }).collect();
    let new = NewCandidate {
        key: key.clone(),
        pages,
        environment: env(),
        created_by: "ci".into(),
        comparison: None,
        engine: Renderer::Chromium,
    };
    store.write_candidate(&new).unwrap();
}

/// A temporary store holding an approved baseline of `key` with `pages` (page(1), page(2), …).
fn store_with_baseline(key: &str, pages: u8) -> (tempfile::TempDir, Store, Key) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    let key = Key::parse(key).unwrap();
    let images: Vec<_> = (1..=pages).map(page).collect();
    let texts: Vec<String> = (1..=pages).map(|n| ((b'a' + n - 1) as char).to_string()).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    write_new(&store, &key, &images, &texts);
    store.approve(&key, &decision("v1")).unwrap();
    (tmp, store, key)
}

fn hidden_entries(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.') && n != ".candidates")
        .collect()
}

#[test]
fn a_new_candidate_is_listed_approved_and_loaded_back() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    let key = Key::parse("invoice/basic").unwrap();
    assert!(store.load_baseline(&key).unwrap().is_none());
    write_new(&store, &key, &[page(1), page(2)], &["Invoice 1\n", "Total: 12 €"]);

    let listed = store.candidates().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key);
    assert_eq!(listed[0].change(), "new");
    let manifest = listed[0].manifest.as_ref().unwrap();
    assert_eq!((manifest.pages.len(), manifest.created_by.as_str()), (2, "ci"));
    assert!(manifest.approved_by.is_none());

    let entry = store.approve(&key, &decision("first baseline")).unwrap();
    assert_eq!(
        (entry.action, entry.details.pages, entry.subject.as_str()),
        (Action::ApproveCandidate, Some(2), "invoice/basic")
    );
    assert!(store.candidates().unwrap().is_empty());
    assert!(!tmp.path().join(".candidates").exists(), "an empty candidates dir is tidied away");

    let baseline = store.load_baseline(&key).unwrap().expect("approved baseline");
    assert_eq!(baseline.pages.len(), 2);
    assert_eq!(baseline.pages[1].image, page(2));
    assert_eq!(baseline.pages[1].text, "Total: 12 €");
    assert_eq!(baseline.manifest.approved_by.as_deref(), Some("alice"));
    assert_eq!(baseline.manifest.reason.as_deref(), Some("first baseline"));
    assert_eq!(baseline.manifest.environment, env());
    assert!(baseline.manifest.approved_at.is_some());

    let dir = store.baseline_dir(&key);
    assert!(dir.join("page-001.png").is_file() && dir.join("page-002.txt").is_file());
    assert!(!dir.join("verdict.json").exists());
    assert!(hidden_entries(tmp.path()).is_empty(), "{:?}", hidden_entries(tmp.path()));

    let log = store.audit_log().unwrap();
    assert_eq!(log, vec![entry]);
    assert_eq!(std::fs::read_to_string(store.audit_path()).unwrap().lines().count(), 1);
}

#[test]
fn same_pixels_are_written_as_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Store::new(tmp.path().join("a"));
    let b = Store::new(tmp.path().join("b"));
    let key = Key::parse("t/f").unwrap();
    write_new(&a, &key, &[page(7)], &["x"]);
    write_new(&b, &key, &[page(7)], &["x"]);
    let bytes = |s: &Store| std::fs::read(s.candidate_dir(&key).join("page-001.png")).unwrap();
    assert_eq!(bytes(&a), bytes(&b));
    let sha = |s: &Store| s.candidates().unwrap()[0].manifest.clone().unwrap().pages[0].sha256.clone();
    assert_eq!(sha(&a), sha(&b));
}

#[test]
fn approving_replaces_the_whole_baseline_and_rejecting_keeps_it() {
    let (tmp, store, key) = store_with_baseline("report/quarterly", 3);

    // A two-page candidate that differs on page 2, compared with the baseline.
    let baseline = store.load_baseline(&key).unwrap().unwrap();
    let verdict = Verdict {
        passed: false,
        baseline_pages: 3,
        candidate_pages: 2,
        pages: vec![
            PageVerdict {
                page: 1,
                diff_pixels: 0,
                total_pixels: 4800,
                ratio: 0.0,
                regions: vec![],
                text_changed: false,
                size_changed: false,
                passed: true,
                masked_pixels: 0,
            },
            PageVerdict {
                page: 2,
                diff_pixels: 512,
                total_pixels: 4800,
                ratio: 512.0 / 4800.0,
                regions: vec![],
                text_changed: true,
                size_changed: false,
                passed: false,
                masked_pixels: 0,
            },
        ],
        reasons: vec![Reason::whole("page count: baseline 3, candidate 2"), Reason::page(2, "512 pixels changed")],
    };
    let diffs = vec![None, Some(page(9))];
    let images = [page(1), page(5)];
    let new = NewCandidate {
        key: key.clone(),
        pages: images.iter().map(|image| PageInput { image, text: "b2" }).collect(),
        environment: env(),
        created_by: "ci".into(),
        comparison: Some(Comparison {
            verdict: CandidateVerdict {
                baseline: BaselineInfo::from(&baseline.manifest),
                drift: vec![],
                verdict: verdict.clone(),
            },
            diffs: &diffs,
        }),
        engine: Renderer::Chromium,
    };
    let cand_dir = store.write_candidate(&new).unwrap();
    assert!(cand_dir.join("diff-002.png").is_file());
    assert!(!cand_dir.join("diff-001.png").exists());
    let candidate = store.load_candidate(&key).unwrap();
    assert_eq!(candidate.verdict.as_ref().unwrap().verdict, verdict);
    // The comparison is `comparison.json`; a candidate written before it was renamed has it as
    // `verdict.json`, and still reads.
    assert!(cand_dir.join("comparison.json").is_file() && !cand_dir.join("verdict.json").exists());
    std::fs::rename(cand_dir.join("comparison.json"), cand_dir.join("verdict.json")).unwrap();
    assert_eq!(store.load_candidate(&key).unwrap().verdict.unwrap().verdict, verdict);
    let change = store.candidates().unwrap()[0].change();
    assert_eq!(change, "512 px changed on page 2; text changed on page 2; 3 → 2 pages");

    // Reject: the candidate goes, the baseline stays.
    let rejected = store.reject(&key, &decision("not intended")).unwrap();
    assert_eq!((rejected.action, rejected.details.pages), (Action::RejectCandidate, Some(2)));
    assert!(!cand_dir.exists());
    assert_eq!(store.load_baseline(&key).unwrap().unwrap().pages.len(), 3);

    // Write it again and approve: the baseline is now exactly the candidate's pages.
    store.write_candidate(&new).unwrap();
    store.approve(&key, &decision("new layout")).unwrap();
    let dir = store.baseline_dir(&key);
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    files.sort();
    assert_eq!(files, ["manifest.json", "page-001.png", "page-001.txt", "page-002.png", "page-002.txt"]);
    let baseline = store.load_baseline(&key).unwrap().unwrap();
    assert_eq!(baseline.pages[1].image, page(5));
    assert!(hidden_entries(tmp.path()).is_empty(), "{:?}", hidden_entries(tmp.path()));

    let actions: Vec<_> = store.audit_log().unwrap().iter().map(|e| (e.action, e.reason.clone())).collect();
    assert_eq!(
        actions,
        [
            (Action::ApproveCandidate, "v1".into()),
            (Action::RejectCandidate, "not intended".into()),
            (Action::ApproveCandidate, "new layout".into())
        ]
    );
}

#[test]
fn a_tampered_or_incomplete_baseline_is_an_error_naming_the_file() {
    let (_tmp, store, key) = store_with_baseline("invoice/basic", 2);
    let dir = store.baseline_dir(&key);

    let png = dir.join("page-002.png");
    let original = std::fs::read(&png).unwrap();
    let mut tampered = original.clone();
    let last = tampered.len() - 20;
    tampered[last] ^= 0xff;
    std::fs::write(&png, &tampered).unwrap();
    let err = store.load_baseline(&key).unwrap_err();
    assert!(matches!(err, BaselineError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("page-002.png") && err.to_string().contains("version control"), "{err}");
    std::fs::write(&png, &original).unwrap();

    std::fs::write(dir.join("page-001.txt"), "A").unwrap();
    let err = store.load_baseline(&key).unwrap_err().to_string();
    assert!(err.contains("page-001.txt"), "{err}");
    std::fs::write(dir.join("page-001.txt"), "a").unwrap();
    assert!(store.load_baseline(&key).is_ok());

    std::fs::remove_file(&png).unwrap();
    let err = store.load_baseline(&key).unwrap_err();
    assert!(matches!(err, BaselineError::Missing { .. }) && err.to_string().contains("page-002.png"), "{err}");
}

#[test]
fn a_manifest_cannot_point_outside_its_directory_or_claim_another_key() {
    let (_tmp, store, key) = store_with_baseline("invoice/basic", 1);
    let path = store.baseline_dir(&key).join("manifest.json");
    let original: Manifest = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();

    let mut evil = original.clone();
    evil.pages[0].image = "../../../etc/passwd".into();
    std::fs::write(&path, serde_json::to_string(&evil).unwrap()).unwrap();
    let err = store.load_baseline(&key).unwrap_err().to_string();
    assert!(err.contains("manifest.json") && err.contains(&page_image_name(1)), "{err}");

    let mut copied = original;
    copied.fixture = "other".into();
    std::fs::write(&path, serde_json::to_string(&copied).unwrap()).unwrap();
    let err = store.load_baseline(&key).unwrap_err().to_string();
    assert!(err.contains("belongs to invoice/other"), "{err}");

    std::fs::write(&path, "{not json").unwrap();
    let err = store.load_baseline(&key).unwrap_err().to_string();
    assert!(err.contains("manifest.json is not valid"), "{err}");
}

#[test]
fn decisions_need_a_reason_and_an_existing_candidate() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    let key = Key::parse("invoice/basic").unwrap();
    write_new(&store, &key, &[page(1)], &["a"]);
    write_new(&store, &Key::parse("letter/short").unwrap(), &[page(1)], &["a"]);

    let err = store.approve(&key, &decision("  ")).unwrap_err();
    assert!(matches!(err, BaselineError::NoReason { action: "approve" }), "{err}");
    assert!(store.candidate_dir(&key).is_dir(), "a refused approval leaves the candidate");
    let err = store.reject(&key, &Decision { by: String::new(), reason: "x".into() }).unwrap_err();
    assert!(matches!(err, BaselineError::NoUser), "{err}");

    let err = store.approve(&Key::parse("invoice/nope").unwrap(), &decision("x")).unwrap_err().to_string();
    assert!(err.contains("invoice/nope") && err.contains("invoice/basic, letter/short"), "{err}");
    assert!(store.audit_log().unwrap().is_empty());
}

#[test]
fn an_interrupted_approval_is_reported_and_can_be_finished() {
    let (tmp, store, key) = store_with_baseline("invoice/basic", 1);
    write_new(&store, &key, &[page(2)], &["b"]);

    // A crash between the two renames: the old baseline moved aside, the new one not yet in.
    let dir = store.baseline_dir(&key);
    std::fs::rename(&dir, dir.with_file_name(".basic.old-1-2")).unwrap();
    let err = store.load_baseline(&key).unwrap_err().to_string();
    assert!(err.contains("interrupted") && err.contains("pixelproof baseline approve invoice/basic"), "{err}");

    store.approve(&key, &decision("v2")).unwrap();
    assert_eq!(store.load_baseline(&key).unwrap().unwrap().pages[0].image, page(2));
    assert!(hidden_entries(tmp.path()).is_empty(), "{:?}", hidden_entries(tmp.path()));
}

#[test]
fn a_tampered_candidate_cannot_be_approved() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    let key = Key::parse("invoice/basic").unwrap();
    write_new(&store, &key, &[page(1)], &["a"]);
    std::fs::write(store.candidate_dir(&key).join("page-001.png"), b"not a png").unwrap();
    let err = store.approve(&key, &decision("x")).unwrap_err().to_string();
    assert!(err.contains("page-001.png"), "{err}");
    assert!(store.load_baseline(&key).unwrap().is_none());
    assert!(hidden_entries(tmp.path()).is_empty(), "{:?}", hidden_entries(tmp.path()));
    // It can still be rejected.
    store.reject(&key, &decision("broken")).unwrap();
    assert!(store.candidates().unwrap().is_empty());
}
