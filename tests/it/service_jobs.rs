//! The queued job path against the real `pixelproof serve` on loopback: real Chromium,
//! real PDFium, real WeasyPrint, the bundled templates and baselines, a temporary data dir.

use crate::support;

use std::time::{Duration, Instant};

use pixelproof::routing::{Match, NewRule, Renderer, RoutingTable};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::service::*;

const SETTLE: Duration = Duration::from_secs(240);

/// Job records (`jobs/{id}/job.json`) in the data directory.
fn jobs_on_disk(data: &std::path::Path) -> usize {
    let Ok(dirs) = std::fs::read_dir(data.join("objects/jobs")) else { return 0 };
    dirs.filter_map(|d| d.ok()).filter(|d| d.path().join("job.json").is_file()).count()
}

/// An invoice with so many lines it prints more pages than template.json allows (max 10).
fn oversized_invoice() -> Value {
    let mut data = fixture("invoice", "basic");
    let items = data["items"].as_array().cloned().unwrap_or_default();
    data["items"] = Value::Array(items.iter().cycle().take(400).cloned().collect());
    json!({"template": "invoice", "data": data, "baseline": "invoice/basic"})
}

#[test]
fn the_job_path_end_to_end() {
    let data = tempfile::tempdir().expect("data dir");
    let mut table = RoutingTable::load(data.path().join("routing.json")).expect("routing table");
    support::block_on(table.add(NewRule {
        matches: Match::Template("certificate".into()),
        renderer: Renderer::Fallback,
        note: "test: certificates go to the fallback".into(),
        created_by: "service_jobs".into(),
    }))
    .expect("rule");
    let receiver = Receiver::start();
    let flags =
        ["--token", SUBMIT_TOKEN, "--token", OPERATOR_TOKEN, "--webhook-allow-private", "--max-body-bytes", "200000"];
    let mut server = Server::start(data.path(), &flags);
    let c = client();

    // Mistakes are 4xx problems and leave nothing behind.
    let r = c
        .post(server.url("/v1/jobs"))
        .bearer_auth(SUBMIT)
        .header("content-type", "application/json")
        .body("{oops")
        .send();
    assert_problem(r.expect("POST"), StatusCode::BAD_REQUEST, "");
    assert_problem(
        post_job(&server, SUBMIT, &json!({"template": "nope", "data": {}}), None),
        StatusCode::UNPROCESSABLE_ENTITY,
        "nope",
    );
    assert_problem(
        post_job(&server, SUBMIT, &json!({"template": "invoice", "data": {}}), None),
        StatusCode::UNPROCESSABLE_ENTITY,
        "/lang: missing required key",
    );
    let big = json!({"html": "x".repeat(300_000)});
    assert_problem(post_job(&server, SUBMIT, &big, None), StatusCode::PAYLOAD_TOO_LARGE, "--max-body-bytes");
    assert_eq!(jobs_on_disk(data.path()), 0, "a refused job left a record");
    for state in ["ready", "inflight", "dead"] {
        assert_eq!(metric(&server, &format!("pixelproof_queue_jobs{{state=\"{state}\"}}")), 0.0, "{state}");
    }

    // The jobs.
    let started = Instant::now();
    let invoice = json!({"template": "invoice", "data": fixture("invoice", "basic"), "callback_url": receiver.url()});
    let first = post_job(&server, SUBMIT, &invoice, Some("order-42"));
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let location = first.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let first: Value = first.json().expect("JSON");
    let invoice_id = first["id"].as_str().expect("id").to_string();
    assert_eq!(location, format!("/v1/jobs/{invoice_id}"));
    assert_eq!(first["status_url"], server.url(&location));
    let again = post_job(&server, SUBMIT, &invoice, Some("order-42"));
    assert_eq!(again.status(), StatusCode::OK, "the same key answers 200 with the same job");
    assert_eq!(again.json::<Value>().expect("JSON")["id"], invoice_id.as_str());

    let html = json!({"html": "<!doctype html><p style='font-family: DejaVu Sans'>Hello</p><img src='https://example.com/x.png'>",
                      "callback_url": receiver.url()});
    let html_id = submit(&server, SUBMIT, &html);
    let certificate_id =
        submit(&server, SUBMIT, &json!({"template": "certificate", "data": fixture("certificate", "default")}));
    let held_id = submit(&server, SUBMIT, &oversized_invoice());
    assert_eq!(jobs_on_disk(data.path()), 4, "one record per job (the repeated key made none)");

    let invoice_status = wait_settled(&server, SUBMIT, &invoice_id, SETTLE);
    assert_eq!(invoice_status["state"], "done", "{invoice_status}");
    let pdf = c.get(server.url(&format!("/v1/jobs/{invoice_id}/pdf"))).bearer_auth(SUBMIT).send().expect("GET pdf");
    assert_eq!(pdf.status(), StatusCode::OK);
    let pdf = pdf.bytes().expect("bytes");
    assert!(pdf.starts_with(b"%PDF-"));
    let pages = pdfinfo_pages(&pdf);
    assert_eq!(pages as u64, invoice_status["verdict"]["pages"].as_u64().unwrap_or(0));
    assert!((1..=10).contains(&pages), "invoice pages {pages}");
    for stage in
        ["queued", "rendering", "context", "navigate", "settle", "print", "fonts", "raster", "verifying", "storing"]
    {
        assert!(invoice_status["timings_ms"][stage].is_u64(), "no {stage} timing: {invoice_status}");
    }
    assert!(invoice_status["artifacts"].is_null(), "artifacts are for operators only");

    let html_status = wait_settled(&server, SUBMIT, &html_id, SETTLE);
    assert_eq!(html_status["state"], "done", "{html_status}");
    let blocked = html_status["verdict"]["blocked_requests"].as_array().cloned().unwrap_or_default();
    assert_eq!(blocked.len(), 1, "the refused image is listed: {html_status}");
    assert!(blocked[0]["url"].as_str().unwrap_or_default().contains("example.com"));

    // A long poll answers once, when the job has settled (or after the wait).
    let cert_status = |query: &str| {
        c.get(server.url(&format!("/v1/jobs/{certificate_id}{query}"))).bearer_auth(SUBMIT).send().expect("GET status")
    };
    let waited = cert_status("?wait=60");
    assert_eq!(waited.status(), StatusCode::OK);
    let waited: Value = waited.json().expect("JSON");
    assert!(["done", "fallback", "held", "failed"].contains(&waited["state"].as_str().unwrap_or_default()), "{waited}");
    assert_problem(cert_status("?wait=61"), StatusCode::UNPROCESSABLE_ENTITY, "60 seconds");
    assert_problem(cert_status("?wait=soon"), StatusCode::UNPROCESSABLE_ENTITY, "?wait=SECONDS");
    let cert = wait_settled(&server, SUBMIT, &certificate_id, SETTLE);
    assert_eq!(cert["state"], "fallback", "{cert}");
    assert_eq!(cert["renderer"], "fallback", "{cert}");
    assert!(cert["renderer_version"].as_str().unwrap_or_default().starts_with("WeasyPrint"), "{cert}");
    let cert_pdf =
        c.get(server.url(&format!("/v1/jobs/{certificate_id}/pdf"))).bearer_auth(SUBMIT).send().expect("pdf");
    assert_eq!(cert_pdf.status(), StatusCode::OK);
    assert_eq!(pdfinfo_pages(&cert_pdf.bytes().expect("bytes")), 1);

    let held = wait_settled(&server, OPERATOR, &held_id, SETTLE);
    assert_eq!(held["state"], "held", "{held}");
    let reasons = held["verdict"]["reasons"].to_string();
    assert!(reasons.contains("page-count") && reasons.contains("1 to 10"), "{reasons}");
    let refused = c.get(server.url(&format!("/v1/jobs/{held_id}/pdf"))).bearer_auth(SUBMIT).send().expect("pdf");
    assert_problem(refused, StatusCode::CONFLICT, "held for review");
    let artifacts: Vec<String> = held["artifacts"]
        .as_array()
        .expect("operator sees artifacts")
        .iter()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    for name in ["chromium-001.png", "baseline-001.png", "diff-001.png", "fallback-001.png", "verdict.json", "held.pdf"]
    {
        assert!(artifacts.iter().any(|a| a.ends_with(&format!("/artifacts/{name}"))), "{name} missing: {artifacts:?}");
    }
    let png_url = format!("/v1/jobs/{held_id}/artifacts/chromium-001.png");
    let png = c.get(server.url(&png_url)).bearer_auth(OPERATOR).send().expect("artifact");
    assert_eq!(png.status(), StatusCode::OK);
    assert!(png.bytes().expect("bytes").starts_with(b"\x89PNG"));
    assert_eq!(
        c.get(server.url(&png_url)).bearer_auth(SUBMIT).send().expect("artifact").status(),
        StatusCode::FORBIDDEN
    );
    assert!(status(&server, SUBMIT, &held_id)["artifacts"].is_null());
    for (series, at_least) in [
        ("pixelproof_jobs_total{outcome=\"done\"}", 2.0),
        ("pixelproof_jobs_total{outcome=\"fallback\"}", 1.0),
        ("pixelproof_jobs_total{outcome=\"held\"}", 1.0),
        ("pixelproof_jobs_total{outcome=\"invalid\"}", 2.0),
        ("pixelproof_stage_seconds_count{stage=\"rendering\"}", 3.0),
        ("pixelproof_stage_seconds_count{stage=\"fallback\"}", 2.0),
        ("pixelproof_stage_seconds_count{stage=\"storing\"}", 4.0),
    ] {
        let value = metric(&server, series);
        assert!(value >= at_least, "{series} = {value}, expected at least {at_least}");
    }
    println!("4 jobs settled in {:.1} s (done, done, fallback, held)", started.elapsed().as_secs_f64());

    // Unknown and malformed ids.
    let unknown = c.get(server.url("/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/pdf")).bearer_auth(SUBMIT).send().expect("GET");
    assert_problem(unknown, StatusCode::NOT_FOUND, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    let malformed = c.get(server.url("/v1/jobs/..%2Fetc")).bearer_auth(SUBMIT).send().expect("GET");
    assert_eq!(malformed.status(), StatusCode::NOT_FOUND);

    // Exactly one webhook per settled job with a callback_url.
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.posts_for(&invoice_id).is_empty() || receiver.posts_for(&html_id).is_empty() {
        assert!(Instant::now() < deadline, "webhooks not received: {:?}", receiver.bodies.lock().map(|b| b.clone()));
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let posts = receiver.posts_for(&invoice_id);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["state"], "done");
    let openapi: Value = c.get(server.url("/openapi.json")).send().expect("openapi").json().expect("JSON");
    for path in ["/v1/jobs", "/v1/jobs/{id}", "/v1/jobs/{id}/pdf", "/v1/jobs/{id}/artifacts/{name}"] {
        assert!(openapi["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    assert_eq!(posts[0]["pdf_url"], format!("{}/pdf", first["status_url"].as_str().unwrap_or_default()));
    assert_eq!(receiver.posts_for(&html_id).len(), 1);
    assert_eq!(receiver.bodies.lock().expect("lock").len(), 2, "only the jobs with a callback_url");
    let recorded = status(&server, SUBMIT, &invoice_id);
    assert_eq!(recorded["webhook"]["delivered"], true, "{recorded}");

    // A clean stop, then the same key on the restarted server is still the same job.
    assert_eq!(server.terminate(Duration::from_secs(60)), Some(0));
    let server = Server::start(data.path(), &flags);
    let after = post_job(&server, SUBMIT, &invoice, Some("order-42"));
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(after.json::<Value>().expect("JSON")["id"], invoice_id.as_str());
    assert_eq!(status(&server, SUBMIT, &invoice_id)["state"], "done");
    assert_eq!(jobs_on_disk(data.path()), 4);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(receiver.posts_for(&invoice_id).len(), 1, "no second webhook after the restart");
}

#[test]
fn a_full_queue_is_429_and_private_webhooks_need_the_flag() {
    let data = tempfile::tempdir().expect("data dir");
    let flags = ["--max-queue", "2", "--workers", "1", "--public-url", "https://pdf.example.com/"];
    let server = Server::start(data.path(), &flags);
    let hook = json!({"html": "<p>x</p>", "callback_url": "http://127.0.0.1:9/hook"});
    assert_problem(post_job(&server, SUBMIT, &hook, None), StatusCode::UNPROCESSABLE_ENTITY, "--webhook-allow-private");
    assert_eq!(jobs_on_disk(data.path()), 0);

    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..8 {
        let body = json!({"html": format!("<!doctype html><p>job {i}</p>")});
        let r = post_job(&server, SUBMIT, &body, None);
        match r.status() {
            StatusCode::ACCEPTED => {
                let v: Value = r.json().expect("JSON");
                let id = v["id"].as_str().expect("id").to_string();
                assert_eq!(v["status_url"], format!("https://pdf.example.com/v1/jobs/{id}"), "--public-url");
                accepted.push(id);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(String::from);
                assert_eq!(retry.as_deref(), Some("5"));
                assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "queue is full");
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    println!("--max-queue 2: {} accepted, {refused} refused with 429", accepted.len());
    assert!(refused >= 1 && accepted.len() >= 2, "accepted {}, refused {refused}", accepted.len());
    assert_eq!(jobs_on_disk(data.path()), accepted.len(), "a refused job left a record");
    for id in &accepted {
        assert_eq!(wait_settled(&server, SUBMIT, id, SETTLE)["state"], "done");
    }
}

/// Writes a `queued` record without enqueueing it: what a crash between save and enqueue leaves.
fn unqueued_record(data: &std::path::Path, body: Value) -> String {
    use pixelproof::jobs::JobStore;
    use pixelproof::jobs::{JobId, JobRecord};
    use pixelproof::store::LocalStore;
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = JobStore::new(std::sync::Arc::new(LocalStore::open(data.join("objects")).expect("store")));
        let record = JobRecord::new(JobId::new(), body, None);
        store.save(&record).await.expect("save");
        record.id.to_string()
    })
}

/// Makes `id` a dead letter in the data directory's queue (as a queue that gave up would).
fn dead_letter(data: &std::path::Path, id: &str, why: &str) {
    use pixelproof::queue::{EmbeddedQueue, Queue, QueueConfig};
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (queue, _) = EmbeddedQueue::open(data.join("queue"), QueueConfig::default()).expect("queue");
        let job = pixelproof::jobs::JobId::parse(id).expect("id");
        queue.enqueue(job).await.expect("enqueue");
        let delivery = queue.dequeue(Duration::from_secs(1)).await.expect("dequeue").expect("a delivery");
        queue.dead(delivery, why).await.expect("dead");
    });
}

#[test]
fn baselines_render_errors_and_records_left_unqueued() {
    let data = tempfile::tempdir().expect("data dir");
    let orphan = unqueued_record(data.path(), json!({"html": "<!doctype html><p>saved, never queued</p>"}));
    let given_up = unqueued_record(data.path(), json!({"html": "<!doctype html><p>the queue gave up</p>"}));
    dead_letter(data.path(), &given_up, "Chromium crashed twice (test)");
    // A short render timeout for the page that hangs; the fallback keeps a long one, so a
    // loaded machine cannot make WeasyPrint's invoice time out.
    let server = Server::start(data.path(), &["--render-timeout-secs", "2", "--fallback-timeout-secs", "120"]);

    let same = submit(
        &server,
        SUBMIT,
        &json!({"template": "invoice", "data": fixture("invoice", "basic"), "baseline": "invoice/basic"}),
    );
    let other = submit(
        &server,
        SUBMIT,
        &json!({"template": "invoice", "data": fixture("invoice", "short"), "baseline": "invoice/basic"}),
    );
    let hangs = submit(
        &server,
        SUBMIT,
        &json!({"html": "<!doctype html><p>Printed by the fallback</p><script>while (true) {}</script>"}),
    );
    // The case a new user found: content that has nothing to do with the baseline it names.
    // Chromium's proof fails; WeasyPrint can print it, but nothing proves its output.
    let unrelated = submit(&server, SUBMIT, &json!({"html": "<p>bob</p>", "baseline": "certificate/default"}));

    let s = wait_settled(&server, SUBMIT, &orphan, SETTLE);
    assert_eq!(s["state"], "done", "a record left unqueued by a crash is enqueued at start-up: {s}");

    let s = status(&server, SUBMIT, &given_up);
    assert_eq!(s["state"], "failed", "a dead letter's job is failed at start-up: {s}");
    assert!(s["error"].as_str().unwrap_or_default().contains("Chromium crashed twice (test)"), "{s}");

    let s = wait_settled(&server, SUBMIT, &same, SETTLE);
    assert_eq!(s["state"], "done", "{s}");
    assert_eq!(s["verdict"]["changed_pixels"], 0, "same data, same environment: 0 pixels: {s}");
    assert_eq!(s["verdict"]["pixels"]["passed"], true);

    let s = wait_settled(&server, SUBMIT, &other, SETTLE);
    let attempts = s["verdict"]["attempts"].as_array().cloned().unwrap_or_default();
    let chromium_pixels = attempts.first().map(|a| a["rules"].to_string()).unwrap_or_default();
    assert!(chromium_pixels.contains("against chromium baseline invoice/basic"), "{s}");
    // The fallback is judged against what does not depend on the engine (1 page against
    // Chromium's 3) and against its own baseline: it cannot ship another document's proof.
    assert_eq!(s["state"], "held", "{s}");
    let fallback_rules = attempts.get(1).map(|a| a["rules"].to_string()).unwrap_or_default();
    assert!(fallback_rules.contains("1 page(s), but Chromium's baseline invoice/basic has 3"), "{s}");
    assert!(fallback_rules.contains("against fallback baseline invoice/basic"), "{s}");

    let s = wait_settled(&server, SUBMIT, &unrelated, SETTLE);
    assert_eq!(s["state"], "held", "an unproved fallback must not ship: {s}");
    let reasons = s["verdict"]["reasons"].to_string();
    assert!(reasons.contains("text-layer") && reasons.contains("certificate/default"), "{reasons}");
    let refused = client().get(server.url(&format!("/v1/jobs/{unrelated}/pdf"))).send().expect("pdf");
    assert_problem(refused, StatusCode::CONFLICT, "held");
    let review = client().get(server.url("/review")).send().expect("review").text().expect("page");
    for name in ["chromium-001.png", "baseline-001.png", "fallback-001.png", "fallback-baseline-001.png"] {
        let src = format!("/review/files/jobs/{unrelated}/{name}");
        assert!(review.contains(&src), "both engines' pages are on the review page: {src} missing");
    }

    // A render timeout is not about the content: retried on a fresh browser, and on the last
    // delivery printed by the fallback (which runs no script), under the fallback's rules.
    let s = wait_settled(&server, SUBMIT, &hangs, SETTLE);
    assert_eq!(s["state"], "fallback", "{s}");
    assert_eq!(s["renderer"], "fallback", "{s}");
    assert!(s["renderer_version"].as_str().unwrap_or_default().starts_with("WeasyPrint"), "{s}");
    let record: Value = serde_json::from_slice(
        &std::fs::read(data.path().join(format!("objects/jobs/{hangs}/job.json"))).expect("record"),
    )
    .expect("JSON");
    let history = record["history"].to_string();
    assert!(
        history.contains("Chromium failed on the last delivery") && history.contains("render timeout"),
        "{history}"
    );
    assert_eq!(history.matches("retry: ").count(), 2, "two retries before the last delivery: {history}");
    let pdf = client().get(server.url(&format!("/v1/jobs/{hangs}/pdf"))).send().expect("pdf");
    assert_eq!(pdf.status(), StatusCode::OK);
    let text = pdf_text(&pdf.bytes().expect("bytes"));
    assert!(text.contains("Printed by the fallback"), "{text}");
}

/// Copies the bundled fallback baselines of `template` (only those) into `root`.
fn fallback_baselines_only(root: &std::path::Path, template: &str) {
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("baselines/.fallback").join(template);
    for entry in walkdir::WalkDir::new(&from).into_iter().filter_map(Result::ok).filter(|e| e.file_type().is_file()) {
        let rel = entry.path().strip_prefix(&from).expect("under the template");
        let to = root.join(".fallback").join(template).join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(entry.path(), &to).expect("copy");
    }
}

#[test]
fn templates_are_served_only_by_an_engine_that_verified_them() {
    let data = tempfile::tempdir().expect("data dir");
    // No Chromium baselines at all (as when `serve` starts where there is no baselines/), and
    // the fallback's for the certificate alone.
    let baselines_dir = tempfile::tempdir().expect("baselines dir");
    fallback_baselines_only(baselines_dir.path(), "certificate");
    let baselines = baselines_dir.path().to_string_lossy().to_string();
    let server = Server::start(data.path(), &["--baselines", &baselines]);
    let deadline = Instant::now() + Duration::from_secs(240);
    let ready = loop {
        let r: Value = client().get(server.url("/readyz")).send().expect("readyz").json().expect("JSON");
        if r["verification"] == "finished" {
            break r;
        }
        assert!(Instant::now() < deadline, "verification did not finish: {r}");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(ready["fallback"]["certificate"], "verified", "{ready}");
    let said = ready["templates"]["certificate"].as_str().unwrap_or_default();
    assert!(said.contains("failed on Chromium, its jobs go to the verified fallback"), "{ready}");
    let said = ready["templates"]["invoice"].as_str().unwrap_or_default();
    assert!(said.contains("verified on neither engine, its jobs are held"), "/readyz says why: {ready}");
    assert!(said.contains("no fallback baseline yet"), "{ready}");

    // Failed on Chromium, verified on the fallback: straight to the fallback, and shipped.
    let cert = submit(&server, SUBMIT, &json!({"template": "certificate", "data": fixture("certificate", "default")}));
    // Verified on neither: held with both engines' pages, never shipped.
    let invoice = submit(&server, SUBMIT, &json!({"template": "invoice", "data": fixture("invoice", "short")}));

    let s = wait_settled(&server, SUBMIT, &cert, SETTLE);
    assert_eq!(s["state"], "fallback", "{s}");
    assert_eq!(s["verdict"]["attempts"].as_array().map(Vec::len), Some(1), "straight to the fallback: {s}");
    let rules = s["verdict"]["attempts"][0]["rules"].to_string();
    assert!(rules.contains("engine-verified"), "{rules}");
    let record: Value = serde_json::from_slice(
        &std::fs::read(data.path().join(format!("objects/jobs/{cert}/job.json"))).expect("record"),
    )
    .expect("JSON");
    let history = record["history"].to_string();
    assert!(history.contains("failed start-up verification on Chromium"), "{history}");
    let pdf = client().get(server.url(&format!("/v1/jobs/{cert}/pdf"))).send().expect("pdf");
    assert_eq!(pdf.status(), StatusCode::OK);

    let s = wait_settled(&server, SUBMIT, &invoice, SETTLE);
    assert_eq!(s["state"], "held", "a template verified on neither engine is not served unverified: {s}");
    let attempts = s["verdict"]["attempts"].as_array().cloned().unwrap_or_default();
    assert_eq!(attempts.len(), 2, "{s}");
    for attempt in &attempts {
        let rules = attempt["rules"].to_string();
        assert!(rules.contains("is not verified on the"), "each engine says it is unproved: {rules}");
    }
    let refused = client().get(server.url(&format!("/v1/jobs/{invoice}/pdf"))).send().expect("pdf");
    assert_problem(refused, StatusCode::CONFLICT, "held");
    let artifacts = status(&server, OPERATOR, &invoice)["artifacts"].to_string();
    assert!(artifacts.contains("chromium-001.png") && artifacts.contains("fallback-001.png"), "{artifacts}");
}

/// A template whose one fixture prints `html` (A4, no data).
fn probe_template(root: &std::path::Path, html: &str) {
    let dir = root.join("probe");
    std::fs::create_dir_all(dir.join("fixtures")).expect("mkdir");
    std::fs::write(dir.join("template.html"), html).expect("template.html");
    std::fs::write(
        dir.join("template.json"),
        r#"{"description": "probe", "options": {"paper": "A4"}, "pages": {"min": 1, "max": 1}}"#,
    )
    .expect("template.json");
    std::fs::write(dir.join("fixtures/default.json"), "{}").expect("fixture");
}

/// Runs the `pixelproof` CLI; panics with its output when it fails.
fn cli(args: &[&str]) {
    let out = support::pixelproof().args(args).output().expect("pixelproof");
    assert!(
        out.status.success(),
        "pixelproof {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A probe template whose Chromium baseline is a red page and whose fallback baseline is the
/// same words in blue, as WeasyPrint prints them; `templates` holds the blue probe.
struct Probe {
    work: tempfile::TempDir,
    red: String,
    blue: String,
}

impl Probe {
    fn new() -> Probe {
        let page = |colour: &str| {
            format!(
                "<!doctype html><html><body style=\"font-family: 'DejaVu Serif'; font-size: 30px; color: {colour}\">\
                 <h1>Certificate of proof</h1><p>Printed by either engine, the same words.</p></body></html>"
            )
        };
        let probe = Probe { work: tempfile::tempdir().expect("work dir"), red: page("#c00000"), blue: page("#0030c0") };
        let red_templates = probe.work.path().join("red");
        probe_template(&red_templates, &probe.red);
        probe_template(&probe.work.path().join("templates"), &probe.blue);
        let (old_t, t, b) = (red_templates.to_string_lossy(), probe.templates(), probe.baselines());
        let report = probe.report();
        cli(&["check", "--update", "--templates", &old_t, "--baselines", &b, "--report", &report]);
        cli(&["baseline", "approve", "--all", "--baselines", &b, "--reason", "red", "--by", "test"]);
        cli(&[
            "check",
            "--update",
            "--renderer",
            "fallback",
            "--templates",
            &t,
            "--baselines",
            &b,
            "--report",
            &report,
        ]);
        let approve = ["baseline", "approve", "--all", "--renderer", "fallback", "--baselines", &b];
        cli(&[&approve[..], &["--reason", "blue", "--by", "test"]].concat());
        probe
    }

    fn path(&self, name: &str) -> String {
        self.work.path().join(name).to_string_lossy().into_owned()
    }

    fn templates(&self) -> String {
        self.path("templates")
    }

    fn baselines(&self) -> String {
        self.path("baselines")
    }

    fn report(&self) -> String {
        self.path("report")
    }
}

#[test]
fn the_fallback_ships_what_its_own_baseline_proves() {
    let probe = Probe::new();
    let blue = probe.blue.clone();
    let (t, b) = (probe.templates(), probe.baselines());
    let manifest = std::fs::read_to_string(probe.work.path().join("baselines/.fallback/probe/default/manifest.json"))
        .expect("manifest");
    assert!(manifest.contains("\"engine\": \"fallback\"") && manifest.contains("WeasyPrint"), "{manifest}");

    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(data.path(), &["--baselines", &b, "--templates", &t]);
    // The blue page: Chromium's pixels differ from its (red) baseline, the same words on one
    // page, and WeasyPrint's pixels match the fallback baseline: the fallback ships.
    let blue_job = submit(&server, SUBMIT, &json!({"html": blue, "baseline": "probe/default"}));
    // Other words: held, whatever the fallback's pixels.
    let other = submit(
        &server,
        SUBMIT,
        &json!({"html": blue.replace("same words", "other words"),
                                                "baseline": "probe/default"}),
    );

    let s = wait_settled(&server, SUBMIT, &blue_job, SETTLE);
    assert_eq!(s["state"], "fallback", "{s}");
    let attempts = s["verdict"]["attempts"].as_array().cloned().unwrap_or_default();
    let chromium = attempts.first().map(|a| a["rules"].to_string()).unwrap_or_default();
    assert!(chromium.contains("against chromium baseline probe/default"), "Chromium's pixel rule failed: {s}");
    let fallback = attempts.get(1).map(|a| a["rules"].to_string()).unwrap_or_default();
    assert!(fallback.contains("against fallback baseline probe/default, within the limits"), "{fallback}");
    assert!(fallback.contains("the same text as Chromium's baseline probe/default"), "{fallback}");
    let pdf = client().get(server.url(&format!("/v1/jobs/{blue_job}/pdf"))).send().expect("pdf");
    assert_eq!(pdf.status(), StatusCode::OK);
    assert_eq!(pdfinfo_pages(&pdf.bytes().expect("bytes")), 1);

    let s = wait_settled(&server, SUBMIT, &other, SETTLE);
    assert_eq!(s["state"], "held", "{s}");
    let fallback = s["verdict"]["attempts"][1]["rules"].to_string();
    assert!(fallback.contains("text differs from Chromium's baseline probe/default"), "{fallback}");
}

/// Milliseconds from submission to settling, by the server's clock (the record's timestamps).
fn settle_ms(status: &Value) -> i64 {
    let at = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(status[field].as_str().unwrap_or_default()).expect("a timestamp")
    };
    (at("updated_at") - at("created_at")).num_milliseconds()
}

/// The job's record as stored (`objects/jobs/ID/job.json`).
fn record_of(data: &std::path::Path, id: &str) -> Value {
    let bytes = std::fs::read(data.join(format!("objects/jobs/{id}/job.json"))).expect("record");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// Submits `body` and waits for it to settle.
fn run(server: &Server, body: &Value) -> (String, Value) {
    let id = submit(server, SUBMIT, body);
    let s = wait_settled(server, SUBMIT, &id, SETTLE);
    (id, s)
}

/// An invoice of about 1 MB of HTML (4 pages): a 750 KB bundled font inlined as a data: URL, and rows.
fn one_megabyte_invoice() -> Value {
    use base64::Engine as _;
    let font = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts/dejavu/DejaVuSans.ttf"))
        .expect("font");
    let font = base64::engine::general_purpose::STANDARD.encode(font);
    let rows: String = (1..=120)
        .map(|i| format!("<tr><td>{i}</td><td>Item number {i}, proved once</td><td>{}.00</td></tr>", i * 7))
        .collect();
    let html = format!(
        "<!doctype html><html><head><style>@font-face {{ font-family: InvoiceSans; src: \
         url(data:font/ttf;base64,{font}) }} body {{ font-family: InvoiceSans; font-size: 14px }} td {{ padding: 4px }}\
         </style></head><body><h1>Invoice 2026-001</h1><table>{rows}</table></body></html>"
    );
    json!({"html": html})
}

#[test]
fn the_render_cache_answers_an_identical_job_with_the_same_bytes() {
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(data.path(), &[]);
    let invoice = json!({"template": "invoice", "data": fixture("invoice", "basic"), "baseline": "invoice/basic"});

    let (first, s) = run(&server, &invoice);
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("done"), Some("miss")), "{s}");
    let miss_ms = settle_ms(&s);
    let (second, s) = run(&server, &invoice);
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("done"), Some("hit")), "{s}");
    let hit_ms = settle_ms(&s);
    assert!(s["timings_ms"]["cache"].is_u64(), "the lookup is a stage: {s}");
    assert!(s["timings_ms"]["rendering"].is_null(), "nothing rendered: {s}");
    assert_eq!(
        pdf_of(&server, SUBMIT, &first),
        pdf_of(&server, SUBMIT, &second),
        "a hit is the same PDF, byte for byte"
    );
    let history = record_of(data.path(), &second)["history"].to_string();
    assert!(history.contains(&format!("from the render cache: job {first} proved")), "{history}");
    eprintln!("template invoice/basic with its baseline: miss {miss_ms} ms, hit {hit_ms} ms (submit to settled)");

    // One byte of data more: another document, rendered. The first one still hits.
    let plain = json!({"template": "invoice", "data": fixture("invoice", "basic")});
    let mut changed = plain.clone();
    let po = changed["data"]["invoice"]["po_number"].as_str().expect("a PO number").replace("77120", "77121");
    changed["data"]["invoice"]["po_number"] = json!(po);
    let (_, s) = run(&server, &plain);
    assert_eq!(s["cache"], "miss", "no baseline is another key: {s}");
    let (_, s) = run(&server, &changed);
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("done"), Some("miss")), "{s}");
    let (_, s) = run(&server, &plain);
    assert_eq!(s["cache"], "hit", "{s}");

    // A job that ends held is not cached: the same job renders (and is held) again.
    let (_, s) = run(&server, &oversized_invoice());
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("held"), Some("miss")), "{s}");
    let (held_again, s) = run(&server, &oversized_invoice());
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("held"), Some("miss")), "{s}");
    assert!(s["timings_ms"]["rendering"].is_u64(), "rendered again: {s}");
    let refused = client().get(server.url(&format!("/v1/jobs/{held_again}/pdf"))).send().expect("pdf");
    assert_problem(refused, StatusCode::CONFLICT, "held");

    // The 1 MB document: one render, then hits.
    let big = one_megabyte_invoice();
    let (big_first, s) = run(&server, &big);
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("done"), Some("miss")), "{s}");
    let big_miss = settle_ms(&s);
    let big_pdf = pdf_of(&server, SUBMIT, &big_first);
    let mut hits = Vec::new();
    for _ in 0..5 {
        let (id, s) = run(&server, &big);
        assert_eq!(s["cache"], "hit", "{s}");
        assert_eq!(pdf_of(&server, SUBMIT, &id), big_pdf);
        hits.push(settle_ms(&s));
    }
    eprintln!(
        "1 MB invoice ({} bytes of PDF, {} pages): miss {big_miss} ms, hits {hits:?} ms (submit to settled)",
        big_pdf.len(),
        pdfinfo_pages(&big_pdf)
    );
    assert_eq!(metric(&server, "pixelproof_render_cache_total{outcome=\"hit\"}"), 7.0);
    assert_eq!(metric(&server, "pixelproof_render_cache_total{outcome=\"store\"}"), 4.0);
    assert_eq!(metric(&server, "pixelproof_render_cache_total{outcome=\"miss\"}"), 6.0);
    assert!(metric(&server, "pixelproof_stage_seconds_count{stage=\"cache\"}") >= 13.0);
}

