//! Render: print a [`Document`] to PDF with a pool of pinned headless Chromium processes.
//!
//! Each document gets a fresh browser context; every request it makes is intercepted
//! (`seal`): the document's own assets and the bundled fonts are served from memory,
//! everything else is refused and recorded. The page is printed only after `load`,
//! `document.fonts.ready` and every image have settled.
//! SKELETON: being written; see issue 2.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::job::Document;

/// A request the document made that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedRequest {
    pub url: String,
    /// Why it was refused ("not one of the document's assets", "scheme file: is never served").
    pub reason: String,
    /// Chromium's resource type (Document, Stylesheet, Image, Font, Fetch, …).
    pub resource_type: String,
}

/// A face from `document.fonts` after loading settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FontFace {
    pub family: String,
    pub style: String,
    pub weight: String,
    /// `loaded`, `error`, `unloaded` or `loading`.
    pub status: String,
}

/// A font family some text asked for, and the platform font Chromium actually used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FontUsage {
    /// The first family of the element's `font-family` list.
    pub requested: String,
    /// Family names of the fonts Chromium used for that text (`CSS.getPlatformFontsForNode`).
    pub used: Vec<String>,
    /// A short sample of the text, for the error message.
    pub sample: String,
}

/// What printing a document produced.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub pdf: Vec<u8>,
    pub blocked: Vec<BlockedRequest>,
    pub font_faces: Vec<FontFace>,
    pub font_usage: Vec<FontUsage>,
    /// Wall time from acquiring a browser to having the PDF.
    pub elapsed: Duration,
}

/// How the Chromium pool runs.
#[derive(Debug, Clone)]
pub struct RenderConfig {
    pub chromium: PathBuf,
    /// Number of Chromium processes kept warm.
    pub pool_size: usize,
    /// A browser is replaced after this many documents.
    pub jobs_per_browser: u32,
    /// A document that has not printed after this long fails (and its browser is recycled).
    pub timeout: Duration,
    /// The bundled fonts directory (`fonts/`).
    pub fonts_dir: PathBuf,
}

/// Why a document could not be printed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "could not start Chromium at {path}: {detail}. Run scripts/setup to install the pinned chromium-headless-shell"
    )]
    Launch { path: PathBuf, detail: String },
    #[error("the document did not finish printing within {limit:?} (render timeout); it may load forever, loop, or wait on something that never comes")]
    Timeout { limit: Duration },
    #[error("Chromium failed while printing {label}: {detail}")]
    Browser { label: String, detail: String },
}

/// A pool of warm Chromium processes.
pub struct Renderer {
    _config: RenderConfig,
}

impl Renderer {
    pub async fn launch(config: RenderConfig) -> Result<Renderer, RenderError> {
        let _ = config;
        todo!("render pool")
    }

    /// Prints one document. A browser that crashes or hangs is replaced and the document
    /// retried once.
    pub async fn render(&self, _doc: &Document) -> Result<Rendered, RenderError> {
        todo!("render")
    }

    /// The product string Chromium reports (`HeadlessChrome/156.0.8078.79`).
    pub fn chromium_version(&self) -> &str {
        todo!()
    }

    /// Closes every browser.
    pub async fn shutdown(&self) {}
}
