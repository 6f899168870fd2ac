//! A browser that crashes or hangs is replaced and the document retried once; a page that
//! never settles fails with a timeout naming the limit; the next document renders normally.

use crate::support;

use std::time::Duration;

use pixelproof::pipeline::EngineError;
use pixelproof::render::RenderError;
use support::{chromium_of, engine, html_doc};

/// A document that keeps the page busy for `ms` before it can load.
fn slow_doc(ms: u64) -> pixelproof::document::Document {
    html_doc(
        "slow",
        &format!(
            "<!doctype html><body><p>slow document</p><script>const t = Date.now(); while (Date.now() - t < {ms}) {{}}</script></body>"
        ),
        &[],
    )
}

fn plain_doc() -> pixelproof::document::Document {
    html_doc("plain", "<!doctype html><body><h1>next document</h1></body>", &[])
}

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill").args([sig, &pid.to_string()]).status().expect("run kill");
    assert!(status.success(), "kill {sig} {pid} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_never_settles_times_out_and_the_next_one_renders() {
    let engine = engine(1, Duration::from_secs(3)).await;
    let looping = html_doc("loop", "<!doctype html><body><p>x</p><script>while (true) {}</script></body>", &[]);
    let started = std::time::Instant::now();
    let err = match engine.prove(&looping).await {
        Ok(_) => panic!("an endless loop cannot print"),
        Err(e) => e,
    };
    assert!(
        matches!(err, EngineError::Render(RenderError::Timeout { limit }) if limit == Duration::from_secs(3)),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("3s") && message.contains("timeout"), "the error names the limit: {message}");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let next = engine.prove(&plain_doc()).await.expect("the next document renders");
    assert!(next.pages[0].text.contains("next document"));
    engine.chromium.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_killed_mid_document_is_replaced_and_the_document_retried() {
    let engine = engine(1, Duration::from_secs(20)).await;
    let pids = engine.chromium.idle_pids();
    assert_eq!(pids.len(), 1, "one warm browser");
    let pid = pids[0];
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        signal(pid, "-KILL");
    });
    let started = std::time::Instant::now();
    let proof = engine.prove(&slow_doc(2000)).await.expect("the document is retried on a fresh browser");
    let took = started.elapsed();
    killer.await.expect("killer task");
    assert!(proof.pages[0].text.contains("slow document"));
    // The exit is noticed while printing, not after the 20 s render timeout.
    assert!(took < Duration::from_secs(20), "the dead browser was noticed only after {took:?}");
    println!("killed mid-document: retried and printed in {:.1} s (render timeout 20 s)", took.as_secs_f64());
    assert_eq!(engine.chromium.restarts(), 1, "exactly one replacement");
    assert!(!engine.chromium.idle_pids().contains(&pid), "the dead browser is not reused");
    engine.chromium.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_browser_is_killed_and_replaced() {
    let engine = engine(1, Duration::from_secs(4)).await;
    let pid = engine.chromium.idle_pids()[0];
    // Freeze the browser: every CDP call to it now hangs.
    signal(pid, "-STOP");
    let proof = engine.prove(&plain_doc()).await.expect("the document is retried on a fresh browser");
    assert!(proof.pages[0].text.contains("next document"));
    assert_eq!(engine.chromium.restarts(), 1);
    // The frozen process was killed, not left behind.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alive = std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ");
    assert!(!alive, "the hung browser {pid} is still running");
    engine.chromium.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_over_its_memory_ceiling_is_replaced_and_the_next_document_renders() {
    use pixelproof::pipeline::{Engine, EngineConfig};
    // Every Chromium uses far more than 1 MiB, so each document ends with a replacement.
    let config = EngineConfig { pool_size: 1, memory_ceiling_mib: 1, ..EngineConfig::default() };
    let tight = Engine::start(config).await.expect("the engine starts; run scripts/setup first");
    let before = tight.chromium.idle_pids();
    tight.chromium.render(&plain_doc()).await.expect("first document");
    assert_eq!(tight.chromium.memory_recycles(), 1);
    let rendered = tight.chromium.render(&plain_doc()).await.expect("the next document renders on a fresh browser");
    assert!(rendered.pdf.starts_with(b"%PDF"));
    assert_eq!(tight.chromium.memory_recycles(), 2);
    assert!(tight.chromium.idle_pids().iter().all(|p| !before.contains(p)), "the first browser is gone");
    // With the default ceiling (1 GiB) a plain document recycles nothing.
    let normal = engine(1, Duration::from_secs(20)).await;
    normal.chromium.render(&plain_doc()).await.expect("renders");
    assert_eq!(normal.chromium.memory_recycles(), 0);
}

#[test]
fn chromium_left_behind_by_a_killed_pixelproof_is_reaped_by_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("slow.html");
    std::fs::write(&html, slow_doc(60_000).html).unwrap();
    let mut child = support::pixelproof()
        .args(["render", "--timeout", "120", "--html"])
        .arg(&html)
        .arg("-o")
        .arg(dir.path().join("out.pdf"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let owner = child.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while chromium_of(owner).is_empty() {
        assert!(std::time::Instant::now() < deadline, "pixelproof render never started Chromium");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    signal(owner, "-KILL");
    // Not waited for yet: the killed owner stays a zombie, its pid in /proc, so the engines and
    // `pixelproof` processes that other tests of this binary start meanwhile (each reaps orphans
    // as it starts) leave its Chromium alone until this test has seen it outlive its owner.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{owner}/stat")).unwrap_or_default().contains(") Z ") {
        assert!(std::time::Instant::now() < deadline, "pixelproof render {owner} did not die of kill -9");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let orphans = chromium_of(owner);
    assert!(!orphans.is_empty(), "after kill -9 of its owner, Chromium is still running (what reaping is for)");
    let _ = child.wait();
    let killed = pixelproof::render::browser::reap_orphans();
    assert!(killed >= 1, "{killed}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !chromium_of(owner).is_empty() {
        assert!(std::time::Instant::now() < deadline, "orphans still alive: {:?}", chromium_of(owner));
        std::thread::sleep(Duration::from_millis(100));
    }
}
