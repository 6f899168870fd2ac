//! `pixelproof diff`: compares two PNG images with pixelmatch (the port of npm pixelmatch
//! 7.2.0), prints how many pixels differ and where, and can write the diff image.
//!
//! Exit codes: 0 when no pixel differs under the options, 1 when some do, 2 when an input
//! cannot be compared (missing file, not a PNG, sizes differ) or an option is invalid.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;
use image::{ImageFormat, RgbaImage};
use serde::Serialize;

use super::{CliResult, EXIT_DIFFERENT};
use crate::compare::pixelmatch::Options;
use crate::compare::regions::Region;
use crate::compare::{diff_images, format_percent};

/// Arguments of `pixelproof diff`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pixelproof diff baseline.png candidate.png
  pixelproof diff a.png b.png --output diff.png --threshold 0.05
  pixelproof diff a.png b.png --json

Exit codes: 0 no pixel differs (under --threshold); 1 some do; 2 an input cannot be compared
(missing file, not a PNG, sizes differ) or an option is invalid.")]
pub struct Args {
    /// The first image (e.g. the baseline), a PNG file.
    #[arg(value_name = "A.png")]
    pub a: PathBuf,
    /// The second image (e.g. the candidate), a PNG file of the same size.
    #[arg(value_name = "B.png")]
    pub b: PathBuf,
    /// Matching threshold from 0 to 1; smaller is more sensitive.
    #[arg(long, value_name = "T", default_value_t = 0.1, value_parser = parse_fraction)]
    pub threshold: f64,
    /// Count anti-aliased pixels as different too.
    #[arg(long)]
    pub include_aa: bool,
    /// Opacity of unchanged pixels in the diff image, from 0 (white) to 1 (full grey).
    #[arg(long, value_name = "A", default_value_t = 0.1, value_parser = parse_fraction)]
    pub alpha: f64,
    /// Colour of anti-aliased pixels in the diff image.
    #[arg(long, value_name = "R,G,B", default_value = "255,255,0", value_parser = parse_rgb)]
    pub aa_color: [u8; 3],
    /// Colour of different pixels in the diff image.
    #[arg(long, value_name = "R,G,B", default_value = "255,0,0", value_parser = parse_rgb)]
    pub diff_color: [u8; 3],
    /// Colour of pixels that are darker in B than in A (default: the --diff-color).
    #[arg(long, value_name = "R,G,B", value_parser = parse_rgb)]
    pub diff_color_alt: Option<[u8; 3]>,
    /// Draw only the differences, over a transparent background.
    #[arg(long)]
    pub diff_mask: bool,
    /// Blend semi-transparent pixels with white rather than pixelmatch's checkerboard.
    #[arg(long)]
    pub no_checkerboard: bool,
    /// Write the diff image to this PNG file.
    #[arg(short, long, value_name = "DIFF.png")]
    pub output: Option<PathBuf>,
    /// Print a JSON report instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The pixelmatch options these arguments ask for.
    pub fn options(&self) -> Options {
        Options {
            threshold: self.threshold,
            include_aa: self.include_aa,
            alpha: self.alpha,
            aa_color: self.aa_color,
            diff_color: self.diff_color,
            diff_color_alt: self.diff_color_alt,
            diff_mask: self.diff_mask,
            checkerboard: !self.no_checkerboard,
        }
    }
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Report<'a> {
    a: String,
    b: String,
    width: u32,
    height: u32,
    diff_pixels: u64,
    total_pixels: u64,
    /// diff_pixels / total_pixels.
    ratio: f64,
    identical: bool,
    threshold: f64,
    include_aa: bool,
    regions: &'a [Region],
    /// Where the diff image was written.
    output: Option<String>,
}

/// Regions listed in the text output; `--json` lists all.
const REGIONS_SHOWN: usize = 20;

