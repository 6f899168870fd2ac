//! The HTTP API against the real `pixelproof serve` process on loopback: real Chromium,
//! real PDFium, real baselines (the bundled ones), a temporary data directory.

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::service::{assert_problem, client, fixture, pdfinfo_pages, OPERATOR_TOKEN, SUBMIT_TOKEN};

/// A running server on its own temporary data directory; killed when dropped (a test that
/// wants a clean exit sends SIGTERM).
struct Server {
    inner: support::service::Server,
    _data: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let data = tempfile::tempdir().expect("temp data dir");
        Server { inner: support::service::Server::start(data.path(), extra), _data: data }
    }

    fn url(&self, path: &str) -> String {
        self.inner.url(path)
    }

    fn pid(&self) -> u32 {
        self.inner.child.id()
    }

    /// Polls /readyz until it answers 200; returns every body seen.
    fn wait_ready(&self, client: &Client) -> Vec<(StatusCode, Value)> {
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut seen = Vec::new();
        loop {
            let r = client.get(self.url("/readyz")).send().expect("GET /readyz");
            let status = r.status();
            seen.push((status, r.json().expect("readyz JSON")));
            if status == StatusCode::OK {
                return seen;
            }
            assert!(Instant::now() < deadline, "not ready after 180 s: {seen:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn header_number(r: &Response, name: &str) -> usize {
    r.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(usize::MAX)
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

fn pages_html(n: usize) -> String {
    let pages: Vec<String> =
        (1..=n).map(|i| format!("<section style='break-after: page'>page {i}</section>")).collect();
    format!("<!doctype html><html><body>{}</body></html>", pages.join(""))
}

#[test]
fn renders_validates_and_reports() {
    let server = Server::start(&["--max-body-bytes", "65536", "--max-pages", "3"]);
    let http = client();

    // Ready only once the start-up verification has run; then every template is verified.
    let seen = server.wait_ready(&http);
    let (first_status, first) = &seen[0];
    assert_eq!(*first_status, StatusCode::SERVICE_UNAVAILABLE, "the first /readyz came before verification: {first}");
    assert_eq!(first["verification"], "running");
    let ready = &seen[seen.len() - 1].1;
    assert_eq!(ready["chromium"], "ok");
    assert_eq!(ready["data_dir"], "ok");
    for t in ["certificate", "invoice", "notice", "report"] {
        assert_eq!(ready["templates"][t], "verified", "{ready}");
    }
    assert!(http.get(server.url("/healthz")).send().expect("healthz").status().is_success());

    let metrics_before = http.get(server.url("/metrics")).send().expect("metrics").text().expect("text");

    // A template job: a PDF whose page count the headers and pdfinfo agree on.
    let body = json!({"template": "invoice", "data": fixture("invoice", "short")});
    let r = http.post(server.url("/v1/render")).json(&body).send().expect("render template");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pages = header_number(&r, "x-pixelproof-pages");
    assert_eq!(header_number(&r, "x-pixelproof-blocked-requests"), 0);
    let pdf = r.bytes().expect("PDF");
    assert!(pdf.starts_with(b"%PDF"));
    assert_eq!(pdfinfo_pages(&pdf), pages);
    assert_eq!(pages, 1);

    // An HTML job with an asset and a blocked request.
    let html = pages_html(2)
        .replace("<body>", "<head><link rel=stylesheet href='a.css'></head><body><img src='http://127.0.0.1:9/x.png'>");
    let body = json!({"html": html, "assets": {"a.css": "Ym9keXtjb2xvcjpyZWR9"}, "options": {"paper": "Letter"}});
    let r = http.post(server.url("/v1/render")).json(&body).send().expect("render html");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header_number(&r, "x-pixelproof-blocked-requests"), 1);
    assert_eq!(header_number(&r, "x-pixelproof-pages"), 2);
    assert_eq!(pdfinfo_pages(&r.bytes().expect("PDF")), 2);

    // Counters moved.
    let metrics = http.get(server.url("/metrics")).send().expect("metrics").text().expect("text");
    let ok_jobs = "pixelproof_jobs_total{outcome=\"ok\"}";
    assert_eq!(metric(&metrics, ok_jobs) - metric(&metrics_before, ok_jobs), 2.0, "{metrics}");
    assert!(metric(&metrics, "pixelproof_renders_total{outcome=\"ok\"}") >= 2.0);
    for stage in ["rendering", "raster", "verifying"] {
        assert_eq!(metric(&metrics, &format!("pixelproof_stage_seconds_count{{stage=\"{stage}\"}}")), 2.0, "{stage}");
    }
    assert!(metrics.contains("pixelproof_chromium_restarts_total 0"), "{metrics}");
    assert!(metrics.contains("pixelproof_queue_depth 0"), "{metrics}");

    // Every mistake is a problem that names it.
    let post = |body: &str, ct: &str| {
        http.post(server.url("/v1/render")).header("content-type", ct).body(body.to_string()).send().expect("post")
    };
    let json_ct = "application/json";
    assert_problem(post(r#"{"template": "#, json_ct), StatusCode::BAD_REQUEST, "EOF while parsing");
    assert_problem(post(r#"{"htm": "<p>x</p>"}"#, json_ct), StatusCode::UNPROCESSABLE_ENTITY, "unknown field `htm`");
    assert_problem(post(r#"{"template": "menu", "data": {}}"#, json_ct), StatusCode::UNPROCESSABLE_ENTITY, "\"menu\"");
    let p = assert_problem(
        post(r#"{"template": "invoice", "data": {}}"#, json_ct),
        StatusCode::UNPROCESSABLE_ENTITY,
        "/lang: missing required key",
    );
    assert!(p["detail"].as_str().unwrap_or_default().contains("invoice"), "{p}");
    assert_problem(
        post(r#"{"html": "<p>x</p>"}"#, "text/plain"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "application/json",
    );
    let big = json!({"html": "x".repeat(100_000)}).to_string();
    assert_problem(post(&big, json_ct), StatusCode::PAYLOAD_TOO_LARGE, "65536 bytes");
    assert_problem(
        post(r#"{"html": "<p>x</p>", "template": "invoice"}"#, json_ct),
        StatusCode::UNPROCESSABLE_ENTITY,
        "both",
    );
    // Documents that fail verification ship no PDF.
    let too_long = json!({"html": pages_html(4)}).to_string();
    assert_problem(
        post(&too_long, json_ct),
        StatusCode::UNPROCESSABLE_ENTITY,
        "4 pages; the server's limit is 3 (--max-pages)",
    );
    let missing_font = json!({
        "html": "<style>@font-face{font-family:Gone;src:url(gone.woff2)} p{font-family:Gone}</style><p>text</p>",
        "options": {"strict_fonts": true}
    })
    .to_string();
    assert_problem(post(&missing_font, json_ct), StatusCode::UNPROCESSABLE_ENTITY, "Gone");
    assert_problem(http.get(server.url("/v1/nothing")).send().expect("404"), StatusCode::NOT_FOUND, "no such route");

    // The catalogue.
    let templates: Value = http.get(server.url("/v1/templates")).send().expect("templates").json().expect("JSON");
    let names: Vec<&str> = templates.as_array().expect("array").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["certificate", "invoice", "notice", "report"]);
    let invoice = &templates[1];
    assert_eq!(invoice["fixtures"], json!(["arabic", "basic", "short"]));
    assert_eq!((invoice["min_pages"].as_u64(), invoice["max_pages"].as_u64()), (Some(1), Some(10)));

    // The OpenAPI document names the routes and the job schema.
    let spec: Value = http.get(server.url("/openapi.json")).send().expect("openapi").json().expect("OpenAPI JSON");
    assert!(spec["openapi"].as_str().unwrap_or_default().starts_with("3."), "{spec}");
    for path in ["/v1/render", "/v1/templates", "/healthz", "/readyz", "/metrics"] {
        assert!(spec["paths"][path].is_object(), "{path} missing from /openapi.json");
    }
    assert!(spec["components"]["schemas"]["JobRequest"]["properties"]["template"].is_object());
}

#[test]
fn tokens_and_roles() {
    let server = Server::start(&["--token", SUBMIT_TOKEN, "--token", OPERATOR_TOKEN]);
    let http = client();
    let submit = support::service::SUBMIT;
    let operator = support::service::OPERATOR;
    // Probes stay open.
    server.wait_ready(&http);
    assert_eq!(http.get(server.url("/healthz")).send().expect("healthz").status(), StatusCode::OK);
    // No token, a wrong token, a submit token on an operator route.
    assert_problem(
        http.get(server.url("/v1/templates")).send().expect("templates"),
        StatusCode::UNAUTHORIZED,
        "Bearer",
    );
    let wrong = http.get(server.url("/v1/templates")).bearer_auth("not-a-token").send().expect("templates");
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "not one the server knows");
    let r = http.get(server.url("/v1/templates")).bearer_auth(submit).send().expect("templates");
    assert_eq!(r.status(), StatusCode::OK);
    let r = http.get(server.url("/v1/verification")).bearer_auth(submit).send().expect("verification");
    assert_problem(r, StatusCode::FORBIDDEN, "needs a token with role operator");
    let r = http.get(server.url("/v1/verification")).bearer_auth(operator).send().expect("verification");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().expect("JSON");
    assert_eq!(v["state"], "finished");
    assert_eq!(v["templates"]["invoice"], "verified");
    let r = http.get(server.url("/metrics")).bearer_auth(operator).send().expect("metrics");
    assert_eq!(r.status(), StatusCode::OK);
}

/// Every route but the probes needs a token, operator routes refuse a submit token, and a
/// refused attempt is logged with its route but never with the secret that was presented.
#[test]
fn no_token_no_access_and_refusals_are_logged_without_the_token() {
    let data = tempfile::tempdir().expect("temp data dir");
    let logs = tempfile::tempdir().expect("temp log dir");
    let log = logs.path().join("serve.log");
    let server = support::service::Server::start_logged(
        data.path(),
        &["--token", SUBMIT_TOKEN, "--token", OPERATOR_TOKEN],
        &log,
    );
    let http = client();
    let (submit, operator) = (support::service::SUBMIT, support::service::OPERATOR);
    let wrong = "wrong-secret-SENTINEL-0123456789";
    let id = "01J00000000000000000000000";
    let submit_routes = [
        ("POST", "/v1/render".to_string()),
        ("GET", "/v1/templates".to_string()),
        ("POST", "/v1/jobs".to_string()),
        ("GET", format!("/v1/jobs/{id}")),
        ("GET", format!("/v1/jobs/{id}/pdf")),
        // Operators' only, but a submit token learns that only on its own job: another's (or
        // an unknown one) is 404 like every job route (tests/it/tenants.rs).
        ("GET", format!("/v1/jobs/{id}/artifacts/verdict.json")),
    ];
    let operator_routes = [
        ("GET", "/v1/verification".to_string()),
        ("GET", "/metrics".to_string()),
        ("GET", "/review".to_string()),
        ("GET", format!("/review/files/jobs/{id}/page-001.png")),
        ("GET", "/review/files/baselines/invoice/basic/page-001.png".to_string()),
        ("POST", "/v1/review/candidates/invoice/basic/approve".to_string()),
        ("POST", format!("/v1/review/jobs/{id}/release")),
        ("GET", "/v1/audit".to_string()),
        ("GET", "/v1/routing".to_string()),
        ("POST", "/v1/routing".to_string()),
        ("DELETE", "/v1/routing/rule-x".to_string()),
    ];
    let send = |method: &str, path: &str, auth: Option<&str>| {
        let mut r = http.request(method.parse().expect("method"), server.url(path));
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r.send().unwrap_or_else(|e| panic!("{method} {path}: {e}")).status()
    };
    use base64::Engine as _;
    let basic_wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("ops:{wrong}")));
    for (method, path) in submit_routes.iter().chain(&operator_routes) {
        for auth in [None, Some(format!("Bearer {wrong}")), Some(basic_wrong.clone()), Some("Bearer ".to_string())] {
            let status = send(method, path, auth.as_deref());
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with {auth:?}");
        }
    }
    for (method, path) in &operator_routes {
        let status = send(method, path, Some(&format!("Bearer {submit}")));
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} with a submit token");
        let status = send(method, path, Some(&format!("Bearer {operator}")));
        assert!(![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status), "{method} {path}: {status}");
    }
    for (method, path) in &submit_routes {
        let status = send(method, path, Some(&format!("Bearer {submit}")));
        assert!(![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status), "{method} {path}: {status}");
    }
    // The probes and the API description need nothing.
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let status = send("GET", path, None);
        assert!(![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status), "{path}: {status}");
    }
    drop(server);
    let text = std::fs::read_to_string(&log).expect("the server's log");
    for line in ["request without a bearer token refused", "request with an unknown token refused"] {
        assert!(text.contains(line), "the log lacks {line:?}:\n{text}");
    }
    assert!(text.contains("token without the needed role refused") && text.contains("token=ci"), "{text}");
    assert!(text.contains("path=/v1/routing"), "a refusal names its route: {text}");
    for secret in [wrong, submit, operator, basic_wrong.trim_start_matches("Basic ")] {
        assert!(!text.contains(secret), "the log shows a secret ({secret}):\n{text}");
    }
}

/// The CLI says each cause of an error once: many messages already contain their cause, which
/// is also their `source()`, and printing the chain as is said it twice ("could not listen on
/// ADDR: Address already in use. Is another server using it?: Address already in use").
#[test]
fn cli_errors_say_each_cause_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = support::pixelproof()
            .args(args)
            .current_dir(tmp.path())
            .env_remove("PIXELPROOF_TOKENS")
            .env("PIXELPROOF_LOG", "error")
            .output()
            .expect("run pixelproof");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let once = |stderr: &str, needle: &str| {
        let line =
            stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("no error line: {stderr}"));
        assert_eq!(line.matches(needle).count(), 1, "{needle:?} must appear once in: {line}");
    };

    // A port another program holds.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let data = tmp.path().join("data-a");
    let (code, stderr) = run(&["serve", "--listen", &addr, "--data-dir", data.to_str().expect("UTF-8")]);
    assert_eq!(code, Some(2), "{stderr}");
    once(&stderr, &format!("could not listen on {addr}"));
    once(&stderr, "Address already in use");

    // A data directory another serve holds.
    let held = tmp.path().join("data-held");
    let mut first = support::service::Server::start(&held, &[]);
    let (code, stderr) = run(&["serve", "--listen", "127.0.0.1:0", "--data", held.to_str().expect("UTF-8")]);
    first.terminate(Duration::from_secs(60));
    assert_eq!(code, Some(2), "{stderr}");
    once(&stderr, "is already in use by another pixelproof process");

    // Input that is not there.
    let (code, stderr) = run(&["check", "--templates", "no-such-templates"]);
    assert_eq!(code, Some(2), "{stderr}");
    once(&stderr, "no-such-templates");
    let (code, stderr) = run(&["diff", "missing-a.png", "missing-b.png"]);
    assert_eq!(code, Some(2), "{stderr}");
    once(&stderr, "No such file or directory");
}

/// A baselines directory that is not there would make every template fail its start-up check
/// and every template job ship the fallback's PDF: the log says so at start-up, naming it.
#[test]
fn a_missing_baselines_directory_is_named_at_start_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("serve.log");
    let missing = tmp.path().join("no-such-baselines");
    let missing_arg = missing.to_str().expect("UTF-8 path");
    let mut server =
        support::service::Server::start_logged(&tmp.path().join("data"), &["--baselines", missing_arg], &log);
    server.terminate(Duration::from_secs(60));
    let text = std::fs::read_to_string(&log).expect("the server's log");
    let warning = text.lines().find(|l| l.contains("no baselines directory there")).unwrap_or_else(|| panic!("{text}"));
    assert!(
        warning.contains("WARN") && warning.contains(missing_arg) && warning.contains("--baselines DIR"),
        "{warning}"
    );
}

#[test]
fn refuses_to_listen_openly_without_tokens() {
    let out = support::pixelproof()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env_remove("PIXELPROOF_TOKENS")
        .output()
        .expect("run pixelproof serve");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without API tokens") && stderr.contains("--token"), "{stderr}");
    assert!(out.stdout.is_empty(), "it must not have listened: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn sigterm_lets_the_render_in_flight_finish() {
    let mut server = Server::start(&[]);
    let http = client();
    server.wait_ready(&http);
    // A document that keeps Chromium busy for about 3 s before it can print.
    let slow = "<p>slow</p><script>const t = Date.now(); while (Date.now() - t < 3000) {}</script>";
    let url = server.url("/v1/render");
    let in_flight = std::thread::spawn(move || {
        let r = client().post(url).json(&json!({"html": slow})).send().expect("render in flight");
        (r.status(), r.bytes().map(|b| b.to_vec()).unwrap_or_default())
    });
    std::thread::sleep(Duration::from_millis(1000));
    let killed = Command::new("kill").args(["-TERM", &server.pid().to_string()]).status().expect("kill -TERM");
    assert!(killed.success());
    let (status, pdf) = in_flight.join().expect("render thread");
    assert_eq!(status, StatusCode::OK);
    assert!(pdf.starts_with(b"%PDF"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = server.inner.child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "still running 30 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(exit.code(), Some(0));
    // Nothing new is accepted once it has stopped.
    assert!(client().get(server.url("/healthz")).send().is_err());
}

#[test]
fn a_render_over_the_timeout_is_a_422_naming_the_limit() {
    let server = Server::start(&["--render-timeout-secs", "3"]);
    let http = client();
    // A document that never settles: its script spins for 20 s.
    let endless = "<p>spin</p><script>const t = Date.now(); while (Date.now() - t < 20000) {}</script>";
    let started = Instant::now();
    let r = http.post(server.url("/v1/render")).json(&json!({"html": endless})).send().expect("render");
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "render timeout");
    assert!(started.elapsed() < Duration::from_secs(15), "answered after {:?}", started.elapsed());
    let metrics = http.get(server.url("/metrics")).send().expect("metrics").text().expect("text");
    assert_eq!(metric(&metrics, "pixelproof_renders_total{outcome=\"timeout\"}"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "pixelproof_jobs_total{outcome=\"timeout\"}"), 1.0, "{metrics}");
    // The pool recovers: a plain document prints afterwards.
    let r = http.post(server.url("/v1/render")).json(&json!({"html": "<p>after</p>"})).send().expect("render");
    assert_eq!(r.status(), StatusCode::OK);
}

/// Synchronous renders past the browsers wait for one; past `--max-waiting-renders` they are
/// turned away at once (429), and one that waits past `--api-timeout-secs` gets a 503: both
/// with a `Retry-After`, instead of waiting without limit.
#[test]
fn renders_past_the_cap_get_a_429_and_past_the_wait_a_503_with_retry_after() {
    let server = Server::start(&[
        "--browsers",
        "1",
        "--render-timeout-secs",
        "15",
        "--max-waiting-renders",
        "1",
        "--api-timeout-secs",
        "4",
    ]);
    let http = client();
    server.wait_ready(&http);
    let render = server.url("/v1/render");
    let gauge = |state: &str| {
        let text = http.get(server.url("/metrics")).send().expect("metrics").text().expect("text");
        metric(&text, &format!("pixelproof_sync_renders{{state=\"{state}\"}}"))
    };
    let until = |state: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while gauge(state) < 1.0 {
            assert!(Instant::now() < deadline, "no render {state} after 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // 1. A document that spins holds the one browser until the render timeout.
    let endless = "<p>spin</p><script>const t = Date.now(); while (Date.now() - t < 60000) {}</script>";
    let spinning = {
        let url = render.clone();
        std::thread::spawn(move || client().post(url).json(&json!({"html": endless})).send().map(|r| r.status()))
    };
    until("running");
    // 2. The next one waits for it.
    let waiting = {
        let url = render.clone();
        std::thread::spawn(move || {
            let r = client().post(url).json(&json!({"html": "<p>waits</p>"})).send().expect("render");
            let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap_or_default().to_string());
            (r.status(), retry, r.text().unwrap_or_default())
        })
    };
    until("waiting");
    // 3. One more is one too many: 429 at once.
    let started = Instant::now();
    let r = http.post(&render).json(&json!({"html": "<p>too many</p>"})).send().expect("render");
    let retry: u32 = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).expect("Retry-After");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let problem = assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "--max-waiting-renders");
    assert!(problem["type"].as_str().unwrap_or_default().ends_with("renders-busy"), "{problem}");
    assert!(started.elapsed() < Duration::from_secs(4), "the 429 waited {:?}", started.elapsed());
    // 4. The waiting one gives up after --api-timeout-secs: 503 with Retry-After.
    let (status, retry, body) = waiting.join().expect("waiting thread");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(retry.is_some_and(|r| r.parse::<u32>().is_ok()), "no Retry-After: {body}");
    assert!(body.contains("--api-timeout-secs"), "{body}");
    assert_eq!(spinning.join().expect("spinning thread").expect("render"), StatusCode::UNPROCESSABLE_ENTITY);
    // 5. The slot is free again, and the refusals were counted.
    let r = http.post(&render).json(&json!({"html": "<p>after</p>"})).send().expect("render");
    assert_eq!(r.status(), StatusCode::OK);
    let text = http.get(server.url("/metrics")).send().expect("metrics").text().expect("text");
    assert_eq!(metric(&text, "pixelproof_renders_total{outcome=\"busy\"}"), 1.0, "{text}");
    assert_eq!(metric(&text, "pixelproof_renders_total{outcome=\"waited\"}"), 1.0, "{text}");
    assert_eq!(gauge("waiting"), 0.0);
}

#[test]
fn readiness_replaces_a_dead_chromium_and_counts_the_restart() {
    let server = Server::start(&["--workers", "1"]);
    let http = client();
    server.wait_ready(&http);
    // Kill the server's browser (its direct child) behind its back.
    let out = Command::new("pgrep").args(["-P", &server.pid().to_string()]).output().expect("pgrep");
    let children: Vec<String> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect();
    assert_eq!(children.len(), 1, "expected one browser process, found {children:?}");
    assert!(Command::new("kill").args(["-KILL", &children[0]]).status().expect("kill").success());
    std::thread::sleep(Duration::from_millis(500));
    let r = http.get(server.url("/readyz")).send().expect("readyz");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().expect("JSON");
    assert_eq!(body["chromium"], "ok", "{body}");
    let metrics = http.get(server.url("/metrics")).send().expect("metrics").text().expect("text");
    assert_eq!(metric(&metrics, "pixelproof_chromium_restarts_total"), 1.0, "{metrics}");
    let after = Command::new("pgrep").args(["-P", &server.pid().to_string()]).output().expect("pgrep");
    let now = String::from_utf8_lossy(&after.stdout).trim().to_string();
    assert!(!now.is_empty() && now != children[0], "a new browser should run, found {now:?}");
}

/// A routing rule added through the API is what both paths follow: `/v1/render` answers the
/// fallback's PDF (and says so in its headers), and a queued job settles as `fallback`.
#[test]
fn a_routing_rule_from_the_api_sends_render_and_jobs_to_the_fallback() {
    let server = Server::start(&["--token", SUBMIT_TOKEN, "--token", OPERATOR_TOKEN]);
    let http = client();
    let (submit, operator) = (support::service::SUBMIT, support::service::OPERATOR);
    let body = json!({"template": "certificate", "data": fixture("certificate", "default")});

    let before = http.post(server.url("/v1/render")).bearer_auth(submit).json(&body).send().expect("render");
    assert_eq!(before.status(), StatusCode::OK);
    assert_eq!(before.headers()["x-pixelproof-state"], "done");
    assert_eq!(before.headers()["x-pixelproof-renderer"], "chromium");
    assert!(before.headers()["x-pixelproof-renderer-version"].to_str().unwrap().contains("Chrome"));

    let rule = json!({"match": {"template": "certificate"}, "renderer": "fallback", "note": "try the fallback"});
    let r = http.post(server.url("/v1/routing")).bearer_auth(operator).json(&rule).send().expect("add rule");
    assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());

    let after = http.post(server.url("/v1/render")).bearer_auth(submit).json(&body).send().expect("render");
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(after.headers()["x-pixelproof-state"], "fallback");
    assert_eq!(after.headers()["x-pixelproof-renderer"], "fallback");
    assert!(after.headers()["x-pixelproof-renderer-version"].to_str().unwrap().starts_with("WeasyPrint"));
    let pdf = after.bytes().expect("pdf");
    assert_eq!(pdfinfo_pages(&pdf), 1);

    let id = support::service::submit(&server.inner, submit, &body);
    let settled = support::service::wait_settled(&server.inner, submit, &id, Duration::from_secs(120));
    assert_eq!(settled["state"], "fallback", "{settled}");
}

/// Opens a connection to the server and returns it with its read timeout set.
fn connect(server: &Server, read_timeout: Duration) -> std::net::TcpStream {
    let addr = server.url("").trim_start_matches("http://").to_string();
    let stream = std::net::TcpStream::connect(&addr).expect("connect");
    stream.set_read_timeout(Some(read_timeout)).expect("read timeout");
    stream
}

/// Waits until the server closes `stream` (EOF or reset), at most `limit`; returns how long it took.
fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> Option<Duration> {
    use std::io::Read;
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// A client that sends a header line every half second is cut off at the header-read
/// timeout; 100 connections that say nothing are closed too (the open files come back
/// down), and one that got its answer and stays idle is closed.
#[test]
fn slow_and_idle_clients_are_cut_off() {
    use std::io::Write;
    let server =
        Server::start(&["--token", SUBMIT_TOKEN, "--header-read-timeout-secs", "2", "--idle-timeout-secs", "3"]);
    // Start-up verification opens files of its own (browser pipes, rasters): let it finish so
    // the open files counted below are the connections'.
    server.wait_ready(&client());
    let limit = Duration::from_secs(10);

    let mut slow = connect(&server, Duration::from_millis(500));
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: pixelproof\r\n").expect("request line");
    let mut cut = None;
    while started.elapsed() < limit {
        // One more header line every half second, as the slow client did for 75 s.
        if slow.write_all(b"X-Slow: 1\r\n").is_err() {
            cut = Some(started.elapsed());
            break;
        }
        if closed_within(&mut slow, Duration::from_millis(500)).is_some() {
            cut = Some(started.elapsed());
            break;
        }
    }
    let cut =
        cut.unwrap_or_else(|| panic!("a client sending a header line every 0.5 s is still connected after {limit:?}"));
    assert!(cut >= Duration::from_millis(1900), "cut off after {cut:?}, before the 2 s timeout");
    eprintln!("slow-header client cut off after {cut:?} (timeout 2 s)");

    let pid = server.pid();
    let before = open_files(pid);
    let silent: Vec<_> = (0..100).map(|_| connect(&server, Duration::from_millis(200))).collect();
    let deadline = Instant::now() + limit;
    while open_files(pid) < before + 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let during = open_files(pid);
    assert!(during >= before + 100, "100 connections: {before} → {during} open files");
    let deadline = Instant::now() + limit;
    while open_files(pid) > before + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = open_files(pid);
    assert!(
        after <= before + 2,
        "100 silent connections still hold files after {limit:?}: {before} → {during} → {after}"
    );
    eprintln!("open files {before} → {during} with 100 silent connections → {after}");
    drop(silent);

    let mut idle = connect(&server, Duration::from_millis(200));
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: pixelproof\r\n\r\n").expect("request");
    let took =
        closed_within(&mut idle, limit).unwrap_or_else(|| panic!("an idle connection is still open after {limit:?}"));
    eprintln!("idle keep-alive connection closed after {took:?}");
}

/// Past `--max-connections`, a new client waits until a connection closes, then is served.
#[test]
fn connections_are_capped() {
    use std::io::Write;
    let server =
        Server::start(&["--token", SUBMIT_TOKEN, "--max-connections", "4", "--header-read-timeout-secs", "60"]);
    let mut open: Vec<_> = (0..4).map(|_| connect(&server, Duration::from_millis(200))).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut fifth = connect(&server, Duration::from_millis(1500));
    fifth.write_all(b"GET /healthz HTTP/1.1\r\nHost: pixelproof\r\nConnection: close\r\n\r\n").expect("request");
    let mut answer = Vec::new();
    use std::io::Read;
    let waited = fifth.read_to_end(&mut answer);
    assert!(
        answer.is_empty(),
        "the fifth connection was served past the cap of 4: {:?}",
        String::from_utf8_lossy(&answer)
    );
    assert!(waited.is_err(), "the fifth connection was closed instead of waiting");
    open.pop();
    fifth.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let _ = fifth.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "once a connection closed, the fifth was not served: {text:?}");
}

/// Mistakes of the client are answered as such: a page range past the document's end is a
/// 422 (not Chromium's failure), the auth scheme is case-insensitive, and a routing rule for
/// a template that does not exist is refused naming the known ones.
#[test]
fn client_mistakes_are_answered_as_such() {
    let server = Server::start(&["--token", SUBMIT_TOKEN, "--token", OPERATOR_TOKEN]);
    let c = client();
    let print = |ranges: &str| {
        c.post(server.url("/v1/render"))
            .bearer_auth("submit-secret-0123456789")
            .json(&json!({"html": "<p>one page</p>", "options": {"page_ranges": ranges}}))
            .send()
            .expect("render")
    };
    let problem = assert_problem(print("5-9"), StatusCode::UNPROCESSABLE_ENTITY, "page_ranges \"5-9\"");
    assert!(problem["detail"].as_str().unwrap_or_default().contains("pages the document has"), "{problem}");
    // The same document with a range it has prints.
    let r = print("1");
    assert_eq!(r.status(), StatusCode::OK);

    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("anyone:operator-secret-0123456789");
    for auth in [
        "bearer submit-secret-0123456789".to_string(),
        "BEARER submit-secret-0123456789".to_string(),
        format!("basic {basic}"),
    ] {
        let r = c.get(server.url("/v1/templates")).header("Authorization", &auth).send().expect("GET");
        assert_eq!(r.status(), StatusCode::OK, "{auth}");
    }

    let r = c
        .post(server.url("/v1/routing"))
        .bearer_auth("operator-secret-0123456789")
        .json(&json!({"match": {"template": "no-such-template"}, "renderer": "fallback", "note": "typo"}))
        .send()
        .expect("POST /v1/routing");
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "no-such-template");
    assert!(
        problem["detail"].as_str().unwrap_or_default().contains("invoice"),
        "the known templates are listed: {problem}"
    );
}
