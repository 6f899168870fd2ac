//! The check report's page (`index.html` of a check run, `templates/report.html`): what
//! the page shows, as plain data. `check::html` fills a [`ReportView`] from a run's summary
//! and its page images; everything in it is text, escaped by the template.

use serde::Serialize;

use super::{Figure, Overlay, UiError};

/// The whole report page.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    /// What the run found (`2 of 4 fixtures failed`), also the page's title.
    pub headline: String,
    /// The headline's class: `pass`, `fail`, `error` or `candidate`.
    pub status: &'static str,
    pub counts: Vec<Chip>,
    /// The run's environment, limits and timing, one field each.
    pub environment: Vec<Field>,
    /// Links to every fixture, in the order the page shows them.
    pub toc: Vec<TocEntry>,
    /// Fixtures that did not pass, shown expanded.
    pub attention: Vec<FixtureView>,
    /// Fixtures that passed, shown collapsed with thumbnails.
    pub passed: Vec<FixtureView>,
    /// The pixelproof version that wrote the report.
    pub version: &'static str,
    /// The baselines directory.
    pub baselines: String,
    pub started: String,
}

/// A count in the header (`1 failed`), with its class.
#[derive(Debug, Clone, Serialize)]
pub struct Chip {
    pub class: &'static str,
    pub text: String,
}

/// A name and its value (`Chromium`: `156.0…`).
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TocEntry {
    pub class: &'static str,
    /// The fixture's element id.
    pub anchor: String,
    pub label: &'static str,
    pub key: String,
}

/// One fixture's section.
#[derive(Debug, Clone, Serialize)]
pub struct FixtureView {
    /// The status's class (`fail`…) and label (`FAIL`…).
    pub class: &'static str,
    pub label: &'static str,
    /// The element id, safe as it is: `f-TEMPLATE-FIXTURE`.
    pub anchor: String,
    pub key: String,
    /// `2 pages`.
    pub pages: String,
    /// `1.2 s`.
    pub time: String,
    pub reasons: Vec<String>,
    pub notes: Vec<String>,
    /// Blocked requests and font problems; only tables with rows.
    pub tables: Vec<Table>,
    /// Timings, fonts, baseline, drift, candidate.
    pub meta: Vec<Field>,
    /// Pages shown at full size with their figures.
    pub shown: Vec<PageBlock>,
    /// The other pages, as thumbnails.
    pub thumbs: Vec<Thumb>,
}

/// A titled table with three columns; the middle one is shown as a URL.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub title: &'static str,
    pub head: [&'static str; 3],
    pub rows: Vec<[String; 3]>,
}

/// One page at full size.
#[derive(Debug, Clone, Serialize)]
pub struct PageBlock {
    /// The element id (`f-TEMPLATE-FIXTURE-pN`).
    pub anchor: String,
    pub number: usize,
    /// Why it needs attention, or how much changed.
    pub summary: String,
    pub figures: Vec<Figure>,
    pub overlay: Option<Overlay>,
    /// The text layer's changed lines, when it changed.
    pub text_diff: Option<Vec<DiffLine>>,
    /// The page's PNG files, relative to the report.
    pub files: Vec<String>,
}

/// A line of a text-layer diff and its class: `add`, `del` or empty.
#[derive(Debug, Clone, Serialize)]
pub struct DiffLine {
    pub class: &'static str,
    pub text: String,
}

/// A downscaled page: its images side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Thumb {
    pub number: usize,
    /// `12 px changed`, `identical` or empty.
    pub note: String,
    pub images: Vec<ThumbImage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThumbImage {
    pub caption: &'static str,
    pub id: String,
    pub src: String,
}

/// The page for `view`.
pub fn render(view: &ReportView) -> Result<String, UiError> {
    super::render("report.html", view)
}
