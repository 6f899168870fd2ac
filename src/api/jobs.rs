//! The queued job routes: `POST /v1/jobs` (submit; 202 `{id, status_url}` + `Location`,
//! 200 for an `Idempotency-Key` and body seen before), `GET /v1/jobs` (the caller's jobs,
//! newest first), `GET /v1/jobs/{id}` (state, timings, verdict, links), `GET
//! /v1/jobs/{id}/pdf` (only `done`/`fallback`: a held PDF is never served to the submitter)
//! and `GET /v1/jobs/{id}/artifacts/{name}` (operator).
//!
//! Jobs belong to their submitter: every route reads a job through [`load`], which answers
//! another submitter's job exactly as an unknown one (404, never 403, so ids cannot be
//! probed); operators see every job (`auth::Caller::may_see`).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{Caller, Role};
use super::problem::Problem;
use super::upload::JobInput;
use super::AppState;
use crate::idempotency::IdempotencyKey;
use crate::jobs::{JobId, JobRecord, JobState, Scope};
use crate::request::JobRequest;
use crate::service::quota::QuotaError;
use crate::service::SubmitError;

/// Seconds a client is told to wait when the queue is full or the server stops.
pub const RETRY_AFTER_SECS: u32 = 5;

/// The answer to a submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub id: String,
    pub status_url: String,
}

/// A job as `GET /v1/jobs/{id}` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobStatus {
    pub id: String,
    /// The name of the token that submitted it (absent on jobs made before jobs had owners).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitter: Option<String>,
    /// queued, rendering, verifying, done, fallback, held or failed.
    pub state: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Deliveries that started rendering.
    pub attempts: u32,
    /// Milliseconds per stage: queued, rendering, verifying, fallback, storing.
    #[schema(value_type = Object)]
    pub timings_ms: std::collections::BTreeMap<String, u64>,
    /// The engine that printed the shipped (or held) PDF: `chromium` or `fallback`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub renderer: Option<crate::routing::Renderer>,
    /// That engine's version (`HeadlessChrome/…`, `WeasyPrint …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renderer_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Pages, changed pixels, blocked requests, fonts used, renderer, the rules' results.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub verdict: Option<crate::rules::JobVerdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdf_url: Option<String>,
    /// Artifact URLs (operators only; held jobs keep their candidate, baseline and diff pages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<crate::jobs::WebhookOutcome>,
    /// `hit` when the PDF came from the render cache (an earlier identical job proved it),
    /// `miss`, `bypass` (not cacheable) or `off` (`--render-cache off`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<crate::jobs::CacheOutcome>,
    /// The W3C `traceparent` the job was submitted with, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

fn submit_problem(e: SubmitError, state: &AppState) -> Response {
    let e = match e {
        SubmitError::Invalid(inner) => {
            state.metrics.job("invalid");
            return Problem::from(inner).into_response();
        }
        other => other,
    };
    let detail = e.to_string();
    let (status, kind, title) = match &e {
        SubmitError::Invalid(_) | SubmitError::Callback(_) => {
            state.metrics.job("invalid");
            (StatusCode::UNPROCESSABLE_ENTITY, "callback-url", "The callback URL is not allowed")
        }
        SubmitError::Full { .. } => (StatusCode::TOO_MANY_REQUESTS, "queue-full", "The queue is full"),
        SubmitError::KeyReused { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "The Idempotency-Key was used for another body",
        ),
        SubmitError::Quota(QuotaError::Full { .. }) => {
            (StatusCode::TOO_MANY_REQUESTS, "submitter-quota", "Too many jobs waiting for this submitter")
        }
        SubmitError::Quota(QuotaError::Store(_)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "store", "The submitter's jobs could not be counted")
        }
        SubmitError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting-down", "The server is shutting down"),
        SubmitError::Queue(_) => (StatusCode::SERVICE_UNAVAILABLE, "queue", "The job could not be queued"),
        SubmitError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "store", "The job could not be stored"),
    };
    if status.is_server_error() {
        tracing::error!(error = %detail, "job not accepted");
    }
    let problem = Problem::new(status, kind, title, detail);
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => problem.retry_after(RETRY_AFTER_SECS),
        _ => problem,
    }
    .into_response()
}

