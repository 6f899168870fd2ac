//! The verdict rule: does a candidate page set match its baseline?
//!
//! Fail if the page count differs, if any page's text layer differs, or if a page's
//! changed pixels exceed both the absolute and the relative limit. A page whose raster size
//! changed fails too: pixelmatch cannot compare it. A template's masks (`mask`: its rectangles,
//! and its selector masks where the candidate's engine found them) are painted over both pages
//! before they are compared. A masked date is in the text layer too, and the
//! text has no positions: so on a page with masks whose pixels outside them are identical, a
//! text difference is taken as the masks' and does not fail it; one changed pixel outside
//! and the text difference counts again.

use image::RgbaImage;
use serde::{Deserialize, Serialize};

use super::mask::{self, Masks};
use super::pixelmatch::Options;
use super::regions::Region;
use super::{diff_images, format_percent_digits};

/// When does a page fail? Both limits must be exceeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Changed pixels a page may have. Default 100.
    pub max_pixels: u64,
    /// Fraction of the page's pixels that may change. Default 0.0005 (0.05 %).
    pub max_ratio: f64,
    /// pixelmatch options used for each page.
    pub pixelmatch: Options,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_pixels: 100, max_ratio: 0.0005, pixelmatch: Options::default() }
    }
}

/// One page as the verdict sees it.
#[derive(Debug, Clone, Copy)]
pub struct PageInput<'a> {
    pub image: &'a RgbaImage,
    pub text: &'a str,
}

/// The verdict for one page present in both sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageVerdict {
    /// 1-based page number.
    pub page: usize,
    /// Pixels pixelmatch counts as different (all of them when the size changed).
    pub diff_pixels: u64,
    /// Pixels of the candidate page.
    pub total_pixels: u64,
    /// diff_pixels / total_pixels.
    pub ratio: f64,
    pub regions: Vec<Region>,
    pub text_changed: bool,
    /// The two rasters have different sizes (paper size changed): the page fails.
    pub size_changed: bool,
    pub passed: bool,
    /// Pixels hidden by the template's masks (painted over in both pages before comparing).
    /// When above 0 and no pixel outside them changed, a text difference is the masks' and
    /// `text_changed` stays false.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub masked_pixels: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The verdict for a whole page set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    pub baseline_pages: usize,
    pub candidate_pages: usize,
    pub pages: Vec<PageVerdict>,
    /// Why it failed, one reason per problem. Stored and served as text (`"page 2: 512 pixels
    /// changed (0.02 %)"`), the form verdicts have always had.
    #[serde(with = "reason_text")]
    pub reasons: Vec<Reason>,
}

impl Verdict {
    /// Every reason on one line, `; `-separated.
    pub fn reasons_line(&self) -> String {
        self.reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    }
}

/// One problem of a verdict, with the page it belongs to (`None`: the page set as a whole,
/// like a different page count). Its text is `page N: message`, or the message alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub page: Option<usize>,
    pub message: String,
}

impl Reason {
    /// A problem of the whole page set (or fixture).
    pub fn whole(message: impl Into<String>) -> Reason {
        Reason { page: None, message: message.into() }
    }

