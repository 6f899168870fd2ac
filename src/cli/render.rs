//! `pixelproof render`: print a template with data, or an HTML file, to PDF.
//!
//! The document goes through the whole proof (render, raster, font check), so what this
//! command writes is what the service would ship: blocked requests and font problems are
//! reported, and a font substitution in a template document is an error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};

use super::RendererChoice;
use crate::document::{Document, Media, Metadata, Paper, PaperLength, Watermark};
use crate::fallback::{FallbackConfig, FallbackRenderer};
use crate::pipeline::{Engine, EngineConfig, Proof};
use crate::request::JobOptions;
use crate::template::Catalog;

/// Arguments of `pixelproof render`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["template", "html"])))]
#[command(after_help = "Examples:
  pixelproof render --template invoice --data templates/invoice/fixtures/basic.json -o invoice.pdf
  pixelproof render --html page.html --paper letter --outline -o page.pdf
  pixelproof render --html ticket.html --paper-width 210mm --paper-height 99mm --media screen -o ticket.pdf
  pixelproof render --html label.html --paper 4inx6in --no-background --omit-background -o label.pdf
  pixelproof render --html receipt.html --paper 80mmx200mm --margin 4mm --single-page -o receipt.pdf
  pixelproof render --html chart.html --wait-for-expression 'window.chartReady === true' -o chart.pdf
  pixelproof render --html memo.html --metadata '{\"author\": \"Ops\", \"keywords\": [\"memo\"]}' -o memo.pdf
  pixelproof render --html memo.html --watermark '{\"text\": \"DRAFT\", \"pages\": \"1\"}' -o memo.pdf
  pixelproof render --template invoice --data basic.json --merge terms.html --merge annex.html -o invoice.pdf

The print options are the API's and template.json's: --paper, --paper-width/--paper-height
(paper), --outline (outline), --no-tagged (tagged: false), --media (media), --no-background
(background: false), --omit-background (omit_background), --ignore-css-page-size
(prefer_css_page_size: false), --single-page (single_page), --wait-for-expression, --wait-delay-ms, --fail-on-console-exceptions, --metadata (JSON), --watermark (JSON).

