//! The operator's side against the real `pixelproof serve` process on loopback: candidates
//! made by the real pipeline (`check --update` after a one-line CSS change in a copy of the
//! templates), approved in a real headless Chromium that logs in with HTTP Basic the way a
//! person does at the browser's prompt, rejected and released through the API, held jobs
//! written with the `jobs`/`store` modules, roles, path traversal, routing across a restart.

use crate::support;

use support::service::{client, Server, OPERATOR, OPERATOR_TOKEN, SUBMIT, SUBMIT_TOKEN};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pixelproof::jobs::JobStore;
use pixelproof::jobs::{JobId, JobRecord, JobState};
use pixelproof::store::LocalStore;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A copy of the certificate template and its baselines, and a data directory.
struct Workspace {
    _root: tempfile::TempDir,
    templates: PathBuf,
    baselines: PathBuf,
    data: PathBuf,
}

impl Workspace {
    fn new() -> Workspace {
        let root = tempfile::tempdir().expect("temp dir");
        let src = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (templates, baselines, data) =
            (root.path().join("templates"), root.path().join("baselines"), root.path().join("data"));
        support::copy_dir(&src.join("templates/certificate"), &templates.join("certificate"));
        support::copy_dir(&src.join("baselines/certificate"), &baselines.join("certificate"));
        std::fs::copy(src.join("baselines/audit.jsonl"), baselines.join("audit.jsonl")).expect("copy audit log");
        Workspace { _root: root, templates, baselines, data }
    }

