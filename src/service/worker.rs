//! One worker task: dequeue → `rendering` → route → prove → `verifying` → verify → (pass)
//! store → `done`; (fail) re-render with the fallback → verify → `fallback` or `held`. A
//! render error goes back to the queue with backoff until the queue's attempt limit, then
//! `failed`. A delivery whose job has already settled (at-least-once delivery) is acked
//! without rendering again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

use super::artifacts::{self, Pages};
use super::cache::{self, CacheKey, Lookup};
use super::verify::{verify, BaselineInput, Checked, Expectations};
use super::Service;
use crate::baseline::Baseline;
use crate::job::Document;
use crate::jobs::{JobRecord, JobState};
use crate::pipeline::{EngineError, Proof};
use crate::queue::{Delivery, Retried};
use crate::raster::RasterError;
use crate::render::{BlockedRequest, RenderError};
use crate::request::JobRequest;
use crate::routing::Renderer;
use crate::template::Template;

/// Why a job did not settle on this delivery.
struct Interrupt {
    error: String,
    /// Worth another delivery (a render crash or timeout, a disk hiccup) or not (bad options).
    retryable: bool,
    /// The object store is unavailable (S3 down, a disk hiccup): the job is not at fault, so
    /// it costs no attempt; the worker keeps the delivery unacknowledged and tries again.
    outage: bool,
}

impl Interrupt {
    fn retry(error: impl ToString) -> Interrupt {
        Interrupt { error: error.to_string(), retryable: true, outage: false }
    }
    fn fatal(error: impl ToString) -> Interrupt {
        Interrupt { error: error.to_string(), retryable: false, outage: false }
    }
    fn store(e: crate::store::StoreError) -> Interrupt {
        Interrupt { outage: e.is_retryable(), ..Interrupt::retry(e) }
    }
}

/// First and longest pause between tries of a job while the object store is unavailable.
const OUTAGE_PAUSE: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(10));

fn engine_interrupt(e: EngineError) -> Interrupt {
    match e {
        // The document's own fault: trying again (or on the fallback) prints it the same way.
        EngineError::Render(RenderError::Options(_)) | EngineError::Raster(RasterError::TooManyPages { .. }) => {
            Interrupt::fatal(e)
        }
        other => Interrupt::retry(other),
    }
}

fn fallback_interrupt(e: crate::fallback::FallbackError) -> Interrupt {
    match e {
        crate::fallback::FallbackError::Options(_)
        | crate::fallback::FallbackError::Raster(RasterError::TooManyPages { .. }) => {
            Interrupt::fatal(format!("fallback renderer: {e}"))
        }
        other => Interrupt::retry(format!("fallback renderer: {other}")),
    }
}

/// One printed attempt as the verdict shows it.
#[derive(Debug, Clone, Serialize)]
struct Attempt {
    renderer: String,
    pages: usize,
    bytes: usize,
    blocked_requests: Vec<BlockedRequest>,
    fonts: Vec<String>,
    #[serde(flatten)]
    checked: Checked,
}

impl Attempt {
    fn new(renderer: &str, proof: &Proof, checked: Checked) -> Attempt {
        Attempt {
            renderer: renderer.to_string(),
            pages: proof.pages.len(),
            bytes: proof.rendered.pdf.len(),
            blocked_requests: proof.rendered.blocked.clone(),
            fonts: proof.fonts.embedded.clone(),
            checked,
        }
    }
}

