//! A job's webhooks over its whole life, across a crash: a held job's `held` webhook waits in
//! the outbox (in the data directory) while its receiver is down, survives `kill -9` of the
//! server, arrives after the restart, and the operator's decisions then send `released` and
//! `rejected`, each once, with the job's `callback_headers` and one `webhook-id` per event.

use crate::support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::service::*;

/// An invoice with so many lines it prints more pages than template.json allows (max 10):
/// held on both engines.
fn held_invoice(receiver: &Receiver, app: &str) -> Value {
    let mut data = fixture("invoice", "basic");
    let items = data["items"].as_array().cloned().unwrap_or_default();
    data["items"] = Value::Array(items.iter().cycle().take(400).cloned().collect());
    json!({"template": "invoice", "data": data, "callback_url": receiver.url(),
           "callback_headers": {"X-App-Token": app, "X-Order": "42"}})
}

fn ready(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while client().get(server.url("/readyz")).send().map(|r| !r.status().is_success()).unwrap_or(true) {
        assert!(Instant::now() < deadline, "the server was not ready");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn outbox(data: &std::path::Path) -> Vec<Value> {
    let Ok(dir) = std::fs::read_dir(data.join("objects/outbox")) else { return Vec::new() };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

/// Waits until the receiver holds `n` webhooks for `id`; returns them with their headers.
fn webhooks(receiver: &Receiver, id: &str, n: usize) -> Vec<(Received, Value)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = receiver.received_for(id);
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "{} of {n} webhooks for {id} after 60 s: {got:?}", got.len());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn decide(server: &Server, id: &str, action: &str) {
    let r = client()
        .post(server.url(&format!("/v1/review/jobs/{id}/{action}")))
        .bearer_auth(OPERATOR)
        .json(&json!({"reason": format!("{action}d in the lifecycle test")}))
        .send()
        .expect("POST the decision");
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{action} {id}: {:?}", r.text());
}

#[test]
fn held_then_released_or_rejected_each_webhook_arrives_once_across_a_kill_9() {
    let receiver = Receiver::start();
    receiver.refuse.store(true, Ordering::SeqCst);
    let data = tempfile::tempdir().expect("data dir");
    let flags = ["--token", SUBMIT_TOKEN, "--token", OPERATOR_TOKEN, "--webhook-allow-private"];
    let mut server = Server::start(data.path(), &flags);
    ready(&server);
    let released = submit(&server, SUBMIT, &held_invoice(&receiver, "app-1"));
    let rejected = submit(&server, SUBMIT, &held_invoice(&receiver, "app-2"));
    for id in [&released, &rejected] {
        let s = wait_settled(&server, SUBMIT, id, Duration::from_secs(300));
        assert_eq!(s["state"], "held", "{s}");
    }
    // Both `held` webhooks were tried, refused, and wait in the outbox.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting = outbox(data.path());
        let tried = waiting.iter().filter(|p| p["attempts"].as_u64().unwrap_or(0) >= 1).count();
        if tried == 2 {
            assert!(waiting.iter().all(|p| p["body"]["event"] == "held"), "{waiting:?}");
            assert!(
                waiting.iter().all(|p| p["last_error"].as_str().unwrap_or_default().contains("503")),
                "{waiting:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the held webhooks were not tried: {waiting:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(receiver.refused.load(Ordering::SeqCst) >= 2);
    assert!(receiver.received_for(&released).is_empty());

    // A crash, the receiver comes back, the server restarts: the outbox is still there.
    server.kill9();
    assert_eq!(outbox(data.path()).len(), 2, "the outbox did not survive kill -9");
    receiver.refuse.store(false, Ordering::SeqCst);
    let server = Server::start(data.path(), &flags);
    for (id, app) in [(&released, "app-1"), (&rejected, "app-2")] {
        let got = webhooks(&receiver, id, 1);
        let (raw, body) = &got[0];
        assert_eq!((body["event"].as_str(), body["state"].as_str()), (Some("held"), Some("held")), "{body}");
        assert_eq!(raw.header("x-app-token"), Some(app), "{:?}", raw.headers);
        assert_eq!(raw.header("x-order"), Some("42"));
        assert_eq!(raw.header("webhook-id"), Some(format!("msg_{id}_held").as_str()));
        assert!(body.get("pdf_url").is_none(), "a held job has no PDF to fetch: {body}");
    }
    ready(&server);

    // The operator's decisions, after the restart: one webhook each.
    decide(&server, &released, "release");
    decide(&server, &rejected, "reject");
    let got = webhooks(&receiver, &released, 2);
    let (raw, body) = &got[1];
    assert_eq!((body["event"].as_str(), body["state"].as_str()), (Some("released"), Some("done")), "{body}");
    assert_eq!(body["pdf_url"], format!("{}/pdf", body["status_url"].as_str().unwrap_or_default()));
    assert_eq!(raw.header("webhook-id"), Some(format!("msg_{released}_released").as_str()));
    assert_eq!(raw.header("x-app-token"), Some("app-1"));
    let got = webhooks(&receiver, &rejected, 2);
    let (raw, body) = &got[1];
    assert_eq!((body["event"].as_str(), body["state"].as_str()), (Some("rejected"), Some("failed")), "{body}");
    assert_eq!(raw.header("webhook-id"), Some(format!("msg_{rejected}_rejected").as_str()));

    // Nothing more: each event once, the outbox empty, the outcome on the records.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(receiver.received_for(&released).len(), 2, "{:?}", receiver.posts_for(&released));
    assert_eq!(receiver.received_for(&rejected).len(), 2, "{:?}", receiver.posts_for(&rejected));
    assert!(outbox(data.path()).is_empty(), "{:?}", outbox(data.path()));
    let s = status(&server, SUBMIT, &released);
    assert_eq!(s["webhook"]["delivered"], true, "{s}");
    println!(
        "held ×2 refused {} times, delivered after kill -9 and restart; released and rejected delivered once each",
        receiver.refused.load(Ordering::SeqCst)
    );
}

#[test]
fn callback_headers_are_checked_at_submission() {
    let (_data, server) = start_ready(&["--webhook-allow-private"]);
    let job = |headers: Value| json!({"html": "<p>x</p>", "callback_url": "http://127.0.0.1:9/hook", "callback_headers": headers});
    for (headers, needle) in [
        (json!({"Content-Type": "text/plain"}), "set by the webhook itself"),
        (json!({"webhook-signature": "v1,forged"}), "set by the webhook itself"),
        (json!({"bad name": "x"}), "is not a header name"),
        (json!({"X-Ok": "line\nbreak"}), "printable ASCII"),
        (json!({"Host": "evil.example"}), "set by the webhook itself"),
        (json!({"Transfer-Encoding": "chunked"}), "set by the webhook itself"),
        (json!({"Proxy-Authorization": "x"}), "set by the webhook itself"),
        (json!({"X-A": "1", "x-a": "2"}), "given twice"),
        (json!({"X-Long": "v".repeat(1025)}), "at most 1024"),
        (Value::Object((0..17).map(|i| (format!("X-H{i}"), json!("v"))).collect()), "at most 16"),
    ] {
        let r = post_job(&server, SUBMIT, &job(headers.clone()), None);
        assert_problem(r, reqwest::StatusCode::UNPROCESSABLE_ENTITY, needle);
    }
    let no_url = json!({"html": "<p>x</p>", "callback_headers": {"X-App": "1"}});
    assert_problem(post_job(&server, SUBMIT, &no_url, None), reqwest::StatusCode::UNPROCESSABLE_ENTITY, "callback_url");
    let ok = post_job(&server, SUBMIT, &job(json!({"X-App-Token": "abc"})), None);
    assert_eq!(ok.status(), reqwest::StatusCode::ACCEPTED);
}

#[test]
fn every_answer_has_a_request_id_in_its_log_lines_and_a_job_keeps_its_traceparent() {
    let data = tempfile::tempdir().expect("data dir");
    let log = data.path().join("server.log");
    let server = Server::start_logged(data.path(), &["--token", SUBMIT_TOKEN], &log);
    // Made up when the client sends none (even on a refusal), echoed when it sends one.
    let made = client().get(server.url("/healthz")).send().expect("GET /healthz");
    let id = made.headers()["x-request-id"].to_str().expect("ASCII").to_string();
    assert!(ulid::Ulid::from_string(&id).is_ok(), "{id}");
    let refused = client().get(server.url("/v1/jobs")).send().expect("GET without a token");
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert!(refused.headers().contains_key("x-request-id"));
    let unusable = client().get(server.url("/healthz")).header("x-request-id", "two words").send().expect("GET");
    assert_ne!(unusable.headers()["x-request-id"], "two words");

    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = client()
        .post(server.url("/v1/jobs"))
        .bearer_auth(SUBMIT)
        .header("x-request-id", "req-lifecycle-42")
        .header("traceparent", traceparent)
        .json(&json!({"html": "<p>traced</p>"}))
        .send()
        .expect("POST /v1/jobs");
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    assert_eq!(r.headers()["x-request-id"], "req-lifecycle-42");
    let job = r.json::<Value>().expect("JSON")["id"].as_str().expect("id").to_string();
    assert_eq!(status(&server, SUBMIT, &job)["traceparent"], traceparent);
    let record: Value = serde_json::from_slice(
        &std::fs::read(data.path().join(format!("objects/jobs/{job}/job.json"))).expect("the record"),
    )
    .expect("JSON");
    assert_eq!(record["traceparent"], traceparent);
    // A malformed traceparent is not kept.
    let r = client()
        .post(server.url("/v1/jobs"))
        .bearer_auth(SUBMIT)
        .header("traceparent", "00-XYZ-01")
        .json(&json!({"html": "<p>untraced</p>"}))
        .send()
        .expect("POST /v1/jobs");
    let other = r.json::<Value>().expect("JSON")["id"].as_str().expect("id").to_string();
    assert!(status(&server, SUBMIT, &other).get("traceparent").is_none());
    // The log line the submission wrote names the request.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("job queued") && l.contains(&job)) {
            assert!(line.contains("request_id=req-lifecycle-42"), "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "no `job queued` line for {job}:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
