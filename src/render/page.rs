//! Printing one document in a fresh browser context.
//!
//! The steps, in order: `prepare` an isolated browser context and a page in it, answering
//! every request through the Fetch domain (`seal`) before anything loads, with the viewport
//! locked (the pool does this for the next document while the current one prints); `print`:
//! navigate to the synthetic document URL; wait for `load`, `document.fonts.ready` and every
//! image, beginning the page's frames meanwhile (`drive_frames`: nothing is drawn for a
//! screen), then two frames more; print with `Page.printToPDF` streamed back over `IO.read`;
//! ask Chromium which platform fonts drew the text; print the mask probe when the document's
//! selector masks are asked for (`mask_probe`); then `discard` the page and its context (the pool does this
//! while the next document loads). Every CDP call here is bounded by the caller's timeout
//! (see `Chromium::render`).
//!
//! Alongside, for the page's whole life: dialogs are dismissed as they open, WebSockets and
//! popups (which Fetch never sees) are listed with the refused requests, and a crash of the
//! page's renderer ends the print at once (`RenderError::PageCrashed`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::css::{EnableParams as CssEnable, GetPlatformFontsForNodeParams};
use chromiumoxide::cdp::browser_protocol::dom::Rgba;
use chromiumoxide::cdp::browser_protocol::dom::{EnableParams as DomEnable, GetDocumentParams, RequestNodeParams};
use chromiumoxide::cdp::browser_protocol::emulation::{
    SetDefaultBackgroundColorOverrideParams, SetDeviceMetricsOverrideParams, SetEmulatedMediaParams,
};
use chromiumoxide::cdp::browser_protocol::fetch::{
    EnableParams as FetchEnable, EventRequestPaused, FailRequestParams, FulfillRequestParams, HeaderEntry,
    RequestPattern, RequestStage,
};
use chromiumoxide::cdp::browser_protocol::headless_experimental::BeginFrameParams;
use chromiumoxide::cdp::browser_protocol::inspector::{EnableParams as InspectorEnable, EventTargetCrashed};
use chromiumoxide::cdp::browser_protocol::io::{CloseParams, ReadParams};
use chromiumoxide::cdp::browser_protocol::log::{EnableParams as LogEnable, EventEntryAdded};
use chromiumoxide::cdp::browser_protocol::network::{ErrorReason, EventWebSocketCreated};
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, EventJavascriptDialogOpening, EventWindowOpen,
    HandleJavaScriptDialogParams, PrintToPdfParams,
};
use chromiumoxide::cdp::browser_protocol::target::{
    CloseTargetParams, CreateBrowserContextParams, CreateTargetParams, DisposeBrowserContextParams,
};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::listeners::EventStream;
use chromiumoxide::Page;
use futures::StreamExt;
use serde::Deserialize;

use super::seal::{Allowed, Decision, DOC_URL};
use super::{BlockedRequest, FontFace, FontUsage, MaskProbe, RenderError};
use crate::compare::mask::Selector;

/// The locked viewport: CSS pixels and device scale factor, the same for every document.
pub const VIEWPORT: (i64, i64, f64) = (1280, 1024, 1.0);

/// What one print produced, before the pool adds timings.
pub struct Printed {
    pub pdf: Vec<u8>,
    pub blocked: Vec<BlockedRequest>,
    pub font_faces: Vec<FontFace>,
    pub font_usage: Vec<FontUsage>,
    pub timings: PrintTimings,
    pub mask_probe: Option<MaskProbe>,
}

fn cdp_err(label: &str, step: &str) -> impl Fn(chromiumoxide::error::CdpError) -> RenderError {
    let label = label.to_string();
    let step = step.to_string();
    move |e| RenderError::Browser { label: label.clone(), detail: format!("{step}: {e}") }
}

/// A context and page made ready before a document needs them: the context, the page in it,
/// the listeners (requests, log, dialogs, WebSockets, popups, crashes) and the Fetch seal,
/// all set up, with no document in it yet. `Chromium` makes the next one while the current
/// document prints, so creating a context is off a document's critical path.
pub struct Warm {
    ctx: BrowserContextId,
    page: Page,
    /// The document the page serves once it is given one, and what it refused.
    slot: Arc<Mutex<Slot>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    crashes: EventStream<EventTargetCrashed>,
}

/// The document a warm page prints, set when it is given one.
#[derive(Default)]
struct Slot {
    allowed: Option<Allowed>,
    blocked: Vec<BlockedRequest>,
}

impl Warm {
    /// True when the page's renderer crashed while it waited (it would never print).
    pub fn crashed(&mut self) -> bool {
        use futures::FutureExt;
        matches!(self.crashes.next().now_or_never(), Some(Some(_)))
    }
}

