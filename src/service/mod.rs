//! The job path of the service: `submit` (validate, claim the idempotency key, save the
//! record `queued`, enqueue), the worker tasks (`worker`: render → verify → fallback →
//! store → settled), start-up recovery, graceful shutdown and webhooks (`notify`).
//!
//! One [`Service`] is built by `pixelproof serve` and shared (`Arc`) by the API and the
//! workers; the queue's lock is per data directory, so both live in one process.
//!
//! Invariants held here:
//! * every accepted job ends in exactly one terminal state: a job is saved before it is
//!   enqueued; a record no worker will settle is removed (queue full) or enqueued again at
//!   start-up (crash between save and enqueue); a redelivered settled job is acked without
//!   rendering again (delivery is at-least-once);
//! * a held PDF is never served to the submitter: it is stored as the artifact `held.pdf`,
//!   never as `jobs/{id}/document.pdf`, which only `done`/`fallback` jobs have;
//! * a cached PDF ships only for the same document, environment, baseline and rules
//!   (`cache`: the key covers them all; only shipped jobs are stored).

pub mod admission;
pub mod artifacts;
mod attempt;
pub mod cache;
pub mod metrics;
mod notify;
pub mod outbox;
pub mod quota;
pub mod retention;
mod sizes;
pub mod verification;
mod worker;

pub use attempt::{RenderNowError, RenderedNow};
pub use outbox::{WebhookBody, WebhookEvent};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::fallback::FallbackRenderer;
use crate::idempotency::{BodyFingerprint, IdempotencyKey};
use crate::jobs::{Claim, Claimed, JobStore, Scope};
use crate::jobs::{JobId, JobRecord, JobState};
use crate::pipeline::Engine;
use crate::queue::{Queue, QueueError, Recovery};
use crate::request::{JobRequest, RequestError};
use crate::routing::{Routes, RoutingTable, ROUTING_TTL};
use crate::store::StoreError;
use crate::template::Catalog;
use crate::webhook::{WebhookError, WebhookPolicy};
use metrics::Metrics;
use verification::Verification;

/// How the job path runs (part of `ServeConfig`).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Worker tasks (they share the one Chromium pool); 0 in an API-only process
    /// (`serve --api-only`), where only `pixelproof worker`s take queued jobs.
    pub workers: usize,
    pub limits: crate::request::Limits,
    /// The pixel verdict's limits for jobs that name a baseline.
    pub verdict_limits: crate::compare::verdict::Limits,
    /// First delay before a job whose render failed is delivered again; doubled per attempt.
    pub retry_backoff: Duration,
    /// How long in-flight jobs may take to finish after SIGTERM before they are re-queued.
    pub shutdown_grace: Duration,
    pub webhook: WebhookPolicy,
    /// Where `status_url`s and `pdf_url`s point (`http://ADDR`).
    pub public_url: String,
    pub baselines_dir: std::path::PathBuf,
    /// Re-read the routing table every `routing::ROUTING_TTL` (set when several processes
    /// share it: the API edits the rules, workers elsewhere apply them).
    pub reload_routing: bool,
    /// Jobs one submitter may have waiting or running (`--max-queue-per-submitter`); `None`: no cap.
    pub max_queue_per_submitter: Option<usize>,
    /// Webhook signing secrets (`--webhook-secret`): per submitter, and a server-wide default.
    pub webhook_secrets: crate::webhook::signature::Secrets,
    /// The submitter of jobs apps publish to RabbitMQ without a `submitter` field.
    pub default_submitter: String,
    /// Answer a job identical to one that shipped from the render cache (`--render-cache`).
    pub render_cache: bool,
    /// `--retain-days`: settled jobs older than this are removed (`None`: kept).
    pub retain_days: Option<u32>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            workers: 2,
            limits: crate::request::Limits::default(),
            verdict_limits: crate::compare::verdict::Limits::default(),
            retry_backoff: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            webhook: WebhookPolicy::default(),
            public_url: "http://127.0.0.1:8080".to_string(),
            baselines_dir: crate::bundled::Bundled::Baselines.default_dir(),
            reload_routing: false,
            max_queue_per_submitter: None,
            webhook_secrets: crate::webhook::signature::Secrets::default(),
            default_submitter: "queue".to_string(),
            render_cache: true,
            retain_days: None,
        }
    }
}

