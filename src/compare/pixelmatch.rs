//! A faithful port of pixelmatch 7.2.0 (npm `pixelmatch@7.2.0`, by Volodymyr Agafonkin / Mapbox).
//!
//! This is the pixel comparator behind every verdict: it counts the pixels of two equally
//! sized RGBA images whose colours differ by more than `threshold` in the YIQ colour space,
//! ignoring anti-aliased pixels (unless `include_aa`), and can draw a diff image. It matches
//! the JavaScript bit for bit: the same f64 arithmetic in the same order, the same
//! anti-aliasing detector (Vysniauskas 2009, with `hasManySiblings`), the same blending of
//! semi-transparent pixels (against 7.2.0's pseudo-checkerboard by default, or white with
//! `checkerboard: false`), and the same diff-image pixels when the JavaScript output buffer is a
//! `Uint8Array`/`Buffer` (what pngjs gives; a `Uint8ClampedArray` would round instead of
//! truncate the grey levels). `tests/it/pixelmatch_parity.rs` holds that claim against the npm
//! package.
//!
//! Beyond the JavaScript: identical rows skip the per-pixel loop, sizes are checked with
//! errors that say what to fix, and [`pixelmatch_with`] reports each differing pixel so the
//! caller can find the changed regions (see [`super::regions`]).
//!
//! Pin note: upstream's next major version changes the colour metric (OKLab); this port stays
//! on 7.2.0's YIQ, and its results will not match later majors.

use std::fmt;

/// Largest possible value of the YIQ difference metric; `threshold` is a fraction of its root.
const MAX_YIQ_DELTA: f64 = 35215.0;

/// pixelmatch options, with the npm package's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Matching threshold, 0 to 1; smaller is more sensitive. Default 0.1.
    pub threshold: f64,
    /// Count anti-aliased pixels as different. Default false.
    pub include_aa: bool,
    /// Opacity of unchanged pixels in the diff image, 0 to 1. Default 0.1.
    pub alpha: f64,
    /// Colour of anti-aliased pixels in the diff image. Default yellow.
    pub aa_color: [u8; 3],
    /// Colour of different pixels in the diff image. Default red.
    pub diff_color: [u8; 3],
    /// Colour for pixels that got darker, to tell them from ones that got lighter. Default none.
    pub diff_color_alt: Option<[u8; 3]>,
    /// Draw only the diff over a transparent background. Default false.
    pub diff_mask: bool,
    /// Blend semi-transparent pixels against pixelmatch's pseudo-checkerboard (true, the
    /// 7.2.0 default) or against white (false) before comparing. Opaque images are unaffected.
    pub checkerboard: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threshold: 0.1,
            include_aa: false,
            alpha: 0.1,
            aa_color: [255, 255, 0],
            diff_color: [255, 0, 0],
            diff_color_alt: None,
            diff_mask: false,
            checkerboard: true,
        }
    }
}

/// Which of the buffers given to [`pixelmatch`] an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffer {
    /// `img1`, the first (baseline) image.
    First,
    /// `img2`, the second (candidate) image.
    Second,
    /// `output`, the diff image.
    Output,
}

impl fmt::Display for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Buffer::First => "the first image",
            Buffer::Second => "the second image",
            Buffer::Output => "the diff output buffer",
        })
    }
}

/// Why two images could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum PixelmatchError {
    #[error("image sizes do not match: {a_width}x{a_height} vs {b_width}x{b_height}; compare pages rendered at the same size and DPI")]
    SizeMismatch { a_width: u32, a_height: u32, b_width: u32, b_height: u32 },
    #[error("{buffer} is {len} bytes but a {width}x{height} RGBA image needs {expected} (4 bytes per pixel); pass 8-bit RGBA pixels of that size")]
    BadLength { buffer: Buffer, len: usize, width: u32, height: u32, expected: usize },
    #[error("a {width}x{height} RGBA image does not fit in memory on this machine; compare smaller images")]
    TooLarge { width: u32, height: u32 },
}

