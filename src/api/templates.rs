//! `GET /v1/templates`: the bundled templates with their description, fixtures and the
//! page range their documents must fall in. `GET /v1/templates/{name}`: one template's
//! contract with its clients: the JSON Schema its data must match, example data, the page
//! range, and how its pages are compared (limits and masks).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::Problem;
use super::AppState;
use crate::compare::mask::Mask;
use crate::template::{Template, TemplateError};

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateInfo {
    pub name: String,
    pub description: String,
    /// Fixture names: with the template's name they make baseline keys `TEMPLATE/FIXTURE`.
    pub fixtures: Vec<String>,
    pub min_pages: usize,
    pub max_pages: usize,
}

/// One template: what its data must be, an example, and how its pages are compared.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateDetail {
    #[serde(flatten)]
    pub info: TemplateInfo,
    /// The JSON Schema a job's `data` must match (`null` when the template declares none: then
    /// only rendering tells what is missing). A job whose data fails it is a 422 `invalid-data`
    /// listing every problem, before anything is rendered.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<serde_json::Value>,
    /// Data this template prints well with (one of its fixtures), or `null`.
    pub example: Option<Example>,
    /// The pixel comparison's limits for this template's pages (its own over the service's).
    pub limits: VerdictLimits,
    /// What the pixel comparison ignores: rectangles in CSS pixels (96 per inch) from the
    /// page's top-left corner, and CSS selectors whose elements' boxes are ignored wherever
    /// Chromium printed them.
    pub masks: Vec<Mask>,
}

/// Example data: a fixture of the template.
#[derive(Debug, Serialize, ToSchema)]
pub struct Example {
    /// The fixture's name (its baseline key is `TEMPLATE/FIXTURE`).
    pub fixture: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// When a page differs from its baseline: it fails only above both `max_pixels` and
/// `max_ratio`; pixelmatch's `threshold` decides which pixels differ.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerdictLimits {
    pub max_pixels: u64,
    pub max_ratio: f64,
    pub threshold: f64,
}

fn info(t: &Template) -> Result<TemplateInfo, Problem> {
    let fixtures = t.fixtures().map_err(unreadable)?;
    Ok(TemplateInfo {
        name: t.name.clone(),
        description: t.config.description.clone(),
        fixtures: fixtures.into_iter().map(|f| f.name).collect(),
        min_pages: t.config.pages.min,
        max_pages: t.config.pages.max,
    })
}

fn unreadable(e: TemplateError) -> Problem {
    Problem::generic(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}; fix the template's fixtures"))
}

#[utoipa::path(get, path = "/v1/templates", tag = "templates",
    responses((status = 200, body = Vec<TemplateInfo>), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<TemplateInfo>>, Problem> {
    state.catalog.templates.iter().map(info).collect::<Result<_, _>>().map(Json)
}

#[utoipa::path(get, path = "/v1/templates/{name}", tag = "templates",
    params(("name" = String, Path, description = "The template's name, as `GET /v1/templates` lists it")),
    responses(
        (status = 200, body = TemplateDetail),
        (status = 401, body = Problem),
        (status = 404, body = Problem, description = "No such template"),
    ),
    security(("bearer" = [])))]
pub async fn detail(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<TemplateDetail>, Problem> {
    let t = state.catalog.get(&name).map_err(|e| {
        let detail = match e {
            TemplateError::BadName(_) => format!("{e}; GET /v1/templates lists the templates"),
            _ => e.to_string(),
        };
        Problem::new(StatusCode::NOT_FOUND, "unknown-template", "No such template", detail)
    })?;
    let limits = t.verdict_limits(&state.service.config.verdict_limits);
    Ok(Json(TemplateDetail {
        info: info(t)?,
        schema: t.schema().map(|s| s.json.clone()),
        example: t.example().map_err(unreadable)?.map(|f| Example { fixture: f.name, data: f.data }),
        limits: VerdictLimits {
            max_pixels: limits.max_pixels,
            max_ratio: limits.max_ratio,
            threshold: limits.pixelmatch.threshold,
        },
        masks: t.config.masks.clone(),
    }))
}
