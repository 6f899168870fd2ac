//! Baselines kept in a bucket (`--baselines s3://BUCKET/PREFIX`) on a real S3-compatible server
//! (moto on a loopback port, `support/s3.rs`): the same manifest and approval flow as a
//! directory, generations swapped by one PUT, damage refused, two stores (two machines) seeing
//! each other's approvals, an unreachable bucket reported as retryable, and the operator's
//! whole loop — `check --update`, `baseline list`, `baseline approve`, `check` — through the
//! real binary, Chromium and PDFium, whose pages must match the committed baselines byte for byte.

use crate::support;

use std::path::Path;

use image::{Rgba, RgbaImage};
use pixelproof::audit::Action;
use pixelproof::baseline::{
    Area, BaselineError, BaselineInfo, BucketStore, CandidateVerdict, Comparison, Decision, DirStore, Key, Manifest,
    NewCandidate, Store,
};
use pixelproof::compare::verdict::{PageInput, PageVerdict, Reason, Verdict};
use pixelproof::pins::Environment;
use pixelproof::routing::Renderer;
use support::baselines::{self, decision, page};
use support::s3::S3Server;
use support::{pixelproof, repo, s, shown};

fn env() -> Environment {
    baselines::environment("156.0.8078.114", &"ab".repeat(32))
}

fn new_candidate<'a>(key: &Key, images: &'a [RgbaImage], text: &'a str) -> NewCandidate<'a> {
    NewCandidate {
        key: key.clone(),
        pages: images.iter().map(|image| PageInput { image, text }).collect(),
        environment: env(),
        created_by: "ci".into(),
        comparison: None,
        engine: Renderer::Chromium,
    }
}

/// A bucket of its own on `server`.
async fn bucket(server: &S3Server, name: &str) -> String {
    server.create_bucket(name).await
}

/// Every key in the bucket, sorted (looked at with a plain SDK client, behind the store's back).
async fn keys(server: &S3Server, bucket: &str) -> Vec<String> {
    let page = server.client().list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut keys: Vec<String> = page.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
    keys.sort();
    keys
}

async fn put(server: &S3Server, bucket: &str, key: &str, bytes: &[u8]) {
    let body = aws_sdk_s3::primitives::ByteStream::from(bytes.to_vec());
    server.client().put_object().bucket(bucket).key(key).body(body).send().await.unwrap();
}

