//! `pixelproof diff` as a user runs it: the built binary on PNG files, exit codes 0/1/2,
//! the text and JSON reports, and the diff image it writes.

use std::path::{Path, PathBuf};
use std::process::Output;

use image::{Rgba, RgbaImage};
use serde_json::Value;

const WHITE: Rgba<u8> = Rgba([255, 255, 255, 255]);
const BLACK: Rgba<u8> = Rgba([0, 0, 0, 255]);

fn pixelproof_diff(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = crate::support::pixelproof();
    cmd.arg("diff");
    for a in args {
        cmd.arg(a);
    }
    cmd.output().expect("run pixelproof")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `pixelproof diff` with `args`, expects exit code `expected`, and returns the diff image
/// it wrote to `diff`.
fn diff_image(args: &[&dyn AsRef<std::ffi::OsStr>], diff: &Path, expected: i32) -> RgbaImage {
    let out = pixelproof_diff(args);
    assert_eq!(code(&out), expected, "{}", stderr(&out));
    image::open(diff).expect("the diff image is a PNG").into_rgba8()
}

fn save(dir: &Path, name: &str, img: &RgbaImage) -> PathBuf {
    let path = dir.join(name);
    img.save(&path).expect("write test PNG");
    path
}

/// A white 60x40 page, and the same with two changes: a 3x2 black block and one black pixel.
fn page_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let a = RgbaImage::from_pixel(60, 40, WHITE);
    let mut b = a.clone();
    for (x, y) in [(10, 5), (11, 5), (12, 5), (10, 6), (11, 6), (12, 6), (50, 30)] {
        b.put_pixel(x, y, BLACK);
    }
    (save(dir, "a.png", &a), save(dir, "b.png", &b))
}

/// Left half black, right half white; in b one edge pixel is grey (anti-aliasing).
fn edge_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let a = RgbaImage::from_fn(10, 10, |x, _| if x < 5 { BLACK } else { WHITE });
    let mut b = a.clone();
    b.put_pixel(5, 5, Rgba([128, 128, 128, 255]));
    (save(dir, "edge-a.png", &a), save(dir, "edge-b.png", &b))
}

#[test]
fn identical_images_exit_0() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, _) = page_pair(dir.path());
    let out = pixelproof_diff(&[&a, &a]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "different pixels: 0 of 2400 (0 %)\n");
}

#[test]
fn different_images_exit_1_with_count_and_regions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = page_pair(dir.path());
    let out = pixelproof_diff(&[&a, &b]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "different pixels: 7 of 2400 (0.292 %)\nregions: 2\n  3x2 at 10,5: 6 px\n  1x1 at 50,30: 1 px\n"
    );
}

#[test]
fn json_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = page_pair(dir.path());
    let out = pixelproof_diff(&[&a, &b, &"--json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["diff_pixels"], 7);
    assert_eq!(v["total_pixels"], 2400);
    assert_eq!(v["width"], 60);
    assert_eq!(v["height"], 40);
    assert_eq!(v["identical"], false);
    assert_eq!(v["threshold"], 0.1);
    assert_eq!(v["a"], a.display().to_string());
    assert_eq!(v["output"], Value::Null);
    assert_eq!(
        v["regions"],
        serde_json::json!([
            {"x": 10, "y": 5, "width": 3, "height": 2, "pixels": 6},
            {"x": 50, "y": 30, "width": 1, "height": 1, "pixels": 1}
        ])
    );

    let out = pixelproof_diff(&[&a, &a, &"--json"]);
    assert_eq!(code(&out), 0);
    let v: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!((v["diff_pixels"].as_u64(), v["identical"].as_bool()), (Some(0), Some(true)));
    assert_eq!(v["regions"], serde_json::json!([]));
}

#[test]
fn anti_aliasing_is_ignored_unless_included() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = edge_pair(dir.path());
    assert_eq!(code(&pixelproof_diff(&[&a, &b])), 0);
    let out = pixelproof_diff(&[&a, &b, &"--include-aa"]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).starts_with("different pixels: 1 of 100"), "{}", stdout(&out));
}

