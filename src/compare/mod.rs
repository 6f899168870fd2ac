//! Compare: a candidate's pages against a baseline's.
//!
//! `pixelmatch` is a faithful port of the pixelmatch algorithm (npm `pixelmatch@7.2.0`);
//! `regions` turns changed pixels into bounding boxes; `mask` hides a template's declared
//! rectangles, and the boxes its selectors printed as (read from an engine's probe), from the
//! comparison; `verdict` applies the rule that decides whether a page set passes. Nothing here
//! renders, reads files or knows about templates: images and text in, numbers and images out. [`diff_images`] is the one call
//! that does pixelmatch + regions (+ diff image) for two decoded images.

pub mod mask;
pub mod pixelmatch;
pub mod regions;
pub mod verdict;

use image::RgbaImage;

use self::pixelmatch::{Options, PixelmatchError};
use self::regions::{ChangedMask, Region};

/// Two images compared: pixelmatch's count, where the changes are and, if asked, the diff image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDiff {
    pub width: u32,
    pub height: u32,
    /// Pixels pixelmatch counts as different.
    pub diff_pixels: u64,
    /// width × height.
    pub total_pixels: u64,
    /// Boxes of the changed pixels (merged with [`regions::DEFAULT_GAP`]).
    pub regions: Vec<Region>,
    /// pixelmatch's diff image (transparent where `diff_mask` leaves pixels alone).
    pub diff_image: Option<RgbaImage>,
}

impl ImageDiff {
    /// diff_pixels / total_pixels (0 for an empty image).
    pub fn ratio(&self) -> f64 {
        if self.total_pixels == 0 {
            0.0
        } else {
            self.diff_pixels as f64 / self.total_pixels as f64
        }
    }
}

/// Runs pixelmatch on two images of the same size and finds the changed regions; draws the
/// diff image when `want_image`. Fails with [`PixelmatchError::SizeMismatch`] if the sizes differ.
pub fn diff_images(
    a: &RgbaImage,
    b: &RgbaImage,
    options: &Options,
    want_image: bool,
) -> Result<ImageDiff, PixelmatchError> {
    let (width, height) = a.dimensions();
    if b.dimensions() != (width, height) {
        return Err(PixelmatchError::SizeMismatch {
            a_width: width,
            a_height: height,
            b_width: b.width(),
            b_height: b.height(),
        });
    }
    let mut diff_image = want_image.then(|| RgbaImage::new(width, height));
    let mut mask = ChangedMask::new(width, height);
    let diff_pixels = pixelmatch::pixelmatch_with(
        pixels(a, width, height)?,
        pixels(b, width, height)?,
        diff_image.as_deref_mut(),
        width,
        height,
        options,
        |x, y| mask.set(x, y),
    )?;
    Ok(ImageDiff {
        width,
        height,
        diff_pixels,
        total_pixels: u64::from(width) * u64::from(height),
        regions: regions::find_regions(&mask, regions::DEFAULT_GAP),
        diff_image,
    })
}

/// The image's pixel bytes (an `ImageBuffer` may hold a longer buffer than its pixels).
fn pixels(img: &RgbaImage, width: u32, height: u32) -> Result<&[u8], PixelmatchError> {
    let raw = img.as_raw();
    Ok(raw.get(..pixelmatch::rgba_len(width, height)?).unwrap_or(raw))
}

/// A ratio as a percentage for people, to 3 significant digits: "0.0241", "0.05", "12.5", "100".
pub fn format_percent(ratio: f64) -> String {
    format_percent_digits(ratio, 3)
}

/// A ratio as a percentage to `significant` digits, trailing zeros trimmed.
pub fn format_percent_digits(ratio: f64, significant: usize) -> String {
    let pct = ratio * 100.0;
    let decimals = if pct == 0.0 || !pct.is_finite() {
        0
    } else {
        (significant as f64 - 1.0 - pct.abs().log10().floor()).clamp(0.0, 20.0) as usize
    };
    let s = format!("{pct:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_formatting() {
        assert_eq!(format_percent(0.0), "0");
        assert_eq!(format_percent(0.0005), "0.05");
        assert_eq!(format_percent(0.000241), "0.0241");
        assert_eq!(format_percent(0.00256), "0.256");
        assert_eq!(format_percent(0.125), "12.5");
        assert_eq!(format_percent(0.45678), "45.7");
        assert_eq!(format_percent(1.0), "100");
        assert_eq!(format_percent(0.000_000_46), "0.000046");
        assert_eq!(format_percent_digits(1088.0 / 2_174_960.0, 3), "0.05");
        assert_eq!(format_percent_digits(1088.0 / 2_174_960.0, 4), "0.05002");
    }

    #[test]
    fn diff_images_finds_count_regions_and_image() {
        let a = RgbaImage::from_pixel(40, 30, image::Rgba([255, 255, 255, 255]));
        let mut b = a.clone();
        for (x, y) in [(5, 5), (6, 5), (30, 20)] {
            b.put_pixel(x, y, image::Rgba([0, 0, 0, 255]));
        }
        let d = diff_images(&a, &b, &Options::default(), true).expect("same size");
        assert_eq!((d.width, d.height, d.diff_pixels, d.total_pixels), (40, 30, 3, 1200));
        assert_eq!(
            d.regions,
            vec![
                Region { x: 5, y: 5, width: 2, height: 1, pixels: 2 },
                Region { x: 30, y: 20, width: 1, height: 1, pixels: 1 }
            ]
        );
        let img = d.diff_image.as_ref().expect("asked for the image");
        assert_eq!(img.get_pixel(30, 20).0, [255, 0, 0, 255]);
        // White background at alpha 0.1 stays white.
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255, 255]);
        assert!((d.ratio() - 0.0025).abs() < 1e-12);
    }

    #[test]
    fn diff_images_refuses_different_sizes() {
        let a = RgbaImage::new(10, 20);
        let b = RgbaImage::new(20, 10);
        let err = diff_images(&a, &b, &Options::default(), false).expect_err("sizes differ");
        assert!(matches!(err, PixelmatchError::SizeMismatch { a_width: 10, a_height: 20, b_width: 20, b_height: 10 }));
        assert!(err.to_string().contains("10x20 vs 20x10"), "{err}");
    }
}
