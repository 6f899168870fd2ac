//! The check run end to end with a stand-in prover (synthetic proofs, no Chromium):
//! planning, missing baselines, `--update` candidates, document problems, drift, exit codes.

use std::path::Path;
use std::time::Duration;

use image::{Rgba, RgbaImage};
use pixelproof::baseline::{Decision, DirStore as Store, Key, NewCandidate};
use pixelproof::check::{self, progress::Lines, CheckError, CheckOptions, FixtureError, Prover, Status, NO_BASELINE};
use pixelproof::compare::verdict::PageInput;
use pixelproof::document::Document;
use pixelproof::fontcheck::{FontProblem, FontReport};
use pixelproof::pins::Environment;
use pixelproof::pipeline::{EngineError, Proof};
use pixelproof::raster::RasterPage;
use pixelproof::render::{BlockedRequest, RenderError, Rendered};

use crate::support::baselines;
use crate::support::baselines::check_options as options;
use crate::support::write_file;

fn env() -> Environment {
    baselines::environment("156.0.8078.79", &"f0".repeat(32))
}

/// Proves a document by turning its HTML into one page whose colour depends on the HTML.
/// HTML mentioning `evil` makes a blocked request, `Comic` a font problem, `CRASH` an
/// engine error.
struct StandIn {
    env: Environment,
}

impl Prover for StandIn {
    fn environment(&self) -> &Environment {
        &self.env
    }

    async fn prove(&self, doc: &Document) -> Result<Proof, FixtureError> {
        if doc.html.contains("CRASH") {
            return Err(EngineError::Render(RenderError::Browser {
                label: doc.label.clone(),
                detail: "target crashed".into(),
            })
            .into());
        }
        let shade = doc.html.bytes().fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
        let image = RgbaImage::from_pixel(40, 56, Rgba([shade, 255 - shade, 128, 255]));
        let mut blocked = Vec::new();
        if doc.html.contains("evil") {
            blocked.push(BlockedRequest {
                url: "https://evil.example/track.gif".into(),
                reason: "not one of the document's assets".into(),
                resource_type: "Image".into(),
            });
        }
        let mut problems = Vec::new();
        if doc.html.contains("Comic") {
            problems.push(FontProblem {
                requested: "Comic Sans MS".into(),
                used: "DejaVuSans".into(),
                detail: "Comic Sans MS is not bundled".into(),
            });
        }
        Ok(Proof {
            rendered: Rendered {
                pdf: Vec::new(),
                blocked,
                font_faces: Vec::new(),
                font_usage: Vec::new(),
                elapsed: Duration::from_millis(5),
                timings: Default::default(),
                mask_probe: None,
            },
            pages: vec![RasterPage { number: 1, image, text: doc.html.clone(), fonts: vec!["DejaVuSans".into()] }],
            fonts: FontReport { embedded: vec!["DejaVuSans".into()], problems, strict: true },
            drawn: true,
            raster: Duration::ZERO,
            masks: Default::default(),
        })
    }
}

