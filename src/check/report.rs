//! The report directory of a check run:
//!
//! ```text
//! REPORT/index.html                          self-contained HTML report
//! REPORT/junit.xml                           one testsuite per template
//! REPORT/summary.json                        `CheckSummary`
//! REPORT/TEMPLATE/FIXTURE/candidate-NNN.png  for fixtures that did not pass:
//! REPORT/TEMPLATE/FIXTURE/baseline-NNN.png   the pages as PNG files, for CI artifacts
//! REPORT/TEMPLATE/FIXTURE/diff-NNN.png
//! ```
//!
//! The directory is recreated on every run; one that does not look like a report (no
//! `summary.json` or marker file) and is not empty is never deleted.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use image::RgbaImage;

use super::assess::ReportPage;
use super::html::{self, HtmlFixture, HtmlPage, ReportPageInfo};
use super::summary::{CheckSummary, FixtureOutcome, Status};
use crate::baseline::png;
use crate::page_file;
use crate::ui::{Embedded, UiError};

/// Written first into a new report directory, so an interrupted run's directory is
/// still recognised as a report.
pub const MARKER_FILE: &str = ".pixelproof-report";
pub const SUMMARY_FILE: &str = "summary.json";
pub const JUNIT_FILE: &str = "junit.xml";
pub const INDEX_FILE: &str = "index.html";

/// Width of the downscaled page images embedded for pages that passed.
pub const THUMBNAIL_WIDTH: u32 = 360;

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{dir} is not empty and does not look like a pixelproof report (it has no {SUMMARY_FILE}); refusing to delete it. Pass another --report directory, or empty it yourself")]
    NotAReport { dir: PathBuf },
    #[error("could not write the report at {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("could not encode {what} as PNG: {detail}")]
    Encode { what: String, detail: String },
    #[error("could not write {path}: {source}")]
    Page { path: PathBuf, source: UiError },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io { path: path.to_path_buf(), source }
}

/// Ok when `dir` may be deleted and recreated: it does not exist, is empty, or is a report.
pub fn check_replaceable(dir: &Path) -> Result<(), ReportError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(ReportError::NotAReport { dir: dir.to_path_buf() })
        }
        Err(source) => return Err(ReportError::Io { path: dir.to_path_buf(), source }),
    };
    if entries.count() == 0 || dir.join(MARKER_FILE).is_file() || looks_like_summary(&dir.join(SUMMARY_FILE)) {
        Ok(())
    } else {
        Err(ReportError::NotAReport { dir: dir.to_path_buf() })
    }
}

fn looks_like_summary(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else { return false };
    value.get("totals").is_some() && value.get("fixtures").is_some()
}

/// Writes a report as the run goes: page images per fixture, then the index, JUnit XML
/// and summary at the end.
pub struct ReportWriter {
    dir: PathBuf,
    fixtures: Vec<HtmlFixture>,
}

