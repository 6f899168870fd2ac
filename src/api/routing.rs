//! The routing table API (operator role, every change audited): `GET /v1/routing`,
//! `POST /v1/routing` `{match: {template}|{fingerprint}, renderer, note}` and
//! `DELETE /v1/routing/{id}?reason=…`. The table is the one in `AppState` (`routing::Routes`),
//! which this process's workers route by at once, and which persists every change.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::problem::{ApiJson, Problem};
use super::AppState;
use crate::audit::{Action, Details, Record};
use crate::routing::{Match, NewRule, Renderer, RoutingError, Rule};

/// A rule as an operator sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    /// `{"template": "NAME"}` or `{"fingerprint": "SHA256"}`.
    #[serde(rename = "match")]
    #[schema(value_type = Object)]
    pub matches: Match,
    /// `chromium` or `fallback`.
    #[schema(value_type = String)]
    pub renderer: Renderer,
    /// Why the rule exists (required; it is the audit entry's reason).
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
pub struct RemoveQuery {
    #[serde(default)]
    pub reason: String,
}

/// The routing rules.
#[utoipa::path(get, path = "/v1/routing", tag = "review", responses((status = 200, body = RuleList)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>) -> Json<RuleList> {
    Json(RuleList { rules: state.routing.rules().to_vec() })
}

/// Adds a rule (persisted, audited).
#[utoipa::path(post, path = "/v1/routing", tag = "review", request_body = RuleRequest,
    responses((status = 201, description = "The rule, with its id"), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn add(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<RuleRequest>,
) -> Result<(StatusCode, Json<Rule>), Problem> {
    let note = body.note.trim().to_string();
    if note.is_empty() {
        return Err(problem(RoutingError::NoNote));
    }
    // A rule for a template the service does not have would never match: say so now.
    if let Match::Template(name) = &body.matches {
        if let Err(e @ crate::template::TemplateError::Unknown { .. }) = state.catalog.get(name) {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-template",
                "The rule names a template the service does not have",
                format!("{e}; a rule for it would never match"),
            ));
        }
    }
    let _one = state.review.one_at_a_time().await;
    let new =
        NewRule { matches: body.matches, renderer: body.renderer, note: note.clone(), created_by: caller.name.clone() };
    let rule = state.routing.add(new).await.map_err(problem)?;
    let record = Record {
        at: Utc::now(),
        by: caller.name.clone(),
        action: Action::AddRoute,
        subject: rule.id.clone(),
        reason: note,
        details: Details { rule: Some(rule.clone()), ..Details::default() },
    };
    if let Err(e) = state.review.append(record).await {
        // Not recorded, so not made.
        if let Err(undo) = state.routing.remove(&rule.id).await {
            tracing::error!(rule = %rule.id, error = %undo, "could not undo an unaudited routing rule");
        }
        return Err(super::review::problem(e));
    }
    tracing::info!(rule = %rule.id, by = %caller.name, "routing rule added");
    Ok((StatusCode::CREATED, Json(rule)))
}

/// Removes a rule (persisted, audited; `?reason=` required).
#[utoipa::path(delete, path = "/v1/routing/{id}", tag = "review",
    params(("id" = String, Path), ("reason" = String, Query, description = "why (required)")),
    responses((status = 200, description = "The removed rule"), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<RemoveQuery>,
) -> Result<Json<Rule>, Problem> {
    let reason = query.reason.trim().to_string();
    if reason.is_empty() {
        return Err(super::review::problem(crate::review::ReviewError::NoReason));
    }
    let _one = state.review.one_at_a_time().await;
    let found = state.routing.rules().iter().find(|r| r.id == id).cloned();
    let Some(rule) = found else {
        let missing = state.routing.remove(&id).await.err();
        return Err(problem(missing.unwrap_or(RoutingError::NoSuchRule { id, known: String::new() })));
    };
    // Recorded first: a failure after this leaves the rule in place, never an unrecorded removal.
    let record = Record {
        at: Utc::now(),
        by: caller.name.clone(),
        action: Action::RemoveRoute,
        subject: rule.id.clone(),
        reason,
        details: Details { rule: Some(rule.clone()), ..Details::default() },
    };
    state.review.append(record).await.map_err(super::review::problem)?;
    let removed = state.routing.remove(&rule.id).await.map_err(problem)?;
    tracing::info!(rule = %removed.id, by = %caller.name, "routing rule removed");
    Ok(Json(removed))
}

fn problem(e: RoutingError) -> Problem {
    let (status, kind, title) = match &e {
        RoutingError::BadTemplate { .. } | RoutingError::BadFingerprint { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "bad-rule", "The rule's match is not valid")
        }
        RoutingError::NoNote | RoutingError::NoAuthor => {
            (StatusCode::UNPROCESSABLE_ENTITY, "reason-required", "A rule needs a note saying why")
        }
        RoutingError::Duplicate { .. } => (StatusCode::CONFLICT, "duplicate-rule", "A rule already matches this"),
        RoutingError::NoSuchRule { .. } => (StatusCode::NOT_FOUND, "no-such-rule", "No such rule"),
        RoutingError::Store { source, .. } if source.is_retryable() => {
            tracing::warn!(error = %e, "routing table unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "store-unavailable", "The routing table cannot be reached; retry later")
        }
        RoutingError::Io { .. } | RoutingError::Invalid { .. } | RoutingError::Store { .. } => {
            tracing::error!(error = %e, "routing table failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "routing-failed", "The routing table could not be changed")
        }
    };
    Problem::new(status, kind, title, e.to_string())
}
