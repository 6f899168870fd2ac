//! Print options on par with Puppeteer's `page.pdf()` (paper with units, names in any case,
//! `outline`, `tagged`, `media`, `background`, `omit_background`), each checked on what
//! comes out: real Chromium, the real WeasyPrint fallback, the real `pixelproof` binary and
//! server, and poppler's tools (independent of the server's PDFium) to read the PDFs.

use crate::support;

use std::process::Command;
use std::time::Duration;

use pixelproof::document::{Document, PrintOptions};
use pixelproof::fallback::{FallbackConfig, FallbackError, FallbackRenderer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::service::{assert_problem, client, pdf_text, SUBMIT};
use support::{html_doc, pixelproof, write_file};

/// `Page size: W x H pts` of the first page, by poppler's `pdfinfo`.
fn page_size_pts(pdf: &[u8]) -> (f64, f64) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), pdf).expect("write PDF");
    let out = Command::new("pdfinfo").arg(file.path()).output().expect("run pdfinfo");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("Page size:")).unwrap_or_else(|| panic!("no page size: {text}"));
    let nums: Vec<f64> = line["Page size:".len()..].split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert!(nums.len() >= 2, "{line}");
    (nums[0], nums[1])
}

fn assert_size(pdf: &[u8], want_pts: (f64, f64), what: &str) {
    let (w, h) = page_size_pts(pdf);
    assert!((w - want_pts.0).abs() < 1.0 && (h - want_pts.1).abs() < 1.0, "{what}: {w} x {h} pts, want {want_pts:?}");
}

fn contains(pdf: &[u8], needle: &[u8]) -> bool {
    pdf.windows(needle.len()).any(|w| w == needle)
}

/// The first page drawn by poppler's cairo backend with a transparent canvas, at 10 DPI:
/// RGBA pixels, so a page Chromium painted white is opaque and an unpainted one is not.
fn transparent_render(pdf: &[u8]) -> image::RgbaImage {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.pdf");
    std::fs::write(&input, pdf).expect("write PDF");
    let stem = dir.path().join("page");
    let out = Command::new("pdftocairo")
        .args(["-png", "-transp", "-r", "10", "-f", "1", "-l", "1", "-singlefile"])
        .arg(&input)
        .arg(&stem)
        .output()
        .expect("run pdftocairo");
    assert!(out.status.success(), "pdftocairo: {}", String::from_utf8_lossy(&out.stderr));
    image::open(dir.path().join("page.png")).expect("the PNG").to_rgba8()
}

fn with_options(html: &str, options: Value) -> Document {
    let mut doc = html_doc("print-options", html, &[]);
    doc.options = serde_json::from_value(options).expect("print options");
    doc
}

const MEDIA_HTML: &str = "<!doctype html><style>body { font-family: 'DejaVu Sans' } \
    @media print { .screen { display: none } } @media screen { .print { display: none } }</style>\
    <p class=print>LAID OUT FOR PRINT</p><p class=screen>LAID OUT FOR SCREEN</p>";