/// Compares two RGBA images of `width`×`height`, optionally drawing the diff into `output`
/// (RGBA, same size), and returns the number of different pixels.
pub fn pixelmatch(
    img1: &[u8],
    img2: &[u8],
    output: Option<&mut [u8]>,
    width: u32,
    height: u32,
    options: &Options,
) -> Result<u64, PixelmatchError> {
    pixelmatch_with(img1, img2, output, width, height, options, |_, _| {})
}

/// [`pixelmatch`], calling `on_diff(x, y)` for every pixel it counts as different, in row-major
/// order (so exactly as many calls as the returned count). Anti-aliased pixels that are not
/// counted are not reported.
pub fn pixelmatch_with<F: FnMut(u32, u32)>(
    img1: &[u8],
    img2: &[u8],
    mut output: Option<&mut [u8]>,
    width: u32,
    height: u32,
    options: &Options,
    mut on_diff: F,
) -> Result<u64, PixelmatchError> {
    let expected = rgba_len(width, height)?;
    check_len(Buffer::First, img1.len(), width, height, expected)?;
    check_len(Buffer::Second, img2.len(), width, height, expected)?;
    if let Some(out) = output.as_deref() {
        check_len(Buffer::Output, out.len(), width, height, expected)?;
    }
    // With `diff_mask`, pixelmatch leaves unchanged and anti-aliased pixels of `output` alone.
    let draw_background = !options.diff_mask;

    // Fast path: identical images (the JavaScript compares every pixel as a u32; comparing
    // the bytes is the same test).
    if img1 == img2 {
        if let (Some(out), true) = (output.as_deref_mut(), draw_background) {
            for pos in (0..expected).step_by(4) {
                draw_gray_pixel(img1, pos, options.alpha, out);
            }
        }
        return Ok(0);
    }

    let max_delta = MAX_YIQ_DELTA * options.threshold * options.threshold;
    let aa_color = options.aa_color;
    let diff_color = options.diff_color;
    let alt_color = options.diff_color_alt.unwrap_or(diff_color);
    let (w, h) = (width as usize, height as usize);
    let row_len = w * 4;
    let mut diff = 0u64;

    for y in 0..h {
        let row = y * row_len..(y + 1) * row_len;
        // Fast path: an identical row has only unchanged pixels.
        if img1[row.clone()] == img2[row.clone()] {
            if let (Some(out), true) = (output.as_deref_mut(), draw_background) {
                for pos in row.step_by(4) {
                    draw_gray_pixel(img1, pos, options.alpha, out);
                }
            }
            continue;
        }
        for x in 0..w {
            let pos = (y * w + x) * 4;
            // Squared YIQ distance between the two pixels, negative if the img2 pixel is darker.
            let delta = if rgba(img1, pos) == rgba(img2, pos) {
                0.0
            } else {
                color_delta(img1, img2, pos, options.checkerboard)
            };

            if delta.abs() > max_delta {
                // A real rendering difference, or just anti-aliasing?
                let excluded_aa = !options.include_aa
                    && (antialiased(img1, img2, x, y, w, h, options.checkerboard)
                        || antialiased(img2, img1, x, y, w, h, options.checkerboard));
                if excluded_aa {
                    // Drawn, not counted, and never part of a mask.
                    if let (Some(out), true) = (output.as_deref_mut(), draw_background) {
                        draw_pixel(out, pos, aa_color);
                    }
                } else {
                    if let Some(out) = output.as_deref_mut() {
                        draw_pixel(out, pos, if delta < 0.0 { alt_color } else { diff_color });
                    }
                    diff += 1;
                    // x < width and y < height, both u32.
                    on_diff(x as u32, y as u32);
                }
            } else if let (Some(out), true) = (output.as_deref_mut(), draw_background) {
                // Similar pixels: the background is img1 in grey, faded towards white.
                draw_gray_pixel(img1, pos, options.alpha, out);
            }
        }
    }
    Ok(diff)
}

/// Bytes in a `width`×`height` RGBA image, if that fits in `usize`.
pub fn rgba_len(width: u32, height: u32) -> Result<usize, PixelmatchError> {
    (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(4))
        .ok_or(PixelmatchError::TooLarge { width, height })
}

