//! A faithful port of pixelmatch 7.2.0 (YIQ colour delta, anti-aliasing detection).
//! SKELETON: the port is being written; see issue 2.

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
        }
    }
}

/// Why two images could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum PixelmatchError {
    #[error("image sizes do not match: {a_width}x{a_height} vs {b_width}x{b_height}; compare pages rendered at the same size and DPI")]
    SizeMismatch { a_width: u32, a_height: u32, b_width: u32, b_height: u32 },
    #[error("image data is {len} bytes but {width}x{height} RGBA needs {expected}")]
    BadLength { len: usize, width: u32, height: u32, expected: usize },
}

/// Compares two RGBA images of `width`×`height`, optionally drawing the diff into `output`
/// (RGBA, same size), and returns the number of different pixels.
pub fn pixelmatch(
    _img1: &[u8],
    _img2: &[u8],
    _output: Option<&mut [u8]>,
    _width: u32,
    _height: u32,
    _options: &Options,
) -> Result<u64, PixelmatchError> {
    todo!("pixelmatch port")
}
