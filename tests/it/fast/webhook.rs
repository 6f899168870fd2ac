//! Webhooks against a real HTTP listener on loopback: delivered when the policy allows
//! private targets, retried on 5xx, and refused (0 connections) by default for loopback
//! written every way, for names that resolve to loopback, and for metadata addresses; every
//! attempt signed (Standard Webhooks) under one `webhook-id`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use pixelproof::webhook::{check_url, deliver, WebhookError, WebhookPolicy};

/// A loopback receiver: counts TCP connections and requests; answers the statuses in
/// `script` in turn (200 when it runs out) and keeps the bodies.
struct Receiver {
    port: u16,
    connections: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

async fn receiver(script: Vec<u16>) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(script.into_iter()));
    let b = bodies.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let b = b.clone();
            let script = script.clone();
            async move {
                b.lock().unwrap().push(v);
                let code = script.lock().unwrap().next().unwrap_or(200);
                StatusCode::from_u16(code).unwrap()
            }
        }),
    );
    let listener = Counting { inner: listener, count: connections.clone() };
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { port, connections, bodies }
}

/// A TCP listener that counts the connections it accepts.
struct Counting {
    inner: tokio::net::TcpListener,
    count: Arc<AtomicUsize>,
}

impl axum::serve::Listener for Counting {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok(pair) = self.inner.accept().await {
                self.count.fetch_add(1, Ordering::SeqCst);
                return pair;
            }
        }
    }
    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The `webhook-id` of these deliveries.
const ID: &str = "msg_test";

fn quick(allow_private: bool) -> WebhookPolicy {
    WebhookPolicy {
        allow_private,
        timeout: Duration::from_secs(5),
        attempts: 4,
        first_backoff: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn delivered_when_private_targets_are_allowed() {
    let r = receiver(vec![]).await;
    let url = check_url(&format!("http://127.0.0.1:{}/hook", r.port), &quick(true)).unwrap();
    let body = serde_json::json!({"id": "01J00000000000000000000000", "state": "done"});
    let d = deliver(&url, &body, ID, None, &quick(true)).await.unwrap();
    assert_eq!((d.attempts, d.status), (1, 200));
    assert_eq!(r.bodies.lock().unwrap().as_slice(), &[body]);
}

#[tokio::test]
async fn retried_with_backoff_on_server_errors() {
    let r = receiver(vec![500, 503]).await;
    let url = check_url(&format!("http://localhost:{}/hook", r.port), &quick(true)).unwrap();
    let started = std::time::Instant::now();
    let d = deliver(&url, &serde_json::json!({"n": 1}), ID, None, &quick(true)).await.unwrap();
    assert_eq!((d.attempts, d.status), (3, 200));
    assert_eq!(r.bodies.lock().unwrap().len(), 3);
    // 50 ms then 100 ms of backoff at least.
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let r = receiver(vec![404]).await;
    let url = check_url(&format!("http://127.0.0.1:{}/hook", r.port), &quick(true)).unwrap();
    let err = deliver(&url, &serde_json::json!({}), ID, None, &quick(true)).await.unwrap_err();
    assert!(matches!(err, WebhookError::Failed { attempts: 1, .. }), "{err}");
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn loopback_is_refused_by_default_in_every_spelling() {
    let r = receiver(vec![]).await;
    let p = r.port;
    let policy = quick(false);
    for raw in [
        format!("http://127.0.0.1:{p}/hook"),
        format!("http://127.1:{p}/hook"),
        format!("http://0x7f000001:{p}/hook"),
        format!("http://2130706433:{p}/hook"),
        format!("http://017700000001:{p}/hook"),
        format!("http://[::ffff:127.0.0.1]:{p}/hook"),
        format!("http://[::ffff:7f00:1]:{p}/hook"),
        format!("http://0.0.0.0:{p}/hook"),
        format!("http://169.254.169.254:{p}/latest/meta-data/"),
    ] {
        let err = check_url(&raw, &policy).expect_err(&raw);
        assert!(err.to_string().contains("not a public address"), "{raw}: {err}");
    }
    // A name is checked after resolution, at delivery: `localhost` resolves to loopback.
    let url = check_url(&format!("http://localhost:{p}/hook"), &policy).unwrap();
    let err = deliver(&url, &serde_json::json!({}), ID, None, &policy).await.unwrap_err();
    assert!(matches!(err, WebhookError::Unreachable { .. }), "{err}");
    // The job record gets this message: it must not say what the name resolves to.
    let told = err.to_string();
    assert!(!told.contains("127.0.0.1") && !told.contains("::1") && !told.contains("resolves to"), "{told}");
    // A name that does not resolve at all reads the same, so neither case can be told apart.
    let nowhere = check_url(&format!("http://no-such-host.invalid:{p}/hook"), &policy).unwrap();
    let unknown = deliver(&nowhere, &serde_json::json!({}), ID, None, &policy).await.unwrap_err();
    assert!(matches!(unknown, WebhookError::Unreachable { .. }), "{unknown}");
    assert_eq!(unknown.to_string().replace("no-such-host.invalid", "localhost"), told);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(r.connections.load(Ordering::SeqCst), 0, "no connection may reach the listener");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // A receiver that redirects to a second listener: the second must see nothing.
    let target = receiver(vec![]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let to = format!("http://127.0.0.1:{}/hook", target.port);
    let app = axum::Router::new().route(
        "/hook",
        post(move || {
            let to = to.clone();
            async move { (StatusCode::TEMPORARY_REDIRECT, [(axum::http::header::LOCATION, to)]) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = check_url(&format!("http://127.0.0.1:{port}/hook"), &quick(true)).unwrap();
    let err = deliver(&url, &serde_json::json!({}), ID, None, &quick(true)).await.unwrap_err();
    assert!(err.to_string().contains("307"), "{err}");
    assert_eq!(target.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn every_attempt_is_signed_under_one_webhook_id() {
    use pixelproof::webhook::signature::Secret;
    // Answers 503 to the first attempt, 200 after; keeps each attempt's headers and bytes.
    type Seen = Arc<Mutex<Vec<(axum::http::HeaderMap, axum::body::Bytes)>>>;
    let seen: Seen = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                let mut all = keep.lock().unwrap();
                all.push((headers, body));
                if all.len() == 1 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let secret: Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
    let url = check_url(&format!("http://127.0.0.1:{port}/hook"), &quick(true)).unwrap();
    let body = serde_json::json!({"id": "01J00000000000000000000000", "state": "done"});
    let d = deliver(&url, &body, "msg_01J00000000000000000000000_done", Some(&secret), &quick(true)).await.unwrap();
    assert_eq!((d.attempts, d.status), (2, 200));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let now = chrono::Utc::now().timestamp();
    for (headers, bytes) in seen.iter() {
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        assert_eq!(h("webhook-id"), "msg_01J00000000000000000000000_done", "one id for every attempt");
        assert_eq!(h("content-type"), "application/json");
        assert_eq!(serde_json::from_slice::<serde_json::Value>(bytes).unwrap(), body);
        assert_eq!(
            secret.verify(&h("webhook-id"), &h("webhook-timestamp"), &h("webhook-signature"), bytes, now),
            Ok(())
        );
    }
}
