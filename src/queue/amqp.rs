//! [`AmqpQueue`]: the job queue on a RabbitMQ broker (AMQP 0-9-1, via lapin), for running
//! several pixelproof processes against one queue, and for apps that publish jobs themselves.
//!
//! ## Topology
//!
//! Declared on every (re)connect, idempotently, all durable, all through the default exchange
//! (`""`, routing key = queue name), for a configured name `Q` (default `pixelproof.jobs`):
//!
//! * `Q` — the jobs. Arguments: `x-dead-letter-exchange = ""`, `x-dead-letter-routing-key =
//!   Q.dead`, `x-max-length = max_len`, `x-overflow = reject-publish` (a full queue refuses a
//!   publish with a nack: [`QueueError::Full`]).
//! * `Q.delay` — retries waiting out their backoff. Each message carries its own `expiration`
//!   (milliseconds); on expiry the broker dead-letters it back to `Q` (`x-dead-letter-exchange
//!   = ""`, `x-dead-letter-routing-key = Q`).
//! * `Q.dead` — the jobs given up on, with why.
//! * `Q.results` — a durable **fanout exchange**: one persistent message (`type =
//!   pixelproof.result`, `message_id` = the job id, JSON body [`ResultEvent`]: `{"id", "state",
//!   "object_key"?, "error"?, "status_url"}`) each time a job settles (`done`, `fallback`,
//!   `held`, `failed`). Apps bind a queue of their own to it to be told without polling. It is
//!   published (confirmed) before the job's delivery is acknowledged, so an event is never
//!   missing; after a crash or a broker restart it may come twice (dedupe by `id`).
//!
//! A queue that already exists with other arguments (another `max_len`, say) is refused by the
//! broker: [`AmqpQueue::connect`] says which queue, and to delete it or use the same settings.
//!
//! ## Message format (apps may publish to `Q` directly)
//!
//! * body: JSON `{"job": "<ULID>"}` (the canonical, upper-case spelling of a
//!   [`JobId`]; other fields are ignored), `content_type = application/json`. An app that
//!   publishes a job itself adds `"request"`: the body it would POST to `/v1/jobs`
//!   (`{"template", "data", "options"?, "baseline"?, "callback_url"?}` or `{"html", …}`) and
//!   picks a fresh ULID; the worker records the job (validating the request: a bad one is
//!   recorded `failed` with why) and renders it. `GET /v1/jobs/{id}` then answers for it;
//!   an optional `"submitter"` (1 to 128 printable characters) names the job's owner: the
//!   token name whose holder may read it (operators always may). Without it, the job belongs
//!   to `--default-submitter` (default `queue`). Publishing needs broker credentials, so the
//!   broker's access control is what stops an app from naming another's token;
//! * `delivery_mode = 2` (persistent), `message_id` = the job id;
//! * header `x-pixelproof-attempts`: how many earlier deliveries failed (any AMQP integer;
//!   absent means 0, so a bare `{"job": ID}` is a valid first delivery);
//! * in `Q.dead`, header `x-pixelproof-why`: the reason it was given up on.
//!
//! A message whose body or attempts header is not of this form goes straight to `Q.dead` with
//! its original body and headers plus `x-pixelproof-why` saying what is wrong: it is never
//! handed to a worker, never redelivered, and never stops the consumer.
//!
//! ## Delivery
//!
//! * `enqueue` publishes on a channel in confirm mode and returns only once the broker
//!   confirmed the message (it is then on the broker's disk). It is **not deduplicated**
//!   (unlike [`super::EmbeddedQueue`]): enqueueing a job twice delivers it twice. Delivery is
//!   at-least-once and duplicates are possible; the service is idempotent by job id.
//! * The consumer starts at the first `dequeue` (a process that only enqueues never takes
//!   jobs), with `basic_qos(prefetch)` and manual acks: the broker hands this process at most
//!   `prefetch` unacknowledged jobs, the rest stay ready for other processes.
//! * `retry` publishes the job to `Q.delay` with attempts + 1 and `expiration = delay`
//!   (confirmed), *then* acks the delivery; `dead` publishes to `Q.dead` (confirmed), then
//!   acks. Dying between the two steps leaves a duplicate, never a loss.
//! * A delivery the broker marks `redelivered` (its consumer went away without an ack: a crash,
//!   a lost connection) counts as one more attempt, like [`super::EmbeddedQueue`]'s recovery:
//!   it is republished to `Q` with attempts + 1 and the redelivery acked. Out of attempts, it is
//!   handed out with `attempts >= max_attempts`: the worker marks the job `failed` (saying why)
//!   and dead-letters it, so a job that kills its worker cannot loop forever.
//!
//! ## Limits and sharp edges
//!
//! * `max_len` counts *ready* jobs only (RabbitMQ's `x-max-length`), not the ones being worked
//!   on as [`super::EmbeddedQueue`] does.
//! * The broker expires messages only at the head of `Q.delay`: a retry with a short delay
//!   queued behind one with a long delay waits for it. Delays are backoffs, not schedules.
//! * RabbitMQ dead-letters at-most-once: a retry whose delay ends while `Q` is full is
//!   dropped by the broker. `Service::recover` re-enqueues unsettled jobs the queue lacks.
//! * [`QueueDepth::ready`] is the broker's count of ready messages in `Q` (retries waiting in
//!   `Q.delay` are not counted); `inflight` counts deliveries this process has not acknowledged yet.
//!
//! ## Connection loss
//!
//! Reconnection is done here (not by lapin's auto-recovery, whose recovered channel would take
//! acks by delivery tag for the old channel's deliveries). When the connection or a channel
//! fails, every operation answers [`QueueError::Unavailable`] (retryable) while this queue
//! reconnects with exponential backoff (100 ms doubling to 5 s) on the next calls,
//! re-declares the topology and re-creates the consumer. Deliveries taken before the loss
//! cannot be acknowledged any more: `ack`, `retry` and `dead` answer
//! [`QueueError::UnknownDelivery`] for them, and the broker delivers those jobs again (to this
//! or another process), which workers handle idempotently by job id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Acker, BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer, ExchangeKind};
use tokio::time::Instant;

