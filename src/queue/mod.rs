//! The job queue: the [`Queue`] trait the API enqueues into and workers drain, and two
//! implementations: the default, [`EmbeddedQueue`] (durable files under `DATA/queue/`, one
//! process), and [`AmqpQueue`] (RabbitMQ, for several processes and for apps that publish jobs
//! themselves; its module doc is the message format).
//!
//! Delivery is at-least-once: a job whose worker died is delivered again, so whoever
//! processes a delivery must do it idempotently (the [`crate::jobs::JobStore`] stores each
//! PDF once and settled jobs never move). The embedded queue ignores a second `enqueue` of a
//! job it holds; the AMQP queue does not deduplicate, so a job may also be delivered twice.

pub mod amqp;
pub mod embedded;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::jobs::JobId;

pub use amqp::{AmqpConfig, AmqpQueue};
pub use embedded::{EmbeddedQueue, QueueConfig, Recovery};

/// One job handed to a worker. Give it back with exactly one of `ack`, `retry` or `dead`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub job: JobId,
    /// How many earlier deliveries of this job failed or were interrupted.
    pub attempts: u32,
    /// The queue's own handle on this delivery (a file name, an AMQP delivery tag).
    pub receipt: String,
    /// The job's request when the message carries it (an app published the job to RabbitMQ
    /// itself): the worker records the job first. `None` for jobs the API recorded.
    pub request: Option<serde_json::Value>,
    /// Who published it, when the message names its submitter (see `amqp`'s message format).
    pub submitter: Option<String>,
}

/// How many jobs wait, are being worked on, and gave up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDepth {
    pub ready: usize,
    pub inflight: usize,
    pub dead: usize,
}

/// A job the queue gave up on, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub job: JobId,
    pub attempts: u32,
    pub why: String,
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue is full ({limit} jobs waiting or running): retry later")]
    Full { limit: usize },
    #[error("the data directory {dir} is already in use by another pixelproof process (lock file {lock}): stop that process, or give this one another data directory")]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("could not access {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} does not belong in the queue ({detail}): move it out of the queue directory")]
    Corrupt { path: PathBuf, detail: String },
    #[error("delivery {receipt:?} of job {job} is not in flight (already acknowledged, retried or dead, or given out by an earlier process)")]
    UnknownDelivery { job: JobId, receipt: String },
    #[error("the queue is unavailable: {detail}. Retry later")]
    Unavailable { detail: String },
}

impl QueueError {
    /// Whether the same call may succeed later (a full queue, a broker or disk hiccup), as
    /// opposed to failing the same way every time.
    pub fn is_retryable(&self) -> bool {
        match self {
            QueueError::Full { .. } | QueueError::Unavailable { .. } => true,
            QueueError::Io { source, .. } => source.kind() != std::io::ErrorKind::PermissionDenied,
            QueueError::Locked { .. } | QueueError::Corrupt { .. } | QueueError::UnknownDelivery { .. } => false,
        }
    }
}

/// A durable FIFO of job ids.
#[async_trait]
pub trait Queue: Send + Sync + std::fmt::Debug {
    /// Adds a job (for [`EmbeddedQueue`], a no-op if that job is already waiting, running or
    /// dead; [`AmqpQueue`] does not deduplicate). Fails with [`QueueError::Full`] when the
    /// configured maximum is reached (waiting + running jobs; waiting ones only for AMQP).
    async fn enqueue(&self, job: JobId) -> Result<(), QueueError>;
    /// The oldest ready job, waiting up to `wait` for one; `None` when none came.
    async fn dequeue(&self, wait: Duration) -> Result<Option<Delivery>, QueueError>;
    /// The job is finished (its result is stored): forget it.
    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError>;
    /// Deliver the job again after `delay`; after the configured number of attempts it goes
    /// to the dead letters instead (the returned value says which).
    async fn retry(&self, delivery: Delivery, delay: Duration) -> Result<Retried, QueueError>;
    /// Give up on the job for good, saying why.
    async fn dead(&self, delivery: Delivery, why: &str) -> Result<(), QueueError>;
    async fn depth(&self) -> Result<QueueDepth, QueueError>;
    /// Deliveries a job gets before it is given up on. A delivery with `attempts` at or
    /// above this (a job whose workers kept dying under it) must not be worked on again:
    /// the worker fails the job and gives the delivery to `dead`.
    fn max_attempts(&self) -> u32;
    /// The dead letters whose jobs the service may not have marked `failed` yet (read at
    /// start-up). A broker's dead-letter queue is not read back: there the worker marks the
    /// job failed itself before it dead-letters the delivery.
    fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(Vec::new())
    }
    /// Forgets the dead letter of a job that settled after all; `false` when there was none.
    fn forget_dead(&self, _job: JobId) -> Result<bool, QueueError> {
        Ok(false)
    }
    /// Whether the queue holds the job (ready, in flight or dead); `None` when it cannot
    /// tell (a broker), so start-up recovery leaves such records alone.
    fn holds(&self, _job: JobId) -> Option<bool> {
        None
    }
    /// Tells listeners that a job settled (RabbitMQ: the results exchange). Called before the
    /// delivery is acknowledged. The embedded queue has no listeners: apps poll the job or
    /// give a `callback_url`.
    async fn announce(&self, _event: &ResultEvent) -> Result<(), QueueError> {
        Ok(())
    }
}

/// A job settled: what the results exchange carries (see [`amqp`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultEvent {
    pub id: JobId,
    /// `done`, `fallback`, `held` or `failed`.
    pub state: String,
    /// The stored PDF's object key (`jobs/ID/document.pdf`) for `done` and `fallback`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub object_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    pub status_url: String,
    /// The W3C `traceparent` the job was submitted with.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub traceparent: Option<String>,
}

/// What `retry` did with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retried {
    /// Back in the queue, ready again after the delay.
    Later { attempts: u32 },
    /// Out of attempts: now a dead letter.
    Dead(DeadLetter),
}
