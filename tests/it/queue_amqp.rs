//! The AMQP queue against a real RabbitMQ at 127.0.0.1:5672 (guest/guest): FIFO, message
//! format and durability, delayed retry through the delay queue, dead letters with reasons,
//! the length limit, messages published directly by an app (good and bad), prefetch, at-least
//! once redelivery after a lost consumer, and a broker restart under a live `AmqpQueue`.
//!
//! Each test has its own queues (`pixelproof.test.{ulid}` + `.delay` + `.dead`), deleted at
//! its end, so tests run in parallel; the broker-restart test takes a write lock that the
//! others hold for reading, so it never pulls the broker from under them.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::broker::{self, URL};
use futures::FutureExt;
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use pixelproof::jobs::JobId;
use pixelproof::queue::amqp::{ATTEMPTS_HEADER, WHY_HEADER};
use pixelproof::queue::{AmqpConfig, AmqpQueue, DeadLetter, Queue, QueueDepth, QueueError, Retried};

const WAIT: Duration = Duration::from_secs(3);

fn config(name: &str) -> AmqpConfig {
    AmqpConfig { url: URL.to_string(), queue_name: name.to_string(), prefetch: 10, max_len: 1000, max_attempts: 3 }
}

fn ids(n: usize) -> Vec<JobId> {
    (0..n).map(|_| JobId::new()).collect()
}

/// Waits until the broker accepts AMQP connections (starting it if nothing listens).
async fn broker_up() {
    if !broker::answers() {
        let _ = Command::new("rabbitmq-server").arg("-detached").status();
    }
    let started = Instant::now();
    loop {
        if broker::answers() && Connection::connect(URL, ConnectionProperties::default()).await.is_ok() {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "RabbitMQ at 127.0.0.1:5672 did not come up");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn raw() -> (Connection, Channel) {
    let conn = Connection::connect(URL, ConnectionProperties::default()).await.expect("a raw connection to RabbitMQ");
    let channel = conn.create_channel().await.expect("a raw channel");
    (conn, channel)
}

async fn delete_queues(name: &str) {
    let (conn, ch) = raw().await;
    for q in [name.to_string(), format!("{name}.delay"), format!("{name}.dead")] {
        ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await.expect("deleting a test queue");
    }
    let results = format!("{name}.results");
    ch.exchange_delete(results.as_str().into(), Default::default()).await.expect("deleting the results exchange");
    let _ = conn.close(200, "test done".into()).await;
}

/// Runs `test` with a fresh queue name, deleting its queues and exchange afterwards (even if it failed).
async fn with_queue<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let _shared = broker::shared().await;
    broker_up().await;
    let name = format!("pixelproof.test.{}", JobId::new().to_string().to_lowercase());
    let outcome = AssertUnwindSafe(test(name.clone())).catch_unwind().await;
    delete_queues(&name).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Publishes like an app would: straight to the queue, with the properties given.
async fn app_publish(queue: &str, body: &[u8], properties: BasicProperties) {
    let (conn, ch) = raw().await;
    ch.confirm_select(Default::default()).await.unwrap();
    let confirm = ch
        .basic_publish("".into(), queue.into(), BasicPublishOptions::default(), body, properties)
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack(), "the broker refused the app's message: {confirm:?}");
    let _ = conn.close(200, "app done".into()).await;
}

/// Takes one message from `queue` with basic.get (acked), if any.
async fn get(queue: &str) -> Option<lapin::message::BasicGetMessage> {
    let (conn, ch) = raw().await;
    let got = ch.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.unwrap();
    let _ = conn.close(200, "get done".into()).await;
    got
}

fn header<'a>(m: &'a lapin::message::BasicGetMessage, key: &str) -> Option<&'a AMQPValue> {
    m.delivery.properties.headers().as_ref().and_then(|h| h.inner().get(key))
}

fn header_int(m: &lapin::message::BasicGetMessage, key: &str) -> Option<i64> {
    match header(m, key)? {
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::ShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortShortInt(n) => Some(i64::from(*n)),
        other => panic!("{key} is not an integer: {other:?}"),
    }
}

fn header_text(m: &lapin::message::BasicGetMessage, key: &str) -> Option<String> {
    match header(m, key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        other => panic!("{key} is not a string: {other:?}"),
    }
}