use super::{DeadLetter, Delivery, Queue, QueueDepth, QueueError, ResultEvent, Retried};
use crate::jobs::JobId;

/// The header carrying how many earlier deliveries of a job failed.
pub const ATTEMPTS_HEADER: &str = "x-pixelproof-attempts";
/// The header carrying why a dead letter was given up on.
pub const WHY_HEADER: &str = "x-pixelproof-why";
/// The AMQP `type` property of a result event.
pub const RESULT_TYPE: &str = "pixelproof.result";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Where the broker is and how the queue behaves. Its `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct AmqpConfig {
    /// `amqp://user:password@host:port/vhost` (vhost `/` is `%2f`).
    pub url: String,
    /// The main queue; the delay and dead-letter queues are this name + `.delay` / `.dead`.
    pub queue_name: String,
    /// Most unacknowledged deliveries this process holds at once (its worker concurrency).
    pub prefetch: u16,
    /// Most ready jobs in the main queue; `enqueue` answers [`QueueError::Full`] beyond.
    pub max_len: usize,
    /// Deliveries a job gets before it goes to the dead letters.
    pub max_attempts: u32,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".to_string(),
            queue_name: "pixelproof.jobs".to_string(),
            prefetch: 4,
            max_len: 10_000,
            max_attempts: 3,
        }
    }
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &shown_url(&self.url))
            .field("queue_name", &self.queue_name)
            .field("prefetch", &self.prefetch)
            .field("max_len", &self.max_len)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

impl AmqpConfig {
    /// The broker's URL without its password, for messages and logs.
    pub fn shown_url(&self) -> String {
        shown_url(&self.url)
    }

    pub fn delay_queue(&self) -> String {
        format!("{}.delay", self.queue_name)
    }
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.queue_name)
    }
    /// The fanout exchange that carries a [`ResultEvent`] for every job that settles.
    pub fn results_exchange(&self) -> String {
        format!("{}.results", self.queue_name)
    }
}

/// The RabbitMQ-backed queue (see the module doc). Cloning shares the connection.
#[derive(Clone)]
pub struct AmqpQueue {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AmqpQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpQueue").field("url", &self.inner.shown_url).field("queue", &self.inner.names.main).finish()
    }
}

struct Inner {
    config: AmqpConfig,
    /// The URL without its password, for messages and logs.
    shown_url: String,
    names: Names,
    slot: tokio::sync::Mutex<Slot>,
    unacked: Mutex<HashMap<String, Unacked>>,
}

struct Names {
    main: ShortString,
    delay: ShortString,
    dead: ShortString,
    results: ShortString,
}