async fn get(server: &S3Server, bucket: &str, key: &str) -> Vec<u8> {
    let out = server.client().get_object().bucket(bucket).key(key).send().await.unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// The generation directories under `prefix` (`…/TEMPLATE/FIXTURE/`), current or not.
fn generations(keys: &[String], prefix: &str) -> Vec<String> {
    let mut gens: Vec<String> = keys
        .iter()
        .filter_map(|k| k.strip_prefix(prefix))
        .filter_map(|rest| rest.split_once('/').map(|(g, _)| g.to_string()))
        .collect();
    gens.dedup();
    gens
}

#[tokio::test]
async fn a_bucket_keeps_the_same_files_manifest_and_flow_as_a_directory() {
    let server = S3Server::start();
    let bucket = bucket(&server, "flow").await;
    let store = Store::Bucket(BucketStore::connect(server.config(&bucket, "fleet")).await.expect("connect"));
    assert_eq!(store.location(), format!("s3://{bucket}/fleet"));
    assert!(store.is_shared());
    let key = Key::parse("invoice/basic").unwrap();
    assert!(store.load_baseline(&key).await.unwrap().is_none());
    assert!(store.candidates().await.unwrap().is_empty());
    let err = store.approve(&key, &decision("x")).await.unwrap_err().to_string();
    assert!(err.contains("no candidate for invoice/basic") && err.contains("none"), "{err}");

    // A candidate, written and listed.
    let images = [page(1), page(2)];
    let at = store.write_candidate(&new_candidate(&key, &images, "v1")).await.unwrap();
    assert!(at.to_string_lossy().starts_with(&format!("s3://{bucket}/fleet/candidates/invoice/basic/")), "{at:?}");
    let listed = store.candidates().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].key.to_string(), listed[0].change()), ("invoice/basic".into(), "new".into()));
    assert!(listed[0].problem.is_none());
    store.require_candidate(&key).await.unwrap();
    assert!(store.has_candidate(&key).await);
    let candidate = store.load_candidate(&key).await.unwrap();
    assert_eq!(candidate.pages.iter().map(|p| p.image.clone()).collect::<Vec<_>>(), images);

    // The same candidate in a directory: the same manifest entries (same bytes, same sha256).
    let tmp = tempfile::tempdir().unwrap();
    let dir = DirStore::new(tmp.path().join("baselines"));
    dir.write_candidate(&new_candidate(&key, &images, "v1")).unwrap();
    let dir_manifest = dir.candidates().unwrap()[0].manifest.clone().unwrap();
    assert_eq!(candidate.manifest.pages, dir_manifest.pages);

    // Approve: the baseline is the candidate's pages, with the decision in its manifest.
    let entry = store.approve(&key, &decision("first baseline")).await.unwrap();
    assert_eq!((entry.action, entry.details.pages, entry.by.as_str()), (Action::ApproveCandidate, Some(2), "alice"));
    assert!(store.candidates().await.unwrap().is_empty());
    assert!(!store.has_candidate(&key).await);
    let baseline = store.load_baseline(&key).await.unwrap().expect("approved");
    assert_eq!(baseline.pages[1].image, page(2));
    assert_eq!(baseline.pages[0].text, "v1");
    assert_eq!(baseline.manifest.approved_by.as_deref(), Some("alice"));
    assert_eq!(baseline.manifest.reason.as_deref(), Some("first baseline"));
    dir.approve(&key, &decision("first baseline")).unwrap();
    let dir_baseline = dir.load_baseline(&key).unwrap().unwrap();
    assert_eq!(baseline.manifest.pages, dir_baseline.manifest.pages);
    assert_eq!(
        store.read_file(Area::Baseline, &key, "page-002.png").await.unwrap(),
        Some(std::fs::read(dir.baseline_dir(&key).join("page-002.png")).unwrap()),
        "the same PNG bytes as in a directory"
    );

    // What is in the bucket: one generation, its pointer, one audit record, no candidate.
    let all = keys(&server, &bucket).await;
    let prefix = "fleet/baselines/invoice/basic/";
    let gens = generations(&all, prefix);
    assert_eq!(gens.len(), 1, "one generation: {all:?}");
    let current = String::from_utf8(get(&server, &bucket, &format!("{prefix}current")).await).unwrap();
    assert!(gens.contains(&current), "{gens:?} {current}");
    for name in ["manifest.json", "page-001.png", "page-001.txt", "page-002.png", "page-002.txt"] {
        assert!(all.contains(&format!("{prefix}{current}/{name}")), "{name} missing: {all:?}");
    }
    let stored: Manifest =
        serde_json::from_slice(&get(&server, &bucket, &format!("{prefix}{current}/manifest.json")).await).unwrap();
    assert_eq!(stored, baseline.manifest, "the manifest object is the manifest");
    assert!(!all.iter().any(|k| k.starts_with("fleet/candidates/")), "the candidate is gone: {all:?}");
    assert_eq!(all.iter().filter(|k| k.starts_with("fleet/audit/")).count(), 1, "{all:?}");

    // A changed candidate with its comparison: diffs and verdict are kept and shown; rejected.
    let verdict = Verdict {
        passed: false,
        baseline_pages: 2,
        candidate_pages: 2,
        pages: vec![PageVerdict {
            page: 2,
            diff_pixels: 512,
            total_pixels: 4800,
            ratio: 512.0 / 4800.0,
            regions: vec![],
            text_changed: false,
            size_changed: false,
            passed: false,
            masked_pixels: 0,
        }],
        reasons: vec![Reason::page(2, "512 pixels changed")],
    };
    let diffs = vec![None, Some(page(9))];
    let changed = [page(1), page(5)];
    let mut new = new_candidate(&key, &changed, "v2");
    new.comparison = Some(Comparison {
        verdict: CandidateVerdict {
            baseline: BaselineInfo::from(&baseline.manifest),
            drift: vec![],
            verdict: verdict.clone(),
        },
        diffs: &diffs,
    });
    store.write_candidate(&new).await.unwrap();
    assert_eq!(store.candidates().await.unwrap()[0].change(), "512 px changed on page 2");
    assert_eq!(store.load_candidate(&key).await.unwrap().verdict.unwrap().verdict, verdict);
    assert!(store.read_file(Area::Candidate, &key, "diff-002.png").await.unwrap().is_some());
    assert!(store.read_file(Area::Candidate, &key, "diff-001.png").await.unwrap().is_none());
    assert!(matches!(store.read_file(Area::Candidate, &key, "../current").await, Err(BaselineError::BadName { .. })));
    let rejected = store.reject(&key, &decision("not intended")).await.unwrap();
    assert_eq!((rejected.action, rejected.details.pages), (Action::RejectCandidate, Some(2)));
    assert_eq!(
        store.load_baseline(&key).await.unwrap().unwrap().pages[1].image,
        page(2),
        "a reject keeps the baseline"
    );

    // Written again and approved: the new generation replaces the old, which is removed.
    store.write_candidate(&new).await.unwrap();
    store.approve(&key, &decision("new layout")).await.unwrap();
    assert_eq!(store.load_baseline(&key).await.unwrap().unwrap().pages[1].image, page(5));
    let all = keys(&server, &bucket).await;
    let gens = generations(&all, prefix);
    assert_eq!(gens.len(), 1, "the old generation is swept: {all:?}");
    assert!(!gens.contains(&current), "{gens:?}");
    assert!(!all.iter().any(|k| k.starts_with("fleet/candidates/")), "{all:?}");
    let actions: Vec<_> = store.audit_log().await.unwrap().into_iter().map(|e| (e.action, e.reason)).collect();
    assert_eq!(
        actions,
        [
            (Action::ApproveCandidate, "first baseline".to_string()),
            (Action::RejectCandidate, "not intended".to_string()),
            (Action::ApproveCandidate, "new layout".to_string())
        ]
    );

    // A decision without a reason or without a name changes nothing.
    store.write_candidate(&new_candidate(&key, &images, "v3")).await.unwrap();
    assert!(matches!(store.approve(&key, &decision(" ")).await, Err(BaselineError::NoReason { .. })));
    assert!(matches!(
        store.reject(&key, &Decision { by: String::new(), reason: "x".into() }).await,
        Err(BaselineError::NoUser)
    ));
    assert!(store.has_candidate(&key).await);
    assert_eq!(store.audit_log().await.unwrap().len(), 3);
}