impl Drop for Warm {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Creates a fresh isolated context and a page in it, sealed (every request is paused until
/// `print` answers it), with the viewport locked. Nothing is loaded yet.
pub async fn prepare(browser: &chromiumoxide::Browser, label: &str) -> Result<Warm, RenderError> {
    let ctx = browser
        .execute(CreateBrowserContextParams { dispose_on_detach: Some(true), ..Default::default() })
        .await
        .map_err(cdp_err(label, "creating a browser context"))?
        .result
        .browser_context_id;
    // Its frames come from `drive_frames`, not from a display clock (see `browser::FLAGS`).
    let target = CreateTargetParams::builder()
        .url("about:blank")
        .browser_context_id(ctx.clone())
        .enable_begin_frame_control(true)
        .build()
        .map_err(|e| RenderError::Browser { label: label.to_string(), detail: format!("target parameters: {e}") })?;
    let page = match browser.new_page(target).await {
        Ok(page) => page,
        Err(e) => {
            let _ = browser.execute(DisposeBrowserContextParams::new(ctx)).await;
            return Err(cdp_err(label, "opening a page")(e));
        }
    };
    match seal_page(&page, label).await {
        Ok((slot, tasks, crashes)) => Ok(Warm { ctx, page, slot, tasks, crashes }),
        Err(e) => {
            close(browser, ctx, &page).await;
            Err(e)
        }
    }
}

/// Closes a used (or unused) page and disposes of its context: cookies, storage, caches and
/// service workers go with it.
pub async fn discard(browser: &chromiumoxide::Browser, warm: Warm) {
    for task in &warm.tasks {
        task.abort();
    }
    close(browser, warm.ctx.clone(), &warm.page).await;
}

async fn close(browser: &chromiumoxide::Browser, ctx: BrowserContextId, page: &Page) {
    let _ = browser.execute(CloseTargetParams::new(page.target_id().clone())).await;
    let _ = browser.execute(DisposeBrowserContextParams::new(ctx)).await;
}

type Sealed = (Arc<Mutex<Slot>>, Vec<tokio::task::JoinHandle<()>>, EventStream<EventTargetCrashed>);

/// Subscribes to everything a print must watch, then enables interception for every URL and
/// locks the viewport (those calls at once: they do not depend on each other).
async fn seal_page(page: &Page, label: &str) -> Result<Sealed, RenderError> {
    // Subscribe first, then enable interception.
    let slot = Arc::new(Mutex::new(Slot::default()));
    let mut tasks = Vec::new();
    let mut paused =
        page.event_listener::<EventRequestPaused>().await.map_err(cdp_err(label, "listening for requests"))?;
    let answer_page = page.clone();
    let answer_slot = slot.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(event) = paused.next().await {
            answer(&answer_page, &event, &answer_slot).await;
        }
    }));
    // Requests Chromium refuses before they reach Fetch (file: URLs from an https page)
    // are only visible as console log entries; record them too.
    let mut log_entries =
        page.event_listener::<EventEntryAdded>().await.map_err(cdp_err(label, "listening to the log"))?;
    let log_slot = slot.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(event) = log_entries.next().await {
            if let Some(url) = refused_by_chromium(&event.entry.text) {
                tracing::info!(%url, "request refused by Chromium");
                if let Ok(mut s) = log_slot.lock() {
                    if !s.blocked.iter().any(|x| x.url == url) {
                        s.blocked.push(BlockedRequest {
                            url,
                            reason: "file: URLs are never served: documents cannot read the file system".into(),
                            resource_type: "Other".into(),
                        });
                    }
                }
            }
        }
    }));
    // `alert()`, `confirm()`, `prompt()` and `onbeforeunload` stop the page until someone
    // answers; nobody will. Dismiss each at once (confirm is false, prompt null, and the page
    // stays), so the document goes on and prints.
    let mut dialogs =
        page.event_listener::<EventJavascriptDialogOpening>().await.map_err(cdp_err(label, "listening for dialogs"))?;
    let dialog_page = page.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(event) = dialogs.next().await {
            tracing::info!(kind = ?event.r#type, message = %event.message, "dialog dismissed");
            if let Err(e) = dialog_page.execute(HandleJavaScriptDialogParams::new(false)).await {
                tracing::debug!(error = %e, "could not dismiss a dialog");
            }
        }
    }));
    // What the Fetch domain never sees, and the browser's flags stop (see `browser::FLAGS`): a
    // WebSocket (no name or address resolves) and a popup (no new window is made). List them
    // with the refused requests all the same, so the result says what the document tried.
    let mut sockets =
        page.event_listener::<EventWebSocketCreated>().await.map_err(cdp_err(label, "listening for WebSockets"))?;
    let mut popups = page.event_listener::<EventWindowOpen>().await.map_err(cdp_err(label, "listening for popups"))?;
    let watch_slot = slot.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            let (url, reason, kind) = tokio::select! {
                Some(e) = sockets.next() => (e.url.clone(), "WebSockets are never opened: no host name or address resolves inside the browser", "WebSocket"),
                Some(e) = popups.next() => (e.url.clone(), "popups are never opened: a document prints in its own page alone", "Popup"),
                else => break,
            };
            tracing::info!(%url, kind, "refused outside the Fetch domain");
            record(&watch_slot, url, reason.to_string(), kind.to_string());
        }
    }));
    // A page whose renderer dies (a script that outgrew its heap, see `browser::FLAGS`) never
    // answers again: `print` ends at once rather than at the timeout.
    let crashes = page.event_listener::<EventTargetCrashed>().await.map_err(cdp_err(label, "listening for crashes"))?;
    let fetch = FetchEnable {
        patterns: Some(vec![RequestPattern {
            url_pattern: Some("*".into()),
            resource_type: None,
            request_stage: Some(RequestStage::Request),
        }]),
        handle_auth_requests: None,
    };
    // The viewport: no touch emulation, no mobile.
    let (w, h, dsf) = VIEWPORT;
    let enabled = tokio::try_join!(
        async { page.execute(InspectorEnable::default()).await.map_err(cdp_err(label, "enabling crash reports")) },
        async { page.execute(LogEnable::default()).await.map_err(cdp_err(label, "enabling the log")) },
        async { page.execute(fetch).await.map_err(cdp_err(label, "enabling request interception")) },
        async {
            page.execute(SetDeviceMetricsOverrideParams::new(w, h, dsf, false))
                .await
                .map_err(cdp_err(label, "locking the viewport"))
        },
    );
    if let Err(e) = enabled {
        for task in &tasks {
            task.abort();
        }
        return Err(e);
    }
    Ok((slot, tasks, crashes))
}

