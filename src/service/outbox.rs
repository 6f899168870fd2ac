//! The webhook outbox: every webhook a job owes its app is written to the job store
//! (`outbox/ID.json`) before its first attempt and removed once delivered or given up, so a
//! delivery survives a restart, a crash or a receiver that is down for hours. One task per
//! process ([`Service::run_outbox`]) sends what is due; a failed attempt is tried again after
//! a backoff that doubles from 1 s up to 1 hour, with jitter (a random 50–100 % of it), and an
//! entry older than [`MAX_AGE`] (3 days) is dropped, its failure written on the job's record.
//!
//! In a fleet every process reads the same outbox (the bucket): a process leases an entry for
//! the length of one attempt before sending it, so two seldom send the same one; when they do,
//! both carry the same `webhook-id` for receivers to dedupe (delivery is at least once).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Service;
use crate::jobs::{JobId, JobState, WebhookOutcome};
use crate::store::{ObjectKey, StoreError};

/// How long an undelivered webhook is tried for before it is dropped.
pub const MAX_AGE: Duration = Duration::from_secs(3 * 24 * 3600);
/// The wait after the first failed attempt; doubled after each one, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How often the outbox is read when nothing new was written to it.
const POLL: Duration = Duration::from_secs(2);
const PREFIX: &str = "outbox/";

/// What happened to a job, as its webhook says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookEvent {
    Done,
    Fallback,
    Failed,
    /// Failed its proof on every engine: an operator decides (`released` or `rejected` follows).
    Held,
    /// An operator shipped a held job's PDF (state `done`).
    Released,
    /// An operator refused a held job (state `failed`).
    Rejected,
}

impl WebhookEvent {
    /// The event a job's worker reports for the state it left the job in (`None` while it runs).
    pub fn of(state: JobState) -> Option<WebhookEvent> {
        match state {
            JobState::Done => Some(WebhookEvent::Done),
            JobState::Fallback => Some(WebhookEvent::Fallback),
            JobState::Failed => Some(WebhookEvent::Failed),
            JobState::Held => Some(WebhookEvent::Held),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::Done => "done",
            WebhookEvent::Fallback => "fallback",
            WebhookEvent::Failed => "failed",
            WebhookEvent::Held => "held",
            WebhookEvent::Released => "released",
            WebhookEvent::Rejected => "rejected",
        }
    }
}

/// The body sent to a job's `callback_url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookBody {
    pub id: JobId,
    pub event: WebhookEvent,
    pub state: JobState,
    pub status_url: String,
    /// Where the PDF is (`done` and `fallback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One webhook owed: what to send where, and how its attempts went so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The `webhook-id`: one per job and event, the same on every attempt.
    pub delivery: String,
    pub job: JobId,
    pub url: String,
    /// The job's `callback_headers`.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    pub body: WebhookBody,
    pub submitter: Option<String>,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub next_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A process sending it now (until this time): others leave it alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leased_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leased_by: Option<String>,
}

/// When to try again after `attempts` failed ones (`jitter` in 0..=1 picks within the upper
/// half of the backoff), or `None` when the entry is older than [`MAX_AGE`] by then.
pub fn next_attempt(
    created_at: DateTime<Utc>,
    attempts: u32,
    now: DateTime<Utc>,
    jitter: f64,
) -> Option<DateTime<Utc>> {
    let doubled = FIRST_BACKOFF.saturating_mul(1u32.checked_shl(attempts.saturating_sub(1)).unwrap_or(u32::MAX));
    let backoff = doubled.min(MAX_BACKOFF).mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    let at = now + chrono::Duration::from_std(backoff).ok()?;
    let deadline = created_at + chrono::Duration::from_std(MAX_AGE).ok()?;
    (at <= deadline).then_some(at)
}

fn key(delivery: &str) -> Result<ObjectKey, StoreError> {
    ObjectKey::parse(&format!("{PREFIX}{delivery}.json"))
}

impl Service {
    /// Writes `pending` to the outbox (replacing an entry for the same job and event) and wakes
    /// the sending task.
    pub(super) async fn enqueue_webhook(&self, pending: &Pending) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(pending).map_err(|e| StoreError::Corrupt {
            key: pending.delivery.clone(),
            what: "a webhook",
            detail: e.to_string(),
        })?;
        self.jobs.objects().put(&key(&pending.delivery)?, bytes).await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// Drops the job's webhook for `event` if it still waits.
    pub(super) async fn forget_webhook(&self, job: JobId, event: WebhookEvent) {
        let Ok(k) = key(&format!("msg_{job}_{}", event.as_str())) else { return };
        if let Err(e) = self.jobs.objects().delete(&k).await {
            tracing::warn!(%job, error = %e, "could not drop a superseded webhook");
        }
    }

    /// Drops the job's webhooks still waiting (it is being removed); how many.
    pub(super) async fn forget_webhooks(&self, job: JobId) -> Result<usize, StoreError> {
        let mut dropped = 0;
        for k in self.jobs.objects().list(&format!("{PREFIX}msg_{job}_")).await? {
            dropped += usize::from(self.jobs.objects().delete(&k).await?);
        }
        Ok(dropped)
    }

    /// Webhooks waiting in the outbox (for metrics and tests).
    pub async fn outbox_len(&self) -> Result<usize, StoreError> {
        Ok(self.jobs.objects().list(PREFIX).await?.len())
    }