#[utoipa::path(post, path = "/v1/jobs", tag = "jobs",
    request_body(content((JobRequest = "application/json"), (JobRequest = "multipart/form-data")),
        description = "The job as JSON; or as multipart/form-data: the JSON in a part named `job`, each file part an asset by its file name"),
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 255 printable ASCII characters, per submitter: same key and body, same job (also across restarts)")),
    responses(
        (status = 202, description = "Queued", body = Accepted),
        (status = 200, description = "The job this idempotency key and body made before", body = Accepted),
        (status = 400, body = Problem, description = "Bad body or Idempotency-Key"),
        (status = 401, body = Problem), (status = 413, body = Problem),
        (status = 422, body = Problem, description = "Invalid job, or idempotency-key-reused with another body"),
        (status = 429, body = Problem, description = "Queue or submitter quota full; see Retry-After"),
        (status = 503, body = Problem, description = "Shutting down; see Retry-After")),
    security(("bearer" = [])))]
pub async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    trace: Option<Extension<super::request_id::TraceParent>>,
    headers: HeaderMap,
    JobInput(request): JobInput,
) -> Response {
    let key = match IdempotencyKey::from_headers(&headers) {
        Ok(key) => key,
        Err(e) => {
            return Problem::new(StatusCode::BAD_REQUEST, "idempotency-key", "Bad Idempotency-Key", e.to_string())
                .into_response()
        }
    };
    let traceparent = trace.map(|Extension(t)| t.0);
    match state.service.submit(request, key, &caller.name, traceparent).await {
        Ok(done) => {
            let status_url = state.service.status_url(done.id);
            let code = if done.existing { StatusCode::OK } else { StatusCode::ACCEPTED };
            let mut response =
                (code, Json(Accepted { id: done.id.to_string(), status_url: status_url.clone() })).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/v1/jobs/{}", done.id)) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            response
        }
        Err(e) => submit_problem(e, &state),
    }
}

fn not_found(id: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "unknown-job",
        "No such job",
        format!(
            "there is no job {:?}: job ids are the `id` POST /v1/jobs answered",
            id.chars().take(64).collect::<String>()
        ),
    )
}

/// The job `id` if the caller may see it; another submitter's job is answered exactly as an
/// unknown one.
async fn load(state: &AppState, caller: &Caller, id: &str) -> Result<JobRecord, Problem> {
    let job = JobId::parse(id).map_err(|_| not_found(id))?;
    let store_error = |e: crate::store::StoreError| {
        tracing::error!(job = %job, error = %e, "could not read a job record");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "store", "The job could not be read", e.to_string())
    };
    match state.service.jobs.load(job).await.map_err(store_error)? {
        Some(r) if caller.may_see(&r) => Ok(r),
        Some(_) => Err(not_found(id)),
        None => match state.service.jobs.tombstone(job).await.map_err(store_error)? {
            Some(t) if caller.may_see_owned_by(t.submitter.as_deref()) => Err(gone(&t)),
            _ => Err(not_found(id)),
        },
    }
}

fn gone(t: &crate::jobs::Tombstone) -> Problem {
    let why = match &t.why {
        crate::jobs::Removal::Request { token } => format!("deleted by token {token:?}"),
        crate::jobs::Removal::Retention { days } => format!("removed {days} days after it settled (--retain-days)"),
    };
    Problem::new(
        StatusCode::GONE,
        "removed",
        "The job was removed",
        format!("job {} was {why} at {}: its record, PDF and artifacts are gone", t.id, t.removed_at.to_rfc3339()),
    )
}

