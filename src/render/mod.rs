//! Render: print a [`Document`] to PDF with a pool of pinned headless Chromium processes.
//!
//! Each document gets a fresh browser context; every request it makes is intercepted
//! (`seal`): the document's own assets and the bundled fonts are served from memory,
//! everything else is refused and recorded. The page is printed only after `load`,
//! `document.fonts.ready` and every image have settled. A template's selector masks are found
//! by printing the same page again with only their elements painted ([`MaskProbe`]), when the
//! proof will compare pixels ([`Chromium::render_locating_masks`]).
//!
//! The pool (`Chromium`) keeps `pool_size` browsers warm, each with the next document's
//! context and page already made (`page::prepare`, done while the current document prints,
//! so a document never waits for one after the first), and replaces one after
//! `jobs_per_browser` documents, when it has crashed, or when it stops answering; a document
//! whose browser died is retried once on a fresh one. `browser` owns one process, `page`
//! the steps of printing one document, `seal` the request rules, `print` the options.

pub mod browser;
mod memory;
pub mod page;
pub mod print;
pub mod seal;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use tokio::sync::Semaphore;

use crate::compare::mask::Selector;
use crate::document::Document;
use crate::fonts::BundledFonts;
use browser::BrowserProcess;

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

/// The families of the document's `@font-face` rules that loaded.
pub fn loaded_families(faces: &[FontFace]) -> Vec<String> {
    faces.iter().filter(|f| f.status == "loaded").map(|f| f.family.clone()).collect()
}

/// A font family some text asked for, and the platform font Chromium actually used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FontUsage {
    /// The first family of the element's `font-family` list.
    pub requested: String,
    /// Family names of the fonts Chromium used for that text (`CSS.getPlatformFontsForNode`),
    /// asked only when the family needs explaining (`BundledFonts::accounts_for` says it is
    /// not available, or its `@font-face` failed); empty otherwise.
    pub used: Vec<String>,
    /// True when one of them is a web font the document declared (`@font-face`).
    pub custom_used: bool,
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
    /// How long each step took (context, navigate, settle, print, fonts).
    pub timings: page::PrintTimings,
    /// The mask probe, when the document's selector masks were asked for
    /// ([`Chromium::render_locating_masks`]).
    pub mask_probe: Option<MaskProbe>,
}

impl Rendered {
    /// Takes in what printing a document merged into this one found: its refused requests,
    /// fonts, time and steps (its PDF is the caller's).
    pub fn absorb(&mut self, other: &Rendered) {
        for b in &other.blocked {
            if !self.blocked.contains(b) {
                self.blocked.push(b.clone());
            }
        }
        self.font_faces.extend(other.font_faces.iter().cloned());
        self.font_usage.extend(other.font_usage.iter().cloned());
        self.elapsed += other.elapsed;
        self.timings.add(&other.timings);
    }
}

/// The same document printed a second time in the same page, right after its print, with
/// every element hidden but those its mask selectors match, whose boxes are painted
/// `compare::mask::MASK_COLOUR` (`page::mask_probe`): the layout is the one just printed, so
/// the probe's mask-coloured pixels are exactly where those elements printed.
#[derive(Debug, Clone)]
pub struct MaskProbe {
    pub pdf: Vec<u8>,
    /// Each selector with the number of elements it matched.
    pub matched: Vec<(Selector, usize)>,
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
    /// A browser whose processes (the browser and its renderers) use more resident memory
    /// than this after a document is replaced. `None`: no ceiling.
    pub memory_ceiling: Option<u64>,
    /// Pages a document may have: a document without `page_ranges` is printed up to page
    /// `max_pages + 1` only, so a 5,000-page document costs no more than one page too long
    /// (the rasterizer then refuses it). `None`: no cap.
    pub max_pages: Option<usize>,
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
    #[error(
        "Chromium crashed twice while printing {label} (the document was retried once on a fresh browser): {detail}"
    )]
    Crashed { label: String, detail: String },
    #[error(
        "the page of {label} crashed while printing, most likely because its scripts used more than the {} MiB a \
         document's JavaScript may use; make the document lighter",
        browser::JS_HEAP_MIB
    )]
    PageCrashed { label: String },
    #[error(transparent)]
    Options(#[from] print::PrintOptionError),
    #[error(transparent)]
    Fonts(#[from] crate::fonts::FontsError),
    #[error("the wait_for_expression of {label} failed: {detail}; fix the expression (it is evaluated in the page, like the console's)")]
    WaitExpression { label: String, detail: String },
    #[error("the scripts of {label} threw before it printed (fail_on_console_exceptions): {exceptions}")]
    ConsoleExceptions { label: String, exceptions: String },
    #[error(transparent)]
    Postprocess(#[from] crate::postprocess::PostprocessError),
    #[error(
        "the mask selector {selector:?} of {label} is not a CSS selector Chromium accepts ({detail}); fix it in the \
         template's template.json \"masks\""
    )]
    MaskSelector { label: String, selector: String, detail: String },
}