fn body_job(m: &lapin::message::BasicGetMessage) -> String {
    let v: serde_json::Value = serde_json::from_slice(&m.delivery.data).expect("a JSON body");
    v["job"].as_str().expect("a job field").to_string()
}

async fn take(q: &AmqpQueue) -> pixelproof::queue::Delivery {
    q.dequeue(WAIT).await.unwrap().expect("a delivery within the wait")
}

#[tokio::test]
async fn delivers_in_order_and_acks() {
    with_queue(|name| async move {
        let q = AmqpQueue::connect(config(&name)).await.unwrap();
        let jobs = ids(5);
        for job in &jobs {
            q.enqueue(*job).await.unwrap();
        }
        assert_eq!(q.depth().await.unwrap(), QueueDepth { ready: 5, inflight: 0, dead: 0 });
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(take(&q).await);
        }
        assert_eq!(got.iter().map(|d| d.job).collect::<Vec<_>>(), jobs);
        assert!(got.iter().all(|d| d.attempts == 0));
        let receipts: std::collections::BTreeSet<_> = got.iter().map(|d| d.receipt.clone()).collect();
        assert_eq!(receipts.len(), 5, "receipts are unique");
        assert_eq!(q.depth().await.unwrap(), QueueDepth { ready: 0, inflight: 5, dead: 0 });
        for d in &got {
            q.ack(d.clone()).await.unwrap();
        }
        assert!(matches!(q.ack(got[0].clone()).await, Err(QueueError::UnknownDelivery { .. })));
        let forged = pixelproof::queue::Delivery {
            job: jobs[1],
            attempts: 0,
            receipt: got[0].receipt.clone(),
            request: None,
            submitter: None,
        };
        assert!(matches!(q.ack(forged).await, Err(QueueError::UnknownDelivery { .. })));
        assert_eq!(q.depth().await.unwrap(), QueueDepth::default());
        let started = Instant::now();
        assert_eq!(q.dequeue(Duration::from_millis(300)).await.unwrap(), None);
        assert!(started.elapsed() >= Duration::from_millis(300), "dequeue returned before its wait");
        // Acked means gone from the broker too.
        q.close().await;
        assert!(get(&name).await.is_none());
    })
    .await;
}