fn check_len(buffer: Buffer, len: usize, width: u32, height: u32, expected: usize) -> Result<(), PixelmatchError> {
    if len == expected {
        Ok(())
    } else {
        Err(PixelmatchError::BadLength { buffer, len, width, height, expected })
    }
}

/// The pixel at index `i` as the JavaScript's `Uint32Array` view sees it (only ever compared
/// for equality, so the byte order does not matter).
#[inline(always)]
fn pixel_u32(img: &[u8], i: usize) -> u32 {
    u32::from_ne_bytes(rgba(img, i * 4))
}

/// The 4 bytes of the pixel at byte offset `pos` (one bounds check).
#[inline(always)]
fn rgba(img: &[u8], pos: usize) -> [u8; 4] {
    let p = &img[pos..pos + 4];
    [p[0], p[1], p[2], p[3]]
}

/// Is the pixel at (x1, y1) of `img` likely part of anti-aliasing? Based on "Anti-aliased Pixel
/// and Intensity Slope Detector" by V. Vysniauskas, 2009. `other` is the other image.
fn antialiased(
    img: &[u8],
    other: &[u8],
    x1: usize,
    y1: usize,
    width: usize,
    height: usize,
    checkerboard: bool,
) -> bool {
    let x0 = x1.saturating_sub(1);
    let y0 = y1.saturating_sub(1);
    let x2 = (x1 + 1).min(width - 1);
    let y2 = (y1 + 1).min(height - 1);
    let pos = (y1 * width + x1) * 4;
    let center = rgba(img, pos);
    let mut zeroes = u32::from(x1 == x0 || x1 == x2 || y1 == y0 || y1 == y2);
    let mut min = 0.0f64;
    let mut max = 0.0f64;
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (0, 0, 0, 0);

    // The 8 adjacent pixels, column by column as the JavaScript visits them (ties keep the first).
    // Half-open ranges: `x0..=x2` compiles to slower loops here.
    for x in x0..x2 + 1 {
        for y in y0..y2 + 1 {
            if x == x1 && y == y1 {
                continue;
            }
            // Brightness delta between the center pixel and this neighbour.
            let delta = brightness_delta(img, pos, (y * width + x) * 4, center, checkerboard);
            if delta == 0.0 {
                zeroes += 1;
                // More than 2 equal siblings: definitely not anti-aliasing.
                if zeroes > 2 {
                    return false;
                }
            } else if delta < min {
                min = delta;
                min_x = x;
                min_y = y;
            } else if delta > max {
                max = delta;
                max_x = x;
                max_y = y;
            }
        }
    }

    // Without both darker and brighter neighbours, it is not anti-aliasing.
    if min == 0.0 || max == 0.0 {
        return false;
    }

    // Anti-aliased if the darkest or the brightest neighbour has 3+ equal siblings in both
    // images (so that neighbour is definitely not anti-aliased itself).
    (has_many_siblings(img, min_x, min_y, width, height) && has_many_siblings(other, min_x, min_y, width, height))
        || (has_many_siblings(img, max_x, max_y, width, height)
            && has_many_siblings(other, max_x, max_y, width, height))
}

/// Does the pixel at (x1, y1) have 3+ adjacent pixels of exactly the same RGBA value?
fn has_many_siblings(img: &[u8], x1: usize, y1: usize, width: usize, height: usize) -> bool {
    let x0 = x1.saturating_sub(1);
    let y0 = y1.saturating_sub(1);
    let x2 = (x1 + 1).min(width - 1);
    let y2 = (y1 + 1).min(height - 1);
    let val = pixel_u32(img, y1 * width + x1);
    let mut zeroes = u32::from(x1 == x0 || x1 == x2 || y1 == y0 || y1 == y2);

    for x in x0..x2 + 1 {
        for y in y0..y2 + 1 {
            if x == x1 && y == y1 {
                continue;
            }
            zeroes += u32::from(val == pixel_u32(img, y * width + x));
            if zeroes > 2 {
                return true;
            }
        }
    }
    false
}

