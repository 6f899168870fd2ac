//! The check run: every fixture of every template through the pipeline, compared with
//! its baseline; writes the HTML report, JUnit XML and summary JSON.
//!
//! [`run`] starts the engine and drives [`run_with`], which works with any [`Prover`]:
//! tests give it synthetic proofs, so the whole run (plan, drift check, verdicts,
//! candidates, report) is testable without Chromium.
//!
//! A fixture *fails* on a failing verdict, font problems, blocked requests, a page count
//! outside the template's range, a template that does not render, or a missing baseline.
//! It is an *error* when the check cannot decide (the engine failed on it, its baseline is
//! damaged). With `--update`, a fixture that is new, differs or drifted becomes a
//! *candidate* instead of failing — unless the document itself is broken (fonts, blocked
//! requests, page count), which no approval can fix. On the fallback engine, templates whose
//! `template.json` says `"fallback": false` are left out.

mod assess;
pub mod html;
pub mod junit;
pub mod progress;
pub mod report;
pub mod summary;
mod textdiff;
pub mod xml;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::StreamExt;

use crate::baseline::{BaselineError, Key, Store};
use crate::compare::verdict::Limits;
use crate::document::Document;
use crate::fallback::{FallbackConfig, FallbackRenderer};
use crate::pins::Environment;
use crate::pipeline::{Engine, EngineConfig, EngineError, Proof};
use crate::routing::Renderer;
use crate::template::{Catalog, Fixture, Template, TemplateError};

pub use assess::{percent, FixtureError, ReportPage, NO_BASELINE, NO_FALLBACK_BASELINE};
pub use progress::Progress;
pub use report::{write_report, ReportError, ReportWriter};
pub use summary::{CheckSummary, FixtureOutcome, LimitsRecord, Reason, Status, TextChange, Timings, Totals};
pub use textdiff::line_diff;

/// What `pixelproof check` was asked to do.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub templates_dir: PathBuf,
    pub baselines_dir: PathBuf,
    /// Recreated on every run.
    pub report_dir: PathBuf,
    /// Write candidates for new and differing fixtures instead of failing them.
    pub update: bool,
    /// Only these templates (all when empty).
    pub templates: Vec<String>,
    pub dpi: u32,
    /// Compare even when a baseline was made in another environment.
    pub allow_drift: bool,
    pub limits: Limits,
    /// Recorded as a candidate's `created_by`.
    pub user: String,
    /// Documents proved at once (the engine's pool size).
    pub jobs: usize,
    /// Which engine prints the fixtures, and so whose baselines they are compared with.
    pub renderer: Renderer,
}

impl Default for CheckOptions {
    fn default() -> Self {
        let engine = EngineConfig::default();
        CheckOptions {
            templates_dir: crate::bundled::Bundled::Templates.default_dir(),
            baselines_dir: crate::bundled::Bundled::Baselines.default_dir(),
            report_dir: PathBuf::from("check-report"),
            update: false,
            templates: Vec::new(),
            dpi: engine.dpi,
            allow_drift: false,
            limits: Limits::default(),
            user: "unknown".to_string(),
            jobs: engine.pool_size,
            renderer: Renderer::Chromium,
        }
    }
}

/// Why a check run could not run (exit 2). Problems with single fixtures are not errors
/// here: they are outcomes in the summary.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Templates(#[from] TemplateError),
    #[error("no fixtures to check under {dir}: add fixtures/NAME.json beside a template's template.html")]
    NoFixtures { dir: PathBuf },
    #[error("{path} cannot be checked: {source}. Rename it")]
    BadName { path: PathBuf, source: crate::fixture::KeyError },
    #[error("could not start the rendering engine: {0}")]
    Engine(#[from] EngineError),
    #[error("{}", drift_message(.0))]
    Drift(BTreeMap<String, Vec<String>>),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("could not open the baselines: {0}")]
    Baselines(BaselineError),
    #[error("could not start the fallback renderer: {0}")]
    Fallback(#[from] crate::fallback::FallbackError),
}

