//! `pixelproof baseline list|approve|reject` as an operator runs it: exit codes, messages,
//! and what ends up on disk. Candidates are made with the library; no Chromium needed.

use std::path::Path;
use std::process::Output;

use image::{Rgba, RgbaImage};
use pixelproof::audit::Action;
use pixelproof::baseline::{DirStore as Store, Key, NewCandidate};
use pixelproof::compare::verdict::PageInput;

use crate::support;

/// `pixelproof ARGS` in `dir`, as operator-1.
fn pixelproof(dir: &Path, args: &[&str]) -> Output {
    support::pixelproof().args(args).current_dir(dir).env("PIXELPROOF_USER", "operator-1").output().unwrap()
}

fn candidates(dir: &Path, keys: &[&str]) -> Store {
    let store = Store::new(dir.join("baselines"));
    let image = RgbaImage::from_pixel(10, 10, Rgba([200, 10, 10, 255]));
    for key in keys {
        let environment = support::baselines::environment("156.0.8078.79", "f");
        store
            .write_candidate(&NewCandidate {
                key: Key::parse(key).unwrap(),
                pages: vec![PageInput { image: &image, text: "hello" }],
                environment,
                created_by: "ci-bot".into(),
                comparison: None,
                engine: pixelproof::routing::Renderer::Chromium,
            })
            .unwrap();
    }
    store
}

#[test]
fn list_shows_each_candidate_and_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pixelproof(tmp.path(), &["baseline", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::shown(&out));
    assert!(support::shown(&out).contains("No candidates waiting"), "{}", support::shown(&out));

    candidates(tmp.path(), &["invoice/basic", "letter/short"]);
    let out = pixelproof(tmp.path(), &["baseline", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::shown(&out));
    let shown = support::shown(&out);
    assert!(shown.contains("2 candidates waiting"), "{shown}");
    let row = shown.lines().find(|l| l.contains("invoice/basic")).unwrap();
    assert!(row.contains(" 1 ") && row.contains("new") && row.contains("by ci-bot"), "{row}");
}

#[test]
fn approve_and_reject_need_a_reason_and_a_known_key() {
    let tmp = tempfile::tempdir().unwrap();
    let store = candidates(tmp.path(), &["invoice/basic", "letter/short", "report/q"]);

    // clap says a reason is required before anything is read; a blank one is refused after.
    let out = pixelproof(tmp.path(), &["baseline", "approve", "invoice/basic"]);
    assert_eq!(out.status.code(), Some(2));
    let said = support::shown(&out);
    assert!(said.contains("required") && said.contains("--reason <TEXT>"), "{said}");
    let out = pixelproof(tmp.path(), &["baseline", "reject", "invoice/basic", "--reason", "  "]);
    assert_eq!(out.status.code(), Some(2));
    assert!(support::shown(&out).contains("a reason is required to reject"), "{}", support::shown(&out));

    let out = pixelproof(tmp.path(), &["baseline", "approve", "invoice/basic", "invoice/typo", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let shown = support::shown(&out);
    assert!(shown.contains("invoice/typo") && shown.contains("invoice/basic, letter/short, report/q"), "{shown}");
    assert!(store.load_baseline(&Key::parse("invoice/basic").unwrap()).unwrap().is_none(), "nothing half-applied");

    let out = pixelproof(tmp.path(), &["baseline", "reject", "../etc", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(support::shown(&out).contains("template name \"..\" is not allowed"), "{}", support::shown(&out));

    let out = pixelproof(tmp.path(), &["baseline", "approve", "invoice/basic", "--reason", "new totals row"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::shown(&out));
    assert!(support::shown(&out).contains("approved invoice/basic (1 page) by operator-1"), "{}", support::shown(&out));

    let out = pixelproof(tmp.path(), &["baseline", "reject", "--all", "--reason", "noise", "--by", "bob"]);
    assert_eq!(out.status.code(), Some(0), "{}", support::shown(&out));
    assert!(store.candidates().unwrap().is_empty());

    let log: Vec<_> = store.audit_log().unwrap().into_iter().map(|e| (e.action, e.subject, e.by)).collect();
    assert_eq!(
        log,
        [
            (Action::ApproveCandidate, "invoice/basic".into(), "operator-1".into()),
            (Action::RejectCandidate, "letter/short".into(), "bob".into()),
            (Action::RejectCandidate, "report/q".into(), "bob".into()),
        ]
    );
    let manifest = store.read_manifest(&Key::parse("invoice/basic").unwrap()).unwrap().unwrap();
    assert_eq!(manifest.reason.as_deref(), Some("new totals row"));
}