    /// One-line CSS change (the paper colour), then `check --update`: a candidate per fixture.
    fn make_candidates(&self) {
        let css = self.templates.join("certificate/style.css");
        let text = std::fs::read_to_string(&css).expect("read css");
        assert!(text.contains("--paper: #fbf8f1;"), "the certificate's paper colour moved; update this test");
        std::fs::write(&css, text.replace("--paper: #fbf8f1;", "--paper: #9fc3ee;")).expect("write css");
        let out = support::pixelproof()
            .args(["check", "--update", "--template", "certificate", "--templates"])
            .arg(&self.templates)
            .arg("--baselines")
            .arg(&self.baselines)
            .arg("--report")
            .arg(self.data.with_file_name("report"))
            .env("PIXELPROOF_USER", "check-bot")
            .output()
            .expect("run pixelproof check --update");
        for fixture in ["default", "long_name"] {
            let manifest = self.candidate_dir(fixture).join("manifest.json");
            assert!(
                manifest.is_file(),
                "no candidate for {fixture}; check said: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn candidate_dir(&self, fixture: &str) -> PathBuf {
        self.baselines.join(".candidates/certificate").join(fixture)
    }

    fn baseline_dir(&self, fixture: &str) -> PathBuf {
        self.baselines.join("certificate").join(fixture)
    }

    fn job_store(&self) -> JobStore {
        JobStore::new(Arc::new(LocalStore::open(self.data.join("objects")).expect("open the object store")))
    }

    /// A held job with the artifacts a worker leaves (pages from the `default` candidate and
    /// baseline, its diff and verdict, a real PDF printed by `pixelproof render`).
    fn write_held_job(&self, runtime: &tokio::runtime::Runtime) -> (JobId, Vec<u8>) {
        let pdf_path = self.data.with_file_name("held.pdf");
        let status = support::pixelproof()
            .args(["render", "--template", "certificate", "--data"])
            .arg(self.templates.join("certificate/fixtures/default.json"))
            .arg("--templates")
            .arg(&self.templates)
            .arg("-o")
            .arg(&pdf_path)
            .status()
            .expect("run pixelproof render");
        assert!(status.success(), "pixelproof render failed");
        let pdf = std::fs::read(&pdf_path).expect("read the PDF");
        let candidate = self.candidate_dir("default");
        let verdict: Value =
            serde_json::from_slice(&std::fs::read(candidate.join("comparison.json")).expect("comparison"))
                .expect("json");
        // The shape the job path writes: every rule's reasons, and the pixel verdict.
        let held_verdict = json!({
            "passed": false,
            "renderer": "fallback",
            "reasons": ["fonts: InvoiceSans was replaced by DejaVu Sans on page 1"],
            "pixels": verdict["verdict"],
        });
        let id = JobId::new();
        let mut record = JobRecord::new(id, json!({"template": "certificate", "data": {}}), None);
        record.submitter = Some("billing".into());
        record.transition(JobState::Rendering, None).expect("rendering");
        record.transition(JobState::Verifying, None).expect("verifying");
        record
            .transition(JobState::Held, Some("differs from its baseline on Chromium and on the fallback"))
            .expect("held");
        record.renderer_version = Some("HeadlessChrome/156".into());
        let read = |p: PathBuf| std::fs::read(p).expect("read artifact");
        let artifacts = [
            ("candidate-001.png", read(candidate.join("page-001.png"))),
            ("baseline-001.png", read(self.baseline_dir("default").join("page-001.png"))),
            ("diff-001.png", read(candidate.join("diff-001.png"))),
            ("fallback-001.png", read(candidate.join("page-001.png"))),
            ("verdict.json", serde_json::to_vec(&held_verdict).expect("json")),
            ("held.pdf", pdf.clone()),
        ];
        let store = self.job_store();
        runtime.block_on(async {
            for (name, bytes) in artifacts {
                store.put_artifact(id, name, bytes).await.expect("put artifact");
            }
            store.save(&record).await.expect("save the held job");
        });
        (id, pdf)
    }
}

/// A server on the workspace's data, templates and baselines (see `support::service`).
fn start_with(ws: &Workspace, tokens: &[&str]) -> Server {
    let (templates, baselines) = (ws.templates.display().to_string(), ws.baselines.display().to_string());
    let mut args = vec!["--workers", "1", "--templates", &templates, "--baselines", &baselines];
    args.extend_from_slice(tokens);
    Server::start(&ws.data, &args)
}

fn start(ws: &Workspace) -> Server {
    start_with(ws, &["--token", SUBMIT_TOKEN, "--token", OPERATOR_TOKEN])
}

fn op(r: RequestBuilder) -> RequestBuilder {
    r.bearer_auth(OPERATOR)
}

fn decide(c: &Client, s: &Server, path: &str, reason: &str) -> (StatusCode, Value) {
    let r = op(c.post(s.url(path))).json(&json!({ "reason": reason })).send().expect("POST decision");
    let status = r.status();
    (status, r.json().expect("JSON answer"))
}

fn audit(c: &Client, s: &Server, limit: usize) -> Vec<Value> {
    let r = op(c.get(s.url(&format!("/v1/audit?limit={limit}")))).send().expect("GET /v1/audit");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().expect("audit JSON");
    body["entries"].as_array().expect("entries").clone()
}

fn assert_problem(status: StatusCode, body: &Value, expected: StatusCode, needle: &str) {
    assert_eq!(status, expected, "{body}");
    assert!(body["detail"].as_str().unwrap_or_default().contains(needle), "{needle:?} not in {body}");
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Clicks the middle of the element `selector` (scrolled into view) with real mouse events.
async fn click(page: &chromiumoxide::Page, selector: &str) {
    use chromiumoxide::cdp::browser_protocol::input::{DispatchMouseEventParams, DispatchMouseEventType, MouseButton};
    let js = format!(
        "(() => {{ const e = document.querySelector({selector:?}); e.scrollIntoView({{block: 'center'}}); \
         const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
    );
    let at: Vec<f64> = page.evaluate(js).await.expect("locate").into_value().expect("coordinates");
    for kind in [DispatchMouseEventType::MousePressed, DispatchMouseEventType::MouseReleased] {
        let event = DispatchMouseEventParams::builder()
            .r#type(kind)
            .x(at[0])
            .y(at[1])
            .button(MouseButton::Left)
            .click_count(1)
            .build()
            .expect("mouse event");
        page.execute(event).await.expect("dispatch the click");
    }
}

/// Opens /review in headless Chromium, answering the Basic prompt with the operator token as
/// a person would; types a reason and clicks Approve on `certificate/default`; returns the
/// text the page showed and how many times the browser was asked for credentials.
async fn approve_in_browser(base: &str, reason: &str) -> (String, usize, f64) {
    use chromiumoxide::browser::{Browser, BrowserConfig};
    use chromiumoxide::cdp::browser_protocol::fetch::EventAuthRequired;
    use chromiumoxide::cdp::browser_protocol::input::InsertTextParams;
    use futures::StreamExt;

    let profile = tempfile::tempdir().expect("profile dir");
    let mut builder = BrowserConfig::builder()
        .chrome_executable(pixelproof::pins::Pins::compiled().chromium_path())
        .no_sandbox()
        .viewport(None)
        .user_data_dir(profile.path())
        .request_timeout(Duration::from_secs(30));
    for flag in ["disable-gpu", "no-first-run", "disable-default-apps", "disable-sync", "disable-dev-shm-usage"] {
        builder = builder.arg(flag);
    }
    let (mut browser, mut handler) = Browser::launch(builder.build().expect("browser config")).await.expect("launch");
    let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let page = browser.new_page("about:blank").await.expect("new page");

    // The person at the browser's prompt: chromiumoxide answers Fetch.authRequired with these
    // credentials (the operator token as the password); the events are counted here.
    let mut auth = page.event_listener::<EventAuthRequired>().await.expect("listen authRequired");
    let prompts = Arc::new(AtomicUsize::new(0));
    let counted = prompts.clone();
    let counting = tokio::spawn(async move {
        while auth.next().await.is_some() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    page.authenticate(chromiumoxide::auth::Credentials { username: "ops".into(), password: OPERATOR.into() })
        .await
        .expect("set the credentials");
    page.goto(format!("{base}/review")).await.expect("open /review");
    let section = "#candidate-certificate-default";
    let eval = |js: String| {
        let page = page.clone();
        async move { page.evaluate(js).await.ok().and_then(|v| v.into_value::<Value>().ok()).unwrap_or(Value::Null) }
    };
    // The page's images come from /review/files with the same credentials: wait for them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let width = loop {
        let w = eval(format!("document.querySelector('{section} img.zoom')?.naturalWidth ?? -1")).await;
        let w = w.as_f64().unwrap_or(-1.0);
        if w > 0.0 || Instant::now() > deadline {
            break w;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let seen = eval("document.location.href + ' | ' + document.body.innerText.slice(0, 300)".to_string()).await;
    assert!(
        width > 0.0,
        "the review page did not show the candidate's image: {seen} (prompts: {})",
        prompts.load(Ordering::SeqCst)
    );
    // The page's script runs under its Content-Security-Policy: the overlay slider was set up.
    let slider = eval(format!(
        "getComputedStyle(document.querySelector('{section} .stack')).getPropertyValue('--pos').trim() + ' ' + \
         (document.querySelector('{section} img.over')?.src ?? '')"
    ))
    .await;
    assert!(slider.as_str().is_some_and(|s| s.starts_with("50% http")), "the overlay's script did not run: {slider}");
    // Real input events: a mouse click into the field, typed text, a mouse click on Approve.
    click(&page, &format!("{section} input[name=reason]")).await;
    page.execute(InsertTextParams::new(reason)).await.expect("type the reason");
    click(&page, &format!("{section} button.approve")).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let shown = loop {
        let text = eval(format!("document.querySelector('{section} output.result').textContent")).await;
        let text = text.as_str().unwrap_or_default().to_string();
        if text.starts_with("Done") || text.starts_with("Refused") || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = browser.close().await;
    let _ = browser.wait().await;
    counting.abort();
    handler.abort();
    (shown, prompts.load(Ordering::SeqCst), width)
}

#[test]
fn operator_reviews_candidates_and_held_jobs() {
    let ws = Workspace::new();
    ws.make_candidates();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (held, held_pdf) = ws.write_held_job(&runtime);
    let (rejected_job, _) = ws.write_held_job(&runtime);
    let candidate_png = std::fs::read(ws.candidate_dir("default").join("page-001.png")).expect("candidate page");
    let candidate_manifest: Value =
        serde_json::from_slice(&std::fs::read(ws.candidate_dir("default").join("manifest.json")).expect("manifest"))
            .expect("manifest JSON");
    let old_png = std::fs::read(ws.baseline_dir("default").join("page-001.png")).expect("baseline page");
    assert_ne!(candidate_png, old_png, "the CSS change did not change the page");
    let long_name_before = std::fs::read(ws.baseline_dir("long_name").join("manifest.json")).expect("manifest");

    let mut server = start(&ws);
    let c = client();

    // Without credentials: 401 with both challenges (the browser prompts on Basic).
    let r = c.get(server.url("/review")).send().expect("GET /review");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = r.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap_or("")).collect();
    assert!(challenges.iter().any(|c| c.starts_with("Basic")), "{challenges:?}");

    // The page lists both candidates and the held jobs, with what changed and the buttons.
    let page = op(c.get(server.url("/review"))).send().expect("GET /review").text().expect("page");
    for needle in [
        "candidate-certificate-default",
        "candidate-certificate-long_name",
        &format!("job-{held}"),
        &format!("job-{rejected_job}"),
        "px changed on page 1",
        "/review/files/candidates/certificate/default/diff-001.png",
        &format!("/review/files/jobs/{held}/held.pdf"),
        "data-action=\"approve\"",
        "data-action=\"release\"",
        "input class=\"slide\"",
        "submitted by billing",
    ] {
        assert!(page.contains(needle), "{needle:?} missing from /review");
    }

    // The held job's section: the job path's reasons, the pixel verdict's notes, the fallback's page.
    let start = page.find(&format!("id=\"job-{held}\"")).expect("held job section");
    let section = &page[start..start + page[start..].find("</section>").expect("section end")];
    for needle in [
        "fonts: InvoiceSans was replaced by DejaVu Sans on page 1",
        "pixels changed (",
        "Fallback renderer",
        &format!("/review/files/jobs/{held}/fallback-001.png"),
        &format!("/review/files/jobs/{held}/baseline-001.png"),
        "class=\"region\"",
    ] {
        assert!(section.contains(needle), "{needle:?} missing from the held job's section");
    }

    // A real browser: Basic prompt answered with the operator token, reason typed, Approve clicked.
    let reason = "paper colour changed on purpose (browser test)";
    let (shown, prompts, width) = runtime.block_on(approve_in_browser(&server.base, reason));
    assert!(shown.starts_with("Done"), "the page showed {shown:?}");
    assert!(prompts >= 1, "the browser was never asked for credentials");
    assert_eq!(width, 1754.0, "the candidate image did not load in the page (naturalWidth {width})");
    // The baseline is now the candidate: same page bytes, same checksums; the candidate is gone.
    assert_eq!(std::fs::read(ws.baseline_dir("default").join("page-001.png")).expect("page"), candidate_png);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(ws.baseline_dir("default").join("manifest.json")).expect("manifest"))
            .expect("JSON");
    assert_eq!(manifest["pages"], candidate_manifest["pages"]);
    assert_eq!((manifest["approved_by"].as_str(), manifest["reason"].as_str()), (Some("ops"), Some(reason)));
    assert!(!ws.candidate_dir("default").exists(), "the approved candidate is still there");
    let entries = audit(&c, &server, 100);
    assert_eq!(
        (&entries[0]["action"], &entries[0]["subject"], &entries[0]["by"], &entries[0]["reason"]),
        (&json!("approve_candidate"), &json!("certificate/default"), &json!("ops"), &json!(reason))
    );
    // Recorded once, with the baselines; the decisions of the committed log (written in its
    // older shape) are listed too.
    assert_eq!(entries.iter().filter(|e| e["reason"] == json!(reason)).count(), 1);
    let old = |e: &&serde_json::Value| e["by"] == "check engineer" && e["action"] == "approve_candidate";
    assert!(entries.iter().filter(old).all(|e| e["details"]["engine"] == "chromium" && e["details"]["pages"].is_u64()));
    assert!(entries.iter().any(|e| old(&e)), "{entries:?}");
    let baselines_log = std::fs::read_to_string(ws.baselines.join("audit.jsonl")).expect("baselines' audit log");
    assert!(baselines_log.lines().last().is_some_and(|l| l.contains(reason)), "{baselines_log}");
    let service_log = std::fs::read_to_string(ws.data.join("audit.jsonl")).unwrap_or_default();
    assert!(!service_log.contains(reason), "a candidate decision is written once, with the baselines");

    // Reject: an empty reason is refused; a real one removes the candidate, keeps the baseline.
    let (status, body) = decide(&c, &server, "/v1/review/candidates/certificate/long_name/reject", "  ");
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "reason");
    let (status, body) =
        decide(&c, &server, "/v1/review/candidates/certificate/long_name/reject", "blue paper is not for long names");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decision"]["action"], "reject_candidate");
    assert!(!ws.candidate_dir("long_name").exists());
    assert_eq!(std::fs::read(ws.baseline_dir("long_name").join("manifest.json")).expect("manifest"), long_name_before);
    let (status, body) = decide(&c, &server, "/v1/review/candidates/certificate/long_name/approve", "again");
    assert_problem(status, &body, StatusCode::NOT_FOUND, "no candidate");

    // Held jobs: the images come from the job's artifacts; release ships the held PDF.
    let r = op(c.get(server.url(&format!("/review/files/jobs/{held}/diff-001.png")))).send().expect("GET diff");
    assert_eq!(r.headers()["content-type"], "image/png");
    let stored = runtime.block_on(ws.job_store().get_artifact(held, "diff-001.png")).expect("store").expect("artifact");
    assert_eq!(r.bytes().expect("bytes").as_ref(), stored.as_slice());
    let (status, body) = decide(&c, &server, &format!("/v1/review/jobs/{held}/release"), "");
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "reason");
    let (status, body) =
        decide(&c, &server, &format!("/v1/review/jobs/{held}/release"), "customer accepts the fallback");
    assert_eq!(status, StatusCode::OK, "{body}");
    let record = runtime.block_on(ws.job_store().load(held)).expect("load").expect("record");
    assert_eq!(record.state, JobState::Done);
    assert_eq!(record.pdf.as_ref().map(|k| k.as_str().to_string()), Some(format!("jobs/{held}/document.pdf")));
    let shipped = runtime.block_on(ws.job_store().get_pdf(held)).expect("get pdf").expect("a PDF");
    assert_eq!(sha256(&shipped), sha256(&held_pdf));
    assert!(shipped.starts_with(b"%PDF-"));
    let (status, body) = decide(&c, &server, &format!("/v1/review/jobs/{held}/reject"), "too late");
    assert_problem(status, &body, StatusCode::CONFLICT, "not held");
    let (status, body) = decide(&c, &server, &format!("/v1/review/jobs/{rejected_job}/reject"), "wrong totals");
    assert_eq!(status, StatusCode::OK, "{body}");
    let record = runtime.block_on(ws.job_store().load(rejected_job)).expect("load").expect("record");
    assert_eq!((record.state, record.pdf.is_none()), (JobState::Failed, true));
    let entries = audit(&c, &server, 2);
    assert_eq!(entries.len(), 2);
    assert_eq!(
        (&entries[0]["action"], &entries[0]["subject"]),
        (&json!("reject_job"), &json!(rejected_job.to_string()))
    );
    assert_eq!(
        (&entries[1]["action"], &entries[1]["reason"]),
        (&json!("release_job"), &json!("customer accepts the fallback"))
    );
    assert!(
        entries.iter().all(|e| e["details"]["submitter"] == "billing"),
        "the audit names the submitter: {entries:?}"
    );
    let page = op(c.get(server.url("/review"))).send().expect("GET /review").text().expect("page");
    assert!(!page.contains(&format!("job-{held}")) && page.contains("No held jobs."), "decided jobs still listed");

    // A submit token may not review (403), anywhere.
    for (method, path) in [
        ("GET", "/review".to_string()),
        ("GET", "/v1/audit".to_string()),
        ("GET", "/v1/routing".to_string()),
        ("POST", "/v1/routing".to_string()),
        ("POST", "/v1/review/candidates/certificate/default/approve".to_string()),
        ("POST", format!("/v1/review/jobs/{held}/release")),
        ("GET", "/review/files/baselines/certificate/default/page-001.png".to_string()),
    ] {
        let r = c.request(method.parse().expect("method"), server.url(&path)).bearer_auth(SUBMIT).send().expect("send");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
        // Basic with the submit token as the password is the same token: still 403.
        let r = c
            .request(method.parse().expect("method"), server.url(&path))
            .basic_auth("x", Some(SUBMIT))
            .send()
            .expect("send");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path} (Basic)");
    }

    // Path traversal: refused with 400/404, never a file from outside.
    let passwd = std::fs::read("/etc/passwd").unwrap_or_default();
    for path in [
        "/review/files/baselines/certificate/default/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/review/files/baselines/..%2F..%2F..%2Fetc/x/passwd",
        "/review/files/baselines/certificate/..%2F..%2F/page-001.png",
        "/review/files/candidates/certificate/default/manifest.json",
        "/review/files/baselines/certificate/default/page-001.txt",
        "/review/files/..%2F..%2F/certificate/default/page-001.png",
        "/review/files/baselines/certificate/default/../../../../../../etc/passwd",
        "/review/files/jobs/..%2F..%2F..%2Fetc/passwd",
        "/review/files/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/..%2Fjob.json",
        &format!("/review/files/jobs/{held}/job.json"),
        &format!("/review/files/jobs/{held}/..%2Fjob.json"),
        &format!("/review/files/jobs/{held}/.hidden.png"),
        "/v1/review/candidates/..%2F..%2Fetc/passwd/approve",
        "/v1/review/candidates/certificate/..%2Fdefault/approve",
    ] {
        let r = if path.starts_with("/v1/") {
            op(c.post(server.url(path))).json(&json!({"reason": "traversal"})).send()
        } else {
            op(c.get(server.url(path))).send()
        }
        .expect("send");
        let status = r.status();
        let body = r.bytes().expect("body");
        assert!(matches!(status, StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND), "{path}: {status}");
        assert!(passwd.is_empty() || !body.windows(8).any(|w| passwd.starts_with(w)), "{path} leaked a file");
        assert!(!String::from_utf8_lossy(&body).contains("\"state\""), "{path} leaked a job record");
    }
    // A cross-site form cannot decide with the browser's cached Basic credentials: the body
    // must be JSON (a cross-origin JSON request needs a CORS preflight, which is not answered).
    let r = c
        .post(server.url("/v1/review/candidates/certificate/default/approve"))
        .basic_auth("ops", Some(OPERATOR))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("reason=forged")
        .send()
        .expect("form POST");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = c.request(reqwest::Method::OPTIONS, server.url("/v1/routing")).send().expect("OPTIONS");
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let (status, body) = decide(&c, &server, "/v1/review/jobs/..%2F..%2Fetc%2Fpasswd/release", "x");
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "not a job id");
    assert_eq!(server.terminate(Duration::from_secs(60)), Some(0), "the server stops on SIGTERM");
}

#[test]
fn routing_rules_are_audited_and_survive_a_restart() {
    let ws = Workspace::new();
    let c = client();
    let mut server = start(&ws);
    let rules = |s: &Server| -> Vec<Value> {
        let r = op(c.get(s.url("/v1/routing"))).send().expect("GET /v1/routing");
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().expect("JSON")["rules"].as_array().expect("rules").clone()
    };
    assert!(rules(&server).is_empty());
    let openapi = c.get(server.url("/openapi.json")).send().expect("GET /openapi.json").text().expect("text");
    for path in ["/v1/routing/{id}", "/v1/audit", "/v1/review/jobs/{id}/{action}", "/v1/review/candidates/"] {
        assert!(openapi.contains(path), "{path} missing from /openapi.json");
    }
    let add = |s: &Server, body: Value| {
        let r = op(c.post(s.url("/v1/routing"))).json(&body).send().expect("POST /v1/routing");
        let status = r.status();
        (status, r.json::<Value>().expect("JSON"))
    };
    let (status, body) =
        add(&server, json!({"match": {"template": "certificate"}, "renderer": "fallback", "note": ""}));
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "note");
    let (status, body) = add(&server, json!({"match": {"template": "../x"}, "renderer": "fallback", "note": "n"}));
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "not valid");
    let note = "Chromium 156 clips the seal; WeasyPrint does not";
    let (status, rule) =
        add(&server, json!({"match": {"template": "certificate"}, "renderer": "fallback", "note": note}));
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    assert_eq!((&rule["created_by"], &rule["renderer"]), (&json!("ops"), &json!("fallback")));
    let id = rule["id"].as_str().expect("id").to_string();
    let (status, body) =
        add(&server, json!({"match": {"template": "certificate"}, "renderer": "chromium", "note": "x"}));
    assert_problem(status, &body, StatusCode::CONFLICT, &id);
    assert_eq!(server.terminate(Duration::from_secs(60)), Some(0), "the server stops on SIGTERM");

    // Persisted: a new process reads the same table.
    let on_disk = std::fs::read_to_string(ws.data.join("routing.json")).expect("routing.json");
    assert!(on_disk.contains(&id));
    let mut server = start(&ws);
    let listed = rules(&server);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], json!(id));
    let r = op(c.delete(server.url(&format!("/v1/routing/{id}")))).send().expect("DELETE");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "a removal without a reason was accepted");
    let r = op(c.delete(server.url("/v1/routing/rule-nope?reason=x"))).send().expect("DELETE");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = op(c.delete(server.url(&format!("/v1/routing/{id}?reason=fixed%20upstream")))).send().expect("DELETE");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(rules(&server).is_empty());
    let entries = audit(&c, &server, 10);
    let ours: Vec<_> = entries
        .iter()
        .filter(|e| e["subject"] == json!(id))
        .map(|e| (e["action"].clone(), e["reason"].clone()))
        .collect();
    assert_eq!(ours, [(json!("remove_route"), json!("fixed upstream")), (json!("add_route"), json!(note))]);
    assert_eq!(server.terminate(Duration::from_secs(60)), Some(0), "the server stops on SIGTERM");
    let server = start(&ws);
    assert!(rules(&server).is_empty(), "the removed rule came back after a restart");
}