/// How long each step of one print took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrintTimings {
    /// Waiting for a warm page (zero when one was ready), or making one.
    pub context: Duration,
    /// From setting `location` to the new document answering.
    pub navigate: Duration,
    /// Load, `window.pixelproofReady`, fonts, images, two frames.
    pub settle: Duration,
    /// `Page.printToPDF` and reading the stream (and the mask probe's, when there is one).
    pub print: Duration,
    /// Which platform fonts drew the text.
    pub fonts: Duration,
}

impl PrintTimings {
    /// Adds another print's steps to these (a merged document's documents).
    pub fn add(&mut self, other: &PrintTimings) {
        self.context += other.context;
        self.navigate += other.navigate;
        self.settle += other.settle;
        self.print += other.print;
        self.fonts += other.fonts;
    }
}

/// Prints a document in `warm`'s page. The page is used up: `discard` it after.
/// `emulation` is sent only when it asks for something (the emulated media before the
/// document loads, so it settles with the fonts and images that media uses; the
/// transparent background just before printing, as Puppeteer does). `options` give the wait
/// before printing and the title; `mask_selectors`, when any, the mask probe after it.
pub async fn print(
    warm: &mut Warm,
    label: &str,
    allowed: Allowed,
    params: PrintToPdfParams,
    emulation: super::print::Emulation,
    options: &crate::document::PrintOptions,
    mask_selectors: &[Selector],
) -> Result<Printed, RenderError> {
    let wait = super::print::wait(options);
    let title = options.title.as_deref();
    let fonts = allowed.fonts.clone();
    if let Ok(mut s) = warm.slot.lock() {
        s.allowed = Some(allowed);
    }
    let page = &warm.page;
    let mut timings = PrintTimings::default();
    let work = async {
        // Navigate by script: chromiumoxide tracks `Page.navigate` itself and waits for every
        // frame's lifecycle, which never completes when a child frame was refused.
        tracing::debug!(label, "navigating");
        if wait.exceptions_fail {
            page.execute(AddScriptToEvaluateOnNewDocumentParams::new(CATCH_JS))
                .await
                .map_err(cdp_err(label, "watching for exceptions"))?;
        }
        if let Some(media) = emulation.media {
            let media = SetEmulatedMediaParams { media: Some(media.to_string()), features: None };
            page.execute(media).await.map_err(cdp_err(label, "emulating the media type"))?;
        }
        let started = Instant::now();
        let mut nav = EvaluateParams::new(format!("location.href = {DOC_URL:?}; 'ok'"));
        nav.return_by_value = Some(true);
        page.execute(nav).await.map_err(cdp_err(label, "navigating"))?;
        tracing::debug!(label, "navigation started; waiting for the document to settle");
        // Frames only while the document loads and settles: nothing needs them to print.
        let (font_faces, navigated) = settle(page, label, &wait).await?;
        if wait.exceptions_fail {
            let thrown = evaluate_string(page, label, CAUGHT_JS).await?;
            let thrown: Vec<String> = serde_json::from_str(&thrown).unwrap_or_default();
            if !thrown.is_empty() {
                let exceptions = thrown.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
                return Err(RenderError::ConsoleExceptions { label: label.to_string(), exceptions });
            }
        }
        timings.navigate = navigated.saturating_duration_since(started);
        timings.settle = navigated.elapsed();

        // Print (the PDF's Title metadata comes from document.title).
        let started = Instant::now();
        if let Some(title) = title {
            let js = format!("document.title = {}; 'ok'", serde_json::Value::String(title.to_string()));
            evaluate_string(page, label, &js).await?;
        }
        if emulation.transparent {
            let clear = Rgba { r: 0, g: 0, b: 0, a: Some(0.0) };
            page.execute(SetDefaultBackgroundColorOverrideParams { color: Some(clear) })
                .await
                .map_err(cdp_err(label, "making the page background transparent"))?;
        }
        let params = match options.single_page {
            true => one_page(page, label, params, emulation.media).await?,
            false => params,
        };
        tracing::debug!(label, "settled; printing");
        let probe_params = (!mask_selectors.is_empty()).then(|| params.clone());
        let pdf = print_pdf(page, label, params).await?;
        timings.print = started.elapsed();

        // Which platform fonts drew the text.
        let started = Instant::now();
        let loaded = super::loaded_families(&font_faces);
        let failed: Vec<String> = font_faces
            .iter()
            .filter(|f| f.status == "error")
            .map(|f| crate::fonts::normalize_font_name(&f.family))
            .collect();
        let explain = |requested: &str| {
            !fonts.accounts_for(requested, &loaded) || failed.contains(&crate::fonts::normalize_font_name(requested))
        };
        let font_usage = font_usage(page, label, explain).await?;
        timings.fonts = started.elapsed();

        // Last, as it changes the page's styles: the mask probe.
        let started = Instant::now();
        let mask_probe = match probe_params {
            Some(params) => Some(mask_probe(page, label, mask_selectors, params).await?),
            None => None,
        };
        timings.print += started.elapsed();
        Ok((pdf, font_faces, font_usage, mask_probe))
    };
    let result: Result<_, RenderError> = tokio::select! {
        result = work => result,
        Some(_) = warm.crashes.next() => Err(RenderError::PageCrashed { label: label.to_string() }),
    };
    for task in &warm.tasks {
        task.abort();
    }
    let blocked = warm.slot.lock().map(|s| s.blocked.clone()).unwrap_or_default();
    let (pdf, font_faces, font_usage, mask_probe) = result?;
    Ok(Printed { pdf, blocked, font_faces, font_usage, timings, mask_probe })
}

