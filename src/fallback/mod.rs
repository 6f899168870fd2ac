//! Fallback renderer: prints a [`Document`] with WeasyPrint when Chromium's output fails
//! verification, under the same network seal as Chromium.
//!
//! WeasyPrint runs as a subprocess (its own process group, killed whole on timeout) with a
//! fontconfig that lists only the bundled fonts. An embedded Python shim (`shim.py`) gives
//! WeasyPrint a `url_fetcher` that reads nothing itself: it asks this module over the shim's
//! stdin/stdout for every URL, and the answer comes from `render::seal::Allowed::decide` —
//! the same rules Chromium's requests go through. What WeasyPrint may NOT do: load any URL
//! outside the document's assets and `/_fonts/…` (http, https to another host, `file:` in any
//! casing), see system fonts, or outlive its timeout. `data:` URLs are decoded in the shim.

pub mod page_css;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::document::Document;
use crate::fonts::BundledFonts;
use crate::pipeline::Proof;
use crate::raster::Rasterizer;
use crate::render::seal::{Allowed, Decision, DOC_URL};
use crate::render::{BlockedRequest, FontFace, Rendered};

/// The Python side: embedded so the binary carries the one version that matches this code.
const SHIM: &str = include_str!("shim.py");
/// How much of WeasyPrint's stderr an error message quotes.
const STDERR_TAIL: usize = 2000;
/// WeasyPrint does not say what a URL is for.
const RESOURCE_TYPE: &str = "Other (WeasyPrint)";

/// How to run WeasyPrint.
#[derive(Debug, Clone)]
pub struct FallbackConfig {
    pub fonts: Arc<BundledFonts>,
    /// A document that has not printed after this long fails and its processes are killed.
    pub timeout: Duration,
    /// The Python that can `import weasyprint` (Debian's: `/usr/bin/python3`).
    pub python: PathBuf,
    /// Pages a document may have; a longer PDF is refused before it is rasterized.
    pub max_pages: usize,
}

impl FallbackConfig {
    /// Debian's Python with a 60 s timeout and the default page limit.
    pub fn new(fonts: Arc<BundledFonts>) -> FallbackConfig {
        FallbackConfig {
            fonts,
            timeout: Duration::from_secs(60),
            python: PathBuf::from("/usr/bin/python3"),
            max_pages: crate::document::DEFAULT_MAX_PAGES,
        }
    }
}