/// The pinned Chromium: a pool of warm browser processes that print documents. (The
/// routing choice between Chromium and the fallback is `routing::Renderer`.)
pub struct Chromium {
    config: RenderConfig,
    fonts: Arc<BundledFonts>,
    /// Owns the fonts.conf Chromium reads; removed when the renderer is dropped.
    fontconfig_dir: tempfile::TempDir,
    fontconfig: PathBuf,
    idle: Mutex<Vec<BrowserProcess>>,
    permits: Semaphore,
    version: String,
    restarts: std::sync::atomic::AtomicU64,
    memory_recycles: std::sync::atomic::AtomicU64,
    invalid: browser::InvalidMessages,
}

/// How one attempt at printing ended.
enum Attempt {
    Done(page::Printed),
    /// The document itself is at fault (or timed out on a healthy browser): no retry.
    Failed(RenderError),
    /// The browser crashed or hung: replace it and retry once.
    BrowserLost(String),
}

impl Chromium {
    /// Starts `pool_size` browsers (at least one) with only the bundled fonts visible.
    pub async fn launch(config: RenderConfig, fonts: Arc<BundledFonts>) -> Result<Chromium, RenderError> {
        browser::reap_orphans();
        let fontconfig_dir = browser::fontconfig_dir()
            .map_err(|e| RenderError::Launch { path: config.chromium.clone(), detail: format!("temp dir: {e}") })?;
        let fontconfig = fonts.write_fontconfig(fontconfig_dir.path())?;
        let size = config.pool_size.max(1);
        let invalid = browser::InvalidMessages::default();
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            idle.push(BrowserProcess::launch(&config.chromium, &fontconfig, config.timeout, invalid.clone()).await?);
        }
        let version = match idle.first() {
            Some(b) => b.browser.version().await.map(|v| v.product.clone()).unwrap_or_default(),
            None => String::new(),
        };
        Ok(Chromium {
            config,
            fonts,
            fontconfig_dir,
            fontconfig,
            idle: Mutex::new(idle),
            permits: Semaphore::new(size),
            version,
            restarts: std::sync::atomic::AtomicU64::new(0),
            memory_recycles: std::sync::atomic::AtomicU64::new(0),
            invalid,
        })
    }

    /// Prints one document (and each document merged into it) and post-processes it
    /// (`postprocess::finish`): a watermark is a second, trusted page this pool prints and
    /// lays over the first. A browser that crashes or hangs is replaced and the document
    /// retried once; a document that does not settle within the timeout fails with
    /// [`RenderError::Timeout`].
    pub async fn render(&self, doc: &Document) -> Result<Rendered, RenderError> {
        let printed = self.print(doc, &[]).await?;
        self.postprocess(doc, printed).await
    }

    /// [`Chromium::render`], and then the mask probe of the document's selector masks
    /// ([`Rendered::mask_probe`]), within the same timeout. A merged document is not probed:
    /// its masks would cover its first document's pages only.
    pub async fn render_locating_masks(&self, doc: &Document) -> Result<Rendered, RenderError> {
        let selectors = if doc.merge.is_empty() { doc.mask_selectors.as_slice() } else { &[] };
        let printed = self.print(doc, selectors).await?;
        self.postprocess(doc, printed).await
    }

    /// The documents merged into `doc` printed here, then `postprocess::finish` on them all,
    /// the watermark's stamp printed here too.
    async fn postprocess(&self, doc: &Document, mut rendered: Rendered) -> Result<Rendered, RenderError> {
        let mut merged = Vec::with_capacity(doc.merge.len());
        for part in &doc.merge {
            let printed = self.print(part, &[]).await?;
            rendered.absorb(&printed);
            merged.push(printed.pdf);
        }
        let stamp = match crate::postprocess::watermark::stamp_document(doc, &rendered.pdf)? {
            Some(stamp) => {
                let printed = self.print(&stamp, &[]).await?;
                rendered.elapsed += printed.elapsed;
                Some(printed.pdf)
            }
            None => None,
        };
        rendered.pdf =
            crate::postprocess::finish(std::mem::take(&mut rendered.pdf), merged, &doc.options, stamp.as_deref())?;
        Ok(rendered)
    }

    /// The engine's own PDF of one document (and its mask probe), not yet post-processed.
    async fn print(&self, doc: &Document, mask_selectors: &[Selector]) -> Result<Rendered, RenderError> {
        let mut params = print::print_params(&doc.options)?;
        let emulation = print::emulation(&doc.options);
        if let (None, Some(max)) = (&params.page_ranges, self.config.max_pages) {
            params.page_ranges = Some(format!("1-{}", max.saturating_add(1)));
        }
        let allowed =
            seal::Allowed { html: Arc::new(doc.html.clone()), assets: doc.assets.clone(), fonts: self.fonts.clone() };
        let _permit = self.permits.acquire().await.map_err(|_| RenderError::Browser {
            label: doc.label.clone(),
            detail: "the renderer is shutting down".into(),
        })?;
        let started = Instant::now();
        let mut last_loss = String::new();
        for attempt in 0..2 {
            let mut browser = self.take_browser().await?;
            match self.attempt(&mut browser, doc, allowed.clone(), params.clone(), emulation, mask_selectors).await {
                Attempt::Done(printed) => {
                    self.give_back(browser).await;
                    return Ok(Rendered {
                        pdf: printed.pdf,
                        blocked: printed.blocked,
                        font_faces: printed.font_faces,
                        font_usage: printed.font_usage,
                        elapsed: started.elapsed(),
                        timings: printed.timings,
                        mask_probe: printed.mask_probe,
                    });
                }
                Attempt::Failed(e) => {
                    self.give_back(browser).await;
                    return Err(e);
                }
                Attempt::BrowserLost(detail) => {
                    tracing::warn!(label = %doc.label, attempt, %detail, "browser lost; replacing it");
                    self.restarts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    browser.kill().await;
                    last_loss = detail;
                }
            }
        }
        Err(RenderError::Crashed { label: doc.label.clone(), detail: last_loss })
    }

    async fn attempt(
        &self,
        browser: &mut BrowserProcess,
        doc: &Document,
        allowed: seal::Allowed,
        params: chromiumoxide::cdp::browser_protocol::page::PrintToPdfParams,
        emulation: print::Emulation,
        mask_selectors: &[Selector],
    ) -> Attempt {
        let limit = self.config.timeout;
        let pid = browser.pid;
        // The page was made while the previous document printed; the next one is made while
        // this one prints, and the previous page is discarded meanwhile.
        let spare = browser.spare.take();
        let used = browser.used.take();
        let want_spare = browser.jobs.saturating_add(1) < self.config.jobs_per_browser;
        let b = &browser.browser;
        let label = doc.label.as_str();
        let run = async {
            let started = Instant::now();
            let mut spare = spare;
            let mut warm = match spare.take_if(|warm| !warm.crashed()) {
                Some(warm) => warm,
                None => page::prepare(b, label).await?,
            };
            let context = started.elapsed();
            let (printed, (), next) = tokio::join!(
                page::print(&mut warm, label, allowed, params, emulation, &doc.options, mask_selectors,),
                async {
                    if let Some(used) = used {
                        page::discard(b, used).await;
                    }
                },
                async {
                    match want_spare {
                        true => page::prepare(b, label)
                            .await
                            .map_err(|e| tracing::debug!(error = %e, "could not make the next page ahead"))
                            .ok(),
                        false => None,
                    }
                },
            );
            let printed = printed.map(|mut p| {
                p.timings.context = context;
                p
            });
            Ok::<_, RenderError>((printed, warm, next))
        };
        // A browser that dies mid-print leaves CDP calls hanging: notice the exit at once
        // instead of waiting out the whole timeout.
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(limit, run) => outcome,
            () = exited(pid) => {
                return Attempt::BrowserLost(format!("Chromium (pid {}) exited while printing", pid.unwrap_or(0)));
            }
        };
        let outcome = match outcome {
            Ok(Ok((printed, used, next))) => {
                browser.used = Some(used);
                browser.spare = next;
                Ok(printed)
            }
            Ok(Err(e)) => Ok(Err(e)),
            Err(elapsed) => Err(elapsed),
        };
        match outcome {
            Ok(Ok(printed)) => {
                browser.jobs += 1;
                Attempt::Done(printed)
            }
            Ok(Err(e)) => {
                if browser.is_alive() {
                    Attempt::Failed(e)
                } else {
                    Attempt::BrowserLost(e.to_string())
                }
            }
            Err(_) => {
                if browser.responds(Duration::from_secs(3)).await {
                    // The browser is fine: the document never settled. Its context is left
                    // behind mid-load, so recycle this browser rather than reuse it.
                    browser.jobs = u32::MAX;
                    Attempt::Failed(RenderError::Timeout { limit })
                } else {
                    Attempt::BrowserLost(format!("no answer from Chromium within {limit:?}"))
                }
            }
        }
    }

    /// An idle healthy browser, or a fresh one.
    async fn take_browser(&self) -> Result<BrowserProcess, RenderError> {
        loop {
            let candidate = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            match candidate {
                Some(mut b) => {
                    if b.is_alive() {
                        return Ok(b);
                    }
                    tracing::warn!(pid = ?b.pid, "idle browser died; replacing it");
                    self.restarts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    b.kill().await;
                }
                None => {
                    return BrowserProcess::launch(
                        &self.config.chromium,
                        &self.fontconfig,
                        self.config.timeout,
                        self.invalid.clone(),
                    )
                    .await
                }
            }
        }
    }

    async fn give_back(&self, browser: BrowserProcess) {
        if browser.jobs >= self.config.jobs_per_browser {
            browser.kill().await;
            return;
        }
        if let (Some(ceiling), Some(pid)) = (self.config.memory_ceiling, browser.pid) {
            let used = memory::tree_rss(pid);
            if used > ceiling {
                tracing::info!(
                    pid,
                    used_mib = used >> 20,
                    ceiling_mib = ceiling >> 20,
                    "browser over its memory ceiling; replacing it"
                );
                self.memory_recycles.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                browser.kill().await;
                return;
            }
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(browser);
        }
    }

    /// The product string Chromium reports (`HeadlessChrome/156.0.8078.129`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How many browsers were replaced after a crash or hang.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many browsers were replaced for using more memory than the ceiling.
    pub fn memory_recycles(&self) -> u64 {
        self.memory_recycles.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// CDP messages chromiumoxide could not parse (protocol drift), counted by method. Events
    /// of the Fetch, IO, Log and Target domains must never be here: `tests/it/protocol_drift.rs`.
    pub fn invalid_messages(&self) -> std::collections::BTreeMap<String, u64> {
        self.invalid.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Process ids of the idle browsers (for tests that kill one).
    pub fn idle_pids(&self) -> Vec<u32> {
        self.idle.lock().map(|i| i.iter().filter_map(|b| b.pid).collect()).unwrap_or_default()
    }

    /// The fonts.conf Chromium reads.
    pub fn fontconfig_path(&self) -> &std::path::Path {
        let _ = &self.fontconfig_dir;
        &self.fontconfig
    }

    /// True when a browser of the pool answers a trivial CDP call within `limit` (for
    /// readiness probes). A browser that does not answer is replaced. When every browser is
    /// busy printing, the pool is alive by definition.
    pub async fn ping(&self, limit: Duration) -> bool {
        let Ok(_permit) = self.permits.try_acquire() else { return true };
        let mut browser = match self.take_browser().await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no browser for a ping");
                return false;
            }
        };
        if browser.responds(limit).await {
            self.give_back(browser).await;
            return true;
        }
        tracing::warn!(pid = ?browser.pid, "browser did not answer a ping; replacing it");
        self.restarts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        browser.kill().await;
        false
    }

    /// Closes every idle browser.
    pub async fn shutdown(&self) {
        let browsers: Vec<BrowserProcess> = self.idle.lock().map(|mut i| i.drain(..).collect()).unwrap_or_default();
        for b in browsers {
            b.kill().await;
        }
    }
}

/// Resolves when process `pid` has exited (checked every 200 ms); never without a pid.
async fn exited(pid: Option<u32>) {
    let Some(pid) = pid else { return std::future::pending().await };
    while memory::is_running(pid) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
