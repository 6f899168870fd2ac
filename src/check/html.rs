//! `index.html`: the operator's view of a check run. Self-contained: inline CSS and JS,
//! images as `data:` URIs, no external requests.
//!
//! Fixtures that did not pass come first, expanded, each page with baseline, candidate and
//! diff side by side and an overlay slider (candidate over baseline); passing fixtures
//! follow, collapsed, with downscaled images. Clicking an image shows it at full size.
//!
//! This module decides what the page says (the data the report writer collects, turned
//! into a `ui::report::ReportView`); the page itself is the template in `ui`, which
//! escapes every value.

use super::assess::percent;
use super::summary::{plural, seconds, CheckSummary, FixtureOutcome, Status};
use crate::ui::report::{
    Chip, DiffLine, Field, FixtureView, PageBlock, ReportView, Table, Thumb, ThumbImage, TocEntry,
};
use crate::ui::{Embedded, Figure, Ids, Overlay, UiError};

/// One page as the HTML shows it.
#[derive(Debug, Clone)]
pub struct HtmlPage {
    pub page: ReportPageInfo,
    pub baseline: Option<Embedded>,
    pub candidate: Option<Embedded>,
    pub diff: Option<Embedded>,
    /// Embedded at full size (a page that needs attention) or downscaled.
    pub full_size: bool,
}

/// The parts of a [`super::ReportPage`] the HTML needs besides its images.
#[derive(Debug, Clone)]
pub struct ReportPageInfo {
    pub number: usize,
    pub verdict: Option<crate::compare::verdict::PageVerdict>,
    /// Paths of the page's PNG files, relative to the report directory.
    pub files: Vec<String>,
}

/// A fixture as the HTML shows it.
#[derive(Debug, Clone)]
pub struct HtmlFixture {
    pub outcome: FixtureOutcome,
    pub pages: Vec<HtmlPage>,
}

/// The report page for a run.
pub fn render(summary: &CheckSummary, fixtures: &[HtmlFixture]) -> Result<String, UiError> {
    crate::ui::report::render(&view(summary, fixtures))
}