/// Removes a settled job now: its record, PDF, artifacts, waiting webhooks and cache entry.
/// The id answers 410 afterwards.
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path, description = "The job id")),
    responses((status = 200, body = crate::jobs::Tombstone, description = "Removed; what is kept of it"),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "Held, or not settled yet"),
        (status = 410, body = Problem, description = "Removed before")),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<crate::jobs::Tombstone>, Problem> {
    let record = load(&state, &caller, &id).await?;
    let why = crate::jobs::Removal::Request { token: caller.name.clone() };
    match state.service.remove_job(&record, why).await {
        Ok(t) => Ok(Json(t)),
        Err(e @ crate::service::retention::RemoveError::Store(_)) => {
            tracing::error!(job = %record.id, error = %e, "could not remove a job");
            Err(Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "store", "The job could not be removed", e.to_string()))
        }
        Err(e) => {
            Err(Problem::new(StatusCode::CONFLICT, "not-removable", "The job cannot be removed now", e.to_string()))
        }
    }
}

/// The longest `?wait=` a status request may ask for, in seconds.
pub const MAX_WAIT_SECS: u64 = 60;

/// `GET /v1/jobs/{id}?wait=SECONDS`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct StatusQuery {
    /// Answer as soon as the job has settled or is held, waiting at most this many seconds
    /// (0 to 60; default 0: answer at once). Saves polling: the answer is the same either way.
    #[serde(default)]
    pub wait: Option<u64>,
}

#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "The job id"), StatusQuery),
    responses((status = 200, body = JobStatus), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<JobStatus>, Problem> {
    let Query(query) = query.map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wait",
            "wait is not a number of seconds",
            format!("{}; write ?wait=SECONDS, 0 to {MAX_WAIT_SECS}", e.body_text()),
        )
    })?;
    let mut record = load(&state, &caller, &id).await?;
    match query.wait.unwrap_or(0) {
        0 => {}
        wait if wait > MAX_WAIT_SECS => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "wait",
                "wait is too long",
                format!("?wait={wait} asks for more than {MAX_WAIT_SECS} seconds; ask again after an answer instead"),
            ))
        }
        wait => match state.service.jobs.wait_settled(record.id, std::time::Duration::from_secs(wait)).await {
            Ok(Some(r)) => record = r,
            Ok(None) => return Err(not_found(&id)),
            Err(e) => {
                tracing::error!(job = %record.id, error = %e, "could not read a job record");
                return Err(Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store",
                    "The job could not be read",
                    e.to_string(),
                ));
            }
        },
    }
    let base = state.service.status_url(record.id);
    let pdf_url = matches!(record.state, JobState::Done | JobState::Fallback).then(|| format!("{base}/pdf"));
    let artifacts = if caller.role >= Role::Operator {
        let names = state.service.jobs.artifacts(record.id).await.unwrap_or_default();
        Some(names.iter().map(|n| format!("{base}/artifacts/{n}")).collect())
    } else {
        None
    };
    let mut timings_ms = record.stages_ms.clone();
    if !record.state.is_settled() && record.state != JobState::Held {
        // The current stage so far.
        let so_far = (chrono::Utc::now() - record.updated_at).num_milliseconds().max(0) as u64;
        *timings_ms.entry(record.state.as_str().to_string()).or_insert(0) += so_far;
    }
    Ok(Json(JobStatus {
        id: record.id.to_string(),
        submitter: record.submitter,
        state: record.state.as_str().to_string(),
        created_at: record.created_at,
        updated_at: record.updated_at,
        attempts: record.attempts,
        timings_ms,
        renderer: record.verdict.as_ref().and_then(|v| v.attempts.last()).map(|a| a.engine),
        renderer_version: record.renderer_version,
        error: record.error,
        verdict: record.verdict,
        pdf_url,
        artifacts,
        // Kept beside the record (records written before that hold it themselves); looked
        // for only when the job has a callback, so a status costs one read otherwise.
        webhook: match record.request.request().and_then(|r| r.callback_url.as_ref()) {
            Some(_) => state.service.jobs.webhook_outcome(record.id).await.ok().flatten().or(record.webhook),
            None => record.webhook,
        },
        cache: record.cache,
        traceparent: record.traceparent,
    }))
}

