//! Multipart uploads (`multipart/form-data`): the one reader of a form's parts, with names
//! and sizes checked as the bytes arrive, for every route that takes files:
//! `POST /forms/chromium/convert/html` (Gotenberg's form) and `POST /v1/render` / `POST
//! /v1/jobs` (a `job` part with the JSON body, plus files as its assets).
//!
//! A part with a file name is a file, known by that name; a part without one is a field,
//! known by its part name. A file name must be a plain name (no `/`, `\`, `..`), as the
//! document sees every file at the root of its origin; each problem names the part.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use base64::Engine as _;

use super::problem::{ApiJson, Problem};
use super::AppState;
use crate::request::{JobRequest, Limits};

/// The parts of a form, read whole.
#[derive(Debug, Default)]
pub struct Form {
    /// Parts without a file name, by part name, in the order sent.
    pub fields: Vec<(String, String)>,
    /// Files by file name.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The part names files were sent as (`files` in Gotenberg's docs).
    pub file_parts: BTreeSet<String>,
}

/// What the limits of one upload are: HTML files by `max_html_bytes`, the other files
/// together by `max_asset_bytes`, each field by `max_field_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub max_html_bytes: usize,
    pub max_asset_bytes: usize,
    pub max_field_bytes: usize,
}

impl UploadLimits {
    pub fn new(limits: &Limits, max_body_bytes: usize) -> UploadLimits {
        UploadLimits {
            max_html_bytes: limits.max_html_bytes,
            max_asset_bytes: limits.max_asset_bytes,
            max_field_bytes: max_body_bytes,
        }
    }
}

/// Why a form could not be read. Each names the part.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the form could not be read: {0}")]
    Unreadable(String),
    #[error("part {part:?} has the file name {name:?}; a file name must be a plain name like \"logo.png\" (no '/', '\\', \"..\", control characters)")]
    FileName { part: String, name: String },
    #[error("a part has no name; send every part as `name=…` (curl: -F name=value, -F files=@file)")]
    NoPartName,
    #[error("the file {0:?} is sent twice; send each file once")]
    Duplicate(String),
    #[error("part {part:?} is over the limit: {what} may be {limit} bytes ({flag})")]
    TooLarge { part: String, what: &'static str, limit: usize, flag: &'static str },
    #[error("field {0:?} is not UTF-8 text")]
    NotText(String),
}

impl From<UploadError> for Problem {
    fn from(e: UploadError) -> Problem {
        let (status, kind) = match &e {
            UploadError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
            _ => (StatusCode::BAD_REQUEST, "invalid-form"),
        };
        Problem::new(status, kind, "The form cannot be used as sent", e.to_string())
    }
}

fn multipart_error(e: MultipartError) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "The body is too large",
            "the request body is larger than the server's limit (--max-body-bytes)",
        );
    }
    UploadError::Unreadable(e.body_text()).into()
}

impl From<MultipartRejection> for Problem {
    fn from(r: MultipartRejection) -> Problem {
        let detail = format!(
            "{}; send the body as multipart/form-data (curl: -F files=@index.html -F name=value)",
            r.body_text()
        );
        Problem::new(r.status(), "invalid-form", "The body is not a multipart form", detail)
    }
}

/// Whether a file is HTML (limited like a job's `html`) rather than an asset.
fn is_html(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".html") || lower.ends_with(".htm")
}

/// Reads every part of the form, refusing bad names and parts over the limits as they come.
pub async fn read(mut multipart: Multipart, limits: UploadLimits) -> Result<Form, Problem> {
    let mut form = Form::default();
    let mut asset_bytes = 0usize;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let part = field.name().ok_or(UploadError::NoPartName)?.to_string();
        match field.file_name().map(str::to_string) {
            Some(name) => {
                if !plain_file_name(&name) {
                    return Err(UploadError::FileName { part, name }.into());
                }
                form.file_parts.insert(part);
                let (limit, what, flag) = if is_html(&name) {
                    (limits.max_html_bytes, "an HTML file", "--max-html-bytes")
                } else {
                    (limits.max_asset_bytes.saturating_sub(asset_bytes), "all assets together", "--max-asset-bytes")
                };
                let bytes = read_part(field, limit).await?.ok_or_else(|| UploadError::TooLarge {
                    part: name.clone(),
                    what,
                    limit: if is_html(&name) { limit } else { limits.max_asset_bytes },
                    flag,
                })?;
                if !is_html(&name) {
                    asset_bytes += bytes.len();
                }
                if form.files.insert(name.clone(), bytes).is_some() {
                    return Err(UploadError::Duplicate(name).into());
                }
            }
            None => {
                let limit = limits.max_field_bytes;
                let bytes = read_part(field, limit).await?.ok_or_else(|| UploadError::TooLarge {
                    part: part.clone(),
                    what: "a field",
                    limit,
                    flag: "--max-body-bytes",
                })?;
                let text = String::from_utf8(bytes).map_err(|_| UploadError::NotText(part.clone()))?;
                form.fields.push((part, text));
            }
        }
    }
    Ok(form)
}