pub fn run(args: Args) -> CliResult {
    let a = read_png(&args.a)?;
    let b = read_png(&args.b)?;
    if a.dimensions() != b.dimensions() {
        return Err(anyhow!(
            "{} is {}x{} but {} is {}x{}: pixelmatch compares images of the same size; render both at the same paper size and DPI",
            args.a.display(),
            a.width(),
            a.height(),
            args.b.display(),
            b.width(),
            b.height()
        ));
    }
    let diff = diff_images(&a, &b, &args.options(), args.output.is_some())
        .map_err(|e| anyhow!("cannot compare {} with {}: {e}", args.a.display(), args.b.display()))?;
    if let (Some(path), Some(image)) = (&args.output, &diff.diff_image) {
        image.save_with_format(path, ImageFormat::Png).map_err(|e| {
            anyhow!(
                "cannot write the diff image to {}: {e}; check that its directory exists and is writable",
                path.display()
            )
        })?;
    }

    if args.json {
        let report = Report {
            a: args.a.display().to_string(),
            b: args.b.display().to_string(),
            width: diff.width,
            height: diff.height,
            diff_pixels: diff.diff_pixels,
            total_pixels: diff.total_pixels,
            ratio: diff.ratio(),
            identical: diff.diff_pixels == 0,
            threshold: args.threshold,
            include_aa: args.include_aa,
            regions: &diff.regions,
            output: args.output.as_ref().map(|p| p.display().to_string()),
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "different pixels: {} of {} ({} %)",
            diff.diff_pixels,
            diff.total_pixels,
            format_percent(diff.ratio())
        );
        if !diff.regions.is_empty() {
            println!("regions: {}", diff.regions.len());
            for r in diff.regions.iter().take(REGIONS_SHOWN) {
                println!("  {}x{} at {},{}: {} px", r.width, r.height, r.x, r.y, r.pixels);
            }
            if diff.regions.len() > REGIONS_SHOWN {
                println!("  … and {} more (--json lists all)", diff.regions.len() - REGIONS_SHOWN);
            }
        }
        if let Some(path) = &args.output {
            println!("diff image: {}", path.display());
        }
    }

    Ok(if diff.diff_pixels == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DIFFERENT) })
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Reads a PNG file as 8-bit RGBA (grey, RGB, palette and 16-bit PNGs are converted).
fn read_png(path: &Path) -> anyhow::Result<RgbaImage> {
    let bytes = std::fs::read(path).map_err(|e| anyhow!("cannot read {}: {e}; check the path", path.display()))?;
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(anyhow!(
            "{} is not a PNG file (it does not start with the PNG signature); pixelproof diff compares PNG images: convert it to PNG first",
            path.display()
        ));
    }
    let image = image::load_from_memory_with_format(&bytes, ImageFormat::Png)
        .map_err(|e| anyhow!("{} is not a readable PNG ({e}); re-export the image", path.display()))?;
    Ok(image.into_rgba8())
}

/// A number from 0 to 1 (for --threshold and --alpha).
fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a number from 0 to 1, like 0.1; got `{s}`")),
    }
}

/// A colour as `R,G,B`, each 0 to 255.
fn parse_rgb(s: &str) -> Result<[u8; 3], String> {
    let err = || format!("expected a colour as R,G,B with each 0 to 255, like 255,0,0; got `{s}`");
    let parts: Vec<u8> = s.split(',').map(|p| p.trim().parse::<u8>()).collect::<Result<_, _>>().map_err(|_| err())?;
    <[u8; 3]>::try_from(parts).map_err(|_| err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions() {
        assert_eq!(parse_fraction("0"), Ok(0.0));
        assert_eq!(parse_fraction("0.05"), Ok(0.05));
        assert_eq!(parse_fraction("1"), Ok(1.0));
        for bad in ["-0.1", "1.5", "NaN", "inf", "", "abc"] {
            assert!(parse_fraction(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn colours() {
        assert_eq!(parse_rgb("255,0,0"), Ok([255, 0, 0]));
        assert_eq!(parse_rgb(" 1, 2 ,3 "), Ok([1, 2, 3]));
        for bad in ["255,0", "1,2,3,4", "256,0,0", "-1,0,0", "red", ""] {
            let err = parse_rgb(bad).expect_err(bad);
            assert!(err.contains("R,G,B"), "{err}");
        }
    }
}
