//! Tenants against the real `pixelproof serve` (real Chromium, PDFium, loopback): two submit
//! tokens (`alice`, `bob`) and an operator on one server. A submitter never sees, reuses or
//! crowds out another's jobs: idempotency keys are per submitter and bound to the body, other
//! submitters' jobs answer 404, the per-submitter quota refuses only the flooding tenant, and
//! webhooks carry Standard Webhooks signatures a receiver can check.

use crate::support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use pixelproof::webhook::signature::{Secret, SignatureError};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::service::*;

const ALICE_TOKEN: &str = "alice:submit:alice-secret-0123456789";
const BOB_TOKEN: &str = "bob:submit:bob-secret-0123456789";
const ALICE: &str = "alice-secret-0123456789";
const BOB: &str = "bob-secret-0123456789";
const SETTLE: Duration = Duration::from_secs(240);

fn tenants(extra: &[&str]) -> Vec<String> {
    let mut flags: Vec<String> =
        ["--token", ALICE_TOKEN, "--token", BOB_TOKEN, "--token", OPERATOR_TOKEN].map(String::from).to_vec();
    flags.extend(extra.iter().map(|s| s.to_string()));
    flags
}

fn start(data: &std::path::Path, flags: &[String]) -> Server {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Server::start(data, &flags)
}