    /// Sends what is due in the outbox until `stop` turns true: at once when something is
    /// enqueued, otherwise every few seconds.
    pub async fn run_outbox(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let me = ulid::Ulid::new().to_string();
        loop {
            if *stop.borrow() {
                break;
            }
            if let Err(e) = self.send_due(&me, &stop).await {
                tracing::warn!(error = %e, "could not read the webhook outbox; trying again");
            }
            tokio::select! {
                _ = stop.changed() => {}
                _ = self.outbox_wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One pass: each entry that is due and not leased by another process, one attempt.
    async fn send_due(&self, me: &str, stop: &tokio::sync::watch::Receiver<bool>) -> Result<(), StoreError> {
        let objects = self.jobs.objects();
        for k in objects.list(PREFIX).await? {
            // Shutting down: what is left stays in the outbox for the next start.
            if *stop.borrow() {
                break;
            }
            let Some(bytes) = objects.get(&k).await? else { continue };
            let mut pending: Pending = match serde_json::from_slice(&bytes) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(key = %k, error = %e, "an outbox entry cannot be read; it is removed");
                    objects.delete(&k).await?;
                    continue;
                }
            };
            let now = Utc::now();
            if pending.next_at > now || pending.leased_until.is_some_and(|t| t > now) {
                continue;
            }
            // A job removed meanwhile is owed nothing.
            if self.jobs.tombstone(pending.job).await?.is_some() {
                objects.delete(&k).await?;
                continue;
            }
            // Lease it for one attempt, then read it back: another process that leased it
            // meanwhile keeps it.
            let lease = self.config.webhook.timeout + Duration::from_secs(5);
            pending.leased_until = Some(now + chrono::Duration::from_std(lease).unwrap_or_default());
            pending.leased_by = Some(me.to_string());
            self.enqueue_quietly(&k, &pending).await?;
            let held: Option<Pending> = objects.get(&k).await?.and_then(|b| serde_json::from_slice(&b).ok());
            if held.as_ref().and_then(|p| p.leased_by.as_deref()) != Some(me) {
                continue;
            }
            self.attempt(&k, pending).await?;
        }
        Ok(())
    }

    async fn enqueue_quietly(&self, k: &ObjectKey, pending: &Pending) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(pending).map_err(|e| StoreError::Corrupt {
            key: k.to_string(),
            what: "a webhook",
            detail: e.to_string(),
        })?;
        self.jobs.objects().put(k, bytes).await
    }

    async fn attempt(&self, k: &ObjectKey, mut pending: Pending) -> Result<(), StoreError> {
        let policy = &self.config.webhook;
        let secret = self.config.webhook_secrets.for_submitter(pending.submitter.as_deref()).cloned();
        let sent = match crate::webhook::check_url(&pending.url, policy) {
            Ok(url) => match serde_json::to_vec(&pending.body) {
                Ok(bytes) => {
                    crate::webhook::send(&url, &bytes, &pending.delivery, secret.as_ref(), &pending.headers, policy)
                        .await
                }
                Err(e) => Err(crate::webhook::NotDelivered::Final(crate::webhook::WebhookError::Failed {
                    url: pending.url.clone(),
                    attempts: 0,
                    last: format!("the body could not be encoded: {e}"),
                })),
            },
            Err(e) => Err(crate::webhook::NotDelivered::Final(e)),
        };
        pending.attempts += 1;
        let now = Utc::now();
        let outcome = match sent {
            Ok(status) => WebhookOutcome {
                delivered: true,
                status: Some(status),
                attempts: Some(pending.attempts),
                error: None,
                at: now,
            },
            Err(failed) => {
                let why = failed.to_string();
                let again = failed
                    .is_retryable()
                    .then(|| next_attempt(pending.created_at, pending.attempts, now, rand::random::<f64>()))
                    .flatten();
                if let Some(at) = again {
                    tracing::info!(job = %pending.job, attempts = pending.attempts, next_at = %at, error = %why, "webhook not delivered yet");
                    pending.next_at = at;
                    pending.last_error = Some(why);
                    pending.leased_until = None;
                    pending.leased_by = None;
                    return self.enqueue_quietly(k, &pending).await;
                }
                tracing::warn!(job = %pending.job, attempts = pending.attempts, error = %why, "webhook given up");
                WebhookOutcome {
                    delivered: false,
                    status: None,
                    attempts: Some(pending.attempts),
                    error: Some(format!("{why} (after {} attempt(s))", pending.attempts)),
                    at: now,
                }
            }
        };
        self.record_outcome(pending.job, outcome).await;
        self.jobs.objects().delete(k).await.map(|_| ())
    }

    /// Writes how the job's latest webhook went (beside its record, never into it).
    async fn record_outcome(&self, id: JobId, outcome: WebhookOutcome) {
        if let Err(e) = self.jobs.save_webhook_outcome(id, &outcome).await {
            tracing::warn!(job = %id, error = %e, "could not record the webhook's outcome");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_an_hour_and_ends_after_three_days() {
        let created = Utc::now();
        let after = |attempts, jitter| {
            next_attempt(created, attempts, created, jitter).map(|t| (t - created).num_milliseconds())
        };
        assert_eq!(after(1, 1.0), Some(1000));
        assert_eq!(after(1, 0.0), Some(500), "jitter takes up to half off");
        assert_eq!(after(4, 1.0), Some(8000));
        assert_eq!(after(20, 1.0), Some(3_600_000), "capped at an hour");
        assert_eq!(after(200, 0.5), Some(2_700_000), "no overflow");
        let old = created - chrono::Duration::days(3) + chrono::Duration::minutes(30);
        assert_eq!(next_attempt(old, 20, created, 1.0), None, "past three days it is dropped");
        assert!(next_attempt(old, 3, created, 1.0).is_some(), "a short wait still fits");
    }
}