/// Why the fallback renderer could not start or print a document.
#[derive(Debug, thiserror::Error)]
pub enum FallbackError {
    #[error(
        "WeasyPrint is not usable with {python}: {detail}. Install Debian's weasyprint package: scripts/setup does it"
    )]
    Unavailable { python: PathBuf, detail: String },
    #[error("WeasyPrint did not finish printing {label} within {limit:?} (fallback timeout); its processes were killed. The document may be too large or loop; raise the limit only if it is legitimately big. WeasyPrint said: {stderr}")]
    Timeout { label: String, limit: Duration, stderr: String },
    #[error("WeasyPrint failed on {label} ({status}). WeasyPrint said: {stderr}")]
    Failed { label: String, status: String, stderr: String },
    #[error("the fallback renderer could not {what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error(transparent)]
    Options(#[from] crate::render::print::PrintOptionError),
    #[error("the fallback renderer cannot print {label} with {option}: {why}")]
    Unsupported { label: String, option: &'static str, why: &'static str },
    #[error(transparent)]
    Fonts(#[from] crate::fonts::FontsError),
    #[error(transparent)]
    Raster(#[from] crate::raster::RasterError),
    #[error(transparent)]
    Postprocess(#[from] crate::postprocess::PostprocessError),
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> FallbackError + '_ {
    move |source| FallbackError::Io { what: what.to_string(), source }
}

/// Prints documents with WeasyPrint.
pub struct FallbackRenderer {
    config: FallbackConfig,
    version: String,
    /// Holds fonts.conf and the shim; removed when the renderer is dropped.
    dir: tempfile::TempDir,
    fontconfig: PathBuf,
    shim: PathBuf,
}

impl FallbackRenderer {
    /// Checks that WeasyPrint imports, records its version, writes the bundled-fonts-only fontconfig.
    pub fn new(config: FallbackConfig) -> Result<FallbackRenderer, FallbackError> {
        let unavailable = |detail: String| FallbackError::Unavailable { python: config.python.clone(), detail };
        let out = std::process::Command::new(&config.python)
            .args(["-c", "import weasyprint; print(weasyprint.__version__)"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| unavailable(format!("could not run it: {e}")))?;
        if !out.status.success() {
            return Err(unavailable(format!("`import weasyprint` failed: {}", tail(&out.stderr))));
        }
        let version = format!("WeasyPrint {}", String::from_utf8_lossy(&out.stdout).trim());
        let dir = tempfile::Builder::new().prefix("pixelproof-fallback-").tempdir().map_err(io("create a temp dir"))?;
        let fontconfig = config.fonts.write_fontconfig(dir.path())?;
        let shim = dir.path().join("shim.py");
        std::fs::write(&shim, SHIM).map_err(io("write the WeasyPrint shim"))?;
        tracing::info!(%version, "fallback renderer ready");
        Ok(FallbackRenderer { config, version, dir, fontconfig, shim })
    }

    /// "WeasyPrint 57.2".
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Prints one document. Refused requests are in `blocked`, the document's `@font-face` rules
    /// in `font_faces` (loaded or error); `font_usage` is empty (WeasyPrint does not report it).
    pub async fn render(&self, doc: &Document) -> Result<Rendered, FallbackError> {
        if let Some((option, why)) = page_css::unsupported(&doc.options) {
            return Err(FallbackError::Unsupported { label: doc.label.clone(), option, why });
        }
        let setup = page_css::page_setup(&doc.options)?;
        for w in &setup.warnings {
            tracing::warn!(label = %doc.label, "{w}");
        }
        let started = Instant::now();
        let work =
            tempfile::Builder::new().prefix("job-").tempdir_in(self.dir.path()).map_err(io("create a temp dir"))?;
        let html_path = work.path().join("index.html");
        let out_path = work.path().join("out.pdf");
        let job_path = work.path().join("job.json");
        std::fs::write(&html_path, with_page_css(&doc.html, &setup.css)).map_err(io("write the document"))?;
        let job = serde_json::json!({
            "html": html_path, "base_url": DOC_URL, "out": out_path,
            "title": doc.options.title, "pages": setup.pages, "zoom": setup.zoom,
            "media": doc.options.media.as_str(),
        });
        std::fs::write(&job_path, job.to_string()).map_err(io("write the job file"))?;

        let mut child = tokio::process::Command::new(&self.config.python)
            .arg(&self.shim)
            .arg(&job_path)
            // Unused by the shim: names the job in `ps` (and lets tests find leftover processes).
            .arg(format!("--label={}", doc.label))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("HOME", work.path())
            .env("FONTCONFIG_FILE", &self.fontconfig)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            // fontTools stamps each subset font's `head.modified` with the clock unless this is
            // set: inside a compressed font stream, the one difference between two prints of a
            // document (see `pdf_bytes`).
            .env("SOURCE_DATE_EPOCH", crate::pdf_bytes::FIXED_EPOCH)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(io("start WeasyPrint"))?;
        let pid = child.id();
        let allowed =
            Allowed { html: Arc::new(doc.html.clone()), assets: doc.assets.clone(), fonts: self.config.fonts.clone() };
        let mut stderr = child.stderr.take();
        // Keep only the tail: a hostile document can make WeasyPrint warn without end.
        let stderr_task = tokio::spawn(async move {
            let mut kept = Vec::new();
            let mut chunk = [0u8; 8192];
            while let Some(s) = stderr.as_mut() {
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => kept.extend_from_slice(&chunk[..n]),
                }
                if kept.len() > 4 * STDERR_TAIL {
                    kept.drain(..kept.len() - STDERR_TAIL);
                }
            }
            kept
        });
        let mut blocked = Vec::new();
        let mut faces = Vec::new();
        let conversation = answer_requests(&mut child, &allowed, &mut blocked, &mut faces);
        let outcome = tokio::time::timeout(self.config.timeout, conversation).await;
        if outcome.is_err() {
            kill_group(pid);
        }
        let status = child.wait().await.map_err(io("wait for WeasyPrint"))?;
        let stderr = tail(&stderr_task.await.unwrap_or_default());
        match outcome {
            Err(_) => {
                return Err(FallbackError::Timeout { label: doc.label.clone(), limit: self.config.timeout, stderr })
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(())) => {}
        }
        // Grandchildren (none expected) go with the group too.
        kill_group(pid);
        if !status.success() {
            return Err(FallbackError::Failed { label: doc.label.clone(), status: status.to_string(), stderr });
        }
        // WeasyPrint warns about CSS it ignores (e.g. `var()` in shorthands before v61): worth a look
        // when the fallback looks different.
        tracing::debug!(label = %doc.label, %stderr, "WeasyPrint finished");
        let pdf = std::fs::read(&out_path).map_err(io("read WeasyPrint's PDF"))?;
        Ok(Rendered {
            pdf,
            blocked,
            font_faces: faces,
            font_usage: Vec::new(),
            elapsed: started.elapsed(),
            timings: Default::default(),
            mask_probe: None,
        })
    }

    /// Render + rasterize + font check: the same [`Proof`] as `Engine::prove`.
    pub async fn prove(&self, doc: &Document, rasterizer: &Arc<Rasterizer>, dpi: u32) -> Result<Proof, FallbackError> {
        let mut rendered = self.render(doc).await?;
        let mut merged = Vec::with_capacity(doc.merge.len());
        for part in &doc.merge {
            let printed = self.render(part).await?;
            rendered.absorb(&printed);
            merged.push(printed.pdf);
        }
        let stamp = match crate::postprocess::watermark::stamp_document(doc, &rendered.pdf)? {
            Some(stamp) => Some(self.render(&stamp).await?.pdf),
            None => None,
        };
        rendered.pdf =
            crate::postprocess::finish(std::mem::take(&mut rendered.pdf), merged, &doc.options, stamp.as_deref())?;
        let r = rasterizer.clone();
        let (pdf, max_pages) = (rendered.pdf.clone(), self.config.max_pages);
        let started = std::time::Instant::now();
        let pages = tokio::task::spawn_blocking(move || r.rasterize(&pdf, dpi, max_pages))
            .await
            .map_err(|e| crate::raster::RasterError::Open(format!("the raster task failed: {e}")))??;
        let raster = started.elapsed();
        let fonts = crate::fontcheck::check(&rendered, &pages, &self.config.fonts, doc.fonts_are_strict());
        // Selector masks are not located here (WeasyPrint runs no script to mark them): the
        // fallback's pages are compared without them.
        Ok(Proof { rendered, pages, fonts, drawn: true, raster, masks: Default::default() })
    }
}

/// Answers the shim's URL requests, and collects the `@font-face` rules it reports, until it
/// closes its protocol stdout.
async fn answer_requests(
    child: &mut tokio::process::Child,
    allowed: &Allowed,
    blocked: &mut Vec<BlockedRequest>,
    faces: &mut Vec<FontFace>,
) -> Result<(), FallbackError> {
    let (Some(stdout), Some(mut stdin)) = (child.stdout.take(), child.stdin.take()) else {
        return Err(FallbackError::Io {
            what: "talk to WeasyPrint".into(),
            source: std::io::Error::other("no stdin/stdout pipe"),
        });
    };
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await.map_err(io("read WeasyPrint's requests"))? {
        let request: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if let Some(face) = request.get("face").and_then(|f| serde_json::from_value::<FontFace>(f.clone()).ok()) {
            faces.push(face);
            continue;
        }
        let Some(url) = request.get("url").and_then(|u| u.as_str()) else { continue };
        let answer = answer(url, allowed, blocked);
        let mut text = answer.to_string();
        text.push('\n');
        if stdin.write_all(text.as_bytes()).await.is_err() {
            break; // The shim exited; its status says why.
        }
        let _ = stdin.flush().await;
    }
    Ok(())
}

/// The answer to one URL, by the seal's rules; a refusal is recorded once per URL.
fn answer(url: &str, allowed: &Allowed, blocked: &mut Vec<BlockedRequest>) -> serde_json::Value {
    if url.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("data:")) {
        return serde_json::json!({ "decode_data": true });
    }
    match allowed.decide(url) {
        Decision::Serve { body, content_type } => serde_json::json!({
            "serve": base64::engine::general_purpose::STANDARD.encode(body),
            "mime": content_type,
        }),
        Decision::Refuse { reason } => {
            tracing::debug!(%url, %reason, "fallback request refused");
            if !blocked.iter().any(|b| b.url == url) {
                blocked.push(BlockedRequest {
                    url: url.to_string(),
                    reason: reason.clone(),
                    resource_type: RESOURCE_TYPE.into(),
                });
            }
            serde_json::json!({ "refuse": reason })
        }
    }
}

/// The page stylesheet goes first in `<head>` so the document's own `@page` rules win.
fn with_page_css(html: &str, css: &str) -> String {
    let style = format!("<style>{css}</style>");
    let lower = html.to_ascii_lowercase();
    let head_start = lower
        .match_indices("<head")
        .map(|(i, _)| i)
        .find(|&i| matches!(lower.as_bytes().get(i + 5), Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/')));
    let head_end = head_start.and_then(|i| lower[i..].find('>').map(|j| i + j + 1));
    match head_end {
        Some(at) => format!("{}{}{}", &html[..at], style, &html[at..]),
        None => format!("{style}{html}"),
    }
}

/// Kills the shim's whole process group.
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else { return };
    // SAFETY: kill(2) with a negative pid signals the process group we created with
    // process_group(0) for this child; it touches no memory.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

/// The last bytes of stderr, as text.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    let start = text.len().saturating_sub(STDERR_TAIL);
    let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    if text.is_empty() {
        "(nothing on stderr)".into()
    } else {
        text[start..].to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn page_css_goes_first_in_head() {
        let css = "@page{}";
        assert_eq!(
            super::with_page_css("<html><head><title>t</title>", css),
            "<html><head><style>@page{}</style><title>t</title>"
        );
        assert_eq!(super::with_page_css("<header>x</header>", css), "<style>@page{}</style><header>x</header>");
        assert_eq!(super::with_page_css("<HEAD lang=en>", css), "<HEAD lang=en><style>@page{}</style>");
    }
}