#[tokio::test]
async fn damage_in_the_bucket_is_refused_with_the_objects_url() {
    let server = S3Server::start();
    let bucket = bucket(&server, "damage").await;
    let store = Store::Bucket(BucketStore::connect(server.config(&bucket, "")).await.expect("connect"));
    let key = Key::parse("letter/short").unwrap();
    store.write_candidate(&new_candidate(&key, &[page(3)], "hello")).await.unwrap();
    store.approve(&key, &decision("v1")).await.unwrap();
    let prefix = "baselines/letter/short/";
    let current = String::from_utf8(get(&server, &bucket, &format!("{prefix}current")).await).unwrap();

    // A page changed behind pixelproof's back.
    let png = format!("{prefix}{current}/page-001.png");
    let good = get(&server, &bucket, &png).await;
    put(&server, &bucket, &png, &pixelproof::baseline::png::encode(&page(4)).unwrap()).await;
    let err = store.load_baseline(&key).await.unwrap_err();
    assert!(matches!(err, BaselineError::Checksum { .. }), "{err}");
    let shown = err.to_string();
    assert!(
        shown.contains(&format!("s3://{bucket}/{png}")) && shown.contains("does not match its manifest"),
        "{shown}"
    );
    assert!(!err.is_retryable(), "damage is not an outage");
    put(&server, &bucket, &png, &good).await;
    assert!(store.load_baseline(&key).await.unwrap().is_some());

    // A missing text layer, a manifest for another key, a pointer to nowhere.
    let text = format!("{prefix}{current}/page-001.txt");
    let good_text = get(&server, &bucket, &text).await;
    server.client().delete_object().bucket(&bucket).key(&text).send().await.unwrap();
    assert!(matches!(store.load_baseline(&key).await, Err(BaselineError::Missing { .. })));
    put(&server, &bucket, &text, &good_text).await;
    let manifest = format!("{prefix}{current}/manifest.json");
    let good_manifest = get(&server, &bucket, &manifest).await;
    put(
        &server,
        &bucket,
        &manifest,
        &String::from_utf8(good_manifest.clone()).unwrap().replace("\"short\"", "\"long\"").into_bytes(),
    )
    .await;
    let err = store.load_baseline(&key).await.unwrap_err().to_string();
    assert!(err.contains("belongs to letter/long"), "{err}");
    put(&server, &bucket, &manifest, &good_manifest).await;
    put(&server, &bucket, &format!("{prefix}current"), b"../../jobs").await;
    let err = store.load_baseline(&key).await.unwrap_err().to_string();
    assert!(err.contains("should hold a generation id"), "{err}");
    put(&server, &bucket, &format!("{prefix}current"), current.as_bytes()).await;
    assert_eq!(store.load_baseline(&key).await.unwrap().unwrap().pages[0].image, page(3));

    // A candidate whose page is damaged cannot be approved, but can be rejected.
    store.write_candidate(&new_candidate(&key, &[page(6)], "two")).await.unwrap();
    let cand = String::from_utf8(get(&server, &bucket, "candidates/letter/short/current").await).unwrap();
    put(&server, &bucket, &format!("candidates/letter/short/{cand}/page-001.png"), b"not a png").await;
    let err = store.approve(&key, &decision("x")).await.unwrap_err().to_string();
    assert!(err.contains("does not match its manifest"), "{err}");
    assert_eq!(store.load_baseline(&key).await.unwrap().unwrap().pages[0].image, page(3), "nothing half-applied");
    store.reject(&key, &decision("broken")).await.unwrap();
    assert!(store.candidates().await.unwrap().is_empty());
}

