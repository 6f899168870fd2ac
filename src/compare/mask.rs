//! Masks: areas of a page the pixel comparison ignores (a date, a barcode), as Playwright's
//! `mask` does.
//!
//! A template declares them in `template.json`: a rectangle ([`RectMask`]) in CSS pixels (96
//! per inch) from the top-left corner of the printed page, on one page or on every page; or a
//! CSS selector ([`SelectorMask`]), whose elements' boxes are found where the engine printed
//! them (`render` prints the document a second time with only those boxes painted
//! [`MASK_COLOUR`], and [`locate`] reads that probe's pixels back as rectangles: a
//! [`Located`] per proof). Before pixelmatch compares a page, [`paint`] covers each of its
//! masks with [`MASK_COLOUR`] in the baseline *and* the candidate alike, so whatever is beneath
//! cannot differ; the diff image shows the masked areas as faded pink. Stored pages are never
//! masked: baselines and candidates stay what was printed. Pure: images in, images out.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use image::{Rgba, RgbaImage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What covers a masked area, in both images (Playwright's default mask colour, #FF00FF).
pub const MASK_COLOUR: Rgba<u8> = Rgba([255, 0, 255, 255]);

/// CSS pixels per inch: the unit masks are declared in.
pub const CSS_PX_PER_INCH: f64 = 96.0;

/// One of a template's masks (`template.json` `masks`): a rectangle, or the boxes of the
/// elements a CSS selector matches. An entry with a `selector` key is a [`SelectorMask`],
/// any other a [`RectMask`].
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Mask {
    Rect(RectMask),
    Selector(SelectorMask),
}

impl<'de> Deserialize<'de> for Mask {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // Read once, then as the shape its keys name, so a mistake is told in that shape's
        // words (`unknown field`, `missing field`) rather than "matched no variant".
        let value = serde_json::Value::deserialize(d)?;
        if value.get("selector").is_some() {
            SelectorMask::deserialize(value).map(Mask::Selector).map_err(D::Error::custom)
        } else {
            RectMask::deserialize(value).map(Mask::Rect).map_err(D::Error::custom)
        }
    }
}

impl Mask {
    /// Why this mask cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        match self {
            Mask::Rect(r) => r.problem(),
            Mask::Selector(_) => None,
        }
    }

    /// The selector, for a selector mask.
    pub fn selector(&self) -> Option<&Selector> {
        match self {
            Mask::Selector(s) => Some(&s.selector),
            Mask::Rect(_) => None,
        }
    }
}

/// A rectangle the pixel comparison ignores, in CSS pixels (96 per inch) from the top-left
/// corner of the printed page (the paper's corner, margins included, whatever `scale` is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RectMask {
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

/// The elements a CSS selector matches, hidden from the pixel comparison wherever they
/// printed: each element's border box, on every page a piece of it lands on, as the engine laid
/// it out for print (page breaks, `scale`, margins included). Found by Chromium; the fallback
/// engine does not find them, so its pages are compared without them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectorMask {
    /// A CSS selector (`document.querySelectorAll`'s), e.g. `".issued-on"`.
    #[schema(value_type = String)]
    pub selector: Selector,
    /// What it hides and why, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// A mask's CSS selector as `template.json` gives it: not blank, at most [`Selector::MAX_LEN`]
/// bytes, no control characters. Whether it is a selector at all is Chromium's to say (a
/// render of the template fails naming it when it is not).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Selector(String);

impl Selector {
    /// The longest selector taken, in bytes.
    pub const MAX_LEN: usize = 1024;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Selector {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("mask selector is empty: write a CSS selector, e.g. \".issued-on\"".into());
        }
        if s.len() > Selector::MAX_LEN {
            return Err(format!(
                "mask selector of {} bytes is longer than {} bytes: select the element by a class or id",
                s.len(),
                Selector::MAX_LEN
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(format!("mask selector {s:?} has a control character: write it on one line"));
        }
        Ok(Selector(s))
    }
}

impl From<Selector> for String {
    fn from(s: Selector) -> String {
        s.0
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where one proof's selector masks printed: per page, the raster rectangles [`locate`] read
/// from the engine's probe, and how many elements each selector matched. Empty when the
/// document has no selector masks, its pages were not drawn, or its engine does not find them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Located {
    /// Index 0 is page 1.
    pub pages: Vec<Vec<PixelRect>>,
    /// Each selector with the number of elements it matched, in `template.json`'s order.
    pub matched: Vec<(Selector, usize)>,
}

impl Located {
    /// The rectangles found on page `page` (1-based).
    pub fn on_page(&self, page: usize) -> &[PixelRect] {
        page.checked_sub(1).and_then(|i| self.pages.get(i)).map_or(&[], Vec::as_slice)
    }