/// Runs until `stop` is set; an in-flight job gets `shutdown_grace` to finish, then goes back
/// to the queue.
pub(super) async fn run(service: Arc<Service>, n: usize, mut stop: watch::Receiver<bool>) {
    tracing::debug!(worker = n, "worker started");
    let mut down_since: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        let taken = service.queue.dequeue(Duration::from_millis(500)).await;
        // An outage is logged when it starts and when it ends, not on every try.
        match (&taken, down_since) {
            (Err(e), None) => {
                tracing::error!(worker = n, error = %e, "could not take a job from the queue; retrying every second");
                down_since = Some(Instant::now());
            }
            (Err(e), Some(_)) => tracing::debug!(worker = n, error = %e, "the queue is still unavailable"),
            (Ok(_), Some(since)) => {
                tracing::info!(worker = n, after = ?since.elapsed(), "the queue answers again");
                down_since = None;
            }
            (Ok(_), None) => {}
        }
        let delivery = match taken {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let work = process(&service, delivery.clone());
        tokio::pin!(work);
        let grace = service.config.shutdown_grace;
        let finished = tokio::select! {
            _ = &mut work => true,
            _ = grace_expired(&mut stop, grace) => false,
        };
        if !finished {
            requeue_at_shutdown(&service, delivery).await;
            break;
        }
    }
    tracing::debug!(worker = n, "worker stopped");
}

async fn grace_expired(stop: &mut watch::Receiver<bool>, grace: Duration) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
    tokio::time::sleep(grace).await;
}

async fn requeue_at_shutdown(service: &Service, delivery: Delivery) {
    let id = delivery.job;
    tracing::warn!(job = %id, "shutdown grace period over: the job goes back to the queue");
    if let Ok(Some(mut record)) = service.jobs.load(id).await {
        if !record.state.is_settled() && record.state != JobState::Held && record.state != JobState::Queued {
            let _ = record.transition(JobState::Queued, Some("the server shut down before the job finished"));
            if let Err(e) = service.jobs.save(&record).await {
                tracing::error!(job = %id, error = %e, "could not save a job sent back to the queue");
            }
        }
    }
    if let Err(e) = service.queue.retry(delivery, Duration::ZERO).await {
        tracing::error!(job = %id, error = %e, "could not send the job back to the queue; the next start recovers it");
    }
}

/// Handles one delivery to the end: ack, retry or dead, and the record saved accordingly.
/// While the object store is unavailable the delivery is kept (unacknowledged, no attempt
/// counted) and the job tried again with a growing pause: nothing is acked before it is stored.
async fn process(service: &Service, delivery: Delivery) {
    let mut delivery = delivery;
    let mut pause = OUTAGE_PAUSE.0;
    while let Some(kept) = process_once(service, delivery).await {
        tracing::warn!(job = %kept.job, ?pause, "the object store is unavailable: the job waits, unacknowledged, then is tried again");
        service.metrics.job("store_unavailable");
        tokio::time::sleep(pause).await;
        pause = pause.saturating_mul(2).min(OUTAGE_PAUSE.1);
        delivery = kept;
    }
}

/// One try at a delivery; `Some(delivery)` when the object store was unavailable (the
/// delivery untouched, for `process` to try again).
async fn process_once(service: &Service, delivery: Delivery) -> Option<Delivery> {
    let id = delivery.job;
    let record = match service.jobs.load(id).await {
        Ok(Some(r)) => r,
        Ok(None) => match delivery.request.clone() {
            // An app published the job to the queue itself: record it now.
            Some(request) => match record_published(service, id, request, delivery.submitter.as_deref()).await {
                Ok(r) => r,
                Err(e) => return retry(service, delivery, None, Interrupt::store(e)).await,
            },
            None => {
                tracing::error!(job = %id, "a queued job has no record: dropped as a dead letter");
                let _ = service.queue.dead(delivery, "the job has no record in the store").await;
                return None;
            }
        },
        Err(e) => return retry(service, delivery, None, Interrupt::store(e)).await,
    };
    if record.state.is_settled() || record.state == JobState::Held {
        tracing::info!(job = %id, state = %record.state, "delivered again after it settled: acked without rendering");
        // The process that settled it may have died before its result event went out.
        if !service.announce(&record).await {
            retry_announce(service, delivery).await;
            return None;
        }
        if let Err(e) = service.queue.ack(delivery).await {
            tracing::warn!(job = %id, error = %e, "could not ack a settled job");
        }
        if record.state.is_settled() && record.webhook.is_none() {
            service.notify(&record);
        }
        return None;
    }
    let max = service.queue.max_attempts();
    if delivery.attempts >= max {
        // Its workers kept dying under it (the queue counted the interrupted deliveries).
        let why = format!(
            "gave up after {} deliveries: the worker working on it stopped each time (crash, kill or lost connection)",
            delivery.attempts
        );
        fail(service, id, Some(record), &why).await;
        if let Err(e) = service.queue.dead(delivery, &why).await {
            tracing::warn!(job = %id, error = %e, "could not dead-letter a failed job (it is acked when delivered again)");
        }
        return None;
    }
    let mut record = record;
    match run_job(service, &mut record, delivery.attempts + 1 >= max).await {
        Ok(()) => {
            if !service.announce(&record).await {
                service.metrics.job(record.state.as_str());
                retry_announce(service, delivery).await;
                return None;
            }
            if let Err(e) = service.queue.ack(delivery).await {
                tracing::warn!(job = %id, error = %e, "could not ack a finished job (it will be acked when delivered again)");
            }
            service.metrics.job(record.state.as_str());
            tracing::info!(job = %id, state = %record.state, renderer = ?record.renderer, "job finished");
            if record.state.is_settled() {
                service.notify(&record);
            }
        }
        Err(interrupt) => {
            if let Some(kept) = retry(service, delivery, Some(record), interrupt).await {
                return Some(kept);
            }
        }
    }
    service.update_depth().await;
    None
}

