//! Parity of pixelproof's pixelmatch port with the npm package `pixelmatch@7.2.0`.
//!
//! SET-UP: these tests run the reference implementation with Node.js (18 or newer) from
//! `tests/it/support/pixelmatch-ref`, whose `package-lock.json` pins pixelmatch 7.2.0 (and pngjs
//! 7.0.0). Install it once per checkout (the project's setup script does this):
//!
//! ```text
//! npm ci --prefix tests/it/support/pixelmatch-ref
//! ```
//!
//! Without node or those node_modules the tests FAIL, on purpose, saying so: parity with the
//! npm package is the port's contract, and a skipped check proves nothing.
//!
//! Image pairs are generated deterministically (`support/scenes.rs`: seeded PRNG,
//! anti-aliased shapes, gradients, noise, glyph-like strokes) at many sizes (1x1 up to a few
//! hundred pixels, odd ones included) and compared under a grid of options (threshold 0, 0.05,
//! 0.1, 0.3, 1; includeAA; diffMask; alpha; diff and AA colours; diffColorAlt; checkerboard).
//! Every case must give the same count and a byte-identical diff image (sha256 of the buffer;
//! on a mismatch the case is re-run to show the first differing pixel). A last test runs the
//! `pixelproof diff` binary on PNG files of several colour types (RGBA, RGB, grey, grey+alpha,
//! 16-bit) against pixelmatch on pngjs's decoding of the same files.

use crate::support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pixelproof::compare::pixelmatch::{pixelmatch, Options};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::scenes::{random_paints, text_paints, Ground, Rng, Scene, Shape};

const THRESHOLDS: [f64; 5] = [0.0, 0.05, 0.1, 0.3, 1.0];
const ALPHAS: [f64; 5] = [0.1, 0.0, 0.5, 1.0, 0.37];

fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/pixelmatch-ref")
}

/// Panics, saying what to do, unless node and the pinned npm package are installed.
fn require_reference() -> PathBuf {
    let setup = "run `npm ci --prefix tests/it/support/pixelmatch-ref` (needs Node.js 18+ and npm)";
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("`node --version` failed ({}): install Node.js 18+, then {setup}", out.status),
        Err(e) => panic!("cannot run `node` ({e}): install Node.js 18+ and put it on PATH, then {setup}"),
    }
    let dir = reference_dir();
    let manifest = dir.join("node_modules/pixelmatch/package.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("the reference pixelmatch is not installed ({}: {e}): {setup}", manifest.display()));
    let version = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["version"].as_str().map(str::to_owned));
    assert_eq!(version.as_deref(), Some("7.2.0"), "node_modules holds another pixelmatch: {setup}");
    dir.join("run.mjs")
}

/// Two images to compare.
struct Pair {
    name: String,
    width: usize,
    height: usize,
    a: Vec<u8>,
    b: Vec<u8>,
}

impl Pair {
    fn new(name: &str, scene_a: &Scene, scene_b: &Scene) -> Pair {
        Pair::raw(name, scene_a.width, scene_a.height, scene_a.render(), scene_b.render())
    }

    fn raw(name: &str, width: usize, height: usize, a: Vec<u8>, b: Vec<u8>) -> Pair {
        Pair { name: format!("{name} {width}x{height}"), width, height, a, b }
    }
}

/// One comparison: a pair, options, and whether to draw a diff image (into a buffer prefilled
/// with `fill`, so that pixels pixelmatch leaves alone are checked too).
struct Case {
    pair: usize,
    options: Options,
    output: bool,
    fill: u8,
}

fn js_options(o: &Options) -> Value {
    let mut v = json!({
        "threshold": o.threshold,
        "includeAA": o.include_aa,
        "alpha": o.alpha,
        "aaColor": o.aa_color,
        "diffColor": o.diff_color,
        "diffMask": o.diff_mask,
        "checkerboard": o.checkerboard,
    });
    if let Some(alt) = o.diff_color_alt {
        v["diffColorAlt"] = json!(alt);
    }
    v
}