/// One engine, one document per option: each does what Chromium's own option does, and the
/// defaults stay what they were (tagged, no outline, backgrounds, white page, print media).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_option_changes_the_chromium_pdf_as_its_chromium_option_does() {
    let engine = support::engine(1, Duration::from_secs(60)).await;
    let pdf = |doc: Document| {
        let engine = &engine;
        async move {
            match engine.prove(&doc).await {
                Ok(proof) => proof.rendered.pdf,
                Err(e) => panic!("{}: {e}", doc.label),
            }
        }
    };
    let text = "<!doctype html><h1 style=\"font-family: 'DejaVu Sans'\">Chapter one</h1>\
        <h2 style=\"font-family: 'DejaVu Sans'\">Section</h2>";

    // Paper: a size with units, and names in any case.
    let mm = pdf(with_options(text, json!({"paper": {"width": "100mm", "height": "150mm"}}))).await;
    assert_size(&mm, (100.0 / 25.4 * 72.0, 150.0 / 25.4 * 72.0), "100mm x 150mm");
    let letter = pdf(with_options(text, json!({"paper": "letter"}))).await;
    assert_size(&letter, (612.0, 792.0), "\"letter\"");
    let a5 = pdf(with_options(text, json!({"paper": "A5"}))).await;
    assert_size(&a5, (5.83 * 72.0, 8.27 * 72.0), "\"A5\"");

    // The defaults: tagged, no outline.
    let default = pdf(with_options(text, json!({}))).await;
    assert!(contains(&default, b"/StructTreeRoot"), "a default PDF is tagged");
    assert!(!contains(&default, b"/Outlines"), "a default PDF has no outline");
    let outlined = pdf(with_options(text, json!({"outline": true}))).await;
    assert!(contains(&outlined, b"/Outlines"), "outline: true writes an outline");
    let untagged = pdf(with_options(text, json!({"tagged": false}))).await;
    assert!(!contains(&untagged, b"/StructTreeRoot"), "tagged: false writes no structure tree");
    // Chromium builds the outline from the tags: the pair is refused rather than ignored.
    let both = engine.prove(&with_options(text, json!({"outline": true, "tagged": false}))).await;
    let err = both.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("outline: true needs tagged: true"), "{err}");

    // Media: which of the document's @media rules apply.
    let print = pdf_text(&pdf(with_options(MEDIA_HTML, json!({}))).await);
    assert!(print.contains("LAID OUT FOR PRINT") && !print.contains("SCREEN"), "{print}");
    let screen = pdf_text(&pdf(with_options(MEDIA_HTML, json!({"media": "screen"}))).await);
    assert!(screen.contains("LAID OUT FOR SCREEN") && !screen.contains("PRINT"), "{screen}");

    // Background: a red page is red by default, white without backgrounds.
    let red = "<!doctype html><style>html, body { background: rgb(255, 0, 0); height: 100% }</style><p></p>";
    let centre = |img: &image::RgbaImage| *img.get_pixel(img.width() / 2, img.height() / 2);
    let with_bg = transparent_render(&pdf(with_options(red, json!({}))).await);
    assert_eq!(centre(&with_bg).0[..3], [255, 0, 0], "backgrounds print by default");
    let without_bg = transparent_render(&pdf(with_options(red, json!({"background": false}))).await);
    assert_ne!(centre(&without_bg).0[..3], [255, 0, 0], "background: false drops the red");

    // omit_background: nothing painted behind a document without a background. Chromium 156
    // already paints no white page in a PDF, so the default is transparent too (the option
    // is Puppeteer's, kept for the day Chromium paints one again).
    let blank = "<!doctype html><p style=\"font-family: 'DejaVu Sans'\">x</p>";
    for options in [json!({}), json!({"omit_background": true})] {
        let img = transparent_render(&pdf(with_options(blank, options.clone())).await);
        assert_eq!(img.get_pixel(img.width() / 2, img.height() / 2).0[3], 0, "{options}: a transparent page");
    }
    engine.chromium.shutdown().await;
}