    /// The selectors that matched no element of the document.
    pub fn unmatched(&self) -> impl Iterator<Item = &Selector> {
        self.matched.iter().filter(|(_, n)| *n == 0).map(|(s, _)| s)
    }
}

/// The page a [`RectMask`] is on: a number (1 is the first page), or every page.
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

    /// The part of it on a `width`×`height` image (`None` when nothing of it is).
    pub fn clipped(&self, width: u32, height: u32) -> Option<PixelRect> {
        let r = PixelRect { x0: self.x0, y0: self.y0, x1: self.x1.min(width), y1: self.y1.min(height) };
        (r.x0 < r.x1 && r.y0 < r.y1).then_some(r)
    }
}

impl RectMask {
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

/// The masks of one comparison: the template's, the resolution its rasters were drawn at, and
/// where its selector masks printed in the candidate.
#[derive(Debug, Clone, Copy)]
pub struct Masks<'a> {
    pub masks: &'a [Mask],
    pub dpi: u32,
    pub located: &'a Located,
}

/// No located selector masks.
static NOTHING_LOCATED: Located = Located { pages: Vec::new(), matched: Vec::new() };

impl<'a> Masks<'a> {
    /// No masks: every pixel counts.
    pub const NONE: Masks<'static> = Masks { masks: &[], dpi: 96, located: &NOTHING_LOCATED };

    /// The template's `masks` at `dpi`, with the selector masks where `located` found them.
    pub fn new(masks: &'a [Mask], dpi: u32, located: &'a Located) -> Masks<'a> {
        Masks { masks, dpi, located }
    }

    /// The rectangles of page `page` (1-based) on a `width`×`height` raster: the template's
    /// rectangles on that page, then the selector masks found there (clipped to the image).
    pub fn on_page(&self, page: usize, width: u32, height: u32) -> Vec<PixelRect> {
        let rects = self.masks.iter().filter_map(|m| match m {
            Mask::Rect(r) if r.is_on(page) => r.to_pixels(self.dpi, width, height),
            _ => None,
        });
        let found = self.located.on_page(page).iter().filter_map(|r| r.clipped(width, height));
        rects.chain(found).collect()
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
        return rects.first().map_or(0, |r| r.clipped(width, height).map_or(0, |r| r.pixels()));
    }
    let mut hit = vec![false; width as usize * height as usize];
    for r in rects.iter().filter_map(|r| r.clipped(width, height)) {
        for y in r.y0..r.y1 {
            let row = y as usize * width as usize;
            hit[row + r.x0 as usize..row + r.x1 as usize].fill(true);
        }
    }
    hit.iter().filter(|h| **h).count() as u64
}

/// True for a pixel of a mask probe that a [`MASK_COLOUR`] box covers, wholly or in part: the
/// probe prints nothing else on a white page, and magenta over white, at any coverage, keeps
/// red and blue at their full value with less green.
fn is_mask_colour(p: &Rgba<u8>) -> bool {
    let [r, g, b, a] = p.0;
    a > 0 && r == 255 && b == 255 && g < 255
}