Exit codes: 0 the PDF was written; 2 it could not be (bad flags or input, a document that
fails or times out, Chromium missing: the message says which and what to do).")]
pub struct Args {
    /// Template to print (a folder name under --templates).
    #[arg(long, requires = "data")]
    pub template: Option<String>,
    /// JSON data for the template (only with --template: an HTML file has no data).
    #[arg(long, conflicts_with = "html")]
    pub data: Option<PathBuf>,
    /// An HTML file to print; its directory is the asset root.
    #[arg(long, conflicts_with = "template")]
    pub html: Option<PathBuf>,
    /// Where to write the PDF.
    #[arg(short, long, required_unless_present = "save_document")]
    pub output: Option<PathBuf>,
    /// Write the document instead of printing it: DIR/index.html (the HTML as Chromium gets
    /// it), the assets it may load under their paths, DIR/print.json (the exact
    /// `Page.printToPDF` parameters) and DIR/fonts.conf (a fontconfig file that lists only
    /// the bundled fonts). For comparing with another tool on the same document
    /// (`scripts/bench`); nothing is printed.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["output", "json"])]
    pub save_document: Option<PathBuf>,
    /// Templates directory.
    #[arg(long, env = "PIXELPROOF_TEMPLATES")]
    pub templates: Option<PathBuf>,
    /// Paper size (overrides the template's): A3, A4, A5, Letter, Legal in any case, or
    /// WIDTHxHEIGHT with units in, mm, cm, pt, px, pc ("--paper 210mmx99mm"); a bare number
    /// is inches.
    #[arg(long, value_parser = parse_paper, conflicts_with_all = ["paper_width", "paper_height"])]
    pub paper: Option<Paper>,
    /// Paper width, a length with its unit ("--paper-width 210mm --paper-height 99mm").
    #[arg(long, value_name = "LENGTH", requires = "paper_height", value_parser = |v: &str| PaperLength::parse("width", v))]
    pub paper_width: Option<PaperLength>,
    /// Paper height, a length with its unit (with --paper-width).
    #[arg(long, value_name = "LENGTH", requires = "paper_width", value_parser = |v: &str| PaperLength::parse("height", v))]
    pub paper_height: Option<PaperLength>,
    /// Print in landscape.
    #[arg(long)]
    pub landscape: bool,
    /// Margin on every side, as a CSS length ("15mm").
    #[arg(long)]
    pub margin: Option<String>,
    /// Page scale, 0.1 to 2.0.
    #[arg(long)]
    pub scale: Option<f64>,
    /// Pages to print ("1-3,5").
    #[arg(long)]
    pub page_ranges: Option<String>,
    /// File with the running header's HTML (pageNumber / totalPages classes are filled in).
    #[arg(long)]
    pub header: Option<PathBuf>,
    /// File with the running footer's HTML.
    #[arg(long)]
    pub footer: Option<PathBuf>,
    /// The PDF's Title metadata (default: the document's <title>).
    #[arg(long)]
    pub title: Option<String>,
    /// Fail (instead of warning) when a font the HTML asks for did not load.
    #[arg(long)]
    pub strict_fonts: bool,
    /// Write the PDF's outline (bookmarks) from the document's headings.
    #[arg(long)]
    pub outline: bool,
    /// Write an untagged PDF (by default it is tagged, for screen readers).
    #[arg(long)]
    pub no_tagged: bool,
    /// Lay the document out for this CSS media: print (default) or screen, so its
    /// `@media screen` rules apply as in a browser window ("--media screen").
    #[arg(long, value_name = "MEDIA", value_parser = |v: &str| v.parse::<Media>())]
    pub media: Option<Media>,
    /// Leave out CSS backgrounds (colours and images), as a browser's print dialog does by
    /// default. The fallback renderer refuses this.
    #[arg(long)]
    pub no_background: bool,
    /// No white page behind the document: where it paints no background the PDF is
    /// transparent (for printing onto letterhead or compositing).
    #[arg(long)]
    pub omit_background: bool,
    /// The whole document on one page, as wide as the paper and as tall as its content
    /// (page breaks ignored), like Gotenberg's singlePage. Not with --page-ranges; the
    /// fallback renderer refuses it.
    #[arg(long, conflicts_with = "page_ranges")]
    pub single_page: bool,
    /// Print on --paper even when the document's CSS sets `@page { size }` (which wins by default).
    #[arg(long)]
    pub ignore_css_page_size: bool,
    /// A JavaScript expression the page must make true before it prints (after it loads).
    #[arg(long, value_name = "EXPR")]
    pub wait_for_expression: Option<String>,
    /// Milliseconds to wait after the page loads, before it prints.
    #[arg(long, value_name = "MS")]
    pub wait_delay_ms: Option<u64>,
    /// Fail when the page's scripts threw an uncaught exception before it printed.
    #[arg(long)]
    pub fail_on_console_exceptions: bool,
    /// The PDF's document information as JSON: title, author, subject, keywords (a list),
    /// creator, producer, created and modified (RFC 3339 dates).
    #[arg(long, value_name = "JSON", value_parser = |v: &str| serde_json::from_str::<Metadata>(v).map_err(|e| e.to_string()))]
    pub metadata: Option<Metadata>,
    /// A watermark as JSON, as in the API: {"text": "DRAFT"} or {"image": "stamp.png"} (a file
    /// beside the HTML, PNG or JPEG), with "layer" (over|under), "pages" ("1-3, 5"), "opacity".
    #[arg(long, value_name = "JSON", value_parser = |v: &str| serde_json::from_str::<Watermark>(v).map_err(|e| e.to_string()))]
    pub watermark: Option<Watermark>,
    /// An HTML file (its directory the asset root) printed after the document, with the
    /// default print options, and merged into its PDF; repeat it for more, in order. The
    /// watermark and metadata apply to the merged PDF.
    #[arg(long, value_name = "FILE.html", conflicts_with = "save_document")]
    pub merge: Vec<PathBuf>,
    /// Seconds a document may take to print.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Pages the document may have; a longer one is an error (the service's --max-pages).
    #[arg(long, default_value_t = 200)]
    pub max_pages: usize,
    /// Print the result (pages, blocked requests, fonts) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Which engine prints: Chromium (the pinned pool), or the WeasyPrint fallback the
    /// service uses when Chromium's output fails verification.
    #[arg(long, value_enum, default_value_t = RendererChoice::Chromium)]
    pub renderer: RendererChoice,
}