/// The fallback honours `media`, paper units and `prefer_css_page_size`, and refuses what it
/// cannot print.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_honours_media_and_paper_units_and_refuses_background_false() {
    let config = FallbackConfig { timeout: Duration::from_secs(60), ..FallbackConfig::new(support::fonts()) };
    let fb = FallbackRenderer::new(config).unwrap_or_else(|e| panic!("the fallback did not start ({e})"));
    let screen = with_options(MEDIA_HTML, json!({"media": "screen", "paper": {"width": "100mm", "height": "15cm"}}));
    let rendered = fb.render(&screen).await.unwrap_or_else(|e| panic!("{e}"));
    let text = pdf_text(&rendered.pdf);
    assert!(text.contains("LAID OUT FOR SCREEN") && !text.contains("PRINT"), "{text}");
    assert_size(&rendered.pdf, (100.0 / 25.4 * 72.0, 150.0 / 25.4 * 72.0), "fallback 100mm x 15cm");
    let print = pdf_text(&fb.render(&with_options(MEDIA_HTML, json!({}))).await.unwrap_or_else(|e| panic!("{e}")).pdf);
    assert!(print.contains("LAID OUT FOR PRINT") && !print.contains("SCREEN"), "{print}");

    let no_bg = with_options(MEDIA_HTML, json!({"background": false}));
    match fb.render(&no_bg).await {
        Err(e @ FallbackError::Unsupported { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("background: false") && msg.contains("Chromium"), "{msg}");
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("the fallback printed backgrounds it was asked to leave out"),
    }
    let defaults = PrintOptions::default();
    assert!(pixelproof::fallback::page_css::unsupported(&defaults).is_none(), "the defaults are all printable");

    // prefer_css_page_size: the document's `@page { size }` wins, unless the paper must.
    let sized = "<!doctype html><style>@page { size: 100mm 100mm }</style><p>Sized</p>";
    for (prefer, want) in [(true, (283.46, 283.46)), (false, (595.28, 841.89))] {
        let doc = with_options(sized, json!({"paper": "A4", "prefer_css_page_size": prefer}));
        let pdf = fb.render(&doc).await.unwrap_or_else(|e| panic!("{e}")).pdf;
        assert_size(&pdf, want, &format!("fallback prefer_css_page_size: {prefer}"));
    }
}

/// Through the API: the options reach the PDF, a bad unit is a 422 problem naming the field,
/// and the OpenAPI document types `paper`, `margins` and the new options.
#[test]
fn the_api_takes_the_options_refuses_bad_units_and_documents_them() {
    let data = tempfile::tempdir().expect("temp data dir");
    let server = support::service::Server::start(data.path(), &[]);
    let http = client();
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while http.get(server.url("/readyz")).send().map(|r| r.status() != StatusCode::OK).unwrap_or(true) {
        assert!(std::time::Instant::now() < deadline, "the server was not ready");
        std::thread::sleep(Duration::from_millis(250));
    }
    let render = |options: Value| {
        let body = json!({"html": MEDIA_HTML, "options": options});
        http.post(server.url("/v1/render")).bearer_auth(SUBMIT).json(&body).send().expect("POST /v1/render")
    };

    let ok = render(json!({"paper": {"width": "100mm", "height": "150mm"}, "media": "screen", "outline": true}));
    assert_eq!(ok.status(), StatusCode::OK);
    let pdf = ok.bytes().expect("PDF").to_vec();
    assert_size(&pdf, (100.0 / 25.4 * 72.0, 150.0 / 25.4 * 72.0), "API 100mm x 150mm");
    assert!(pdf_text(&pdf).contains("LAID OUT FOR SCREEN"));
    let legal = render(json!({"paper": "LEGAL"}));
    assert_eq!(legal.status(), StatusCode::OK);
    assert_size(&legal.bytes().expect("PDF"), (612.0, 1008.0), "\"LEGAL\"");

    for (paper, needle) in [
        (json!({"width": "210 furlongs", "height": "297mm"}), "paper width \"210 furlongs\" is not a length"),
        (json!({"width": "210mm", "height": "-1mm"}), "paper height \"-1mm\""),
        (json!({"width": "0", "height": "297mm"}), "between 1 and 200 inches"),
        (json!({"width": "90000mm", "height": "297mm"}), "between 1 and 200 inches"),
        (json!("B5"), "unknown paper \"B5\""),
    ] {
        let problem = assert_problem(render(json!({"paper": paper})), StatusCode::UNPROCESSABLE_ENTITY, needle);
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("options.paper"), "the detail names the field: {detail}");
    }
    assert_problem(render(json!({"media": "tv"})), StatusCode::UNPROCESSABLE_ENTITY, "options.media");
    assert_problem(
        render(json!({"outline": true, "tagged": false})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "outline: true needs tagged: true",
    );

    // A job whose Chromium proof fails (more pages than the invoice allows) and that the
    // fallback cannot print (background: false) is held with Chromium's pages, not failed.
    let mut data = support::service::fixture("invoice", "basic");
    let items = data["items"].as_array().cloned().unwrap_or_default();
    data["items"] = Value::Array(items.iter().cycle().take(400).cloned().collect());
    let job = json!({"template": "invoice", "data": data, "options": {"background": false}});
    let id = support::service::submit(&server, SUBMIT, &job);
    let settled = support::service::wait_settled(&server, SUBMIT, &id, Duration::from_secs(300));
    assert_eq!(settled["state"], "held", "{settled}");
    assert_eq!(settled["renderer"], "chromium", "{settled}");
    let attempts = settled["verdict"]["attempts"].as_array().map(Vec::len);
    assert_eq!(attempts, Some(1), "the fallback printed nothing: {settled}");

    let spec: Value = http.get(server.url("/openapi.json")).send().expect("openapi").json().expect("JSON");
    let schemas = &spec["components"]["schemas"];
    let options = &schemas["JobOptions"]["properties"];
    for name in ["paper", "margins", "outline", "tagged", "media", "background", "omit_background"] {
        assert!(options[name].is_object(), "JobOptions.{name} is missing: {options}");
    }
    let paper = schemas["Paper"].to_string();
    assert!(schemas["Paper"]["oneOf"].is_array(), "paper is a oneOf: {paper}");
    assert!(schemas["PaperName"].to_string().contains("Letter"), "{}", schemas["PaperName"]);
    assert!(schemas["Margins"]["properties"]["top"].is_object(), "{}", schemas["Margins"]);
    assert!(schemas["Media"].to_string().contains("screen"), "{}", schemas["Media"]);
}

