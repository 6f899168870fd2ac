//! `junit.xml`: one `<testsuite>` per template; per fixture, one `<testcase name="fixture">`
//! for the checks that concern the whole document (errors, fonts, blocked requests, page
//! count, missing baseline) and one `<testcase name="page-NNN">` per page, all with
//! `classname="TEMPLATE.FIXTURE"`. Failures carry the reason in `message` and details in
//! the body.

use std::fmt::Write;

use super::assess::percent;
use super::summary::{CheckSummary, FixtureOutcome, Reason, Status};
use super::xml::{attr, escape};
use crate::page_file;

/// The JUnit XML for a run.
pub fn render(summary: &CheckSummary) -> String {
    let mut suites: Vec<(&str, Vec<&FixtureOutcome>)> = Vec::new();
    for f in &summary.fixtures {
        match suites.iter_mut().find(|(t, _)| *t == f.key.template()) {
            Some((_, list)) => list.push(f),
            None => suites.push((f.key.template(), vec![f])),
        }
    }
    let mut body = String::new();
    let mut all = Counts::default();
    for (template, fixtures) in &suites {
        let mut cases = String::new();
        let mut counts = Counts::default();
        let mut seconds = 0.0;
        for f in fixtures {
            seconds += f.duration_ms as f64 / 1000.0;
            fixture_cases(f, &mut cases, &mut counts);
        }
        let _ = writeln!(
            body,
            r#"  <testsuite name="{}" tests="{}" failures="{}" errors="{}" skipped="{}" time="{seconds:.3}" timestamp="{}">"#,
            attr(template),
            counts.tests,
            counts.failures,
            counts.errors,
            counts.skipped,
            summary.started_at.format("%Y-%m-%dT%H:%M:%S"),
        );
        body.push_str(&cases);
        body.push_str("  </testsuite>\n");
        all.add(&counts);
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"pixelproof check\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n{body}</testsuites>\n",
        all.tests,
        all.failures,
        all.errors,
        all.skipped,
        summary.duration_ms as f64 / 1000.0
    )
}

#[derive(Default)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.tests += other.tests;
        self.failures += other.failures;
        self.errors += other.errors;
        self.skipped += other.skipped;
    }
}

/// What a testcase ends with.
enum Result<'a> {
    Pass,
    Failure { message: String, body: String },
    Error { message: String, body: String },
    Skipped(&'a str),
}

fn fixture_cases(f: &FixtureOutcome, out: &mut String, counts: &mut Counts) {
    let classname = format!("{}.{}", f.key.template(), f.key.fixture());
    let time = f.duration_ms as f64 / 1000.0;

    let fixture_reasons: Vec<&Reason> = f.fixture_reasons().collect();
    let result = if fixture_reasons.is_empty() {
        Result::Pass
    } else {
        let message = fixture_reasons.iter().map(|r| r.message.as_str()).collect::<Vec<_>>().join("; ");
        match f.status {
            Status::Error => Result::Error { message, body: fixture_details(f) },
            Status::Candidate => Result::Skipped("candidate written; waiting for review (pixelproof baseline list)"),
            _ => Result::Failure { message, body: fixture_details(f) },
        }
    };
    testcase(out, counts, "fixture", &classname, time, result);

    for number in 1..=f.page_span() {
        let reasons: Vec<&Reason> = f.page_reasons(number).collect();
        let result = if !reasons.is_empty() {
            let message =
                format!("page {number}: {}", reasons.iter().map(|r| r.message.as_str()).collect::<Vec<_>>().join("; "));
            match f.status {
                Status::Candidate => Result::Skipped("changed; candidate written, waiting for review"),
                _ => Result::Failure { message, body: page_details(f, number) },
            }
        } else if f.status == Status::Error || (f.verdict.is_none() && f.status != Status::Pass) {
            Result::Skipped("not compared (see the fixture testcase)")
        } else {
            Result::Pass
        };
        testcase(out, counts, &format!("page-{number:03}"), &classname, 0.0, result);
    }
}

fn testcase(out: &mut String, counts: &mut Counts, name: &str, classname: &str, time: f64, result: Result<'_>) {
    counts.tests += 1;
    let open = format!(r#"    <testcase name="{}" classname="{}" time="{time:.3}""#, attr(name), attr(classname));
    match result {
        Result::Pass => {
            let _ = writeln!(out, "{open}/>");
        }
        Result::Skipped(message) => {
            counts.skipped += 1;
            let _ = writeln!(out, "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>", attr(message));
        }
        Result::Failure { message, body } => {
            counts.failures += 1;
            element(out, &open, "failure", &message, &body);
        }
        Result::Error { message, body } => {
            counts.errors += 1;
            element(out, &open, "error", &message, &body);
        }
    }
}

fn element(out: &mut String, open: &str, tag: &str, message: &str, body: &str) {
    let _ = writeln!(
        out,
        "{open}>\n      <{tag} message=\"{}\" type=\"pixelproof\">{}</{tag}>\n    </testcase>",
        attr(message),
        escape(body)
    );
}

fn fixture_details(f: &FixtureOutcome) -> String {
    let mut s = String::new();
    for r in &f.reasons {
        let _ = writeln!(s, "- {r}");
    }
    if !f.blocked.is_empty() {
        let _ = writeln!(s, "\nBlocked requests:");
        for b in &f.blocked {
            let _ = writeln!(s, "  {} {} ({})", b.resource_type, b.url, b.reason);
        }
    }
    if !f.font_problems.is_empty() {
        let _ = writeln!(s, "\nFont problems:");
        for p in &f.font_problems {
            let _ = writeln!(s, "  asked for {:?}, got {:?}: {}", p.requested, p.used, p.detail);
        }
    }
    for n in &f.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

fn page_details(f: &FixtureOutcome, number: usize) -> String {
    let mut s = String::new();
    if let Some(pv) = f.verdict.as_ref().and_then(|v| v.pages.iter().find(|p| p.page == number)) {
        let _ = writeln!(s, "{} of {} pixels changed ({})", pv.diff_pixels, pv.total_pixels, percent(pv.ratio));
        for r in &pv.regions {
            let _ = writeln!(s, "  region at {},{} size {}x{}: {} pixels", r.x, r.y, r.width, r.height, r.pixels);
        }
    }
    if let Some(tc) = f.text_changes.iter().find(|t| t.page == number) {
        let _ = writeln!(s, "text layer changes:\n{}", tc.diff);
    }
    let prefix = format!("{}/{}", f.key.template(), f.key.fixture());
    let images: Vec<String> = ["baseline", "candidate", "diff"]
        .iter()
        .map(|kind| format!("{prefix}/{}", page_file::name(kind, number, "png")))
        .collect();
    let _ = writeln!(s, "images: {}", images.join(", "));
    s
}
