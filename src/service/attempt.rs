//! One attempt at a document, the same for a queued job (`worker`) and `POST /v1/render`
//! (`Service::render_now`): route → Chromium proves → `rules::verify` → (fail) the fallback
//! proves → verify → shipped or held. The callers differ only in what they do with the
//! progress (a job's record is moved and saved, `/v1/render` only counts stages) and with the
//! outcome (stored, or answered).
//!
//! Stage names, in job timings and the `pixelproof_stage_seconds` metric alike: `queued`,
//! `cache`, `rendering` (Chromium's whole proof), its steps `context`, `navigate`, `settle`,
//! `print`, `fonts`, `raster`, then `verifying`, `fallback` (the fallback's whole proof) and
//! `storing`.

use std::time::{Duration, Instant};

use super::Service;
use crate::baseline::{Baseline, StoredPage};
use crate::document::Document;
use crate::fallback::FallbackError;
use crate::jobs::{JobRecord, JobState};
use crate::pipeline::{EngineError, Proof};
use crate::raster::RasterError;
use crate::render::RenderError;
use crate::request::JobRequest;
use crate::routing::Renderer;
use crate::rules::{verify, Attempt, BaselineInput, BaselinePages, Checked, Expectations};
use crate::template::Template;

/// Why a job did not settle on this delivery.
pub(super) struct Interrupt {
    pub(super) error: String,
    /// Worth another delivery (a render crash or timeout, a disk hiccup) or not (bad options).
    pub(super) retryable: bool,
    /// The object store is unavailable (S3 down, a disk hiccup): the job is not at fault, so
    /// it costs no attempt; the worker keeps the delivery unacknowledged and tries again.
    pub(super) outage: bool,
}

impl Interrupt {
    pub(super) fn retry(error: impl ToString) -> Interrupt {
        Interrupt { error: error.to_string(), retryable: true, outage: false }
    }
    pub(super) fn fatal(error: impl ToString) -> Interrupt {
        Interrupt { error: error.to_string(), retryable: false, outage: false }
    }
    pub(super) fn store(e: crate::store::StoreError) -> Interrupt {
        Interrupt { outage: e.is_retryable(), ..Interrupt::retry(e) }
    }
}

pub(super) fn engine_interrupt(e: &EngineError) -> Interrupt {
    match e {
        // The document's own fault: trying again (or on the fallback) prints it the same way.
        EngineError::Render(RenderError::Options(_)) | EngineError::Raster(RasterError::TooManyPages { .. }) => {
            Interrupt::fatal(e)
        }
        other => Interrupt::retry(other),
    }
}

fn fallback_interrupt(e: FallbackError) -> Interrupt {
    match e {
        FallbackError::Options(_)
        | FallbackError::Unsupported { .. }
        | FallbackError::Raster(RasterError::TooManyPages { .. }) => {
            Interrupt::fatal(format!("fallback renderer: {e}"))
        }
        other => Interrupt::retry(format!("fallback renderer: {other}")),
    }
}

/// Where an attempt reports its progress: a queued job's record, or only the metrics.
pub(super) trait Progress {
    /// Time spent in a stage (see the module doc for the names).
    fn stage(&mut self, stage: &'static str, elapsed: Duration);
    /// The job moves to `to`; `save`: stored now, not only with the next saved step.
    async fn moved(&mut self, to: JobState, note: Option<&str>, save: bool) -> Result<(), Interrupt>;
}

/// A queued job's progress: its record moves through the states and collects the timings.
pub(super) struct Recorded<'a> {
    pub(super) service: &'a Service,
    pub(super) record: &'a mut JobRecord,
}

impl Progress for Recorded<'_> {
    fn stage(&mut self, stage: &'static str, elapsed: Duration) {
        add_stage(self.service, self.record, stage, elapsed);
    }

    async fn moved(&mut self, to: JobState, note: Option<&str>, save: bool) -> Result<(), Interrupt> {
        moved(self.record, to, note)?;
        if save {
            self.service.jobs.save(self.record).await.map_err(Interrupt::store)?;
        }
        Ok(())
    }
}

/// `POST /v1/render`'s progress: no record, only the stage metrics.
struct Unrecorded<'a>(&'a Service);

impl Progress for Unrecorded<'_> {
    fn stage(&mut self, stage: &'static str, elapsed: Duration) {
        self.0.metrics.stage(stage, elapsed);
    }

    async fn moved(&mut self, _: JobState, _: Option<&str>, _: bool) -> Result<(), Interrupt> {
        Ok(())
    }
}