#[tokio::test]
async fn two_machines_see_each_others_candidates_and_approvals() {
    let server = S3Server::start();
    let bucket = bucket(&server, "fleet").await;
    let ci = Store::Bucket(BucketStore::connect(server.config(&bucket, "shared/baselines")).await.expect("connect"));
    let operator =
        Store::Bucket(BucketStore::connect(server.config(&bucket, "shared/baselines")).await.expect("connect"));
    let other_prefix = Store::Bucket(BucketStore::connect(server.config(&bucket, "elsewhere")).await.expect("connect"));
    let keys_made: Vec<Key> = ["a/one", "a/two", "b/one"].iter().map(|k| Key::parse(k).unwrap()).collect();
    for (i, key) in keys_made.iter().enumerate() {
        ci.write_candidate(&new_candidate(key, &[page(i as u8 + 1)], "x")).await.unwrap();
    }
    assert_eq!(operator.candidate_keys().await.unwrap(), keys_made);
    assert!(other_prefix.candidate_keys().await.unwrap().is_empty(), "a prefix is a world of its own");
    for key in &keys_made {
        operator.approve(key, &decision("fleet baseline")).await.unwrap();
    }
    for (i, key) in keys_made.iter().enumerate() {
        assert_eq!(ci.load_baseline(key).await.unwrap().unwrap().pages[0].image, page(i as u8 + 1));
    }
    assert!(ci.candidates().await.unwrap().is_empty());
    assert_eq!(ci.audit_log().await.unwrap().len(), 3);
}