/// The option grid for one pair: every threshold × includeAA × diffMask × `checkerboards`,
/// with alpha, colours, diffColorAlt and output varied along the way.
fn option_grid(rng: &mut Rng, checkerboards: &[bool]) -> Vec<(Options, bool)> {
    let mut grid = Vec::new();
    for &threshold in &THRESHOLDS {
        for include_aa in [false, true] {
            for diff_mask in [false, true] {
                for &checkerboard in checkerboards {
                    let k = grid.len();
                    let options = Options {
                        threshold,
                        include_aa,
                        alpha: ALPHAS[k % ALPHAS.len()],
                        aa_color: if k % 4 == 1 { [rng.byte(), rng.byte(), rng.byte()] } else { [255, 255, 0] },
                        diff_color: if k % 5 == 2 { [rng.byte(), rng.byte(), rng.byte()] } else { [255, 0, 0] },
                        diff_color_alt: (k % 3 == 0).then_some([0, 160, 255]),
                        diff_mask,
                        checkerboard,
                    };
                    grid.push((options, k % 7 != 6));
                }
            }
        }
    }
    grid
}

struct NodeResult {
    diff: u64,
    sha256: Option<String>,
}

/// Runs the cases through node; `write` saves the diff images under `dir` (for diagnosis).
fn run_node(
    script: &Path,
    dir: &Path,
    pairs: &[Pair],
    cases: &[(usize, &Case)],
    write: bool,
) -> HashMap<usize, NodeResult> {
    let job_cases: Vec<Value> = cases
        .iter()
        .map(|&(id, c)| {
            let p = &pairs[c.pair];
            json!({
                "id": id,
                "a": dir.join(format!("{}.a.rgba", c.pair)),
                "b": dir.join(format!("{}.b.rgba", c.pair)),
                "format": "rgba",
                "width": p.width,
                "height": p.height,
                "options": js_options(&c.options),
                "output": c.output,
                "fill": c.fill,
                "write": write.then(|| dir.join(format!("{id}.node.rgba"))),
            })
        })
        .collect();
    run_node_job(script, &dir.join(if write { "job-write.json" } else { "job.json" }), job_cases)
}

/// Writes a job file of `cases` (see run.mjs) and runs it; results by case id.
fn run_node_job(script: &Path, job: &Path, cases: Vec<Value>) -> HashMap<usize, NodeResult> {
    std::fs::write(job, serde_json::to_vec(&json!({ "cases": cases })).expect("job serializes"))
        .expect("write job file");
    let out = Command::new("node").arg(script).arg(job).output().expect("run node");
    assert!(
        out.status.success(),
        "node {} failed ({}): {}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut results = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line from node ({e}): {line}"));
        let id = v["id"].as_u64().expect("id") as usize;
        if let Some(err) = v["error"].as_str() {
            panic!("node pixelmatch threw on case {id}: {err}");
        }
        let diff = v["diff"].as_u64().expect("diff count");
        results.insert(id, NodeResult { diff, sha256: v["sha256"].as_str().map(str::to_owned) });
    }
    results
}

fn describe(pair: &Pair, case: &Case) -> String {
    format!("{} with {:?} (output: {}, fill {})", pair.name, case.options, case.output, case.fill)
}

