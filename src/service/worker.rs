//! One worker task: dequeue → `queued` → the render cache → `rendering` → `attempt` (route →
//! prove → `verifying` → verify → (fail) the fallback → verify) → store → `done`, `fallback`
//! or `held`. A render error goes back to the queue with backoff until the queue's attempt limit, then
//! `failed`. A delivery whose job has already settled (at-least-once delivery) is acked
//! without rendering again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::artifacts::{self, Pages};
use super::attempt::{add_stage, attempt, draw_for_review, moved, route, Interrupt, Job, Outcome, Recorded, Stopped};
use super::cache::{self, CacheKey, Lookup};
use super::{Service, WebhookEvent};
use crate::jobs::{JobRecord, JobState};
use crate::pipeline::Proof;
use crate::queue::{Delivery, Retried};
use crate::request::JobRequest;
use crate::routing::Renderer;
use crate::rules::{Attempt, Checked, JobVerdict};

/// First and longest pause between tries of a job while the object store is unavailable.
const OUTAGE_PAUSE: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(10));

/// How long a worker keeps trying to publish the result event of a job it just settled
/// before leaving it to the job's redelivery.
const ANNOUNCE_PATIENCE: Duration = Duration::from_secs(60);

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
        // Its webhook too, unless it went out: in the outbox before the ack.
        let has_callback = record.request.request().is_some_and(|r| r.callback_url.is_some());
        let delivered = !has_callback
            || record.webhook.is_some()
            || service.jobs.webhook_outcome(id).await.ok().flatten().is_some();
        if let (Some(event), false) = (WebhookEvent::of(record.state), delivered) {
            if !service.notify(&record, event).await {
                retry_announce(service, delivery).await;
                return None;
            }
        }
        if let Err(e) = service.queue.ack(delivery).await {
            tracing::warn!(job = %id, error = %e, "could not ack a settled job");
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
            let webhook_kept = match WebhookEvent::of(record.state) {
                Some(event) => service.notify(&record, event).await,
                None => true,
            };
            // Nothing is acked before its result event and its webhook are kept: the
            // redelivery of a settled job sends what is missing.
            if !webhook_kept || !announce_patiently(service, &record).await {
                service.metrics.job(record.state.as_str());
                retry_announce(service, delivery).await;
                return None;
            }
            if let Err(e) = service.queue.ack(delivery).await {
                tracing::warn!(job = %id, error = %e, "could not ack a finished job (it will be acked when delivered again)");
            }
            service.metrics.job(record.state.as_str());
            tracing::info!(job = %id, state = %record.state, renderer = ?record.renderer_version, "job finished");
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

/// Publishes a job's result event right after the job settled, trying again with a growing
/// pause while the broker is away, for up to `ANNOUNCE_PATIENCE`. The worker could take no
/// other job meanwhile, and the event goes out as soon as the broker is back. Left to the
/// redelivery, it would wait behind every job queued before it. `false` once that is spent.
async fn announce_patiently(service: &Service, record: &JobRecord) -> bool {
    let started = Instant::now();
    let mut pause = OUTAGE_PAUSE.0;
    loop {
        if service.announce(record).await {
            return true;
        }
        if started.elapsed() + pause > ANNOUNCE_PATIENCE {
            return false;
        }
        tokio::time::sleep(pause).await;
        pause = pause.saturating_mul(2).min(OUTAGE_PAUSE.1);
    }
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
    let _ = service.notify(&record, WebhookEvent::Failed).await;
}

async fn save(service: &Service, record: &JobRecord) -> Result<(), Interrupt> {
    service.jobs.save(record).await.map_err(Interrupt::store)
}

/// Renders, verifies and settles (or holds) one job; `Err` when it must be retried or failed.
/// `last_delivery`: the queue will not deliver the job again, so a Chromium crash or timeout
/// goes to the fallback rather than back to the queue.
async fn run_job(service: &Service, record: &mut JobRecord, last_delivery: bool) -> Result<(), Interrupt> {
    let Some(request) = record.request.request().cloned() else {
        return Err(Interrupt::fatal("the stored body is not a job request (see POST /v1/jobs)".to_string()));
    };
    let template = request.template.as_deref().and_then(|n| service.catalog.get(n).ok());
    let doc = request.queued_document(&service.catalog, &service.config.limits).map_err(Interrupt::fatal)?;
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
    let mut progress = Recorded { service, record };
    let outcome = attempt(service, &mut job, &request, renderer, last_delivery, &mut progress).await;
    match outcome.map_err(Stopped::interrupt)? {
        Outcome::Shipped { state, proof, attempts, cacheable } => {
            let cache_key = cache_key.filter(|_| cacheable);
            settle(service, record, state, &proof, &attempts, cache_key.as_ref()).await
        }
        Outcome::Held { mut chromium, fallback, attempts } => {
            draw_for_review(service, &mut chromium).await?;
            hold(service, record, &job, chromium.as_deref(), fallback.as_deref(), &attempts).await
        }
    }
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
    let verdict = JobVerdict::of(attempts);
    let (key, stored) = service.jobs.put_pdf(id, proof.rendered.pdf.clone()).await.map_err(Interrupt::store)?;
    if stored == crate::jobs::Stored::AlreadyExisted {
        tracing::info!(job = %id, "the PDF was stored by an earlier delivery: kept");
    }
    let bytes = serde_json::to_vec_pretty(&verdict).unwrap_or_default();
    service.jobs.put_artifact(id, artifacts::VERDICT, bytes).await.map_err(Interrupt::store)?;
    record.pdf = Some(key);
    record.renderer_version = attempts.last().map(|a| a.renderer_version.clone());
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
    record.renderer_version = Some(hit.entry.renderer_version);
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
    fallback: Option<&(Proof, Checked)>,
    attempts: &[Attempt],
) -> Result<(), Interrupt> {
    let started = Instant::now();
    let id = record.id;
    let verdict = JobVerdict::of(attempts);
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
    record.renderer_version = attempts.last().map(|a| a.renderer_version.clone());
    record.verdict = Some(verdict);
    add_stage(service, record, "storing", started.elapsed());
    moved(record, JobState::Held, Some(&format!("held for review: {reasons}")))?;
    save(service, record).await
}
