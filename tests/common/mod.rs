//! Helpers shared by the integration tests: a real engine (pinned Chromium + PDFium) and
//! loopback listeners that count every connection made to them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pixelproof::job::{Assets, Document, Origin, PrintOptions};
use pixelproof::pipeline::{Engine, EngineConfig};

/// Starts the real engine; fails the test with the setup hint when Chromium or PDFium is missing.
pub async fn engine(pool_size: usize, timeout: Duration) -> Engine {
    let config = EngineConfig { pool_size, render_timeout: timeout, ..EngineConfig::default() };
    match Engine::start(config).await {
        Ok(e) => e,
        Err(e) => panic!("the engine did not start ({e}); run scripts/setup first"),
    }
}

/// A raw-HTML document with in-memory assets.
pub fn html_doc(label: &str, html: &str, assets: &[(&str, &[u8])]) -> Document {
    let map: BTreeMap<String, Vec<u8>> = assets.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect();
    Document {
        label: label.to_string(),
        html: html.to_string(),
        assets: Assets::Memory(map),
        options: PrintOptions::default(),
        origin: Origin::Html,
    }
}

/// A loopback TCP listener that counts connections (and answers each with a tiny HTTP
/// response so a leak would visibly succeed).
pub struct CountingListener {
    pub port: u16,
    hits: Arc<AtomicUsize>,
}

impl CountingListener {
    pub fn start() -> CountingListener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut s) = stream {
                    use std::io::Write;
                    let body = "LEAKED-FROM-LOOPBACK";
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: {}\r\n\r\n{}",
                        body.len(),
                        body
                    );
                }
            }
        });
        CountingListener { port, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
