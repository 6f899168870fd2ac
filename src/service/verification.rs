//! Start-up verification: before the server calls itself ready, it renders every
//! template's fixtures and compares them with their baselines (`check::run_with` on the
//! shared engine; the report goes to `DATA/startup-check/`), then does the same with the
//! fallback engine against the fallback baselines (`DATA/startup-check-fallback/`). The
//! result, per template and engine, is in [`Verification`]: routing sends a template that
//! failed on Chromium to the fallback, the fallback ships a template's jobs only where the
//! template was verified on it, and a template verified on neither has its jobs held.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

use serde::Serialize;

use crate::check::{self, CheckOptions, Status};
use crate::fallback::FallbackRenderer;
use crate::pipeline::Engine;
use crate::routing::Renderer;

/// How one template came out of the start-up verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    /// Every fixture matched its baseline.
    Verified,
    /// Why not (each failing fixture with its reasons).
    Failed(String),
}

/// Where the start-up verification is. `templates` is Chromium's result, `fallback` the
/// fallback engine's (every template `failed` with the reason when it is not installed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum VerificationState {
    Running,
    Finished {
        templates: BTreeMap<String, TemplateStatus>,
        fallback: BTreeMap<String, TemplateStatus>,
        report: PathBuf,
    },
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

    /// Waits until verification has finished: a template job is not proved before its
    /// engines are (it would otherwise be judged without the `engine-verified` rule).
    pub async fn finished(&self) {
        while !self.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Whether the template was verified on `engine`: `Ok(())`, or `Err(why not)`; `None`
    /// while verification runs or for a template it did not see.
    pub fn on(&self, engine: Renderer, template: &str) -> Option<Result<(), String>> {
        match self.state() {
            VerificationState::Running => None,
            VerificationState::Finished { templates, fallback, .. } => {
                let results = match engine {
                    Renderer::Chromium => templates,
                    Renderer::Fallback => fallback,
                };
                results.get(template).map(|s| match s {
                    TemplateStatus::Verified => Ok(()),
                    TemplateStatus::Failed(why) => Err(why.clone()),
                })
            }
        }
    }

    /// `Some(true)` when the template was verified on Chromium, `Some(false)` when it
    /// failed, `None` while verification runs or for a template it did not see.
    pub fn is_verified(&self, template: &str) -> Option<bool> {
        self.on(Renderer::Chromium, template).map(|r| r.is_ok())
    }

    fn finish(
        &self,
        templates: BTreeMap<String, TemplateStatus>,
        fallback: BTreeMap<String, TemplateStatus>,
        report: PathBuf,
    ) {
        if let Ok(mut s) = self.0.write() {
            *s = VerificationState::Finished { templates, fallback, report };
        }
    }
}

/// Runs the verification on Chromium, then on the fallback (when there is one), and records
/// both. Templates the check could not even start for (no fixtures, environment drift, …)
/// all fail with that reason.
pub async fn run(
    engine: &Engine,
    fallback: Option<&FallbackRenderer>,
    options: CheckOptions,
    verification: &Verification,
) {
    let started = std::time::Instant::now();
    let report = options.report_dir.clone();
    let catalog = crate::template::Catalog::load(&options.templates_dir);
    // Templates the fallback does not print (`"fallback": false` in template.json).
    let not_for_fallback: Vec<String> = match &catalog {
        Ok(c) => c.templates.iter().filter(|t| !t.config.fallback_prints()).map(|t| t.name.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let names: Vec<String> = match catalog {
        Ok(c) => c.templates.into_iter().map(|t| t.name).collect(),
        Err(e) => {
            tracing::error!(error = %e, "start-up verification could not load the templates");
            verification.finish(BTreeMap::new(), BTreeMap::new(), report);
            return;
        }
    };
    let templates = verify_on(engine, &options, &names).await;
    let fallback = match fallback {
        Some(f) => {
            let options = CheckOptions {
                renderer: Renderer::Fallback,
                report_dir: fallback_report_dir(&options.report_dir),
                ..options.clone()
            };
            let mut verified = verify_on(&check::FallbackProver::new(engine, f), &options, &names).await;
            for name in &not_for_fallback {
                let why = "its template.json says the fallback does not print it (\"fallback\": false)";
                verified.insert(name.clone(), TemplateStatus::Failed(why.to_string()));
            }
            verified
        }
        None => {
            let why = "the fallback renderer is not installed (WeasyPrint: run scripts/setup)".to_string();
            names.iter().map(|n| (n.clone(), TemplateStatus::Failed(why.clone()))).collect()
        }
    };
    for name in &names {
        match (templates.get(name), fallback.get(name)) {
            (Some(TemplateStatus::Verified), _) => tracing::info!(template = %name, "template verified"),
            (Some(TemplateStatus::Failed(why)), Some(TemplateStatus::Verified)) => {
                tracing::warn!(template = %name, %why, "template failed verification on Chromium; the fallback prints its jobs")
            }
            (chromium, fallback) => tracing::warn!(
                template = %name, chromium = ?chromium, fallback = ?fallback,
                "template verified on neither engine: its jobs are held for review"
            ),
        }
    }
    tracing::info!(seconds = started.elapsed().as_secs_f64(), report = %report.display(), "start-up verification finished");
    verification.finish(templates, fallback, report);
}

/// Where the fallback's start-up report goes, beside Chromium's.
fn fallback_report_dir(report: &std::path::Path) -> PathBuf {
    let mut name = report.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push("-fallback");
    report.with_file_name(name)
}

/// Every template's fixtures through `prover`, against that engine's baselines.
async fn verify_on<P: check::Prover>(
    prover: &P,
    options: &CheckOptions,
    names: &[String],
) -> BTreeMap<String, TemplateStatus> {
    let result = match check::plan(&options.templates_dir, &options.templates) {
        Ok(fixtures) => check::run_with(prover, options, fixtures, &mut check::progress::Silent).await,
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
    templates
}