#[derive(Default)]
struct Slot {
    link: Option<Arc<Link>>,
    generation: u64,
    failures: u32,
    next_try: Option<Instant>,
}

/// One connection with its channels; replaced as a whole when any part fails.
struct Link {
    generation: u64,
    connection: Connection,
    /// Confirm mode; also used for declares.
    publish: Channel,
    /// `basic_qos(prefetch)`; the consumer is started by the first dequeue.
    consume: Channel,
    consumer: tokio::sync::Mutex<Option<Consumer>>,
}

/// A delivery this process took and has not acknowledged yet (not a `held` job: the queue
/// knows nothing of job states).
struct Unacked {
    job: JobId,
    generation: u64,
    acker: Acker,
}

/// Why a confirmed publish did not go through.
enum PublishError {
    /// The broker refused it (for the main queue: it is full).
    Nacked,
    Failed(QueueError),
}

impl From<QueueError> for PublishError {
    fn from(e: QueueError) -> Self {
        PublishError::Failed(e)
    }
}

fn unavailable(detail: impl Into<String>) -> QueueError {
    QueueError::Unavailable { detail: detail.into() }
}

/// `url` without its password (or a placeholder when it does not parse).
fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(None);
            }
            u.to_string()
        }
        Err(_) => "(an AMQP URL that does not parse)".to_string(),
    }
}

fn short(name: &str) -> Result<ShortString, QueueError> {
    ShortString::try_new(name.to_string()).map_err(|_| {
        unavailable(format!("the queue name {name:?} is longer than AMQP's 255 bytes: choose a shorter one"))
    })
}

/// A message's attempts header: absent is 0; anything but a non-negative integer is an error.
fn attempts_of(headers: Option<&FieldTable>) -> Result<u32, String> {
    let Some(value) = headers.and_then(|h| h.inner().get(ATTEMPTS_HEADER)) else { return Ok(0) };
    let n: Option<i128> = match value {
        AMQPValue::ShortShortInt(v) => Some((*v).into()),
        AMQPValue::ShortShortUInt(v) => Some((*v).into()),
        AMQPValue::ShortInt(v) => Some((*v).into()),
        AMQPValue::ShortUInt(v) => Some((*v).into()),
        AMQPValue::LongInt(v) => Some((*v).into()),
        AMQPValue::LongUInt(v) => Some((*v).into()),
        AMQPValue::LongLongInt(v) => Some((*v).into()),
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("its {ATTEMPTS_HEADER} header is {value:?}, not a non-negative integer"))
}

/// A message body: the job, and the request and submitter an app publishing a job adds.
type Parsed = (JobId, Option<serde_json::Value>, Option<String>);

/// The job a message body names (and the request and submitter it carries, if an app
/// published the job itself), or what is wrong with it.
fn job_of(body: &[u8]) -> Result<Parsed, String> {
    #[derive(serde::Deserialize)]
    struct Body {
        job: String,
        #[serde(default)]
        request: Option<serde_json::Value>,
        #[serde(default)]
        submitter: Option<String>,
    }
    let form = r#"{"job": "<ULID>", "request"?: {…}, "submitter"?: "NAME"}"#;
    let body: Body =
        serde_json::from_slice(body).map_err(|e| format!("its body is not JSON of the form {form}: {e}"))?;
    if body.request.as_ref().is_some_and(|r| !r.is_object()) {
        return Err("its body's request is not a JSON object (the body of POST /v1/jobs)".to_string());
    }
    if let Some(name) = &body.submitter {
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err("its body's submitter is not 1 to 128 printable characters".to_string());
        }
    }
    let job = JobId::parse(&body.job).map_err(|e| format!("its body's job is not a canonical ULID: {e}"))?;
    Ok((job, body.request, body.submitter))
}

fn job_body(job: JobId) -> Vec<u8> {
    serde_json::json!({ "job": job.to_string() }).to_string().into_bytes()
}

fn attempts_value(attempts: u32) -> AMQPValue {
    AMQPValue::LongInt(i32::try_from(attempts).unwrap_or(i32::MAX))
}

impl Link {
    fn healthy(&self) -> bool {
        self.connection.status().connected() && self.publish.status().connected() && self.consume.status().connected()
    }