impl ReportWriter {
    /// Deletes and recreates `dir` (see [`check_replaceable`]).
    pub fn create(dir: &Path) -> Result<ReportWriter, ReportError> {
        check_replaceable(dir)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io_err(dir))?;
        }
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let marker = dir.join(MARKER_FILE);
        std::fs::write(&marker, "This directory is a pixelproof check report; each run deletes and recreates it.\n")
            .map_err(io_err(&marker))?;
        Ok(ReportWriter { dir: dir.to_path_buf(), fixtures: Vec::new() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds one fixture. For a fixture that did not pass, its pages are written as PNG
    /// files and the pages that need attention are embedded at full size; other pages are
    /// embedded downscaled.
    pub fn add(&mut self, outcome: &FixtureOutcome, pages: &[ReportPage]) -> Result<(), ReportError> {
        let attention = outcome.status != Status::Pass;
        let rel_dir = format!("{}/{}", outcome.key.template(), outcome.key.fixture());
        if attention && !pages.is_empty() {
            let dir = self.dir.join(outcome.key.template()).join(outcome.key.fixture());
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let mut html_pages = Vec::with_capacity(pages.len());
        for page in pages {
            let full_size = attention && page_needs_attention(outcome, page);
            let changed = page.verdict.as_ref().is_none_or(|v| v.diff_pixels > 0 || v.size_changed);
            let mut files = Vec::new();
            let mut embed = |kind: &str, image: Option<&RgbaImage>, wanted: bool| -> Result<_, ReportError> {
                let Some(image) = image else { return Ok(None) };
                let name = format!("{rel_dir}/{}", page_file::name(kind, page.number, "png"));
                let what = || format!("{kind} page {} of {}", page.number, outcome.key);
                let full = if attention { Some(encode(image, &what)?) } else { None };
                if let Some(bytes) = &full {
                    let path = self.dir.join(&name);
                    std::fs::write(&path, bytes).map_err(io_err(&path))?;
                    files.push(name);
                }
                if !wanted {
                    return Ok(None);
                }
                let bytes = match (full, full_size) {
                    (Some(bytes), true) => bytes,
                    _ => encode(&thumbnail(image), &what)?,
                };
                Ok(Some(Embedded { src: data_uri(&bytes), width: image.width(), height: image.height() }))
            };
            // A passing page without any change: the candidate alone says it all.
            let candidate = embed("candidate", page.candidate.as_ref(), true)?;
            let baseline = embed("baseline", page.baseline.as_ref(), full_size || changed || candidate.is_none())?;
            let diff = embed("diff", page.diff.as_ref(), full_size || changed)?;
            html_pages.push(HtmlPage {
                page: ReportPageInfo { number: page.number, verdict: page.verdict.clone(), files },
                baseline,
                candidate,
                diff,
                full_size,
            });
        }
        self.fixtures.push(HtmlFixture { outcome: outcome.clone(), pages: html_pages });
        Ok(())
    }

    /// Writes `summary.json`, `junit.xml` and `index.html`; returns the index's path.
    pub fn finish(self, summary: &CheckSummary) -> Result<PathBuf, ReportError> {
        let path = self.dir.join(SUMMARY_FILE);
        let json = serde_json::to_string_pretty(summary)
            .map_err(|e| ReportError::Io { path: path.clone(), source: e.into() })?;
        std::fs::write(&path, json + "\n").map_err(io_err(&path))?;
        let path = self.dir.join(JUNIT_FILE);
        std::fs::write(&path, super::junit::render(summary)).map_err(io_err(&path))?;
        let path = self.dir.join(INDEX_FILE);
        let page =
            html::render(summary, &self.fixtures).map_err(|source| ReportError::Page { path: path.clone(), source })?;
        std::fs::write(&path, page).map_err(io_err(&path))?;
        Ok(path)
    }
}

/// Writes a whole report at once from outcomes already decided: `pages[i]` belongs to
/// `summary.fixtures[i]`. Returns the index's path.
pub fn write_report(dir: &Path, summary: &CheckSummary, pages: &[Vec<ReportPage>]) -> Result<PathBuf, ReportError> {
    let mut writer = ReportWriter::create(dir)?;
    for (i, outcome) in summary.fixtures.iter().enumerate() {
        writer.add(outcome, pages.get(i).map(Vec::as_slice).unwrap_or_default())?;
    }
    writer.finish(summary)
}

/// A page needs attention when it has a reason of its own, or when its fixture failed
/// without any page-level reason (no baseline, render error: every page matters).
fn page_needs_attention(outcome: &FixtureOutcome, page: &ReportPage) -> bool {
    let has_page_reasons = outcome.reasons.iter().any(|r| r.page.is_some());
    outcome.page_reasons(page.number).next().is_some() || !has_page_reasons
}

fn encode(image: &RgbaImage, what: &dyn Fn() -> String) -> Result<Vec<u8>, ReportError> {
    png::encode(image).map_err(|e| ReportError::Encode { what: what(), detail: e.to_string() })
}

fn thumbnail(image: &RgbaImage) -> RgbaImage {
    if image.width() <= THUMBNAIL_WIDTH {
        return image.clone();
    }
    let height = ((image.height() as u64 * THUMBNAIL_WIDTH as u64) / image.width().max(1) as u64).max(1) as u32;
    image::imageops::resize(image, THUMBNAIL_WIDTH, height, image::imageops::FilterType::Triangle)
}

fn data_uri(png: &[u8]) -> String {
    format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png))
}
