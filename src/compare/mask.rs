//! Masks: rectangles of a page the pixel comparison ignores (a date, a barcode), as
//! Playwright's `mask` does.
//!
//! A template declares them in `template.json` in CSS pixels (96 per inch) from the top-left
//! corner of the printed page, on one page or on every page. Before pixelmatch compares a
//! page, [`paint`] covers each of its masks with [`MASK_COLOUR`] in the baseline *and* the
//! candidate alike, so whatever is beneath cannot differ; the diff image shows the masked
//! areas as faded pink. Stored pages are never masked: baselines and candidates stay what was
//! printed. Pure: images in, images out.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use image::{Rgba, RgbaImage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What covers a masked area, in both images (Playwright's default mask colour, #FF00FF).
pub const MASK_COLOUR: Rgba<u8> = Rgba([255, 0, 255, 255]);

/// CSS pixels per inch: the unit masks are declared in.
pub const CSS_PX_PER_INCH: f64 = 96.0;

/// A rectangle the pixel comparison ignores, in CSS pixels (96 per inch) from the top-left
/// corner of the printed page (the paper's corner, margins included, whatever `scale` is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mask {
    /// The 1-based page it is on, or `"all"` (the default) for every page.
    #[serde(default)]
    #[schema(value_type = MaskPageSchema)]
    pub page: MaskPage,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// What it hides and why (`"issue date: changes every day"`), for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// The page a [`Mask`] is on: a number (1 is the first page), or every page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaskPage {
    #[default]
    All,
    Page(NonZeroUsize),
}

/// The OpenAPI shape of [`MaskPage`]: a page number from 1, or `"all"`.
#[derive(ToSchema)]
#[schema(as = MaskPage)]
#[allow(dead_code)]
#[serde(untagged)]
enum MaskPageSchema {
    Number(usize),
    All(String),
}

impl Serialize for MaskPage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MaskPage::All => s.serialize_str("all"),
            MaskPage::Page(n) => s.serialize_u64(n.get() as u64),
        }
    }
}

impl<'de> Deserialize<'de> for MaskPage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Number(u64),
            Text(String),
        }
        let bad = |what: String| {
            serde::de::Error::custom(format!("mask page {what} is not a page: write a page number from 1, or \"all\""))
        };
        match Wire::deserialize(d)? {
            Wire::Text(t) if t == "all" => Ok(MaskPage::All),
            Wire::Text(t) => Err(bad(format!("{t:?}"))),
            Wire::Number(n) => usize::try_from(n)
                .ok()
                .and_then(NonZeroUsize::new)
                .map(MaskPage::Page)
                .ok_or_else(|| bad(n.to_string())),
        }
    }
}

/// A masked rectangle in a raster's pixels: `x0..x1` × `y0..y1`, clipped to the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl PixelRect {
    pub fn pixels(&self) -> u64 {
        u64::from(self.x1.saturating_sub(self.x0)) * u64::from(self.y1.saturating_sub(self.y0))
    }
}

impl Mask {
    /// Why this mask cannot be used, if it cannot: every number finite, `x` and `y` at least 0,
    /// `width` and `height` above 0.
    pub fn problem(&self) -> Option<String> {
        let numbers = [("x", self.x), ("y", self.y), ("width", self.width), ("height", self.height)];
        if let Some((name, v)) = numbers.iter().find(|(_, v)| !v.is_finite()) {
            return Some(format!("mask {name} {v} is not a number of CSS pixels"));
        }
        if self.x < 0.0 || self.y < 0.0 {
            return Some(format!("mask at x {}, y {} starts off the page: x and y are from 0", self.x, self.y));
        }
        if self.width <= 0.0 || self.height <= 0.0 {
            return Some(format!(
                "mask of {}x{} covers nothing: width and height must be above 0",
                self.width, self.height
            ));
        }
        None
    }

    /// True when the mask is on page `page` (1-based).
    pub fn is_on(&self, page: usize) -> bool {
        match self.page {
            MaskPage::All => true,
            MaskPage::Page(n) => n.get() == page,
        }
    }

    /// The pixels it covers on a `width`×`height` raster drawn at `dpi`: rounded outwards, so
    /// a pixel the rectangle touches is masked, and clipped to the image (`None` when nothing
    /// of it is on the image).
    pub fn to_pixels(&self, dpi: u32, width: u32, height: u32) -> Option<PixelRect> {
        let scale = f64::from(dpi) / CSS_PX_PER_INCH;
        let clip = |v: f64, max: u32| v.clamp(0.0, f64::from(max)) as u32;
        let rect = PixelRect {
            x0: clip((self.x * scale).floor(), width),
            y0: clip((self.y * scale).floor(), height),
            x1: clip(((self.x + self.width) * scale).ceil(), width),
            y1: clip(((self.y + self.height) * scale).ceil(), height),
        };
        (rect.pixels() > 0).then_some(rect)
    }
}