#[test]
fn without_tokens_the_review_is_open_on_loopback() {
    let ws = Workspace::new();
    let server = start_with(&ws, &[]);
    let c = client();
    let r = c.get(server.url("/review")).send().expect("GET /review");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().expect("page").contains("No candidates."));
    let body = json!({"match": {"template": "certificate"}, "renderer": "fallback", "note": "open mode"});
    let r = c.post(server.url("/v1/routing")).json(&body).send().expect("POST /v1/routing");
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c.get(server.url("/v1/audit")).send().expect("GET /v1/audit");
    let entries: Value = r.json().expect("JSON");
    assert_eq!(
        (&entries["entries"][0]["by"], &entries["entries"][0]["action"]),
        (&json!("anonymous"), &json!("add_route"))
    );
}

/// The review page forbids framing and allows only its own script (by hash); decisions and
/// routing changes sent cross-site by a browser are refused, while clients that are not
/// browsers (no `Sec-Fetch-Site`, no `Origin`) are not affected; files are downloads.
#[test]
fn the_review_page_cannot_be_framed_and_cross_site_decisions_are_refused() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let ws = Workspace::new();
    ws.make_candidates();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (held, _) = ws.write_held_job(&runtime);
    let server = start(&ws);
    let c = client();

    let page = op(c.get(server.url("/review"))).send().expect("GET /review");
    assert_eq!(page.status(), StatusCode::OK);
    let header = |name: &str| page.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let csp = header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src 'unsafe-inline'"), "{csp}");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("cache-control"), "no-store");
    let body = page.text().expect("page");
    // The inline script is the one the policy names by hash, so browsers run it (and no other).
    let script = body.split("<script>").nth(1).and_then(|s| s.split("</script>").next()).expect("inline script");
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()));
    assert!(csp.contains(&format!("script-src 'sha256-{hash}'")), "{csp} does not allow the page's script");
    assert_eq!(body.matches("<script").count(), 1, "one script on the page");

    // A cross-site approval, as a browser would send it from another site: refused, nothing moves.
    let before = audit(&c, &server, 100).len();
    let approve = "/v1/review/candidates/certificate/default/approve";
    for (name, value) in
        [("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Site", "same-site"), ("Origin", "https://evil.example")]
    {
        let r = op(c.post(server.url(approve)))
            .header(name, value)
            .json(&json!({"reason": "forged"}))
            .send()
            .expect("POST");
        let status = r.status();
        let body: Value = r.json().expect("problem");
        assert_problem(status, &body, StatusCode::FORBIDDEN, "changes state");
        assert!(ws.candidate_dir("default").exists(), "a cross-site approval ({name}: {value}) moved the candidate");
    }
    let r = op(c.post(server.url(&format!("/v1/review/jobs/{held}/release"))))
        .header("Origin", "http://127.0.0.1:1")
        .json(&json!({"reason": "forged"}))
        .send()
        .expect("POST");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Routing: add (a client without browser headers), then a cross-site DELETE is refused.
    let rule: Value = op(c.post(server.url("/v1/routing")))
        .json(&json!({"match": {"template": "certificate"}, "renderer": "fallback", "note": "test"}))
        .send()
        .expect("POST /v1/routing")
        .json()
        .expect("rule");
    let id = rule["id"].as_str().expect("rule id").to_string();
    let r = op(c.delete(server.url(&format!("/v1/routing/{id}?reason=forged"))))
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .expect("DELETE");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let rules: Value = op(c.get(server.url("/v1/routing"))).send().expect("GET").json().expect("rules");
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(1), "the cross-site DELETE removed the rule");
    assert_eq!(audit(&c, &server, 100).len(), before + 1, "only the rule's addition was recorded");
    // The page's own request (same origin) and a plain client both still decide.
    let own = server.base.clone();
    let r = op(c.post(server.url(approve)))
        .header("Sec-Fetch-Site", "same-origin")
        .header("Origin", own)
        .json(&json!({"reason": "from the review page"}))
        .send()
        .expect("POST");
    assert_eq!(r.status(), StatusCode::OK);

    // A held job's PDF is a download, never shown in this origin.
    let pdf = op(c.get(server.url(&format!("/v1/jobs/{held}/artifacts/held.pdf")))).send().expect("GET artifact");
    assert_eq!(pdf.status(), StatusCode::OK);
    let disposition = pdf.headers().get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(disposition, "attachment; filename=\"held.pdf\"");
}