/// Why a job was not accepted. The API maps each to a status (see `api::jobs`).
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] RequestError),
    #[error(transparent)]
    Callback(#[from] WebhookError),
    #[error("the queue is full ({limit} jobs waiting or running): retry after a few seconds")]
    Full { limit: usize },
    #[error(
        "Idempotency-Key {key:?} was used before with a different request body; a key names one request: \
         send the same body to get that job back, or use a new key for a new job"
    )]
    KeyReused { key: String },
    #[error(transparent)]
    Quota(#[from] quota::QuotaError),
    #[error("the server is shutting down and takes no new jobs: retry on another instance or after it restarts")]
    ShuttingDown,
    #[error("the job could not be queued: {0}")]
    Queue(QueueError),
    #[error("the job could not be stored: {0}")]
    Store(#[from] StoreError),
}

/// What `submit` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    pub id: JobId,
    /// `true` when the idempotency key had already made this job (answer 200, not 202).
    pub existing: bool,
}

/// The job path, shared by the API and the workers.
pub struct Service {
    pub config: ServiceConfig,
    pub engine: Arc<Engine>,
    pub catalog: Arc<Catalog>,
    /// `None` when WeasyPrint is not installed: a failing document is then held directly.
    pub fallback: Option<FallbackRenderer>,
    /// The embedded queue or RabbitMQ (`--queue`).
    pub queue: Arc<dyn Queue>,
    pub jobs: JobStore,
    /// The operators' routing table as this process routes by it (the routing API edits it).
    pub routing: Arc<Routes>,
    pub verification: Arc<Verification>,
    pub metrics: Arc<Metrics>,
    pub baselines: crate::baseline::Store,
    /// Shipped jobs' PDFs and verdicts by everything that decided them (`cache`), in the job store.
    pub cache: cache::RenderCache,
    accepting: AtomicBool,
    /// Serialises keyed submissions so two requests with one key cannot both create the job.
    keyed: tokio::sync::Mutex<()>,
    sizes: sizes::Sizes,
    quota: quota::Quota,
    /// Wakes the outbox task when a webhook is written to the outbox.
    outbox_wake: tokio::sync::Notify,
}

/// What a [`Service`] is made of (`app` opens and starts each).
pub struct Parts {
    pub config: ServiceConfig,
    pub engine: Arc<Engine>,
    pub catalog: Arc<Catalog>,
    /// `None` when WeasyPrint is not installed: a document Chromium's proof failed is held.
    pub fallback: Option<FallbackRenderer>,
    pub queue: Arc<dyn Queue>,
    /// What the queue recovered from an earlier process (see [`Service::recover`]).
    pub recovery: Recovery,
    pub jobs: JobStore,
    pub routing: RoutingTable,
    pub baselines: crate::baseline::Store,
}

impl Service {
    /// The service, and what its queue recovered (for [`Service::recover`]). Its metrics and
    /// start-up verification start empty.
    pub fn new(parts: Parts) -> (Service, Recovery) {
        let Parts { config, engine, catalog, fallback, queue, recovery, jobs, routing, baselines } = parts;
        let quota = quota::Quota::new(config.max_queue_per_submitter);
        let cache = cache::RenderCache::new(jobs.objects().clone(), config.render_cache);
        let routing = Routes::new(routing, config.reload_routing.then_some(ROUTING_TTL));
        let service = Service {
            config,
            engine,
            catalog,
            fallback,
            queue,
            jobs,
            routing,
            verification: Arc::new(Verification::default()),
            metrics: Arc::new(Metrics::new()),
            baselines,
            cache,
            accepting: AtomicBool::new(true),
            keyed: tokio::sync::Mutex::new(()),
            sizes: sizes::Sizes::default(),
            quota,
            outbox_wake: tokio::sync::Notify::new(),
        };
        (service, recovery)
    }