#[test]
fn the_render_cache_can_be_turned_off() {
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(data.path(), &["--render-cache", "off"]);
    let page = json!({"html": "<!doctype html><p style='font-family: DejaVu Sans'>Twice</p>"});
    for _ in 0..2 {
        let (_, s) = run(&server, &page);
        assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("done"), Some("off")), "{s}");
        assert!(s["timings_ms"]["rendering"].is_u64() && s["timings_ms"]["cache"].is_null(), "{s}");
    }
    assert!(!data.path().join("objects/cache").exists(), "nothing is stored with the cache off");
    assert_eq!(metric(&server, "pixelproof_render_cache_total{outcome=\"hit\"}"), 0.0);
}

#[test]
fn the_render_cache_misses_when_the_baseline_changes() {
    let probe = Probe::new();
    let (red, blue) = (probe.red.clone(), probe.blue.clone());
    let (t, b, report) = (probe.templates(), probe.baselines(), probe.report());

    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(data.path(), &["--baselines", &b, "--templates", &t]);
    let red_job = json!({"html": red, "baseline": "probe/default"});
    let blue_job = json!({"html": blue, "baseline": "probe/default"});
    let (_, s) = run(&server, &red_job);
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("done"), Some("miss")), "{s}");
    let (_, s) = run(&server, &red_job);
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("done"), Some("hit")), "{s}");
    // What the fallback shipped is cached as the fallback's.
    let (first, s) = run(&server, &blue_job);
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("fallback"), Some("miss")), "{s}");
    let (again, s) = run(&server, &blue_job);
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("fallback"), Some("hit")), "{s}");
    assert_eq!(s["renderer"], "fallback", "{s}");
    assert!(s["renderer_version"].as_str().unwrap_or_default().starts_with("WeasyPrint"), "{s}");
    assert_eq!(pdf_of(&server, SUBMIT, &first), pdf_of(&server, SUBMIT, &again));

    // Chromium's baseline of the key becomes the blue page: the red job misses, renders, and
    // is judged against it (held: neither engine's red page matches a blue baseline).
    cli(&["check", "--update", "--templates", &t, "--baselines", &b, "--report", &report]);
    cli(&["baseline", "approve", "--all", "--baselines", &b, "--reason", "blue now", "--by", "test"]);
    let (_, s) = run(&server, &red_job);
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("held"), Some("miss")), "{s}");
    let (_, s) = run(&server, &red_job);
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("held"), Some("miss")), "held is never cached: {s}");
    // And the blue job now ships from Chromium: another key (Chromium's baseline changed).
    let (_, s) = run(&server, &blue_job);
    assert_eq!((s["state"].as_str(), s["cache"].as_str()), (Some("done"), Some("miss")), "{s}");
}
