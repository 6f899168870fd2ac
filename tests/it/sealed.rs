//! A document cannot reach any host, port or file: every vector the issue names, aimed at a
//! loopback listener that counts connections and at /etc/hostname, with real Chromium.

use crate::support;

use std::time::Duration;

use support::{engine, hostile_html, html_doc, CountingListener};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_document_reaches_nothing() {
    let listener = CountingListener::start();
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_string();
    let engine = engine(1, Duration::from_secs(30)).await;
    let doc = html_doc("sealed", &hostile_html(listener.port), &[]);
    let proof = engine.prove(&doc).await.expect("the hostile document still prints");
    // Give any stray connection a moment to land before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    engine.chromium.shutdown().await;

    assert_eq!(listener.hits(), 0, "the document reached the loopback listener");
    let text: String = proof.pages.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join("\n");
    assert!(text.contains("Sealed document"), "the page itself rendered: {text}");
    assert!(!text.contains("LEAKED"), "a response from the listener made it into the PDF: {text}");
    assert!(!text.contains("FETCHED") && !text.contains("XHR "), "a fetch or XHR succeeded: {text}");
    if hostname.len() >= 3 {
        assert!(!text.contains(&hostname), "/etc/hostname's content ({hostname}) is in the PDF text");
    }
    // Every HTTP vector is recorded with its URL and a reason.
    for path in ["link.css", "import.css", "font.ttf", "bg.png", "img.png", "frame.html", "script.js", "fetch", "xhr"] {
        let url = format!("http://127.0.0.1:{}/{path}", listener.port);
        assert!(
            proof.rendered.blocked.iter().any(|b| b.url == url && !b.reason.is_empty()),
            "{url} is not among the blocked requests: {:#?}",
            proof.rendered.blocked
        );
    }
    // file: attempts are refused by Chromium before interception; they are recorded too.
    assert!(
        proof.rendered.blocked.iter().any(|b| b.url == "file:///etc/hostname" && b.reason.contains("file")),
        "file:///etc/hostname is not among the blocked requests: {:#?}",
        proof.rendered.blocked
    );
    // The font that could not load is reported, naming the family asked for.
    assert!(
        proof.fonts.problems.iter().any(|p| p.requested == "Leak"),
        "the blocked @font-face is not reported: {:?}",
        proof.fonts.problems
    );
    assert!(!proof.fonts.strict, "raw HTML jobs only warn about fonts by default");
}

/// A font installed on the system but not bundled stays invisible: the text falls back to a
/// bundled font, the PDF embeds bundled fonts only, and the substitution is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_fonts_are_invisible_to_documents() {
    let listed = std::process::Command::new("fc-list").arg(":").arg("family").output().expect("run fc-list");
    let system_families = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(
        system_families.contains("Liberation Sans"),
        "this test needs the system font Liberation Sans (scripts/setup installs fonts-liberation2)"
    );
    let engine = engine(1, Duration::from_secs(30)).await;
    let doc = html_doc(
        "system-font",
        "<!doctype html><body><p style=\"font-family: 'Liberation Sans'\">Invoice total 1,250.00</p></body>",
        &[],
    );
    let proof = engine.prove(&doc).await.expect("prints");
    engine.chromium.shutdown().await;
    assert!(
        proof.fonts.embedded.iter().all(|f| engine.fonts.knows(f)),
        "a non-bundled font was embedded: {:?}",
        proof.fonts.embedded
    );
    assert!(!proof.fonts.embedded.iter().any(|f| f.contains("Liberation")), "{:?}", proof.fonts.embedded);
    let problem =
        proof.fonts.problems.iter().find(|p| p.requested == "Liberation Sans").expect("the substitution is reported");
    assert!(problem.used.contains("DejaVu"), "{problem:?}");
}
