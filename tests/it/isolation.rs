//! One fresh browser context per document: what one document stores (cookies, localStorage,
//! sessionStorage, IndexedDB, Cache Storage and HTTP cache entries, service workers) is
//! invisible to the next, even on the same warm browser.

use crate::support;

use std::time::Duration;

use support::{engine, html_doc};

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
    engine.chromium.shutdown().await;
}

/// Stores a Cache Storage entry, fetches an asset (an HTTP cache entry, were it cacheable) and
/// tries to register a service worker; prints how each went.
const CACHE_WRITER: &str = r#"<!doctype html><body><p>cache writer</p><pre id="o">writer:</pre>
<script>
  const o = document.getElementById("o");
  const note = s => o.textContent += "\n" + s;
  // The print waits for this promise.
  window.pixelproofReady = (async () => {
    try {
      const c = await caches.open("jobcache");
      await c.put("/secret", new Response("cache-from-job-1"));
      note("cache-stored " + (await caches.keys()).join(","));
    } catch (e) { note("cache-error " + e); }
    try { note("fetched " + await (await fetch("cached.txt")).text()); } catch (e) { note("fetch-error " + e); }
    try {
      const r = await navigator.serviceWorker.register("sw.js");
      note("sw-registered " + r.scope);
    } catch (e) { note("sw-refused " + e.name); }
    note("writer-done");
  })();
</script></body>"#;

const CACHE_READER: &str = r#"<!doctype html><body><p>cache reader</p><pre id="o">reader:</pre>
<script>
  const o = document.getElementById("o");
  const note = s => o.textContent += "\n" + s;
  window.pixelproofReady = (async () => {
    note("caches=[" + (await caches.keys()).join(",") + "]");
    note("matched=[" + (await caches.match("/secret").then(r => r ? r.text() : "")) + "]");
    const regs = await navigator.serviceWorker.getRegistrations();
    note("workers=[" + regs.map(r => r.scope).join(",") + "] controlled=" + !!navigator.serviceWorker.controller);
    try {
      const r = await fetch("cached.txt", { cache: "only-if-cached", mode: "same-origin" });
      note("http-cache=[" + await r.text() + "]");
    } catch (e) { note("http-cache=[]"); }
    note("reader-done");
  })();
</script></body>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_entries_and_service_workers_do_not_outlive_their_document() {
    let engine = engine(1, Duration::from_secs(30)).await;
    let sw = b"self.addEventListener('fetch', e => e.respondWith(new Response('from-sw-of-job-1')));";
    let assets: [(&str, &[u8]); 2] = [("cached.txt", b"http-cache-from-job-1"), ("sw.js", sw)];
    let writer = engine.prove(&html_doc("cache writer", CACHE_WRITER, &assets)).await.expect("writer renders");
    let wrote = &writer.pages[0].text;
    // The writer really stored an entry (else the reader's emptiness would prove nothing).
    assert!(wrote.contains("cache-stored jobcache") && wrote.contains("writer-done"), "{wrote}");
    assert!(wrote.contains("fetched http-cache-from-job-1"), "{wrote}");
    // A service worker cannot even be registered: its script is fetched outside the seal.
    assert!(wrote.contains("sw-refused"), "{wrote}");
    let reader = engine.prove(&html_doc("cache reader", CACHE_READER, &[])).await.expect("reader renders");
    let text = &reader.pages[0].text;
    assert!(text.contains("reader-done"), "the probe did not finish before printing: {text}");
    assert!(text.contains("caches=[]") && text.contains("matched=[]"), "a Cache Storage entry leaked: {text}");
    assert!(text.contains("workers=[] controlled=false"), "a service worker leaked: {text}");
    assert!(text.contains("http-cache=[]"), "an HTTP cache entry leaked: {text}");
    assert!(!text.contains("job-1"), "{text}");
    engine.chromium.shutdown().await;
}
