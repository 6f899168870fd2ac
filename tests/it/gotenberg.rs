//! Documents as people send them: Gotenberg 8's form route (`POST
//! /forms/chromium/convert/html`) driven by `curl -F` exactly as Gotenberg's docs write it,
//! multipart jobs on `/v1/render` and `/v1/jobs`, the new print options (metadata, waits,
//! `preferCssPageSize`), reproducible bytes, and every bad form named in its problem. The
//! PDFs are read with poppler's tools, independent of the server's PDFium.

use crate::support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;
use support::service::{assert_problem, client, pdf_text, pdfinfo_pages, Server, SUBMIT};

const FORM_ROUTE: &str = "/forms/chromium/convert/html";

const INDEX: &str = "<!doctype html><html><head><title>Statement</title><link rel=stylesheet href=style.css></head>\
    <body><h1>Monthly statement</h1><section class=p>First page of the statement.</section>\
    <section>Second page of the statement.</section></body></html>";
const STYLE: &str = "body { font-family: 'DejaVu Sans' } .p { break-after: page }";
const HEADER: &str = "<html><head><style>body { font-size: 8px; margin: 0 20px; font-family: 'DejaVu Sans' }</style>\
    </head><body><p>ACME statement</p></body></html>";
const FOOTER: &str = "<html><head><style>body { font-size: 8px; margin: 0 20px; font-family: 'DejaVu Sans' }</style>\
    </head><body><p>Page <span class=\"pageNumber\"></span> of <span class=\"totalPages\"></span></p></body></html>";

/// A form as files in a directory, for curl's `-F files=@…`.
fn write_form(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write a form file");
    }
}

struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    fn problem(&self) -> Value {
        assert_eq!(self.header("content-type").as_deref(), Some("application/problem+json"), "{}", self.headers);
        serde_json::from_slice(&self.body).expect("problem JSON")
    }
}

/// `curl -sS` with these arguments (after the URL's), run in `dir`; the status, headers and body.
fn curl(dir: &Path, url: &str, args: &[&str]) -> Answer {
    let out = Command::new("curl")
        .current_dir(dir)
        .args(["-sS", "-o", "body.out", "-D", "headers.out", "-w", "%{http_code}", "--max-time", "120"])
        .args(["-H", &format!("Authorization: Bearer {SUBMIT}")])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    Answer {
        status: String::from_utf8_lossy(&out.stdout).trim().parse().expect("curl's status code"),
        headers: std::fs::read_to_string(dir.join("headers.out")).expect("headers"),
        body: std::fs::read(dir.join("body.out")).expect("body"),
    }
}

/// `pdfinfo`'s `Key: value` lines.
fn pdfinfo(pdf: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), pdf).expect("write PDF");
    let out = Command::new("pdfinfo").args(["-isodates"]).arg(file.path()).output().expect("run pdfinfo");
    assert!(out.status.success(), "pdfinfo: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn info_line(info: &str, key: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in pdfinfo:\n{info}"))
}

fn start(extra: &[&str]) -> (tempfile::TempDir, Server) {
    support::service::start_ready(extra)
}

