//! The verdict rule: does a candidate page set match its baseline?
//!
//! Fail if the page count differs, if any page's text layer differs, or if a page's
//! changed pixels exceed both the absolute and the relative limit.
//! SKELETON: being written; see issue 2.

use image::RgbaImage;
use serde::{Deserialize, Serialize};

use super::pixelmatch::Options;
use super::regions::Region;

/// When does a page fail? Both limits must be exceeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Changed pixels a page may have. Default 100.
    pub max_pixels: u64,
    /// Fraction of the page's pixels that may change. Default 0.0005 (0.05 %).
    pub max_ratio: f64,
    /// pixelmatch options used for each page.
    pub pixelmatch: Options,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_pixels: 100, max_ratio: 0.0005, pixelmatch: Options::default() }
    }
}

/// One page as the verdict sees it.
#[derive(Debug, Clone, Copy)]
pub struct PageInput<'a> {
    pub image: &'a RgbaImage,
    pub text: &'a str,
}

/// The verdict for one page present in both sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageVerdict {
    /// 1-based page number.
    pub page: usize,
    pub diff_pixels: u64,
    pub total_pixels: u64,
    /// diff_pixels / total_pixels.
    pub ratio: f64,
    pub regions: Vec<Region>,
    pub text_changed: bool,
    /// The two rasters have different sizes (paper size changed): the page fails.
    pub size_changed: bool,
    pub passed: bool,
}

/// The verdict for a whole page set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    pub baseline_pages: usize,
    pub candidate_pages: usize,
    pub pages: Vec<PageVerdict>,
    /// Human-readable reasons for a failure, one per problem ("page 2: 512 pixels changed (0.02 %)").
    pub reasons: Vec<String>,
}

/// Compares every page; returns the verdict and, per compared page, the diff image
/// (when `diff_images` is true).
pub fn judge(
    _baseline: &[PageInput<'_>],
    _candidate: &[PageInput<'_>],
    _limits: &Limits,
    _diff_images: bool,
) -> (Verdict, Vec<Option<RgbaImage>>) {
    todo!("verdict rule")
}