fn get(server: &Server, token: &str, path: &str) -> reqwest::blocking::Response {
    client().get(server.url(path)).bearer_auth(token).send().unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// `POST /v1/jobs` with a key; the status and the id answered (empty for a problem).
fn post_keyed(server: &Server, token: &str, body: &Value, key: &str) -> (StatusCode, String) {
    let r = post_job(server, token, body, Some(key));
    let status = r.status();
    let v: Value = r.json().expect("JSON answer");
    (status, v["id"].as_str().unwrap_or_default().to_string())
}

/// The ids `GET /v1/jobs` lists for `token`, newest first.
fn listed(server: &Server, token: &str) -> Vec<String> {
    let r = get(server, token, "/v1/jobs?limit=1000");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().expect("JSON");
    v["jobs"].as_array().expect("jobs").iter().map(|j| j["id"].as_str().unwrap_or_default().to_string()).collect()
}

#[test]
fn a_submitter_never_gets_or_reads_another_submitters_job() {
    let data = tempfile::tempdir().expect("data dir");
    let flags = tenants(&[]);
    let mut server = start(data.path(), &flags);
    let invoice = json!({"template": "invoice", "data": fixture("invoice", "basic")});
    let bobs = json!({"html": "<!doctype html><p>bob</p>"});

    // 1. alice submits an invoice with a key; the same key and body give the same job.
    let (status, alice_id) = post_keyed(&server, ALICE, &invoice, "invoice-1001");
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(post_keyed(&server, ALICE, &invoice, "invoice-1001"), (StatusCode::OK, alice_id.clone()));
    // The same key with another body is refused, naming the key.
    let reused = post_job(&server, ALICE, &bobs, Some("invoice-1001"));
    let problem = assert_problem(reused, StatusCode::UNPROCESSABLE_ENTITY, "invoice-1001");
    assert!(problem["type"].as_str().unwrap_or_default().ends_with("idempotency-key-reused"), "{problem}");

    // 2. bob sends a different body with the same key: his own new job, never alice's.
    let (status, bob_id) = post_keyed(&server, BOB, &bobs, "invoice-1001");
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_ne!(bob_id, alice_id);
    assert_eq!(post_keyed(&server, BOB, &bobs, "invoice-1001"), (StatusCode::OK, bob_id.clone()));
    // Even alice's very body under alice's key makes bob a job of his own.
    let (status, bob_invoice) = post_keyed(&server, BOB, &invoice, "invoice-1002");
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_ne!(bob_invoice, alice_id);

    let alice_status = wait_settled(&server, ALICE, &alice_id, SETTLE);
    assert_eq!(alice_status["state"], "done", "{alice_status}");
    assert_eq!(alice_status["submitter"], "alice");
    let bob_status = wait_settled(&server, BOB, &bob_id, SETTLE);
    assert_eq!(bob_status["state"], "done", "{bob_status}");

    // 3. bob reads alice's job, PDF and artifacts: 404, word for word what an unknown id gets.
    let unknown = "01J00000000000000000000000";
    for suffix in ["", "/pdf", "/artifacts/verdict.json"] {
        let theirs = get(&server, BOB, &format!("/v1/jobs/{alice_id}{suffix}"));
        let theirs = assert_problem(theirs, StatusCode::NOT_FOUND, &alice_id);
        let none = assert_problem(get(&server, BOB, &format!("/v1/jobs/{unknown}{suffix}")), StatusCode::NOT_FOUND, "");
        assert_eq!(theirs["type"], none["type"], "another's job and no job must look alike");
        assert_eq!(
            theirs["detail"].as_str().unwrap_or_default().replace(&alice_id, unknown),
            none["detail"].as_str().unwrap_or_default()
        );
    }
    // alice's own artifacts are operators' only: 403 on her own job.
    assert_problem(
        get(&server, ALICE, &format!("/v1/jobs/{alice_id}/artifacts/verdict.json")),
        StatusCode::FORBIDDEN,
        "operator",
    );
    let number = invoice["data"]["invoice"]["number"].as_str().expect("the fixture's invoice number");
    assert!(pdf_text(&pdf_of(&server, ALICE, &alice_id)).contains(number), "alice's PDF is her invoice");
    assert!(pdf_text(&pdf_of(&server, BOB, &bob_id)).contains("bob"));

    // Listings: each submitter its own, the operator every job.
    let bob_invoice_status = wait_settled(&server, BOB, &bob_invoice, SETTLE);
    assert_eq!(bob_invoice_status["state"], "done", "{bob_invoice_status}");
    assert_eq!(listed(&server, ALICE), vec![alice_id.clone()]);
    assert_eq!(listed(&server, BOB), vec![bob_invoice.clone(), bob_id.clone()], "newest first");
    assert_eq!(listed(&server, OPERATOR), vec![bob_invoice.clone(), bob_id.clone(), alice_id.clone()]);
    assert_problem(get(&server, ALICE, "/v1/jobs?limit=0"), StatusCode::BAD_REQUEST, "limit");
    // By state, a page at a time: the next page starts after the cursor, the last has none.
    let page = |token: &str, path: &str| -> (Vec<String>, Value) {
        let v: Value = get(&server, token, path).json().expect("JSON");
        let ids = v["jobs"].as_array().expect("jobs").iter().map(|j| j["id"].as_str().unwrap_or_default().to_string());
        (ids.collect(), v)
    };
    let (first, v) = page(OPERATOR, "/v1/jobs?state=done&limit=2");
    assert_eq!(first, vec![bob_invoice.clone(), bob_id.clone()]);
    assert_eq!(v["next_cursor"], bob_id.as_str(), "{v}");
    let next = v["next_url"].as_str().expect("next_url").to_string();
    assert_eq!(next, format!("/v1/jobs?limit=2&state=done&cursor={bob_id}"));
    let (second, v) = page(OPERATOR, &next);
    assert_eq!(second, vec![alice_id.clone()]);
    assert!(v.get("next_cursor").is_none(), "{v}");
    assert!(page(OPERATOR, "/v1/jobs?state=held,failed").0.is_empty());
    assert_eq!(page(ALICE, "/v1/jobs?state=done,fallback").0, vec![alice_id.clone()], "only alice's own");
    assert_eq!(page(BOB, &format!("/v1/jobs?cursor={bob_invoice}")).0, vec![bob_id.clone()]);
    assert_problem(get(&server, ALICE, "/v1/jobs?state=finished"), StatusCode::BAD_REQUEST, "held");
    assert_problem(get(&server, ALICE, "/v1/jobs?cursor=page-2"), StatusCode::BAD_REQUEST, "next_cursor");
    // The operator reads both tenants' jobs, PDFs and artifacts.
    for id in [&alice_id, &bob_id] {
        let s: Value = get(&server, OPERATOR, &format!("/v1/jobs/{id}")).json().expect("JSON");
        assert_eq!(s["state"], "done");
        assert!(pdf_of(&server, OPERATOR, id).starts_with(b"%PDF-"));
        let artifacts = s["artifacts"].as_array().cloned().unwrap_or_default();
        assert!(!artifacts.is_empty(), "{s}");
        let first = artifacts[0].as_str().unwrap_or_default().trim_start_matches(&server.base).to_string();
        assert_eq!(get(&server, OPERATOR, &first).status(), StatusCode::OK, "{first}");
    }

    // Bad keys: 400 naming the header, and no job.
    let long = "k".repeat(256);
    for bad in [&b""[..], b"   ", long.as_bytes(), b"tab\there", b"caf\xc3\xa9"] {
        let r = client()
            .post(server.url("/v1/jobs"))
            .bearer_auth(ALICE)
            .header("Idempotency-Key", reqwest::header::HeaderValue::from_bytes(bad).expect("header value"))
            .json(&bobs)
            .send()
            .expect("POST");
        assert_problem(r, StatusCode::BAD_REQUEST, "Idempotency-Key");
    }
    let twice = client()
        .post(server.url("/v1/jobs"))
        .bearer_auth(ALICE)
        .header("Idempotency-Key", "a")
        .header("Idempotency-Key", "b")
        .json(&bobs)
        .send()
        .expect("POST");
    assert_problem(twice, StatusCode::BAD_REQUEST, "Idempotency-Key");
    assert_eq!(listed(&server, OPERATOR).len(), 3, "a refused key made no job");

    // Metrics name the submitter, never a secret.
    let text = get(&server, OPERATOR, "/metrics").text().expect("metrics");
    for series in [
        "pixelproof_submitter_jobs_total{submitter=\"alice\",outcome=\"accepted\"} 1",
        "pixelproof_submitter_jobs_total{submitter=\"alice\",outcome=\"key_reused\"} 1",
        "pixelproof_submitter_jobs_total{submitter=\"bob\",outcome=\"accepted\"} 2",
    ] {
        assert!(text.lines().any(|l| l == series), "no {series:?} in\n{text}");
    }
    assert!(![ALICE, BOB, OPERATOR].iter().any(|s| text.contains(s)), "a secret in the metrics");

    // Keys survive a restart, still per submitter and bound to the body.
    assert_eq!(server.terminate(Duration::from_secs(60)), Some(0));
    let server = start(data.path(), &flags);
    assert_eq!(post_keyed(&server, ALICE, &invoice, "invoice-1001"), (StatusCode::OK, alice_id.clone()));
    assert_eq!(post_keyed(&server, BOB, &bobs, "invoice-1001"), (StatusCode::OK, bob_id.clone()));
    assert_eq!(post_keyed(&server, ALICE, &bobs, "invoice-1001").0, StatusCode::UNPROCESSABLE_ENTITY);
}

#[test]
fn two_tenants_fifty_jobs_each_with_overlapping_keys() {
    const EACH: usize = 50;
    let data = tempfile::tempdir().expect("data dir");
    let server = start(data.path(), &tenants(&["--workers", "2"]));
    let body = |who: &str, n: usize| json!({"html": format!("<!doctype html><p>job {n} of {who}</p>")});
    let started = Instant::now();
    // Both tenants at once, every key used by both (`order-N`).
    let submitted: Vec<(String, usize, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = [("alice", ALICE), ("bob", BOB)]
            .into_iter()
            .flat_map(|(who, token)| (0..5).map(move |part| (who, token, part)).collect::<Vec<_>>())
            .map(|(who, token, part)| {
                let server = &server;
                scope.spawn(move || {
                    (part * 10..part * 10 + 10)
                        .map(|n| {
                            let (status, id) = post_keyed(server, token, &body(who, n), &format!("order-{n}"));
                            assert_eq!(status, StatusCode::ACCEPTED, "{who} {n}");
                            (who.to_string(), n, id)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("submitter thread")).collect()
    });
    let accepted_in = started.elapsed();
    assert_eq!(submitted.len(), 2 * EACH);
    for (who, token) in [("alice", ALICE), ("bob", BOB)] {
        let mut mine: Vec<String> =
            submitted.iter().filter(|(w, _, _)| w == who).map(|(_, _, id)| id.clone()).collect();
        mine.sort();
        let mut seen = listed(&server, token);
        seen.sort();
        assert_eq!(seen, mine, "{who} sees exactly its own {EACH} jobs");
    }
    // The same key and body again: the same job, for each tenant.
    for (who, n, id) in submitted.iter().filter(|(_, n, _)| n % 10 == 0) {
        let token = if who == "alice" { ALICE } else { BOB };
        assert_eq!(post_keyed(&server, token, &body(who, *n), &format!("order-{n}")), (StatusCode::OK, id.clone()));
    }
    for (who, n, id) in &submitted {
        let token = if who == "alice" { ALICE } else { BOB };
        let status = wait_settled(&server, token, id, SETTLE);
        assert_eq!(status["state"], "done", "{status}");
        let text = pdf_text(&pdf_of(&server, token, id));
        assert!(text.contains(&format!("job {n} of {who}")), "{who}'s job {n} ({id}) printed {text:?}");
    }
    eprintln!(
        "2 tenants x {EACH} jobs with overlapping keys: accepted in {:.2} s, all printed and checked in {:.1} s",
        accepted_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(listed(&server, OPERATOR).len(), 2 * EACH);
}

/// A document whose print waits `secs` seconds (`window.pixelproofReady`), so its job stays
/// unsettled for at least that long.
fn slow(who: &str, n: usize, secs: u64) -> Value {
    json!({"html": format!(
        "<!doctype html><script>window.pixelproofReady = new Promise(r => setTimeout(r, {ms}));</script><p>{who} {n}</p>",
        ms = secs * 1000
    )})
}

#[test]
fn the_per_submitter_quota_refuses_only_the_flooding_tenant() {
    let data = tempfile::tempdir().expect("data dir");
    let server = start(data.path(), &tenants(&["--workers", "1", "--max-queue-per-submitter", "2"]));
    // alice's two jobs each take 10 s to print; her burst comes within milliseconds.
    let first = submit(&server, ALICE, &slow("alice", 1, 10));
    submit(&server, ALICE, &slow("alice", 2, 10));
    let mut refused = 0;
    for n in 3..8 {
        let r = post_job(&server, ALICE, &slow("alice", n, 10), None);
        let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let problem = assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "alice");
        assert!(problem["type"].as_str().unwrap_or_default().ends_with("submitter-quota"), "{problem}");
        assert_eq!(retry.as_deref(), Some("5"));
        refused += 1;
    }
    // bob is not crowded out.
    let bobs = submit(&server, BOB, &json!({"html": "<!doctype html><p>bob is served</p>"}));
    assert_eq!(refused, 5);
    assert_eq!(listed(&server, ALICE).len(), 2, "refused jobs left no record");
    let text = get(&server, OPERATOR, "/metrics").text().expect("metrics");
    assert!(text.contains("pixelproof_submitter_jobs_total{submitter=\"alice\",outcome=\"over_quota\"} 5"), "{text}");
    // Once one of alice's jobs has settled, she has room again.
    assert_eq!(wait_settled(&server, ALICE, &first, SETTLE)["state"], "done");
    submit(&server, ALICE, &json!({"html": "<!doctype html><p>alice again</p>"}));
    assert_eq!(wait_settled(&server, BOB, &bobs, SETTLE)["state"], "done");
}

/// What a receiver does, in the few lines the README shows: HMAC-SHA256 with the secret's
/// bytes over `id.timestamp.body`, base64, compared with each `v1,` signature; a timestamp
/// older or newer than 5 minutes is refused.
fn receiver_verifies(secret: &str, got: &Received, body: &[u8], now: i64) -> bool {
    let key = base64::engine::general_purpose::STANDARD.decode(secret.trim_start_matches("whsec_")).expect("secret");
    let (id, ts) = (got.header("webhook-id").unwrap_or_default(), got.header("webhook-timestamp").unwrap_or_default());
    let fresh = ts.parse::<i64>().is_ok_and(|t| (now - t).abs() <= 300);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC key");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    fresh && got.header("webhook-signature").unwrap_or_default().split(' ').any(|s| s == expected)
}

#[test]
fn webhooks_are_signed_per_submitter() {
    let alice_secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
    let server_secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode([9u8; 32]));
    let data = tempfile::tempdir().expect("data dir");
    let receiver = Receiver::start();
    let alice_flag = format!("alice={alice_secret}");
    let flags =
        tenants(&["--webhook-allow-private", "--webhook-secret", &alice_flag, "--webhook-secret", &server_secret]);
    let server = start(data.path(), &flags);
    let job = |who: &str| json!({"html": format!("<!doctype html><p>{who}</p>"), "callback_url": receiver.url()});
    let alice = submit(&server, ALICE, &job("alice"));
    let bob = submit(&server, BOB, &job("bob"));
    let deadline = Instant::now() + SETTLE;
    let delivery = |id: &str| {
        receiver
            .received
            .lock()
            .expect("lock")
            .iter()
            .find(|r| r.body.windows(id.len()).any(|w| w == id.as_bytes()))
            .cloned()
    };
    let (alice_got, bob_got) = loop {
        if let (Some(a), Some(b)) = (delivery(&alice), delivery(&bob)) {
            break (a, b);
        }
        assert!(Instant::now() < deadline, "webhooks not received within {SETTLE:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let now = chrono::Utc::now().timestamp();
    assert_eq!(alice_got.header("webhook-id"), Some(format!("msg_{alice}_done").as_str()));
    // alice's with her secret, bob's with the server's; neither with the other's.
    assert!(receiver_verifies(&alice_secret, &alice_got, &alice_got.body, now));
    assert!(receiver_verifies(&server_secret, &bob_got, &bob_got.body, now));
    assert!(!receiver_verifies(&server_secret, &alice_got, &alice_got.body, now));
    assert!(!receiver_verifies(&alice_secret, &bob_got, &bob_got.body, now));
    // A tampered body or a stale timestamp fails.
    let tampered = String::from_utf8_lossy(&alice_got.body).replace("done", "failed").into_bytes();
    assert_ne!(tampered, alice_got.body);
    assert!(!receiver_verifies(&alice_secret, &alice_got, &tampered, now));
    assert!(!receiver_verifies(&alice_secret, &alice_got, &alice_got.body, now + 600));
    // The library's verifier agrees.
    let secret: Secret = alice_secret.parse().expect("secret");
    let (id, ts, sig) = (
        alice_got.header("webhook-id").unwrap_or_default(),
        alice_got.header("webhook-timestamp").unwrap_or_default(),
        alice_got.header("webhook-signature").unwrap_or_default(),
    );
    assert_eq!(secret.verify(id, ts, sig, &alice_got.body, now), Ok(()));
    assert_eq!(secret.verify(id, ts, sig, &tampered, now), Err(SignatureError::Mismatch));
    assert!(matches!(secret.verify(id, ts, sig, &alice_got.body, now + 600), Err(SignatureError::Stale { .. })));
    let body: Value = serde_json::from_slice(&alice_got.body).expect("JSON body");
    assert_eq!((body["id"].as_str(), body["state"].as_str()), (Some(alice.as_str()), Some("done")));
}

#[test]
fn a_token_name_given_twice_is_refused_at_start_up() {
    let out = support::pixelproof()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            ALICE_TOKEN,
            "--token",
            "alice:operator:another-secret-0123456789",
        ])
        .env_remove("PIXELPROOF_TOKENS")
        .output()
        .expect("run pixelproof serve");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"alice\" is used twice"), "{stderr}");
    assert!(!stderr.contains("another-secret"), "the refusal shows a secret: {stderr}");
}

/// A claim and a record as the version before owners left them: `idempotency/{sha256(key)}`
/// holding a bare job id, and a record without a submitter.
fn legacy_job(data: &std::path::Path, key: &str, body: Value) -> String {
    use pixelproof::jobs::JobStore;
    use pixelproof::jobs::{JobId, JobRecord};
    use pixelproof::store::{LocalStore, ObjectKey, ObjectStore};
    use sha2::Digest as _;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let objects = std::sync::Arc::new(LocalStore::open(data.join("objects")).expect("store"));
        let record = JobRecord::new(JobId::new(), body, Some(key.to_string()));
        JobStore::new(objects.clone()).save(&record).await.expect("save");
        let claim = ObjectKey::parse(&format!("idempotency/{}", hex::encode(sha2::Sha256::digest(key.as_bytes()))))
            .expect("claim key");
        objects.put(&claim, record.id.to_string().into_bytes()).await.expect("claim");
        record.id.to_string()
    })
}

