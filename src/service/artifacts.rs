//! What a *held* job leaves for the review page, under `jobs/{id}/artifacts/`:
//!
//! ```text
//! verdict.json            the job's verdict (every attempt's rules, the pixel verdict)
//! held.pdf                the PDF of the last attempt (never served to the submitter)
//! chromium-NNN.png        each page of the Chromium attempt (NNN = 001, 002, …; jobs held
//!                         before 2026-12 have these as candidate-NNN.png)
//! baseline-NNN.png        the baseline's pages, when a baseline was compared
//! diff-NNN.png            pixelmatch's diff image per compared page
//! fallback-NNN.png        each page of the fallback attempt, when the fallback ran
//! fallback-baseline-NNN.png, fallback-diff-NNN.png
//!                         the fallback baseline's pages and diffs, when one was compared
//! ```
//!
//! Every job (held or not) gets `verdict.json`. PNGs use `baseline::png` (same pixels,
//! same bytes).

use image::RgbaImage;

use crate::baseline::Baseline;
use crate::jobs::JobId;
use crate::jobs::JobStore;
use crate::page_file;
use crate::routing::Renderer;
use crate::store::StoreError;

/// Name of the verdict artifact.
pub const VERDICT: &str = "verdict.json";
/// Name of a held job's PDF artifact.
pub const HELD_PDF: &str = "held.pdf";

/// The images of one attempt to keep.
pub struct Pages<'a> {
    /// The engine of the attempt: it names the files (`chromium-…` for Chromium,
    /// `fallback-…` for the fallback, see [`page_name`]).
    pub engine: Renderer,
    pub candidate: Vec<&'a RgbaImage>,
    pub baseline: Option<&'a Baseline>,
    pub diffs: &'a [Option<RgbaImage>],
}

fn png(image: &RgbaImage, name: &str) -> Result<Vec<u8>, StoreError> {
    crate::baseline::png::encode(image).map_err(|e| StoreError::Corrupt {
        key: name.to_string(),
        what: "a PNG image",
        detail: e.to_string(),
    })
}

/// Which image of a held job's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageImage {
    /// The page the engine printed.
    Printed,
    /// That engine's baseline page.
    Baseline,
    /// pixelmatch's diff of the two.
    Diff,
}

/// The one place a held job's page artifacts are named: `chromium-001.png`,
/// `baseline-001.png`, `diff-001.png` for Chromium; `fallback-001.png`,
/// `fallback-baseline-001.png`, `fallback-diff-001.png` for the fallback.
pub fn page_name(engine: Renderer, image: PageImage, number: usize) -> String {
    let stem = match (engine, image) {
        (Renderer::Chromium, PageImage::Printed) => "chromium",
        (Renderer::Chromium, PageImage::Baseline) => "baseline",
        (Renderer::Chromium, PageImage::Diff) => "diff",
        (Renderer::Fallback, PageImage::Printed) => "fallback",
        (Renderer::Fallback, PageImage::Baseline) => "fallback-baseline",
        (Renderer::Fallback, PageImage::Diff) => "fallback-diff",
    };
    page_file::name(stem, number, "png")
}

/// What Chromium's printed pages were named before they were told apart from baseline
/// candidates (jobs held before 2026-12): the review page still shows them.
pub fn legacy_chromium_page_name(number: usize) -> String {
    page_file::name(LEGACY_CHROMIUM_STEM, number, "png")
}

const LEGACY_CHROMIUM_STEM: &str = "candidate";

/// The number of pages a held job's artifacts show: the highest page printed by either
/// engine (under its current or its old name).
pub fn printed_pages(artifacts: &[String]) -> usize {
    artifacts
        .iter()
        .filter_map(|a| page_file::parse(a))
        .filter(|(stem, _, ext)| *ext == "png" && matches!(*stem, "chromium" | "fallback" | LEGACY_CHROMIUM_STEM))
        .map(|(_, n, _)| n)
        .max()
        .unwrap_or(0)
}

/// Encodes the pages (on a blocking thread: PNG encoding is slow) and stores them.
pub async fn store_pages(jobs: &JobStore, id: JobId, pages: Pages<'_>) -> Result<Vec<String>, StoreError> {
    let mut images: Vec<(String, RgbaImage)> = Vec::new();
    for (i, img) in pages.candidate.iter().enumerate() {
        images.push((page_name(pages.engine, PageImage::Printed, i + 1), (*img).clone()));
    }
    if let Some(b) = pages.baseline {
        for (i, p) in b.pages.iter().enumerate() {
            images.push((page_name(pages.engine, PageImage::Baseline, i + 1), p.image.clone()));
        }
        for (i, d) in pages.diffs.iter().enumerate() {
            if let Some(d) = d {
                images.push((page_name(pages.engine, PageImage::Diff, i + 1), d.clone()));
            }
        }
    }
    let encoded = tokio::task::spawn_blocking(move || {
        images.into_iter().map(|(name, img)| png(&img, &name).map(|bytes| (name, bytes))).collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| StoreError::Unavailable { detail: format!("the PNG encoding task stopped: {e}") })??;
    let mut names = Vec::with_capacity(encoded.len());
    for (name, bytes) in encoded {
        jobs.put_artifact(id, &name, bytes).await?;
        names.push(name);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_pages_are_counted_under_new_and_old_names() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(page_name(Renderer::Chromium, PageImage::Printed, 2), "chromium-002.png");
        assert_eq!(page_name(Renderer::Fallback, PageImage::Diff, 1), "fallback-diff-001.png");
        assert_eq!(printed_pages(&names(&["chromium-001.png", "chromium-002.png", "diff-003.png", "held.pdf"])), 2);
        assert_eq!(printed_pages(&names(&["candidate-001.png", "fallback-004.png", VERDICT])), 4);
        assert_eq!(legacy_chromium_page_name(1), "candidate-001.png");
        assert_eq!(printed_pages(&names(&["baseline-009.png", "fallback-baseline-009.png"])), 0);
    }
}