/// Adds `elapsed` to the job's timing of `stage` and to the stage metric.
pub(super) fn add_stage(service: &Service, record: &mut JobRecord, stage: &'static str, elapsed: Duration) {
    *record.stages_ms.entry(stage.to_string()).or_insert(0) += elapsed.as_millis() as u64;
    service.metrics.stage(stage, elapsed);
}

pub(super) fn moved(record: &mut JobRecord, to: JobState, note: Option<&str>) -> Result<(), Interrupt> {
    record.transition(to, note).map_err(Interrupt::fatal)
}

/// How an attempt ended.
pub(super) enum Outcome {
    /// A proof passed every rule: Chromium's (`done`) or the fallback's (`fallback`).
    Shipped {
        state: JobState,
        proof: Box<Proof>,
        attempts: Vec<Attempt>,
        /// False when the fallback printed only because Chromium crashed on the last delivery:
        /// such a PDF is not what the route gives, so the render cache does not keep it.
        cacheable: bool,
    },
    /// Every engine's proof failed (or Chromium's did and no fallback is installed): nothing
    /// ships; each engine's proof and its rules, for the held artifacts.
    Held { chromium: Option<Box<(Proof, Checked)>>, fallback: Option<Box<(Proof, Checked)>>, attempts: Vec<Attempt> },
}

