//! Helpers shared by the integration tests: a real engine (pinned Chromium + PDFium) and
//! loopback listeners that count every connection made to them, the built binary
//! (`pixelproof()`) and a few small things every module needs. In the submodules: the
//! `pixelproof serve` process (`service`), the shared RabbitMQ and its lock (`broker`), a real
//! S3 server (`s3`), forwarders and a client's network (`net`), synthetic baselines (`baselines`), the store contract (`store_contract`)
//! and the pixelmatch test scenes (`scenes`).
#![allow(dead_code)]

pub mod baselines;
pub mod broker;
pub mod counting;
pub mod net;
pub mod s3;
pub mod scenes;
pub mod service;
pub mod store_contract;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pixelproof::document::{Assets, Document, Origin, PrintOptions};
use pixelproof::pipeline::{Engine, EngineConfig};

/// Starts the real engine; fails the test with the setup hint when Chromium or PDFium is missing.
pub async fn engine(pool_size: usize, timeout: Duration) -> Engine {
    let config = EngineConfig { pool_size, render_timeout: timeout, ..EngineConfig::default() };
    match Engine::start(config).await {
        Ok(e) => e,
        Err(e) => panic!("the engine did not start ({e}); run scripts/setup first"),
    }
}

/// The bundled fonts, for a fallback renderer.
pub fn fonts() -> Arc<pixelproof::fonts::BundledFonts> {
    Arc::new(pixelproof::fonts::BundledFonts::load(&pixelproof::fonts::default_fonts_dir()).expect("bundled fonts"))
}

/// The process's PDFium (the pinned build), for a fallback renderer's proofs.
pub fn rasterizer() -> Arc<pixelproof::raster::Rasterizer> {
    let pdfium = pixelproof::pins::Pins::compiled().check_pdfium().expect("PDFium; run scripts/setup");
    pixelproof::raster::Rasterizer::shared(&pdfium).expect("load PDFium")
}

/// A raw-HTML document with in-memory assets.
pub fn html_doc(label: &str, html: &str, assets: &[(&str, &[u8])]) -> Document {
    let map: BTreeMap<String, Vec<u8>> = assets.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect();
    Document {
        label: label.to_string(),
        html: html.to_string(),
        assets: Assets::Memory(map),
        options: PrintOptions::default(),
        origin: Origin::Html,
        mask_selectors: Vec::new(),
        merge: Vec::new(),
    }
}

/// A loopback TCP listener that counts connections (and answers each with a tiny HTTP
/// response so a leak would visibly succeed).
pub struct CountingListener {
    pub port: u16,
    hits: Arc<AtomicUsize>,
}

