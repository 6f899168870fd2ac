//! `POST /v1/render`: validate a job and run it through the job path without the queue
//! (`Service::render_now`: the same routing, verification rules and fallback as `POST
//! /v1/jobs`), answering with the PDF or a problem naming why not.
//!
//! Answers: 200 `application/pdf` with `X-Pixelproof-Pages`, `X-Pixelproof-Blocked-Requests`,
//! `X-Pixelproof-State` (`done` or `fallback`) and `X-Pixelproof-Renderer`; 400/422 for a bad
//! request; 422 when the document fails verification on both engines (no PDF is shipped);
//! 422 on the render timeout too (the document did not let the print finish in time, like a
//! document past the page limit); 502 when a renderer fails.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::problem::Problem;
use super::upload::JobInput;
use super::AppState;
use crate::jobs::JobState;
use crate::pipeline::EngineError;
use crate::raster::RasterError;
use crate::render::RenderError;
use crate::request::{JobRequest, RequestError};
use crate::service::admission::Refused;
use crate::service::{RenderNowError, RenderedNow};

/// Response header: pages in the PDF.
pub const PAGES_HEADER: &str = "x-pixelproof-pages";
/// Response header: requests the document made that were refused.
pub const BLOCKED_HEADER: &str = "x-pixelproof-blocked-requests";
/// Response header: `done` (Chromium's PDF passed) or `fallback` (the fallback's did).
pub const STATE_HEADER: &str = "x-pixelproof-state";
/// Response header: the engine that printed the PDF (`HeadlessChrome/…`, `WeasyPrint …`).
pub const RENDERER_HEADER: &str = "x-pixelproof-renderer";
/// The version of the engine that printed it (`HeadlessChrome/…`, `WeasyPrint …`).
pub const RENDERER_VERSION_HEADER: &str = "x-pixelproof-renderer-version";

impl From<RequestError> for Problem {
    fn from(e: RequestError) -> Problem {
        // A merged document's mistake is the same kind of problem, said of that document.
        if let RequestError::Merged { index, source } = e {
            let mut problem = Problem::from(*source);
            problem.detail = format!("merge[{index}]: {}", problem.detail);
            return problem;
        }
        if let RequestError::Template(crate::template::TemplateError::Data { problems, .. }) = &e {
            let mut problem = Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-data",
                "The data does not match the template's schema",
                e.to_string(),
            );
            problem.errors = problems.clone();
            return problem;
        }
        let (status, kind) = match e {
            RequestError::Template(crate::template::TemplateError::Unknown { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unknown-template")
            }
            RequestError::Template(crate::template::TemplateError::Render { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "template-data")
            }
            RequestError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
            RequestError::TooDeep { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "too-deep"),
            RequestError::Watermark(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-watermark"),
            RequestError::Encryption(_) | RequestError::EncryptionQueued => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid-encryption")
            }
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-job"),
        };
        Problem::new(status, kind, "The job cannot be printed as sent", e.to_string())
    }
}

fn engine_problem(e: EngineError, metrics: &crate::service::metrics::Metrics) -> Problem {
    tracing::warn!(error = %e, "the document could not be proved");
    match e {
        EngineError::Render(RenderError::Timeout { .. }) => {
            metrics.render("timeout");
            metrics.job("timeout");
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "render-timeout",
                "The document took too long",
                e.to_string(),
            )
        }
        EngineError::Render(RenderError::WaitExpression { .. }) => {
            metrics.job("invalid");
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "wait-expression",
                "The wait expression failed",
                e.to_string(),
            )
        }
        EngineError::Render(RenderError::ConsoleExceptions { .. }) => {
            metrics.job("invalid");
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "console-exceptions",
                "The document's scripts threw",
                e.to_string(),
            )
        }
        EngineError::Render(RenderError::Options(_)) => {
            metrics.job("invalid");
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-job", "Bad print options", e.to_string())
        }
        EngineError::Render(RenderError::PageCrashed { .. }) => {
            metrics.render("failed");
            metrics.job("failed");
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "page-crashed", "The document's page crashed", e.to_string())
        }
        EngineError::Raster(RasterError::TooManyPages { .. }) => {
            metrics.job("invalid");
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "too-many-pages", "The document is too long", e.to_string())
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