/// What stopped an attempt before it could decide.
pub(super) enum Stopped {
    Engine(EngineError),
    Fallback(FallbackError),
    /// The document went to the fallback (by route or after a crash) and none is installed.
    NoFallback(&'static str),
    /// Anything else (the job store, a baseline): already worded for the job's record.
    Interrupted(Interrupt),
}

impl From<Interrupt> for Stopped {
    fn from(i: Interrupt) -> Stopped {
        Stopped::Interrupted(i)
    }
}

impl Stopped {
    /// The job path's reading: what to retry, what fails the job.
    pub(super) fn interrupt(self) -> Interrupt {
        match self {
            Stopped::Engine(e) => engine_interrupt(&e),
            Stopped::Fallback(e) => fallback_interrupt(e),
            Stopped::NoFallback(why) => Interrupt::fatal(why),
            Stopped::Interrupted(i) => i,
        }
    }
}

const NO_FALLBACK: &str = "no fallback renderer is available (WeasyPrint is not installed: run scripts/setup)";

/// Proves `job` on its route and verifies it, falling back once. `crash_to_fallback`: a Chromium
/// crash or timeout goes to the fallback (the queue's last delivery) instead of ending the attempt.
pub(super) async fn attempt(
    service: &Service,
    job: &mut Job<'_>,
    request: &JobRequest,
    route: Renderer,
    crash_to_fallback: bool,
    progress: &mut impl Progress,
) -> Result<Outcome, Stopped> {
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut chromium: Option<Box<(Proof, Checked)>> = None;
    if route == Renderer::Chromium {
        let started = Instant::now();
        match service.engine.prove_with(&job.doc, job.compares_pixels()).await {
            Ok(proof) => {
                progress.stage("rendering", started.elapsed());
                for (stage, elapsed) in proof_stages(&proof) {
                    progress.stage(stage, elapsed);
                }
                // Not saved on its own: verifying takes milliseconds, and the record is saved with
                // its outcome (the history keeps the step). One fsync less per job.
                progress.moved(JobState::Verifying, None, false).await?;
                let started = Instant::now();
                let checked = job.check(service, &proof, Renderer::Chromium).await;
                progress.stage("verifying", started.elapsed());
                attempts.push(Attempt::new(
                    Renderer::Chromium,
                    service.engine.chromium.version(),
                    &proof,
                    checked.clone(),
                ));
                if checked.passed {
                    let proof = Box::new(proof);
                    return Ok(Outcome::Shipped { state: JobState::Done, proof, attempts, cacheable: true });
                }
                let note =
                    format!("verification failed, re-rendering with the fallback: {}", checked.reasons().join("; "));
                progress.moved(JobState::Rendering, Some(&note), true).await?;
                chromium = Some(Box::new((proof, checked)));
            }
            // A crash or timeout is retried on a fresh browser; on the last delivery the
            // fallback prints the document instead, under the fallback's rules.
            Err(e) => {
                let why = engine_interrupt(&e);
                if !(why.retryable && crash_to_fallback && service.fallback.is_some()) {
                    return Err(Stopped::Engine(e));
                }
                progress.stage("rendering", started.elapsed());
                let note = format!("Chromium failed on the last delivery: {e}");
                progress.moved(JobState::Verifying, Some(&note), false).await?;
                progress.moved(JobState::Rendering, Some("printing with the fallback instead"), true).await?;
            }
        }
    }

    let Some(fallback) = &service.fallback else {
        if chromium.is_none() {
            return Err(Stopped::NoFallback(NO_FALLBACK));
        }
        progress.moved(JobState::Verifying, Some(NO_FALLBACK), false).await?;
        return Ok(Outcome::Held { chromium, fallback: None, attempts });
    };
    let started = Instant::now();
    let proof = match fallback.prove(&job.doc, &service.engine.rasterizer, service.engine.environment.dpi).await {
        Ok(proof) => proof,
        // An option the fallback cannot print (`background: false`): as with no fallback,
        // what Chromium printed waits for an operator, with the reason.
        Err(e @ FallbackError::Unsupported { .. }) if chromium.is_some() => {
            progress.moved(JobState::Verifying, Some(&e.to_string()), false).await?;
            return Ok(Outcome::Held { chromium, fallback: None, attempts });
        }
        Err(e) => return Err(Stopped::Fallback(e)),
    };
    progress.stage("fallback", started.elapsed());
    progress.moved(JobState::Verifying, None, true).await?;
    let started = Instant::now();
    job.load_fallback_baseline(service, request).await?;
    let checked = job.check(service, &proof, Renderer::Fallback).await;
    progress.stage("verifying", started.elapsed());
    attempts.push(Attempt::new(Renderer::Fallback, fallback.version(), &proof, checked.clone()));
    if checked.passed {
        let cacheable = route == Renderer::Fallback || chromium.is_some();
        return Ok(Outcome::Shipped { state: JobState::Fallback, proof: Box::new(proof), attempts, cacheable });
    }
    Ok(Outcome::Held { chromium, fallback: Some(Box::new((proof, checked))), attempts })
}

/// The job's route: a routing rule, or the template failed start-up verification on Chromium
/// here and was proved on the fallback instead. A template verified on neither engine goes to
/// Chromium: both engines' `engine-verified` rule then fails and the job is held with the
/// pages of both.
pub(super) fn route(service: &Service, doc: &Document, template: Option<&Template>) -> (Renderer, Option<String>) {
    let options = serde_json::to_string(&doc.options).unwrap_or_default();
    let fingerprint = crate::routing::fingerprint(&doc.html, &options);
    let name = template.map(|t| t.name.as_str());
    // By the rules at hand: a shared table is read again in the background (`routing::Routes`).
    let rule = service.routing.route(name, &fingerprint);
    if rule.renderer == Renderer::Fallback {
        return (Renderer::Fallback, Some(format!("routing rule {}", rule.rule.unwrap_or_default())));
    }
    if let Some(t) = name {
        let chromium = service.verification.on(Renderer::Chromium, t);
        let fallback = service.verification.on(Renderer::Fallback, t);
        if matches!(chromium, Some(Err(_))) && matches!(fallback, Some(Ok(()))) {
            let why = format!(
                "template {t} failed start-up verification on Chromium on this machine and passed it on the fallback"
            );
            return (Renderer::Fallback, Some(why));
        }
    }
    (Renderer::Chromium, None)
}

/// The job's baseline made by `engine`, when the job names one: loaded and verified, or why
/// it cannot be used.
async fn load_baseline(
    service: &Service,
    request: &JobRequest,
    engine: Renderer,
) -> Result<Option<(String, Result<Baseline, String>)>, Interrupt> {
    let Some(key) = request.baseline_key().map_err(Interrupt::fatal)? else { return Ok(None) };
    let store = service.baselines.for_engine(engine);
    let result = match store.load_baseline(&key).await {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(match engine {
            Renderer::Chromium => format!("there is no approved baseline {key} in {}", store.location()),
            Renderer::Fallback => format!(
                "there is no approved fallback baseline {key} in {}: the fallback's pixels are only judged against \
                 its own (`pixelproof check --update --renderer fallback`, then `pixelproof baseline approve \
                 --renderer fallback {key}`)",
                store.location()
            ),
        }),
        // The bucket is unreachable: the job waits for it like for the job store.
        Err(e) if e.is_retryable() => return Err(Interrupt { outage: true, ..Interrupt::retry(e) }),
        Err(e) => Err(e.to_string()),
    };
    Ok(Some((key.to_string(), result)))
}

type LoadedBaseline = Option<(String, Result<Baseline, String>)>;

fn baseline_input(loaded: &LoadedBaseline) -> BaselineInput<'_> {
    match loaded {
        None => BaselineInput::None,
        Some((key, Ok(b))) => BaselineInput::Loaded {
            key: key.clone(),
            baseline: BaselinePages {
                pages: b.pages.iter().map(StoredPage::input).collect(),
                environment: &b.manifest.environment,
            },
        },
        Some((key, Err(why))) => BaselineInput::Unusable { key: key.clone(), why: why.clone() },
    }
}

