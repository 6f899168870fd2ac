//! The hostile corpus (`hostile/corpus.rs`) through both engines and the HTTP API: every vector
//! aimed at every target, one document per target, printed by real Chromium, by the WeasyPrint
//! fallback, and as HTML jobs of a running `pixelproof serve`.
//! Each document must reach nothing — 0 connections to the counting loopback listeners, no
//! listener answer and no byte of `/etc/passwd` in the PDF text — and end either with a PDF and
//! its refused requests listed, or with a clear error. Prints the table of what each target did.

mod corpus;

use crate::support;

use std::time::{Duration, Instant};

use corpus::{Kind, Listeners, Target, FILE_MARK, LEAK_MARK, VECTORS};
use pixelproof::fallback::{FallbackConfig, FallbackRenderer};
use pixelproof::pipeline::{EngineError, Proof};
use pixelproof::raster::DEFAULT_DPI;
use support::{engine, html_doc};

/// The places beyond the loopback listeners that a fleet has: the RabbitMQ broker and an S3
/// endpoint on this machine (their well-known ports), and the service's own default port.
fn extra_targets() -> Vec<(&'static str, String)> {
    vec![
        ("RabbitMQ 127.0.0.1:5672", "http://127.0.0.1:5672/".to_string()),
        ("RabbitMQ management :15672", "http://127.0.0.1:15672/".to_string()),
        ("S3 endpoint :9000", "http://127.0.0.1:9000/".to_string()),
        ("the service :8080", "http://127.0.0.1:8080/".to_string()),
    ]
}

/// What one document did.
struct Row {
    target: String,
    outcome: String,
    blocked: usize,
    ms: u128,
}

/// Checks one engine's result for `target`; returns the problems found (empty: sealed).
fn judge(target: &Target, result: &Result<Proof, String>, hits: usize) -> (Vec<String>, String, usize) {
    let mut problems = Vec::new();
    if hits > 0 {
        problems.push(format!("{}: {hits} connection(s) reached the loopback listeners", target.name));
    }
    match result {
        Ok(proof) => {
            let text: String = proof.pages.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join("\n");
            if text.contains(LEAK_MARK) {
                problems.push(format!("{}: a listener's answer is in the PDF", target.name));
            }
            if text.contains(FILE_MARK) {
                problems.push(format!("{}: /etc/passwd is in the PDF", target.name));
            }
            if text.contains("FETCHED") || text.contains("XHR ") {
                problems.push(format!("{}: a fetch or XHR got an answer: {text}", target.name));
            }
            let blocked = &proof.rendered.blocked;
            if blocked.iter().any(|b| b.reason.trim().is_empty()) {
                problems.push(format!("{}: a refused request has no reason: {blocked:?}", target.name));
            }
            if target.kind == Kind::Refused {
                let base = target.base.to_ascii_lowercase();
                if !blocked.iter().any(|b| b.url.to_ascii_lowercase().starts_with(&base)) {
                    problems.push(format!("{}: no request to {base} is listed as refused: {blocked:#?}", target.name));
                }
            }
            let outcome = if text.contains("Hostile corpus") { "PDF" } else { "PDF (navigated away)" };
            (problems, outcome.to_string(), blocked.len())
        }
        Err(e) => {
            if e.trim().len() < 10 {
                problems.push(format!("{}: an error that says nothing: {e:?}", target.name));
            }
            (problems, format!("error: {}", e.chars().take(90).collect::<String>()), 0)
        }
    }
}