/// What the report page shows for a run.
fn view(summary: &CheckSummary, fixtures: &[HtmlFixture]) -> ReportView {
    let mut ids = Ids::default();
    let t = &summary.totals;
    let (status, headline) = if t.errors > 0 {
        (Status::Error, format!("{} could not be checked", plural(t.errors, "fixture")))
    } else if t.failed > 0 {
        (Status::Fail, format!("{} of {} failed", t.failed, plural(t.fixtures, "fixture")))
    } else if t.candidates_written > 0 {
        (Status::Candidate, format!("{} waiting for review", plural(t.candidates_written, "candidate")))
    } else {
        (Status::Pass, format!("all {} passed", plural(t.fixtures, "fixture")))
    };

    let (mut attention, passed): (Vec<&HtmlFixture>, Vec<&HtmlFixture>) =
        fixtures.iter().partition(|f| f.outcome.status != Status::Pass);
    attention.sort_by_key(|f| match f.outcome.status {
        Status::Error => 0,
        Status::Fail => 1,
        Status::Candidate => 2,
        Status::Pass => 3,
    });
    let toc = attention
        .iter()
        .chain(&passed)
        .map(|f| {
            let o = &f.outcome;
            TocEntry { class: class(o.status), anchor: anchor(o), label: o.status.label(), key: o.key.to_string() }
        })
        .collect();
    // Ids are given in the order the page shows the images.
    let attention = attention.iter().map(|f| fixture_view(f, &mut ids)).collect();
    let passed = passed.iter().map(|f| passed_view(f, &mut ids)).collect();
    ReportView {
        headline,
        status: class(status),
        counts: counts(summary),
        environment: environment(summary),
        toc,
        attention,
        passed,
        version: env!("CARGO_PKG_VERSION"),
        baselines: summary.baselines.display().to_string(),
        started: summary.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

fn counts(s: &CheckSummary) -> Vec<Chip> {
    let t = &s.totals;
    let mut out = Vec::new();
    for (n, what, cls) in [
        (t.failed, "failed", "fail"),
        (t.errors, "error", "error"),
        (t.candidates_written, "candidate", "candidate"),
        (t.passed, "passed", "pass"),
    ] {
        let text = if cls == "error" || cls == "candidate" { plural(n, what) } else { format!("{n} {what}") };
        if n > 0 || cls == "pass" || cls == "fail" {
            out.push(Chip { class: if n == 0 { "zero" } else { cls }, text });
        }
    }
    out
}

fn environment(s: &CheckSummary) -> Vec<Field> {
    let e = &s.environment;
    let l = &s.limits;
    let field = |name, value| Field { name, value };
    vec![
        field("Chromium", e.chromium.clone()),
        field("PDFium", e.pdfium_build.clone()),
        field("Fonts", e.fonts_hash.get(..12).unwrap_or(&e.fonts_hash).to_string()),
        field("DPI", e.dpi.to_string()),
        field(
            "Limits",
            format!("{} px and {} per page, threshold {}", l.max_pixels, percent(l.max_ratio), l.threshold),
        ),
        field("Started", s.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        field("Took", seconds(s.duration_ms)),
        field("Mode", if s.update { "--update (candidates written)".to_string() } else { "check".to_string() }),
    ]
}

/// A section for a fixture that did not pass: reasons, tables, and its pages (those that
/// need attention at full size, the others as thumbnails).
fn fixture_view(f: &HtmlFixture, ids: &mut Ids) -> FixtureView {
    let o = &f.outcome;
    let tables = [
        Table {
            title: "Blocked requests",
            head: ["Type", "URL", "Why"],
            rows: o.blocked.iter().map(|b| [b.resource_type.clone(), b.url.clone(), b.reason.clone()]).collect(),
        },
        Table {
            title: "Font problems",
            head: ["Asked for", "Used", "Detail"],
            rows: o.font_problems.iter().map(|p| [p.requested.clone(), p.used.clone(), p.detail.clone()]).collect(),
        },
    ];
    let (focus, others): (Vec<&HtmlPage>, Vec<&HtmlPage>) = f.pages.iter().partition(|p| p.full_size);
    let shown = focus.into_iter().map(|page| page_block(o, page, ids)).collect();
    let thumbs = others.into_iter().map(|page| thumb(page, ids)).collect();
    FixtureView {
        reasons: o.reasons.iter().map(|r| r.to_string()).collect(),
        tables: tables.into_iter().filter(|t| !t.rows.is_empty()).collect(),
        shown,
        thumbs,
        ..section(o)
    }
}

/// A collapsed section for a fixture that passed: notes, details and thumbnails.
fn passed_view(f: &HtmlFixture, ids: &mut Ids) -> FixtureView {
    FixtureView { thumbs: f.pages.iter().map(|page| thumb(page, ids)).collect(), ..section(&f.outcome) }
}

/// What every fixture's section shows: its name, size, time, notes and details.
fn section(o: &FixtureOutcome) -> FixtureView {
    FixtureView {
        class: class(o.status),
        label: o.status.label(),
        anchor: anchor(o),
        key: o.key.to_string(),
        pages: plural(o.pages, "page"),
        time: seconds(o.duration_ms),
        reasons: Vec::new(),
        notes: o.notes.clone(),
        tables: Vec::new(),
        meta: details(o),
        shown: Vec::new(),
        thumbs: Vec::new(),
    }
}

fn details(o: &FixtureOutcome) -> Vec<Field> {
    let mut rows = vec![
        Field {
            name: "Timings",
            value: format!(
                "render {} ms · prove {} ms · compare {} ms · total {} ms",
                o.timings.render_ms, o.timings.prove_ms, o.timings.compare_ms, o.duration_ms
            ),
        },
        Field { name: "Fonts embedded", value: if o.fonts.is_empty() { "none".into() } else { o.fonts.join(", ") } },
    ];
    let baseline = match &o.baseline {
        Some(b) => {
            let approved = match (&b.approved_by, b.approved_at) {
                (Some(by), Some(at)) => format!(", approved by {by} on {}", at.format("%Y-%m-%d %H:%M UTC")),
                _ => String::new(),
            };
            format!(
                "{}, made {} by {}{approved}; Chromium {}, PDFium {}, {} DPI",
                plural(b.pages, "page"),
                b.created_at.format("%Y-%m-%d %H:%M UTC"),
                b.created_by,
                b.environment.chromium,
                b.environment.pdfium_build,
                b.environment.dpi
            )
        }
        None => "none".into(),
    };
    rows.push(Field { name: "Baseline", value: baseline });
    if !o.drift.is_empty() {
        rows.push(Field { name: "Environment drift", value: o.drift.join("; ") });
    }
    if let Some(c) = &o.candidate {
        rows.push(Field { name: "Candidate", value: c.display().to_string() });
    }
    rows
}

fn page_block(o: &FixtureOutcome, page: &HtmlPage, ids: &mut Ids) -> PageBlock {
    let n = page.page.number;
    let mut summary: Vec<String> = o.page_reasons(n).map(|r| r.message.clone()).collect();
    if summary.is_empty() {
        if let Some(v) = &page.page.verdict {
            summary.push(format!("{} pixels changed ({})", v.diff_pixels, percent(v.ratio)));
        }
    }
    // A fixture without any baseline: its reasons say so; show the candidate alone.
    let new_fixture = o.baseline.is_none() && page.baseline.is_none();
    let mut figures = Vec::new();
    let baseline =
        (!new_fixture).then(|| Figure::new("Baseline", page.baseline.as_ref(), "no baseline page", &[], ids));
    let candidate = Figure::new("Candidate", page.candidate.as_ref(), "not printed by this run", &[], ids);
    let overlay = baseline.as_ref().and_then(|b| Overlay::between(b, &candidate, n));
    figures.extend(baseline);
    figures.push(candidate);
    if !new_fixture {
        let regions = page.page.verdict.as_ref().map(|v| v.regions.as_slice()).unwrap_or_default();
        figures.push(Figure::new("Diff", page.diff.as_ref(), "no diff", regions, ids));
    }
    let text_diff = o.text_changes.iter().find(|t| t.page == n).map(|tc| {
        tc.diff
            .lines()
            .map(|line| {
                let class = if line.starts_with('+') {
                    "add"
                } else if line.starts_with('-') {
                    "del"
                } else {
                    ""
                };
                DiffLine { class, text: line.to_string() }
            })
            .collect()
    });
    PageBlock {
        anchor: format!("{}-p{n}", anchor(o)),
        number: n,
        summary: summary.join(" · "),
        figures,
        overlay,
        text_diff,
        files: page.page.files.clone(),
    }
}

fn thumb(page: &HtmlPage, ids: &mut Ids) -> Thumb {
    let note = match &page.page.verdict {
        Some(v) if v.diff_pixels > 0 => format!("{} px changed", v.diff_pixels),
        Some(_) => "identical".to_string(),
        None => String::new(),
    };
    let images = [("Baseline", &page.baseline), ("Candidate", &page.candidate), ("Diff", &page.diff)]
        .into_iter()
        .filter_map(|(caption, image)| {
            let image = image.as_ref()?;
            Some(ThumbImage { caption, id: ids.next_id(), src: image.src.clone() })
        })
        .collect();
    Thumb { number: page.page.number, note, images }
}

fn anchor(o: &FixtureOutcome) -> String {
    // Key halves are [A-Za-z0-9_-]: safe in an id as they are.
    format!("f-{}-{}", o.key.template(), o.key.fixture())
}

fn class(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Error => "error",
        Status::Candidate => "candidate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{BaselineInfo, Key};
    use crate::check::summary::{LimitsRecord, Reason, TextChange, Totals};
    use crate::fontcheck::FontProblem;
    use crate::pins::Environment;
    use crate::render::BlockedRequest;
    use crate::ui::hostile::{assert_only_escaped, payload};

    fn environment(label: &str) -> Environment {
        Environment {
            chromium: payload(&format!("{label}chromium")),
            pdfium_build: payload(&format!("{label}pdfium")),
            fonts_hash: "c0ffee".repeat(10),
            dpi: 150,
            fallback: None,
        }
    }

    fn page(number: usize, full_size: bool, src: &str) -> HtmlPage {
        let image = Some(Embedded { src: payload(src), width: 120, height: 170 });
        HtmlPage {
            page: ReportPageInfo { number, verdict: None, files: vec![payload("file")] },
            baseline: image.clone(),
            candidate: image,
            diff: None,
            full_size,
        }
    }

    #[test]
    fn every_field_of_a_report_is_escaped() {
        let at = "2026-01-02T03:04:05Z".parse().expect("a date");
        let mut failing = FixtureOutcome::new(Key::parse("invoice/basic").expect("a valid key"));
        failing.status = Status::Fail;
        failing.pages = 2;
        failing.reasons = vec![Reason::whole(payload("reason")), Reason::page(1, payload("page-reason"))];
        failing.notes = vec![payload("note")];
        failing.blocked =
            vec![BlockedRequest { url: payload("url"), reason: payload("why"), resource_type: payload("type") }];
        failing.font_problems =
            vec![FontProblem { requested: payload("asked"), used: payload("used"), detail: payload("detail") }];
        failing.fonts = vec![payload("font")];
        failing.baseline = Some(BaselineInfo {
            created_at: at,
            created_by: payload("created-by"),
            approved_at: Some(at),
            approved_by: Some(payload("approved-by")),
            environment: environment("baseline-"),
            pages: 2,
        });
        failing.drift = vec![payload("drift")];
        failing.candidate = Some(payload("candidate").into());
        failing.text_changes = vec![TextChange { page: 1, diff: format!("- old\n+ {}", payload("diff")) }];
        let mut passing = FixtureOutcome::new(Key::parse("letter/short").expect("a valid key"));
        passing.notes = vec![payload("pass-note")];
        passing.drift = vec![payload("pass-drift")];
        let fixtures = vec![failing, passing];
        let summary = CheckSummary {
            environment: environment(""),
            started_at: at,
            duration_ms: 1000,
            update: false,
            limits: LimitsRecord::from(&crate::compare::verdict::Limits::default()),
            baselines: payload("baselines").into(),
            totals: Totals::count(&fixtures),
            fixtures: fixtures.clone(),
        };
        let pages = [
            HtmlFixture { outcome: fixtures[0].clone(), pages: vec![page(1, true, "src"), page(2, false, "thumb")] },
            HtmlFixture { outcome: fixtures[1].clone(), pages: vec![page(1, false, "pass-thumb")] },
        ];

        let html = render(&summary, &pages).expect("the report renders");
        assert_only_escaped(
            &html,
            &[
                "chromium",
                "pdfium",
                "baselines",
                "reason",
                "page-reason",
                "note",
                "url",
                "why",
                "type",
                "asked",
                "used",
                "detail",
                "font",
                "created-by",
                "approved-by",
                "baseline-chromium",
                "baseline-pdfium",
                "drift",
                "candidate",
                "diff",
                "file",
                "src",
                "thumb",
                "pass-thumb",
                "pass-note",
                "pass-drift",
            ],
        );
    }
}
