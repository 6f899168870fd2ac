//! Throughput: pixelproof's warm Chromium pool against the hand-rolled peer most teams start
//! with — one `chromium-headless-shell --print-to-pdf` process per document — on the same
//! document, the same machine, in the same run. Prints figures and the ratio; asserts nothing.
//!
//! Run with `cargo bench --bench throughput` (after `scripts/setup`). `PIXELPROOF_BENCH_N`
//! sets the number of documents (default 20).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pixelproof::pipeline::{Engine, EngineConfig};
use pixelproof::template::{default_templates_dir, Catalog};

fn main() {
    let n: usize = std::env::var("PIXELPROOF_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let catalog = Catalog::load(&default_templates_dir()).expect("templates");
    let template = catalog.get("invoice").expect("the invoice template");
    let fixture =
        template.fixtures().expect("fixtures").into_iter().find(|f| f.name == "basic").expect("invoice/basic");
    let doc = template.document(&fixture.data, "invoice/basic").expect("document");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (pool_render, pool_prove, pages, fontconfig) = rt.block_on(async {
        let config = EngineConfig { pool_size: 2, render_timeout: Duration::from_secs(60), ..EngineConfig::default() };
        let engine = Arc::new(Engine::start(config).await.expect("engine"));
        // Warm-up.
        let first = engine.prove(&doc).await.expect("prove");
        let time = |prove: bool| {
            let engine = engine.clone();
            let doc = doc.clone();
            async move {
                let started = Instant::now();
                let mut tasks = Vec::new();
                for _ in 0..n {
                    let engine = engine.clone();
                    let doc = doc.clone();
                    tasks.push(tokio::spawn(async move {
                        if prove {
                            engine.prove(&doc).await.map(|_| ())
                        } else {
                            engine.chromium.render(&doc).await.map(|_| ()).map_err(Into::into)
                        }
                    }));
                }
                for t in tasks {
                    t.await.expect("task").expect("render");
                }
                started.elapsed()
            }
        };
        let render = time(false).await;
        let prove = time(true).await;
        let fontconfig = engine.chromium.fontconfig_path().to_path_buf();
        let fc_copy = std::env::temp_dir().join("pixelproof-bench-fonts.conf");
        std::fs::copy(&fontconfig, &fc_copy).expect("copy fonts.conf");
        engine.chromium.shutdown().await;
        (render, prove, first.pages.len(), fc_copy)
    });

    // The peer: a fresh headless Chromium per document printing a file:// page, as a shell
    // script or a `child_process.exec` would do. Same HTML, same assets, same fonts.
    let work = tempfile::tempdir().expect("tempdir");
    copy_dir(&template.dir, work.path());
    let html = work.path().join("bench.html");
    std::fs::write(
        &html,
        doc.html.replace(
            "/_fonts/",
            &format!("file://{}/", pixelproof::fonts::default_fonts_dir().canonicalize().expect("fonts").display()),
        ),
    )
    .expect("write html");
    let chromium = pixelproof::pins::Pins::compiled().chromium_path();
    let started = Instant::now();
    for i in 0..n {
        let profile = tempfile::tempdir().expect("profile");
        let out = work.path().join(format!("peer-{i}.pdf"));
        let status = Command::new(&chromium)
            .env("FONTCONFIG_FILE", &fontconfig)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-pdf-header-footer",
                "--allow-file-access-from-files",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--print-to-pdf={}", out.display()))
            .arg(format!("file://{}", html.display()))
            .output()
            .expect("run chromium");
        assert!(
            status.status.success() && out.exists(),
            "the peer failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }
    let peer = started.elapsed();

    let per = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
    println!("throughput: invoice/basic ({pages} pages), {n} documents, 2 cores");
    println!(
        "  pixelproof render (warm pool of 2)          {:8.1} ms/doc  {:6.2} docs/s",
        per(pool_render),
        n as f64 / pool_render.as_secs_f64()
    );
    println!(
        "  pixelproof prove (render+raster+fontcheck)  {:8.1} ms/doc  {:6.2} docs/s",
        per(pool_prove),
        n as f64 / pool_prove.as_secs_f64()
    );
    println!(
        "  peer: chromium --print-to-pdf per document  {:8.1} ms/doc  {:6.2} docs/s",
        per(peer),
        n as f64 / peer.as_secs_f64()
    );
    println!("  ratio render vs peer: {:.2}x faster", peer.as_secs_f64() / pool_render.as_secs_f64());
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).into_iter().filter_map(Result::ok) {
        let rel = entry.path().strip_prefix(from).expect("prefix");
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}