fn drift_message(drift: &BTreeMap<String, Vec<String>>) -> String {
    let mut text = String::from(
        "environment drift: baselines were made in another environment than this run's, so their pixels cannot be trusted:",
    );
    for (line, keys) in drift {
        const SHOWN: usize = 4;
        let mut who = keys.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
        if keys.len() > SHOWN {
            who.push_str(&format!(" and {} more", keys.len() - SHOWN));
        }
        text.push_str(&format!("\n  {line} ({who})"));
    }
    text.push_str(
        "\nRe-make the baselines in the pinned environment (`pixelproof check --update --allow-drift`, then \
         `pixelproof baseline approve --all`), or pass --allow-drift to compare anyway.",
    );
    text
}

/// Something that proves documents in a known environment: the [`Engine`] (Chromium), the
/// [`FallbackProver`], or a stand-in.
pub trait Prover {
    fn environment(&self) -> &Environment;
    fn prove<'a>(&'a self, doc: &'a Document) -> impl Future<Output = Result<Proof, FixtureError>> + 'a;
}

impl Prover for Engine {
    fn environment(&self) -> &Environment {
        &self.environment
    }

    async fn prove(&self, doc: &Document) -> Result<Proof, FixtureError> {
        Ok(Engine::prove(self, doc).await?)
    }
}

/// The fallback engine (WeasyPrint) as a [`Prover`]: its pages are rasterized by the
/// engine's PDFium at the engine's DPI, and its environment names the WeasyPrint version.
pub struct FallbackProver<'a> {
    engine: &'a Engine,
    fallback: &'a FallbackRenderer,
    environment: Environment,
}

impl<'a> FallbackProver<'a> {
    pub fn new(engine: &'a Engine, fallback: &'a FallbackRenderer) -> FallbackProver<'a> {
        let environment = engine.environment.for_fallback(fallback.version());
        FallbackProver { engine, fallback, environment }
    }
}

impl Prover for FallbackProver<'_> {
    fn environment(&self) -> &Environment {
        &self.environment
    }

    async fn prove(&self, doc: &Document) -> Result<Proof, FixtureError> {
        Ok(self.fallback.prove(doc, &self.engine.rasterizer, self.engine.environment.dpi).await?)
    }
}

/// One fixture to check.
#[derive(Debug, Clone)]
pub struct PlannedFixture {
    pub key: Key,
    pub template: Template,
    pub fixture: Fixture,
}

/// Every fixture of the templates under `templates_dir` (only those named in `only`, when
/// it is not empty), in template then fixture order.
pub fn plan(templates_dir: &Path, only: &[String]) -> Result<Vec<PlannedFixture>, CheckError> {
    let catalog = Catalog::load(templates_dir)?;
    let templates: Vec<&Template> = if only.is_empty() {
        catalog.templates.iter().collect()
    } else {
        only.iter().map(|name| catalog.get(name)).collect::<Result<_, _>>()?
    };
    let mut planned = Vec::new();
    for template in templates {
        for fixture in template.fixtures()? {
            let key = Key::new(&template.name, &fixture.name)
                .map_err(|source| CheckError::BadName { path: fixture.path.clone(), source })?;
            planned.push(PlannedFixture { key, template: template.clone(), fixture });
        }
    }
    if planned.is_empty() {
        return Err(CheckError::NoFixtures { dir: templates_dir.to_path_buf() });
    }
    Ok(planned)
}

/// The whole run: plans, starts the engine, checks every fixture, writes the report.
pub async fn run(options: &CheckOptions, progress: &mut dyn Progress) -> Result<CheckSummary, CheckError> {
    let fixtures = plan(&options.templates_dir, &options.templates)?;
    // Refuse a bad --report before spending time on Chromium.
    report::check_replaceable(&options.report_dir)?;
    let config = EngineConfig { dpi: options.dpi, pool_size: options.jobs.max(1), ..EngineConfig::default() };
    let engine = Engine::start(config).await?;
    let result = match options.renderer {
        Renderer::Chromium => run_with(&engine, options, fixtures, progress).await,
        Renderer::Fallback => {
            match FallbackRenderer::new(FallbackConfig::new(std::sync::Arc::new(engine.fonts.clone()))) {
                Ok(fallback) => run_with(&FallbackProver::new(&engine, &fallback), options, fixtures, progress).await,
                Err(e) => Err(e.into()),
            }
        }
    };
    engine.chromium.shutdown().await;
    result
}