/// Everything needed to verify one proof of the job.
pub(super) struct Job<'a> {
    pub(super) doc: Document,
    pub(super) template: Option<&'a Template>,
    /// Chromium's baseline of the job's key.
    pub(super) baseline: LoadedBaseline,
    /// The fallback's baseline of the same key (loaded when the fallback runs).
    fallback_baseline: LoadedBaseline,
}

impl<'a> Job<'a> {
    /// `doc` is `request`'s document (each caller reports its own way that it cannot be made).
    pub(super) async fn new(
        service: &Service,
        request: &JobRequest,
        doc: Document,
        template: Option<&'a Template>,
    ) -> Result<Job<'a>, Interrupt> {
        if template.is_some() && !service.verification.is_finished() {
            tracing::info!(label = %doc.label, "a template job waits for start-up verification to finish");
            service.verification.finished().await;
        }
        let baseline = load_baseline(service, request, Renderer::Chromium).await?;
        Ok(Job { doc, template, baseline, fallback_baseline: None })
    }

    /// True when the job names a baseline: its Chromium pages are drawn to be compared. Without
    /// one, no rule looks at pixels, so the pages are only read (count, text, fonts).
    pub(super) fn compares_pixels(&self) -> bool {
        self.baseline.is_some()
    }

    /// Loads the fallback's baseline of the job's key, before the fallback's proof is checked.
    async fn load_fallback_baseline(&mut self, service: &Service, request: &JobRequest) -> Result<(), Interrupt> {
        self.fallback_baseline = load_baseline(service, request, Renderer::Fallback).await?;
        Ok(())
    }

    async fn check(&self, service: &Service, proof: &Proof, engine: Renderer) -> Checked {
        // A template's page range and page size are its own document's: a PDF other documents
        // were merged into is held to --max-pages and every other rule, not to those.
        let own = self.template.filter(|_| self.doc.merge.is_empty());
        let bytes_per_page = match own {
            Some(t) => service.bytes_per_page(t, engine.as_str()).await,
            None => None,
        };
        let (baseline, reference, environment) = match engine {
            Renderer::Chromium => {
                (baseline_input(&self.baseline), BaselineInput::None, service.engine.environment.clone())
            }
            Renderer::Fallback => {
                let version = service.fallback.as_ref().map(|f| f.version()).unwrap_or_default();
                let environment = service.engine.environment.for_fallback(version);
                (baseline_input(&self.fallback_baseline), baseline_input(&self.baseline), environment)
            }
        };
        let limits = match self.template {
            Some(t) => t.verdict_limits(&service.config.verdict_limits),
            None => service.config.verdict_limits.clone(),
        };
        let expect = Expectations {
            pages: own.map(|t| t.config.pages),
            max_pages: service.config.limits.max_pages,
            bytes_per_page,
            engine,
            baseline,
            reference,
            engine_verified: self.template.and_then(|t| service.verification.on(engine, &t.name)),
            environment: &environment,
            limits: &limits,
            masks: self.template.map(|t| t.config.masks.as_slice()).unwrap_or_default(),
        };
        verify(proof, &self.doc, &expect)
    }

    /// The baseline `engine`'s pixels were compared with, if it loaded.
    pub(super) fn loaded_baseline(&self, engine: Renderer) -> Option<&Baseline> {
        let loaded = match engine {
            Renderer::Chromium => &self.baseline,
            Renderer::Fallback => &self.fallback_baseline,
        };
        loaded.as_ref().and_then(|(_, b)| b.as_ref().ok())
    }
}

