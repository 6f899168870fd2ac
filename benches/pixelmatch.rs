//! pixelmatch on an A4 page at 150 DPI (1240x1754 px of glyph-like strokes): the Rust port
//! against npm pixelmatch 7.2.0 on the same pixels.
//!
//! ```text
//! cargo bench --bench pixelmatch
//! ```
//!
//! The node rows need `npm ci --prefix tests/it/support/pixelmatch-ref`; without node they are
//! skipped with a note. Node times come from inside node (`run.mjs --bench`: a warm-up call,
//! then the mean of N calls), so process start and file reading are not counted.

#[path = "../tests/it/support/scenes.rs"]
mod scenes;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use image::RgbaImage;
use pixelproof::compare::diff_images;
use pixelproof::compare::pixelmatch::{pixelmatch, Options};
use scenes::{text_paints, Ground, Rng, Scene};

const W: usize = 1240;
const H: usize = 1754;

/// The page, the page with one "word" edited, and the page moved down one pixel.
fn pages() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(0xA4);
    let page = Scene::new(W, H, Ground::Flat([255, 255, 255, 255]), text_paints(&mut rng, W, H));
    let mut edited = page.clone();
    let word = edited.paints.len() / 2;
    for p in &mut edited.paints[word..word + 8] {
        p.shape = p.shape.moved(1.0, 0.0);
    }
    (page.render(), edited.render(), page.moved(0.0, 1.0).render())
}

fn node_script() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/pixelmatch-ref");
    let ok = dir.join("node_modules/pixelmatch/package.json").exists()
        && Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: node rows skipped: run `npm ci --prefix tests/it/support/pixelmatch-ref` (needs Node.js 18+)");
    }
    ok.then(|| dir.join("run.mjs"))
}

/// Time of `iters` calls of npm pixelmatch on two raw RGBA files, as measured inside node.
fn node_time(script: &Path, a: &Path, b: &Path, iters: u64) -> Duration {
    let out = Command::new("node")
        .arg(script)
        .arg("--bench")
        .args([a, b])
        .args([W.to_string(), H.to_string(), iters.to_string()])
        .output()
        .expect("run node");
    assert!(out.status.success(), "node failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("node prints JSON");
    let ms = v["ms_per_call"].as_f64().expect("ms_per_call");
    Duration::from_secs_f64(ms * iters as f64 / 1000.0)
}

fn bench(c: &mut Criterion) {
    let (page, word, shifted) = pages();
    let same = page.clone();
    let options = Options::default();
    let count = |b: &[u8]| pixelmatch(&page, b, None, W as u32, H as u32, &options).expect("same size");
    eprintln!("different pixels: identical {}, one word {}, shifted {}", count(&same), count(&word), count(&shifted));

    let mut g = c.benchmark_group("pixelmatch 1240x1754");
    g.sample_size(20);
    let cases = [("identical", &same), ("one word changed", &word), ("page moved 1 px", &shifted)];
    for (name, b) in cases {
        g.bench_function(format!("rust {name}"), |bench| {
            bench.iter(|| pixelmatch(black_box(&page), black_box(b), None, W as u32, H as u32, &options))
        });
    }
    let mut out = vec![0u8; page.len()];
    g.bench_function("rust one word changed, with diff image", |bench| {
        bench.iter(|| pixelmatch(black_box(&page), black_box(&word), Some(&mut out), W as u32, H as u32, &options))
    });
    let (img_a, img_b) = (
        RgbaImage::from_raw(W as u32, H as u32, page.clone()).expect("fits"),
        RgbaImage::from_raw(W as u32, H as u32, word.clone()).expect("fits"),
    );
    g.bench_function("rust one word changed, diff_images (count + regions + image)", |bench| {
        bench.iter(|| diff_images(black_box(&img_a), black_box(&img_b), &options, true))
    });

    if let Some(script) = node_script() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a_path = dir.path().join("a.rgba");
        std::fs::write(&a_path, &page).expect("write page");
        for (name, b) in cases {
            let b_path = dir.path().join(format!("{}.rgba", name.replace(' ', "-")));
            std::fs::write(&b_path, b).expect("write page");
            g.bench_function(format!("node {name}"), |bench| {
                bench.iter_custom(|iters| node_time(&script, &a_path, &b_path, iters))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