/// Background that semi-transparent pixels are blended with, for the pixel at byte offset `k`:
/// 7.2.0's pseudo-checkerboard (computed from the byte offset, as the JavaScript does), or white.
///
/// Not inlined on purpose: inlined, LLVM computed it for every pixel, opaque ones included
/// (it is free of side effects, so it was hoisted out of the transparency branch).
#[inline(never)]
fn background(k: usize, checkerboard: bool) -> [f64; 3] {
    if !checkerboard {
        return [255.0; 3];
    }
    // k is an integer, so the JavaScript's `k % 2` is the integer remainder.
    let k_mod_2 = (k % 2) as f64;
    let k = k as f64;
    [
        48.0 + 159.0 * k_mod_2,
        48.0 + 159.0 * f64::from(js_to_int32(k / 1.618033988749895) % 2),
        48.0 + 159.0 * f64::from(js_to_int32(k / 2.618033988749895) % 2),
    ]
}

/// Colour differences blended with the background when either pixel is not opaque.
#[inline]
fn blended(c1: [f64; 4], c2: [f64; 4], k: usize, checkerboard: bool) -> [f64; 3] {
    let [r1, g1, b1, a1] = c1;
    let [r2, g2, b2, a2] = c2;
    if a1 < 255.0 || a2 < 255.0 {
        let [rb, gb, bb] = background(k, checkerboard);
        let da = a1 - a2;
        [
            (r1 * a1 - r2 * a2 - rb * da) / 255.0,
            (g1 * a1 - g2 * a2 - gb * da) / 255.0,
            (b1 * a1 - b2 * a2 - bb * da) / 255.0,
        ]
    } else {
        [r1 - r2, g1 - g2, b1 - b2]
    }
}

#[inline]
fn rgba_f64(img: &[u8], pos: usize) -> [f64; 4] {
    rgba(img, pos).map(f64::from)
}

/// Y (brightness) of a colour difference.
#[inline]
fn yiq_y(dr: f64, dg: f64, db: f64) -> f64 {
    dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223
}

/// Squared YIQ distance between the pixels at byte offset `k` of both images, negative when
/// the `img2` pixel is darker. Per Kotsarenko and Ramos, "Measuring perceived color difference
/// using YIQ NTSC transmission color space in mobile applications". The caller knows the pixels
/// differ.
fn color_delta(img1: &[u8], img2: &[u8], k: usize, checkerboard: bool) -> f64 {
    let [dr, dg, db] = blended(rgba_f64(img1, k), rgba_f64(img2, k), k, checkerboard);

    let y = yiq_y(dr, dg, db);
    let i = dr * 0.59597799 - dg * 0.27417610 - db * 0.32180189;
    let q = dr * 0.21147017 - dg * 0.52261711 + db * 0.31114694;

    let delta = 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q;
    if y > 0.0 {
        -delta
    } else {
        delta
    }
}

/// Brightness-only colour delta between the center pixel (at byte offset `k`, RGBA `center`)
/// and the neighbour at byte offset `m`, for the anti-aliasing detector.
#[inline]
fn brightness_delta(img: &[u8], k: usize, m: usize, center: [u8; 4], checkerboard: bool) -> f64 {
    let neighbour = rgba(img, m);
    if center == neighbour {
        return 0.0;
    }
    let [dr, dg, db] = blended(center.map(f64::from), neighbour.map(f64::from), k, checkerboard);
    yiq_y(dr, dg, db)
}

#[inline]
fn draw_pixel(output: &mut [u8], pos: usize, [r, g, b]: [u8; 3]) {
    output[pos..pos + 4].copy_from_slice(&[r, g, b, 255]);
}

/// img1's pixel as grey, faded towards white by `alpha` and its own opacity.
#[inline]
fn draw_gray_pixel(img: &[u8], pos: usize, alpha: f64, output: &mut [u8]) {
    let [r, g, b, a] = rgba_f64(img, pos);
    let val = 255.0 + (yiq_y(r, g, b) - 255.0) * alpha * a / 255.0;
    draw_pixel(output, pos, [js_to_uint8(val); 3]);
}