#[utoipa::path(get, path = "/v1/jobs/{id}/pdf", tag = "jobs", params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The verified PDF", content_type = "application/pdf"),
        (status = 307, description = "With an S3 store and --pdf-download redirect (the default): a presigned URL of the PDF (Location, on --s3-public-endpoint if set), valid for --presign-ttl-secs"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Not done yet, held for review, or failed")),
    security(("bearer" = [])))]
pub async fn pdf(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let record = load(&state, &caller, &id).await?;
    match record.state {
        JobState::Done | JobState::Fallback => {}
        JobState::Held => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "held",
                "Held for review",
                format!(
                    "job {} failed verification on every renderer and is held for review: its PDF is not shipped \
                     unless an operator approves it",
                    record.id
                ),
            ))
        }
        other => {
            let why = match &record.error {
                Some(e) => format!("job {} is {other}: {e}", record.id),
                None => format!("job {} is {other}; poll GET /v1/jobs/{} until it is done", record.id, record.id),
            };
            return Err(Problem::new(StatusCode::CONFLICT, "not-ready", "The PDF is not available", why));
        }
    }
    if state.config.pdf_download == PdfDownload::Redirect {
        // An S3 store hands out a presigned URL: the PDF does not pass through the API.
        match state.service.jobs.pdf_download_url(record.id).await {
            Ok(Some(url)) => return Ok((StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, url)]).into_response()),
            Ok(None) => {}
            Err(e) => tracing::warn!(job = %record.id, error = %e, "no presigned URL; serving the PDF through the API"),
        }
    }
    match state.service.jobs.pdf_stream(record.id).await {
        Ok(Some(pdf)) => {
            let mut headers: axum::http::HeaderMap =
                super::headers::file(&format!("{}.pdf", record.id), "application/pdf").into_iter().collect();
            if let Some(length) = pdf.length {
                headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(length));
            }
            Ok((headers, axum::body::Body::from_stream(pdf.chunks)).into_response())
        }
        Ok(None) => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "no-pdf",
            "No PDF stored",
            format!("job {} is {} but has no stored PDF", record.id, record.state),
        )),
        Err(e) => {
            Err(Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "store", "The PDF could not be read", e.to_string()))
        }
    }
}

/// How `GET /v1/jobs/{id}/pdf` hands out a PDF kept in S3 (`--pdf-download`). A local store's
/// PDFs always pass through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PdfDownload {
    /// 307 to a presigned URL (signed for `--s3-public-endpoint` when set): the PDF does not
    /// pass through the API; clients follow redirects (`curl -L`) and must reach the S3 server.
    #[default]
    Redirect,
    /// The API streams the PDF from the store as it arrives, without holding it whole: for
    /// clients that can reach only the API.
    Proxy,
}

#[utoipa::path(get, path = "/v1/jobs/{id}/artifacts/{name}", tag = "jobs",
    params(("id" = String, Path, description = "The job id"), ("name" = String, Path, description = "e.g. diff-001.png")),
    responses((status = 200, description = "The artifact (PNG, JSON or PDF)"),
        (status = 403, body = Problem, description = "A submit token, on its own job"), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn artifact(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let record = load(&state, &caller, &id).await?;
    if caller.role < Role::Operator {
        tracing::warn!(token = %caller.name, job = %record.id, "artifact asked for by a submit token: refused");
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This token may not use this route",
            format!(
                "token {:?} has role {}; a job's artifacts (held PDFs, diffs) are for operator tokens",
                caller.name,
                caller.role.name()
            ),
        ));
    }
    let missing = || {
        Problem::new(
            StatusCode::NOT_FOUND,
            "unknown-artifact",
            "No such artifact",
            format!("job {} has no artifact {:?}; GET /v1/jobs/{} lists them", record.id, name, record.id),
        )
    };
    let bytes = state.service.jobs.get_artifact(record.id, &name).await.map_err(|_| missing())?.ok_or_else(missing)?;
    let kind = mime_guess::from_path(&name).first_or_octet_stream().to_string();
    Ok((super::headers::file(&name, &kind), bytes).into_response())
}

