//! `GET /openapi.json`: the OpenAPI document, generated with utoipa from the handlers'
//! `#[utoipa::path]` attributes and the request/response types. Add new routes to
//! [`ApiDoc`]'s `paths(...)`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "pixelproof", description = "Pixel-perfect HTML-to-PDF rendering that proves every PDF it ships"),
    paths(
        super::render::render,
        super::forms::convert_html,
        super::templates::list,
        super::templates::detail,
        super::jobs::submit,
        super::jobs::list,
        super::jobs::status,
        super::jobs::remove,
        super::jobs::pdf,
        super::jobs::artifact,
        super::health::healthz,
        super::health::readyz,
        super::metrics::metrics,
        super::verification,
        super::review::decide_candidate,
        super::review::decide_job,
        super::audit::audit,
        super::routing::list,
        super::routing::add,
        super::routing::remove,
        openapi_json,
    ),
    components(schemas(
        crate::request::JobRequest,
        crate::request::JobOptions,
        crate::request::MergeDocument,
        super::problem::Problem,
        super::templates::TemplateInfo,
        super::templates::TemplateDetail,
        super::templates::Example,
        super::templates::VerdictLimits,
        crate::compare::mask::Mask,
        crate::compare::mask::RectMask,
        crate::compare::mask::SelectorMask,
        crate::template::DataProblem,
        super::health::Readiness,
        super::health::Health,
        super::jobs::Accepted,
        super::jobs::JobStatus,
        super::jobs::JobList,
        super::jobs::JobSummary,
        super::review::DecisionRequest,
        super::review::DecisionResponse,
        super::audit::AuditList,
        super::routing::RuleRequest,
        super::routing::RuleList,
        crate::audit::Record,
        crate::audit::Action,
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "This document")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
