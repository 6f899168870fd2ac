//! Telling apps a job settled: its result event on the queue (`announce`: RabbitMQ's results
//! exchange), and its webhook (`notify`): `{id, state, status_url, pdf_url?, error?}` POSTed
//! to the job's `callback_url` by `webhook::deliver` in a background task, signed with the
//! submitter's secret (or the server's); the outcome is written on the job record (`webhook`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;

use super::Service;
use crate::jobs::{JobId, JobRecord, JobState, WebhookOutcome};

/// The body sent to a job's `callback_url`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookBody {
    pub id: JobId,
    pub state: JobState,
    pub status_url: String,
    /// Where the PDF is (`done` and `fallback`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdf_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The webhook body for a settled (or held) job.
pub fn payload(service: &Service, record: &JobRecord) -> WebhookBody {
    let status_url = service.status_url(record.id);
    let shipped = matches!(record.state, JobState::Done | JobState::Fallback);
    WebhookBody {
        id: record.id,
        state: record.state,
        pdf_url: shipped.then(|| format!("{status_url}/pdf")),
        status_url,
        error: record.error.clone(),
    }
}

impl Service {
    /// Publishes the job's result event (RabbitMQ's results exchange; nothing for the
    /// embedded queue); `false` when the queue could not take it. Call once the job has
    /// settled (or is held) and its record is saved.
    pub async fn announce(&self, record: &JobRecord) -> bool {
        let object_key = matches!(record.state, JobState::Done | JobState::Fallback)
            .then(|| crate::jobs::JobStore::pdf_key(record.id).as_str().to_string());
        let event = crate::queue::ResultEvent {
            id: record.id,
            state: record.state.as_str().to_string(),
            object_key,
            error: record.error.clone(),
            status_url: self.status_url(record.id),
        };
        match self.queue.announce(&event).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(job = %record.id, error = %e, "could not publish the job's result event");
                false
            }
        }
    }

    /// Sends the job's webhook in the background when it has a `callback_url` (call once
    /// the job has settled and its record is saved). Public so an operator's decision on a
    /// held job can notify too.
    pub fn notify(&self, record: &JobRecord) {
        let Some(url) = record.request.request().and_then(|r| r.callback_url.as_deref()) else { return };
        let url = match crate::webhook::check_url(url, &self.config.webhook) {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(job = %record.id, error = %e, "webhook not sent");
                return;
            }
        };
        let body = payload(self, record);
        // One id per job and state: the same on every retry, and on a notification sent
        // again after a redelivery, so receivers can dedupe.
        let delivery = format!("msg_{}_{}", record.id, record.state);
        let secret = self.config.webhook_secrets.for_submitter(record.submitter.as_deref()).cloned();
        let (id, jobs, policy) = (record.id, self.jobs.clone(), self.config.webhook.clone());
        let running = Arc::clone(&self.webhooks_running);
        running.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let outcome = match crate::webhook::deliver(&url, &body, &delivery, secret.as_ref(), &policy).await {
                Ok(d) => WebhookOutcome {
                    delivered: true,
                    status: Some(d.status),
                    attempts: Some(d.attempts),
                    error: None,
                    at: chrono::Utc::now(),
                },
                Err(e) => {
                    tracing::warn!(job = %id, error = %e, "webhook not delivered");
                    WebhookOutcome {
                        delivered: false,
                        status: None,
                        attempts: None,
                        error: Some(e.to_string()),
                        at: chrono::Utc::now(),
                    }
                }
            };
            match jobs.load(id).await {
                Ok(Some(mut record)) => {
                    record.webhook = Some(outcome);
                    if let Err(e) = jobs.save(&record).await {
                        tracing::warn!(job = %id, error = %e, "could not record the webhook's outcome");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(job = %id, error = %e, "could not record the webhook's outcome"),
            }
            running.fetch_sub(1, Ordering::SeqCst);
        });
    }
}