/// The masks of one comparison and the resolution its rasters were drawn at.
#[derive(Debug, Clone, Copy)]
pub struct Masks<'a> {
    pub masks: &'a [Mask],
    pub dpi: u32,
}

impl Masks<'_> {
    /// No masks: every pixel counts.
    pub const NONE: Masks<'static> = Masks { masks: &[], dpi: 96 };

    /// The rectangles of page `page` (1-based) on a `width`×`height` raster.
    pub fn on_page(&self, page: usize, width: u32, height: u32) -> Vec<PixelRect> {
        self.masks.iter().filter(|m| m.is_on(page)).filter_map(|m| m.to_pixels(self.dpi, width, height)).collect()
    }
}

/// `image` with `rects` painted [`MASK_COLOUR`] (borrowed as it is when there are none).
pub fn paint<'i>(image: &'i RgbaImage, rects: &[PixelRect]) -> Cow<'i, RgbaImage> {
    if rects.is_empty() {
        return Cow::Borrowed(image);
    }
    let mut out = image.clone();
    for r in rects {
        for y in r.y0..r.y1.min(out.height()) {
            for x in r.x0..r.x1.min(out.width()) {
                out.put_pixel(x, y, MASK_COLOUR);
            }
        }
    }
    Cow::Owned(out)
}

/// Pixels covered by at least one of `rects` (overlaps counted once).
pub fn covered(rects: &[PixelRect], width: u32, height: u32) -> u64 {
    if rects.len() <= 1 {
        return rects.first().map_or(0, PixelRect::pixels);
    }
    let mut n = 0;
    for y in 0..height {
        for x in 0..width {
            if rects.iter().any(|r| (r.x0..r.x1).contains(&x) && (r.y0..r.y1).contains(&y)) {
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(json: &str) -> Mask {
        serde_json::from_str(json).expect("a mask")
    }

    #[test]
    fn pages_read_as_a_number_or_all() {
        assert_eq!(mask(r#"{"x": 1, "y": 2, "width": 3, "height": 4}"#).page, MaskPage::All);
        assert_eq!(mask(r#"{"page": "all", "x": 1, "y": 2, "width": 3, "height": 4}"#).page, MaskPage::All);
        let m = mask(r#"{"page": 2, "x": 1, "y": 2, "width": 3, "height": 4}"#);
        assert!(m.is_on(2) && !m.is_on(1));
        assert_eq!(serde_json::to_value(&m).unwrap()["page"], 2);
        for bad in [r#"0"#, r#""first""#] {
            let json = format!(r#"{{"page": {bad}, "x": 1, "y": 2, "width": 3, "height": 4}}"#);
            let err = serde_json::from_str::<Mask>(&json).unwrap_err().to_string();
            assert!(err.contains("write a page number from 1, or \"all\""), "{err}");
        }
        let err = serde_json::from_str::<Mask>(r#"{"x": 1, "y": 2, "w": 3, "height": 4}"#).unwrap_err().to_string();
        assert!(err.contains("unknown field `w`"), "{err}");
    }

    #[test]
    fn css_pixels_become_raster_pixels_rounded_outwards_and_clipped() {
        let m = mask(r#"{"x": 10, "y": 20.5, "width": 30, "height": 9.6}"#);
        // 150 dpi: 1 CSS px = 1.5625 raster px.
        assert_eq!(m.to_pixels(150, 1000, 1000), Some(PixelRect { x0: 15, y0: 32, x1: 63, y1: 48 }));
        assert_eq!(m.to_pixels(96, 1000, 1000), Some(PixelRect { x0: 10, y0: 20, x1: 40, y1: 31 }));
        assert_eq!(m.to_pixels(96, 25, 1000), Some(PixelRect { x0: 10, y0: 20, x1: 25, y1: 31 }));
        assert_eq!(m.to_pixels(96, 5, 1000), None);
        assert_eq!(
            mask(r#"{"x": 0, "y": 0, "width": 0, "height": 4}"#).problem().unwrap(),
            "mask of 0x4 covers nothing: width and height must be above 0"
        );
        assert!(mask(r#"{"x": -1, "y": 0, "width": 1, "height": 4}"#).problem().unwrap().contains("off the page"));
        assert_eq!(m.problem(), None);
    }

    #[test]
    fn painting_covers_only_the_rectangles() {
        let img = RgbaImage::from_pixel(10, 10, Rgba([1, 2, 3, 255]));
        assert!(matches!(paint(&img, &[]), Cow::Borrowed(_)));
        let rects = [PixelRect { x0: 2, y0: 3, x1: 4, y1: 5 }, PixelRect { x0: 3, y0: 3, x1: 5, y1: 4 }];
        let out = paint(&img, &rects);
        assert_eq!(*out.get_pixel(2, 3), MASK_COLOUR);
        assert_eq!(*out.get_pixel(4, 3), MASK_COLOUR);
        assert_eq!(*out.get_pixel(4, 4), Rgba([1, 2, 3, 255]));
        assert_eq!(covered(&rects, 10, 10), 5);
    }
}