/// Runs every case through Rust and node and asserts identical counts and diff images.
/// Returns (cases, cases with a non-zero count).
fn assert_parity(label: &str, pairs: Vec<Pair>, checkerboards: &[bool], seed: u64) -> (usize, usize) {
    let script = require_reference();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = Rng::new(seed);
    let mut cases = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        std::fs::write(dir.path().join(format!("{i}.a.rgba")), &p.a).expect("write image");
        std::fs::write(dir.path().join(format!("{i}.b.rgba")), &p.b).expect("write image");
        for (options, output) in option_grid(&mut rng, checkerboards) {
            cases.push(Case { pair: i, options, output, fill: rng.byte() });
        }
    }
    let indexed: Vec<(usize, &Case)> = cases.iter().enumerate().collect();
    let node = run_node(&script, dir.path(), &pairs, &indexed, false);

    let mut mismatches = Vec::new();
    let mut nonzero = 0;
    let mut rust_outputs = HashMap::new();
    for (id, case) in &indexed {
        let p = &pairs[case.pair];
        let mut out = case.output.then(|| vec![case.fill; p.a.len()]);
        let count = pixelmatch(&p.a, &p.b, out.as_deref_mut(), p.width as u32, p.height as u32, &case.options)
            .unwrap_or_else(|e| panic!("Rust pixelmatch failed on {}: {e}", describe(p, case)));
        let theirs = node.get(id).unwrap_or_else(|| panic!("node gave no result for case {id}"));
        nonzero += usize::from(count > 0);
        let sha = out.as_ref().map(|o| hex::encode(Sha256::digest(o)));
        if count != theirs.diff || sha != theirs.sha256 {
            mismatches.push((*id, *case, count, theirs.diff));
            if let Some(o) = out {
                rust_outputs.insert(*id, o);
            }
        }
    }

    if !mismatches.is_empty() {
        // Re-run a few to show where the diff images part.
        let shown: Vec<(usize, &Case)> = mismatches.iter().take(8).map(|&(id, c, ..)| (id, c)).collect();
        run_node(&script, dir.path(), &pairs, &shown, true);
        let mut report =
            format!("{label}: {} of {} cases differ from npm pixelmatch 7.2.0:\n", mismatches.len(), cases.len());
        for &(id, case, ours, theirs) in mismatches.iter().take(8) {
            let p = &pairs[case.pair];
            report += &format!("- case {id}: {}: Rust {ours} vs node {theirs} different pixels", describe(p, case));
            if let (Some(o), Ok(n)) = (rust_outputs.get(&id), std::fs::read(dir.path().join(format!("{id}.node.rgba"))))
            {
                if let Some(i) = (0..o.len() / 4).find(|i| o[i * 4..i * 4 + 4] != n[i * 4..i * 4 + 4]) {
                    report += &format!(
                        "; first diff-image difference at ({}, {}): Rust {:?} vs node {:?}",
                        i % p.width,
                        i / p.width,
                        &o[i * 4..i * 4 + 4],
                        &n[i * 4..i * 4 + 4]
                    );
                }
            }
            report += "\n";
        }
        panic!("{report}");
    }
    eprintln!(
        "{label}: {} cases over {} image pairs match npm pixelmatch 7.2.0 ({nonzero} with differences)",
        cases.len(),
        pairs.len()
    );
    (cases.len(), nonzero)
}

const SIZES: [(usize, usize); 13] = [
    (1, 1),
    (2, 3),
    (3, 2),
    (1, 9),
    (9, 1),
    (4, 4),
    (5, 7),
    (17, 13),
    (31, 64),
    (64, 31),
    (100, 100),
    (257, 129),
    (300, 200),
];