fn print_table(engine: &str, rows: &[Row]) {
    println!("\n{engine}: {} targets x {} vectors", rows.len(), VECTORS.len());
    for r in rows {
        println!("  {:34} {:6} ms  {:3} refused  {}", r.target, r.ms, r.blocked, r.outcome);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_reaches_nothing_the_corpus_aims_at() {
    let listeners = Listeners::start();
    let targets = corpus::targets(&listeners, &extra_targets());
    assert!(targets.len() * VECTORS.len() >= 60, "the corpus must be large");
    let engine = engine(1, Duration::from_secs(30)).await;
    let (mut problems, mut rows) = (Vec::new(), Vec::new());
    for target in &targets {
        let before = listeners.hits();
        let sw = corpus::service_worker_js(target);
        let doc = html_doc(
            &format!("hostile {}", target.name),
            &corpus::document(target, false),
            &[("sw.js", sw.as_bytes())],
        );
        let started = Instant::now();
        let result = engine.prove(&doc).await.map_err(|e: EngineError| e.to_string());
        let ms = started.elapsed().as_millis();
        // Give a stray connection (a beacon, a ping, a socket) time to land before counting.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (mut found, outcome, blocked) = judge(target, &result, listeners.hits() - before);
        // What the Fetch domain does not see is listed too: the socket and the popup.
        if let (Ok(proof), true) = (&result, target.base.starts_with("http://")) {
            for kind in ["WebSocket", "Popup"] {
                if !proof.rendered.blocked.iter().any(|b| b.resource_type == kind) {
                    found.push(format!("{}: no {kind} is listed as refused", target.name));
                }
            }
        }
        eprintln!("hostile: {:34} {ms:6} ms {blocked:3} refused {outcome} {found:?}", target.name);
        problems.extend(found);
        rows.push(Row { target: target.name.to_string(), outcome, blocked, ms });
    }
    // And the browser still prints a plain document afterwards.
    let plain = engine.prove(&html_doc("after the corpus", "<p>plain</p>", &[])).await.expect("a plain document");
    assert!(plain.pages[0].text.contains("plain"));
    engine.chromium.shutdown().await;
    print_table("Chromium", &rows);
    assert_eq!(listeners.hits(), 0, "connections reached the listeners");
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_reaches_nothing_the_corpus_aims_at() {
    let listeners = Listeners::start();
    let targets = corpus::targets(&listeners, &extra_targets());
    let config = FallbackConfig { timeout: Duration::from_secs(60), ..FallbackConfig::new(support::fonts()) };
    let fallback = FallbackRenderer::new(config).expect("the fallback renderer (scripts/setup installs WeasyPrint)");
    let rasterizer = support::rasterizer();
    let (mut problems, mut rows) = (Vec::new(), Vec::new());
    for target in &targets {
        let before = listeners.hits();
        let doc = html_doc(&format!("hostile {}", target.name), &corpus::document(target, true), &[]);
        let started = Instant::now();
        let result = fallback.prove(&doc, &rasterizer, DEFAULT_DPI).await.map_err(|e| e.to_string());
        let ms = started.elapsed().as_millis();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (found, outcome, blocked) = judge(target, &result, listeners.hits() - before);
        eprintln!("hostile: {:34} {ms:6} ms {blocked:3} refused {outcome} {found:?}", target.name);
        problems.extend(found);
        rows.push(Row { target: target.name.to_string(), outcome, blocked, ms });
    }
    print_table("WeasyPrint fallback", &rows);
    assert_eq!(listeners.hits(), 0, "connections reached the listeners");
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

/// The corpus as HTML jobs through the HTTP API: each job ends in a terminal state, reaches
/// nothing, and its result lists the requests that were refused.
#[test]
fn jobs_through_the_api_reach_nothing_the_corpus_aims_at() {
    use base64::Engine as _;
    use serde_json::json;
    use support::service::{submit, wait_settled, Server, SUBMIT};

    let listeners = Listeners::start();
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(data.path(), &["--workers", "1"]);
    let own = server.base.trim_start_matches("http://").to_string();
    let targets = corpus::targets(&listeners, &[("the API itself", format!("http://{own}/"))]);
    let (mut problems, mut rows) = (Vec::new(), Vec::new());
    for target in &targets {
        let before = listeners.hits();
        let sw = base64::engine::general_purpose::STANDARD.encode(corpus::service_worker_js(target));
        let body = json!({"html": corpus::document(target, false), "assets": {"sw.js": sw}});
        let started = Instant::now();
        let id = submit(&server, SUBMIT, &body);
        let s = wait_settled(&server, SUBMIT, &id, Duration::from_secs(120));
        let ms = started.elapsed().as_millis();
        std::thread::sleep(Duration::from_millis(200));
        let hits = listeners.hits() - before;
        let state = s["state"].as_str().unwrap_or_default().to_string();
        let shown = s.to_string();
        if hits > 0 {
            problems.push(format!("{}: {hits} connection(s) reached the listeners", target.name));
        }
        if !["done", "fallback", "held", "failed"].contains(&state.as_str()) {
            problems.push(format!("{}: not settled: {s}", target.name));
        }
        if shown.contains(LEAK_MARK) || shown.contains(FILE_MARK) {
            problems.push(format!("{}: leaked into the result: {s}", target.name));
        }
        if target.kind == Kind::Refused && !shown.to_ascii_lowercase().contains(&target.base.to_ascii_lowercase()) {
            problems.push(format!("{}: the result does not list {} as refused: {s}", target.name, target.base));
        }
        rows.push(Row {
            target: target.name.to_string(),
            outcome: state,
            blocked: shown.matches("\"resource_type\"").count(),
            ms,
        });
    }
    print_table("HTTP API (HTML jobs)", &rows);
    assert_eq!(listeners.hits(), 0, "connections reached the listeners");
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}
