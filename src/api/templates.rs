//! `GET /v1/templates`: the bundled templates with their description, fixtures and the
//! page range their documents must fall in.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::Problem;
use super::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateInfo {
    pub name: String,
    pub description: String,
    /// Fixture names: with the template's name they make baseline keys `TEMPLATE/FIXTURE`.
    pub fixtures: Vec<String>,
    pub min_pages: usize,
    pub max_pages: usize,
}

#[utoipa::path(get, path = "/v1/templates", tag = "templates",
    responses((status = 200, body = Vec<TemplateInfo>), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<TemplateInfo>>, Problem> {
    let mut out = Vec::new();
    for t in &state.catalog.templates {
        let fixtures = t.fixtures().map_err(|e| {
            Problem::generic(axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("{e}; fix the template's fixtures"))
        })?;
        out.push(TemplateInfo {
            name: t.name.clone(),
            description: t.config.description.clone(),
            fixtures: fixtures.into_iter().map(|f| f.name).collect(),
            min_pages: t.config.pages.min,
            max_pages: t.config.pages.max,
        });
    }
    Ok(Json(out))
}
