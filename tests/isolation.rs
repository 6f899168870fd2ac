//! One fresh browser context per document: what one document stores (cookies, localStorage,
//! sessionStorage, IndexedDB) is invisible to the next, even on the same warm browser.

mod common;

use std::time::Duration;

use common::{engine, html_doc};

const WRITER: &str = r#"<!doctype html><body><p id="w">writer</p><script>
  document.cookie = "secret=cookie-from-job-1; path=/";
  localStorage.setItem("secret", "local-from-job-1");
  sessionStorage.setItem("secret", "session-from-job-1");
  indexedDB.open("jobdb", 1).onupgradeneeded = e => e.target.result.createObjectStore("s");
</script></body>"#;

const READER: &str = r#"<!doctype html><body><pre id="r"></pre><script>
  const r = document.getElementById("r");
  r.textContent = "cookie=[" + document.cookie + "] local=[" + localStorage.getItem("secret") +
    "] session=[" + sessionStorage.getItem("secret") + "]";
  window.__wait = indexedDB.databases().then(dbs => { r.textContent += " idb=[" + dbs.map(d => d.name).join(",") + "]"; });
</script><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></body>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_one_document_stores_is_seen_by_the_next() {
    // One browser, so both documents run in the same process.
    let engine = engine(1, Duration::from_secs(30)).await;
    let writer = engine.prove(&html_doc("writer", WRITER, &[])).await.expect("writer renders");
    assert!(writer.pages[0].text.contains("writer"));
    let reader = engine.prove(&html_doc("reader", READER, &[])).await.expect("reader renders");
    let text = &reader.pages[0].text;
    assert!(text.contains("cookie=[]"), "a cookie leaked: {text}");
    assert!(text.contains("local=[null]"), "localStorage leaked: {text}");
    assert!(text.contains("session=[null]"), "sessionStorage leaked: {text}");
    assert!(text.contains("idb=["), "the IndexedDB probe did not run before printing: {text}");
    assert!(!text.contains("jobdb"), "an IndexedDB database leaked: {text}");
    assert!(!text.contains("job-1"), "{text}");
    engine.renderer.shutdown().await;
}