    async fn open(config: &AmqpConfig, names: &Names, shown: &str, generation: u64) -> Result<Link, QueueError> {
        let properties = ConnectionProperties::default().with_connection_name("pixelproof".into());
        let connection = match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(&config.url, properties)).await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(unavailable(format!(
                    "could not connect to RabbitMQ at {shown} ({e}): check that the broker runs there and that \
                     the URL's user, password and vhost are right"
                )))
            }
            Err(_) => {
                return Err(unavailable(format!(
                    "RabbitMQ at {shown} did not answer within {}s: check the host and port, and that the broker runs",
                    CONNECT_TIMEOUT.as_secs()
                )))
            }
        };
        let failed = |what: &str| {
            let what = what.to_string();
            move |e: lapin::Error| unavailable(format!("RabbitMQ at {shown} refused to {what}: {e}"))
        };
        let publish = connection.create_channel().await.map_err(failed("open a channel"))?;
        publish.confirm_select(ConfirmSelectOptions::default()).await.map_err(failed("enable publisher confirms"))?;

        let declare = |name: ShortString, args: FieldTable| {
            let publish = publish.clone();
            async move {
                publish.queue_declare(name.clone(), QueueDeclareOptions::durable(), args).await.map_err(|e| {
                    unavailable(format!(
                        "could not declare the queue {name} on {shown} ({e}). If it already exists with other \
                         arguments (another max_len, say), delete it (rabbitmqctl delete_queue {name}) or \
                         configure the same settings"
                    ))
                })
            }
        };
        let dlx = |to: &ShortString| {
            let mut args = FieldTable::default();
            args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString("".into()));
            args.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(to.as_str().into()));
            args
        };
        declare(names.dead.clone(), FieldTable::default()).await?;
        let mut main_args = dlx(&names.dead);
        main_args
            .insert("x-max-length".into(), AMQPValue::LongLongInt(i64::try_from(config.max_len).unwrap_or(i64::MAX)));
        main_args.insert("x-overflow".into(), AMQPValue::LongString("reject-publish".into()));
        declare(names.main.clone(), main_args).await?;
        declare(names.delay.clone(), dlx(&names.main)).await?;
        publish
            .exchange_declare(
                names.results.clone(),
                ExchangeKind::Fanout,
                ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() },
                FieldTable::default(),
            )
            .await
            .map_err(failed(&format!("declare the exchange {}", names.results)))?;

        let consume = connection.create_channel().await.map_err(failed("open a channel"))?;
        consume
            .basic_qos(config.prefetch, BasicQosOptions { global: false })
            .await
            .map_err(failed("set the prefetch count"))?;
        Ok(Link { generation, connection, publish, consume, consumer: tokio::sync::Mutex::new(None) })
    }
}