/// Ignores every page break, then measures the settled document's height, in CSS pixels, laid
/// out at the width it prints at (`single_page`).
const ONE_PAGE_JS: &str = r#"(() => {
  const style = document.createElement('style');
  style.textContent = '*, *::before, *::after { break-before: auto !important; break-after: auto !important; ' +
    'break-inside: auto !important; page-break-before: auto !important; page-break-after: auto !important; ' +
    'page-break-inside: auto !important; }';
  (document.head || document.documentElement).appendChild(style);
  const root = document.documentElement;
  const height = Math.max(root.scrollHeight, root.getBoundingClientRect().height,
    document.body ? document.body.scrollHeight : 0);
  return String(Math.ceil(height));
})()"#;

/// `params` for one page as tall as the document (`single_page`): the viewport is set to the
/// width the document prints at (paper width less margins, over the scale) in the media it
/// prints in, its height measured with page breaks ignored (`ONE_PAGE_JS`), and the paper
/// made that tall (plus the margins and a pixel for rounding). The viewport is put back after.
async fn one_page(
    page: &Page,
    label: &str,
    mut params: PrintToPdfParams,
    media: Option<&'static str>,
) -> Result<PrintToPdfParams, RenderError> {
    let (paper_w, paper_h) = (params.paper_width.unwrap_or(8.5), params.paper_height.unwrap_or(11.0));
    let width = if params.landscape == Some(true) { paper_h } else { paper_w };
    let scale = params.scale.unwrap_or(1.0);
    let margin = |m: Option<f64>| m.unwrap_or(0.0);
    let (top, bottom) = (margin(params.margin_top), margin(params.margin_bottom));
    let (left, right) = (margin(params.margin_left), margin(params.margin_right));
    let css_px = ((width - left - right).max(0.01) * 96.0 / scale).round().max(1.0) as i64;
    let print_media = SetEmulatedMediaParams { media: Some(media.unwrap_or("print").to_string()), features: None };
    page.execute(print_media).await.map_err(cdp_err(label, "emulating the print media to measure it"))?;
    let (_, h, dsf) = VIEWPORT;
    page.execute(SetDeviceMetricsOverrideParams::new(css_px, h, dsf, false))
        .await
        .map_err(cdp_err(label, "setting the viewport to the printed width"))?;
    let measured = evaluate_string(page, label, ONE_PAGE_JS).await?;
    let (w, h, dsf) = VIEWPORT;
    page.execute(SetDeviceMetricsOverrideParams::new(w, h, dsf, false))
        .await
        .map_err(cdp_err(label, "restoring the viewport"))?;
    let css_height: f64 = measured.parse().map_err(|_| RenderError::Browser {
        label: label.to_string(),
        detail: format!("measuring the document's height gave {measured:?}, not a number"),
    })?;
    let inches = (css_height + 1.0) * scale / 96.0 + top + bottom;
    if inches > super::print::MAX_PAGE_INCHES {
        return Err(super::print::PrintOptionError::SinglePageTooTall { inches }.into());
    }
    params.landscape = Some(false);
    params.paper_width = Some(width);
    params.paper_height = Some(inches.max(top + bottom + 0.1));
    Ok(params)
}

/// The URL in a console message Chromium writes when it refuses a local resource itself
/// ("Not allowed to load local resource: file:///…", "Fetch API cannot load file:///…").
fn refused_by_chromium(text: &str) -> Option<String> {
    let start = text.find("file:").or_else(|| text.to_ascii_lowercase().find("file:"))?;
    let rest = &text[start..];
    let end = rest.find(|c: char| c.is_whitespace() || c == '"' || c == '\'').unwrap_or(rest.len());
    let url = rest[..end].trim_end_matches(['.', ',']);
    let lower = text.to_ascii_lowercase();
    (lower.contains("not allowed to load local resource")
        || lower.contains("cannot load")
        || lower.contains("url scheme"))
    .then(|| url.to_string())
}

