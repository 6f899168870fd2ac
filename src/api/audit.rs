//! `GET /v1/audit` (operator role): every decision, newest first — the service's own log
//! (`DATA/audit.jsonl`) joined with the baselines' `audit.jsonl` (CLI decisions).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::Problem;
use super::AppState;
use crate::audit::Record;

/// Entries returned when no `limit` is given.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 10_000;

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// How many entries, newest first (1 to 10000; default 100).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub entries: Vec<Record>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "review", params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 400, body = Problem)),
    security(("bearer" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditList>, Problem> {
    let bad = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "bad-limit", "Invalid limit", detail);
    let Query(query) = query.map_err(|e| bad(format!("{}; limit is a number from 1 to {MAX_LIMIT}", e.body_text())))?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit {limit} is out of range: use 1 to {MAX_LIMIT}")));
    }
    let entries = state.review.history(limit).await.map_err(super::review::problem)?;
    Ok(Json(AuditList { entries }))
}