#[tokio::test]
async fn an_unreachable_bucket_is_an_outage_not_a_missing_baseline() {
    let mut server = S3Server::start();
    let bucket = bucket(&server, "outage").await;
    let store = Store::Bucket(BucketStore::connect(server.config(&bucket, "")).await.expect("connect"));
    let key = Key::parse("t/f").unwrap();
    store.write_candidate(&new_candidate(&key, &[page(1)], "x")).await.unwrap();
    store.approve(&key, &decision("v1")).await.unwrap();
    server.stop();
    let err = store.load_baseline(&key).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains(&format!("s3://{bucket}")), "{err}");
    let err = BucketStore::connect(server.config(&bucket, "")).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let err = BucketStore::connect(server.config("no-such-bucket", "")).await.unwrap_err();
    assert!(err.to_string().contains("no-such-bucket"), "{err}");
}

#[tokio::test]
async fn an_operator_checks_reviews_and_approves_baselines_in_a_bucket() {
    let server = S3Server::start();
    let bucket = bucket(&server, "ops").await;
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("templates");
    support::copy_dir(&repo().join("templates/certificate"), &templates.join("certificate"));
    let url = format!("s3://{bucket}/team-a");
    let credentials = server.credentials();
    let pixelproof = |args: &[&str]| {
        pixelproof()
            .args(args)
            .current_dir(tmp.path())
            .env("PIXELPROOF_USER", "operator-1")
            .env("AWS_ENDPOINT_URL", server.endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", &credentials.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &credentials.secret_access_key)
            .output()
            .expect("run pixelproof")
    };
    let report = tmp.path().join("report");
    let check = |update: bool| {
        let mut args = vec!["check", "--templates", s(&templates), "--baselines", &url, "--report", s(&report)];
        if update {
            args.push("--update");
        }
        pixelproof(&args)
    };

    let fixtures: Vec<_> = std::fs::read_dir(templates.join("certificate/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().to_string())
        .collect();
    assert!(!fixtures.is_empty());
    let out = check(true);
    let text = shown(&out);
    assert!(text.contains(&format!("{} candidates written", fixtures.len())), "{text}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).expect("summary.json")).unwrap();
    for fixture in summary["fixtures"].as_array().expect("fixtures") {
        let at = fixture["candidate"].as_str().unwrap_or_default();
        assert!(at.starts_with(&format!("{url}/candidates/certificate/")), "{fixture}");
    }
    let out = pixelproof(&["baseline", "list", "--baselines", &url]);
    let list = shown(&out);
    assert_eq!(out.status.code(), Some(0), "{list}");
    assert!(list.contains(&format!("waiting for review in {url}")) && list.contains("certificate/"), "{list}");
    let out = pixelproof(&["baseline", "approve", "--all", "--baselines", &url, "--reason", "first fleet baseline"]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(shown(&out).contains("approved certificate/"), "{}", shown(&out));

    let out = check(false);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(shown(&out).contains("passed, 0 failed, 0 errors"), "{}", shown(&out));

    // The same environment made the committed baselines: every page is the same PNG.
    let store = Store::Bucket(BucketStore::connect(server.config(&bucket, "team-a")).await.expect("connect"));
    let committed = Store::new(repo().join("baselines"));
    for fixture in fixtures {
        let key = Key::new("certificate", &fixture).unwrap();
        let ours = store.read_manifest(&key).await.unwrap().expect("approved in the bucket");
        let theirs = committed.read_manifest(&key).await.unwrap().expect("committed baseline");
        assert_eq!(ours.pages, theirs.pages, "{key}: the bucket's pages are the committed ones");
        assert_eq!(ours.approved_by.as_deref(), Some("operator-1"));
    }
    assert!(store
        .audit_log()
        .await
        .unwrap()
        .iter()
        .all(|e| e.action == Action::ApproveCandidate && e.by == "operator-1"));

    // A store URL that cannot work is refused before any rendering.
    let out = pixelproof(&["baseline", "list", "--baselines", "s3://Bad_Bucket/x"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(shown(&out).contains("Bad_Bucket"), "{}", shown(&out));
}

#[tokio::test]
async fn committed_baselines_copy_into_a_bucket_and_back_byte_for_byte() {
    let server = S3Server::start();
    let bucket = bucket(&server, "copy").await;
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("s3://{bucket}/fleet");
    let credentials = server.credentials();
    let pixelproof = |args: &[&str]| {
        let out = pixelproof()
            .args(args)
            .current_dir(tmp.path())
            .env("AWS_ENDPOINT_URL", server.endpoint())
            .env("AWS_ACCESS_KEY_ID", &credentials.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &credentials.secret_access_key)
            .output()
            .expect("run pixelproof");
        (out.status.code(), shown(&out))
    };
    let committed = repo().join("baselines");
    let keys = Store::new(&committed).baseline_keys().await.unwrap();
    assert!(keys.len() >= 5, "{keys:?}");

    let (code, out) = pixelproof(&["baseline", "copy", "--from", s(&committed), "--to", &url]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("{} copied, 0 unchanged", keys.len())), "{out}");
    let (code, out) = pixelproof(&["baseline", "copy", "--from", s(&committed), "--to", &url]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("0 copied, {} unchanged", keys.len())), "a second copy changes nothing: {out}");
    let bucket_store = Store::Bucket(BucketStore::connect(server.config(&bucket, "fleet")).await.expect("connect"));
    assert_eq!(bucket_store.baseline_keys().await.unwrap(), keys);

    // An approval made in the bucket survives a seeding copy with --keep-existing.
    let key = &keys[0];
    let image = RgbaImage::from_pixel(10, 10, Rgba([1, 2, 3, 255]));
    bucket_store.write_candidate(&new_candidate(key, std::slice::from_ref(&image), "fleet")).await.unwrap();
    bucket_store.approve(key, &decision("approved in the fleet")).await.unwrap();
    let (code, out) = pixelproof(&["baseline", "copy", "--keep-existing", "--from", s(&committed), "--to", &url]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("kept {key}")) && out.contains("1 kept"), "{out}");
    assert_eq!(
        bucket_store.read_manifest(key).await.unwrap().unwrap().reason.as_deref(),
        Some("approved in the fleet")
    );
    let (code, out) = pixelproof(&["baseline", "copy", &key.to_string(), "--from", s(&committed), "--to", &url]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 copied"), "without --keep-existing the source wins: {out}");

    // Back into a directory: every file is the committed one, byte for byte.
    let back = tmp.path().join("back");
    let (code, out) = pixelproof(&["baseline", "copy", "--from", &url, "--to", s(&back)]);
    assert_eq!(code, Some(0), "{out}");
    for key in &keys {
        let dir = |root: &Path| root.join(key.template()).join(key.fixture());
        let mut names: Vec<_> = std::fs::read_dir(dir(&committed)).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        for name in names {
            let ours = std::fs::read(dir(&back).join(&name)).unwrap_or_default();
            assert_eq!(ours, std::fs::read(dir(&committed).join(&name)).unwrap(), "{key}/{name:?}");
        }
    }

    // One key; a damaged source is refused and nothing is written for it.
    let damaged = tmp.path().join("damaged");
    support::copy_dir(&committed, &damaged);
    let key = &keys[0];
    let png = damaged.join(key.template()).join(key.fixture()).join("page-001.png");
    std::fs::write(&png, b"not the page").unwrap();
    let other = format!("s3://{bucket}/other");
    let (code, out) = pixelproof(&["baseline", "copy", &key.to_string(), "--from", s(&damaged), "--to", &other]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("does not match its manifest"), "{out}");
    let other_store = Store::Bucket(BucketStore::connect(server.config(&bucket, "other")).await.expect("connect"));
    assert!(other_store.baseline_keys().await.unwrap().is_empty());
    let (code, out) = pixelproof(&["baseline", "copy", "--from", &url, "--to", &url]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("same place"), "{out}");
}