/// Answers one paused request: fulfil from memory, or fail it and record why. A request
/// before the page has a document (there should be none: `about:blank` loads nothing) is
/// failed.
async fn answer(page: &Page, event: &EventRequestPaused, slot: &Mutex<Slot>) {
    let url = &event.request.url;
    let allowed = slot.lock().ok().and_then(|s| s.allowed.clone());
    let decision = match &allowed {
        Some(allowed) => allowed.decide(url),
        None => Decision::Refuse { reason: "the page has no document yet".into() },
    };
    let result = match decision {
        Decision::Serve { body, content_type } => {
            let mut fulfil = FulfillRequestParams::new(event.request_id.clone(), 200);
            fulfil.response_headers = Some(vec![
                HeaderEntry::new("Content-Type", content_type),
                HeaderEntry::new("Cache-Control", "no-store"),
                HeaderEntry::new("Access-Control-Allow-Origin", "https://document.invalid"),
            ]);
            fulfil.body = Some(base64::engine::general_purpose::STANDARD.encode(body).into());
            page.execute(fulfil).await.map(|_| ())
        }
        Decision::Refuse { reason } => {
            tracing::info!(%url, %reason, "request refused");
            let resource_type = event.resource_type.as_ref().to_string();
            let navigation = resource_type == "Document";
            record(slot, url.clone(), reason, resource_type);
            if navigation {
                // A navigation (meta refresh, `location =`, a form, a link, an iframe's src):
                // "204 No Content" makes the frame stay where it is, so the document still
                // prints, rather than an error page replacing it mid-print.
                page.execute(FulfillRequestParams::new(event.request_id.clone(), 204)).await.map(|_| ())
            } else {
                page.execute(FailRequestParams::new(event.request_id.clone(), ErrorReason::BlockedByClient))
                    .await
                    .map(|_| ())
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(%url, error = %e, "could not answer a paused request");
    }
}

/// Adds a refused request to the list, once: the same URL may be asked for twice (the preload
/// scanner, then the parser).
fn record(slot: &Mutex<Slot>, url: String, reason: String, resource_type: String) {
    if let Ok(mut s) = slot.lock() {
        if !s.blocked.iter().any(|x| x.url == url && x.resource_type == resource_type) {
            s.blocked.push(BlockedRequest { url, reason, resource_type });
        }
    }
}

/// Run before the document's own scripts when `fail_on_console_exceptions`: keeps every
/// uncaught exception and unhandled rejection (script errors only: a failed image or
/// stylesheet fires no `ErrorEvent` at the window).
const CATCH_JS: &str = r#"(() => {
  const caught = [];
  Object.defineProperty(window, '__pixelproofCaught', { value: caught });
  addEventListener('error', e => { if (e instanceof ErrorEvent) caught.push(String(e.message)); });
  addEventListener('unhandledrejection', e => caught.push('unhandled rejection: ' + String(e.reason)));
})()"#;

/// The exceptions `CATCH_JS` kept, as a JSON array of strings.
const CAUGHT_JS: &str = "JSON.stringify((window.__pixelproofCaught || []).slice(0, 20))";

/// Waits for the document at `DOC_URL` to load, for the promise in `window.pixelproofReady` if
/// the document set one, for its fonts to be ready and every image to be decoded.
const SETTLE_JS: &str = r#"(async () => {
  // The document, not the blank page before it: the URL it was navigated to, which neither a
  // #fragment nor history.pushState changes (`location` would wait out the timeout after those).
  const nav = performance.getEntriesByType("navigation")[0];
  const loaded = nav ? new URL(nav.name) : location;
  if (loaded.origin + loaded.pathname !== "https://document.invalid/index.html") return "not-yet";
  if (document.readyState !== "complete") {
    // The load event; or, when a navigation the seal refused left the document "interactive"
    // for good (it happens to a meta refresh raced by a click), two seconds after it parsed.
    // The waits below still hold the print for every font and image.
    await Promise.race([
      new Promise(r => window.addEventListener("load", r, { once: true })),
      new Promise(r => { const poll = () => document.readyState === "complete" ? r() : setTimeout(poll, 25); poll(); }),
      new Promise(r => { const poll = () => document.readyState === "interactive" ? setTimeout(r, 2000) : setTimeout(poll, 25); poll(); }),
    ]);
  }
  // A document whose scripts still work after load (fetching its data, drawing a chart) says
  // when it is ready with a promise; the render timeout bounds the wait.
  if (window.pixelproofReady && typeof window.pixelproofReady.then === "function") {
    await Promise.resolve(window.pixelproofReady).catch(e => { throw new Error("window.pixelproofReady was rejected: " + e); });
  }
  await document.fonts.ready;
  // A lazy image below the fold would never start loading (and never print): load them all.
  for (const img of document.images) if (img.loading === "lazy") img.loading = "eager";
  await Promise.all([...document.images].map(img => img.complete ? null :
    new Promise(r => { img.addEventListener("load", r, { once: true }); img.addEventListener("error", r, { once: true }); })));
  await Promise.all([...document.images].map(img => img.decode ? img.decode().catch(() => null) : null));
  await document.fonts.ready;
  return "loaded";
})()"#;

