//! The check report (index.html, junit.xml, summary.json, page PNGs) written from
//! synthetic outcomes: no Chromium, no comparator needed.

use std::path::Path;

use base64::Engine as _;
use image::{Rgba, RgbaImage};
use pixelproof::baseline::{png, BaselineInfo, Key};
use pixelproof::check::{
    write_report, CheckSummary, FixtureOutcome, LimitsRecord, Reason, ReportError, ReportPage, Status, TextChange,
    Totals,
};
use pixelproof::compare::regions::Region;
use pixelproof::compare::verdict::{Limits, PageVerdict, Verdict};
use pixelproof::fontcheck::FontProblem;
use pixelproof::pins::Environment;
use pixelproof::render::BlockedRequest;

use crate::support::baselines;

const W: u32 = 120;
const H: u32 = 170;

fn env() -> Environment {
    baselines::environment("156.0.8078.79", &"c0ffee".repeat(10))
}

fn solid(rgb: [u8; 3]) -> RgbaImage {
    RgbaImage::from_fn(W, H, |x, y| {
        if (10..110).contains(&x) && y % 12 < 3 {
            Rgba([20, 20, 20, 255])
        } else {
            Rgba([rgb[0], rgb[1], rgb[2], 255])
        }
    })
}

fn page_verdict(page: usize, diff_pixels: u64, text_changed: bool) -> PageVerdict {
    let total = (W * H) as u64;
    let regions = if diff_pixels > 0 {
        vec![Region { x: 10, y: 20, width: 30, height: 15, pixels: diff_pixels }]
    } else {
        vec![]
    };
    PageVerdict {
        page,
        diff_pixels,
        total_pixels: total,
        ratio: diff_pixels as f64 / total as f64,
        regions,
        text_changed,
        size_changed: false,
        passed: diff_pixels < 100 && !text_changed,
        masked_pixels: 0,
    }
}

fn page(
    number: usize,
    baseline: Option<[u8; 3]>,
    candidate: Option<[u8; 3]>,
    verdict: Option<PageVerdict>,
) -> ReportPage {
    ReportPage {
        number,
        baseline: baseline.map(solid),
        baseline_text: baseline.map(|_| format!("page {number}")),
        candidate: candidate.map(solid),
        candidate_text: candidate.map(|_| format!("page {number}")),
        diff: baseline.zip(candidate).map(|_| solid([255, 230, 230])),
        verdict,
    }
}

const NASTY: &str = "Total <b>\"12\" & 'more'</b>\u{c}";

