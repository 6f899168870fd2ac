//! Post-processing inside the proof (issue 15, part 3): watermarks, text or image, over or
//! under the content, on chosen pages, printed by both engines; the same job twice gives the
//! same bytes; a bad watermark is the client's 422 naming it. The PDFs are read with
//! poppler's tools, independent of the server's PDFium.

use crate::support;

use std::process::Command;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;
use support::service::{assert_problem, client, pdfinfo_pages, Server, SUBMIT};

const TWO_PAGES: &str = "<!doctype html><html><body style=\"font-family: 'DejaVu Sans'\">\
    <section style='break-after: page'>First page of the memo.</section><section>Second page.</section></body></html>";

/// A page whose whole area is painted an opaque colour: what is under it cannot be seen.
const OPAQUE: &str = "<!doctype html><html><head><style>@page { margin: 0 } html, body { margin: 0; height: 100%; \
    background: rgb(20, 60, 90) }</style></head><body><p style=\"color: white; font-family: 'DejaVu Sans'\">\
    Opaque page.</p></body></html>";

fn start() -> (tempfile::TempDir, Server) {
    support::service::start_ready(&[])
}

fn render(server: &Server, body: &Value) -> reqwest::blocking::Response {
    client().post(server.url("/v1/render")).bearer_auth(SUBMIT).json(body).send().expect("POST /v1/render")
}

/// The PDF of a 200 answer, with its proof state header.
fn proved(server: &Server, body: &Value) -> Vec<u8> {
    let r = render(server, body);
    let status = r.status();
    let state = r.headers().get("x-pixelproof-state").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let bytes = r.bytes().expect("body").to_vec();
    assert_eq!(status, StatusCode::OK, "{body}: {}", String::from_utf8_lossy(&bytes));
    assert_eq!(state, "done", "{body}: shipped by Chromium with its proof");
    bytes
}

/// Page `n`'s text by `pdftotext`, with all whitespace removed (rotated text comes out a few
/// letters a line).
fn page_text(pdf: &[u8], n: usize) -> String {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), pdf).expect("write PDF");
    let page = n.to_string();
    let out = Command::new("pdftotext")
        .args(["-f", &page, "-l", &page])
        .arg(file.path())
        .arg("-")
        .output()
        .expect("run pdftotext");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).chars().filter(|c| !c.is_whitespace()).collect()
}

/// Page `n` as pixels (`pdftoppm`, 30 DPI, PPM bytes).
fn page_pixels(pdf: &[u8], n: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).expect("write PDF");
    let page = n.to_string();
    let out = Command::new("pdftoppm")
        .args(["-r", "30", "-f", &page, "-l", &page, "-singlefile"])
        .arg(&path)
        .arg(dir.path().join("page"))
        .output()
        .expect("run pdftoppm");
    assert!(out.status.success(), "pdftoppm: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(dir.path().join("page.ppm")).expect("the page's pixels")
}