/// The part's bytes, or `None` as soon as they pass `limit`.
async fn read_part(mut field: Field<'_>, limit: usize) -> Result<Option<Vec<u8>>, Problem> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > limit {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

/// A name a file can have at the root of a document's origin: no separators, no `..`, no
/// control characters, not empty.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
        && crate::document::safe_relative_path(name).is_some_and(|p| p.to_str() == Some(name))
}

/// A job as `POST /v1/render` and `POST /v1/jobs` take it: a JSON body, or a multipart form
/// with the JSON in a part named `job` and files as its assets (by file name).
pub struct JobInput(pub JobRequest);

/// The part of a multipart job that holds its JSON.
pub const JOB_PART: &str = "job";

impl FromRequest<AppState> for JobInput {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Problem> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
        if !multipart {
            return ApiJson::<JobRequest>::from_request(req, state).await.map(|ApiJson(job)| JobInput(job));
        }
        // HTML and assets are checked again, by the same limits, when the job becomes a document.
        let limits = UploadLimits::new(&state.config.app.limits, state.config.max_body_bytes);
        let multipart = Multipart::from_request(req, state).await?;
        job_from_form(read(multipart, limits).await?).map(JobInput)
    }
}

/// The job of a multipart form: the `job` part, with the files as assets.
pub fn job_from_form(form: Form) -> Result<JobRequest, Problem> {
    let bad = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "invalid-form", "The form is not a job", detail);
    let mut job = None;
    for (name, text) in form.fields {
        if name != JOB_PART {
            return Err(bad(format!(
                "unknown field {name:?}: a multipart job is a part named \"job\" (the JSON body) and files (its assets)"
            )));
        }
        if job.is_some() {
            return Err(bad("the part \"job\" is sent twice; send it once".into()));
        }
        let parsed: JobRequest = serde_json::from_str(&text).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-body",
                "The body does not match the request schema",
                format!("part \"job\": {e}"),
            )
        })?;
        job = Some(parsed);
    }
    let mut job = job.ok_or_else(|| {
        bad("no part named \"job\": send the job's JSON as -F 'job={\"html\": …}' and each asset as -F files=@logo.png"
            .into())
    })?;
    if !form.files.is_empty() {
        let assets = job.assets.get_or_insert_with(BTreeMap::new);
        for (name, bytes) in form.files {
            if assets.contains_key(&name) {
                return Err(bad(format!("the asset {name:?} is both in the job's \"assets\" and sent as a file")));
            }
            assets.insert(name, base64::engine::general_purpose::STANDARD.encode(bytes));
        }
    }
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_are_files() {
        for ok in ["index.html", "logo.png", "a b.css", "é.svg"] {
            assert!(plain_file_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b.png", "../x", "a\\b", "/etc/passwd", "x\ny"] {
            assert!(!plain_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_form_job_gets_its_files_as_assets() {
        let mut form = Form::default();
        form.fields.push(("job".into(), r#"{"html": "<img src=logo.png>"}"#.into()));
        form.files.insert("logo.png".into(), b"PNG".to_vec());
        let job = job_from_form(form).unwrap();
        assert_eq!(job.assets.unwrap()["logo.png"], "UE5H");

        let err = job_from_form(Form::default()).unwrap_err();
        assert!(err.detail.contains("no part named \"job\""), "{}", err.detail);
        let mut form = Form::default();
        form.fields.push(("jobb".into(), "{}".into()));
        assert!(job_from_form(form).unwrap_err().detail.contains("unknown field \"jobb\""));
    }
}