/// Four fixtures: one failing on page 2, one that could not render, one passing, one new
/// candidate. Returns the summary and each fixture's pages.
fn run() -> (CheckSummary, Vec<Vec<ReportPage>>) {
    let baseline = BaselineInfo {
        created_at: "2026-01-02T03:04:05Z".parse().unwrap(),
        created_by: "ci".into(),
        approved_at: Some("2026-01-02T04:00:00Z".parse().unwrap()),
        approved_by: Some("alice".into()),
        environment: env(),
        pages: 2,
    };
    let mut failing = FixtureOutcome::new(Key::parse("invoice/basic").unwrap());
    failing.status = Status::Fail;
    failing.pages = 2;
    failing.baseline_pages = Some(2);
    failing.baseline = Some(baseline.clone());
    failing.reasons = vec![
        Reason::page(2, "512 pixels changed (2.510 %, 1 region); limits 100 pixels and 0.050 %"),
        Reason::page(2, "text layer changed"),
        Reason::whole("1 request outside the template's assets was blocked: https://evil.example/x.png?a=1&b=2"),
    ];
    failing.blocked = vec![BlockedRequest {
        url: "https://evil.example/x.png?a=1&b=2".into(),
        reason: "not one of the document's assets".into(),
        resource_type: "Image".into(),
    }];
    failing.font_problems = vec![FontProblem {
        requested: "Fancy <Sans>".into(),
        used: "DejaVuSans".into(),
        detail: "warning only".into(),
    }];
    failing.text_changes = vec![TextChange { page: 2, diff: format!("- Total 10\n+ {NASTY}") }];
    failing.verdict = Some(Verdict {
        passed: false,
        baseline_pages: 2,
        candidate_pages: 2,
        pages: vec![page_verdict(1, 0, false), page_verdict(2, 512, true)],
        reasons: vec![Reason::page(2, "512 pixels changed")],
    });
    failing.duration_ms = 1234;
    let failing_pages = vec![
        page(1, Some([255, 255, 255]), Some([255, 255, 255]), Some(page_verdict(1, 0, false))),
        page(2, Some([255, 255, 255]), Some([200, 220, 255]), Some(page_verdict(2, 512, true))),
    ];

    let mut error = FixtureOutcome::new(Key::parse("invoice/zero").unwrap());
    error.status = Status::Error;
    error.reasons = vec![Reason::whole(format!("rendering failed: {NASTY}"))];

    let mut pass = FixtureOutcome::new(Key::parse("letter/short").unwrap());
    pass.pages = 1;
    pass.baseline_pages = Some(1);
    pass.baseline = Some(baseline);
    pass.verdict = Some(Verdict {
        passed: true,
        baseline_pages: 1,
        candidate_pages: 1,
        pages: vec![page_verdict(1, 0, false)],
        reasons: vec![],
    });
    let pass_pages = vec![page(1, Some([250, 250, 250]), Some([250, 250, 250]), Some(page_verdict(1, 0, false)))];

    let mut new = FixtureOutcome::new(Key::parse("report/q").unwrap());
    new.status = Status::Candidate;
    new.pages = 1;
    new.reasons = vec![Reason::whole("new: no baseline yet")];
    new.candidate = Some("baselines/.candidates/report/q".into());
    let new_pages = vec![page(1, None, Some([240, 255, 240]), None)];

    let fixtures = vec![error, pass, failing, new];
    let summary = CheckSummary {
        environment: env(),
        started_at: "2026-02-03T10:00:00Z".parse().unwrap(),
        duration_ms: 4321,
        update: true,
        limits: LimitsRecord::from(&Limits::default()),
        baselines: "baselines".into(),
        totals: Totals::count(&fixtures),
        fixtures,
    };
    (summary, vec![vec![], pass_pages, failing_pages, new_pages])
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn totals_count_each_status() {
    let (summary, _) = run();
    assert_eq!(summary.totals, Totals { fixtures: 4, passed: 1, failed: 1, errors: 1, candidates_written: 1 });
    assert_eq!(summary.exit_code(), 2, "an error outranks a failure");
    assert_eq!(summary.line(), "4 fixtures: 1 passed, 1 failed, 1 error, 1 candidate written (4.3 s)");
    let failing = &summary.fixtures[2];
    assert!(
        failing.line().starts_with("FAIL invoice/basic: page 2: 512 pixels changed")
            && failing.line().ends_with("; and 1 more (2 pages, 1.2 s)"),
        "{}",
        failing.line()
    );
    assert_eq!(summary.fixtures[1].line(), "PASS letter/short (1 page, 0.0 s)");
}

#[test]
fn summary_json_round_trips_with_the_promised_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let (summary, pages) = run();
    write_report(tmp.path(), &summary, &pages).unwrap();
    let text = read(tmp.path(), "summary.json");
    let back: CheckSummary = serde_json::from_str(&text).unwrap();
    assert_eq!(back, summary);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    for field in ["environment", "started_at", "duration_ms", "totals", "fixtures"] {
        assert!(value.get(field).is_some(), "{field}");
    }
    assert_eq!(value["totals"]["candidates_written"], 1);
    assert_eq!(value["started_at"], "2026-02-03T10:00:00Z");
    let fixture = &value["fixtures"][2];
    assert_eq!(fixture["key"], "invoice/basic");
    assert_eq!(fixture["status"], "fail");
    assert_eq!(fixture["reasons"][0]["page"], 2);
    for field in ["pages", "verdict", "blocked", "font_problems", "duration_ms"] {
        assert!(fixture.get(field).is_some(), "{field}");
    }
}

#[test]
fn junit_names_the_failing_page_and_escapes_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let (summary, pages) = run();
    write_report(tmp.path(), &summary, &pages).unwrap();
    let xml = read(tmp.path(), "junit.xml");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root.children().filter(|n| n.has_tag_name("testsuite")).collect();
    let names: Vec<_> = suites.iter().map(|s| s.attribute("name").unwrap()).collect();
    assert_eq!(names, ["invoice", "letter", "report"]);

    let case = |classname: &str, name: &str| {
        doc.descendants()
            .find(|n| {
                n.has_tag_name("testcase")
                    && n.attribute("classname") == Some(classname)
                    && n.attribute("name") == Some(name)
            })
            .unwrap_or_else(|| panic!("no testcase {classname} {name} in\n{xml}"))
    };

    let failure = child(case("invoice.basic", "page-002"), "failure").expect("page 2 fails");
    let message = failure.attribute("message").unwrap();
    assert!(message.starts_with("page 2: 512 pixels changed") && message.contains("text layer changed"), "{message}");
    let body = failure.text().unwrap();
    assert!(body.contains("region at 10,20 size 30x15") && body.contains("Total <b>\"12\" & 'more'</b>"), "{body}");
    assert!(child(case("invoice.basic", "page-001"), "failure").is_none());
    let fixture_failure =
        child(case("invoice.basic", "fixture"), "failure").expect("blocked request fails the fixture");
    assert!(fixture_failure.attribute("message").unwrap().contains("https://evil.example/x.png?a=1&b=2"));

    let error = child(case("invoice.zero", "fixture"), "error").expect("an error is an <error>");
    assert_eq!(error.attribute("message").unwrap(), "rendering failed: Total <b>\"12\" & 'more'</b>\u{FFFD}");

    assert!(case("letter.short", "fixture").children().all(|c| !c.is_element()));
    assert!(child(case("report.q", "page-001"), "skipped").is_some());

    let invoice = suites[0];
    assert_eq!(
        ["tests", "failures", "errors", "skipped"].map(|a| invoice.attribute(a).unwrap()),
        ["4", "2", "1", "0"],
        "fixture+2 pages of invoice/basic, fixture of invoice/zero"
    );
    assert_eq!(root.attribute("failures"), Some("2"));
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| c.has_tag_name(tag))
}