impl AmqpQueue {
    /// Connects to the broker and declares the topology (see the module doc). Fails with
    /// [`QueueError::Unavailable`] naming the broker (never its password) and what to check.
    pub async fn connect(config: AmqpConfig) -> Result<AmqpQueue, QueueError> {
        let names = Names {
            main: short(&config.queue_name)?,
            delay: short(&config.delay_queue())?,
            dead: short(&config.dead_queue())?,
            results: short(&config.results_exchange())?,
        };
        if config.prefetch == 0 {
            return Err(unavailable("prefetch must be at least 1 (0 would mean no limit to AMQP)"));
        }
        let shown = shown_url(&config.url);
        let link = Link::open(&config, &names, &shown, 1).await?;
        tracing::info!(url = %shown, queue = %names.main, "connected to RabbitMQ");
        let slot = Slot { link: Some(Arc::new(link)), generation: 1, failures: 0, next_try: None };
        Ok(AmqpQueue {
            inner: Arc::new(Inner {
                config,
                shown_url: shown,
                names,
                slot: tokio::sync::Mutex::new(slot),
                unacked: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Closes the connection: deliveries not yet acknowledged go back to the broker (and are
    /// delivered again). Later calls reconnect.
    pub async fn close(&self) {
        let link = self.inner.slot.lock().await.link.take();
        if let Some(link) = link {
            self.forget_unacked(|h| h.generation == link.generation);
            if let Err(e) = link.connection.close(200, "pixelproof closed the queue".into()).await {
                tracing::debug!(error = %e, "closing the RabbitMQ connection");
            }
        }
    }

    fn unacked(&self) -> MutexGuard<'_, HashMap<String, Unacked>> {
        self.inner.unacked.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn forget_unacked(&self, which: impl Fn(&Unacked) -> bool) {
        self.unacked().retain(|_, h| !which(h));
    }

    /// The live connection, reconnecting (with backoff between attempts) if it was lost.
    async fn link(&self) -> Result<Arc<Link>, QueueError> {
        let inner = &self.inner;
        let mut slot = inner.slot.lock().await;
        if let Some(link) = &slot.link {
            if link.healthy() {
                return Ok(link.clone());
            }
            tracing::warn!(url = %inner.shown_url, "lost the connection to RabbitMQ: reconnecting");
            let generation = link.generation;
            slot.link = None;
            // Their channel is gone: the broker delivers those jobs again.
            self.forget_unacked(|h| h.generation == generation);
        }
        let now = Instant::now();
        if let Some(at) = slot.next_try.filter(|at| *at > now) {
            return Err(unavailable(format!(
                "the connection to RabbitMQ at {} is down; next reconnection attempt in {} ms",
                inner.shown_url,
                (at - now).as_millis()
            )));
        }
        let generation = slot.generation + 1;
        match Link::open(&inner.config, &inner.names, &inner.shown_url, generation).await {
            Ok(link) => {
                let link = Arc::new(link);
                slot.generation = generation;
                slot.failures = 0;
                slot.next_try = None;
                slot.link = Some(link.clone());
                tracing::info!(url = %inner.shown_url, queue = %inner.names.main, "reconnected to RabbitMQ");
                Ok(link)
            }
            Err(e) => {
                let backoff = BACKOFF_FIRST.saturating_mul(1 << slot.failures.min(10)).min(BACKOFF_MAX);
                slot.failures += 1;
                slot.next_try = Some(Instant::now() + backoff);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "reconnecting to RabbitMQ failed");
                Err(e)
            }
        }
    }

    /// An error on `link`'s connection: say so (the next call reconnects if the link is broken).
    fn failed(&self, what: &str, e: lapin::Error) -> QueueError {
        tracing::warn!(url = %self.inner.shown_url, error = %e, "RabbitMQ: could not {what}");
        unavailable(format!("could not {what} on RabbitMQ at {}: {e}", self.inner.shown_url))
    }

    /// Publishes to `queue` through the default exchange and waits for the broker's confirm.
    async fn publish(
        &self,
        link: &Link,
        queue: &ShortString,
        body: &[u8],
        headers: FieldTable,
        message_id: Option<ShortString>,
        expiration: Option<Duration>,
    ) -> Result<(), PublishError> {
        let mut properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_headers(headers);
        if let Some(id) = message_id {
            properties = properties.with_message_id(id);
        }
        if let Some(delay) = expiration {
            properties = properties.with_expiration(delay.as_millis().to_string().into());
        }
        let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
        let confirm = link
            .publish
            .basic_publish("".into(), queue.clone(), options, body, properties)
            .await
            .map_err(|e| self.failed(&format!("publish to {queue}"), e))?;
        match confirm.await.map_err(|e| self.failed(&format!("publish to {queue}"), e))? {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(returned)) => Err(PublishError::Failed(unavailable(format!(
                "RabbitMQ at {} returned a message for {queue} ({}): the queue does not exist; it is declared \
                 again on reconnection",
                self.inner.shown_url, returned.reply_text
            )))),
            Confirmation::Nack(_) => Err(PublishError::Nacked),
            Confirmation::NotRequested => Err(PublishError::Failed(unavailable(
                "the publishing channel is not in confirm mode, so nothing proves the broker has the job",
            ))),
        }
    }

    /// Publishes a message to `queue` that must get there (a refusal is an error).
    async fn publish_sure(
        &self,
        link: &Link,
        queue: &ShortString,
        job: JobId,
        headers: FieldTable,
        expiration: Option<Duration>,
    ) -> Result<(), QueueError> {
        let id = Some(job.to_string().as_str().into());
        match self.publish(link, queue, &job_body(job), headers, id, expiration).await {
            Ok(()) => Ok(()),
            Err(PublishError::Nacked) => {
                Err(unavailable(format!("RabbitMQ at {} refused (nack) job {job} for {queue}", self.inner.shown_url)))
            }
            Err(PublishError::Failed(e)) => Err(e),
        }
    }

    fn job_headers(attempts: u32, why: Option<&str>) -> FieldTable {
        let mut headers = FieldTable::default();
        headers.insert(ATTEMPTS_HEADER.into(), attempts_value(attempts));
        if let Some(why) = why {
            headers.insert(WHY_HEADER.into(), AMQPValue::LongString(why.into()));
        }
        headers
    }

    async fn count(&self, link: &Link, queue: &ShortString) -> Result<usize, QueueError> {
        let q = link
            .publish
            .queue_declare(
                queue.clone(),
                QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() },
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.failed(&format!("count the messages in {queue}"), e))?;
        Ok(q.message_count() as usize)
    }

    /// Acks a raw delivery; `false` if its channel is gone (the broker delivers it again).
    async fn ack_raw(&self, acker: &Acker) -> bool {
        match acker.ack(BasicAckOptions::default()).await {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, "RabbitMQ: could not acknowledge a delivery; the broker delivers it again");
                false
            }
        }
    }

    /// A message that is not a job: to the dead letters with why, then acked.
    async fn refuse(&self, link: &Link, delivery: lapin::message::Delivery, why: String) -> Result<(), QueueError> {
        tracing::warn!(queue = %self.inner.names.main, why = %why, "a message in the queue is not a job: dead-lettered");
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        headers.insert(WHY_HEADER.into(), AMQPValue::LongString(why.as_str().into()));
        let id = delivery.properties.message_id().clone();
        let dead = &self.inner.names.dead;
        match self.publish(link, dead, &delivery.data, headers, id, None).await {
            Ok(()) => {
                self.ack_raw(&delivery.acker).await;
                Ok(())
            }
            Err(_) => {
                // The main queue dead-letters a rejected message by itself (without our reason).
                delivery
                    .acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await
                    .map(|_| ())
                    .map_err(|e| self.failed("dead-letter a message that is not a job", e))
            }
        }
    }

    /// A redelivery (its consumer went away without an answer) counts as an attempt: put it
    /// back with one more, or give up on it. `false` when the main queue is full: then it is
    /// handed out as it is (with the extra attempt counted in memory only).
    async fn requeue_interrupted(
        &self,
        link: &Link,
        delivery: &lapin::message::Delivery,
        job: JobId,
        attempts: u32,
    ) -> Result<bool, QueueError> {
        let attempts = attempts + 1;
        let max = self.inner.config.max_attempts;
        let names = &self.inner.names;
        if attempts >= max {
            // Handed out with `attempts >= max_attempts`: the worker marks the job failed (so
            // its record says why) and dead-letters the delivery, instead of working on it.
            tracing::warn!(%job, attempts, "a job was interrupted too often: handed out to be failed");
            return Ok(false);
        }
        let id = Some(job.to_string().as_str().into());
        // The original body: an app's message keeps the request it carries.
        match self.publish(link, &names.main, &delivery.data, Self::job_headers(attempts, None), id, None).await {
            Ok(()) => tracing::info!(%job, attempts, "a job's worker stopped: requeued it with one more attempt"),
            // Full: hand it out now rather than lose the count.
            Err(PublishError::Nacked) => return Ok(false),
            Err(PublishError::Failed(e)) => return Err(e),
        }
        self.ack_raw(&delivery.acker).await;
        Ok(true)
    }

    /// Removes the delivery from the unacknowledged ones (checking it is ours and current).
    fn take_unacked(&self, delivery: &Delivery) -> Result<Unacked, QueueError> {
        let unknown = || QueueError::UnknownDelivery { job: delivery.job, receipt: delivery.receipt.clone() };
        let mut unacked = self.unacked();
        match unacked.get(&delivery.receipt) {
            Some(h) if h.job == delivery.job => unacked.remove(&delivery.receipt).ok_or_else(unknown),
            _ => Err(unknown()),
        }
    }

    fn put_back(&self, receipt: String, unacked: Unacked) {
        self.unacked().insert(receipt, unacked);
    }

    /// The link an unacknowledged delivery came on, if it is still the live one.
    async fn link_for(&self, delivery: &Delivery, unacked: &Unacked) -> Result<Arc<Link>, QueueError> {
        let link = self.link().await?;
        if link.generation != unacked.generation {
            return Err(QueueError::UnknownDelivery { job: delivery.job, receipt: delivery.receipt.clone() });
        }
        Ok(link)
    }

    /// Publishes `delivery`'s job to `queue`, then acks the delivery (in that order).
    async fn move_to(
        &self,
        delivery: &Delivery,
        queue: &ShortString,
        headers: FieldTable,
        expiration: Option<Duration>,
    ) -> Result<(), QueueError> {
        let unacked = self.take_unacked(delivery)?;
        let link = match self.link_for(delivery, &unacked).await {
            Ok(link) => link,
            Err(e) => {
                if matches!(e, QueueError::Unavailable { .. }) {
                    self.put_back(delivery.receipt.clone(), unacked);
                }
                return Err(e);
            }
        };
        if let Err(e) = self.publish_sure(&link, queue, delivery.job, headers, expiration).await {
            if link.healthy() {
                self.put_back(delivery.receipt.clone(), unacked);
            }
            return Err(e);
        }
        if self.ack_raw(&unacked.acker).await {
            Ok(())
        } else {
            // Published but not acked: the broker delivers the old one again (a duplicate).
            Err(QueueError::UnknownDelivery { job: delivery.job, receipt: delivery.receipt.clone() })
        }
    }
}

#[async_trait]
impl Queue for AmqpQueue {
    async fn enqueue(&self, job: JobId) -> Result<(), QueueError> {
        let link = self.link().await?;
        let main = &self.inner.names.main;
        let id = Some(job.to_string().as_str().into());
        match self.publish(&link, main, &job_body(job), Self::job_headers(0, None), id, None).await {
            Ok(()) => Ok(()),
            Err(PublishError::Nacked) => {
                let limit = self.inner.config.max_len;
                match self.count(&link, main).await {
                    Ok(n) if n >= limit => Err(QueueError::Full { limit }),
                    Ok(n) => Err(unavailable(format!(
                        "RabbitMQ at {} refused (nack) job {job} with {n} jobs in {main} (limit {limit})",
                        self.inner.shown_url
                    ))),
                    Err(e) => Err(e),
                }
            }
            Err(PublishError::Failed(e)) => Err(e),
        }
    }