/// Records a job an app published to the queue with its request: `queued` when the request
/// is valid (as `POST /v1/jobs` would check it), else `failed` saying why, so the app finds
/// the answer at `GET /v1/jobs/{id}` either way.
async fn record_published(
    service: &Service,
    id: crate::jobs::JobId,
    request: serde_json::Value,
    submitter: Option<&str>,
) -> Result<JobRecord, crate::store::StoreError> {
    let problem = match serde_json::from_value::<JobRequest>(request.clone()) {
        Ok(req) => service.validate(&req).err().map(|e| e.to_string()),
        Err(e) => Some(format!("it is not a job body (see POST /v1/jobs): {e}")),
    };
    let mut record = JobRecord::new(id, request, None);
    let submitter = submitter.unwrap_or(&service.config.default_submitter);
    record.submitter = Some(submitter.to_string());
    match &problem {
        Some(why) => {
            let _ = record.fail(&format!("the job published to the queue was refused: {why}"));
            service.metrics.job("invalid");
            tracing::warn!(job = %id, error = %why, "a job published to the queue was refused");
        }
        None => {
            service.metrics.job("accepted");
            tracing::info!(job = %id, %submitter, "job published to the queue: recorded");
        }
    }
    service.jobs.save(&record).await?;
    Ok(record)
}

/// Puts the job back in the queue with backoff, or fails it (not retryable, or out of
/// attempts). An outage of the object store costs no attempt: the delivery is given back
/// untouched, for `process` to try again.
async fn retry(service: &Service, delivery: Delivery, record: Option<JobRecord>, why: Interrupt) -> Option<Delivery> {
    if why.outage {
        tracing::debug!(job = %delivery.job, error = %why.error, "object store unavailable");
        return Some(delivery);
    }
    let id = delivery.job;
    let attempts = delivery.attempts;
    let mut record = record;
    if why.retryable {
        if let Some(r) = record.as_mut().filter(|r| !r.state.is_settled() && r.state != JobState::Queued) {
            let _ = r.transition(JobState::Queued, Some(&format!("retry: {}", why.error)));
            if let Err(e) = service.jobs.save(r).await {
                tracing::error!(job = %id, error = %e, "could not save a job being retried");
            }
        }
        let delay = service.config.retry_backoff.saturating_mul(2u32.saturating_pow(attempts.min(10)));
        match service.queue.retry(delivery, delay).await {
            Ok(Retried::Later { attempts }) => {
                tracing::warn!(job = %id, attempts, ?delay, error = %why.error, "job will be tried again");
                service.metrics.job("retried");
                return None;
            }
            Ok(Retried::Dead(letter)) => {
                let error = format!("gave up after {} attempt(s): {}", letter.attempts, why.error);
                fail(service, id, record, &error).await;
                return None;
            }
            Err(e) => {
                tracing::error!(job = %id, error = %e, "could not retry the job; the next start recovers it");
                return None;
            }
        }
    }
    if let Err(e) = service.queue.ack(delivery).await {
        tracing::warn!(job = %id, error = %e, "could not ack a failed job");
    }
    fail(service, id, record, &why.error).await;
    None
}

