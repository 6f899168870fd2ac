//! The proof of one document: render it, rasterize it, check its fonts.
//!
//! This is the per-document path that `check` (and later the service's workers) run;
//! comparing with a baseline is a separate step (`compare::verdict`) because a job may
//! have no baseline.

use crate::compare::mask::Located;
use crate::fontcheck::FontReport;
use crate::raster::RasterPage;
use crate::render::{MaskProbe, Rendered};

/// A printed, rasterized and font-checked document.
#[derive(Debug, Clone)]
pub struct Proof {
    pub rendered: Rendered,
    /// Every page's text and fonts; its image too when `drawn`.
    pub pages: Vec<RasterPage>,
    pub fonts: FontReport,
    /// False when the pages were read without drawing them (`Engine::prove_with`, nothing
    /// compares pixels): their images are empty. `Engine::draw` draws them.
    pub drawn: bool,
    /// How long reading (and drawing) the pages took.
    pub raster: std::time::Duration,
    /// Where the document's selector masks printed, read from Chromium's mask probe when the
    /// pages were drawn (empty otherwise, and on the fallback engine).
    pub masks: Located,
}

use std::path::PathBuf;
use std::time::Duration;

use crate::document::Document;
use crate::pins::Environment;

/// How to start an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub fonts_dir: PathBuf,
    pub dpi: u32,
    pub pool_size: usize,
    pub jobs_per_browser: u32,
    pub render_timeout: Duration,
    /// A browser using more resident memory than this (MiB, with its renderers) after a
    /// document is replaced; 0 for no ceiling.
    pub memory_ceiling_mib: u64,
    /// Pages a document may have: Chromium prints one more at most, and a longer PDF is
    /// refused before it is rasterized.
    pub max_pages: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            fonts_dir: crate::fonts::default_fonts_dir(),
            dpi: crate::raster::DEFAULT_DPI,
            pool_size: 2,
            jobs_per_browser: 50,
            render_timeout: Duration::from_secs(30),
            memory_ceiling_mib: 1024,
            max_pages: crate::document::DEFAULT_MAX_PAGES,
        }
    }
}

