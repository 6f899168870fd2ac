//! The review routes (operator role): `GET /review` (the page), `GET /review/files/…` (its
//! images and the held jobs' artifacts, names validated by `review::files`), and the
//! decisions `POST /v1/review/candidates/{template}/{fixture}/approve|reject` and
//! `POST /v1/review/jobs/{id}/release|reject`, each with a required reason.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::problem::{ApiJson, Problem};
use super::AppState;
use crate::audit::Record;
use crate::baseline::{BaselineError, Key};
use crate::jobs::{JobError, JobId};
use crate::review::audit::AuditError;
use crate::review::files::{self, FileError, Source};
use crate::review::{page, ReviewError};
use crate::service::WebhookEvent;

/// The body of a decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why (required, not empty): kept in the audit log.
    #[serde(default)]
    pub reason: String,
}

/// The answer to a decision: what was done, and the audit record kept for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionResponse {
    pub message: String,
    pub decision: Record,
}

/// The review page: held jobs and candidates with their images and decision buttons.
pub async fn review_page(State(state): State<AppState>) -> Result<Response, Problem> {
    let review = state.review.clone();
    let jobs = review.held_jobs().await.map_err(problem)?;
    let store = &review.baselines;
    let mut candidates = Vec::new();
    for summary in store.candidates().await.map_err(|e| problem(e.into()))? {
        candidates.push(page::candidate_item(store, &summary).await);
    }
    let jobs: Vec<_> = jobs.iter().map(page::job_item).collect();
    let html = page::render(&jobs, &candidates).map_err(|e| problem(e.into()))?;
    Ok((super::headers::page(page::script_sha256()), Html(html)).into_response())
}

/// `GET /review/files/{baselines|candidates}/{template}/{fixture}/{name}`
pub async fn baseline_file(
    State(state): State<AppState>,
    Path((source, template, fixture, name)): Path<(String, String, String, String)>,
) -> Result<Response, Problem> {
    let source = Source::parse(&source)
        .ok_or_else(|| file_problem(FileError::NotFound(format!("{source:?} is neither baselines nor candidates"))))?;
    let bytes = files::baseline_image(&state.review.baselines, source, &template, &fixture, &name)
        .await
        .map_err(file_problem)?;
    Ok(file_response(&name, bytes))
}

/// `GET /review/files/jobs/{id}/{name}`: one of a job's artifacts.
pub async fn job_file(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let bytes = files::job_artifact(&state.jobs, &id, &name).await.map_err(file_problem)?;
    Ok(file_response(&name, bytes))
}

fn file_response(name: &str, bytes: Vec<u8>) -> Response {
    (super::headers::file(name, files::content_type(name)), bytes).into_response()
}

fn file_problem(e: FileError) -> Problem {
    match e {
        FileError::BadName(detail) => {
            Problem::new(StatusCode::BAD_REQUEST, "bad-name", "Not a file name the review serves", detail)
        }
        FileError::NotFound(detail) => Problem::new(StatusCode::NOT_FOUND, "not-found", "No such file", detail),
        e @ FileError::Read { .. } => {
            tracing::error!(error = %e, "review file unreadable");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "unreadable", "The file could not be read", e.to_string())
        }
    }
}

/// Approve or reject a baseline candidate.
#[utoipa::path(post, path = "/v1/review/candidates/{template}/{fixture}/{action}", tag = "review",
    params(("template" = String, Path), ("fixture" = String, Path), ("action" = String, Path, description = "approve or reject")),
    request_body = DecisionRequest,
    responses((status = 200, body = DecisionResponse), (status = 404, body = Problem), (status = 422, body = Problem, description = "no reason")),
    security(("bearer" = [])))]
pub async fn decide_candidate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((template, fixture, action)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> Result<Json<DecisionResponse>, Problem> {
    let approve = match action.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(unknown_action(&action, "approve or reject")),
    };
    let key = Key::new(&template, &fixture).map_err(|e| problem(crate::baseline::BaselineError::from(e).into()))?;
    let decision =
        state.review.decide_candidate(key.clone(), approve, &caller.name, &body.reason).await.map_err(problem)?;
    let message = if approve {
        format!("{key} approved: it is the baseline now")
    } else {
        format!("{key} rejected: the candidate is gone")
    };
    Ok(Json(DecisionResponse { message, decision }))
}

/// Release (ship its PDF, state `done`) or reject (state `failed`) a held job.
#[utoipa::path(post, path = "/v1/review/jobs/{id}/{action}", tag = "review",
    params(("id" = String, Path), ("action" = String, Path, description = "release or reject")),
    request_body = DecisionRequest,
    responses((status = 200, body = DecisionResponse), (status = 404, body = Problem), (status = 409, body = Problem, description = "the job is not held"), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn decide_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, action)): Path<(String, String)>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> Result<Json<DecisionResponse>, Problem> {
    let release = match action.as_str() {
        "release" => true,
        "reject" => false,
        _ => return Err(unknown_action(&action, "release or reject")),
    };
    let id = JobId::parse(&id)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "bad-job-id", "Not a job id", e.to_string()))?;
    let decision = state.review.decide_job(id, release, &caller.name, &body.reason).await.map_err(problem)?;
    // The job has settled now: tell the app that submitted it, as the workers do.
    match state.jobs.load(id).await {
        Ok(Some(record)) => {
            state.service.announce(&record).await;
            let event = if release { WebhookEvent::Released } else { WebhookEvent::Rejected };
            if !state.service.notify(&record, event).await {
                tracing::error!(%id, "decided, but its webhook could not be written to the outbox");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(%id, error = %e, "decided, but could not reload the job to send its webhook"),
    }
    let message = if release {
        format!("job {id} released: done, its PDF is stored")
    } else {
        format!("job {id} rejected: failed")
    };
    Ok(Json(DecisionResponse { message, decision }))
}

fn unknown_action(action: &str, expected: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "unknown-action",
        "No such decision",
        format!("{action:?} is not a decision: use {expected}"),
    )
}

/// The problem for a failed review operation.
pub(crate) fn problem(e: ReviewError) -> Problem {
    let detail = e.to_string();
    let (status, kind, title) = match &e {
        ReviewError::NoReason | ReviewError::Audit(AuditError::NoReason) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "reason-required", "A reason is required")
        }
        ReviewError::Baseline(BaselineError::BadName { .. } | BaselineError::Key(_)) => {
            (StatusCode::BAD_REQUEST, "bad-name", "Not a baseline key")
        }
        ReviewError::Baseline(BaselineError::NoCandidate { .. }) | ReviewError::NoJob(_) => {
            (StatusCode::NOT_FOUND, "not-found", "Nothing to decide about")
        }
        ReviewError::Baseline(BaselineError::Interrupted { .. }) => {
            (StatusCode::CONFLICT, "interrupted", "An earlier approval was interrupted")
        }
        ReviewError::Job(JobError::NotHeld { .. }) | ReviewError::NoHeldPdf(_) => {
            (StatusCode::CONFLICT, "not-held", "The job does not wait for a decision")
        }
        ReviewError::Job(_) => (StatusCode::CONFLICT, "bad-move", "The job cannot move that way"),
        ReviewError::Page(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "page-failed", "The review page could not be rendered")
        }
        ReviewError::Store(s) if s.is_retryable() => {
            (StatusCode::SERVICE_UNAVAILABLE, "store-unavailable", "The job store is unavailable")
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "review-failed", "The decision could not be made"),
    };
    if status.is_server_error() {
        tracing::error!(error = %detail, "review operation failed");
    }
    Problem::new(status, kind, title, detail)
}
