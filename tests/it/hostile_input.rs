//! Hostile input through a running `pixelproof serve`: template data is autoescaped (a
//! `<script>` in a customer's name prints as text and never runs), and path traversal in
//! template names, baseline keys, job ids, asset paths and review file names — plain, absolute,
//! backslashed and percent-encoded — is refused with a problem+json 4xx before anything renders.

use crate::support;

use serde_json::{json, Value};
use support::service::*;

fn is_refused(r: reqwest::blocking::Response, what: &str) {
    let status = r.status();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let body = r.text().unwrap_or_default();
    assert!(status.is_client_error(), "{what}: {status} {body}");
    assert_eq!(ct, "application/problem+json", "{what}: {body}");
    assert!(!body.contains("root:x:0"), "{what}: {body}");
}

#[test]
fn template_data_is_escaped_and_traversal_is_refused_everywhere() {
    let data = tempfile::tempdir().expect("data dir");
    let server = Server::start(data.path(), &["--workers", "1"]);

    // Autoescape: markup in the data is text in the PDF, and its script never ran.
    let mut invoice = fixture("invoice", "basic");
    let evil = "<script>document.title='PWNED'; document.body.innerHTML='PWNED'</script><b>Bold & Co</b>";
    invoice["bill_to"]["name"] = Value::String(evil.to_string());
    let r = client().post(server.url("/v1/render")).json(&json!({"template": "invoice", "data": invoice})).send();
    let r = r.expect("POST /v1/render");
    assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());
    let pdf = r.bytes().expect("PDF");
    let path = data.path().join("escaped.pdf");
    std::fs::write(&path, &pdf).expect("write PDF");
    let out = std::process::Command::new("pdftotext").arg(&path).arg("-").output().expect("pdftotext (poppler-utils)");
    let text = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    assert!(text.contains("<script>document.title="), "the markup should print as text: {text}");
    assert!(text.contains("<b>Bold & Co</b>"), "{text}");
    assert!(!text.starts_with("PWNED") && text.contains("INV-2025-0418"), "the script ran: {text}");

    // Template names.
    for name in ["../invoice", "..%2Finvoice", "/etc/passwd", "invoice/../report", "..\\invoice", "%2e%2e", "."] {
        let r = post_job(&server, SUBMIT, &json!({"template": name, "data": {}}), None);
        is_refused(r, &format!("template {name:?}"));
    }
    // Baseline keys.
    for key in ["../../etc/passwd", "invoice/../../x", "/invoice/basic", "invoice\\basic", "invoice/%2e%2e", "invoice"]
    {
        let body = json!({"template": "invoice", "data": fixture("invoice", "basic"), "baseline": key});
        is_refused(post_job(&server, SUBMIT, &body, None), &format!("baseline {key:?}"));
    }
    // Asset paths of an HTML job.
    for asset in ["../secret.png", "/etc/passwd", "a/../../b.png", "..\\b.png", "a//b.png", ""] {
        let body = json!({"html": "<img src=\"x.png\">", "assets": {asset: "aGk="}});
        is_refused(post_job(&server, SUBMIT, &body, None), &format!("asset {asset:?}"));
    }
    // Job ids, in the status, PDF and artifact routes.
    for id in [
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "01ARZ3NDEKTSV4RRFFQ69G5FA%2F..",
        "not-a-ulid",
        "01arz3ndektsv4rrffq69g5fav",
    ] {
        for route in
            [format!("/v1/jobs/{id}"), format!("/v1/jobs/{id}/pdf"), format!("/v1/jobs/{id}/artifacts/verdict.json")]
        {
            is_refused(client().get(server.url(&route)).send().expect("GET"), &route);
        }
    }
    // A real job's artifacts cannot be left by name.
    let id = submit(&server, SUBMIT, &json!({"html": "<p>ok</p>"}));
    wait_settled(&server, SUBMIT, &id, std::time::Duration::from_secs(120));
    for name in ["..%2Fjob.json", "%2e%2e%2f%2e%2e%2fqueue", "..", "job.json%00.png"] {
        let route = format!("/v1/jobs/{id}/artifacts/{name}");
        is_refused(client().get(server.url(&route)).send().expect("GET"), &route);
    }
    // Review files: baselines and candidates by template, fixture and page name.
    for route in [
        "/review/files/baselines/..%2F..%2Fetc/passwd/page-001.png",
        "/review/files/baselines/invoice/basic/..%2Fmanifest.json",
        "/review/files/baselines/invoice/basic/manifest.json",
        "/review/files/candidates/%2e%2e/basic/page-001.png",
        "/review/files/jobs/..%2F..%2Fqueue/x.png",
    ] {
        is_refused(client().get(server.url(route)).send().expect("GET"), route);
    }
    // A good name still works after all that.
    let r = client().get(server.url("/review/files/baselines/invoice/basic/page-001.png")).send().expect("GET");
    assert!(r.status().is_success(), "{}", r.status());
}