#[tokio::test]
async fn messages_are_persistent_json_on_durable_queues() {
    with_queue(|name| async move {
        let q = AmqpQueue::connect(config(&name)).await.unwrap();
        let job = JobId::new();
        q.enqueue(job).await.unwrap();
        // Nothing consumes before the first dequeue: another connection finds the message.
        let m = get(&name).await.expect("the enqueued message");
        let p = &m.delivery.properties;
        assert_eq!(*p.delivery_mode(), Some(2), "persistent");
        assert_eq!(p.content_type().as_ref().map(|c| c.as_str()), Some("application/json"));
        assert_eq!(p.message_id().as_ref().map(|c| c.to_string()), Some(job.to_string()));
        assert_eq!(header_int(&m, ATTEMPTS_HEADER), Some(0));
        assert_eq!(body_job(&m), job.to_string());

        let listing = broker::rabbitmqctl(&["-q", "list_queues", "name", "durable"]);
        for q in [name.clone(), format!("{name}.delay"), format!("{name}.dead")] {
            let line = listing.lines().find(|l| l.split_whitespace().next() == Some(q.as_str()));
            assert_eq!(line.and_then(|l| l.split_whitespace().nth(1)), Some("true"), "{q} durable in:\n{listing}");
        }

        // Declaring again is idempotent; other arguments are refused with what to do.
        AmqpQueue::connect(config(&name)).await.expect("a second connect with the same settings");
        let other = AmqpConfig { max_len: 7, ..config(&name) };
        let err = AmqpQueue::connect(other).await.expect_err("another max_len for an existing queue").to_string();
        assert!(err.contains(&name) && err.contains("delete"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn connection_errors_name_the_broker_but_not_the_password() {
    let config = AmqpConfig { url: "amqp://guest:s3cret@127.0.0.1:1/%2f".to_string(), ..AmqpConfig::default() };
    let err = AmqpQueue::connect(config).await.expect_err("nothing listens on port 1");
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("127.0.0.1:1") && !text.contains("s3cret"), "{text}");
}

#[tokio::test]
async fn retry_waits_in_the_delay_queue_then_comes_back_with_one_more_attempt() {
    with_queue(|name| async move {
        let q = AmqpQueue::connect(config(&name)).await.unwrap();
        let job = JobId::new();
        q.enqueue(job).await.unwrap();
        let d = take(&q).await;
        let retried_at = Instant::now();
        assert_eq!(q.retry(d.clone(), Duration::from_millis(1500)).await.unwrap(), Retried::Later { attempts: 1 });
        assert!(matches!(q.ack(d).await, Err(QueueError::UnknownDelivery { .. })), "retried means not in flight");
        assert_eq!(q.depth().await.unwrap(), QueueDepth { ready: 0, inflight: 0, dead: 0 });
        assert_eq!(q.dequeue(Duration::from_millis(1000)).await.unwrap(), None, "back before its delay");
        let again = q.dequeue(Duration::from_secs(4)).await.unwrap().expect("back after its delay");
        assert!(retried_at.elapsed() >= Duration::from_millis(1500), "back after {:?}", retried_at.elapsed());
        assert_eq!((again.job, again.attempts), (job, 1));
        q.ack(again).await.unwrap();
        assert_eq!(q.depth().await.unwrap(), QueueDepth::default());
    })
    .await;
}

#[tokio::test]
async fn out_of_attempts_retry_gives_a_dead_letter_with_its_reason() {
    with_queue(|name| async move {
        let q = AmqpQueue::connect(AmqpConfig { max_attempts: 2, ..config(&name) }).await.unwrap();
        let job = JobId::new();
        q.enqueue(job).await.unwrap();
        let d = take(&q).await;
        assert_eq!(q.retry(d, Duration::ZERO).await.unwrap(), Retried::Later { attempts: 1 });
        let d = take(&q).await;
        assert_eq!(d.attempts, 1);
        let Retried::Dead(DeadLetter { job: dead_job, attempts, why }) =
            q.retry(d.clone(), Duration::ZERO).await.unwrap()
        else {
            panic!("the second failure of two allowed must be dead")
        };
        assert_eq!((dead_job, attempts), (job, 2));
        assert!(why.contains("2 deliveries out of 2"), "{why}");
        assert!(matches!(q.retry(d, Duration::ZERO).await, Err(QueueError::UnknownDelivery { .. })));
        assert_eq!(q.depth().await.unwrap(), QueueDepth { ready: 0, inflight: 0, dead: 1 });
        assert_eq!(q.dequeue(Duration::from_millis(500)).await.unwrap(), None, "a dead job is not delivered");

        let m = get(&format!("{name}.dead")).await.expect("the dead letter");
        assert_eq!(body_job(&m), job.to_string());
        assert_eq!(header_text(&m, WHY_HEADER), Some(why));
        assert_eq!(header_int(&m, ATTEMPTS_HEADER), Some(2));
        assert_eq!(*m.delivery.properties.delivery_mode(), Some(2));
    })
    .await;
}

#[tokio::test]
async fn dead_moves_a_delivery_to_the_dead_letters_at_once() {
    with_queue(|name| async move {
        let q = AmqpQueue::connect(config(&name)).await.unwrap();
        let job = JobId::new();
        q.enqueue(job).await.unwrap();
        let d = take(&q).await;
        q.dead(d.clone(), "the template does not exist").await.unwrap();
        assert!(matches!(q.dead(d, "again").await, Err(QueueError::UnknownDelivery { .. })));
        assert_eq!(q.depth().await.unwrap(), QueueDepth { ready: 0, inflight: 0, dead: 1 });
        let m = get(&format!("{name}.dead")).await.expect("the dead letter");
        assert_eq!(body_job(&m), job.to_string());
        assert_eq!(header_text(&m, WHY_HEADER).as_deref(), Some("the template does not exist"));
        assert_eq!(header_int(&m, ATTEMPTS_HEADER), Some(1));
        assert!(get(&format!("{name}.dead")).await.is_none(), "exactly one dead letter");
    })
    .await;
}

#[tokio::test]
async fn a_full_queue_answers_full() {
    with_queue(|name| async move {
        let q = AmqpQueue::connect(AmqpConfig { max_len: 2, ..config(&name) }).await.unwrap();
        let jobs = ids(3);
        q.enqueue(jobs[0]).await.unwrap();
        q.enqueue(jobs[1]).await.unwrap();
        let err = q.enqueue(jobs[2]).await.expect_err("a third job in a queue of two");
        assert!(matches!(err, QueueError::Full { limit: 2 }), "{err:?}");
        assert!(err.is_retryable());
        assert_eq!(q.depth().await.unwrap().ready, 2, "the refused job is not in the queue");
        // Taking jobs makes room again.
        let a = take(&q).await;
        let b = take(&q).await;
        assert_eq!((a.job, b.job), (jobs[0], jobs[1]));
        q.enqueue(jobs[2]).await.unwrap();
        assert_eq!(take(&q).await.job, jobs[2]);
    })
    .await;
}

#[tokio::test]
async fn malformed_messages_go_to_the_dead_letters_and_the_consumer_keeps_going() {
    with_queue(|name| async move {
        let q = AmqpQueue::connect(config(&name)).await.unwrap();
        let good = JobId::new();
        app_publish(&name, b"this is not json", BasicProperties::default()).await;
        app_publish(&name, br#"{"job": "not-a-ulid"}"#, BasicProperties::default()).await;
        let mut bad_attempts = FieldTable::default();
        bad_attempts.insert(ATTEMPTS_HEADER.into(), AMQPValue::LongString("three".into()));
        let body = format!(r#"{{"job": "{}"}}"#, JobId::new());
        app_publish(&name, body.as_bytes(), BasicProperties::default().with_headers(bad_attempts)).await;
        q.enqueue(good).await.unwrap();

        let d = take(&q).await;
        assert_eq!((d.job, d.attempts), (good, 0));
        q.ack(d).await.unwrap();
        assert_eq!(q.depth().await.unwrap(), QueueDepth { ready: 0, inflight: 0, dead: 3 });

        let dead = format!("{name}.dead");
        let first = get(&dead).await.expect("the non-JSON message");
        assert_eq!(first.delivery.data, b"this is not json", "the original body is kept");
        assert!(header_text(&first, WHY_HEADER).unwrap().contains("not JSON"));
        let second = get(&dead).await.expect("the bad id");
        assert!(header_text(&second, WHY_HEADER).unwrap().contains("ULID"));
        let third = get(&dead).await.expect("the bad attempts header");
        assert!(header_text(&third, WHY_HEADER).unwrap().contains(ATTEMPTS_HEADER));

        // Still consuming after the bad ones.
        let later = JobId::new();
        q.enqueue(later).await.unwrap();
        let d = take(&q).await;
        assert_eq!(d.job, later);
        q.ack(d).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_app_may_publish_a_bare_job_without_headers() {
    with_queue(|name| async move {
        let q = AmqpQueue::connect(config(&name)).await.unwrap();
        let job = JobId::new();
        app_publish(&name, format!(r#"{{"job":"{job}"}}"#).as_bytes(), BasicProperties::default()).await;
        let d = take(&q).await;
        assert_eq!((d.job, d.attempts), (job, 0));
        q.ack(d).await.unwrap();
        assert_eq!(q.depth().await.unwrap(), QueueDepth::default());
    })
    .await;
}

#[tokio::test]
async fn prefetch_leaves_the_other_jobs_to_other_consumers() {
    with_queue(|name| async move {
        let first = AmqpQueue::connect(AmqpConfig { prefetch: 2, ..config(&name) }).await.unwrap();
        let jobs = ids(5);
        for job in &jobs {
            first.enqueue(*job).await.unwrap();
        }
        let a = take(&first).await;
        let b = take(&first).await;
        assert_eq!((a.job, b.job), (jobs[0], jobs[1]));

        let second = AmqpQueue::connect(config(&name)).await.unwrap();
        let mut others = Vec::new();
        for _ in 0..3 {
            others.push(take(&second).await);
        }
        assert_eq!(others.iter().map(|d| d.job).collect::<Vec<_>>(), jobs[2..].to_vec());
        assert_eq!(first.dequeue(Duration::from_millis(500)).await.unwrap(), None, "prefetch 2 holds two at most");
        assert_eq!(second.dequeue(Duration::from_millis(200)).await.unwrap(), None);
        assert_eq!(first.depth().await.unwrap(), QueueDepth { ready: 0, inflight: 2, dead: 0 });
        assert_eq!(second.depth().await.unwrap(), QueueDepth { ready: 0, inflight: 3, dead: 0 });
        for d in [a, b] {
            first.ack(d).await.unwrap();
        }
        for d in others {
            second.ack(d).await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn an_unacked_delivery_of_a_lost_consumer_is_delivered_again_with_one_more_attempt() {
    with_queue(|name| async move {
        let cfg = AmqpConfig { max_attempts: 2, ..config(&name) };
        let job = JobId::new();
        let first = AmqpQueue::connect(cfg.clone()).await.unwrap();
        first.enqueue(job).await.unwrap();
        let d = take(&first).await;
        assert_eq!(d.attempts, 0);
        first.close().await;
        assert!(matches!(first.ack(d).await, Err(QueueError::UnknownDelivery { .. })));

        let second = AmqpQueue::connect(cfg.clone()).await.unwrap();
        let again = take(&second).await;
        assert_eq!((again.job, again.attempts), (job, 1), "an interrupted delivery counts as an attempt");
        // Lost once more, this time by dropping the queue (its connection goes with it): that was
        // its last attempt (2 allowed), so it is handed out with attempts = max_attempts, for
        // the worker to fail the job (saying why) and dead-letter it.
        drop(again);
        drop(second);

        let third = AmqpQueue::connect(cfg).await.unwrap();
        let last = take(&third).await;
        assert_eq!((last.job, last.attempts), (job, 2));
        assert!(last.attempts >= third.max_attempts(), "out of attempts: not to be worked on");
        third.dead(last, "its workers stopped every time").await.unwrap();
        assert_eq!(third.dequeue(Duration::from_secs(1)).await.unwrap(), None);
        assert_eq!(third.depth().await.unwrap(), QueueDepth { ready: 0, inflight: 0, dead: 1 });
        let m = get(&format!("{name}.dead")).await.expect("the dead letter");
        assert_eq!(body_job(&m), job.to_string());
        assert!(header_text(&m, WHY_HEADER).unwrap().contains("stopped"));
        assert_eq!(header_int(&m, ATTEMPTS_HEADER), Some(3));
    })
    .await;
}

#[tokio::test]
async fn survives_a_broker_restart_without_being_recreated() {
    let _exclusive = broker::exclusive().await;
    broker_up().await;
    let name = format!("pixelproof.test.{}", JobId::new().to_string().to_lowercase());
    let q = AmqpQueue::connect(config(&name)).await.unwrap();
    let jobs = ids(2);
    q.enqueue(jobs[0]).await.unwrap();

    broker::rabbitmqctl(&["stop_app"]);
    let during = AssertUnwindSafe(async {
        let err = q.enqueue(jobs[1]).await.expect_err("enqueue with the broker stopped");
        assert!(matches!(err, QueueError::Unavailable { .. }) && err.is_retryable(), "{err:?}");
        let err = q.dequeue(Duration::from_millis(200)).await.expect_err("dequeue with the broker stopped");
        assert!(matches!(err, QueueError::Unavailable { .. }), "{err:?}");
        assert!(q.depth().await.is_err());
    })
    .catch_unwind()
    .await;
    broker::rabbitmqctl(&["start_app"]);
    broker_up().await;
    if let Err(panic) = during {
        delete_queues(&name).await;
        std::panic::resume_unwind(panic);
    }

    let after = AssertUnwindSafe(async {
        let started = Instant::now();
        loop {
            match q.enqueue(jobs[1]).await {
                Ok(()) => break,
                Err(QueueError::Unavailable { detail }) => {
                    assert!(started.elapsed() < Duration::from_secs(60), "still unavailable: {detail}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("after the restart: {e:?}"),
            }
        }
        let a = take(&q).await;
        let b = take(&q).await;
        assert_eq!((a.job, b.job), (jobs[0], jobs[1]), "the persistent job survived the restart");
        q.ack(a).await.unwrap();
        q.ack(b).await.unwrap();
        assert_eq!(q.depth().await.unwrap(), QueueDepth::default());
    })
    .catch_unwind()
    .await;
    delete_queues(&name).await;
    if let Err(panic) = after {
        std::panic::resume_unwind(panic);
    }
}