fn opaque_pairs(seed: u64) -> Vec<Pair> {
    let mut rng = Rng::new(seed);
    let mut pairs = Vec::new();
    for (w, h) in SIZES {
        let white = Ground::Flat([255, 255, 255, 255]);
        let shapes = Scene::new(w, h, white, random_paints(&mut rng, w, h, 6, true));
        let a = shapes.render();
        pairs.push(Pair::raw("identical shapes", w, h, a.clone(), a.clone()));

        let shifted = shapes.moved(0.25, 0.4);
        pairs.push(Pair::new("sub-pixel shift", &shapes, &shifted));

        let mut moved = shapes.clone();
        let i = rng.below(moved.paints.len() as u64) as usize;
        moved.paints[i].shape =
            moved.paints[i].shape.moved(rng.range(-3.0, 3.0).round() + 0.5, rng.range(-2.0, 2.0).round());
        pairs.push(Pair::new("one shape moved", &shapes, &moved));

        let mut recoloured = shapes.clone();
        let c = &mut recoloured.paints[i].color;
        for ch in c.iter_mut().take(3) {
            *ch = ch.saturating_add(rng.below(40) as u8).saturating_sub(rng.below(40) as u8);
        }
        pairs.push(Pair::new("one shape recoloured", &shapes, &recoloured));

        let gradient = Scene {
            ground: Ground::Gradient(rng.color(true), rng.color(true)),
            paints: random_paints(&mut rng, w, h, 4, true),
            ..shapes.clone()
        };
        let a = gradient.render();
        let mut b = a.clone();
        let (x0, y0) = (rng.below(w as u64) as usize, rng.below(h as u64) as usize);
        for y in y0..(y0 + 1 + h / 4).min(h) {
            for x in x0..(x0 + 1 + w / 3).min(w) {
                let p = (y * w + x) * 4;
                b[p..p + 3].copy_from_slice(&[rng.byte(), rng.byte(), rng.byte()]);
            }
        }
        pairs.push(Pair::raw("noise patch on gradient", w, h, a.clone(), b));

        // Faint changes: ±1..8 on some pixels, around the thresholds' edges.
        let mut b = a.clone();
        for p in rng.sample(w * h, 0.15) {
            for ch in 0..3 {
                let d = 1 + rng.below(8) as i16;
                let v = i16::from(b[p * 4 + ch]) + if rng.chance(0.5) { d } else { -d };
                b[p * 4 + ch] = v.clamp(0, 255) as u8;
            }
        }
        pairs.push(Pair::raw("faint changes", w, h, a.clone(), b));

        let mut b = a.clone();
        let row = rng.below(h as u64) as usize;
        for x in 0..w {
            let p = (row * w + x) * 4;
            b[p..p + 3].copy_from_slice(&[rng.byte(), rng.byte(), rng.byte()]);
        }
        pairs.push(Pair::raw("one row changed", w, h, a, b));

        let noise = |seed| Scene::new(w, h, Ground::Noise { seed, opaque: true }, vec![]);
        pairs.push(Pair::new("noise vs noise", &noise(rng.next_u64()), &noise(rng.next_u64())));

        let a = noise(rng.next_u64()).render();
        let mut b = a.clone();
        for p in rng.sample(w * h, 0.1) {
            b[p * 4..p * 4 + 3].copy_from_slice(&a[((p * 7 + 3) % (w * h)) * 4..][..3]);
        }
        pairs.push(Pair::raw("noise, some pixels swapped", w, h, a, b));

        if w >= 17 && h >= 13 {
            let text = Scene::new(w, h, white, text_paints(&mut rng, w, h));
            let mut edited = text.clone();
            for i in rng.sample(edited.paints.len(), 0.05) {
                let p = &mut edited.paints[i];
                if rng.chance(0.5) {
                    p.shape = p.shape.moved(1.0, 0.0);
                } else {
                    p.color = [200, 30, 30, 255];
                }
            }
            pairs.push(Pair::new("text strokes edited", &text, &edited));
            let bolder = Scene {
                paints: text
                    .paints
                    .iter()
                    .map(|p| match p.shape {
                        Shape::Stroke { x0, y0, x1, y1, hw } => {
                            support::scenes::Paint { shape: Shape::Stroke { x0, y0, x1, y1, hw: hw * 1.2 }, ..*p }
                        }
                        _ => *p,
                    })
                    .collect(),
                ..text.clone()
            };
            pairs.push(Pair::new("text strokes bolder", &text, &bolder));
        }
    }
    pairs
}