/// `letter` has two clean fixtures; `invoice` has one clean fixture and one of each problem.
fn templates(root: &Path) {
    write_file(root, "templates/letter/template.html", "<p>{{ greeting }}</p>");
    write_file(root, "templates/letter/fixtures/a.json", r#"{"greeting": "Dear Ann"}"#);
    write_file(root, "templates/letter/fixtures/b.json", r#"{"greeting": "Dear Bob"}"#);
    write_file(root, "templates/invoice/template.html", "<h1>{{ title }}</h1>");
    for (name, title) in [("basic", "Invoice"), ("remote", "evil"), ("comic", "Comic"), ("crash", "CRASH")] {
        write_file(root, &format!("templates/invoice/fixtures/{name}.json"), &format!(r#"{{"title": "{title}"}}"#));
    }
    write_file(root, "templates/invoice/fixtures/broken.json", "{}");
}

async fn run(opts: &CheckOptions, only: &[&str]) -> (Result<check::CheckSummary, CheckError>, String) {
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    let planned = check::plan(&opts.templates_dir, &only).unwrap();
    let mut lines = Lines::new(Vec::new());
    let prover = StandIn { env: env() };
    let result = check::run_with(&prover, opts, planned, &mut lines).await;
    (result, String::from_utf8(lines.into_inner()).unwrap())
}

#[tokio::test]
async fn without_baselines_every_fixture_fails_and_says_how_to_make_one() {
    let tmp = tempfile::tempdir().unwrap();
    templates(tmp.path());
    let (result, lines) = run(&options(tmp.path(), false), &["letter"]).await;
    let summary = result.unwrap();
    assert_eq!(summary.exit_code(), 1);
    assert_eq!((summary.totals.fixtures, summary.totals.failed), (2, 2));
    for f in &summary.fixtures {
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.reasons[0].message, NO_BASELINE);
    }
    assert_eq!(
        lines.lines().next().unwrap(),
        format!("FAIL letter/a: {NO_BASELINE} (1 page, {})", check::summary::seconds(summary.fixtures[0].duration_ms))
    );
    let junit = std::fs::read_to_string(tmp.path().join("report/junit.xml")).unwrap();
    assert!(junit.contains("classname=\"letter.a\"") && junit.contains("no baseline yet"), "{junit}");
    assert!(tmp.path().join("report/letter/a/candidate-001.png").is_file());
    assert!(Store::new(tmp.path().join("baselines")).candidates().unwrap().is_empty(), "no --update, no candidates");
}

#[tokio::test]
async fn update_writes_candidates_that_approval_turns_into_baselines() {
    let tmp = tempfile::tempdir().unwrap();
    templates(tmp.path());
    let (result, lines) = run(&options(tmp.path(), true), &["letter"]).await;
    let summary = result.unwrap();
    assert_eq!(summary.exit_code(), 0, "{lines}");
    assert_eq!(summary.totals.candidates_written, 2);
    assert!(lines.starts_with("CANDIDATE letter/a: new: no baseline yet"), "{lines}");

    let store = Store::new(tmp.path().join("baselines"));
    let listed = store.candidates().unwrap();
    assert_eq!(listed.iter().map(|c| c.key.to_string()).collect::<Vec<_>>(), ["letter/a", "letter/b"]);
    let manifest = listed[0].manifest.as_ref().unwrap();
    assert_eq!((manifest.created_by.as_str(), &manifest.environment), ("tester", &env()));
    assert_eq!(summary.fixtures[0].candidate.as_deref(), Some(store.candidate_dir(&listed[0].key).as_path()));

    let decision = Decision { by: "alice".into(), reason: "first baselines".into() };
    for c in &listed {
        store.approve(&c.key, &decision).unwrap();
    }
    let baseline = store.load_baseline(&Key::parse("letter/b").unwrap()).unwrap().unwrap();
    assert_eq!(baseline.pages[0].text, "<p>Dear Bob</p>");
}

/// Writes approved baselines for `letter` as the stand-in renders it, in `environment`.
async fn approved_letter_baselines(root: &Path, environment: Environment) {
    let prover = StandIn { env: environment };
    let planned = check::plan(&root.join("templates"), &["letter".to_string()]).unwrap();
    let summary = check::run_with(&prover, &options(root, true), planned, &mut check::progress::Silent).await.unwrap();
    assert_eq!(summary.totals.candidates_written, 2);
    let store = Store::new(root.join("baselines"));
    for key in store.candidate_keys().unwrap() {
        store.approve(&key, &Decision { by: "alice".into(), reason: "baseline".into() }).unwrap();
    }
}

#[tokio::test]
async fn matching_pages_pass_and_a_changed_page_fails_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    templates(tmp.path());
    approved_letter_baselines(tmp.path(), env()).await;
    let (result, lines) = run(&options(tmp.path(), false), &["letter"]).await;
    let summary = result.unwrap();
    assert_eq!((summary.exit_code(), summary.totals.passed), (0, 2), "{lines}");
    assert!(lines.starts_with("PASS letter/a (1 page, "), "{lines}");
    let verdict = summary.fixtures[0].verdict.as_ref().unwrap();
    assert!(verdict.passed && verdict.pages[0].diff_pixels == 0);
    let summary = run(&options(tmp.path(), true), &["letter"]).await.0.unwrap();
    assert_eq!((summary.totals.passed, summary.totals.candidates_written), (2, 0), "--update skips passing fixtures");

    write_file(tmp.path(), "templates/letter/fixtures/b.json", r#"{"greeting": "Dear Bo"}"#);
    let (result, lines) = run(&options(tmp.path(), false), &["letter"]).await;
    let summary = result.unwrap();
    assert_eq!(summary.exit_code(), 1, "{lines}");
    let b = &summary.fixtures[1];
    assert_eq!(b.status, Status::Fail);
    assert!(b.reasons.iter().all(|r| r.page == Some(1)), "{:?}", b.reasons);
    assert!(b.reasons.iter().any(|r| r.message.contains("pixels changed")), "{:?}", b.reasons);
    assert_eq!(b.text_changes[0].diff, "- <p>Dear Bob</p>\n+ <p>Dear Bo</p>");
    let junit = std::fs::read_to_string(tmp.path().join("report/junit.xml")).unwrap();
    let page = &junit[junit.find(r#"<testcase name="page-001" classname="letter.b""#).unwrap()..];
    assert!(page[..page.find("</testcase>").unwrap()].contains("<failure message=\"page 1: "), "{junit}");
    assert!(tmp.path().join("report/letter/b/diff-001.png").is_file());
}

#[tokio::test]
async fn allowed_drift_is_noted_and_update_remakes_drifted_baselines() {
    let tmp = tempfile::tempdir().unwrap();
    templates(tmp.path());
    let old = Environment { fonts_hash: "0".repeat(64), ..env() };
    approved_letter_baselines(tmp.path(), old).await;

    let opts = CheckOptions { allow_drift: true, ..options(tmp.path(), false) };
    let (result, lines) = run(&opts, &["letter"]).await;
    let summary = result.unwrap();
    assert_eq!(summary.totals.passed, 2, "same pixels pass, drift allowed: {lines}");
    assert!(summary.fixtures[0].notes.iter().any(|n| n.contains("fonts hash")), "{:?}", summary.fixtures[0].notes);

    let opts = CheckOptions { allow_drift: true, ..options(tmp.path(), true) };
    let summary = run(&opts, &["letter"]).await.0.unwrap();
    assert_eq!(summary.totals.candidates_written, 2, "drifted baselines are re-made even when pixels match");
    let store = Store::new(tmp.path().join("baselines"));
    let listed = store.candidates().unwrap();
    assert!(listed[0].change().starts_with("environment drift (fonts hash"), "{}", listed[0].change());
    store.approve(&listed[0].key, &Decision { by: "alice".into(), reason: "new fonts".into() }).unwrap();
    let manifest = store.read_manifest(&listed[0].key).unwrap().unwrap();
    assert_eq!(manifest.environment, env());
}

#[tokio::test]
async fn document_problems_fail_even_with_update_and_never_become_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    templates(tmp.path());
    let (result, lines) = run(&options(tmp.path(), true), &["invoice"]).await;
    let summary = result.unwrap();
    let status = |name: &str| {
        let f = summary.fixtures.iter().find(|f| f.key.fixture() == name).unwrap();
        (f.status, f.reasons.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(" | "))
    };
    assert_eq!(status("basic").0, Status::Candidate);
    let (s, why) = status("remote");
    assert!(s == Status::Fail && why.contains("https://evil.example/track.gif") && why.contains("blocked"), "{why}");
    let (s, why) = status("comic");
    assert!(s == Status::Fail && why.contains("Comic Sans MS"), "{why}");
    let (s, why) = status("crash");
    assert!(s == Status::Error && why.contains("rendering failed") && why.contains("target crashed"), "{why}");
    let (s, why) = status("broken");
    assert!(s == Status::Fail && why.contains("undefined"), "{why}");
    let basic = summary.fixtures.iter().find(|f| f.key.fixture() == "basic").unwrap();
    assert!(!basic.notes.iter().any(|n| n.contains("earlier run")), "its own candidate is not an earlier one");

    // Without --update, the candidate written above is pointed out as still waiting.
    let again = run(&options(tmp.path(), false), &["invoice"]).await.0.unwrap();
    let basic = again.fixtures.iter().find(|f| f.key.fixture() == "basic").unwrap();
    assert!(basic.notes.iter().any(|n| n.contains("earlier run is waiting for review")), "{:?}", basic.notes);
    assert_eq!(summary.exit_code(), 2, "an engine error is exit 2\n{lines}");

    let keys: Vec<_> =
        Store::new(tmp.path().join("baselines")).candidate_keys().unwrap().iter().map(Key::to_string).collect();
    assert_eq!(keys, ["invoice/basic"]);
    let remote = summary.fixtures.iter().find(|f| f.key.fixture() == "remote").unwrap();
    assert!(remote.notes.iter().any(|n| n.contains("no candidate written")), "{:?}", remote.notes);
}

#[tokio::test]
async fn drift_stops_the_run_before_anything_is_compared() {
    let tmp = tempfile::tempdir().unwrap();
    templates(tmp.path());
    let store = Store::new(tmp.path().join("baselines"));
    let image = RgbaImage::new(40, 56);
    for (fixture, chromium) in [("a", "150.0.1"), ("b", "150.0.1")] {
        let key = Key::parse(&format!("letter/{fixture}")).unwrap();
        let environment = Environment { chromium: chromium.into(), ..env() };
        let pages = vec![PageInput { image: &image, text: "x" }];
        store
            .write_candidate(&NewCandidate {
                key: key.clone(),
                pages,
                environment,
                created_by: "old".into(),
                comparison: None,
                engine: pixelproof::routing::Renderer::Chromium,
            })
            .unwrap();
        store.approve(&key, &Decision { by: "a".into(), reason: "r".into() }).unwrap();
    }
    let (result, _) = run(&options(tmp.path(), false), &["letter"]).await;
    let err = result.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CheckError::Drift(_)), "{msg}");
    assert!(msg.contains("Chromium: baseline 150.0.1 vs here 156.0.8078.79 (letter/a, letter/b)"), "{msg}");
    assert!(msg.contains("--allow-drift") && msg.contains("pinned environment"), "{msg}");
    assert!(!tmp.path().join("report").exists(), "nothing was compared or written");
}

#[test]
fn planning_refuses_bad_names_unknown_templates_and_empty_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    templates(tmp.path());
    let dir = tmp.path().join("templates");
    let all = check::plan(&dir, &[]).unwrap();
    let keys: Vec<_> = all.iter().map(|p| p.key.to_string()).collect();
    assert_eq!(keys[..2], ["invoice/basic", "invoice/broken"]);
    assert_eq!(keys.len(), 7);

    let err = check::plan(&dir, &["nope".into()]).unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("invoice, letter"), "{err}");

    write_file(tmp.path(), "templates/letter/fixtures/with.dot.json", "{}");
    let err = check::plan(&dir, &["letter".into()]).unwrap_err().to_string();
    assert!(err.contains("with.dot.json") && err.contains("not allowed"), "{err}");

    let err = check::plan(&tmp.path().join("missing"), &[]).unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");

    write_file(tmp.path(), "empty/t/template.html", "x");
    let err = check::plan(&tmp.path().join("empty"), &[]).unwrap_err();
    assert!(matches!(err, CheckError::NoFixtures { .. }), "{err}");
}

#[tokio::test]
async fn the_fallback_leaves_out_a_template_whose_template_json_says_it_cannot_print_it() {
    let tmp = tempfile::tempdir().unwrap();
    templates(tmp.path());
    write_file(tmp.path(), "templates/letter/template.json", r#"{"fallback": false}"#);
    let fallback = CheckOptions { renderer: pixelproof::routing::Renderer::Fallback, ..options(tmp.path(), true) };
    let (result, lines) = run(&fallback, &["invoice", "letter"]).await;
    let keys: Vec<String> = result.unwrap().fixtures.iter().map(|f| f.key.to_string()).collect();
    assert!(keys.iter().all(|k| k.starts_with("invoice/")) && keys.len() == 5, "{keys:?}\n{lines}");
    // Chromium still proves it.
    let (result, lines) = run(&options(tmp.path(), true), &["letter"]).await;
    assert_eq!(result.unwrap().fixtures.len(), 2, "{lines}");
}