    async fn dequeue(&self, wait: Duration) -> Result<Option<Delivery>, QueueError> {
        let deadline = Instant::now() + wait;
        let link = self.link().await?;
        let Ok(mut consumer) = tokio::time::timeout_at(deadline, link.consumer.lock()).await else { return Ok(None) };
        if consumer.is_none() {
            let started = link
                .consume
                .basic_consume(
                    self.inner.names.main.clone(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| self.failed("start consuming", e))?;
            *consumer = Some(started);
        }
        let Some(stream) = consumer.as_mut() else { return Err(unavailable("the consumer did not start")) };
        loop {
            let next = match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => return Ok(None),
                Ok(next) => next,
            };
            let raw = match next {
                None => return Err(unavailable(format!("RabbitMQ at {} stopped the consumer", self.inner.shown_url))),
                Some(Err(e)) => return Err(self.failed("receive a job", e)),
                Some(Ok(raw)) => raw,
            };
            let parsed =
                job_of(&raw.data).and_then(|parsed| Ok((parsed, attempts_of(raw.properties.headers().as_ref())?)));
            let ((job, request, submitter), mut attempts) = match parsed {
                Ok(p) => p,
                Err(why) => {
                    self.refuse(&link, raw, why).await?;
                    continue;
                }
            };
            if raw.redelivered {
                if self.requeue_interrupted(&link, &raw, job, attempts).await? {
                    continue;
                }
                attempts += 1;
            }
            let receipt = format!("{}.{}", link.generation, raw.delivery_tag);
            self.unacked().insert(receipt.clone(), Unacked { job, generation: link.generation, acker: raw.acker });
            return Ok(Some(Delivery { job, attempts, receipt, request, submitter }));
        }
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        let unacked = self.take_unacked(&delivery)?;
        if self.ack_raw(&unacked.acker).await {
            Ok(())
        } else {
            Err(QueueError::UnknownDelivery { job: delivery.job, receipt: delivery.receipt })
        }
    }