/// A solid red PNG, `w`×`h`.
fn red_png(w: u32, h: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_pixel(w, h, image::Rgba([200, 30, 30, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).expect("encode PNG");
    out.into_inner()
}

#[test]
fn a_text_watermark_is_proved_on_the_pages_it_names_and_gives_the_same_bytes_twice() {
    let (_data, server) = start();
    let plain = proved(&server, &json!({"html": TWO_PAGES}));
    let job = json!({"html": TWO_PAGES, "options": {"watermark": {"text": "CONFIDENTIAL", "pages": "2"}}});
    let stamped = proved(&server, &job);
    assert_eq!(pdfinfo_pages(&stamped), 2);
    // The text layer: the stamp is real text, on page 2 only.
    assert!(page_text(&stamped, 1).contains("Firstpageofthememo."), "{}", page_text(&stamped, 1));
    assert!(!page_text(&stamped, 1).contains("CONFIDENTIAL"), "page 1 was not asked for");
    assert!(page_text(&stamped, 2).contains("CONFIDENTIAL"), "{}", page_text(&stamped, 2));
    assert!(page_text(&stamped, 2).contains("Secondpage."), "the content is still there");
    // The pixels: page 1 as printed without a watermark, page 2 changed.
    assert_eq!(page_pixels(&stamped, 1), page_pixels(&plain, 1), "page 1 is untouched");
    assert_ne!(page_pixels(&stamped, 2), page_pixels(&plain, 2), "page 2 shows the stamp");
    // Reproducible: the same job twice is the same file.
    let again = proved(&server, &job);
    assert_eq!(sha2::Sha256::digest(&again), sha2::Sha256::digest(&stamped), "the same job, the same bytes");

    // Over and under: on an opaque page, a stamp under the content cannot be seen, one over it can.
    let opaque = |watermark: Option<Value>| {
        let mut options = json!({"background": true});
        if let Some(w) = watermark {
            options["watermark"] = w;
        }
        proved(&server, &json!({"html": OPAQUE, "options": options}))
    };
    let bare = page_pixels(&opaque(None), 1);
    let under = opaque(Some(json!({"text": "DRAFT", "layer": "under", "opacity": 1})));
    let over = opaque(Some(json!({"text": "DRAFT", "layer": "over", "opacity": 1})));
    assert_eq!(page_pixels(&under, 1), bare, "under an opaque page the stamp is hidden");
    assert_ne!(page_pixels(&over, 1), bare, "over it the stamp shows");
    assert!(page_text(&under, 1).contains("DRAFT") && page_text(&over, 1).contains("DRAFT"));
}

#[test]
fn an_image_watermark_comes_from_the_assets_and_a_bad_one_is_named() {
    let (_data, server) = start();
    // The option is typed in OpenAPI, its layer an enum.
    let api: Value = client().get(server.url("/openapi.json")).send().expect("GET /openapi.json").json().expect("JSON");
    let schemas = &api["components"]["schemas"];
    let mark = &schemas["Watermark"]["properties"];
    for field in ["text", "image", "layer", "pages", "opacity"] {
        assert!(mark.get(field).is_some(), "Watermark.{field} in OpenAPI: {mark}");
    }
    assert_eq!(schemas["Layer"]["enum"], json!(["over", "under"]), "{}", schemas["Layer"]);
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let png = red_png(120, 60);
    let plain = proved(&server, &json!({"html": TWO_PAGES}));
    let job = |image: &str, assets: Value| json!({"html": TWO_PAGES, "assets": assets, "options": {"watermark": {"image": image, "opacity": 1}}});
    let stamped = proved(&server, &job("stamp.png", json!({"stamp.png": b64(&png)})));
    for page in [1, 2] {
        assert_ne!(page_pixels(&stamped, page), page_pixels(&plain, page), "page {page} shows the image");
    }
    assert_eq!(page_text(&stamped, 1), page_text(&plain, 1), "an image adds no text");

    // Each mistake is the client's 422, naming the field and what to send.
    let mut corrupt = png.clone();
    corrupt.truncate(60);
    let cases = [
        (job("stamp.png", json!({"stamp.png": b64(&corrupt)})), "not a readable PNG or JPEG"),
        (job("stamp.png", json!({"stamp.png": b64(b"GIF89a not really")})), "not a readable PNG or JPEG"),
        (job("missing.png", json!({"stamp.png": b64(&png)})), "not one of the job's assets"),
        (json!({"html": TWO_PAGES, "options": {"watermark": {"text": "A", "image": "stamp.png"}}}), "exactly one"),
        (json!({"html": TWO_PAGES, "options": {"watermark": {}}}), "exactly one"),
        (json!({"html": TWO_PAGES, "options": {"watermark": {"text": "A", "opacity": 3}}}), "opacity"),
        (json!({"html": TWO_PAGES, "options": {"watermark": {"text": ""}}}), "watermark.text"),
    ];
    for (body, needle) in cases {
        let problem = assert_problem(render(&server, &body), StatusCode::UNPROCESSABLE_ENTITY, needle);
        assert_eq!(problem["type"].as_str().map(|t| t.ends_with("invalid-watermark")), Some(true), "{problem}");
    }
    // A malformed range or layer is refused when the options are read.
    for options in
        [json!({"watermark": {"text": "A", "pages": "0-2"}}), json!({"watermark": {"text": "A", "layer": "behind"}})]
    {
        let r = render(&server, &json!({"html": TWO_PAGES, "options": options}));
        assert!(r.status().is_client_error(), "{options}: {}", r.status());
        let text = r.text().unwrap_or_default();
        assert!(text.contains("pages") || text.contains("layer"), "{options}: {text}");
    }
}

#[test]
fn the_fallback_engine_prints_the_same_watermark() {
    let dir = tempfile::tempdir().expect("tempdir");
    support::write_file(dir.path(), "memo.html", TWO_PAGES);
    let out = dir.path().join("memo.pdf");
    let (pdf, json, stderr) = support::render_to_pdf(
        support::pixelproof()
            .args(["render", "--renderer", "fallback", "--html"])
            .arg(dir.path().join("memo.html"))
            .args(["--watermark", r#"{"text": "ENTWURF", "pages": "1", "layer": "under"}"#]),
        &out,
    );
    assert_eq!(json["pages"], 2, "{stderr}");
    assert!(json["renderer_version"].as_str().unwrap_or_default().starts_with("WeasyPrint"), "{json}");
    assert!(page_text(&pdf, 1).contains("ENTWURF"), "{}", page_text(&pdf, 1));
    assert!(!page_text(&pdf, 2).contains("ENTWURF"));
}

/// `pixelproof ARGS` with an audit name, its output.
fn pixelproof(args: &[&str]) -> std::process::Output {
    support::pixelproof().args(args).env("PIXELPROOF_USER", "postprocess").output().expect("run pixelproof")
}

fn shown(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_watermarked_template_is_compared_with_a_baseline_made_with_its_watermark() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let templates = tmp.path().join("templates");
    let with_mark = |text: &str| {
        let options = json!({"options": {"watermark": {"text": text, "layer": "under"}}});
        support::write_file(&templates, "memo/template.json", &options.to_string());
    };
    support::write_file(
        &templates,
        "memo/template.html",
        "<!doctype html><html><body style=\"font-family: 'DejaVu Sans'\"><h1>Memo for {{ name }}</h1></body></html>",
    );
    support::write_file(&templates, "memo/fixtures/basic.json", r#"{"name": "Ada"}"#);
    with_mark("SPECIMEN");
    let (baselines, report) = (tmp.path().join("baselines"), tmp.path().join("report"));
    let s = |p: &std::path::Path| p.to_str().expect("UTF-8 path").to_string();
    let (t, b, r) = (s(&templates), s(&baselines), s(&report));
    let check = |extra: &[&str]| {
        let mut args = vec!["check", "--templates", &t, "--baselines", &b, "--report", &r];
        args.extend_from_slice(extra);
        pixelproof(&args)
    };
    assert_eq!(check(&["--update"]).status.code(), Some(0));
    let out = pixelproof(&["baseline", "approve", "--all", "--reason", "first", "--baselines", &b]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(0), "the same watermark passes: {}", shown(&out));

    // The baseline holds the stamp: another stamp (or none) is a difference the check catches.
    with_mark("VOID");
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(1), "a changed watermark fails: {}", shown(&out));
    assert!(shown(&out).contains("FAIL memo/basic"), "{}", shown(&out));

    // A template whose watermark image is not there is refused when it is loaded.
    let options = json!({"options": {"watermark": {"image": "stamp.png"}}});
    support::write_file(&templates, "memo/template.json", &options.to_string());
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(shown(&out).contains("options.watermark.image \"stamp.png\" is not one of"), "{}", shown(&out));
}

/// `TOOL ARGS… FILE` on `pdf` (poppler), its exit status and output.
fn poppler(tool: &str, args: &[&str], pdf: &[u8]) -> (bool, String) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), pdf).expect("write PDF");
    let mut cmd = Command::new(tool);
    cmd.args(args).arg(file.path());
    if tool == "pdftotext" {
        cmd.arg("-");
    }
    let out = cmd.output().expect("run poppler");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn an_encrypted_pdf_opens_only_with_its_password_and_is_never_queued() {
    let (_data, server) = start();
    let plain = proved(&server, &json!({"html": TWO_PAGES}));
    let encryption = json!({"user_password": "open-sesame", "owner_password": "owner-key", "permissions": ["print"]});
    let sealed = proved(&server, &json!({"html": TWO_PAGES, "encryption": encryption}));

    let (opened, info) = poppler("pdfinfo", &[], &sealed);
    assert!(!opened && info.contains("Incorrect password"), "opens without its password: {info}");
    let (opened, _) = poppler("pdfinfo", &["-upw", "wrong"], &sealed);
    assert!(!opened, "opens with a wrong password");
    let (opened, info) = poppler("pdfinfo", &["-upw", "open-sesame"], &sealed);
    assert!(opened, "{info}");
    assert!(info.contains("AES-256") && info.contains("print:yes") && info.contains("copy:no"), "{info}");
    assert!(info.contains("Pages:           2"), "{info}");
    let text = |pdf: &[u8], args: &[&str]| poppler("pdftotext", args, pdf);
    let (_, plain_text) = text(&plain, &[]);
    for args in [["-upw", "open-sesame"], ["-opw", "owner-key"]] {
        let (ok, sealed_text) = text(&sealed, &args);
        assert!(ok, "{args:?}: {sealed_text}");
        assert_eq!(sealed_text, plain_text, "{args:?}: the same text as the document printed");
    }

    // A user password alone: the owner's is the same (Gotenberg's rule); the form route takes it.
    let dir = tempfile::tempdir().expect("form dir");
    std::fs::write(dir.path().join("index.html"), TWO_PAGES).expect("index.html");
    let out = Command::new("curl")
        .current_dir(dir.path())
        .args(["-sS", "-o", "out.pdf", "-w", "%{http_code}", "--max-time", "120"])
        .args(["-H", &format!("Authorization: Bearer {SUBMIT}")])
        .args(["--form", "files=@index.html", "--form", "userPassword=form-secret"])
        .arg(server.url("/forms/chromium/convert/html"))
        .output()
        .expect("run curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{}", String::from_utf8_lossy(&out.stderr));
    let from_form = std::fs::read(dir.path().join("out.pdf")).expect("the form's PDF");
    assert!(!poppler("pdfinfo", &[], &from_form).0, "the form's PDF is encrypted");
    assert!(poppler("pdfinfo", &["-upw", "form-secret"], &from_form).0);

    // Refused: no password at all, an unknown right, and a queued job (its record is kept).
    let bad = [
        (json!({"html": TWO_PAGES, "encryption": {}}), "needs a password"),
        (json!({"html": TWO_PAGES, "encryption": {"user_password": "x".repeat(200)}}), "at most 127 bytes"),
    ];
    for (body, needle) in bad {
        assert_problem(render(&server, &body), StatusCode::UNPROCESSABLE_ENTITY, needle);
    }
    let r = render(&server, &json!({"html": TWO_PAGES, "encryption": {"user_password": "x", "permissions": ["fly"]}}));
    assert!(r.status().is_client_error(), "an unknown permission: {}", r.status());
    let queued = client()
        .post(server.url("/v1/jobs"))
        .bearer_auth(SUBMIT)
        .json(&json!({"html": TWO_PAGES, "encryption": {"user_password": "x"}}))
        .send()
        .expect("POST /v1/jobs");
    let problem = assert_problem(queued, StatusCode::UNPROCESSABLE_ENTITY, "POST /v1/render");
    assert!(!problem.to_string().contains("\"x\""), "the password is not echoed: {problem}");
}

/// A one-page document, to tell a merged document's pages apart.
const ANNEX: &str = "<!doctype html><html><body style=\"font-family: 'DejaVu Sans'\"><p>Annex on A5.</p></body></html>";

/// `pdfinfo -f 1 -l N`'s page sizes, in points, one line per page.
fn page_sizes(pdf: &[u8]) -> Vec<String> {
    let (ok, info) = poppler("pdfinfo", &["-f", "1", "-l", "99"], pdf);
    assert!(ok, "{info}");
    info.lines().filter(|l| l.starts_with("Page") && l.contains("size:")).map(|l| l.to_string()).collect()
}

#[test]
fn merged_documents_ship_as_one_proved_pdf_in_order() {
    let (_data, server) = start();
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let example = support::service::fixture("certificate", "default");
    let job = json!({
        "html": TWO_PAGES,
        "options": {"watermark": {"text": "COPY", "layer": "under"}, "metadata": {"title": "Memo pack", "author": "Ops"}},
        "merge": [
            {"template": "certificate", "data": example},
            {"html": "<!doctype html><link rel=stylesheet href=annex.css>".to_string() + ANNEX,
             "assets": {"annex.css": b64("p { color: rgb(10, 90, 30) }")},
             "options": {"paper": "a5", "landscape": true}},
        ],
    });
    let merged = proved(&server, &job);
    // The pages of each document, in order, each on its own paper.
    assert_eq!(pdfinfo_pages(&merged), 4);
    assert!(page_text(&merged, 1).contains("Firstpageofthememo."), "{}", page_text(&merged, 1));
    assert!(page_text(&merged, 2).contains("Secondpage."));
    // Without the stamp's letters among them, each page's text is its document's.
    let mut unstamped = job.clone();
    unstamped["options"].as_object_mut().map(|o| o.remove("watermark"));
    let plain = proved(&server, &unstamped);
    let certificate = proved(&server, &json!({"template": "certificate", "data": example}));
    assert_eq!(page_text(&plain, 3), page_text(&certificate, 1), "page 3 is the certificate");
    assert_eq!(page_text(&plain, 1), page_text(&proved(&server, &json!({"html": TWO_PAGES})), 1));
    assert!(page_text(&merged, 4).contains("AnnexonA5."), "{}", page_text(&merged, 4));
    let sizes = page_sizes(&merged);
    assert_eq!(sizes.len(), 4, "{sizes:?}");
    assert!(sizes[0].contains("595.92 x 841.92"), "page 1 is A4, the default: {sizes:?}");
    assert!(sizes[2].contains("841.92 x 59"), "the certificate is A4 landscape: {sizes:?}");
    assert!(sizes[3].contains("595.92 x 420"), "the annex is A5 landscape: {sizes:?}");
    // The job's watermark is on every page of the merged PDF, its metadata is the PDF's.
    for page in 1..=4 {
        // The stamp's letters may fall between the page's in reading order: compare as multisets.
        let (mut with, without) = (page_text(&merged, page), page_text(&plain, page));
        for c in without.chars() {
            if let Some(at) = with.find(c) {
                with.remove(at);
            }
        }
        let mut added: Vec<char> = with.chars().collect();
        added.sort();
        assert_eq!(added.into_iter().collect::<String>(), "COPY", "page {page} carries the stamp");
    }
    let (_, info) = poppler("pdfinfo", &[], &merged);
    assert!(info.contains("Memo pack") && info.contains("Ops"), "{info}");
    // The certificate's pixels are the ones it prints alone (the stamp is under its opaque page).
    assert_eq!(page_pixels(&merged, 3), page_pixels(&certificate, 1), "the certificate page is unchanged");
    // Reproducible, and a queued job merges the same way.
    assert_eq!(sha2::Sha256::digest(proved(&server, &job)), sha2::Sha256::digest(&merged), "same job, same bytes");
    let id = support::service::submit(&server, SUBMIT, &job);
    let status = support::service::wait_settled(&server, SUBMIT, &id, std::time::Duration::from_secs(120));
    assert_eq!(status["state"], "done", "{status}");
    let stored = support::service::pdf_of(&server, SUBMIT, &id);
    assert_eq!(sha2::Sha256::digest(&stored), sha2::Sha256::digest(&merged), "the queued job stores the same PDF");

    // A template first: its page range (certificate: exactly 1) is its own document's, so the
    // merged PDF's 3 pages are no page-count failure; the certificate's own rules still hold.
    let template_first = json!({"template": "certificate", "data": example, "merge": [{"html": TWO_PAGES}]});
    let pdf = proved(&server, &template_first);
    assert_eq!(pdfinfo_pages(&pdf), 3);
    assert_eq!(page_pixels(&pdf, 1), page_pixels(&certificate, 1), "the certificate comes first");

    // OpenAPI names the merged document's fields.
    let api: Value = client().get(server.url("/openapi.json")).send().expect("GET /openapi.json").json().expect("JSON");
    let part = &api["components"]["schemas"]["MergeDocument"]["properties"];
    for field in ["template", "data", "html", "assets", "options"] {
        assert!(part.get(field).is_some(), "MergeDocument.{field} in OpenAPI: {part}");
    }
    // Each mistake is named, with the merged document's index.
    let many: Vec<Value> = (0..17).map(|_| json!({"html": ANNEX})).collect();
    let cases = [
        (json!({"html": TWO_PAGES, "merge": [{"html": ANNEX}, {"template": "certificate", "data": {}}]}), "merge[1]: "),
        (
            json!({"html": TWO_PAGES, "merge": [{"html": ANNEX, "options": {"watermark": {"text": "A"}}}]}),
            "merge[0].options.watermark",
        ),
        (
            json!({"html": TWO_PAGES, "merge": [{"html": ANNEX, "options": {"metadata": {"title": "A"}}}]}),
            "merge[0].options.metadata",
        ),
        (json!({"html": TWO_PAGES, "merge": [{}]}), "merge[0]: give exactly one"),
        (json!({"html": TWO_PAGES, "merge": many}), "at most 16"),
        (
            json!({"template": "certificate", "data": example, "baseline": "certificate/default", "merge": [{"html": ANNEX}]}),
            "\"baseline\"",
        ),
    ];
    for (body, needle) in cases {
        assert_problem(render(&server, &body), StatusCode::UNPROCESSABLE_ENTITY, needle);
    }
    let r = render(&server, &json!({"html": TWO_PAGES, "merge": [{"html": ANNEX, "baseline": "a/b"}]}));
    assert!(r.status().is_client_error(), "a job's field in a merged document: {}", r.status());
    let problem = assert_problem(
        render(&server, &json!({"html": TWO_PAGES, "merge": [{"template": "certificate", "data": {}}]})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "merge[0]: ",
    );
    assert!(
        !problem["errors"].as_array().map(Vec::is_empty).unwrap_or(true),
        "the schema's problems listed: {problem}"
    );
}

#[test]
fn the_fallback_engine_merges_the_same_way() {
    let dir = tempfile::tempdir().expect("tempdir");
    support::write_file(dir.path(), "memo.html", TWO_PAGES);
    support::write_file(dir.path(), "annex/annex.html", ANNEX);
    let out = dir.path().join("memo.pdf");
    let (pdf, json, stderr) = support::render_to_pdf(
        support::pixelproof()
            .args(["render", "--renderer", "fallback", "--html"])
            .arg(dir.path().join("memo.html"))
            .arg("--merge")
            .arg(dir.path().join("annex/annex.html"))
            .args(["--watermark", r#"{"text": "ENTWURF"}"#]),
        &out,
    );
    assert_eq!(json["pages"], 3, "{stderr}");
    assert!(json["renderer_version"].as_str().unwrap_or_default().starts_with("WeasyPrint"), "{json}");
    assert!(
        page_text(&pdf, 3).contains("AnnexonA5.") && page_text(&pdf, 3).contains("ENTWURF"),
        "{}",
        page_text(&pdf, 3)
    );
}