/// The request from Gotenberg's docs, as curl sends it: header and footer with page numbers,
/// paper in mm, metadata. The PDF is proved (state, pages in the headers), named and traced
/// as Gotenberg does, pdfinfo reads the metadata, and the same form twice gives the same bytes.
#[test]
fn a_gotenberg_curl_request_gets_a_proved_pdf_with_its_metadata() {
    let (_data, server) = start(&[]);
    let dir = tempfile::tempdir().expect("form dir");
    write_form(
        dir.path(),
        &[("index.html", INDEX), ("style.css", STYLE), ("header.html", HEADER), ("footer.html", FOOTER)],
    );
    let metadata = r#"{"Author": "Accounts", "Title": "Statement 2024-05", "Subject": "Monthly statement",
        "Keywords": ["statement", "may"], "CreationDate": "2024-05-31T18:00:00Z"}"#;
    let form = [
        "-H",
        "Gotenberg-Output-Filename: statement-may",
        "-H",
        "Gotenberg-Trace: trace-0123",
        "--form",
        "files=@index.html",
        "--form",
        "files=@style.css",
        "--form",
        "files=@header.html",
        "--form",
        "files=@footer.html",
        "--form",
        "paperWidth=210mm",
        "--form",
        "paperHeight=297mm",
        "--form",
        "marginTop=20mm",
        "--form",
        "marginBottom=20mm",
        "--form",
        &format!("metadata={metadata}"),
        "--form",
        "failOnConsoleExceptions=true",
    ];
    let url = server.url(FORM_ROUTE);
    let answer = curl(dir.path(), &url, &form);
    assert_eq!(answer.status, 200, "{}\n{}", answer.headers, String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.header("content-type").as_deref(), Some("application/pdf"));
    let disposition = answer.header("content-disposition").unwrap_or_default();
    assert!(disposition.contains("filename=\"statement-may.pdf\""), "{disposition}");
    assert_eq!(answer.header("gotenberg-trace").as_deref(), Some("trace-0123"));
    assert_eq!(answer.header("x-pixelproof-state").as_deref(), Some("done"), "{}", answer.headers);
    assert_eq!(answer.header("x-pixelproof-pages").as_deref(), Some("2"));
    assert_eq!(answer.header("x-pixelproof-blocked-requests").as_deref(), Some("0"), "style.css was served");

    let pdf = &answer.body;
    assert_eq!(pdfinfo_pages(pdf), 2);
    let info = pdfinfo(pdf);
    assert_eq!(info_line(&info, "Author"), "Accounts");
    assert_eq!(info_line(&info, "Title"), "Statement 2024-05");
    assert_eq!(info_line(&info, "Subject"), "Monthly statement");
    assert_eq!(info_line(&info, "Keywords"), "statement, may");
    assert!(info_line(&info, "CreationDate").starts_with("2024-05-31T18:00:00"), "{info}");
    let size = info_line(&info, "Page size");
    assert!(size.contains("(A4)"), "A4 in mm: {size}");
    let text = pdf_text(pdf);
    for needle in ["ACME statement", "Page 1 of 2", "Page 2 of 2", "Second page of the statement."] {
        assert!(text.contains(needle), "{needle:?} not in the text layer:\n{text}");
    }

    // The same form again: the same bytes (fixed dates where the job gives none, no /ID drift).
    let again = curl(dir.path(), &url, &form);
    assert_eq!(again.status, 200);
    assert_eq!(sha2::Sha256::digest(pdf), sha2::Sha256::digest(&again.body), "two runs, two different PDFs");
    // Without a trace, one is made up and answered.
    let untraced = curl(dir.path(), &url, &["--form", "files=@index.html"]);
    assert_eq!(untraced.status, 200);
    let trace = untraced.header("gotenberg-trace").unwrap_or_default();
    assert!(trace.len() >= 20, "{}", untraced.headers);
    let disposition = untraced.header("content-disposition").unwrap_or_default();
    assert!(disposition.contains(&format!("filename=\"{trace}.pdf\"")), "named after the trace: {disposition}");
    // Gotenberg's defaults: Letter-sized 8.5 x 11 in, no backgrounds.
    assert!(info_line(&pdfinfo(&untraced.body), "Page size").starts_with("612 x 792"));
}