/// Checks `fixtures` with `prover` and writes the report.
pub async fn run_with<P: Prover>(
    prover: &P,
    options: &CheckOptions,
    fixtures: Vec<PlannedFixture>,
    progress: &mut dyn Progress,
) -> Result<CheckSummary, CheckError> {
    let started_at = crate::baseline::now();
    let clock = Instant::now();
    // A template the fallback does not print (`"fallback": false`) has nothing to prove there.
    let fixtures: Vec<PlannedFixture> = fixtures
        .into_iter()
        .filter(|f| options.renderer == Renderer::Chromium || f.template.config.fallback_prints())
        .collect();
    let store = Store::open(&options.baselines_dir).await.map_err(CheckError::Baselines)?.for_engine(options.renderer);
    let environment = prover.environment().clone();
    if !options.allow_drift {
        check_drift(&store, &fixtures, &environment).await?;
    }
    let mut report = ReportWriter::create(&options.report_dir)?;
    let ctx = assess::Context {
        store: &store,
        limits: &options.limits,
        environment: &environment,
        update: options.update,
        user: &options.user,
    };
    progress.start(fixtures.len());
    // Prove up to `jobs` documents at once; judge them in order as they come.
    let mut proofs = futures::stream::iter(fixtures.iter().map(|f| prove_one(prover, f))).buffered(options.jobs.max(1));
    let mut outcomes = Vec::with_capacity(fixtures.len());
    for fixture in &fixtures {
        progress.rendering(&fixture.key);
        let Some((proved, since, prove_ms)) = proofs.next().await else { break };
        let (mut outcome, pages) = assess::assess(&fixture.key, &fixture.template, proved, &ctx).await;
        outcome.timings.prove_ms = prove_ms;
        outcome.duration_ms = since.elapsed().as_millis() as u64;
        tracing::debug!(key = %outcome.key, status = outcome.status.label(), ms = outcome.duration_ms, "fixture checked");
        report.add(&outcome, &pages)?;
        progress.finished(&outcome);
        outcomes.push(outcome);
    }
    progress.done();
    let summary = CheckSummary {
        environment,
        started_at,
        duration_ms: clock.elapsed().as_millis() as u64,
        update: options.update,
        limits: LimitsRecord::from(&options.limits),
        baselines: options.baselines_dir.clone(),
        totals: Totals::count(&outcomes),
        fixtures: outcomes,
    };
    let index = report.finish(&summary)?;
    tracing::info!(report = %index.display(), totals = ?summary.totals, "check finished");
    Ok(summary)
}

async fn prove_one<P: Prover>(prover: &P, f: &PlannedFixture) -> (Result<Proof, FixtureError>, Instant, u64) {
    let since = Instant::now();
    let proved = match f.template.document(&f.fixture.data, &f.key.to_string()) {
        Ok(doc) => prover.prove(&doc).await,
        Err(e) => Err(FixtureError::from(e)),
    };
    (proved, since, since.elapsed().as_millis() as u64)
}

/// Refuses to compare with baselines made elsewhere: every differing field, with the
/// fixtures it affects. Unreadable manifests are left for the fixture's own outcome.
async fn check_drift(store: &Store, fixtures: &[PlannedFixture], here: &Environment) -> Result<(), CheckError> {
    let mut drift: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in fixtures {
        if let Ok(Some(manifest)) = store.read_manifest(&f.key).await {
            for line in here.drift_from(&manifest.environment) {
                drift.entry(line).or_default().push(f.key.to_string());
            }
        }
    }
    if drift.is_empty() {
        Ok(())
    } else {
        Err(CheckError::Drift(drift))
    }
}