fn parse_paper(value: &str) -> Result<Paper, crate::document::PaperError> {
    Paper::parse(value)
}

fn document(args: &Args) -> anyhow::Result<Document> {
    let mut doc = if let Some(name) = &args.template {
        let dir = args.templates.clone().unwrap_or_else(crate::template::default_templates_dir);
        let catalog = Catalog::load(&dir)?;
        let template = catalog.get(name)?;
        let data_path = args.data.as_ref().context("--data is required with --template")?;
        let text = std::fs::read_to_string(data_path).with_context(|| format!("reading {}", data_path.display()))?;
        let data: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", data_path.display()))?;
        let label = format!("{name}/{}", data_path.file_stem().and_then(|s| s.to_str()).unwrap_or("data"));
        template.document(&data, &label)?
    } else if let Some(html) = &args.html {
        Document::from_html_file(html).with_context(|| format!("reading {}", html.display()))?
    } else {
        bail!("give --template NAME --data FILE.json, or --html FILE.html");
    };
    let read = |path: &Option<PathBuf>| {
        path.as_ref()
            .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
            .transpose()
    };
    let size = match (&args.paper_width, &args.paper_height) {
        (Some(width), Some(height)) => Some(Paper::Size { width: width.clone(), height: height.clone() }),
        _ => None,
    };
    // The flags as a job's options: each one given overrides the template's, as in the API.
    let options = JobOptions {
        paper: size.or_else(|| args.paper.clone()),
        margins: args.margin.as_ref().map(|m| crate::document::Margins {
            top: m.clone(),
            right: m.clone(),
            bottom: m.clone(),
            left: m.clone(),
        }),
        landscape: args.landscape.then_some(true),
        scale: args.scale,
        page_ranges: args.page_ranges.clone(),
        header_template: read(&args.header)?,
        footer_template: read(&args.footer)?,
        title: args.title.clone(),
        strict_fonts: args.strict_fonts.then_some(true),
        outline: args.outline.then_some(true),
        tagged: args.no_tagged.then_some(false),
        media: args.media,
        background: args.no_background.then_some(false),
        omit_background: args.omit_background.then_some(true),
        single_page: args.single_page.then_some(true),
        prefer_css_page_size: args.ignore_css_page_size.then_some(false),
        wait_for_expression: args.wait_for_expression.clone(),
        wait_delay_ms: args.wait_delay_ms,
        fail_on_console_exceptions: args.fail_on_console_exceptions.then_some(true),
        metadata: args.metadata.clone(),
        watermark: args.watermark.clone(),
    };
    options.apply(&mut doc.options);
    crate::postprocess::watermark::check(&doc)?;
    if args.merge.len() > crate::request::MAX_MERGED {
        bail!(
            "{} --merge files; at most {} may be merged into one document",
            args.merge.len(),
            crate::request::MAX_MERGED
        );
    }
    for path in &args.merge {
        doc.merge.push(Document::from_html_file(path).with_context(|| format!("reading {}", path.display()))?);
    }
    Ok(doc)
}