/// Bad forms: each is a 4xx problem naming the part, field, key or header.
#[test]
fn each_bad_form_is_a_problem_naming_its_part() {
    let (_data, server) = start(&["--max-asset-bytes", "2000"]);
    let dir = tempfile::tempdir().expect("form dir");
    write_form(dir.path(), &[("index.html", INDEX), ("page.html", INDEX), ("big.css", &"x".repeat(3000))]);
    let url = server.url(FORM_ROUTE);
    let cases: &[(&[&str], u16, &str)] = &[
        (&["--form", "files=@page.html"], 400, "no index.html"),
        (&["--form", "files=@index.html", "--form", "files=@page.html;filename=../x.css"], 400, "\"../x.css\""),
        (&["--form", "files=@index.html", "--form", "files=@page.html;filename=css/x.css"], 400, "\"css/x.css\""),
        (&["--form", "files=@index.html", "--form", "files=@big.css"], 413, "part \"big.css\" is over the limit"),
        (
            &["--form", "files=@index.html", "--form", "cookies=[]"],
            422,
            "\"cookies\" is refused: it asks for the network",
        ),
        (&["--form", "files=@index.html", "--form", "extraHttpHeaders={}"], 422, "\"extraHttpHeaders\" is refused"),
        (&["--form", "files=@index.html", "--form", "userPassword="], 422, "encryption needs a password"),
        (&["--form", "files=@index.html", "--form", "paperWidth=8furlongs"], 400, "\"paperWidth\""),
        (&["--form", "files=@index.html", "--form", "landscape=yes"], 400, "\"landscape\""),
        (&["--form", "files=@index.html", "--form", "metadata={\"Copyright\": \"x\"}"], 400, "\"Copyright\""),
        (&["--form", "files=@index.html", "--form", "colour=red"], 400, "unknown field \"colour\""),
        (
            &["--form", "files=@index.html", "-H", "Gotenberg-Webhook-Url: http://127.0.0.1:9/"],
            422,
            "gotenberg-webhook-url",
        ),
        (&["--form", "files=@index.html", "--form", "waitForExpression=no_such_thing.ready"], 422, "no_such_thing"),
        (
            &["--form", "files=@index.html", "--form", "singlePage=true", "--form", "nativePageRanges=1"],
            422,
            "single_page prints the whole document on one page",
        ),
    ];
    for (args, status, needle) in cases {
        let answer = curl(dir.path(), &url, args);
        assert_eq!(answer.status, *status, "{args:?}: {}", String::from_utf8_lossy(&answer.body));
        let problem = answer.problem();
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(needle), "{args:?}: {detail:?} should name {needle:?}");
    }
    // Gotenberg's other routes are refused by name: the URL route asks for the network.
    let routes = [
        ("/forms/chromium/convert/url", "it asks for the network"),
        ("/forms/libreoffice/convert", "its one Gotenberg route is /forms/chromium/convert/html"),
    ];
    for (route, needle) in routes {
        let answer = curl(dir.path(), &server.url(route), &["--form", "url=http://127.0.0.1:9/"]);
        assert_eq!(answer.status, 422, "{route}: {}", String::from_utf8_lossy(&answer.body));
        let detail = answer.problem()["detail"].as_str().unwrap_or_default().to_string();
        assert!(detail.contains(route) && detail.contains(needle), "{route}: {detail}");
    }
    // Not multipart at all.
    let r = client().post(&url).bearer_auth(SUBMIT).json(&json!({"html": "x"})).send().expect("POST");
    assert_problem(r, StatusCode::BAD_REQUEST, "multipart");
    // No token, no PDF.
    let r = client().post(&url).send().expect("POST");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// `/v1/render` and `/v1/jobs` take a `job` part plus files; the JSON options reach the PDF:
/// metadata, a wait for an expression, `prefer_css_page_size`.
#[test]
fn multipart_jobs_and_the_new_options_through_the_json_api() {
    let (_data, server) = start(&[]);
    let dir = tempfile::tempdir().expect("form dir");
    let logo = "<svg xmlns='http://www.w3.org/2000/svg' width='40' height='40'><rect width='40' height='40' fill='teal'/></svg>";
    write_form(dir.path(), &[("logo.svg", logo), ("style.css", STYLE)]);
    let job = json!({"html": "<!doctype html><link rel=stylesheet href=style.css><img src=logo.svg><p>Logo above.</p>",
        "options": {"metadata": {"author": "Multipart", "created": "2023-01-02T03:04:05+01:00"}}});
    let form = ["--form", &format!("job={job}"), "--form", "files=@logo.svg", "--form", "files=@style.css"];
    let answer = curl(dir.path(), &server.url("/v1/render"), &form);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert_eq!(answer.header("x-pixelproof-blocked-requests").as_deref(), Some("0"), "the files were the assets");
    let info = pdfinfo(&answer.body);
    assert_eq!(info_line(&info, "Author"), "Multipart");
    assert!(info_line(&info, "CreationDate").starts_with("2023-01-02T03:04:05+01"), "{info}");

    let queued = curl(dir.path(), &server.url("/v1/jobs"), &form);
    assert_eq!(queued.status, 202, "{}", String::from_utf8_lossy(&queued.body));
    let id = serde_json::from_slice::<Value>(&queued.body).expect("JSON")["id"].as_str().expect("id").to_string();
    let settled = support::service::wait_settled(&server, SUBMIT, &id, Duration::from_secs(180));
    assert_eq!(settled["state"], "done", "{settled}");
    let stored = support::service::pdf_of(&server, SUBMIT, &id);
    assert_eq!(sha2::Sha256::digest(&stored), sha2::Sha256::digest(&answer.body), "queued and direct: same bytes");

    let missing = curl(dir.path(), &server.url("/v1/render"), &["--form", "files=@logo.svg"]);
    assert_eq!(missing.status, 400);
    assert!(missing.problem()["detail"].as_str().unwrap_or_default().contains("no part named \"job\""));

    // A wait: text a timer adds after the page has loaded is printed only when waited for.
    let late = "<!doctype html><body style=\"font-family: 'DejaVu Sans'\"><p>Early</p><script>\
        addEventListener('load', () => setTimeout(() => { document.body.insertAdjacentHTML('beforeend', \
        '<p>Late arrival</p>'); window.ready = true; }, 400));</script></body>";
    let render = |options: Value| {
        let body = json!({"html": late, "options": options});
        client().post(server.url("/v1/render")).bearer_auth(SUBMIT).json(&body).send().expect("POST /v1/render")
    };
    let unwaited = render(json!({}));
    assert_eq!(unwaited.status(), StatusCode::OK);
    assert!(!pdf_text(&unwaited.bytes().expect("PDF")).contains("Late arrival"), "printed before the timer");
    for options in [json!({"wait_for_expression": "window.ready === true"}), json!({"wait_delay_ms": 1500})] {
        let waited = render(options.clone());
        assert_eq!(waited.status(), StatusCode::OK, "{options}");
        assert!(pdf_text(&waited.bytes().expect("PDF")).contains("Late arrival"), "{options}: not waited for");
    }
    assert_problem(
        render(json!({"wait_for_expression": "window.ready.nope.deeper"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "wait_for_expression",
    );

    // fail_on_console_exceptions: an uncaught exception (or unhandled rejection) is the job's
    // 422, naming it; without the option the page prints.
    let throws = "<!doctype html><p>Throws</p><script>window.totals.sum = 1;</script>\
        <script>Promise.reject(new Error('no rates'));</script>";
    let body = |fail: bool| json!({"html": throws, "options": {"fail_on_console_exceptions": fail}});
    let post =
        |body: Value| client().post(server.url("/v1/render")).bearer_auth(SUBMIT).json(&body).send().expect("POST");
    assert_eq!(post(body(false)).status(), StatusCode::OK);
    let problem = assert_problem(post(body(true)), StatusCode::UNPROCESSABLE_ENTITY, "fail_on_console_exceptions");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("setting 'sum'") && detail.contains("no rates"), "{detail}");

    // prefer_css_page_size: the document's @page size wins by default, the paper when false.
    let css_size = "<!doctype html><style>@page { size: 100mm 100mm }</style><p>Sized</p>";
    let size_of = |prefer: bool| {
        let body = json!({"html": css_size, "options": {"paper": "A4", "prefer_css_page_size": prefer}});
        let r = client().post(server.url("/v1/render")).bearer_auth(SUBMIT).json(&body).send().expect("POST");
        assert_eq!(r.status(), StatusCode::OK);
        info_line(&pdfinfo(&r.bytes().expect("PDF")), "Page size")
    };
    let (css, paper) = (size_of(true), size_of(false));
    assert!(css.starts_with("282.") || css.starts_with("283."), "the CSS size (100mm) wins: {css}");
    assert!(paper.contains("(A4)"), "the paper wins: {paper}");

    let spec: Value = client().get(server.url("/openapi.json")).send().expect("openapi").json().expect("JSON");
    assert!(spec["paths"][FORM_ROUTE]["post"].is_object(), "the form route is documented");
    let options = &spec["components"]["schemas"]["JobOptions"]["properties"];
    for name in
        ["metadata", "wait_for_expression", "wait_delay_ms", "prefer_css_page_size", "fail_on_console_exceptions"]
    {
        assert!(options[name].is_object(), "JobOptions.{name} is missing: {options}");
    }
    let render_body = &spec["paths"]["/v1/render"]["post"]["requestBody"]["content"];
    assert!(render_body["multipart/form-data"].is_object(), "{render_body}");
}

/// `singlePage`: the whole document on one page as tall as its content, page breaks and all;
/// without it the same form prints on several pages. The text is the same, in the same order.
#[test]
fn single_page_prints_the_whole_document_on_one_page_as_tall_as_its_content() {
    let (_data, server) = start(&[]);
    let dir = tempfile::tempdir().expect("form dir");
    let rows: String = (1..=90).map(|i| format!("<tr><td>Item {i}</td><td>{}.00</td></tr>", i * 3)).collect();
    let receipt = format!(
        "<!doctype html><html><head><style>body {{ font-family: 'DejaVu Sans' }} h2 {{ break-before: page }}</style>\
         </head><body><p>Receipt start</p><h2>Items</h2><table>{rows}</table><p>Receipt end</p></body></html>"
    );
    write_form(dir.path(), &[("index.html", &receipt)]);
    let url = server.url(FORM_ROUTE);
    let paper = ["--form", "paperWidth=80mm", "--form", "paperHeight=200mm", "--form", "marginTop=4mm"];
    let paged = curl(dir.path(), &url, &[&["--form", "files=@index.html"][..], &paper[..]].concat());
    assert_eq!(paged.status, 200, "{}", String::from_utf8_lossy(&paged.body));
    let one = curl(
        dir.path(),
        &url,
        &[&["--form", "files=@index.html", "--form", "singlePage=true"][..], &paper[..]].concat(),
    );
    assert_eq!(one.status, 200, "{}", String::from_utf8_lossy(&one.body));
    assert_eq!(one.header("x-pixelproof-pages").as_deref(), Some("1"), "{}", one.headers);
    assert_eq!(one.header("x-pixelproof-state").as_deref(), Some("done"), "proved like any PDF");
    let (paged_info, one_info) = (pdfinfo(&paged.body), pdfinfo(&one.body));
    assert!(info_line(&paged_info, "Pages").parse::<usize>().unwrap_or(0) >= 3, "{paged_info}");
    assert_eq!(info_line(&one_info, "Pages"), "1");
    // As wide as the paper (80 mm = 226.8 pt), far taller than it (200 mm = 566.9 pt).
    let size = info_line(&one_info, "Page size");
    let (w, h) = size.split_once(" x ").expect("W x H");
    let (w, h): (f64, f64) = (w.trim().parse().expect("width"), h.trim_end_matches(" pts").trim().parse().expect("h"));
    assert!((w - 226.8).abs() < 1.0 && h > 3.0 * 566.9, "{size}");
    let text = |pdf: &[u8]| -> String { support::service::pdf_text(pdf).split_whitespace().collect() };
    assert_eq!(text(&one.body), text(&paged.body), "every line of the document, in order, on one page");
    assert!(text(&one.body).ends_with("Receiptend"), "nothing cut off: {}", text(&one.body));

    // The fallback cannot measure a document first: it says so rather than print pages.
    let out = support::pixelproof()
        .args(["render", "--renderer", "fallback", "--single-page", "--html"])
        .arg(dir.path().join("index.html"))
        .arg("-o")
        .arg(dir.path().join("fallback.pdf"))
        .output()
        .expect("run pixelproof");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("single_page") && said.contains("print this document with Chromium"), "{said}");
}