    async fn retry(&self, delivery: Delivery, delay: Duration) -> Result<Retried, QueueError> {
        let attempts = delivery.attempts + 1;
        let max = self.inner.config.max_attempts;
        if attempts >= max {
            let why = format!("it failed {attempts} deliveries out of {max} allowed");
            let headers = Self::job_headers(attempts, Some(&why));
            self.move_to(&delivery, &self.inner.names.dead, headers, None).await?;
            return Ok(Retried::Dead(DeadLetter { job: delivery.job, attempts, why }));
        }
        self.move_to(&delivery, &self.inner.names.delay, Self::job_headers(attempts, None), Some(delay)).await?;
        Ok(Retried::Later { attempts })
    }

    async fn dead(&self, delivery: Delivery, why: &str) -> Result<(), QueueError> {
        let headers = Self::job_headers(delivery.attempts + 1, Some(why));
        self.move_to(&delivery, &self.inner.names.dead, headers, None).await
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let link = self.link().await?;
        let ready = self.count(&link, &self.inner.names.main).await?;
        let dead = self.count(&link, &self.inner.names.dead).await?;
        let inflight = self.unacked().values().filter(|h| h.generation == link.generation).count();
        Ok(QueueDepth { ready, inflight, dead })
    }

    fn max_attempts(&self) -> u32 {
        self.inner.config.max_attempts
    }

