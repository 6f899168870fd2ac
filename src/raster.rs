//! Raster: PDF pages to RGBA images at a fixed DPI with PDFium, plus each page's text
//! layer and the fonts the PDF embeds.
//!
//! PDFium is bound once per process from the pinned, checksummed `libpdfium.so`
//! (see `pins`). With pdfium-render's `thread_safe` feature every call takes a global
//! lock, so rasterizing on several threads is not faster; callers run it on a blocking
//! thread and overlap it with Chromium work instead.

use std::path::Path;

use image::RgbaImage;
use pdfium_render::prelude::*;

/// The default raster resolution.
pub const DEFAULT_DPI: u32 = 150;

/// One rasterized page.
#[derive(Debug, Clone)]
pub struct RasterPage {
    /// 1-based page number.
    pub number: usize,
    pub image: RgbaImage,
    /// The page's text layer, as PDFium extracts it.
    pub text: String,
    /// Names of the fonts used on the page, subset prefix (`ABCDEF+`) stripped.
    pub fonts: Vec<String>,
}

/// Whether `Rasterizer::read` draws the pages. Drawing is most of its time; a proof that
/// compares no pixels needs only the page count, the text and the fonts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Draw {
    /// Draw every page at this resolution.
    Pages { dpi: u32 },
    /// Read the text layer and fonts only; images are empty.
    TextOnly,
}

/// Why a PDF could not be rasterized.
#[derive(Debug, thiserror::Error)]
pub enum RasterError {
    #[error("could not load PDFium from {path}: {detail}. Run scripts/setup to install the pinned libpdfium.so")]
    Bind { path: String, detail: String },
    #[error("PDFium could not open the PDF: {0}")]
    Open(String),
    #[error("PDFium failed on page {page}: {detail}")]
    Page { page: usize, detail: String },
    #[error(
        "the document has more than {limit} pages, the most this server prints (--max-pages): shorten it, \
         split it into several jobs, or raise the limit"
    )]
    TooManyPages { limit: usize },
}

/// A bound PDFium library.
pub struct Rasterizer {
    pdfium: Pdfium,
}

/// PDFium can be bound once per process: every engine in the process shares this one.
static SHARED: std::sync::Mutex<Option<std::sync::Arc<Rasterizer>>> = std::sync::Mutex::new(None);

impl Rasterizer {
    /// The process's PDFium binding, bound from `library` (the file itself) on first use.
    pub fn shared(library: &Path) -> Result<std::sync::Arc<Rasterizer>, RasterError> {
        let mut shared = SHARED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(r) = shared.as_ref() {
            return Ok(r.clone());
        }
        let bindings = Pdfium::bind_to_library(library)
            .map_err(|e| RasterError::Bind { path: library.display().to_string(), detail: e.to_string() })?;
        let r = std::sync::Arc::new(Rasterizer { pdfium: Pdfium::new(bindings) });
        *shared = Some(r.clone());
        Ok(r)
    }

    /// Rasterizes every page of `pdf` at `dpi`, with a white background. A PDF of more than
    /// `max_pages` pages is refused before any page is drawn: a 5,000-page document would
    /// otherwise take gigabytes of bitmaps.
    pub fn rasterize(&self, pdf: &[u8], dpi: u32, max_pages: usize) -> Result<Vec<RasterPage>, RasterError> {
        self.read(pdf, Draw::Pages { dpi }, max_pages)
    }

    /// Reads every page of `pdf` (text layer, fonts), drawing each at `dpi` only when `draw`
    /// says so; an undrawn page has an empty (0 × 0) image. Refuses more than `max_pages`
    /// pages before reading one, as `rasterize` does.
    pub fn read(&self, pdf: &[u8], draw: Draw, max_pages: usize) -> Result<Vec<RasterPage>, RasterError> {
        self.read_locked(pdf, None, draw, max_pages)
    }

    /// [`read`](Self::read) for a PDF that may be encrypted, opened with `password`.
    pub fn read_locked(
        &self,
        pdf: &[u8],
        password: Option<&str>,
        draw: Draw,
        max_pages: usize,
    ) -> Result<Vec<RasterPage>, RasterError> {
        let doc = self.pdfium.load_pdf_from_byte_slice(pdf, password).map_err(|e| RasterError::Open(e.to_string()))?;
        if usize::try_from(doc.pages().len()).unwrap_or(usize::MAX) > max_pages {
            return Err(RasterError::TooManyPages { limit: max_pages });
        }
        let config = match draw {
            Draw::Pages { dpi } => Some(
                PdfRenderConfig::new()
                    .scale_page_by_factor(dpi as f32 / 72.0)
                    .set_clear_color(PdfColor::WHITE)
                    .render_form_data(true),
            ),
            Draw::TextOnly => None,
        };
        let mut out = Vec::new();
        for (index, page) in doc.pages().iter().enumerate() {
            let number = index + 1;
            let page_err = |e: PdfiumError| RasterError::Page { page: number, detail: e.to_string() };
            let image = match &config {
                Some(config) => {
                    page.render_with_config(config).map_err(page_err)?.as_image().map_err(page_err)?.into_rgba8()
                }
                None => RgbaImage::new(0, 0),
            };
            let text = page.text().map_err(page_err)?.all();
            let mut fonts: Vec<String> = page
                .fonts()
                .iter()
                .map(|f| crate::fonts::strip_subset_prefix(&f.name()).to_string())
                .filter(|n| !n.is_empty())
                .collect();
            fonts.sort();
            fonts.dedup();
            out.push(RasterPage { number, image, text, fonts });
        }
        Ok(out)
    }
}