fn transparent_pairs(seed: u64) -> Vec<Pair> {
    let mut rng = Rng::new(seed);
    let mut pairs = Vec::new();
    for (w, h) in [(1, 1), (2, 3), (5, 4), (33, 17), (64, 64), (120, 80)] {
        let clear = Scene::new(w, h, Ground::Flat([0, 0, 0, 0]), random_paints(&mut rng, w, h, 6, false));
        let shifted = clear.moved(0.5, 0.25);
        pairs.push(Pair::new("translucent shapes on transparent, shifted", &clear, &shifted));

        let veiled = Scene { ground: Ground::Flat([255, 255, 255, 128]), ..clear.clone() };
        let mut recoloured = veiled.clone();
        for i in rng.sample(recoloured.paints.len(), 0.5) {
            recoloured.paints[i].color[3] = recoloured.paints[i].color[3].saturating_add(60);
        }
        pairs.push(Pair::new("half-transparent ground, alpha changed", &veiled, &recoloured));

        let noise = |seed| Scene::new(w, h, Ground::Noise { seed, opaque: false }, vec![]);
        pairs.push(Pair::new("noise with alpha vs noise with alpha", &noise(rng.next_u64()), &noise(rng.next_u64())));

        let a = noise(rng.next_u64()).render();
        let mut b = a.clone();
        for p in rng.sample(w * h, 0.2) {
            b[p * 4 + 3] = rng.byte();
        }
        pairs.push(Pair::raw("alpha channel only changed", w, h, a, b));

        let opaque = Scene::new(w, h, Ground::Flat([255, 255, 255, 255]), random_paints(&mut rng, w, h, 4, true));
        let a = opaque.render();
        let mut b = a.clone();
        for p in rng.sample(w * h, 0.3) {
            b[p * 4 + 3] = if rng.chance(0.5) { 0 } else { rng.byte() };
        }
        pairs.push(Pair::raw("opaque vs partly transparent", w, h, a, b));
    }
    pairs
}

#[test]
fn opaque_images_match_npm_pixelmatch() {
    let (cases, nonzero) = assert_parity("opaque", opaque_pairs(0x5EED_0001), &[true], 0xC0FFEE);
    // The generator must produce real work for the comparison, not only identical pairs.
    assert!(cases >= 2000 && nonzero * 2 > cases, "{cases} cases, {nonzero} with differences");
}

#[test]
fn transparent_images_match_npm_pixelmatch() {
    let (cases, nonzero) = assert_parity("transparent", transparent_pairs(0x5EED_0002), &[true, false], 0xBEEF);
    assert!(cases >= 1000 && nonzero * 2 > cases, "{cases} cases, {nonzero} with differences");
}

/// `pixelproof diff` options for the same comparison as `o`.
fn cli_args(o: &Options) -> Vec<String> {
    let rgb = |c: [u8; 3]| format!("{},{},{}", c[0], c[1], c[2]);
    let mut args = vec![
        format!("--threshold={}", o.threshold),
        format!("--alpha={}", o.alpha),
        format!("--aa-color={}", rgb(o.aa_color)),
        format!("--diff-color={}", rgb(o.diff_color)),
    ];
    if let Some(alt) = o.diff_color_alt {
        args.push(format!("--diff-color-alt={}", rgb(alt)));
    }
    for (on, flag) in
        [(o.include_aa, "--include-aa"), (o.diff_mask, "--diff-mask"), (!o.checkerboard, "--no-checkerboard")]
    {
        if on {
            args.push(flag.to_owned());
        }
    }
    args
}

/// The same RGBA8 pixels (up to the format's precision) in another PNG colour type.
fn as_png_type(rgba: &[u8], w: u32, h: u32, kind: &str, rng: &mut Rng) -> image::DynamicImage {
    use image::{DynamicImage, ImageBuffer};
    let img = image::RgbaImage::from_raw(w, h, rgba.to_vec()).expect("buffer fits");
    match kind {
        "rgba8" => DynamicImage::ImageRgba8(img),
        "rgb8" => DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(img).into_rgb8()),
        "gray8" => DynamicImage::ImageLuma8(DynamicImage::ImageRgba8(img).into_luma8()),
        "grayalpha8" => DynamicImage::ImageLumaA8(DynamicImage::ImageRgba8(img).into_luma_alpha8()),
        // 16 bits with arbitrary low bits, so that both decoders must round the same way.
        "rgba16" => {
            let data: Vec<u16> = rgba
                .iter()
                .map(|&v| {
                    (u32::from(v) * 257).saturating_sub(128).saturating_add(rng.below(256) as u32).min(65535) as u16
                })
                .collect();
            DynamicImage::ImageRgba16(ImageBuffer::from_raw(w, h, data).expect("buffer fits"))
        }
        other => panic!("unknown PNG kind {other}"),
    }
}

