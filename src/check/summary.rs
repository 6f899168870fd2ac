//! What a check run found, as data: the outcome of each fixture and the run's totals.
//! Serialized as the report's `summary.json`; also the one-line forms printed while the
//! run goes (`PASS invoice/basic (3 pages, 1.2 s)`) and at its end.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::baseline::{BaselineInfo, Key};
use crate::compare::verdict::{Limits, Verdict};
use crate::fontcheck::FontProblem;
use crate::pins::Environment;
use crate::render::BlockedRequest;

/// How a fixture came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Rendered cleanly and matches its baseline.
    Pass,
    /// A regression: differs from its baseline, has no baseline, font problems, blocked
    /// requests, or a template that does not render.
    Fail,
    /// The check could not decide (the engine failed on it, its baseline is unreadable,
    /// a file could not be written).
    Error,
    /// `--update`: it is new or differs, and a candidate was written for review.
    Candidate,
}

impl Status {
    /// The word the progress lines and the report use.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
            Status::Candidate => "CANDIDATE",
        }
    }
}

/// Why a fixture did not pass: the verdict's own type (`page` is set when the reason belongs to
/// one page; [`Reason::whole`] is the fixture's). Serialised as `{"page", "message"}` here.
pub use crate::compare::verdict::Reason;

/// Where a fixture's time went, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Chromium: from acquiring a browser to having the PDF.
    pub render_ms: u64,
    /// The whole proof: template, render, raster, font check.
    pub prove_ms: u64,
    /// Loading the baseline, judging, writing the candidate.
    pub compare_ms: u64,
}

/// How a page's text layer changed, as changed lines (`- old`, `+ new`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextChange {
    pub page: usize,
    pub diff: String,
}

/// One fixture's outcome: an entry of `summary.json`'s `fixtures`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixtureOutcome {
    pub key: Key,
    pub status: Status,
    /// Pages rendered now (0 when rendering failed).
    pub pages: usize,
    /// Pages in the baseline, when there is one.
    pub baseline_pages: Option<usize>,
    /// Why it did not pass (empty for a pass).
    pub reasons: Vec<Reason>,
    /// Worth knowing, but not failing it: changes within the limits, allowed drift,
    /// font warnings, where the candidate went.
    pub notes: Vec<String>,
    pub verdict: Option<Verdict>,
    /// Requests the document made that were refused.
    pub blocked: Vec<BlockedRequest>,
    pub font_problems: Vec<FontProblem>,
    /// Fonts embedded in the PDF.
    pub fonts: Vec<String>,
    pub text_changes: Vec<TextChange>,
    /// The baseline it was compared with.
    pub baseline: Option<BaselineInfo>,
    /// What differs between the baseline's environment and this run's.
    pub drift: Vec<String>,
    /// The candidate written by `--update`.
    pub candidate: Option<PathBuf>,
    pub timings: Timings,
    /// Wall time for the whole fixture.
    pub duration_ms: u64,
}

impl FixtureOutcome {
    /// An outcome with nothing found yet.
    pub fn new(key: Key) -> FixtureOutcome {
        FixtureOutcome {
            key,
            status: Status::Pass,
            pages: 0,
            baseline_pages: None,
            reasons: Vec::new(),
            notes: Vec::new(),
            verdict: None,
            blocked: Vec::new(),
            font_problems: Vec::new(),
            fonts: Vec::new(),
            text_changes: Vec::new(),
            baseline: None,
            drift: Vec::new(),
            candidate: None,
            timings: Timings::default(),
            duration_ms: 0,
        }
    }

    /// Reasons that belong to the fixture as a whole, not to one page.
    pub fn fixture_reasons(&self) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(|r| r.page.is_none())
    }

    /// Reasons that belong to page `number`.
    pub fn page_reasons(&self, number: usize) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(move |r| r.page == Some(number))
    }

    /// Pages to show: the larger of the rendered and baseline page counts.
    pub fn page_span(&self) -> usize {
        self.pages.max(self.baseline_pages.unwrap_or(0))
    }

    /// The progress line: `PASS invoice/basic (3 pages, 1.2 s)`,
    /// `FAIL report/quarterly: page 2: 512 pixels changed … (2 pages, 0.9 s)`.
    pub fn line(&self) -> String {
        let what = format!("({}, {})", plural(self.pages, "page"), seconds(self.duration_ms));
        if self.reasons.is_empty() {
            return format!("{} {} {what}", self.status.label(), self.key);
        }
        const SHOWN: usize = 2;
        let mut reasons = self.reasons.iter().take(SHOWN).map(Reason::to_string).collect::<Vec<_>>().join("; ");
        if self.reasons.len() > SHOWN {
            reasons.push_str(&format!("; and {} more", self.reasons.len() - SHOWN));
        }
        format!("{} {}: {reasons} {what}", self.status.label(), self.key)
    }
}

/// Counts over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub fixtures: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub candidates_written: usize,
}

impl Totals {
    pub fn count(outcomes: &[FixtureOutcome]) -> Totals {
        let n = |s: Status| outcomes.iter().filter(|o| o.status == s).count();
        Totals {
            fixtures: outcomes.len(),
            passed: n(Status::Pass),
            failed: n(Status::Fail),
            errors: n(Status::Error),
            candidates_written: n(Status::Candidate),
        }
    }
}

/// The limits the run judged with, as recorded in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitsRecord {
    pub max_pixels: u64,
    pub max_ratio: f64,
    pub threshold: f64,
    pub include_aa: bool,
}

impl From<&Limits> for LimitsRecord {
    fn from(l: &Limits) -> Self {
        LimitsRecord {
            max_pixels: l.max_pixels,
            max_ratio: l.max_ratio,
            threshold: l.pixelmatch.threshold,
            include_aa: l.pixelmatch.include_aa,
        }
    }
}

/// `summary.json`: the whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// The environment this run rendered in.
    pub environment: Environment,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// True for `check --update`.
    pub update: bool,
    pub limits: LimitsRecord,
    pub baselines: PathBuf,
    pub totals: Totals,
    pub fixtures: Vec<FixtureOutcome>,
}

/// Exit code for "something differs / regressed" (every command uses the same codes).
pub const EXIT_DIFFERENT: u8 = 1;
/// Exit code for bad usage, bad input or a broken environment.
pub const EXIT_ERROR: u8 = 2;

impl CheckSummary {
    /// 0 when everything passed (or, with `--update`, became a candidate); 1 for any
    /// failure; 2 when any fixture could not be checked.
    pub fn exit_code(&self) -> u8 {
        if self.totals.errors > 0 {
            EXIT_ERROR
        } else if self.totals.failed > 0 {
            EXIT_DIFFERENT
        } else {
            0
        }
    }

    /// The final line: `3 fixtures: 2 passed, 1 failed, 0 errors, 0 candidates written (4.2 s)`.
    pub fn line(&self) -> String {
        let t = &self.totals;
        let mut parts = vec![format!("{} passed", t.passed), format!("{} failed", t.failed)];
        parts.push(plural(t.errors, "error"));
        if self.update || t.candidates_written > 0 {
            parts.push(format!("{} written", plural(t.candidates_written, "candidate")));
        }
        format!("{}: {} ({})", plural(t.fixtures, "fixture"), parts.join(", "), seconds(self.duration_ms))
    }
}

/// `1 page`, `3 pages`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `1.2 s`
pub fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}