pub fn run(args: Args) -> super::CliResult {
    let doc = document(&args)?;
    if let Some(dir) = &args.save_document {
        save_document(&doc, dir)?;
        eprintln!("wrote {} (index.html, assets, print.json, fonts.conf)", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let output = args.output.clone().context("give --output FILE.pdf (or --save-document DIR)")?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let (proof, renderer) = match args.renderer {
            RendererChoice::Chromium => prove_with_chromium(&doc, args.timeout, args.max_pages).await?,
            RendererChoice::Fallback => prove_with_fallback(&doc, args.timeout, args.max_pages).await?,
        };
        for b in &proof.rendered.blocked {
            eprintln!("blocked: {} ({}): {}", b.url, b.resource_type, b.reason);
        }
        for p in &proof.fonts.problems {
            eprintln!("{}: {}", if proof.fonts.strict { "font error" } else { "font warning" }, p.detail);
        }
        if proof.fonts.fails() {
            bail!("{} font problem(s) in {}; no PDF written", proof.fonts.problems.len(), doc.label);
        }
        std::fs::write(&output, &proof.rendered.pdf).with_context(|| format!("writing {}", output.display()))?;
        if args.json {
            let summary = serde_json::json!({
                "output": output,
                "pages": proof.pages.len(),
                "bytes": proof.rendered.pdf.len(),
                "elapsed_ms": proof.rendered.elapsed.as_millis() as u64,
                "blocked": proof.rendered.blocked,
                "fonts": proof.fonts,
                "font_faces": proof.rendered.font_faces,
                "chromium": (args.renderer == RendererChoice::Chromium).then_some(&renderer),
                "renderer": crate::routing::Renderer::from(args.renderer),
                "renderer_version": renderer,
            });
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        eprintln!(
            "wrote {}: {} page(s), {} bytes, {:.2} s ({renderer})",
            output.display(),
            proof.pages.len(),
            proof.rendered.pdf.len(),
            proof.rendered.elapsed.as_secs_f64()
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// The proof from the Chromium pool, and Chromium's version.
async fn prove_with_chromium(doc: &Document, timeout: u64, max_pages: usize) -> anyhow::Result<(Proof, String)> {
    let config =
        EngineConfig { pool_size: 1, render_timeout: Duration::from_secs(timeout), max_pages, ..Default::default() };
    let engine = Engine::start(config).await?;
    let result = engine.prove(doc).await;
    engine.chromium.shutdown().await;
    Ok((result?, engine.environment.chromium.clone()))
}

/// The proof from the WeasyPrint fallback, and WeasyPrint's version.
async fn prove_with_fallback(doc: &Document, timeout: u64, max_pages: usize) -> anyhow::Result<(Proof, String)> {
    let pins = crate::pins::Pins::compiled();
    let pdfium = pins.check_pdfium()?;
    let rasterizer = crate::raster::Rasterizer::shared(&pdfium)?;
    let fonts = crate::fonts::BundledFonts::load(&crate::fonts::default_fonts_dir())?;
    pins.check_fonts(&fonts)?;
    let fonts = std::sync::Arc::new(fonts);
    let config = FallbackConfig { timeout: Duration::from_secs(timeout), max_pages, ..FallbackConfig::new(fonts) };
    let fallback = FallbackRenderer::new(config)?;
    let proof = fallback.prove(doc, &rasterizer, crate::raster::DEFAULT_DPI).await?;
    Ok((proof, fallback.version().to_string()))
}

/// Writes `doc` as files another tool can print: see `Args::save_document`.
fn save_document(doc: &Document, dir: &std::path::Path) -> anyhow::Result<()> {
    let write = |rel: &std::path::Path, bytes: &[u8]| -> anyhow::Result<()> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    write(std::path::Path::new("index.html"), doc.html.as_bytes())?;
    for rel in asset_paths(&doc.assets) {
        if let Some(bytes) = doc.assets.read(&rel) {
            write(std::path::Path::new(&rel), &bytes)?;
        }
    }
    let params = crate::render::print::print_params(&doc.options)?;
    write(std::path::Path::new("print.json"), &serde_json::to_vec_pretty(&params)?)?;
    let fonts = crate::fonts::BundledFonts::load(&crate::fonts::default_fonts_dir())?;
    fonts.write_fontconfig(dir)?;
    Ok(())
}

/// Every file an asset root holds, as relative paths (`Assets::read` still decides which of
/// them the document may load).
fn asset_paths(assets: &crate::document::Assets) -> Vec<String> {
    use crate::document::Assets;
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    match assets {
        Assets::Dir(root) | Assets::Template(root) => walk(root, root, &mut out),
        Assets::Memory(map) => out.extend(map.keys().cloned()),
        Assets::None => {}
    }
    out
}
