//! Liveness and readiness: `GET /healthz` (the process answers) and `GET /readyz`
//! (Chromium answers, the data directory is writable, and the start-up verification has
//! finished; it lists each template as `verified` or the reason it is not).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::service::verification::{TemplateStatus, VerificationState};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// What `/readyz` found. `ready` is false (and the status 503) until Chromium answers,
/// the data directory is writable and verification has finished.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// `ok` or why not.
    pub chromium: String,
    /// `ok` or why not.
    pub data_dir: String,
    /// `running` or `finished`.
    pub verification: &'static str,
    /// Per template: `verified` (on Chromium), or what prints its jobs instead and why:
    /// the fallback, when the template was verified on it, or nothing (its jobs are held).
    #[schema(value_type = Object)]
    pub templates: std::collections::BTreeMap<String, String>,
    /// Per template, the fallback engine's verification: `verified`, or why not.
    #[schema(value_type = Object)]
    pub fallback: std::collections::BTreeMap<String, String>,
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let chromium = if state.engine.chromium.ping(Duration::from_secs(2)).await {
        "ok".to_string()
    } else {
        "Chromium did not answer within 2 s".to_string()
    };
    let data_dir = match writable(&state.config.app.data_dir).await {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("cannot write to {}: {e}", state.config.app.data_dir.display()),
    };
    let (verification, templates, fallback) = match state.verification.state() {
        VerificationState::Running => ("running", Default::default(), Default::default()),
        VerificationState::Finished { templates, fallback, .. } => {
            let said = |s: &TemplateStatus| match s {
                TemplateStatus::Verified => "verified".to_string(),
                TemplateStatus::Failed(why) => why.clone(),
            };
            let overall = templates
                .iter()
                .map(|(name, s)| {
                    let text = match (s, fallback.get(name)) {
                        (TemplateStatus::Verified, _) => "verified".to_string(),
                        (TemplateStatus::Failed(why), Some(TemplateStatus::Verified)) => {
                            format!("failed on Chromium, its jobs go to the verified fallback: {why}")
                        }
                        (TemplateStatus::Failed(why), other) => format!(
                            "verified on neither engine, its jobs are held for review. Chromium: {why}. Fallback: {}",
                            other.map(said).unwrap_or_else(|| "not verified".to_string())
                        ),
                    };
                    (name.clone(), text)
                })
                .collect();
            let fallback = fallback.iter().map(|(name, s)| (name.clone(), said(s))).collect();
            ("finished", overall, fallback)
        }
    };
    let ready = chromium == "ok" && data_dir == "ok" && verification == "finished";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Readiness { ready, chromium, data_dir, verification, templates, fallback }))
}

async fn writable(dir: &std::path::Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".readyz-{}", std::process::id()));
    tokio::fs::write(&probe, b"ok").await?;
    tokio::fs::remove_file(&probe).await
}
