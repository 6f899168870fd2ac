//! `manifest.json`: what a baseline (or candidate) directory holds and the environment
//! that made it. Also the file-naming rules shared by baselines, candidates and reports.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::compare::verdict::Verdict;
use crate::page_file;
use crate::pins::Environment;
use crate::routing::Renderer;

/// The manifest format written by this version.
pub const MANIFEST_FORMAT: u32 = 1;

/// `manifest.json` of a baseline or candidate directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`] at the time of writing.
    pub format: u32,
    pub template: String,
    pub fixture: String,
    /// The engine that printed the pages: baselines are kept per engine, and a baseline of
    /// one never judges the other's pixels. Written for the fallback's; a manifest without it
    /// is Chromium's (as every manifest written before engines were recorded), so Chromium's
    /// manifests keep their bytes.
    #[serde(default, skip_serializing_if = "Renderer::is_chromium")]
    pub engine: Renderer,
    /// One entry per page, in page order.
    pub pages: Vec<PageEntry>,
    /// The environment that rendered the pages.
    pub environment: Environment,
    /// When the pages were rendered (the `check --update` run), RFC 3339 UTC.
    pub created_at: DateTime<Utc>,
    /// Who ran `check --update`.
    pub created_by: String,
    /// When the candidate was approved into a baseline (`null` while it is a candidate).
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    /// Why it was approved.
    pub reason: Option<String>,
}

/// One page of a baseline or candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageEntry {
    /// 1-based page number.
    pub number: usize,
    /// File name of the page image (`page-001.png`).
    pub image: String,
    /// sha256 of the PNG file's bytes, lower-case hex.
    pub sha256: String,
    /// File name of the page's text layer (`page-001.txt`).
    pub text: String,
    /// sha256 of the text file's bytes.
    pub text_sha256: String,
    pub width: u32,
    pub height: u32,
}

/// `comparison.json` in a candidate directory: how the candidate compared with the baseline
/// it would replace. Absent when there was no baseline (a new fixture).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateVerdict {
    /// The baseline the candidate was compared with.
    pub baseline: BaselineInfo,
    /// Environment differences between that baseline and the candidate (`Environment::drift_from`).
    pub drift: Vec<String>,
    pub verdict: Verdict,
}

/// Who made a baseline, when, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineInfo {
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    pub environment: Environment,
    pub pages: usize,
}

impl From<&Manifest> for BaselineInfo {
    fn from(m: &Manifest) -> Self {
        BaselineInfo {
            created_at: m.created_at,
            created_by: m.created_by.clone(),
            approved_at: m.approved_at,
            approved_by: m.approved_by.clone(),
            environment: m.environment.clone(),
            pages: m.pages.len(),
        }
    }
}

/// Now, to the second (manifests and the audit log record whole seconds).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// `page-001.png`: a baseline's or candidate's page image.
pub fn page_image_name(number: usize) -> String {
    page_file::name("page", number, "png")
}

/// `page-001.txt`: its text layer.
pub fn page_text_name(number: usize) -> String {
    page_file::name("page", number, "txt")
}

/// `diff-001.png`: a candidate's diff with the baseline it was compared with.
pub fn diff_image_name(number: usize) -> String {
    page_file::name("diff", number, "png")
}

pub const MANIFEST_FILE: &str = "manifest.json";
/// How a candidate compared with its baseline ([`CandidateVerdict`]). A job's verdict is
/// `verdict.json`, another schema; candidates written before 2026-12 used that name too.
pub const COMPARISON_FILE: &str = "comparison.json";
/// The name [`COMPARISON_FILE`] had: still read, never written.
pub const LEGACY_COMPARISON_FILE: &str = "verdict.json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_to_the_second() {
        let json = serde_json::to_string(&now()).unwrap();
        // "2026-11-22T02:24:09Z"
        assert_eq!(json.len(), 22, "{json}");
        assert!(json.ends_with("Z\""), "{json}");
    }

    #[test]
    fn file_names_are_zero_padded() {
        assert_eq!(page_image_name(2), "page-002.png");
        assert_eq!(page_text_name(12), "page-012.txt");
        assert_eq!(diff_image_name(1000), "diff-1000.png");
    }
}
