//! Shared by the server tests (`api`, `service_jobs`, `service_durability`, `fleet`, `review`): the real
//! `pixelproof serve` (or `worker`) process on loopback, a data directory that outlives restarts, polling
//! helpers, the job records on disk, and a loopback webhook receiver.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde_json::Value;

pub const SUBMIT_TOKEN: &str = "ci:submit:submit-secret-0123456789";
pub const OPERATOR_TOKEN: &str = "ops:operator:operator-secret-0123456789";
pub const SUBMIT: &str = "submit-secret-0123456789";
pub const OPERATOR: &str = "operator-secret-0123456789";

/// A running server on a data directory the caller owns (so a test can restart on it).
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::start_command("serve", data, extra)
    }

    /// `pixelproof COMMAND` (`serve` or `worker`) on `data`; waits for its `listening on` line.
    pub fn start_command(command: &str, data: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(command, data, extra, &[])
    }

    /// [`Server::start_command`] with extra environment variables.
    pub fn start_with_env(command: &str, data: &Path, extra: &[&str], env: &[(String, String)]) -> Server {
        Server::spawn(command, data, extra, env, Stdio::inherit())
    }

    /// `pixelproof serve` with its log (stderr, at `PIXELPROOF_LOG=info`) written to `log`.
    pub fn start_logged(data: &Path, extra: &[&str], log: &Path) -> Server {
        let file = std::fs::File::create(log).expect("create the server's log file");
        Server::spawn("serve", data, extra, &[("PIXELPROOF_LOG".into(), "info".into())], Stdio::from(file))
    }

    fn spawn(command: &str, data: &Path, extra: &[&str], env: &[(String, String)], stderr: Stdio) -> Server {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut child = super::pixelproof()
            .env_remove("PIXELPROOF_TOKENS")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args([command, "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(if extra.contains(&"--templates") {
                vec![]
            } else {
                vec!["--templates".to_string(), format!("{root}/templates")]
            })
            .args(if extra.contains(&"--baselines") {
                vec![]
            } else {
                vec!["--baselines".to_string(), format!("{root}/baselines")]
            })
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn pixelproof serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
        let addr =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Server { child, base: addr.to_string() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then the exit code (within `limit`).
    pub fn terminate(&mut self, limit: Duration) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "the server did not exit within {limit:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// kill -9 (no clean-up at all). The server's Chromium, which a SIGKILL leaves running
    /// (reparented to init), is killed too, so no test leaves browsers behind for the next.
    pub fn kill9(&mut self) {
        let browsers = crate::support::chromium_of(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !browsers.is_empty() {
            let _ = Command::new("kill").arg("-9").args(browsers.iter().map(u32::to_string)).status();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(120)).build().expect("HTTP client")
}

pub fn fixture(template: &str, name: &str) -> Value {
    let path = format!("{}/templates/{template}/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture JSON")
}

/// Submits `body`; returns the response.
pub fn post_job(server: &Server, token: &str, body: &Value, key: Option<&str>) -> Response {
    let mut req = client().post(server.url("/v1/jobs")).bearer_auth(token).json(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    req.send().expect("POST /v1/jobs")
}

/// Submits and expects 202; returns the id.
pub fn submit(server: &Server, token: &str, body: &Value) -> String {
    let r = post_job(server, token, body, None);
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: Value = r.json().expect("JSON");
    v["id"].as_str().expect("id").to_string()
}

pub fn status(server: &Server, token: &str, id: &str) -> Value {
    client()
        .get(server.url(&format!("/v1/jobs/{id}")))
        .bearer_auth(token)
        .send()
        .expect("GET job")
        .json()
        .expect("JSON")
}

pub const SETTLED: [&str; 4] = ["done", "fallback", "failed", "held"];

/// Polls until the job is done, fallback, failed or held; returns its status.
pub fn wait_settled(server: &Server, token: &str, id: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let s = status(server, token, id);
        if SETTLED.contains(&s["state"].as_str().unwrap_or_default()) {
            return s;
        }
        assert!(Instant::now() < deadline, "job {id} not settled within {limit:?}: {s}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A server on a new data directory with the submitter's token (and `extra` flags), once
/// `/readyz` answers 200 (start-up verification done).
pub fn start_ready(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let data = tempfile::tempdir().expect("temp data dir");
    let mut args = vec!["--token", SUBMIT_TOKEN];
    args.extend_from_slice(extra);
    let server = Server::start(data.path(), &args);
    let http = client();
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while http.get(server.url("/readyz")).send().map(|r| r.status() != StatusCode::OK).unwrap_or(true) {
        assert!(std::time::Instant::now() < deadline, "the server was not ready");
        std::thread::sleep(Duration::from_millis(250));
    }
    (data, server)
}

/// Pages of a PDF, counted by poppler's `pdfinfo` (independent of the server's PDFium).
pub fn pdfinfo_pages(pdf: &[u8]) -> usize {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), pdf).expect("write PDF");
    let out = Command::new("pdfinfo").arg(file.path()).output().expect("run pdfinfo");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("Pages:")).unwrap_or_else(|| panic!("no page count: {text}"));
    line["Pages:".len()..].trim().parse().expect("page count")
}

/// The text layer of a PDF, by poppler's `pdftotext` (independent of the server's PDFium).
pub fn pdf_text(pdf: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), pdf).expect("write PDF");
    let out = Command::new("pdftotext").arg(file.path()).arg("-").output().expect("run pdftotext");
    assert!(out.status.success(), "pdftotext failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The PDF of job `id`, fetched with `token`; expects 200.
pub fn pdf_of(server: &Server, token: &str, id: &str) -> Vec<u8> {
    let r = client().get(server.url(&format!("/v1/jobs/{id}/pdf"))).bearer_auth(token).send().expect("GET pdf");
    assert_eq!(r.status(), StatusCode::OK, "PDF of {id}");
    r.bytes().expect("bytes").to_vec()
}

/// An HTML job `i` of one to three pages (`i % 3 + 1`), each naming the job and the page.
pub fn html_job(i: usize) -> Value {
    let pages: Vec<String> = (0..=(i % 3))
        .map(|p| {
            format!("<section style='break-after: page; font-family: DejaVu Sans'>job {i} page {}</section>", p + 1)
        })
        .collect();
    serde_json::json!({"html": format!("<!doctype html><html><body>{}</body></html>", pages.join(""))})
}

/// Asserts a problem response: status, media type, a detail naming `needle`; returns the body.
pub fn assert_problem(r: Response, status: StatusCode, needle: &str) -> Value {
    assert_eq!(r.status(), status);
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(ct, "application/problem+json");
    let body: Value = r.json().expect("problem JSON");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"].is_string() && body["title"].is_string(), "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(needle), "detail {detail:?} should name {needle:?}");
    body
}

/// One sample of a metric series (`pixelproof_queue_jobs{state="ready"}`), 0 when absent.
pub fn metric(server: &Server, series: &str) -> f64 {
    let text =
        client().get(server.url("/metrics")).bearer_auth(OPERATOR).send().expect("metrics").text().expect("text");
    text.lines().find_map(|l| l.strip_prefix(series)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

/// A loopback HTTP receiver that answers 200 to every POST and keeps the bodies (parsed,
/// and as received with the headers, lower-cased, for signature checks). While `refuse` is
/// set it answers 503 instead, keeps nothing and counts the POSTs in `refused` (a receiver
/// that is down).
pub struct Receiver {
    pub port: u16,
    pub bodies: Arc<Mutex<Vec<Value>>>,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub refuse: Arc<std::sync::atomic::AtomicBool>,
    pub refused: Arc<std::sync::atomic::AtomicUsize>,
}

/// One POST as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let port = listener.local_addr().expect("addr").port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (seen, raw) = (bodies.clone(), received.clone());
        let refuse: Arc<std::sync::atomic::AtomicBool> = Default::default();
        let refused: Arc<std::sync::atomic::AtomicUsize> = Default::default();
        let (down, turned_away) = (refuse.clone(), refused.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut length = 0usize;
                let mut headers = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                    }
                }
                let mut body = vec![0; length];
                if down.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = reader.read_exact(&mut body);
                    turned_away.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = stream.write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                    continue;
                }
                if reader.read_exact(&mut body).is_ok() {
                    raw.lock().expect("lock").push(Received { headers, body: body.clone() });
                    if let Ok(v) = serde_json::from_slice(&body) {
                        seen.lock().expect("lock").push(v);
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        Receiver { port, bodies, received, refuse, refused }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// The POSTs received for job `id`, with their headers.
    pub fn received_for(&self, id: &str) -> Vec<(Received, Value)> {
        let all = self.received.lock().expect("lock").clone();
        all.into_iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok().map(|v| (r, v)))
            .filter(|(_, v)| v["id"] == id)
            .collect()
    }

    pub fn posts_for(&self, id: &str) -> Vec<Value> {
        self.bodies.lock().expect("lock").iter().filter(|b| b["id"] == id).cloned().collect()
    }
}

/// Every job record in the data directory.
pub fn records(data: &Path) -> Vec<Value> {
    let Ok(dirs) = std::fs::read_dir(data.join("objects/jobs")) else { return Vec::new() };
    dirs.filter_map(|d| d.ok())
        .filter_map(|d| std::fs::read(d.path().join("job.json")).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

pub fn state_of(r: &Value) -> &str {
    r["state"].as_str().unwrap_or_default()
}

pub fn count(records: &[Value], states: &[&str]) -> usize {
    records.iter().filter(|r| states.contains(&state_of(r))).count()
}

/// Waits until `n` records are settled (done/fallback/failed/held); returns how long it took.
pub fn wait_all_settled(data: &Path, n: usize, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let all = records(data);
        if all.len() == n && count(&all, &SETTLED) == n {
            return started.elapsed();
        }
        let states: Vec<&str> = all.iter().map(state_of).collect();
        assert!(started.elapsed() < limit, "not all {n} jobs settled within {limit:?}: {states:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Each record entered a terminal state exactly once; each done/fallback job has one PDF,
/// and no other job has one.
pub fn assert_settled_once(data: &Path) {
    for r in records(data) {
        let id = r["id"].as_str().unwrap_or_default();
        let history = r["history"].as_array().cloned().unwrap_or_default();
        let terminal = history.iter().filter(|t| SETTLED.contains(&t["to"].as_str().unwrap_or_default())).count();
        assert_eq!(terminal, 1, "job {id} entered a terminal state {terminal} times: {history:?}");
        let dir = data.join("objects/jobs").join(id);
        let pdfs: Vec<String> = std::fs::read_dir(&dir)
            .expect("job dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.contains("pdf"))
            .collect();
        let shipped = matches!(state_of(&r), "done" | "fallback");
        assert_eq!(pdfs, if shipped { vec!["document.pdf".to_string()] } else { vec![] }, "job {id}: {r}");
    }
}