/// The [`MASK_COLOUR`] pixels of a mask probe's page (see [`is_mask_colour`]) as rectangles
/// that cover exactly those pixels: each row's runs, a run continuing the same span of the
/// row above extending that rectangle down. A box printed whole is one rectangle; its
/// anti-aliased edge pixels are in it.
pub fn locate(probe: &RgbaImage) -> Vec<PixelRect> {
    let (width, height) = probe.dimensions();
    let mut done = Vec::new();
    // Rectangles still growing: they end on the row above.
    let mut open: Vec<PixelRect> = Vec::new();
    for y in 0..height {
        let mut runs = Vec::new();
        let mut x = 0;
        while x < width {
            if !is_mask_colour(probe.get_pixel(x, y)) {
                x += 1;
                continue;
            }
            let start = x;
            while x < width && is_mask_colour(probe.get_pixel(x, y)) {
                x += 1;
            }
            runs.push((start, x));
        }
        let mut next = Vec::with_capacity(runs.len());
        for (x0, x1) in runs {
            match open.iter().position(|r| (r.x0, r.x1) == (x0, x1)) {
                Some(i) => {
                    let mut r = open.swap_remove(i);
                    r.y1 = y + 1;
                    next.push(r);
                }
                None => next.push(PixelRect { x0, y0: y, x1, y1: y + 1 }),
            }
        }
        done.append(&mut open);
        open = next;
    }
    done.append(&mut open);
    done.sort_by_key(|r| (r.y0, r.x0));
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(json: &str) -> RectMask {
        match serde_json::from_str(json).expect("a mask") {
            Mask::Rect(r) => r,
            other => panic!("not a rectangle: {other:?}"),
        }
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

    #[test]
    fn a_selector_entry_is_a_selector_mask_and_keeps_its_shape() {
        let m: Mask = serde_json::from_str(r#"{"selector": ".issued-on", "note": "issue date"}"#).unwrap();
        assert_eq!(m.selector().map(Selector::as_str), Some(".issued-on"));
        assert_eq!(m.problem(), None);
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"selector": ".issued-on", "note": "issue date"})
        );
        let rect = r#"{"page": 2, "x": 1.0, "y": 2.0, "width": 3.0, "height": 4.0}"#;
        let r: Mask = serde_json::from_str(rect).unwrap();
        assert_eq!((r.selector(), serde_json::to_string(&r).unwrap()), (None, rect.replace(' ', "")));
        for (json, says) in [
            (r#"{"selector": "  "}"#, "mask selector is empty"),
            (r#"{"selector": "a\nb"}"#, "control character"),
            (r#"{"selector": ".a", "page": 1}"#, "unknown field `page`"),
            (r#"{"selector": 3}"#, "invalid type"),
        ] {
            let err = serde_json::from_str::<Mask>(json).unwrap_err().to_string();
            assert!(err.contains(says), "{json}: {err}");
        }
        let long = format!(r#"{{"selector": "{}"}}"#, "a".repeat(Selector::MAX_LEN + 1));
        assert!(serde_json::from_str::<Mask>(&long).unwrap_err().to_string().contains("longer than 1024 bytes"));
    }

    #[test]
    fn locating_reads_every_touched_pixel_back_as_rectangles() {
        let white = Rgba([255, 255, 255, 255]);
        let mut probe = RgbaImage::from_pixel(12, 10, white);
        // A box from (2, 1) to (6, 4) with an anti-aliased right edge (magenta at 30 % over white),
        // and an L-shaped piece below it (two rows of different spans).
        for y in 1..4 {
            for x in 2..5 {
                probe.put_pixel(x, y, MASK_COLOUR);
            }
            probe.put_pixel(5, y, Rgba([255, 178, 255, 255]));
        }
        for x in 1..9 {
            probe.put_pixel(x, 6, MASK_COLOUR);
        }
        probe.put_pixel(1, 7, MASK_COLOUR);
        // Not the mask: another colour, a near-white grey, pink without full blue.
        probe.put_pixel(10, 1, Rgba([0, 0, 0, 255]));
        probe.put_pixel(10, 2, Rgba([254, 254, 254, 255]));
        probe.put_pixel(10, 3, Rgba([255, 192, 203, 255]));
        let found = locate(&probe);
        assert_eq!(
            found,
            [
                PixelRect { x0: 2, y0: 1, x1: 6, y1: 4 },
                PixelRect { x0: 1, y0: 6, x1: 9, y1: 7 },
                PixelRect { x0: 1, y0: 7, x1: 2, y1: 8 },
            ]
        );
        assert_eq!(covered(&found, 12, 10), 12 + 8 + 1);
        // Exactly the mask-coloured pixels are covered.
        let painted = paint(&probe, &found);
        let count = |img: &RgbaImage| img.pixels().filter(|p| **p == MASK_COLOUR).count();
        assert_eq!(count(&painted), 21);
        assert_eq!(locate(&RgbaImage::from_pixel(4, 4, white)), []);
    }

    #[test]
    fn located_rectangles_join_the_template_s_on_their_page() {
        let masks = [Mask::Rect(mask(r#"{"page": 1, "x": 0, "y": 0, "width": 2, "height": 2}"#))];
        let located = Located {
            pages: vec![Vec::new(), vec![PixelRect { x0: 5, y0: 5, x1: 50, y1: 7 }]],
            matched: vec![(Selector::try_from(".a".to_string()).unwrap(), 1)],
        };
        let m = Masks::new(&masks, 96, &located);
        assert_eq!(m.on_page(1, 10, 10), [PixelRect { x0: 0, y0: 0, x1: 2, y1: 2 }]);
        assert_eq!(m.on_page(2, 10, 10), [PixelRect { x0: 5, y0: 5, x1: 10, y1: 7 }]);
        assert_eq!(m.on_page(3, 10, 10), []);
        assert_eq!(located.unmatched().count(), 0);
        assert_eq!(Masks::NONE.on_page(1, 10, 10), []);
    }
}
