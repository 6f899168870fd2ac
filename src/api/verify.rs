//! Start-up verification: before the server calls itself ready, it renders every
//! template's fixtures and compares them with their baselines (`check::run_with` on the
//! shared engine; the report goes to `DATA/startup-check/`). The result, per template,
//! is in [`Verification`] so routing can send a failing template to the fallback.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

use serde::Serialize;

use crate::check::{self, CheckOptions, Status};
use crate::pipeline::Engine;

/// How one template came out of the start-up verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    /// Every fixture matched its baseline.
    Verified,
    /// Why not (each failing fixture with its reasons).
    Failed(String),
}

/// Where the start-up verification is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum VerificationState {
    Running,
    Finished { templates: BTreeMap<String, TemplateStatus>, report: PathBuf },
}

/// The start-up verification's result, shared through `AppState`.
#[derive(Debug)]
pub struct Verification(RwLock<VerificationState>);

impl Default for Verification {
    fn default() -> Self {
        Verification(RwLock::new(VerificationState::Running))
    }
}

impl Verification {
    pub fn state(&self) -> VerificationState {
        self.0.read().map(|s| s.clone()).unwrap_or(VerificationState::Running)
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state(), VerificationState::Finished { .. })
    }

    /// `Some(true)` when the template was verified, `Some(false)` when it failed, `None`
    /// while verification runs or for a template it did not see.
    pub fn is_verified(&self, template: &str) -> Option<bool> {
        match self.state() {
            VerificationState::Running => None,
            VerificationState::Finished { templates, .. } => {
                templates.get(template).map(|s| *s == TemplateStatus::Verified)
            }
        }
    }

    fn finish(&self, templates: BTreeMap<String, TemplateStatus>, report: PathBuf) {
        if let Ok(mut s) = self.0.write() {
            *s = VerificationState::Finished { templates, report };
        }
    }
}

/// Runs the verification and records it. Templates the check could not even start for
/// (no fixtures, environment drift, …) all fail with that reason.
pub async fn run(engine: &Engine, options: CheckOptions, verification: &Verification) {
    let started = std::time::Instant::now();
    let report = options.report_dir.clone();
    let names: Vec<String> = match crate::template::Catalog::load(&options.templates_dir) {
        Ok(c) => c.templates.into_iter().map(|t| t.name).collect(),
        Err(e) => {
            tracing::error!(error = %e, "start-up verification could not load the templates");
            verification.finish(BTreeMap::new(), report);
            return;
        }
    };
    let result = match check::plan(&options.templates_dir, &options.templates) {
        Ok(fixtures) => check::run_with(engine, &options, fixtures, &mut check::progress::Silent).await,
        Err(e) => Err(e),
    };
    let mut templates: BTreeMap<String, TemplateStatus> =
        names.iter().map(|n| (n.clone(), TemplateStatus::Failed("it has no fixtures to verify".into()))).collect();
    match result {
        Ok(summary) => {
            let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut seen = std::collections::BTreeSet::new();
            for f in &summary.fixtures {
                seen.insert(f.key.template().to_string());
                if f.status != Status::Pass {
                    let why: Vec<String> = f.reasons.iter().map(ToString::to_string).collect();
                    let why = if why.is_empty() { f.status.label().to_string() } else { why.join("; ") };
                    failures.entry(f.key.template().to_string()).or_default().push(format!("{}: {why}", f.key));
                }
            }
            for name in seen {
                let status = match failures.remove(&name) {
                    None => TemplateStatus::Verified,
                    Some(lines) => TemplateStatus::Failed(lines.join(" | ")),
                };
                templates.insert(name, status);
            }
        }
        Err(e) => {
            let why = format!("the start-up check could not run: {e}");
            for status in templates.values_mut() {
                *status = TemplateStatus::Failed(why.clone());
            }
        }
    }
    for (name, status) in &templates {
        match status {
            TemplateStatus::Verified => tracing::info!(template = %name, "template verified"),
            TemplateStatus::Failed(why) => tracing::warn!(template = %name, %why, "template failed verification"),
        }
    }
    tracing::info!(seconds = started.elapsed().as_secs_f64(), report = %report.display(), "start-up verification finished");
    verification.finish(templates, report);
}

/// The verification for a server: check options from its configuration, the report under
/// `DATA/startup-check/`.
pub async fn run_for(state: super::AppState) {
    let options = CheckOptions {
        templates_dir: state.config.templates_dir.clone(),
        baselines_dir: state.config.baselines_dir.clone(),
        report_dir: state.config.data_dir.join("startup-check"),
        jobs: state.config.workers.max(1),
        user: "pixelproof-serve".to_string(),
        ..CheckOptions::default()
    };
    run(&state.engine, options, &state.verification).await;
}