/// JavaScript's ToInt32 (what `x | 0` does): truncate, then wrap modulo 2^32 into i32.
#[inline]
fn js_to_int32(x: f64) -> i32 {
    if x.abs() < 2_147_483_648.0 {
        // In range: `as` truncates towards zero, exactly like ToInt32.
        x as i32
    } else {
        js_to_int32_wrapping(x)
    }
}

#[cold]
#[inline(never)]
fn js_to_int32_wrapping(x: f64) -> i32 {
    if !x.is_finite() {
        return 0;
    }
    let wrapped = x.trunc().rem_euclid(4_294_967_296.0);
    let signed = if wrapped >= 2_147_483_648.0 { wrapped - 4_294_967_296.0 } else { wrapped };
    // In range by construction: the cast is exact.
    signed as i32
}

/// JavaScript's ToUint8 (storing a number into a `Uint8Array`): truncate, wrap modulo 256.
#[inline]
fn js_to_uint8(x: f64) -> u8 {
    if (0.0..256.0).contains(&x) {
        // In range: `as` truncates towards zero, exactly like ToUint8.
        x as u8
    } else {
        // 2^8 divides 2^32: the low byte of ToInt32 is ToUint8.
        js_to_int32(x) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: [u8; 4] = [255, 255, 255, 255];
    const BLACK: [u8; 4] = [0, 0, 0, 255];

    fn image(width: usize, height: usize, pixel: impl Fn(usize, usize) -> [u8; 4]) -> Vec<u8> {
        (0..height).flat_map(|y| (0..width).map(move |x| (x, y))).flat_map(|(x, y)| pixel(x, y)).collect()
    }

    fn at(img: &[u8], width: usize, x: usize, y: usize) -> [u8; 4] {
        let p = (y * width + x) * 4;
        [img[p], img[p + 1], img[p + 2], img[p + 3]]
    }

    #[test]
    fn wrong_buffer_lengths_say_which_buffer_and_what_size() {
        let good = vec![0u8; 2 * 3 * 4];
        let short = vec![0u8; 23];
        let err = pixelmatch(&short, &good, None, 2, 3, &Options::default()).expect_err("short first image");
        assert!(matches!(err, PixelmatchError::BadLength { buffer: Buffer::First, len: 23, expected: 24, .. }));
        assert_eq!(
            err.to_string(),
            "the first image is 23 bytes but a 2x3 RGBA image needs 24 (4 bytes per pixel); pass 8-bit RGBA pixels of that size"
        );
        let err = pixelmatch(&good, &short, None, 2, 3, &Options::default()).expect_err("short second image");
        assert!(matches!(err, PixelmatchError::BadLength { buffer: Buffer::Second, .. }));
        let mut out = vec![0u8; 25];
        let err = pixelmatch(&good, &good, Some(&mut out), 2, 3, &Options::default()).expect_err("long output");
        assert!(matches!(err, PixelmatchError::BadLength { buffer: Buffer::Output, len: 25, .. }));
        assert!(err.to_string().starts_with("the diff output buffer is 25 bytes"));
        // Right byte count, wrong shape.
        assert!(pixelmatch(&good, &good, None, 3, 3, &Options::default()).is_err());
    }

    #[test]
    fn impossible_sizes_are_an_error_not_a_panic() {
        let err = pixelmatch(&[], &[], None, u32::MAX, u32::MAX, &Options::default()).expect_err("too large");
        if usize::BITS <= 64 {
            assert!(matches!(err, PixelmatchError::TooLarge { .. }), "{err}");
        }
    }

    #[test]
    fn empty_images_match() {
        assert_eq!(pixelmatch(&[], &[], Some(&mut []), 0, 5, &Options::default()).ok(), Some(0));
    }

    #[test]
    fn identical_images_draw_faded_grey_unless_masked() {
        let img = image(3, 2, |x, _| if x == 0 { BLACK } else { [255, 0, 0, 128] });
        let mut out = vec![7u8; img.len()];
        assert_eq!(pixelmatch(&img, &img.clone(), Some(&mut out), 3, 2, &Options::default()).ok(), Some(0));
        // Black at alpha 0.1: 255 - 25.5 = 229.5, truncated like a JS Uint8Array store.
        assert_eq!(at(&out, 3, 0, 1), [229, 229, 229, 255]);
        // Half-transparent red: 255 + (76.21 - 255) * 0.1 * 128 / 255 = 246.03...
        assert_eq!(at(&out, 3, 2, 0), [246, 246, 246, 255]);

        let mut masked = vec![7u8; img.len()];
        let options = Options { diff_mask: true, ..Options::default() };
        assert_eq!(pixelmatch(&img, &img, Some(&mut masked), 3, 2, &options).ok(), Some(0));
        assert!(masked.iter().all(|&b| b == 7), "a mask leaves unchanged pixels alone");
    }

    #[test]
    fn a_changed_pixel_is_counted_drawn_and_reported() {
        let a = image(5, 4, |_, _| WHITE);
        let b = image(5, 4, |x, y| if (x, y) == (3, 2) || (x, y) == (1, 0) { BLACK } else { WHITE });
        let mut out = vec![0u8; a.len()];
        let mut seen = Vec::new();
        let n = pixelmatch_with(&a, &b, Some(&mut out), 5, 4, &Options::default(), |x, y| seen.push((x, y)));
        assert_eq!(n.ok(), Some(2));
        assert_eq!(seen, [(1, 0), (3, 2)]);
        assert_eq!(at(&out, 5, 3, 2), [255, 0, 0, 255]);
        assert_eq!(at(&out, 5, 0, 0), [255, 255, 255, 255]);
        // Without an output buffer the count is the same.
        assert_eq!(pixelmatch(&a, &b, None, 5, 4, &Options::default()).ok(), Some(2));
    }

    #[test]
    fn darker_and_lighter_changes_use_their_own_colours() {
        let a = image(3, 1, |x, _| if x == 2 { BLACK } else { [128, 128, 128, 255] });
        let b = image(3, 1, |x, _| match x {
            0 => BLACK,                // got darker
            2 => [128, 128, 128, 255], // got lighter
            _ => [128, 128, 128, 255],
        });
        let options = Options { diff_color_alt: Some([0, 200, 0]), diff_color: [200, 0, 0], ..Options::default() };
        let mut out = vec![0u8; a.len()];
        assert_eq!(pixelmatch(&a, &b, Some(&mut out), 3, 1, &options).ok(), Some(2));
        assert_eq!(at(&out, 3, 0, 0), [0, 200, 0, 255]);
        assert_eq!(at(&out, 3, 2, 0), [200, 0, 0, 255]);
        // Without an alternative colour both are diff_color.
        let options = Options { diff_color_alt: None, ..options };
        pixelmatch(&a, &b, Some(&mut out), 3, 1, &options).ok();
        assert_eq!(at(&out, 3, 0, 0), [200, 0, 0, 255]);
    }

    #[test]
    fn threshold_decides_what_counts() {
        // 255 -> 250 in all channels: YIQ delta about 12.6; threshold t allows 35215 t².
        let a = image(4, 4, |_, _| WHITE);
        let b = image(4, 4, |x, y| if (x, y) == (1, 1) { [250, 250, 250, 255] } else { WHITE });
        let count = |threshold| pixelmatch(&a, &b, None, 4, 4, &Options { threshold, ..Options::default() }).ok();
        assert_eq!(count(0.0), Some(1));
        assert_eq!(count(0.018), Some(1)); // 35215 * 0.018² = 11.4
        assert_eq!(count(0.019), Some(0)); // 12.7
        assert_eq!(count(0.1), Some(0));
    }

    /// Left half black, right half white, and in `b` one pixel on the edge turned grey:
    /// a textbook anti-aliased pixel.
    fn edge_pair() -> (Vec<u8>, Vec<u8>) {
        let edge = |x: usize, _| if x < 5 { BLACK } else { WHITE };
        let a = image(10, 10, edge);
        let b = image(10, 10, |x, y| if (x, y) == (5, 5) { [128, 128, 128, 255] } else { edge(x, y) });
        (a, b)
    }

    #[test]
    fn anti_aliased_pixels_are_drawn_but_not_counted() {
        let (a, b) = edge_pair();
        let mut out = vec![0u8; a.len()];
        let mut seen = 0;
        let n = pixelmatch_with(&a, &b, Some(&mut out), 10, 10, &Options::default(), |_, _| seen += 1);
        assert_eq!((n.ok(), seen), (Some(0), 0));
        assert_eq!(at(&out, 10, 5, 5), [255, 255, 0, 255]);

        let mut masked = vec![0u8; a.len()];
        let options = Options { diff_mask: true, ..Options::default() };
        assert_eq!(pixelmatch(&a, &b, Some(&mut masked), 10, 10, &options).ok(), Some(0));
        assert!(masked.iter().all(|&b| b == 0), "anti-aliased pixels are not part of a mask");

        let options = Options { include_aa: true, ..Options::default() };
        assert_eq!(pixelmatch(&a, &b, Some(&mut out), 10, 10, &options).ok(), Some(1));
        assert_eq!(at(&out, 10, 5, 5), [255, 0, 0, 255]);
    }

    #[test]
    fn a_change_inside_flat_colour_is_not_anti_aliasing() {
        let a = image(10, 10, |_, _| WHITE);
        let b = image(10, 10, |x, y| if (x, y) == (5, 5) { [128, 128, 128, 255] } else { WHITE });
        assert_eq!(pixelmatch(&a, &b, None, 10, 10, &Options::default()).ok(), Some(1));
    }

    #[test]
    fn transparency_blends_with_checkerboard_or_white() {
        // Opaque white vs fully transparent: identical on white, different on the checkerboard.
        let a = image(2, 2, |_, _| WHITE);
        let b = image(2, 2, |x, y| if (x, y) == (0, 0) { [0, 0, 0, 0] } else { WHITE });
        let on_white = Options { checkerboard: false, ..Options::default() };
        assert_eq!(pixelmatch(&a, &b, None, 2, 2, &on_white).ok(), Some(0));
        assert_eq!(pixelmatch(&a, &b, None, 2, 2, &Options::default()).ok(), Some(1));
    }

    #[test]
    fn identical_rows_are_skipped_without_changing_the_result() {
        // Rows 0 and 2 identical, row 1 has one change; the grey background is drawn everywhere.
        let a = image(4, 3, |x, y| [(x * 60) as u8, (y * 100) as u8, 30, 255]);
        let mut b = a.clone();
        b[(4 + 2) * 4] = 255;
        let mut out = vec![0u8; a.len()];
        assert_eq!(pixelmatch(&a, &b, Some(&mut out), 4, 3, &Options::default()).ok(), Some(1));
        let mut expect = vec![0u8; a.len()];
        for (x, y) in [(0, 0), (3, 0), (0, 1), (3, 2)] {
            draw_gray_pixel(&a, (y * 4 + x) * 4, 0.1, &mut expect);
            assert_eq!(at(&out, 4, x, y), at(&expect, 4, x, y), "pixel ({x}, {y})");
        }
        assert_eq!(at(&out, 4, 2, 1), [255, 0, 0, 255]);
    }

    #[test]
    fn javascript_number_conversions() {
        assert_eq!(js_to_int32(5.9), 5);
        assert_eq!(js_to_int32(-1.5), -1);
        assert_eq!(js_to_int32(4_294_967_301.0), 5);
        assert_eq!(js_to_int32(2_147_483_648.0), i32::MIN);
        assert_eq!(js_to_int32(f64::NAN), 0);
        assert_eq!(js_to_int32(2_147_483_647.9), i32::MAX);
        assert_eq!(js_to_int32(-2_147_483_648.5), i32::MIN);
        assert_eq!(js_to_int32(-2_147_483_649.0), i32::MAX);
        assert_eq!(js_to_uint8(-0.5), 0);
        assert_eq!(js_to_uint8(255.99), 255);
        assert_eq!(js_to_uint8(4_294_967_596.0), 44);
        assert_eq!(js_to_uint8(229.99), 229);
        assert_eq!(js_to_uint8(256.5), 0);
        assert_eq!(js_to_uint8(-1.0), 255);
        assert_eq!(js_to_uint8(f64::INFINITY), 0);
    }
}