    /// A problem of page `page` (1-based).
    pub fn page(page: usize, message: impl Into<String>) -> Reason {
        Reason { page: Some(page), message: message.into() }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.page {
            Some(p) => write!(f, "page {p}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A verdict's reasons as stored: each one's text. Reading a stored verdict is the one place
/// text becomes a [`Reason`] again (`page N: ` names the page).
mod reason_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Reason;

    pub fn serialize<S: Serializer>(reasons: &[Reason], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(reasons.iter().map(ToString::to_string))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Reason>, D::Error> {
        Ok(Vec::<String>::deserialize(d)?.into_iter().map(|text| read(&text)).collect())
    }

    fn read(text: &str) -> Reason {
        let page = text.strip_prefix("page ").and_then(|rest| rest.split_once(": "));
        match page.and_then(|(n, message)| Some((n.parse::<usize>().ok()?, message))) {
            Some((n, message)) => Reason::page(n, message),
            None => Reason::whole(text),
        }
    }
}

/// Compares every page; returns the verdict and, per compared page, the diff image
/// (when `diff_images` is true).
///
/// Pages present in both sets are compared in order (page 1 with page 1, …); extra pages only
/// make the page count differ. A page passes when its text is identical, its size is
/// unchanged, and its changed pixels are at or below `max_pixels` *or* at or below
/// `max_ratio`. The second vector has one entry per compared page: pixelmatch's diff image,
/// or `None` when images were not asked for or the page's size changed (then `diff_pixels`
/// and `total_pixels` are both the candidate's pixel count and `regions` is empty).
pub fn judge(
    baseline: &[PageInput<'_>],
    candidate: &[PageInput<'_>],
    limits: &Limits,
    diff_images: bool,
) -> (Verdict, Vec<Option<RgbaImage>>) {
    judge_masked(baseline, candidate, limits, Masks::NONE, diff_images)
}

/// [`judge`], with `masks` painted over both pages of each pair before they are compared.
pub fn judge_masked(
    baseline: &[PageInput<'_>],
    candidate: &[PageInput<'_>],
    limits: &Limits,
    masks: Masks<'_>,
    diff_images: bool,
) -> (Verdict, Vec<Option<RgbaImage>>) {
    let mut reasons = Vec::new();
    if baseline.len() != candidate.len() {
        reasons.push(Reason::whole(format!("page count: baseline {}, candidate {}", baseline.len(), candidate.len())));
    }
    let mut pages = Vec::with_capacity(baseline.len().min(candidate.len()));
    let mut images = Vec::with_capacity(pages.capacity());
    for (index, (b, c)) in baseline.iter().zip(candidate).enumerate() {
        let (page, image) = judge_page(index + 1, b, c, limits, masks, diff_images, &mut reasons);
        pages.push(page);
        images.push(image);
    }
    let passed = baseline.len() == candidate.len() && pages.iter().all(|p| p.passed);
    let verdict = Verdict { passed, baseline_pages: baseline.len(), candidate_pages: candidate.len(), pages, reasons };
    (verdict, images)
}

fn judge_page(
    page: usize,
    baseline: &PageInput<'_>,
    candidate: &PageInput<'_>,
    limits: &Limits,
    masks: Masks<'_>,
    want_image: bool,
    reasons: &mut Vec<Reason>,
) -> (PageVerdict, Option<RgbaImage>) {
    let (bw, bh) = baseline.image.dimensions();
    let (cw, ch) = candidate.image.dimensions();
    let candidate_pixels = u64::from(cw) * u64::from(ch);
    let size_changed = (bw, bh) != (cw, ch);
    let mut problem = false;
    let rects = if size_changed { Vec::new() } else { masks.on_page(page, cw, ch) };
    let masked_pixels = mask::covered(&rects, cw, ch);

    let (diff_pixels, regions, image) = if size_changed {
        reasons.push(Reason::page(
            page,
            format!("size changed: baseline {bw}x{bh}, candidate {cw}x{ch} (paper size, orientation or DPI changed)"),
        ));
        problem = true;
        (candidate_pixels, Vec::new(), None)
    } else {
        let (b, c) = (mask::paint(baseline.image, &rects), mask::paint(candidate.image, &rects));
        match diff_images(&b, &c, &limits.pixelmatch, want_image) {
            Ok(d) => (d.diff_pixels, d.regions, d.diff_image),
            // Same-size in-memory images always compare; should that ever change, fail the
            // page rather than pass it unchecked.
            Err(e) => {
                reasons.push(Reason::page(page, format!("could not compare the images: {e}")));
                problem = true;
                (candidate_pixels, Vec::new(), None)
            }
        }
    };
    let ratio = if candidate_pixels == 0 { 0.0 } else { diff_pixels as f64 / candidate_pixels as f64 };

    // A masked page's text holds what its masks hide (a date). The text has no positions, so a
    // difference is the masks' only when every pixel outside them is the same.
    let only_under_masks = masked_pixels > 0 && !problem && diff_pixels == 0;
    let text_changed = baseline.text != candidate.text && !only_under_masks;
    if text_changed {
        let at = first_text_difference(baseline.text, candidate.text);
        reasons.push(Reason::page(page, format!("text layer differs: {at}")));
    }

    let too_many_pixels = !problem && diff_pixels > limits.max_pixels && ratio > limits.max_ratio;
    if too_many_pixels {
        // Enough digits that a ratio just above the limit does not print as the limit.
        let digits = (3..=17)
            .find(|&d| format_percent_digits(ratio, d) != format_percent_digits(limits.max_ratio, d))
            .unwrap_or(17);
        reasons.push(Reason::page(
            page,
            format!(
                "{diff_pixels} {} changed ({} %), above both limits ({} px, {} %)",
                if diff_pixels == 1 { "pixel" } else { "pixels" },
                format_percent_digits(ratio, digits),
                limits.max_pixels,
                format_percent_digits(limits.max_ratio, digits),
            ),
        ));
    }

    let passed = !problem && !text_changed && !too_many_pixels;
    let verdict = PageVerdict {
        page,
        diff_pixels,
        total_pixels: candidate_pixels,
        ratio,
        regions,
        text_changed,
        size_changed,
        passed,
        masked_pixels,
    };
    (verdict, image)
}

/// Characters of context shown before the first difference.
const EXCERPT_BEFORE: usize = 20;
/// Characters shown from the first difference on.
const EXCERPT_AFTER: usize = 30;

/// Where two texts first differ, with a short excerpt of each around that point:
/// `at character 7: baseline "…total 1,200.00 EUR…", candidate "…total 1,300.00 EUR…"`.
fn first_text_difference(baseline: &str, candidate: &str) -> String {
    let at = baseline.chars().zip(candidate.chars()).take_while(|(b, c)| b == c).count();
    let excerpt = |text: &str| {
        let start = at.saturating_sub(EXCERPT_BEFORE);
        let shown: String = text.chars().skip(start).take(at - start + EXCERPT_AFTER).collect();
        let more_after = text.chars().count() > at + EXCERPT_AFTER;
        format!("{}{shown:?}{}", if start > 0 { "…" } else { "" }, if more_after { "…" } else { "" })
    };
    format!("at character {}: baseline {}, candidate {}", at + 1, excerpt(baseline), excerpt(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    fn said(v: &Verdict) -> Vec<String> {
        v.reasons.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reasons_are_stored_as_text_and_read_back_with_their_page() {
        let reasons = vec![
            Reason::whole("page count: baseline 3, candidate 2"),
            Reason::page(12, "text layer differs: at character 1: baseline \"page 3: x\""),
            Reason::whole("pages: 2"),
        ];
        let v = Verdict { passed: false, baseline_pages: 3, candidate_pages: 2, pages: Vec::new(), reasons };
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(
            json["reasons"],
            serde_json::json!([
                "page count: baseline 3, candidate 2",
                "page 12: text layer differs: at character 1: baseline \"page 3: x\"",
                "pages: 2"
            ])
        );
        assert_eq!(serde_json::from_value::<Verdict>(json).unwrap(), v);
    }

    const WHITE: Rgba<u8> = Rgba([255, 255, 255, 255]);
    const BLACK: Rgba<u8> = Rgba([0, 0, 0, 255]);

    fn white(width: u32, height: u32) -> RgbaImage {
        RgbaImage::from_pixel(width, height, WHITE)
    }

    /// A white page with its first `n` pixels (row-major) black: every one is a real change
    /// for pixelmatch (a black pixel has no darker neighbour, so it is never anti-aliasing).
    fn with_changes(width: u32, height: u32, n: u64) -> RgbaImage {
        let mut img = white(width, height);
        for (i, p) in img.pixels_mut().enumerate() {
            if (i as u64) < n {
                *p = BLACK;
            }
        }
        img
    }

    fn pages<'a>(images: &'a [RgbaImage], text: &'a str) -> Vec<PageInput<'a>> {
        images.iter().map(|image| PageInput { image, text }).collect()
    }

    fn judge_one(a: &RgbaImage, b: &RgbaImage, limits: &Limits) -> Verdict {
        let (v, _) = judge(&[PageInput { image: a, text: "x" }], &[PageInput { image: b, text: "x" }], limits, false);
        v
    }

    #[test]
    fn identical_pages_pass() {
        let imgs = [white(50, 40), with_changes(50, 40, 7)];
        let (v, images) = judge(&pages(&imgs, "Invoice 42"), &pages(&imgs, "Invoice 42"), &Limits::default(), true);
        assert!(v.passed, "{:?}", v.reasons);
        assert!(v.reasons.is_empty());
        assert_eq!((v.baseline_pages, v.candidate_pages), (2, 2));
        assert_eq!(
            v.pages.iter().map(|p| (p.page, p.diff_pixels, p.total_pixels)).collect::<Vec<_>>(),
            [(1, 0, 2000), (2, 0, 2000)]
        );
        assert!(v.pages.iter().all(|p| p.passed && !p.text_changed && !p.size_changed && p.regions.is_empty()));
        assert_eq!(images.len(), 2);
        // Identical pages still get pixelmatch's faded grey background.
        let diff = images[1].as_ref().expect("asked for diff images");
        assert_eq!(diff.get_pixel(0, 0).0, [229, 229, 229, 255]);
    }

    #[test]
    fn diff_images_only_when_asked() {
        let imgs = [white(4, 4)];
        let (_, images) = judge(&pages(&imgs, ""), &pages(&imgs, ""), &Limits::default(), false);
        assert_eq!(images, vec![None]);
    }

    #[test]
    fn page_count_difference_fails_and_common_pages_are_compared() {
        let three = [white(8, 8), white(8, 8), white(8, 8)];
        let four = [white(8, 8), white(8, 8), white(8, 8), white(8, 8)];
        let (v, images) = judge(&pages(&three, "t"), &pages(&four, "t"), &Limits::default(), true);
        assert!(!v.passed);
        assert_eq!(said(&v), ["page count: baseline 3, candidate 4"]);
        assert_eq!((v.baseline_pages, v.candidate_pages, v.pages.len(), images.len()), (3, 4, 3, 3));
        assert!(v.pages.iter().all(|p| p.passed));

        let (v, _) = judge(&pages(&four, "t"), &[], &Limits::default(), false);
        assert!(!v.passed);
        assert_eq!(said(&v), ["page count: baseline 4, candidate 0"]);
    }

    #[test]
    fn text_difference_fails_with_an_excerpt() {
        let img = white(10, 10);
        let b = [PageInput { image: &img, text: "Invoice 42\nTotal: 1,200.00 EUR\nThank you for your business." }];
        let c = [PageInput { image: &img, text: "Invoice 42\nTotal: 1,300.00 EUR\nThank you for your business." }];
        let (v, _) = judge(&b, &c, &Limits::default(), false);
        assert!(!v.passed);
        assert!(v.pages[0].text_changed && !v.pages[0].passed);
        assert_eq!(v.pages[0].diff_pixels, 0);
        assert_eq!(
            said(&v),
            [
                r#"page 1: text layer differs: at character 21: baseline "Invoice 42\nTotal: 1,200.00 EUR\nThank you for your "…, candidate "Invoice 42\nTotal: 1,300.00 EUR\nThank you for your "…"#
            ]
        );
    }

    #[test]
    fn text_excerpts_handle_prefixes_and_short_texts() {
        assert_eq!(first_text_difference("abc", "abcd"), r#"at character 4: baseline "abc", candidate "abcd""#);
        assert_eq!(first_text_difference("", "x"), r#"at character 1: baseline "", candidate "x""#);
        assert_eq!(first_text_difference("é1", "é2"), r#"at character 2: baseline "é1", candidate "é2""#);
    }

    #[test]
    fn at_both_limits_passes_and_one_more_pixel_fails() {
        // 400x500 = 200,000 px: 0.05 % is exactly 100 px, so both limits coincide.
        let base = white(400, 500);
        let v = judge_one(&base, &with_changes(400, 500, 100), &Limits::default());
        assert!(v.passed, "{:?}", v.reasons);
        assert_eq!(v.pages[0].diff_pixels, 100);
        assert_eq!(v.pages[0].ratio, 0.0005);

        let v = judge_one(&base, &with_changes(400, 500, 101), &Limits::default());
        assert!(!v.passed);
        assert_eq!(said(&v), ["page 1: 101 pixels changed (0.0505 %), above both limits (100 px, 0.05 %)"]);
    }

    #[test]
    fn above_only_the_pixel_limit_passes() {
        // 1000x1000: 300 px is above 100 px but only 0.03 %.
        let v = judge_one(&white(1000, 1000), &with_changes(1000, 1000, 300), &Limits::default());
        assert!(v.passed, "{:?}", v.reasons);
        assert_eq!(v.pages[0].diff_pixels, 300);
    }

    #[test]
    fn exactly_at_the_ratio_limit_passes() {
        // 1000x1000: 500 px is exactly 0.05 %; 501 px is above it.
        let base = white(1000, 1000);
        assert!(judge_one(&base, &with_changes(1000, 1000, 500), &Limits::default()).passed);
        let v = judge_one(&base, &with_changes(1000, 1000, 501), &Limits::default());
        assert!(!v.passed);
        assert_eq!(said(&v), ["page 1: 501 pixels changed (0.0501 %), above both limits (100 px, 0.05 %)"]);
    }

    #[test]
    fn a_ratio_just_above_the_limit_does_not_print_as_the_limit() {
        // A4 at 150 DPI: 0.05 % is 1087.48 px.
        let v = judge_one(&white(1240, 1754), &with_changes(1240, 1754, 1088), &Limits::default());
        assert_eq!(said(&v), ["page 1: 1088 pixels changed (0.05002 %), above both limits (100 px, 0.05 %)"]);
    }

    #[test]
    fn above_only_the_ratio_limit_passes() {
        // 10x10: half the page changed, but 50 px is within 100 px.
        let v = judge_one(&white(10, 10), &with_changes(10, 10, 50), &Limits::default());
        assert!(v.passed, "{:?}", v.reasons);
        assert_eq!(v.pages[0].ratio, 0.5);
    }

    #[test]
    fn pixel_failure_is_reported_per_page_with_regions() {
        let base = [white(400, 500), white(400, 500)];
        let cand = [white(400, 500), with_changes(400, 500, 512)];
        let (v, images) = judge(&pages(&base, ""), &pages(&cand, ""), &Limits::default(), true);
        assert!(!v.passed);
        assert!(v.pages[0].passed && !v.pages[1].passed);
        assert_eq!(said(&v), ["page 2: 512 pixels changed (0.256 %), above both limits (100 px, 0.05 %)"]);
        // 512 px = the first row (400) and 112 px of the second: one region.
        assert_eq!(v.pages[1].regions, [Region { x: 0, y: 0, width: 400, height: 2, pixels: 512 }]);
        let diff = images[1].as_ref().expect("diff image");
        assert_eq!(diff.get_pixel(0, 0).0, [255, 0, 0, 255]);
        assert_eq!(diff.get_pixel(200, 1).0, [255, 255, 255, 255]);
    }

    #[test]
    fn custom_limits_apply() {
        let limits = Limits { max_pixels: 0, max_ratio: 0.0, ..Limits::default() };
        let v = judge_one(&white(100, 100), &with_changes(100, 100, 1), &limits);
        assert!(!v.passed);
        assert_eq!(said(&v), ["page 1: 1 pixel changed (0.01 %), above both limits (0 px, 0 %)"]);
    }

    #[test]
    fn pixelmatch_options_are_used() {
        // A faint change (255 -> 250) is below the default threshold but not below 0.
        let base = white(20, 20);
        let mut cand = base.clone();
        cand.put_pixel(3, 3, Rgba([250, 250, 250, 255]));
        let strict =
            Limits { max_pixels: 0, max_ratio: 0.0, pixelmatch: Options { threshold: 0.0, ..Options::default() } };
        assert!(judge_one(&base, &cand, &Limits { max_pixels: 0, max_ratio: 0.0, ..Limits::default() }).passed);
        assert_eq!(judge_one(&base, &cand, &strict).pages[0].diff_pixels, 1);
    }

    #[test]
    fn masks_hide_their_pixels_and_their_page_s_text() {
        // 96 dpi: CSS px are raster px. The change is inside the mask on page 1 only.
        let masks = [serde_json::from_str(r#"{"page": 1, "x": 0, "y": 0, "width": 20, "height": 1}"#).unwrap()];
        let located = super::mask::Located::default();
        let masks = Masks::new(&masks, 96, &located);
        let (base, cand) = (white(100, 100), with_changes(100, 100, 20));
        let strict = Limits { max_pixels: 0, max_ratio: 0.0, ..Limits::default() };
        let b = [PageInput { image: &base, text: "2 June" }, PageInput { image: &base, text: "x" }];
        let c = [PageInput { image: &cand, text: "3 June" }, PageInput { image: &cand, text: "x" }];
        let (v, _) = judge_masked(&b, &c, &strict, masks, false);
        assert!(v.pages[0].passed, "{:?}", v.reasons);
        assert_eq!((v.pages[0].diff_pixels, v.pages[0].masked_pixels, v.pages[0].text_changed), (0, 20, false));
        // Page 2 has no mask: the same change fails it, and its text is compared.
        assert!(!v.pages[1].passed);
        assert_eq!((v.pages[1].diff_pixels, v.pages[1].masked_pixels), (20, 0));
        assert_eq!(said(&v), ["page 2: 20 pixels changed (0.2 %), above both limits (0 px, 0 %)"]);
        // One pixel more than the mask covers is a change, and then the text difference counts
        // again, even within generous limits.
        let one_more = with_changes(100, 100, 21);
        let c = [PageInput { image: &one_more, text: "3 June" }];
        let (v, _) = judge_masked(&b[..1], &c, &strict, masks, false);
        assert_eq!(v.pages[0].diff_pixels, 1);
        let (v, _) = judge_masked(&b[..1], &c, &Limits::default(), masks, false);
        assert!(!v.pages[0].passed && v.pages[0].text_changed);
        assert_eq!(said(&v), [r#"page 1: text layer differs: at character 1: baseline "2 June", candidate "3 June""#]);
        // Stored verdicts without masks keep their shape.
        assert!(serde_json::to_value(&v.pages[0]).unwrap().get("masked_pixels").is_some());
        let (v, _) = judge(&b[..1], &b[..1], &strict, false);
        assert!(serde_json::to_value(&v.pages[0]).unwrap().get("masked_pixels").is_none());
    }

    #[test]
    fn size_change_fails_the_page() {
        let a = white(100, 141);
        let b = white(141, 100);
        let (v, images) =
            judge(&[PageInput { image: &a, text: "" }], &[PageInput { image: &b, text: "" }], &Limits::default(), true);
        assert!(!v.passed);
        let p = &v.pages[0];
        assert!(p.size_changed && !p.passed && !p.text_changed);
        assert_eq!((p.diff_pixels, p.total_pixels, p.ratio), (14100, 14100, 1.0));
        assert_eq!(
            said(&v),
            ["page 1: size changed: baseline 100x141, candidate 141x100 (paper size, orientation or DPI changed)"]
        );
        assert_eq!(images, vec![None]);
    }

    #[test]
    fn every_problem_on_a_page_is_a_reason() {
        let base = white(400, 500);
        let cand = with_changes(400, 500, 1000);
        let (v, _) = judge(
            &[PageInput { image: &base, text: "a" }],
            &[PageInput { image: &cand, text: "b" }],
            &Limits::default(),
            false,
        );
        assert_eq!(v.reasons.len(), 2, "{:?}", v.reasons);
        assert!(said(&v)[0].starts_with("page 1: text layer differs: at character 1"));
        assert!(said(&v)[1].starts_with("page 1: 1000 pixels changed"));
    }
}
