//! Guards the Chromium pin against chromiumoxide's protocol definitions: during normal
//! renders (every bundled fixture) and a hostile one, no message of the domains the renderer
//! depends on — Fetch (sealing), IO (the PDF stream), Log (file: refusals), Target
//! (contexts), `Page.javascriptDialogOpening` (dismissing dialogs), `Page.windowOpen` and
//! `Network.webSocketCreated` (listing popups and sockets as refused) — may be unparseable,
//! because an unparsed `Fetch.requestPaused` would stall a page, an unparsed log entry would
//! hide a refused file read, and an unparsed dialog would hold the print until the timeout.

use crate::support;

use std::time::Duration;

use pixelproof::template::{default_templates_dir, Catalog};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_domains_we_depend_on_parse_without_drift() {
    let engine = support::engine(1, Duration::from_secs(60)).await;
    let catalog = Catalog::load(&default_templates_dir()).expect("templates");
    for t in &catalog.templates {
        for f in t.fixtures().expect("fixtures") {
            let doc = t.document(&f.data, &format!("{}/{}", t.name, f.name)).expect("document");
            engine.prove(&doc).await.expect("renders");
        }
    }
    let hostile = support::html_doc(
        "hostile",
        "<!doctype html><link rel=stylesheet href='http://127.0.0.1:9/x.css'><img src='file:///etc/hostname'><script>fetch('file:///etc/hostname').catch(() => 0); alert('a'); confirm('c'); prompt('p'); try { new WebSocket('ws://127.0.0.1:9/'); } catch (e) {} open('https://example.invalid/')</script><p>x</p>",
        &[],
    );
    let proof = engine.prove(&hostile).await.expect("renders");
    let kinds: Vec<&str> = proof.rendered.blocked.iter().map(|b| b.resource_type.as_str()).collect();
    assert_eq!(kinds.len(), 4, "{:?}", proof.rendered.blocked);
    assert!(kinds.contains(&"WebSocket") && kinds.contains(&"Popup"), "{kinds:?}");
    let invalid = engine.chromium.invalid_messages();
    engine.chromium.shutdown().await;
    eprintln!("unparsed CDP messages by method (drift in domains we do not rely on is tolerated): {invalid:?}");
    let relied_on: Vec<_> = invalid
        .iter()
        .filter(|(m, _)| {
            [
                "Fetch.",
                "IO.",
                "Log.",
                "Target.",
                "Page.javascriptDialog",
                "Page.windowOpen",
                "Network.webSocketCreated",
                "response",
            ]
            .iter()
            .any(|d| m.starts_with(d))
        })
        .collect();
    assert!(relied_on.is_empty(), "chromiumoxide cannot parse messages we depend on: {relied_on:?}");
}
