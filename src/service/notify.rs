//! Telling apps a job settled: its result event on the queue (`announce`: RabbitMQ's results
//! exchange), and its webhooks (`notify`): `{id, event, state, status_url, pdf_url?, error?}`
//! POSTed to the job's `callback_url` with its `callback_headers`, signed with the submitter's
//! secret (or the server's), once per event: `done`, `fallback`, `failed`, `held`, then
//! `released` or `rejected` when an operator decides. Each goes through the `outbox`, so it
//! survives a restart; how the latest went is written on the job record (`webhook`).

use super::outbox::{Pending, WebhookBody, WebhookEvent};
use super::Service;
use crate::jobs::{JobRecord, JobState};

/// The webhook body for a job `event` left in `record`'s state.
pub fn payload(service: &Service, record: &JobRecord, event: WebhookEvent) -> WebhookBody {
    let status_url = service.status_url(record.id);
    let shipped = matches!(record.state, JobState::Done | JobState::Fallback);
    WebhookBody {
        id: record.id,
        event,
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
            traceparent: record.traceparent.clone(),
        };
        match self.queue.announce(&event).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(job = %record.id, error = %e, "could not publish the job's result event");
                false
            }
        }
    }

    /// Puts the job's webhook for `event` in the outbox when it has a `callback_url` (call once
    /// the record is saved); the outbox task sends it. `false` when the outbox could not be
    /// written (the store is down): the caller keeps the job's delivery, to notify again.
    /// Public so an operator's decision on a held job can notify too.
    pub async fn notify(&self, record: &JobRecord, event: WebhookEvent) -> bool {
        let Some(request) = record.request.request() else { return true };
        let Some(url) = request.callback_url.as_deref() else { return true };
        if let Err(e) = crate::webhook::check_url(url, &self.config.webhook) {
            tracing::warn!(job = %record.id, error = %e, "webhook not sent");
            return true;
        }
        // A job an app published to RabbitMQ is recorded (failed) before its request was
        // checked: headers that do not pass are left out rather than sent.
        let headers = match &request.callback_headers {
            Some(h) => match crate::request::check_callback_headers(h, true) {
                Ok(()) => h.clone().into_iter().collect(),
                Err(e) => {
                    tracing::warn!(job = %record.id, error = %e, "callback_headers left out of the webhook");
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        if matches!(event, WebhookEvent::Released | WebhookEvent::Rejected) {
            // The decision supersedes a `held` webhook still waiting: no event goes backwards.
            self.forget_webhook(record.id, WebhookEvent::Held).await;
        }
        let now = chrono::Utc::now();
        let pending = Pending {
            // One id per job and event: the same on every attempt, and on a notification made
            // again after a redelivery, so receivers can dedupe.
            delivery: format!("msg_{}_{}", record.id, event.as_str()),
            job: record.id,
            url: url.to_string(),
            headers,
            body: payload(self, record, event),
            submitter: record.submitter.clone(),
            created_at: now,
            attempts: 0,
            next_at: now,
            last_error: None,
            leased_until: None,
            leased_by: None,
        };
        match self.enqueue_webhook(&pending).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(job = %record.id, event = event.as_str(), error = %e, "could not write the webhook to the outbox");
                false
            }
        }
    }
}