    /// Whether new jobs are taken (false once shutdown began).
    pub fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }

    pub fn status_url(&self, id: JobId) -> String {
        format!("{}/v1/jobs/{id}", self.config.public_url)
    }

    /// Validates a job, claims the submitter's idempotency key (bound to the body's
    /// fingerprint), counts it against the submitter's quota, saves it `queued` with its
    /// submitter and enqueues it. A queue that is full leaves nothing behind (the record is
    /// removed; the key's claim stays bound to the id, so a retry with the same key and
    /// body makes that same job).
    pub async fn submit(
        &self,
        request: JobRequest,
        idempotency_key: Option<IdempotencyKey>,
        submitter: &str,
        traceparent: Option<String>,
    ) -> Result<Submitted, SubmitError> {
        if !self.is_accepting() {
            return Err(SubmitError::ShuttingDown);
        }
        self.validate(&request)?;
        let mut id = JobId::new();
        let _guard = match &idempotency_key {
            Some(_) => Some(self.keyed.lock().await),
            None => None,
        };
        if let Some(key) = &idempotency_key {
            match self.claim(key, submitter, id, &request).await? {
                Some(Submitted { id: existing, existing: true }) => {
                    return Ok(Submitted { id: existing, existing: true })
                }
                Some(unfinished) => id = unfinished.id,
                None => {}
            }
        }
        if let Err(e) = self.quota.reserve(&self.jobs, submitter, id).await {
            if matches!(e, quota::QuotaError::Full { .. }) {
                self.metrics.submitter_job(submitter, "over_quota");
                tracing::info!(%submitter, "job refused: the submitter is at its quota");
            }
            return Err(e.into());
        }
        let mut record = JobRecord::new(id, request, idempotency_key.map(|k| k.to_string()));
        record.submitter = Some(submitter.to_string());
        record.traceparent = traceparent;
        if let Err(e) = self.jobs.save(&record).await {
            self.quota.release(submitter, id).await;
            return Err(e.into());
        }
        if let Err(e) = self.queue.enqueue(id).await {
            self.quota.release(submitter, id).await;
            // No record may stay behind that no worker will ever settle.
            if let Err(del) = self.jobs.discard(&record).await {
                tracing::error!(job = %id, error = %del, "could not remove the record of a job the queue refused");
            }
            return Err(match e {
                QueueError::Full { limit } => SubmitError::Full { limit },
                other => SubmitError::Queue(other),
            });
        }
        self.metrics.job("accepted");
        self.metrics.submitter_job(submitter, "accepted");
        self.update_depth().await;
        tracing::info!(job = %id, %submitter, "job queued");
        Ok(Submitted { id, existing: false })
    }

    /// The idempotency check of [`Service::submit`] (under the `keyed` lock): `Some` with
    /// `existing` for the job this key and body made before, `Some` without it for a job the
    /// key claimed whose submission did not finish (make it now, with that id), `None` for a
    /// key claimed now. The same key with another body is [`SubmitError::KeyReused`].
    async fn claim(
        &self,
        key: &IdempotencyKey,
        submitter: &str,
        id: JobId,
        body: &JobRequest,
    ) -> Result<Option<Submitted>, SubmitError> {
        let fingerprint = BodyFingerprint::of(body);
        // Claims made before keys were scoped name jobs without a submitter: they are honoured
        // where the server behaves as it did then (no tokens), and ignored otherwise, so an
        // owner-less job is never handed to a submitter.
        if submitter == crate::jobs::ANONYMOUS {
            if let Some(old) = self.jobs.legacy_idempotency_claim(key).await? {
                if let Some(record) = self.jobs.load(old).await?.filter(|r| r.submitter.is_none()) {
                    if BodyFingerprint::of(&record.request) != fingerprint {
                        return Err(self.key_reused(key, submitter));
                    }
                    tracing::info!(job = %old, "idempotency key seen before (unscoped claim): same job");
                    return Ok(Some(Submitted { id: old, existing: true }));
                }
            }
        }
        let claim = Claim { job: id, fingerprint };
        let Claimed::Existing(existing) = self.jobs.claim_idempotency_key(submitter, key, &claim).await? else {
            return Ok(None);
        };
        if existing.fingerprint != claim.fingerprint {
            return Err(self.key_reused(key, submitter));
        }
        // A job removed since (DELETE, retention) is not made again under its id: the key
        // still names it, and its id answers 410.
        let found = self.jobs.load(existing.job).await?.is_some() || self.jobs.tombstone(existing.job).await?.is_some();
        if found {
            tracing::info!(job = %existing.job, %submitter, "idempotency key seen before: same job");
        }
        Ok(Some(Submitted { id: existing.job, existing: found }))
    }

    fn key_reused(&self, key: &IdempotencyKey, submitter: &str) -> SubmitError {
        self.metrics.submitter_job(submitter, "key_reused");
        tracing::info!(%submitter, "idempotency key reused with another body: refused");
        SubmitError::KeyReused { key: key.to_string() }
    }

    /// What `POST /v1/jobs` checks before a job is accepted: the request makes a document
    /// within the limits, and its `callback_url` is one the webhook policy allows.
    pub fn validate(&self, request: &JobRequest) -> Result<(), SubmitError> {
        request.queued_document(&self.catalog, &self.config.limits)?;
        if let Some(url) = &request.callback_url {
            crate::webhook::check_url(url, &self.config.webhook)?;
        }
        Ok(())
    }

    /// Refreshes the queue-depth gauges.
    pub async fn update_depth(&self) {
        match self.queue.depth().await {
            Ok(d) => self.metrics.set_queue_depth(d.ready, d.inflight, d.dead),
            // Logged at debug: an outage is reported by the workers, once.
            Err(e) => tracing::debug!(error = %e, "could not read the queue depth"),
        }
    }

    /// Start-up recovery: dead letters of unsettled jobs ⇒ `failed` with the reason (and a
    /// dead letter of a finished job is forgotten); records neither settled nor held nor in
    /// the queue (a crash between save and enqueue) ⇒ enqueued again.
    pub async fn recover(&self, recovery: &Recovery) -> Result<RecoveryReport, StoreError> {
        let mut report = RecoveryReport { requeued_by_queue: recovery.requeued.len(), ..Default::default() };
        self.jobs.ensure_index().await?;
        let letters = match self.queue.dead_letters() {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "could not read the dead letters");
                recovery.dead.clone()
            }
        };
        for letter in letters {
            let Some(mut record) = self.jobs.load(letter.job).await? else { continue };
            if record.state.is_settled() && record.state != JobState::Failed || record.state == JobState::Held {
                if let Err(e) = self.queue.forget_dead(letter.job) {
                    tracing::warn!(job = %letter.job, error = %e, "could not forget the dead letter of a finished job");
                }
                continue;
            }
            if record.state.is_settled() {
                continue;
            }
            let why = format!("gave up after {} attempt(s): {}", letter.attempts, letter.why);
            if record.fail(&why).is_ok() {
                self.jobs.save(&record).await?;
                self.metrics.job("failed");
                report.failed += 1;
                self.announce(&record).await;
                let _ = self.notify(&record, WebhookEvent::Failed).await;
            }
        }
        let in_progress = self.jobs.list_all(Scope::All, &JobState::IN_PROGRESS).await?;
        for record in &in_progress {
            let id = record.id;
            // A broker cannot say whether it holds a job: such records are left alone.
            if self.queue.holds(id).unwrap_or(true) {
                continue;
            }
            match self.queue.enqueue(id).await {
                Ok(()) => report.enqueued_again += 1,
                Err(e) => tracing::error!(job = %id, error = %e, "could not enqueue a job found unqueued at start-up"),
            }
        }
        self.quota.load(&in_progress).await;
        self.update_depth().await;
        tracing::info!(?report, "start-up recovery finished");
        Ok(report)
    }

    /// Starts `config.workers` worker tasks (none for an API-only process); they stop when
    /// `stop` is set.
    pub fn start_workers(
        self: &Arc<Self>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut handles: Vec<_> =
            (0..self.config.workers).map(|n| tokio::spawn(worker::run(self.clone(), n, stop.clone()))).collect();
        let me = self.clone();
        let mut stop_gauges = stop;
        handles.push(tokio::spawn(async move {
            loop {
                me.update_depth().await;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {},
                    _ = stop_gauges.changed() => break,
                }
            }
        }));
        handles
    }

    /// Stops taking jobs (POST /v1/jobs answers 503 from now on).
    /// `POST /v1/render`: the job path without the queue — the same routing, verification
    /// and fallback; a document that fails on both engines is not shipped.
    pub async fn render_now(&self, request: &crate::request::JobRequest) -> Result<RenderedNow, RenderNowError> {
        attempt::render_now(self, request).await
    }

    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }
}

/// What start-up recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// In-flight deliveries the queue made ready again.
    pub requeued_by_queue: usize,
    /// Jobs marked failed because the queue gave up on them.
    pub failed: usize,
    /// Unsettled records that were not in the queue, enqueued again.
    pub enqueued_again: usize,
}