#[utoipa::path(post, path = "/v1/render", tag = "render",
    request_body(content((JobRequest = "application/json"), (JobRequest = "multipart/form-data")),
        description = "The job as JSON; or as multipart/form-data: the JSON in a part named `job`, each file part an asset by its file name"),
    responses(
        (status = 200, description = "The proved PDF", content_type = "application/pdf"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem, description = "Too many renders waiting (--max-waiting-renders); see Retry-After"),
        (status = 502, body = Problem),
        (status = 503, body = Problem, description = "No browser free within --api-timeout-secs; see Retry-After")),
    security(("bearer" = [])))]
pub async fn render(State(state): State<AppState>, JobInput(job): JobInput) -> Result<Response, Problem> {
    answer(&state, &job, None).await
}

/// Proves `job` now and answers with its PDF (named `file_name`, or after the document) and
/// the proof's headers, or with the problem. Shared with Gotenberg's form route.
pub(super) async fn answer(state: &AppState, job: &JobRequest, file_name: Option<String>) -> Result<Response, Problem> {
    // Validated here first so a bad request is a 4xx without touching the engines.
    let doc = job.document(&state.catalog, &state.config.app.limits).inspect_err(|_| state.metrics.job("invalid"))?;
    let _admitted = state.renders.admit().await.map_err(|refused| {
        let (status, kind, title) = match refused {
            Refused::Full { .. } => (StatusCode::TOO_MANY_REQUESTS, "renders-busy", "Too many renders are waiting"),
            Refused::Waited { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "renders-timeout", "No browser was free in time")
            }
        };
        tracing::warn!(reason = %refused, "a synchronous render was turned away");
        Problem::new(status, kind, title, refused.to_string()).retry_after(refused.retry_after_secs())
    })?;
    let outcome = state.service.render_now(job).await.map_err(|e| render_problem(e, &state.metrics))?;
    let (job_state, engine, renderer, proof) = match outcome {
        RenderedNow::Shipped { state, engine, renderer_version, proof } => (state, engine, renderer_version, proof),
        RenderedNow::Held { reasons } => {
            state.metrics.job("unverified");
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "verification-failed",
                "The document failed verification; no PDF is shipped",
                reasons.join("; "),
            ));
        }
    };
    let (pages, blocked) = (proof.pages.len(), proof.rendered.blocked.len());
    state.metrics.render("ok");
    state.metrics.job("ok");
    tracing::info!(document = %doc.label, pages, blocked, %renderer, bytes = proof.rendered.pdf.len(), "rendered");
    let name = file_name.unwrap_or_else(|| format!("{}.pdf", doc.label));
    let mut response =
        (StatusCode::OK, super::headers::file(&name, "application/pdf"), proof.rendered.pdf).into_response();
    let headers = response.headers_mut();
    headers.insert(PAGES_HEADER, HeaderValue::from(pages));
    headers.insert(BLOCKED_HEADER, HeaderValue::from(blocked));
    headers
        .insert(STATE_HEADER, HeaderValue::from_static(if job_state == JobState::Done { "done" } else { "fallback" }));
    headers.insert(RENDERER_HEADER, HeaderValue::from_static(engine.as_str()));
    if let Ok(v) = HeaderValue::from_str(&renderer) {
        headers.insert(RENDERER_VERSION_HEADER, v);
    }
    Ok(response)
}

fn render_problem(e: RenderNowError, metrics: &crate::service::metrics::Metrics) -> Problem {
    match e {
        RenderNowError::Request(e) => {
            metrics.job("invalid");
            e.into()
        }
        RenderNowError::Engine(e) => engine_problem(e, metrics),
        RenderNowError::Encryption(why) => {
            metrics.job("failed");
            tracing::error!(%why, "the encrypted PDF failed its proof");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "encryption", "The encrypted PDF failed its proof", why)
        }
        RenderNowError::Baseline(why) => {
            metrics.job("invalid");
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "baseline", "The named baseline cannot be used", why)
        }
        // The fallback's PDF past the page limit is the same problem as Chromium's.
        RenderNowError::Fallback(crate::fallback::FallbackError::Raster(e @ RasterError::TooManyPages { .. })) => {
            engine_problem(EngineError::Raster(e), metrics)
        }
        RenderNowError::Fallback(e) => {
            metrics.job("failed");
            let timeout = matches!(e, crate::fallback::FallbackError::Timeout { .. });
            let (status, kind) = if timeout {
                (StatusCode::UNPROCESSABLE_ENTITY, "render-timeout")
            } else {
                (StatusCode::BAD_GATEWAY, "fallback")
            };
            Problem::new(status, kind, "The fallback renderer failed", e.to_string())
        }
    }
}