    async fn announce(&self, event: &ResultEvent) -> Result<(), QueueError> {
        let link = self.link().await?;
        let exchange = &self.inner.names.results;
        let body = serde_json::to_vec(event)
            .map_err(|e| unavailable(format!("could not encode the result event of job {}: {e}", event.id)))?;
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(event.id.to_string().as_str().into())
            .with_type(RESULT_TYPE.into());
        // Not mandatory: a fanout exchange nobody listens to yet drops the event, as it should.
        let confirm = link
            .publish
            .basic_publish(exchange.clone(), "".into(), BasicPublishOptions::default(), &body, properties)
            .await
            .map_err(|e| self.failed(&format!("publish to {exchange}"), e))?;
        match confirm.await.map_err(|e| self.failed(&format!("publish to {exchange}"), e))? {
            Confirmation::Ack(_) => Ok(()),
            Confirmation::Nack(_) => Err(unavailable(format!(
                "RabbitMQ at {} refused (nack) the result event of job {} on {exchange}",
                self.inner.shown_url, event.id
            ))),
            Confirmation::NotRequested => {
                Err(unavailable("the publishing channel is not in confirm mode: the result event is unconfirmed"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::LongString;

    #[test]
    fn the_shown_url_has_no_password() {
        let shown = shown_url("amqp://user:s3cret@broker.example:5672/%2f");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("user@broker.example:5672"), "{shown}");
        assert!(!shown_url("not a url s3cret").contains("s3cret"));
        let config = AmqpConfig { url: "amqp://user:s3cret@broker.example:5672/%2f".into(), ..AmqpConfig::default() };
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret") && debug.contains("broker.example"), "{debug}");
    }

    #[test]
    fn bodies_and_attempts_are_checked() {
        let job = JobId::new();
        assert_eq!(job_of(&job_body(job)), Ok((job, None, None)));
        assert_eq!(job_of(format!(r#"{{"job":"{job}","extra":1}}"#).as_bytes()), Ok((job, None, None)));
        let with = format!(r#"{{"job":"{job}","request":{{"html":"<p>hi</p>"}},"submitter":"alice"}}"#);
        let request = Some(serde_json::json!({"html": "<p>hi</p>"}));
        assert_eq!(job_of(with.as_bytes()), Ok((job, request, Some("alice".to_string()))));
        let bad_submitter = format!(r#"{{"job":"{job}","submitter":"a\nb"}}"#);
        assert!(job_of(bad_submitter.as_bytes()).unwrap_err().contains("submitter"));
        let not_object = format!(r#"{{"job":"{job}","request":"<p>hi</p>"}}"#);
        assert!(job_of(not_object.as_bytes()).unwrap_err().contains("not a JSON object"));
        assert!(job_of(b"not json").unwrap_err().contains("not JSON"));
        assert!(job_of(br#"{"job":"nope"}"#).unwrap_err().contains("ULID"));
        assert!(job_of(job.to_string().to_lowercase().as_bytes()).is_err());

        assert_eq!(attempts_of(None), Ok(0));
        let mut h = FieldTable::default();
        assert_eq!(attempts_of(Some(&h)), Ok(0));
        h.insert(ATTEMPTS_HEADER.into(), AMQPValue::ShortShortUInt(2));
        assert_eq!(attempts_of(Some(&h)), Ok(2));
        h.insert(ATTEMPTS_HEADER.into(), AMQPValue::LongLongInt(-1));
        assert!(attempts_of(Some(&h)).is_err());
        h.insert(ATTEMPTS_HEADER.into(), AMQPValue::LongString(LongString::from("1")));
        assert!(attempts_of(Some(&h)).is_err());
    }
}
