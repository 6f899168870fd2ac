//! The files the review page may show, named so that nothing outside the baselines
//! directory or a job's artifacts can be reached: baseline and candidate page images
//! (`page-NNN.png`, `diff-NNN.png` under a validated `TEMPLATE/FIXTURE`) and a held job's
//! artifacts (a canonical job id and one plain file name).

use crate::baseline::{self, Key};
use crate::jobs::JobId;
use crate::jobs::JobStore;

/// Why a review file is not served.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    BadName(String),
    #[error("there is no such file: {0}")]
    NotFound(String),
    #[error("could not read {what}: {detail}")]
    Read { what: String, detail: String },
}

/// Where a baseline image comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The approved baseline (`TEMPLATE/FIXTURE/page-NNN.png`).
    Baseline,
    /// The candidate (`.candidates/TEMPLATE/FIXTURE/page-NNN.png` or `diff-NNN.png`).
    Candidate,
}

impl Source {
    pub fn parse(text: &str) -> Option<Source> {
        match text {
            "baselines" => Some(Source::Baseline),
            "candidates" => Some(Source::Candidate),
            _ => None,
        }
    }

    /// The path segment used in `/review/files/{source}/…`.
    pub fn segment(self) -> &'static str {
        match self {
            Source::Baseline => "baselines",
            Source::Candidate => "candidates",
        }
    }
}

/// `PREFIX-NNN.png` with a prefix from `prefixes` and at least three digits.
fn is_numbered_png(name: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| {
        name.strip_prefix(p)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(".png"))
            .is_some_and(|digits| digits.len() >= 3 && digits.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// A baseline or candidate image, if the names are valid and the file exists.
pub async fn baseline_image(
    store: &baseline::Store,
    source: Source,
    template: &str,
    fixture: &str,
    name: &str,
) -> Result<Vec<u8>, FileError> {
    let key = Key::new(template, fixture).map_err(|e| FileError::BadName(e.to_string()))?;
    let prefixes: &[&str] = match source {
        Source::Baseline => &["page"],
        Source::Candidate => &["page", "diff"],
    };
    if !is_numbered_png(name, prefixes) {
        return Err(FileError::BadName(format!(
            "{name:?} is not a page image: expected page-NNN.png{}",
            if source == Source::Candidate { " or diff-NNN.png" } else { "" }
        )));
    }
    let area = match source {
        Source::Baseline => baseline::Area::Baseline,
        Source::Candidate => baseline::Area::Candidate,
    };
    match store.read_file(area, &key, name).await {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(FileError::NotFound(format!("{} {key} has no {name}", source.segment()))),
        Err(e) => Err(FileError::Read { what: name.to_string(), detail: e.to_string() }),
    }
}

/// True for one plain artifact file name: `[A-Za-z0-9_-]+.(png|pdf|json)`.
pub fn is_artifact_name(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else { return false };
    baseline::is_valid_name(stem) && matches!(ext, "png" | "pdf" | "json")
}

/// A held job's artifact, read through the job store.
pub async fn job_artifact(jobs: &JobStore, id: &str, name: &str) -> Result<Vec<u8>, FileError> {
    let id = JobId::parse(id).map_err(|e| FileError::BadName(e.to_string()))?;
    if !is_artifact_name(name) {
        return Err(FileError::BadName(format!(
            "{name:?} is not an artifact name: one file name of letters, digits, '-' and '_' ending in .png, .pdf or .json"
        )));
    }
    let read =
        |e: crate::store::StoreError| FileError::Read { what: format!("job {id}'s {name}"), detail: e.to_string() };
    jobs.get_artifact(id, name)
        .await
        .map_err(read)?
        .ok_or_else(|| FileError::NotFound(format!("job {id} has no artifact {name}")))
}

/// The `Content-Type` of a review file.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, e)| e) {
        Some("png") => "image/png",
        Some("pdf") => "application/pdf",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Width and height from a PNG's header (`None` when it is not a PNG).
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&bytes[16..20]), be(&bytes[20..24])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_page_images_and_plain_artifacts() {
        for ok in ["page-001.png", "page-1234.png"] {
            assert!(is_numbered_png(ok, &["page"]), "{ok}");
        }
        for bad in ["page-01.png", "page-001.png/..", "../page-001.png", "page-001.txt", "diff-001.png", "page-00a.png"]
        {
            assert!(!is_numbered_png(bad, &["page"]), "{bad}");
        }
        assert!(
            is_artifact_name("candidate-001.png") && is_artifact_name("verdict.json") && is_artifact_name("held.pdf")
        );
        for bad in ["../job.json", "a/b.png", ".hidden.png", "x.sh", "job", "a..png", ""] {
            assert!(!is_artifact_name(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn refuses_names_that_leave_the_baselines_dir() {
        let dir = tempfile::tempdir().unwrap();
        let store = baseline::Store::new(dir.path());
        for (t, f, n) in [("..", "x", "page-001.png"), ("a", "..", "page-001.png"), ("a", "b", "../../x.png")] {
            assert!(matches!(baseline_image(&store, Source::Baseline, t, f, n).await, Err(FileError::BadName(_))));
        }
        assert!(matches!(
            baseline_image(&store, Source::Baseline, "a", "b", "page-001.png").await,
            Err(FileError::NotFound(_))
        ));
    }
}