#[test]
fn cli_on_png_files_matches_npm_pixelmatch_with_pngjs() {
    let script = require_reference();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = Rng::new(0x5EED_0003);
    let (w, h) = (97, 61);
    let text = Scene::new(w, h, Ground::Flat([255, 255, 255, 255]), text_paints(&mut rng, w, h));
    let mut edited = text.clone();
    for i in rng.sample(edited.paints.len(), 0.08) {
        edited.paints[i].shape = edited.paints[i].shape.moved(0.5, 0.5);
    }
    let clear = Scene::new(w, h, Ground::Flat([0, 0, 0, 0]), random_paints(&mut rng, w, h, 8, false));
    let moved = clear.moved(1.5, 0.0);
    let option_sets = [
        Options::default(),
        Options { threshold: 0.0, include_aa: true, diff_color_alt: Some([0, 90, 255]), ..Options::default() },
        Options { diff_mask: true, alpha: 0.5, checkerboard: false, aa_color: [9, 8, 7], ..Options::default() },
    ];

    let mut runs = Vec::new();
    let mut node_cases = Vec::new();
    for (scene_name, a, b) in [("text", &text, &edited), ("translucent shapes", &clear, &moved)] {
        for kind in ["rgba8", "rgb8", "gray8", "grayalpha8", "rgba16"] {
            let paths: Vec<PathBuf> = [a, b]
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let path = dir.path().join(format!("{}-{kind}-{i}.png", scene_name.replace(' ', "-")));
                    as_png_type(&s.render(), w as u32, h as u32, kind, &mut rng).save(&path).expect("write PNG");
                    path
                })
                .collect();
            for options in &option_sets {
                let id = runs.len();
                node_cases.push(json!({
                    "id": id, "a": paths[0], "b": paths[1], "format": "png", "options": js_options(options),
                    "output": true, "fill": 0, "write": dir.path().join(format!("{id}.node.rgba")),
                }));
                runs.push((format!("{scene_name} as {kind} with {options:?}"), paths.clone(), options.clone()));
            }
        }
    }
    let node = run_node_job(&script, &dir.path().join("png-job.json"), node_cases);

    let mut nonzero = 0;
    for (id, (name, paths, options)) in runs.iter().enumerate() {
        let diff_png = dir.path().join(format!("{id}.rust.png"));
        let out = support::pixelproof()
            .arg("diff")
            .args(&paths[..])
            .args(cli_args(options))
            .arg("--json")
            .arg("--output")
            .arg(&diff_png)
            .output()
            .expect("run pixelproof diff");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{name}: no JSON report ({e}); stderr: {}", String::from_utf8_lossy(&out.stderr))
        });
        let ours = report["diff_pixels"].as_u64().expect("diff_pixels");
        let theirs = node[&id].diff;
        assert_eq!(ours, theirs, "{name}: pixelproof diff counts {ours}, npm pixelmatch + pngjs {theirs}");
        assert_eq!(out.status.code(), Some(if ours == 0 { 0 } else { 1 }), "{name}: exit code");
        let rust_img = image::open(&diff_png).expect("diff PNG").into_rgba8().into_raw();
        let node_img = std::fs::read(dir.path().join(format!("{id}.node.rgba"))).expect("node diff image");
        assert!(rust_img == node_img, "{name}: the diff images differ");
        nonzero += usize::from(ours > 0);
    }
    eprintln!("png: {} pixelproof diff runs match npm pixelmatch + pngjs ({nonzero} with differences)", runs.len());
    assert!(nonzero * 2 > runs.len(), "only {nonzero} of {} runs found differences", runs.len());
}
