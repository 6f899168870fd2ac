//! Synthetic baselines for the store, check and report tests: an environment, pages and a
//! reviewer's decision, made without any engine.

use image::{Rgba, RgbaImage};
use pixelproof::baseline::Decision;
use pixelproof::pins::Environment;

/// The environment a synthetic baseline was made in: Chromium `chromium`, PDFium 8149, fonts
/// hashed to `fonts_hash`, 150 dpi, no fallback.
pub fn environment(chromium: &str, fonts_hash: &str) -> Environment {
    Environment {
        chromium: chromium.into(),
        pdfium_build: "8149".into(),
        fonts_hash: fonts_hash.into(),
        dpi: 150,
        fallback: None,
    }
}

/// `check`'s options for a tree under `root`: `templates/`, `baselines/`, `report/`, by "tester".
pub fn check_options(root: &std::path::Path, update: bool) -> pixelproof::check::CheckOptions {
    pixelproof::check::CheckOptions {
        templates_dir: root.join("templates"),
        baselines_dir: root.join("baselines"),
        report_dir: root.join("report"),
        update,
        user: "tester".into(),
        ..pixelproof::check::CheckOptions::default()
    }
}

/// A 60 × 80 page whose pixels depend on `seed`.
pub fn page(seed: u8) -> RgbaImage {
    RgbaImage::from_fn(60, 80, |x, y| Rgba([(x as u8).wrapping_mul(seed), (y as u8).wrapping_add(seed), seed, 255]))
}

/// alice's decision, with `reason`.
pub fn decision(reason: &str) -> Decision {
    Decision { by: "alice".into(), reason: reason.into() }
}
