//! Telling apps a job settled: its result event on the queue (`announce`: RabbitMQ's results
//! exchange), and its webhook (`notify`): `{id, state, status_url, pdf_url?, error?}` POSTed
//! to the job's `callback_url` by `webhook::deliver` in a background task, signed with the
//! submitter's secret (or the server's); the outcome is written on the job record (`webhook`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::json;

use super::Service;
use crate::jobs::{JobRecord, JobState};

/// The body sent to a job's `callback_url`.
pub fn payload(service: &Service, record: &JobRecord) -> serde_json::Value {
    let status_url = service.status_url(record.id);
    let mut body = json!({ "id": record.id, "state": record.state, "status_url": status_url });
    if matches!(record.state, JobState::Done | JobState::Fallback) {
        body["pdf_url"] = json!(format!("{status_url}/pdf"));
    }
    if let Some(error) = &record.error {
        body["error"] = json!(error);
    }
    body
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
        let Some(url) = record.request.get("callback_url").and_then(|u| u.as_str()) else { return };
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
                Ok(d) => {
                    json!({"delivered": true, "status": d.status, "attempts": d.attempts, "at": chrono::Utc::now()})
                }
                Err(e) => {
                    tracing::warn!(job = %id, error = %e, "webhook not delivered");
                    json!({"delivered": false, "error": e.to_string(), "at": chrono::Utc::now()})
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
