//! The fallback renderer (WeasyPrint) on real documents: every fixture of the bundled templates
//! it prints (Japanese included), a hostile document aimed at a loopback listener and
//! /etc/hostname, a timeout that must kill the whole process group, determinism, and
//! `pixelproof render --renderer fallback`.
//! Real WeasyPrint, real PDFium; nothing is mocked.

use crate::support;

use std::time::Duration;

use pixelproof::fallback::{FallbackConfig, FallbackError, FallbackRenderer};
use pixelproof::raster::DEFAULT_DPI;
use pixelproof::template::{default_templates_dir, Catalog};
use support::{fonts, hostile_html, html_doc, rasterizer, CountingListener};

fn fallback(timeout: Duration) -> FallbackRenderer {
    let config = FallbackConfig { timeout, ..FallbackConfig::new(fonts()) };
    match FallbackRenderer::new(config) {
        Ok(f) => f,
        Err(e) => panic!("the fallback renderer did not start ({e})"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_template_fixture_renders_with_bundled_fonts_in_its_page_range() {
    let fb = fallback(Duration::from_secs(120));
    assert!(fb.version().starts_with("WeasyPrint "), "{}", fb.version());
    let raster = rasterizer();
    let catalog = Catalog::load(&default_templates_dir()).expect("templates");
    let mut failures = Vec::new();
    let mut count = 0;
    for t in catalog.templates.iter().filter(|t| t.config.fallback_prints()) {
        for fx in t.fixtures().expect("fixtures") {
            let label = format!("{}/{}", t.name, fx.name);
            let doc = t.document(&fx.data, &label).expect("document");
            let proof = match fb.prove(&doc, &raster, DEFAULT_DPI).await {
                Ok(p) => p,
                Err(e) => {
                    failures.push(format!("{label}: {e}"));
                    continue;
                }
            };
            count += 1;
            let n = proof.pages.len();
            let range = &t.config.pages;
            println!(
                "{label}: {n} page(s) (declared {}..={}), {} ms, fonts {:?}",
                range.min,
                range.max,
                proof.rendered.elapsed.as_millis(),
                proof.fonts.embedded
            );
            if n < range.min || n > range.max {
                failures.push(format!("{label}: {n} pages, outside {}..={}", range.min, range.max));
            }
            if !proof.fonts.problems.is_empty() || proof.fonts.embedded.is_empty() {
                failures.push(format!("{label}: fonts {:?} / {:?}", proof.fonts.embedded, proof.fonts.problems));
            }
            if !proof.rendered.blocked.is_empty() {
                failures.push(format!("{label}: blocked {:?}", proof.rendered.blocked));
            }
            // The page X of Y footer survives the translation to @page margin boxes.
            if label == "invoice/basic" || label == "report/quarterly" {
                for p in &proof.pages {
                    if !p.text.contains(&format!("Page {} of {n}", p.number)) {
                        failures.push(format!("{label} page {}: no 'Page {} of {n}'", p.number, p.number));
                    }
                }
            }
        }
    }
    assert!(count >= 4, "only {count} fixtures rendered");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_document_reaches_nothing() {
    let listener = CountingListener::start();
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_string();
    let fb = fallback(Duration::from_secs(60));
    let doc = html_doc("sealed-fallback", &hostile_html(listener.port), &[]);
    let proof = fb.prove(&doc, &rasterizer(), DEFAULT_DPI).await.expect("the hostile document still prints");
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(listener.hits(), 0, "the document reached the loopback listener");
    let text: String = proof.pages.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join("\n");
    assert!(text.contains("Sealed document"), "the page itself rendered: {text}");
    assert!(!text.contains("LEAKED"), "a response from the listener made it into the PDF: {text}");
    if hostname.len() >= 3 {
        assert!(!text.contains(&hostname), "/etc/hostname's content ({hostname}) is in the PDF text");
    }
    let blocked = &proof.rendered.blocked;
    println!("{blocked:#?}");
    for path in ["link.css", "import.css", "font.ttf", "bg.png", "img.png", "object.bin"] {
        let url = format!("http://127.0.0.1:{}/{path}", listener.port);
        assert!(
            blocked.iter().any(|b| b.url == url && b.reason.contains("sealed")),
            "{url} is not among the blocked requests: {blocked:#?}"
        );
    }
    for url in ["file:///etc/hostname", "FILE:///etc/hostname"] {
        assert!(
            blocked.iter().any(|b| b.url.eq_ignore_ascii_case(url) && b.reason.contains("file")),
            "{url} is not among the blocked requests: {blocked:#?}"
        );
    }
    assert!(!blocked.iter().any(|b| b.url.starts_with("data:")), "data: URLs are fine: {blocked:#?}");
    // The @font-face whose source was refused is reported, naming the family asked for; the
    // PDF embeds bundled fonts only.
    assert!(
        proof.fonts.problems.iter().any(|p| p.requested == "Leak"),
        "the blocked @font-face is not reported: {:?}",
        proof.fonts.problems
    );
    assert!(proof.fonts.problems.iter().all(|p| p.requested == "Leak"), "{:?}", proof.fonts.problems);
}

fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(marker) {
                found.push(format!("{}: {cmd}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_past_the_timeout_is_killed_with_its_process_group() {
    let fb = fallback(Duration::from_secs(2));
    let rows: String = (0..40_000).map(|i| format!("<tr><td>row {i}</td><td>{}</td></tr>", i * 7)).collect();
    let marker = format!("timeout-{}", std::process::id());
    let doc = html_doc(&marker, &format!("<!doctype html><table>{rows}</table>"), &[]);
    let started = std::time::Instant::now();
    let err = fb.render(&doc).await.expect_err("a 40,000-row table cannot print in 2 s");
    let took = started.elapsed();
    assert!(matches!(err, FallbackError::Timeout { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("2s") && msg.contains("timeout"), "{msg}");
    assert!(took < Duration::from_secs(5), "the timeout took {took:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let left = processes_with(&marker);
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_document_twice_gives_identical_rasters() {
    let fb = fallback(Duration::from_secs(60));
    let raster = rasterizer();
    let html = "<!doctype html><style>h1{font-family:'DejaVu Serif';color:#a00} p{font-family:'DejaVu Sans'}</style>\
                <h1>Determinism</h1><p>The quick brown fox — 12,345.67 €</p><table border=1><tr><td>a</td><td>b</td></tr></table>";
    let doc = html_doc("determinism", html, &[]);
    let a = fb.prove(&doc, &raster, DEFAULT_DPI).await.expect("first");
    let b = fb.prove(&doc, &raster, DEFAULT_DPI).await.expect("second");
    assert_eq!(a.pages.len(), b.pages.len());
    for (x, y) in a.pages.iter().zip(&b.pages) {
        assert!(x.image.as_raw() == y.image.as_raw(), "page {} differs between two renders", x.number);
    }
    // Not blank: the text and its colour are there.
    assert!(a.pages[0].text.contains("Determinism"));
    assert!(a.pages[0].image.pixels().any(|p| p.0[0] > 120 && p.0[1] < 60), "no red heading pixels");
}

#[test]
fn the_cli_renders_with_the_fallback() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("invoice.pdf");
    let (_, summary, _) = support::render_to_pdf(
        support::pixelproof()
            .args(["render", "--renderer", "fallback", "--template", "invoice", "--data"])
            .arg("templates/invoice/fixtures/basic.json"),
        &out,
    );
    assert_eq!(summary["renderer"], "fallback", "{summary}");
    assert!(summary["renderer_version"].as_str().is_some_and(|r| r.starts_with("WeasyPrint")), "{summary}");
    assert!(summary["pages"].as_u64().is_some_and(|n| n >= 1), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_options_reach_weasyprint() {
    let fb = fallback(Duration::from_secs(60));
    let raster = rasterizer();
    let html = "<!doctype html><style>section{break-after:page;font-family:'DejaVu Sans'}</style>\
                <section>page one</section><section>page two</section><section>page three</section>";
    let mut doc = html_doc("options", html, &[]);
    let all = fb.prove(&doc, &raster, 72).await.expect("all pages");
    assert_eq!(all.pages.len(), 3);
    assert!(all.pages[0].image.height() > all.pages[0].image.width(), "A4 portrait by default");
    doc.options.landscape = true;
    doc.options.page_ranges = "2-3".into();
    doc.options.footer_template = Some("<span>Page <span class=pageNumber></span></span>".into());
    let some = fb.prove(&doc, &raster, 72).await.expect("pages 2-3");
    assert_eq!(some.pages.len(), 2, "page ranges 2-3");
    assert!(some.pages[0].text.contains("page two") && some.pages[1].text.contains("page three"));
    assert!(some.pages[0].text.contains("Page 2"), "the footer counts pages: {}", some.pages[0].text);
    assert!(some.pages[0].image.width() > some.pages[0].image.height(), "landscape");
    // A4 at 72 dpi: 842 x 595 points.
    assert!(some.pages[0].image.width().abs_diff(842) <= 2, "{}", some.pages[0].image.width());
    // Scale shrinks the content, not the paper: at 0.5 the three sections still fill three
    // A4 pages (break-after), each still 595 points wide, with the text half as wide.
    let mut small = html_doc("options-scale", html, &[]);
    small.options.scale = 0.5;
    let half = fb.prove(&small, &raster, 72).await.expect("scale 0.5");
    assert_eq!(half.pages.len(), 3);
    assert!(half.pages[0].image.width().abs_diff(595) <= 2, "{}", half.pages[0].image.width());
    let (full_ink, half_ink) = (ink_width(&all.pages[0].image), ink_width(&half.pages[0].image));
    assert!(half_ink * 10 < full_ink * 7, "text is {half_ink} px wide at scale 0.5, {full_ink} px at 1.0");
}

/// Width of the span of non-white columns on a page.
fn ink_width(img: &image::RgbaImage) -> u32 {
    let inked: Vec<u32> =
        (0..img.width()).filter(|&x| (0..img.height()).any(|y| img.get_pixel(x, y).0[0] < 128)).collect();
    match (inked.first(), inked.last()) {
        (Some(a), Some(b)) => b - a + 1,
        _ => 0,
    }
}

#[test]
fn a_missing_python_names_the_fix() {
    let config = FallbackConfig { python: "/nonexistent/python3".into(), ..FallbackConfig::new(fonts()) };
    let err = FallbackRenderer::new(config).err().expect("no Python there");
    assert!(matches!(err, FallbackError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("scripts/setup"), "{err}");
}