/// The `data:` URIs of the images in `html` from `from` on, decoded.
fn images_after(html: &str, from: &str) -> Vec<RgbaImage> {
    let start = html.find(from).unwrap_or_else(|| panic!("{from} not in the report"));
    html[start..]
        .split("src=\"data:image/png;base64,")
        .skip(1)
        .map(|s| {
            let b64 = &s[..s.find('"').unwrap()];
            png::decode(&base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
        })
        .collect()
}

#[test]
fn index_html_is_self_contained_with_failures_first_and_a_slider() {
    let tmp = tempfile::tempdir().unwrap();
    let (summary, pages) = run();
    let index = write_report(tmp.path(), &summary, &pages).unwrap();
    assert_eq!(index, tmp.path().join("index.html"));
    let html = read(tmp.path(), "index.html");

    // Nothing is fetched: no external URL in any src/href, no external stylesheet or script.
    for attr in ["src=\"http", "href=\"http", "src=\"//", "<link", "<script src", "url(http"] {
        assert!(!html.contains(attr), "{attr}");
    }
    assert!(html.contains("https://evil.example/x.png?a=1&amp;b=2"), "blocked URL listed as text");
    assert!(!html.contains("<b>\"12\""), "text is escaped");

    // Failures first: the failing and error sections come before the passing one.
    let pos = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s} not found"));
    assert!(pos("id=\"f-invoice-zero\"") < pos("id=\"f-invoice-basic\""));
    assert!(pos("id=\"f-invoice-basic\"") < pos("id=\"f-report-q\""));
    assert!(pos("id=\"f-report-q\"") < pos("<details class=\"fixture pass\" id=\"f-letter-short\""));

    // Page 2 of invoice/basic: baseline, candidate and diff at full size, then the slider.
    let page2 = &html[pos("id=\"f-invoice-basic-p2\"")..];
    let page2 = &page2[..page2.find("</section>").unwrap()];
    assert!(page2.contains("Baseline") && page2.contains("Candidate") && page2.contains("Diff"));
    assert!(page2.contains("type=\"range\"") && page2.contains("class=\"stack\""));
    assert!(page2.contains("class=\"region\""), "changed region outlined");
    assert!(page2.contains("text layer changed") && page2.contains("<span class=\"add\">+ Total &lt;b&gt;"));
    let imgs = images_after(&html, "id=\"f-invoice-basic-p2\"");
    assert_eq!(imgs[0], solid([255, 255, 255]));
    assert_eq!(imgs[1], solid([200, 220, 255]), "the candidate, full size");
    assert_eq!(imgs[2], solid([255, 230, 230]));
    assert!(html.contains("<input class=\"slide\""));
    assert!(html.contains("addEventListener('input'"));

    // The passing fixture: collapsed, with a downscaled candidate only (pages are identical).
    let passing = &html[pos("id=\"f-letter-short\"")..];
    let thumbs = images_after(passing, "class=\"thumbs\"");
    assert_eq!(thumbs.len(), 1);
    assert!(thumbs[0].width() < W || W <= pixelproof::check::report::THUMBNAIL_WIDTH);
}

#[test]
fn page_images_of_fixtures_that_did_not_pass_are_written_as_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (summary, pages) = run();
    write_report(tmp.path(), &summary, &pages).unwrap();
    let dir = tmp.path().join("invoice/basic");
    let decode = |name: &str| png::decode(&std::fs::read(dir.join(name)).unwrap()).unwrap();
    assert_eq!(decode("candidate-002.png"), solid([200, 220, 255]));
    assert_eq!(decode("baseline-002.png"), solid([255, 255, 255]));
    assert_eq!(decode("diff-002.png"), solid([255, 230, 230]));
    assert!(dir.join("candidate-001.png").is_file());
    assert!(tmp.path().join("report/q/candidate-001.png").is_file());
    assert!(!tmp.path().join("letter").exists(), "passing fixtures need no artifacts");
}

#[test]
fn the_report_dir_is_recreated_but_a_foreign_dir_is_never_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let (summary, pages) = run();

    let foreign = tmp.path().join("src");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("main.rs"), "fn main() {}").unwrap();
    let err = write_report(&foreign, &summary, &pages).unwrap_err();
    assert!(matches!(err, ReportError::NotAReport { .. }), "{err}");
    assert!(err.to_string().contains("refusing to delete"), "{err}");
    assert!(foreign.join("main.rs").is_file());

    let report = tmp.path().join("report");
    write_report(&report, &summary, &pages).unwrap();
    std::fs::write(report.join("stale.txt"), "from an old run").unwrap();
    write_report(&report, &summary, &pages).unwrap();
    assert!(!report.join("stale.txt").exists(), "recreated");
    assert!(report.join("summary.json").is_file());

    // A run that died before writing summary.json left its marker: still a report.
    std::fs::remove_file(report.join("summary.json")).unwrap();
    write_report(&report, &summary, &pages).unwrap();

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    write_report(&empty, &summary, &pages).unwrap();
}
