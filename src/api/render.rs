//! `POST /v1/render`: validate a job, prove it on the shared engine (render, raster,
//! font check, page count) and answer with the PDF, or a problem naming why not.
//!
//! Answers: 200 `application/pdf` with `X-Pixelproof-Pages` and
//! `X-Pixelproof-Blocked-Requests`; 400/422 for a bad request; 422 when the document fails
//! verification (fonts, page count); 504 on the render timeout; 502 when Chromium fails.

use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::problem::{ApiJson, Problem};
use super::AppState;
use crate::job::Document;
use crate::pipeline::EngineError;
use crate::render::RenderError;
use crate::request::{JobRequest, RequestError};
use crate::template::Template;

/// Response header: pages in the PDF.
pub const PAGES_HEADER: &str = "x-pixelproof-pages";
/// Response header: requests the document made that were refused.
pub const BLOCKED_HEADER: &str = "x-pixelproof-blocked-requests";

impl From<RequestError> for Problem {
    fn from(e: RequestError) -> Problem {
        let kind = match e {
            RequestError::Template(crate::template::TemplateError::Unknown { .. }) => "unknown-template",
            RequestError::Template(crate::template::TemplateError::Render { .. }) => "template-data",
            RequestError::TooLarge { .. } | RequestError::TooDeep { .. } => "too-large",
            _ => "invalid-job",
        };
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, kind, "The job cannot be printed as sent", e.to_string())
    }
}

fn engine_problem(e: EngineError, metrics: &super::metrics::Metrics) -> Problem {
    tracing::warn!(error = %e, "the document could not be proved");
    match e {
        EngineError::Render(RenderError::Timeout { .. }) => {
            metrics.render("timeout");
            metrics.job("timeout");
            Problem::new(StatusCode::GATEWAY_TIMEOUT, "render-timeout", "The document took too long", e.to_string())
        }
        EngineError::Render(RenderError::Options(_)) => {
            metrics.job("invalid");
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-job", "Bad print options", e.to_string())
        }
        EngineError::Render(_) => {
            metrics.render("failed");
            metrics.job("failed");
            Problem::new(StatusCode::BAD_GATEWAY, "chromium", "Chromium failed", e.to_string())
        }
        _ => {
            metrics.job("failed");
            Problem::new(StatusCode::BAD_GATEWAY, "raster", "The PDF could not be checked", e.to_string())
        }
    }
}

#[utoipa::path(post, path = "/v1/render", tag = "render", request_body = JobRequest,
    responses(
        (status = 200, description = "The proved PDF", content_type = "application/pdf"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem), (status = 502, body = Problem),
        (status = 504, body = Problem)),
    security(("bearer" = [])))]
pub async fn render(State(state): State<AppState>, ApiJson(job): ApiJson<JobRequest>) -> Result<Response, Problem> {
    let doc = job.document(&state.catalog, &state.config.limits).inspect_err(|_| state.metrics.job("invalid"))?;
    let template = job.template.as_deref().and_then(|name| state.catalog.get(name).ok());
    let (pdf, pages, blocked) = prove(&state, &doc, template).await?;
    state.metrics.job("ok");
    tracing::info!(document = %doc.label, pages, blocked, bytes = pdf.len(), "rendered");
    let mut response = (StatusCode::OK, pdf).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    headers.insert(PAGES_HEADER, HeaderValue::from(pages));
    headers.insert(BLOCKED_HEADER, HeaderValue::from(blocked));
    Ok(response)
}

/// Renders, rasterizes and verifies one document, timing each stage. Returns the PDF, its
/// page count and the number of blocked requests.
async fn prove(
    state: &AppState,
    doc: &Document,
    template: Option<&Template>,
) -> Result<(Vec<u8>, usize, usize), Problem> {
    let engine = &state.engine;
    let metrics = &state.metrics;
    let since = Instant::now();
    let rendered = engine.renderer.render(doc).await.map_err(|e| engine_problem(e.into(), metrics))?;
    metrics.render("ok");
    metrics.stage("render", since.elapsed());
    let since = Instant::now();
    let pages = engine.rasterize(&rendered.pdf).await.map_err(|e| engine_problem(e, metrics))?;
    metrics.stage("raster", since.elapsed());
    let since = Instant::now();
    let fonts = crate::fontcheck::check(&rendered, &pages, &engine.fonts, doc.fonts_are_strict());
    let mut problems: Vec<String> = Vec::new();
    if fonts.fails() {
        problems.extend(fonts.problems.iter().map(|p| p.detail.clone()));
    }
    let count = pages.len();
    let limit = state.config.limits.max_pages;
    if count > limit {
        problems.push(format!("the document has {count} pages; the limit is {limit} (--max-pages)"));
    }
    if let Some(t) = template {
        let r = t.config.pages;
        if count < r.min || count > r.max {
            problems
                .push(format!("template {} must print {}-{} pages; this data printed {count}", t.name, r.min, r.max));
        }
    }
    metrics.stage("verify", since.elapsed());
    if !problems.is_empty() {
        metrics.job("unverified");
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "verification-failed",
            "The document failed verification; no PDF is shipped",
            problems.join("; "),
        ));
    }
    Ok((rendered.pdf, count, rendered.blocked.len()))
}