/// After the two frames that follow `SETTLE_JS` (see `settle`): the state of every
/// `document.fonts` face, once any font those frames asked for has loaded.
const FACES_JS: &str = r#"(async () => {
  await document.fonts.ready;
  return JSON.stringify([...document.fonts].map(f => ({ family: f.family.replace(/^["']|["']$/g, ""), style: f.style, weight: String(f.weight), status: f.status })));
})()"#;

/// True once the page shows the document at `DOC_URL` (the same test `SETTLE_JS` starts with).
const NAVIGATED_JS: &str = r#"(() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const loaded = nav ? new URL(nav.name) : location;
  return loaded.origin + loaded.pathname === "https://document.invalid/index.html" ? "yes" : "not-yet";
})()"#;

/// Waits for the navigation to reach the document and for it to load (`SETTLE_JS`), beginning
/// its frames at 60 Hz meanwhile (`drive_frames`), then begins two more frames at once, one
/// after the other, so that what the document does in animation frames is done, and reads
/// `document.fonts` (`FACES_JS`). Returns the faces and when the document was there.
///
/// The two frames are begun back to back rather than on the 60 Hz clock: a display would take
/// up to two frame intervals (33 ms) for them, and nothing needs the wait.
async fn settle(page: &Page, label: &str, wait: &super::print::Wait) -> Result<(Vec<FontFace>, Instant), RenderError> {
    let loaded = tokio::sync::watch::channel(false);
    let (navigated, ()) = tokio::try_join!(
        async {
            // The job's own wait, with frames still running (animations, observers).
            let navigated = match load(page, label).await {
                Ok(at) => wait_for(page, label, wait).await.map(|()| at),
                Err(e) => Err(e),
            };
            // Stop the clock whatever happened (an error ends `try_join!` anyway).
            let _ = loaded.0.send(true);
            navigated
        },
        drive_frames(page, label, loaded.1),
    )?;
    for _ in 0..2 {
        begin_frame(page, label).await?;
    }
    let faces = loop {
        match evaluate_string(page, label, FACES_JS).await {
            Ok(v) => break v,
            Err(e) if is_navigation_race(&e.to_string()) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(e) => return Err(e),
        }
    };
    let faces = serde_json::from_str(&faces).map_err(|e| RenderError::Browser {
        label: label.to_string(),
        detail: format!("reading document.fonts: {e}"),
    })?;
    Ok((faces, navigated))
}

/// How often a job's `wait_for_expression` is evaluated.
const WAIT_POLL: Duration = Duration::from_millis(20);

/// The job's wait: its delay, then its expression until it is truthy (an expression that
/// throws ends the wait with the job's error). The render timeout bounds both.
async fn wait_for(page: &Page, label: &str, wait: &super::print::Wait) -> Result<(), RenderError> {
    if let Some(delay) = wait.delay {
        tokio::time::sleep(delay).await;
    }
    let Some(expression) = &wait.expression else { return Ok(()) };
    // `eval` of a JSON string: the expression is data here, whatever it contains.
    let script =
        format!("(async () => (await eval({})) ? 'yes' : 'no')()", serde_json::Value::String(expression.clone()));
    loop {
        match evaluate_string(page, label, &script).await {
            Ok(v) if v == "yes" => return Ok(()),
            Ok(_) => {}
            Err(RenderError::Browser { detail, .. }) if detail.starts_with("script error") => {
                return Err(RenderError::WaitExpression { label: label.to_string(), detail });
            }
            Err(e) => return Err(e),
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// Waits for the navigation to reach the document, then for it to load (`SETTLE_JS`).
/// Returns when the document was there.
async fn load(page: &Page, label: &str) -> Result<Instant, RenderError> {
    let mut navigated = None;
    loop {
        let script = if navigated.is_some() { SETTLE_JS } else { NAVIGATED_JS };
        match evaluate_string(page, label, script).await {
            Ok(v) if v == "not-yet" => navigated = None,
            Ok(v) if v == "yes" && navigated.is_none() => {
                navigated = Some(Instant::now());
                continue;
            }
            Ok(_) => return Ok(navigated.unwrap_or_else(Instant::now)),
            // The navigation replaced the context while we were evaluating: try again.
            Err(e) if is_navigation_race(&e.to_string()) => navigated = None,
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How often `drive_frames` begins a frame: a 60 Hz display's.
const FRAME_INTERVAL: Duration = Duration::from_micros(16_667);

/// Plays the display's part for a page whose frames are under our control (its target was
/// made with `enableBeginFrameControl`): begins a frame every `FRAME_INTERVAL`, each one
/// awaited before the next, so animation frames, observers, animations and layout run as
/// they would on a screen, until `stop` turns true (after the frame in flight). Without
/// display updates: nothing is rastered or composited, which is the point.
async fn drive_frames(
    page: &Page,
    label: &str,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), RenderError> {
    let mut ticks = tokio::time::interval(FRAME_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // Stop first: when both are ready, no frame is begun after `stop`.
            biased;
            _ = stop.wait_for(|stop| *stop) => return Ok(()),
            _ = ticks.tick() => {}
        }
        begin_frame(page, label).await?;
    }
}

/// Begins one frame without display updates and waits for it to finish.
async fn begin_frame(page: &Page, label: &str) -> Result<(), RenderError> {
    let frame = BeginFrameParams { no_display_updates: Some(true), ..Default::default() };
    match page.execute(frame).await {
        Ok(_) => Ok(()),
        // Asked while the page was between documents: the next frame will do.
        Err(e) if is_navigation_race(&e.to_string()) => Ok(()),
        Err(e) => Err(cdp_err(label, "beginning a frame")(e)),
    }
}

/// True for the errors Chromium gives when an evaluation raced a navigation; the caller
/// evaluates again in the new document (the render timeout bounds the retries).
fn is_navigation_race(message: &str) -> bool {
    [
        "Execution context was destroyed",
        "Cannot find context",
        "Inspected target navigated or closed",
        "context with specified id",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Evaluates an expression that yields a string (awaiting promises).
async fn evaluate_string(page: &Page, label: &str, expression: &str) -> Result<String, RenderError> {
    let mut params = EvaluateParams::new(expression);
    params.await_promise = Some(true);
    params.return_by_value = Some(true);
    let res = page.execute(params).await.map_err(cdp_err(label, "evaluating the settle script"))?;
    if let Some(ex) = &res.result.exception_details {
        let text = ex.exception.as_ref().and_then(|e| e.description.clone()).unwrap_or_else(|| ex.text.clone());
        return Err(RenderError::Browser { label: label.to_string(), detail: format!("script error: {text}") });
    }
    match &res.result.result.value {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        other => Err(RenderError::Browser {
            label: label.to_string(),
            detail: format!("unexpected script result {other:?}"),
        }),
    }
}

async fn print_pdf(page: &Page, label: &str, params: PrintToPdfParams) -> Result<Vec<u8>, RenderError> {
    let ranges = params.page_ranges.clone();
    let res = page.execute(params).await.map_err(|e| {
        match super::print::PrintOptionError::from_print_refusal(ranges.as_deref(), &e.to_string()) {
            Some(refused) => RenderError::Options(refused),
            None => cdp_err(label, "printing")(e),
        }
    })?;
    let Some(stream) = res.result.stream.clone() else {
        // Chromium answered inline (older protocol): decode the data field.
        let data: &str = res.result.data.as_ref();
        return base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| RenderError::Browser { label: label.to_string(), detail: format!("PDF data: {e}") });
    };
    let mut pdf = Vec::new();
    loop {
        let mut read = ReadParams::new(stream.clone());
        read.size = Some(1 << 20);
        let chunk = page.execute(read).await.map_err(cdp_err(label, "reading the PDF stream"))?;
        if chunk.result.base64_encoded == Some(true) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&chunk.result.data)
                .map_err(|e| RenderError::Browser { label: label.to_string(), detail: format!("PDF stream: {e}") })?;
            pdf.extend_from_slice(&bytes);
        } else {
            pdf.extend_from_slice(chunk.result.data.as_bytes());
        }
        if chunk.result.eof {
            break;
        }
    }
    let _ = page.execute(CloseParams::new(stream)).await;
    Ok(pdf)
}

/// The mask probe's stylesheet, applied after the print (`MASK_PROBE_JS`): every element and
/// pseudo-element hidden (`visibility` changes no box, so the layout is the one just printed),
/// the page's own background (the root's and body's, which `visibility` leaves) taken away, so
/// a mask's anti-aliased edge blends with white alone (`compare::mask::locate` reads it),
/// the selected elements and everything inside them alone painted the mask colour (so a
/// selected table row or section is painted through its cells), their text, shadows, outlines
/// and replaced content (an image, a canvas) out of the way. In a cascade layer, whose
/// `!important` declarations beat the document's unlayered ones whatever their specificity.
const MASK_PROBE_HIDE: &str =
    "@layer pixelproof-mask-probe { *, *::before, *::after, *::marker { visibility: hidden !important; } \
     html, body { background: none !important; } }";
const MASK_PROBE_SHOW: &str = "visibility: visible !important; background: #ff00ff !important; \
     border-color: #ff00ff !important; border-image: none !important; color: transparent !important; \
     -webkit-text-fill-color: transparent !important; text-decoration-color: transparent !important; \
     text-shadow: none !important; box-shadow: none !important; outline-style: none !important; \
     object-position: -100000px -100000px !important; print-color-adjust: exact !important; \
     -webkit-print-color-adjust: exact !important;";

/// Marks the document for the mask probe; its argument is the selectors as a JSON array. Each
/// selector is checked by `querySelectorAll` (which refuses an invalid one) and inserted as one
/// rule by `insertRule` (which refuses text that is more than one rule), so a selector cannot
/// add rules of its own. Returns `{"matched": [n, …]}` or `{"invalid": i, "detail": "…"}`.
const MASK_PROBE_JS: &str = r#"((selectors, hide, show) => {
  const sheet = new CSSStyleSheet();
  sheet.insertRule(hide);
  const layer = sheet.cssRules[0];
  const matched = [];
  for (const [i, s] of selectors.entries()) {
    try {
      matched.push(document.querySelectorAll(s).length);
      layer.insertRule(":is(" + s + "), :is(" + s + ") * { " + show + " }", layer.cssRules.length);
    } catch (e) {
      return JSON.stringify({ invalid: i, detail: String(e && e.message || e) });
    }
  }
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  return JSON.stringify({ matched });
})"#;

#[derive(Deserialize)]
struct ProbeAnswer {
    #[serde(default)]
    matched: Vec<usize>,
    invalid: Option<usize>,
    #[serde(default)]
    detail: String,
}

/// Prints the document a second time as the mask probe (see `MASK_PROBE_JS`): the same page,
/// layout and print parameters, backgrounds on, header and footer empty. Returns the probe's
/// PDF and how many elements each selector matched.
async fn mask_probe(
    page: &Page,
    label: &str,
    selectors: &[Selector],
    mut params: PrintToPdfParams,
) -> Result<MaskProbe, RenderError> {
    let list = serde_json::to_string(&selectors.iter().map(Selector::as_str).collect::<Vec<_>>())
        .map_err(|e| RenderError::Browser { label: label.to_string(), detail: format!("mask selectors: {e}") })?;
    let script = format!(
        "{MASK_PROBE_JS}({list}, {}, {})",
        serde_json::Value::String(MASK_PROBE_HIDE.into()),
        serde_json::Value::String(MASK_PROBE_SHOW.into())
    );
    let answer: ProbeAnswer = serde_json::from_str(&evaluate_string(page, label, &script).await?)
        .map_err(|e| RenderError::Browser { label: label.to_string(), detail: format!("mask probe: {e}") })?;
    if let Some(i) = answer.invalid {
        let selector = selectors.get(i).map(ToString::to_string).unwrap_or_default();
        return Err(RenderError::MaskSelector { label: label.to_string(), selector, detail: answer.detail });
    }
    params.print_background = Some(true);
    if params.display_header_footer == Some(true) {
        params.header_template = Some(EMPTY_MARGIN.into());
        params.footer_template = Some(EMPTY_MARGIN.into());
    }
    let pdf = print_pdf(page, label, params).await?;
    Ok(MaskProbe { pdf, matched: selectors.iter().cloned().zip(answer.matched).collect() })
}

/// A header or footer that prints nothing.
const EMPTY_MARGIN: &str = "<span></span>";

/// Finds one element per distinct `font-family` list that has its own text, keeps them in
/// `window.__pixelproofProbe` and returns, as JSON, per element the first family asked for
/// and a sample of its text.
const FONT_PROBE_JS: &str = r#"(() => {
  const seen = new Map();
  const walker = document.createTreeWalker(document.body || document.documentElement, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const t = walker.currentNode;
    if (!t.textContent.trim()) continue;
    const el = t.parentElement;
    if (!el) continue;
    const cs = getComputedStyle(el);
    if (cs.display === "none" || cs.visibility === "hidden") continue;
    const key = cs.fontFamily + "|" + cs.fontWeight + "|" + cs.fontStyle;
    if (seen.has(key) || seen.size >= 200) continue;
    const first = cs.fontFamily.split(",")[0].trim().replace(/^["']|["']$/g, "");
    seen.set(key, { el, first, sample: t.textContent.trim().slice(0, 40) });
  }
  const items = [...seen.values()];
  window.__pixelproofProbe = items.map(i => i.el);
  return JSON.stringify(items.map(i => ({ requested: i.first, sample: i.sample })));
})()"#;

#[derive(Deserialize)]
struct ProbeItem {
    requested: String,
    sample: String,
}

/// The families the text asks for (one Runtime call). Only for a family that needs
/// explaining (`explain`: not generic, bundled or loaded, or its face failed) does it ask
/// Chromium which platform fonts drew that text: `CSS.enable` re-sends every stylesheet
/// (inline fonts included) and each element costs two round trips, so a document that asks
/// only for available fonts pays neither.
async fn font_usage(page: &Page, label: &str, explain: impl Fn(&str) -> bool) -> Result<Vec<FontUsage>, RenderError> {
    let err = |step: &'static str| cdp_err(label, step);
    let items: Vec<ProbeItem> =
        serde_json::from_str(&evaluate_string(page, label, FONT_PROBE_JS).await?).map_err(|e| {
            RenderError::Browser { label: label.to_string(), detail: format!("reading the font probe: {e}") }
        })?;
    let mut out: Vec<FontUsage> = items
        .iter()
        .map(|i| FontUsage {
            requested: i.requested.clone(),
            used: Vec::new(),
            custom_used: false,
            sample: i.sample.clone(),
        })
        .collect();
    let wanted: Vec<usize> = (0..out.len()).filter(|&i| explain(&out[i].requested)).collect();
    if wanted.is_empty() {
        return Ok(out);
    }
    // Independent calls go out together; each batch waits only for its slowest answer.
    tokio::try_join!(async { page.execute(DomEnable::default()).await.map_err(err("enabling DOM")) }, async {
        page.execute(CssEnable::default()).await.map_err(err("enabling CSS"))
    },)?;
    page.execute(GetDocumentParams::default()).await.map_err(err("reading the DOM"))?;
    let lookups = wanted.iter().map(|&i| async move {
        let mut element = EvaluateParams::new(format!("window.__pixelproofProbe[{i}]"));
        element.return_by_value = Some(false);
        let element = page.execute(element).await.map_err(err("finding a probe element"))?;
        let Some(object) = element.result.result.object_id.clone() else { return Ok((i, None)) };
        let node = page.execute(RequestNodeParams::new(object)).await.map_err(err("resolving a text node"))?;
        let fonts = page
            .execute(GetPlatformFontsForNodeParams::new(node.result.node_id))
            .await
            .map_err(err("asking which fonts drew the text"))?;
        Ok::<_, RenderError>((i, Some(fonts.result.fonts.clone())))
    });
    for (i, fonts) in futures::future::try_join_all(lookups).await? {
        if let (Some(usage), Some(fonts)) = (out.get_mut(i), fonts) {
            usage.used = fonts.iter().map(|f| f.family_name.clone()).collect();
            usage.custom_used = fonts.iter().any(|f| f.is_custom_font);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::refused_by_chromium;

    #[test]
    fn local_resource_refusals_are_recognised() {
        assert_eq!(
            refused_by_chromium("Not allowed to load local resource: file:///etc/hostname").as_deref(),
            Some("file:///etc/hostname")
        );
        assert_eq!(
            refused_by_chromium("Fetch API cannot load file:///etc/hostname. URL scheme \"file\" is not supported.")
                .as_deref(),
            Some("file:///etc/hostname")
        );
        assert_eq!(refused_by_chromium("Uncaught TypeError: x is not a function"), None);
    }
}