/// The steps of one Chromium proof as job stages: `context`, `navigate`, `settle`, `print`,
/// `fonts` (from the renderer) and `raster` (reading, and drawing when pixels are compared).
fn proof_stages(proof: &Proof) -> [(&'static str, Duration); 6] {
    let t = proof.rendered.timings;
    [
        ("context", t.context),
        ("navigate", t.navigate),
        ("settle", t.settle),
        ("print", t.print),
        ("fonts", t.fonts),
        ("raster", proof.raster),
    ]
}

/// A held job's Chromium pages are shown to the operator: draw them if the proof compared no
/// pixels and so did not.
pub(super) async fn draw_for_review(
    service: &Service,
    chromium: &mut Option<Box<(Proof, Checked)>>,
) -> Result<(), Interrupt> {
    if let Some(held) = chromium.as_mut() {
        service.engine.draw(&mut held.0).await.map_err(|e| engine_interrupt(&e))?;
    }
    Ok(())
}

/// What a synchronous render (`POST /v1/render`) ended with: the same route, verification and
/// fallback as a queued job, without a record, the queue or the store.
pub enum RenderedNow {
    /// A PDF that passed every rule: Chromium's (`state` = `done`) or the fallback's (`fallback`).
    Shipped { state: JobState, engine: Renderer, renderer_version: String, proof: Box<Proof> },
    /// Both engines failed verification (or Chromium did and no fallback is installed): the
    /// PDF is not shipped; the failed rules of each engine's proof.
    Held { reasons: Vec<String> },
}

/// Why a synchronous render could not decide.
#[derive(Debug, thiserror::Error)]
pub enum RenderNowError {
    #[error(transparent)]
    Request(#[from] crate::request::RequestError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("fallback renderer: {0}")]
    Fallback(#[from] FallbackError),
    #[error("{0}")]
    Baseline(String),
    /// The encrypted file is not the proved document (or could not be made): nothing ships.
    #[error("the encrypted PDF {0}; nothing was shipped")]
    Encryption(String),
}

/// The proved PDF encrypted as asked, then proved again: PDFium opens the encrypted file with
/// its password, and its pages and each page's text are the proved ones. Only then is it the
/// PDF that ships.
async fn encrypt_proved(
    service: &Service,
    proof: &mut Proof,
    encryption: &crate::document::Encryption,
) -> Result<(), RenderNowError> {
    let sealed = crate::postprocess::encrypt::encrypt(&proof.rendered.pdf, encryption)
        .map_err(|e| RenderNowError::Encryption(format!("could not be made: {e}")))?;
    let password = crate::postprocess::encrypt::opening_password(encryption);
    let reopened = service
        .engine
        .reopen(&sealed, password)
        .await
        .map_err(|e| RenderNowError::Encryption(format!("could not be opened with its password: {e}")))?;
    if reopened.len() != proof.pages.len() {
        return Err(RenderNowError::Encryption(format!(
            "has {} page(s) where the proved document has {}",
            reopened.len(),
            proof.pages.len()
        )));
    }
    let text = |t: &str| crate::rules::normalise_text(t);
    if let Some((page, _)) = reopened.iter().zip(&proof.pages).find(|(a, b)| text(&a.text) != text(&b.text)) {
        return Err(RenderNowError::Encryption(format!(
            "has other text on page {} than the proved document",
            page.number
        )));
    }
    proof.rendered.pdf = sealed;
    Ok(())
}

/// Renders `request` now: the job path's [`attempt`], answered instead of stored.
pub(super) async fn render_now(service: &Service, request: &JobRequest) -> Result<RenderedNow, RenderNowError> {
    let template = request.template.as_deref().and_then(|n| service.catalog.get(n).ok());
    let doc = request.document(&service.catalog, &service.config.limits)?;
    let mut job = Job::new(service, request, doc, template).await.map_err(|i| RenderNowError::Baseline(i.error))?;
    let (route, _) = route(service, &job.doc, template);
    let outcome = attempt(service, &mut job, request, route, false, &mut Unrecorded(service)).await;
    match outcome {
        Ok(Outcome::Shipped { state, mut proof, attempts, .. }) => {
            if let Some(encryption) = &request.encryption {
                encrypt_proved(service, &mut proof, encryption).await?;
            }
            let last = attempts.last();
            let engine = last.map_or(Renderer::Chromium, |a| a.engine);
            let renderer_version = last.map(|a| a.renderer_version.clone()).unwrap_or_default();
            Ok(RenderedNow::Shipped { state, engine, renderer_version, proof })
        }
        Ok(Outcome::Held { attempts, .. }) => Ok(RenderedNow::Held { reasons: crate::rules::failed_rules(&attempts) }),
        Err(Stopped::Engine(e)) => Err(e.into()),
        Err(Stopped::Fallback(e)) => Err(e.into()),
        Err(Stopped::NoFallback(_)) => Ok(RenderedNow::Held {
            reasons: vec!["routed to the fallback renderer, which is not installed (run scripts/setup)".into()],
        }),
        Err(Stopped::Interrupted(i)) => Err(RenderNowError::Baseline(i.error)),
    }
}