/// Why the engine could not start or a document could not be proved.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Pins(#[from] crate::pins::PinError),
    #[error(transparent)]
    Fonts(#[from] crate::fonts::FontsError),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error(transparent)]
    Raster(#[from] crate::raster::RasterError),
}

/// Everything needed to prove documents: the Chromium pool, PDFium, the bundled fonts,
/// and the environment they make up.
pub struct Engine {
    pub chromium: crate::render::Chromium,
    pub rasterizer: std::sync::Arc<crate::raster::Rasterizer>,
    pub fonts: crate::fonts::BundledFonts,
    pub environment: Environment,
    /// Pages a document may have ([`EngineConfig::max_pages`]).
    pub max_pages: usize,
}

impl Engine {
    /// Checks the pinned Chromium and PDFium, loads the fonts (the pinned ones checked), launches the pool.
    pub async fn start(config: EngineConfig) -> Result<Engine, EngineError> {
        let pins = crate::pins::Pins::compiled();
        let chromium = pins.check_chromium()?;
        let pdfium = pins.check_pdfium()?;
        let rasterizer = crate::raster::Rasterizer::shared(&pdfium)?;
        let fonts = crate::fonts::BundledFonts::load(&config.fonts_dir)?;
        pins.check_fonts(&fonts)?;
        let environment = Environment {
            chromium,
            pdfium_build: pins.pdfium_build.clone(),
            fonts_hash: fonts.hash.clone(),
            dpi: config.dpi,
            fallback: None,
        };
        let render_config = crate::render::RenderConfig {
            chromium: pins.chromium_path(),
            pool_size: config.pool_size,
            jobs_per_browser: config.jobs_per_browser,
            timeout: config.render_timeout,
            memory_ceiling: (config.memory_ceiling_mib > 0).then_some(config.memory_ceiling_mib << 20),
            max_pages: Some(config.max_pages),
        };
        let chromium = crate::render::Chromium::launch(render_config, std::sync::Arc::new(fonts.clone())).await?;
        tracing::info!(chromium = chromium.version(), pdfium = %environment.pdfium_build, "engine ready");
        Ok(Engine { chromium, rasterizer, fonts, environment, max_pages: config.max_pages })
    }

    /// Renders, rasterizes and font-checks one document.
    pub async fn prove(&self, doc: &Document) -> Result<Proof, EngineError> {
        self.prove_with(doc, true).await
    }

    /// Renders and font-checks one document, drawing its pages only when `draw` (a proof that
    /// compares no pixels needs the page count, text and fonts alone). A drawn proof of a
    /// document with selector masks locates them too (Chromium's mask probe): only such
    /// documents pay for it.
    pub async fn prove_with(&self, doc: &Document, draw: bool) -> Result<Proof, EngineError> {
        let rendered = match draw && !doc.mask_selectors.is_empty() && doc.merge.is_empty() {
            true => self.chromium.render_locating_masks(doc).await?,
            false => self.chromium.render(doc).await?,
        };
        self.proof_of(rendered, doc, draw).await
    }

    /// The proof of a printed document: its pages read (drawn when `draw`), its fonts checked,
    /// its selector masks located when it has a mask probe and is drawn.
    pub async fn proof_of(&self, rendered: Rendered, doc: &Document, draw: bool) -> Result<Proof, EngineError> {
        let started = std::time::Instant::now();
        let pages = self.read(&rendered.pdf, draw).await?;
        let masks = match (&rendered.mask_probe, draw) {
            (Some(probe), true) => self.locate(probe).await?,
            _ => Located::default(),
        };
        let raster = started.elapsed();
        let mut fonts = crate::fontcheck::check(&rendered, &pages, &self.fonts, doc.fonts_are_strict());
        fonts.problems.extend(crate::fontcheck::missing_glyphs(&pages, &self.fonts));
        Ok(Proof { rendered, pages, fonts, drawn: draw, raster, masks })
    }

    /// The probe's pages drawn at the engine's DPI (as the proof's are), each read back as the
    /// rectangles of its mask-coloured pixels.
    async fn locate(&self, probe: &MaskProbe) -> Result<Located, EngineError> {
        let pages = self.rasterize(&probe.pdf).await?;
        let pages = tokio::task::spawn_blocking(move || {
            pages.iter().map(|p| crate::compare::mask::locate(&p.image)).collect::<Vec<_>>()
        })
        .await
        .map_err(|e| crate::raster::RasterError::Open(format!("the mask probe's task failed: {e}")))?;
        Ok(Located { pages, matched: probe.matched.clone() })
    }

    /// Draws the pages of a proof read without drawing them (for a held job's artifacts).
    pub async fn draw(&self, proof: &mut Proof) -> Result<(), EngineError> {
        if !proof.drawn {
            let started = std::time::Instant::now();
            proof.pages = self.rasterize(&proof.rendered.pdf).await?;
            proof.drawn = true;
            proof.raster += started.elapsed();
        }
        Ok(())
    }

    /// Rasterizes a PDF at the engine's DPI on a blocking thread.
    pub async fn rasterize(&self, pdf: &[u8]) -> Result<Vec<RasterPage>, EngineError> {
        self.read(pdf, true).await
    }

    /// The pages (text, no pixels) of an encrypted PDF, opened with `password`: how the
    /// encrypted file is proved to be the proved document.
    pub async fn reopen(&self, pdf: &[u8], password: &str) -> Result<Vec<RasterPage>, EngineError> {
        let (rasterizer, pdf, password, max_pages) =
            (self.rasterizer.clone(), pdf.to_vec(), password.to_string(), self.max_pages);
        let read = move || rasterizer.read_locked(&pdf, Some(&password), crate::raster::Draw::TextOnly, max_pages);
        let pages = tokio::task::spawn_blocking(read)
            .await
            .map_err(|e| crate::raster::RasterError::Open(format!("the raster task failed: {e}")))??;
        Ok(pages)
    }

    async fn read(&self, pdf: &[u8], draw: bool) -> Result<Vec<RasterPage>, EngineError> {
        let rasterizer = self.rasterizer.clone();
        let pdf = pdf.to_vec();
        let draw = match draw {
            true => crate::raster::Draw::Pages { dpi: self.environment.dpi },
            false => crate::raster::Draw::TextOnly,
        };
        let max_pages = self.max_pages;
        let pages = tokio::task::spawn_blocking(move || rasterizer.read(&pdf, draw, max_pages))
            .await
            .map_err(|e| crate::raster::RasterError::Open(format!("the raster task failed: {e}")))??;
        Ok(pages)
    }
}