/// The job settled but its result event did not go out: deliver the job again soon (it is
/// then acked without rendering once the event is published). If even that fails, the
/// delivery stays unacknowledged and the broker delivers it again after reconnection.
async fn retry_announce(service: &Service, delivery: Delivery) {
    let id = delivery.job;
    match service.queue.retry(delivery, service.config.retry_backoff).await {
        Ok(_) => tracing::info!(job = %id, "job settled; its result event is published on its next delivery"),
        Err(e) => tracing::warn!(job = %id, error = %e, "job settled; its result event waits for the redelivery"),
    }
}

async fn fail(service: &Service, id: crate::jobs::JobId, record: Option<JobRecord>, error: &str) {
    let mut record = match record {
        Some(r) => r,
        None => match service.jobs.load(id).await {
            Ok(Some(r)) => r,
            _ => return tracing::error!(job = %id, %error, "job failed but its record cannot be read"),
        },
    };
    if record.fail(error).is_err() {
        return;
    }
    if let Err(e) = service.jobs.save(&record).await {
        return tracing::error!(job = %id, error = %e, "could not save a failed job; the next start recovers it");
    }
    tracing::warn!(job = %id, %error, "job failed");
    service.metrics.job("failed");
    service.announce(&record).await;
    service.notify(&record);
}

fn add_stage(service: &Service, record: &mut JobRecord, stage: &'static str, elapsed: Duration) {
    *record.stages_ms.entry(stage.to_string()).or_insert(0) += elapsed.as_millis() as u64;
    service.metrics.stage(stage, elapsed);
}

async fn save(service: &Service, record: &JobRecord) -> Result<(), Interrupt> {
    service.jobs.save(record).await.map_err(Interrupt::store)
}

fn moved(record: &mut JobRecord, to: JobState, note: Option<&str>) -> Result<(), Interrupt> {
    record.transition(to, note).map_err(Interrupt::fatal)
}

/// The job's route: a routing rule, or the template failed start-up verification on Chromium
/// here and was proved on the fallback instead. A template verified on neither engine goes to
/// Chromium: both engines' `engine-verified` rule then fails and the job is held with the
/// pages of both.
fn route(service: &Service, doc: &Document, template: Option<&Template>) -> (Renderer, Option<String>) {
    let options = serde_json::to_string(&doc.options).unwrap_or_default();
    let fingerprint = crate::routing::fingerprint(&doc.html, &options);
    let name = template.map(|t| t.name.as_str());
    let kept = || service.routing.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Sharing the table with other processes: read it again for every job, with no lock held
    // while reading (workers used to queue behind one another's read under the write lock),
    // route by what was read, and keep it for the next job should a read fail.
    let rule = if service.config.reload_routing {
        // Its own statement: the read lock is released before reading.
        let source = kept().source();
        match source.read() {
            Ok(table) => {
                let rule = table.route(name, &fingerprint);
                if let Ok(mut shared) = service.routing.write() {
                    *shared = table;
                }
                rule
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not re-read the routing table; using the rules read before");
                kept().route(name, &fingerprint)
            }
        }
    } else {
        kept().route(name, &fingerprint)
    };
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
    let k = key.clone();
    let (loaded, store) = tokio::task::spawn_blocking(move || (store.load_baseline(&k), store))
        .await
        .map_err(|e| Interrupt::retry(format!("the baseline loading task stopped: {e}")))?;
    let result = match loaded {
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
        Some((key, Ok(b))) => BaselineInput::Loaded { key: key.clone(), baseline: b },
        Some((key, Err(why))) => BaselineInput::Unusable { key: key.clone(), why: why.clone() },
    }
}