#[test]
fn threshold_decides_what_differs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = RgbaImage::from_pixel(8, 8, WHITE);
    let mut b = a.clone();
    b.put_pixel(4, 4, Rgba([245, 245, 245, 255]));
    let (a, b) = (save(dir.path(), "a.png", &a), save(dir.path(), "b.png", &b));
    assert_eq!(code(&pixelproof_diff(&[&a, &b])), 0);
    assert_eq!(code(&pixelproof_diff(&[&a, &b, &"--threshold", &"0.05"])), 0);
    assert_eq!(code(&pixelproof_diff(&[&a, &b, &"--threshold", &"0.03"])), 1);
    assert_eq!(code(&pixelproof_diff(&[&a, &b, &"--threshold=0"])), 1);
}

#[test]
fn output_writes_the_diff_image_with_the_chosen_colours() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = page_pair(dir.path());
    let diff = dir.path().join("diff.png");
    let out = pixelproof_diff(&[&a, &b, &"--output", &diff, &"--diff-color", &"0,0,255"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stdout(&out).ends_with(&format!("diff image: {}\n", diff.display())));
    let img = image::open(&diff).expect("diff image is a PNG").into_rgba8();
    assert_eq!(img.dimensions(), (60, 40));
    assert_eq!(img.get_pixel(10, 5).0, [0, 0, 255, 255]);
    assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255, 255]);

    // Darker pixels in B take --diff-color-alt.
    let img = diff_image(&[&a, &b, &"-o", &diff, &"--diff-color-alt", &"0,128,0", &"--alpha", &"1"], &diff, 1);
    assert_eq!(img.get_pixel(50, 30).0, [0, 128, 0, 255]);

    // A mask leaves everything but the differences transparent.
    let img = diff_image(&[&a, &b, &"-o", &diff, &"--diff-mask"], &diff, 1);
    assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0, 0]);
    assert_eq!(img.get_pixel(11, 6).0, [255, 0, 0, 255]);
}

#[test]
fn aa_colour_and_alpha_reach_the_diff_image() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = edge_pair(dir.path());
    let diff = dir.path().join("diff.png");
    let img = diff_image(&[&a, &b, &"-o", &diff, &"--aa-color", &"1,2,3", &"--alpha", &"0"], &diff, 0);
    assert_eq!(img.get_pixel(5, 5).0, [1, 2, 3, 255]);
    // alpha 0: unchanged pixels are white, even black ones.
    assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255, 255]);
}

#[test]
fn missing_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, _) = page_pair(dir.path());
    let missing = dir.path().join("nope.png");
    let out = pixelproof_diff(&[&a, &missing]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot read {}", missing.display())) && err.contains("check the path"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn not_a_png_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, _) = page_pair(dir.path());
    let text = dir.path().join("notes.png");
    std::fs::write(&text, "not an image").expect("write");
    let out = pixelproof_diff(&[&text, &a]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains(&format!("{} is not a PNG file", text.display())), "{err}");

    let truncated = dir.path().join("truncated.png");
    let bytes = std::fs::read(&a).expect("read");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let out = pixelproof_diff(&[&a, &truncated]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains(&format!("{} is not a readable PNG", truncated.display())), "{}", stderr(&out));
}

#[test]
fn size_mismatch_exits_2_naming_both_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = save(dir.path(), "portrait.png", &RgbaImage::from_pixel(20, 30, WHITE));
    let b = save(dir.path(), "landscape.png", &RgbaImage::from_pixel(30, 20, WHITE));
    let out = pixelproof_diff(&[&a, &b, &"--json"]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{} is 20x30 but {} is 30x20", a.display(), b.display())) && err.contains("same size"),
        "{err}"
    );
}

#[test]
fn bad_option_values_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = page_pair(dir.path());
    let cases: [(&[&str], &str); 4] = [
        (&["--threshold", "2"], "--threshold"),
        (&["--alpha=-1"], "--alpha"),
        (&["--diff-color", "1,2"], "R,G,B"),
        (&["--aa-color", "red"], "--aa-color"),
    ];
    for (bad, says) in cases {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&a, &b];
        args.extend(bad.iter().map(|s| s as &dyn AsRef<std::ffi::OsStr>));
        let out = pixelproof_diff(&args);
        assert_eq!(code(&out), 2, "{bad:?}");
        assert!(stderr(&out).contains(says), "{bad:?}: {}", stderr(&out));
    }
}

#[test]
fn unwritable_output_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = page_pair(dir.path());
    let diff = dir.path().join("no-such-dir/diff.png");
    let out = pixelproof_diff(&[&a, &b, &"-o", &diff]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains(&format!("cannot write the diff image to {}", diff.display())), "{}", stderr(&out));
}