/// Jobs `GET /v1/jobs` lists when no `limit` is given, and the most it lists.
pub const LIST_LIMIT: (usize, usize) = (50, 1000);

/// `GET /v1/jobs?state=held&limit=N&cursor=ID`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// How many jobs, newest first (default 50, at most 1000).
    pub limit: Option<usize>,
    /// Only jobs in these states, comma-separated (`held`; `done,fallback`). Default: every state.
    pub state: Option<String>,
    /// Where the previous page ended: its `next_cursor`.
    pub cursor: Option<String>,
}

/// One job in a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobSummary {
    pub id: String,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitter: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub status_url: String,
}

/// The answer of `GET /v1/jobs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobSummary>,
    /// The `cursor` of the next page, when there may be one (absent on the last page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The next page's path, with the same `state` and `limit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_url: Option<String>,
}

fn bad_query(field: &str, title: &str, detail: String) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, field, title, detail)
}

/// The states a `state=` filter names (every state without one).
fn listed_states(filter: Option<&str>) -> Result<Vec<JobState>, Problem> {
    let Some(filter) = filter.filter(|f| !f.trim().is_empty()) else { return Ok(JobState::ALL.to_vec()) };
    let mut states = Vec::new();
    for name in filter.split(',').map(str::trim) {
        let state = JobState::ALL.into_iter().find(|s| s.as_str() == name).ok_or_else(|| {
            let names: Vec<_> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            bad_query(
                "state",
                "Bad state",
                format!("{name:?} is not a job state; use one or more of {}, comma-separated", names.join(", ")),
            )
        })?;
        if !states.contains(&state) {
            states.push(state);
        }
    }
    Ok(states)
}

/// The caller's own jobs (an operator's: every job), newest first, a page at a time. The job
/// index lists them (by state, and by submitter for a submit token): only the records of the
/// page are read, however many jobs are stored.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = JobList), (status = 400, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Query(query): axum::extract::Query<ListQuery>,
) -> Result<Json<JobList>, Problem> {
    let limit = query.limit.unwrap_or(LIST_LIMIT.0);
    if !(1..=LIST_LIMIT.1).contains(&limit) {
        return Err(bad_query("limit", "Bad limit", format!("limit must be from 1 to {}, not {limit}", LIST_LIMIT.1)));
    }
    let states = listed_states(query.state.as_deref())?;
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(JobId::parse(text).map_err(|_| {
            bad_query(
                "cursor",
                "Bad cursor",
                format!("{text:?} is not a cursor: pass the next_cursor of the previous page"),
            )
        })?),
    };
    let scope = if caller.role >= Role::Operator { Scope::All } else { Scope::Owner(&caller.name) };
    let (records, next) =
        state.service.jobs.list(scope, &states, cursor, limit, |record| caller.may_see(record)).await.map_err(|e| {
            tracing::error!(error = %e, "could not list the jobs");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "store", "The jobs could not be listed", e.to_string())
        })?;
    let jobs = records
        .into_iter()
        .map(|record| JobSummary {
            id: record.id.to_string(),
            state: record.state.as_str().to_string(),
            submitter: record.submitter,
            created_at: record.created_at,
            status_url: state.service.status_url(record.id),
        })
        .collect();
    let next_url = next.map(|id| {
        let filter = match states.len() == JobState::ALL.len() {
            true => String::new(),
            false => format!("&state={}", states.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")),
        };
        format!("/v1/jobs?limit={limit}{filter}&cursor={id}")
    });
    Ok(Json(JobList { jobs, next_cursor: next.map(|id| id.to_string()), next_url }))
}
