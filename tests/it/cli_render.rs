//! `pixelproof render` as a user runs it: real binary, real Chromium and PDFium.

use crate::support::{pixelproof, render_to_pdf, write_file};

#[test]
fn renders_an_html_file_with_its_assets_and_reports_blocked_requests() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_file(
        tmp.path(),
        "page.html",
        "<!doctype html><link rel=stylesheet href=css/s.css><h1>Quarterly</h1><img src='http://127.0.0.1:9/x.png'>",
    );
    write_file(tmp.path(), "css/s.css", "h1 { color: rgb(200, 0, 0); font-family: 'DejaVu Serif'; }");
    let out = tmp.path().join("page.pdf");
    let (pdf, json, stderr) = render_to_pdf(
        pixelproof().args(["render", "--html"]).arg(tmp.path().join("page.html")).args(["--title", "Q3 report"]),
        &out,
    );
    assert!(pdf.windows(9).any(|w| w == b"Q3 report"), "the title is in the PDF metadata");
    assert_eq!(json["pages"], 1);
    assert_eq!(json["blocked"][0]["url"], "http://127.0.0.1:9/x.png");
    assert!(
        json["fonts"]["embedded"].as_array().expect("embedded fonts").iter().any(|f| f == "DejaVuSerif-Bold"),
        "{json}"
    );
    assert!(stderr.contains("blocked: http://127.0.0.1:9/x.png"), "{stderr}");
}

#[test]
fn unknown_template_and_bad_data_are_clear_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_file(tmp.path(), "t/template.html", "<p>{{ customer.name }}</p>");
    write_file(tmp.path(), "bad.json", "{ not json");
    write_file(tmp.path(), "empty.json", "{}");
    let out = tmp.path().join("x.pdf");
    let run = |template: &str, data: &str| {
        pixelproof()
            .args(["render", "--templates"])
            .arg(tmp.path())
            .args(["--template", template, "--data"])
            .arg(tmp.path().join(data))
            .arg("-o")
            .arg(&out)
            .output()
            .expect("run pixelproof")
    };
    let unknown = run("nope", "empty.json");
    assert_eq!(unknown.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&unknown.stderr);
    assert!(msg.contains("unknown template \"nope\"") && msg.contains("known templates: t"), "{msg}");

    let bad = run("t", "bad.json");
    assert_eq!(bad.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(msg.contains("bad.json") && msg.contains("not valid JSON"), "{msg}");

    let missing = run("t", "empty.json");
    assert_eq!(missing.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&missing.stderr);
    assert!(msg.contains("failed to render") && msg.contains("undefined"), "{msg}");
    assert!(!out.exists(), "no PDF is written for a failed job");
}

#[test]
fn a_template_asking_for_an_unbundled_font_fails_naming_both_fonts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write_file(tmp.path(), "t/template.html", "<p style=\"font-family: 'Helvetica Neue'\">{{ total }}</p>");
    write_file(tmp.path(), "d.json", r#"{"total": "1 250,00 EUR"}"#);
    let out = tmp.path().join("x.pdf");
    let res = pixelproof()
        .args(["render", "--templates"])
        .arg(tmp.path())
        .args(["--template", "t", "--data"])
        .arg(tmp.path().join("d.json"))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run pixelproof");
    let msg = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{msg}");
    assert!(msg.contains("Helvetica Neue") && msg.contains("DejaVu Sans"), "names asked-for and used fonts: {msg}");
    assert!(!out.exists(), "no PDF is written when fonts fail");

    // The same HTML as a raw-HTML job only warns, unless --strict-fonts.
    write_file(tmp.path(), "raw.html", "<p style=\"font-family: 'Helvetica Neue'\">1 250,00 EUR</p>");
    let lenient = pixelproof()
        .args(["render", "--html"])
        .arg(tmp.path().join("raw.html"))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run");
    assert!(lenient.status.success(), "{}", String::from_utf8_lossy(&lenient.stderr));
    assert!(String::from_utf8_lossy(&lenient.stderr).contains("font warning"));
    let strict = pixelproof()
        .args(["render", "--strict-fonts", "--html"])
        .arg(tmp.path().join("raw.html"))
        .arg("-o")
        .arg(tmp.path().join("strict.pdf"))
        .output()
        .expect("run");
    assert_eq!(strict.status.code(), Some(2));
}