/// Everything needed to verify one proof of the job.
struct Job<'a> {
    doc: Document,
    template: Option<&'a Template>,
    /// Chromium's baseline of the job's key.
    baseline: LoadedBaseline,
    /// The fallback's baseline of the same key (loaded when the fallback runs).
    fallback_baseline: LoadedBaseline,
}

impl<'a> Job<'a> {
    /// `doc` is `request`'s document (each caller reports its own way that it cannot be made).
    async fn new(
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
    fn compares_pixels(&self) -> bool {
        self.baseline.is_some()
    }

    /// Loads the fallback's baseline of the job's key, before the fallback's proof is checked.
    async fn load_fallback_baseline(&mut self, service: &Service, request: &JobRequest) -> Result<(), Interrupt> {
        self.fallback_baseline = load_baseline(service, request, Renderer::Fallback).await?;
        Ok(())
    }

    async fn check(&self, service: &Service, proof: &Proof, engine: Renderer) -> Checked {
        let bytes_per_page = match self.template {
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
        let expect = Expectations {
            pages: self.template.map(|t| t.config.pages),
            max_pages: service.config.limits.max_pages,
            bytes_per_page,
            engine,
            baseline,
            reference,
            engine_verified: self.template.and_then(|t| service.verification.on(engine, &t.name)),
            environment: &environment,
            limits: &service.config.verdict_limits,
        };
        verify(proof, &self.doc, &expect)
    }

    /// The baseline `engine`'s pixels were compared with, if it loaded.
    fn loaded_baseline(&self, engine: Renderer) -> Option<&Baseline> {
        let loaded = match engine {
            Renderer::Chromium => &self.baseline,
            Renderer::Fallback => &self.fallback_baseline,
        };
        loaded.as_ref().and_then(|(_, b)| b.as_ref().ok())
    }
}

/// Renders, verifies and settles (or holds) one job; `Err` when it must be retried or failed.
/// `last_delivery`: the queue will not deliver the job again, so a Chromium crash or timeout
/// goes to the fallback rather than back to the queue.
async fn run_job(service: &Service, record: &mut JobRecord, last_delivery: bool) -> Result<(), Interrupt> {
    let request: JobRequest = serde_json::from_value(record.request.clone())
        .map_err(|e| Interrupt::fatal(format!("the stored request cannot be read: {e}")))?;
    let template = request.template.as_deref().and_then(|n| service.catalog.get(n).ok());
    let doc = request.document(&service.catalog, &service.config.limits).map_err(Interrupt::fatal)?;
    let mut job = Job::new(service, &request, doc, template).await?;
    if record.state != JobState::Queued {
        moved(record, JobState::Queued, Some("delivered again after an interruption"))?;
    }
    let waited = (chrono::Utc::now() - record.updated_at).to_std().unwrap_or_default();
    add_stage(service, record, "queued", waited);
    let (renderer, reason) = route(service, &job.doc, template);
    let cache_key = match look_up(service, record, &request, &job, renderer).await {
        Lookup::Hit(hit) => return settle_cached(service, record, *hit, reason.as_deref()).await,
        Lookup::Miss(key) => Some(key),
        Lookup::Off | Lookup::Bypass => None,
    };
    moved(record, JobState::Rendering, reason.as_deref())?;
    save(service, record).await?;

    let mut attempts: Vec<Attempt> = Vec::new();
    let mut chromium: Option<(Proof, Checked)> = None;
    if renderer == Renderer::Chromium {
        let started = Instant::now();
        let proof = match service.engine.prove_with(&job.doc, job.compares_pixels()).await {
            Ok(proof) => Some(proof),
            // A crash or timeout is retried on a fresh browser; on the last delivery the
            // fallback prints the document instead, under the fallback's rules.
            Err(e) => match engine_interrupt(e) {
                why if why.retryable && last_delivery && service.fallback.is_some() => {
                    add_stage(service, record, "rendering", started.elapsed());
                    let note = format!("Chromium failed on the last delivery: {}", why.error);
                    moved(record, JobState::Verifying, Some(&note))?;
                    moved(record, JobState::Rendering, Some("printing with the fallback instead"))?;
                    save(service, record).await?;
                    None
                }
                why => return Err(why),
            },
        };
        if let Some(proof) = proof {
            add_stage(service, record, "rendering", started.elapsed());
            for (stage, elapsed) in proof_stages(&proof) {
                add_stage(service, record, stage, elapsed);
            }
            // Not saved on its own: verifying takes milliseconds, and the record is saved with
            // its outcome (the history keeps the step). One fsync less per job.
            moved(record, JobState::Verifying, None)?;
            let started = Instant::now();
            let checked = job.check(service, &proof, Renderer::Chromium).await;
            add_stage(service, record, "verifying", started.elapsed());
            attempts.push(Attempt::new(service.engine.renderer.chromium_version(), &proof, checked.clone()));
            if checked.passed {
                return settle(service, record, JobState::Done, &proof, &attempts, cache_key.as_ref()).await;
            }
            let note = format!("verification failed, re-rendering with the fallback: {}", checked.reasons().join("; "));
            moved(record, JobState::Rendering, Some(&note))?;
            save(service, record).await?;
            chromium = Some((proof, checked));
        }
    }

    let Some(fallback) = &service.fallback else {
        let why = "no fallback renderer is available (WeasyPrint is not installed: run scripts/setup)";
        if chromium.is_none() {
            return Err(Interrupt::fatal(why));
        }
        moved(record, JobState::Verifying, Some(why))?;
        draw_for_review(service, &mut chromium).await?;
        return hold(service, record, &job, chromium.as_ref(), None, &attempts).await;
    };
    let started = Instant::now();
    let proof = fallback
        .prove(&job.doc, &service.engine.rasterizer, service.engine.environment.dpi)
        .await
        .map_err(fallback_interrupt)?;
    add_stage(service, record, "fallback", started.elapsed());
    moved(record, JobState::Verifying, None)?;
    save(service, record).await?;
    let started = Instant::now();
    job.load_fallback_baseline(service, &request).await?;
    let checked = job.check(service, &proof, Renderer::Fallback).await;
    add_stage(service, record, "verifying", started.elapsed());
    attempts.push(Attempt::new(fallback.version(), &proof, checked.clone()));
    if checked.passed {
        // Not cached when the fallback printed only because Chromium crashed on the last delivery.
        let cache_key = cache_key.filter(|_| renderer == Renderer::Fallback || chromium.is_some());
        return settle(service, record, JobState::Fallback, &proof, &attempts, cache_key.as_ref()).await;
    }
    draw_for_review(service, &mut chromium).await?;
    hold(service, record, &job, chromium.as_ref(), Some((&proof, &checked)), &attempts).await
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
async fn draw_for_review(service: &Service, chromium: &mut Option<(Proof, Checked)>) -> Result<(), Interrupt> {
    if let Some((proof, _)) = chromium.as_mut() {
        service.engine.draw(proof).await.map_err(engine_interrupt)?;
    }
    Ok(())
}

/// The verdict JSON: the shipped (or held) attempt's numbers first, every attempt below.
fn verdict_json(attempts: &[Attempt]) -> serde_json::Value {
    let Some(last) = attempts.last() else { return serde_json::json!({}) };
    let pixels = attempts.iter().find_map(|a| a.checked.pixels.as_ref());
    let changed: Option<u64> = attempts.iter().find_map(|a| a.checked.changed_pixels());
    serde_json::json!({
        "passed": last.checked.passed,
        "renderer": last.renderer,
        "pages": last.pages,
        "bytes": last.bytes,
        "changed_pixels": changed,
        "blocked_requests": last.blocked_requests,
        "fonts": last.fonts,
        "reasons": last.checked.reasons(),
        "pixels": pixels,
        "attempts": attempts,
    })
}

async fn settle(
    service: &Service,
    record: &mut JobRecord,
    to: JobState,
    proof: &Proof,
    attempts: &[Attempt],
    cache_key: Option<&CacheKey>,
) -> Result<(), Interrupt> {
    let started = Instant::now();
    let id = record.id;
    let verdict = verdict_json(attempts);
    let (key, stored) = service.jobs.put_pdf(id, proof.rendered.pdf.clone()).await.map_err(Interrupt::store)?;
    if stored == crate::store::Stored::AlreadyExisted {
        tracing::info!(job = %id, "the PDF was stored by an earlier delivery: kept");
    }
    let bytes = serde_json::to_vec_pretty(&verdict).unwrap_or_default();
    service.jobs.put_artifact(id, artifacts::VERDICT, bytes).await.map_err(Interrupt::store)?;
    record.pdf = Some(key);
    record.renderer = attempts.last().map(|a| a.renderer.clone());
    record.verdict = Some(verdict);
    add_stage(service, record, "storing", started.elapsed());
    moved(record, to, None)?;
    save(service, record).await?;
    if let Some(cache_key) = cache_key {
        service.cache.store(service, cache_key, record, &proof.rendered.pdf).await;
    }
    Ok(())
}

/// Asks the render cache for the job (recording the outcome and the `cache` stage).
async fn look_up(
    service: &Service,
    record: &mut JobRecord,
    request: &JobRequest,
    job: &Job<'_>,
    route: Renderer,
) -> Lookup {
    let started = Instant::now();
    let inputs = cache::Inputs {
        submitter: record.submitter.as_deref().unwrap_or_default(),
        doc: &job.doc,
        template: job.template,
        route,
        baseline_key: request.baseline_key().ok().flatten(),
        chromium_baseline: job.baseline.as_ref().map(|(_, b)| b.as_ref().map_err(String::as_str)),
    };
    let lookup = service.cache.lookup(service, record.id, inputs).await;
    record.cache = Some(lookup.outcome());
    if service.cache.is_enabled() {
        add_stage(service, record, "cache", started.elapsed());
    }
    lookup
}

/// Settles the job with the PDF and verdict an earlier job proved for the same inputs.
async fn settle_cached(
    service: &Service,
    record: &mut JobRecord,
    hit: cache::Hit,
    route_note: Option<&str>,
) -> Result<(), Interrupt> {
    let started = Instant::now();
    let (key, _) = service.jobs.put_pdf(record.id, hit.pdf).await.map_err(Interrupt::store)?;
    let bytes = serde_json::to_vec_pretty(&hit.entry.verdict).unwrap_or_default();
    service.jobs.put_artifact(record.id, artifacts::VERDICT, bytes).await.map_err(Interrupt::store)?;
    record.pdf = Some(key);
    record.renderer = Some(hit.entry.renderer);
    record.verdict = Some(hit.entry.verdict);
    add_stage(service, record, "storing", started.elapsed());
    let note = format!(
        "from the render cache: job {} proved this document in this environment against the same baseline and rules",
        hit.entry.job
    );
    moved(record, JobState::Rendering, route_note)?;
    moved(record, JobState::Verifying, None)?;
    moved(record, hit.entry.state, Some(&note))?;
    save(service, record).await
}

async fn hold(
    service: &Service,
    record: &mut JobRecord,
    job: &Job<'_>,
    chromium: Option<&(Proof, Checked)>,
    fallback: Option<(&Proof, &Checked)>,
    attempts: &[Attempt],
) -> Result<(), Interrupt> {
    let started = Instant::now();
    let id = record.id;
    let verdict = verdict_json(attempts);
    if let Some((proof, checked)) = chromium {
        let pages = Pages {
            engine: Renderer::Chromium,
            candidate: proof.pages.iter().map(|p| &p.image).collect(),
            baseline: checked.pixels.as_ref().and(job.loaded_baseline(Renderer::Chromium)),
            diffs: &checked.diffs,
        };
        artifacts::store_pages(&service.jobs, id, pages).await.map_err(Interrupt::store)?;
    }
    if let Some((proof, checked)) = fallback {
        let pages = Pages {
            engine: Renderer::Fallback,
            candidate: proof.pages.iter().map(|p| &p.image).collect(),
            baseline: checked.pixels.as_ref().and(job.loaded_baseline(Renderer::Fallback)),
            diffs: &checked.diffs,
        };
        artifacts::store_pages(&service.jobs, id, pages).await.map_err(Interrupt::store)?;
    }
    let last_pdf = fallback.map(|(p, _)| p).or(chromium.map(|(p, _)| p)).map(|p| p.rendered.pdf.clone());
    if let Some(pdf) = last_pdf {
        service.jobs.put_artifact(id, artifacts::HELD_PDF, pdf).await.map_err(Interrupt::store)?;
    }
    let bytes = serde_json::to_vec_pretty(&verdict).unwrap_or_default();
    service.jobs.put_artifact(id, artifacts::VERDICT, bytes).await.map_err(Interrupt::store)?;
    let reasons = attempts.last().map(|a| a.checked.reasons().join("; ")).unwrap_or_default();
    record.renderer = attempts.last().map(|a| a.renderer.clone());
    record.verdict = Some(verdict);
    add_stage(service, record, "storing", started.elapsed());
    moved(record, JobState::Held, Some(&format!("held for review: {reasons}")))?;
    save(service, record).await
}

/// What a synchronous render (`POST /v1/render`) ended with: the same route, verification and
/// fallback as a queued job, without a record, the queue or the store.
pub enum RenderedNow {
    /// A PDF that passed every rule: Chromium's (`state` = `done`) or the fallback's (`fallback`).
    Shipped { state: JobState, renderer: String, proof: Box<Proof> },
    /// Both engines failed verification (or Chromium did and no fallback is installed): the
    /// PDF is not shipped; the reasons of the last attempt.
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
    Fallback(#[from] crate::fallback::FallbackError),
    #[error("{0}")]
    Baseline(String),
}

/// Renders `request` now: route → prove → verify → (fail) fallback → verify.
pub(super) async fn render_now(service: &Service, request: &JobRequest) -> Result<RenderedNow, RenderNowError> {
    let template = request.template.as_deref().and_then(|n| service.catalog.get(n).ok());
    let doc = request.document(&service.catalog, &service.config.limits)?;
    let mut job = Job::new(service, request, doc, template).await.map_err(|i| RenderNowError::Baseline(i.error))?;
    let (renderer, _) = route(service, &job.doc, template);
    let mut reasons = Vec::new();
    if renderer == Renderer::Chromium {
        let engine = &service.engine;
        let started = Instant::now();
        let rendered = engine.renderer.render(&job.doc).await.map_err(EngineError::from)?;
        service.metrics.stage("render", started.elapsed());
        let proof = engine.proof_of(rendered, &job.doc, job.compares_pixels()).await?;
        for (stage, elapsed) in proof_stages(&proof) {
            service.metrics.stage(stage, elapsed);
        }
        let started = Instant::now();
        let checked = job.check(service, &proof, Renderer::Chromium).await;
        service.metrics.stage("verify", started.elapsed());
        if checked.passed {
            let renderer = service.engine.renderer.chromium_version().to_string();
            return Ok(RenderedNow::Shipped { state: JobState::Done, renderer, proof: Box::new(proof) });
        }
        reasons = checked.reasons();
    }
    let Some(fallback) = &service.fallback else {
        if reasons.is_empty() {
            reasons.push("routed to the fallback renderer, which is not installed (run scripts/setup)".into());
        }
        return Ok(RenderedNow::Held { reasons });
    };
    let started = Instant::now();
    let proof = fallback.prove(&job.doc, &service.engine.rasterizer, service.engine.environment.dpi).await?;
    service.metrics.stage("fallback", started.elapsed());
    job.load_fallback_baseline(service, request).await.map_err(|i| RenderNowError::Baseline(i.error))?;
    let checked = job.check(service, &proof, Renderer::Fallback).await;
    if checked.passed {
        let renderer = fallback.version().to_string();
        return Ok(RenderedNow::Shipped { state: JobState::Fallback, renderer, proof: Box::new(proof) });
    }
    let mut all = reasons.into_iter().map(|r| format!("chromium: {r}")).collect::<Vec<_>>();
    all.extend(checked.reasons().into_iter().map(|r| format!("fallback: {r}")));
    Ok(RenderedNow::Held { reasons: all })
}