impl CountingListener {
    pub fn start() -> CountingListener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut s) = stream {
                    use std::io::Write;
                    let body = "LEAKED-FROM-LOOPBACK";
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: {}\r\n\r\n{}",
                        body.len(),
                        body
                    );
                }
            }
        });
        CountingListener { port, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A document that tries every way out the issues name: http to a loopback port (link,
/// @import, @font-face, background, img, iframe, object, script, fetch, XHR) and
/// `file:///etc/hostname` in any casing (link, @import, background, img, iframe, embed).
pub fn hostile_html(port: u16) -> String {
    let http = format!("http://127.0.0.1:{port}");
    format!(
        r#"<!doctype html>
<html><head>
<meta charset="utf-8">
<link rel="stylesheet" href="{http}/link.css">
<link rel="stylesheet" href="file:///etc/hostname">
<link rel="stylesheet" href="FILE:///etc/hostname">
<style>
  @import url("{http}/import.css");
  @import url("file:///etc/hostname");
  @import url("FILE:///etc/hostname");
  @font-face {{ font-family: "Leak"; src: url("{http}/font.ttf"); }}
  body {{ font-family: "DejaVu Sans"; background-image: url("{http}/bg.png"); }}
  .file-bg {{ background-image: url("file:///etc/hostname"); height: 10px; }}
  .leak-font {{ font-family: "Leak", "DejaVu Sans"; }}
</style>
</head><body>
<h1>Sealed document</h1>
<p class="leak-font">text in a font that must not load</p>
<div class="file-bg"></div>
<img src="{http}/img.png"><img src="file:///etc/hostname"><img src="FILE:///etc/hostname">
<img src="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/%3E">
<iframe src="{http}/frame.html"></iframe>
<iframe src="file:///etc/hostname"></iframe>
<object data="{http}/object.bin"></object>
<embed src="file:///etc/hostname">
<script src="{http}/script.js"></script>
<pre id="out">results:</pre>
<script>
  const out = document.getElementById("out");
  const note = s => out.textContent += "\n" + s;
  const tries = ["{http}/fetch", "file:///etc/hostname"].map(u =>
    fetch(u).then(r => r.text()).then(t => note("FETCHED " + t)).catch(e => note("refused " + u)));
  const xhr = new XMLHttpRequest();
  try {{ xhr.open("GET", "{http}/xhr", false); xhr.send(); note("XHR " + xhr.responseText); }} catch (e) {{ note("xhr refused"); }}
  window.__done = Promise.all(tries);
</script>
</body></html>"#
    )
}

/// Copies the directory tree `from` to `to` (created as needed).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let target = to.join(entry.path().strip_prefix(from).expect("prefix"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// This test binary again, as a child process that runs only the ignored test `name` of `module`
/// (the caller's `module_path!()`): the other half of a test that needs two processes. Its stdout
/// is dropped; the caller picks what to do with stderr.
pub fn child_test(module: &str, name: &str) -> std::process::Command {
    // `module_path!()` starts with the crate (`it::fast::store_local`); test names do not.
    let module = module.split_once("::").map_or("", |(_crate, path)| path);
    let test = if module.is_empty() { name.to_string() } else { format!("{module}::{name}") };
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("the test binary's path"));
    cmd.args(["--ignored", "--exact", &test, "--nocapture", "--test-threads=1"]).stdout(std::process::Stdio::null());
    cmd
}

/// Chromium processes whose profile names `owner` (`--user-data-dir=TMP/pixelproof-chromium-{owner}-…`):
/// the browsers that the pixelproof process `owner` started, alive or left behind.
pub fn chromium_of(owner: u32) -> Vec<u32> {
    let marker =
        format!("--user-data-dir={}", std::env::temp_dir().join(format!("pixelproof-chromium-{owner}-")).display());
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if String::from_utf8_lossy(&cmd).split('\0').any(|a| a.starts_with(&marker)) {
            pids.push(pid);
        }
    }
    pids
}

/// The repository root (`templates/`, `baselines/`, `pins.env`), which is also the tests'
/// working directory.
pub fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path as a command-line argument.
pub fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The built `pixelproof` binary, to be run in the repository root as a user runs it.
pub fn pixelproof() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pixelproof"));
    cmd.current_dir(repo());
    cmd
}

/// Runs `pixelproof render … -o OUT --json` (`render` with `--json` added): asserts it
/// succeeded and wrote a PDF to `out`. Returns the PDF, the `--json` summary and stderr.
pub fn render_to_pdf(
    render: &mut std::process::Command,
    out: &std::path::Path,
) -> (Vec<u8>, serde_json::Value, String) {
    let res = render.arg("-o").arg(out).arg("--json").output().expect("run pixelproof");
    let stderr = String::from_utf8_lossy(&res.stderr).into_owned();
    assert!(res.status.success(), "{stderr}");
    let pdf = std::fs::read(out).expect("the PDF was written");
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let summary = serde_json::from_slice(&res.stdout).expect("--json prints JSON");
    (pdf, summary, stderr)
}

/// What a command printed, standard output then standard error, as a terminal shows it.
pub fn shown(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Writes `text` to `root/rel`, making the directories on the way.
pub fn write_file(root: &std::path::Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// Runs `f` to the end on a runtime of its own, for a test that is not async.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}