#[test]
fn claims_from_before_owners_are_read_where_the_server_behaves_as_before() {
    let data = tempfile::tempdir().expect("data dir");
    let old_body = json!({"html": "<!doctype html><p>made before owners</p>"});
    let old = legacy_job(data.path(), "order-7", old_body.clone());
    // Without tokens (everyone is the operator, as before): the old claim still holds.
    let mut server = Server::start(data.path(), &[]);
    assert_eq!(post_keyed(&server, OPERATOR, &old_body, "order-7"), (StatusCode::OK, old.clone()));
    let other = json!({"html": "<!doctype html><p>another body</p>"});
    assert_problem(post_job(&server, OPERATOR, &other, Some("order-7")), StatusCode::UNPROCESSABLE_ENTITY, "order-7");
    assert_eq!(wait_settled(&server, OPERATOR, &old, SETTLE)["state"], "done", "the old job was recovered and printed");
    assert_eq!(server.terminate(Duration::from_secs(60)), Some(0));
    // With tokens, an owner-less job is nobody's: alice's same key makes her own job, and she
    // cannot read the old one; the operator can.
    let server = start(data.path(), &tenants(&[]));
    let (status, mine) = post_keyed(&server, ALICE, &old_body, "order-7");
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_ne!(mine, old);
    assert_problem(get(&server, ALICE, &format!("/v1/jobs/{old}")), StatusCode::NOT_FOUND, &old);
    assert_eq!(get(&server, OPERATOR, &format!("/v1/jobs/{old}")).status(), StatusCode::OK);
    assert_eq!(listed(&server, ALICE), vec![mine]);
}