/// `pixelproof render` has a flag for each option, and refuses a bad paper before printing.
#[test]
fn the_render_command_takes_a_flag_for_each_option() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_file(tmp.path(), "page.html", &format!("{MEDIA_HTML}<h1>Chapter one</h1>"));
    let out = tmp.path().join("page.pdf");
    let render = |flags: &[&str]| {
        let mut cmd = pixelproof();
        cmd.args(["render", "--html"]).arg(tmp.path().join("page.html")).arg("-o").arg(&out).args(flags);
        cmd.output().expect("run pixelproof")
    };
    let res = render(&[
        "--paper-width",
        "100mm",
        "--paper-height",
        "15cm",
        "--media",
        "screen",
        "--outline",
        "--omit-background",
        "--no-background",
    ]);
    assert!(res.status.success(), "{}", support::shown(&res));
    let pdf = std::fs::read(&out).expect("the PDF");
    assert_size(&pdf, (100.0 / 25.4 * 72.0, 150.0 / 25.4 * 72.0), "--paper-width/--paper-height");
    assert!(pdf_text(&pdf).contains("LAID OUT FOR SCREEN"));
    assert!(contains(&pdf, b"/Outlines"), "--outline");

    let untagged = render(&["--no-tagged"]);
    assert!(untagged.status.success(), "{}", support::shown(&untagged));
    assert!(!contains(&std::fs::read(&out).expect("the PDF"), b"/StructTreeRoot"), "--no-tagged");
    let both = render(&["--no-tagged", "--outline"]);
    assert_eq!(both.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&both.stderr);
    assert!(msg.contains("outline: true needs tagged: true"), "{msg}");

    let named = render(&["--paper", "letter"]);
    assert!(named.status.success(), "{}", support::shown(&named));
    assert_size(&std::fs::read(&out).expect("the PDF"), (612.0, 792.0), "--paper letter");

    let bad = render(&["--paper", "210mmx9furlong"]);
    assert_eq!(bad.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(msg.contains("--paper") && msg.contains("paper height \"9furlong\" is not a length"), "{msg}");

    let help = pixelproof().args(["render", "--help"]).output().expect("run pixelproof");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--paper-width", "--outline", "--no-tagged", "--media", "--no-background", "--omit-background"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    assert!(help.contains("--paper-width 210mm --paper-height 99mm"), "--help has an example");
}
