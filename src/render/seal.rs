//! Sealing the network: every request a document makes is answered here.
//!
//! Documents load from a synthetic origin, [`DOC_ORIGIN`], that exists only inside this
//! module: `index.html` is the document, `/_fonts/…` are the bundled fonts, any other path
//! is one of the document's own assets. Every other URL — another host, another port,
//! another scheme, a path that escapes the asset root — is refused and recorded with the
//! reason. `decide` is pure so the rules can be tested without a browser; the Fetch loop
//! that applies them lives in `page`.

use std::sync::Arc;

use crate::document::Assets;
use crate::fonts::BundledFonts;

/// The origin documents are loaded from. `.invalid` is reserved (RFC 2606): it can never
/// resolve to a real host, so even a request that escaped interception goes nowhere.
pub const DOC_ORIGIN: &str = "https://document.invalid";
/// The document's own URL.
pub const DOC_URL: &str = "https://document.invalid/index.html";
/// Where bundled fonts are served under the document origin.
pub const FONTS_PREFIX: &str = "/_fonts/";

/// What to answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Fulfil with these bytes and this content type.
    Serve { body: Vec<u8>, content_type: String },
    /// Refuse; the reason is recorded on the result.
    Refuse { reason: String },
}

/// Everything a document may load: its HTML, its assets and the bundled fonts.
#[derive(Clone)]
pub struct Allowed {
    pub html: Arc<String>,
    pub assets: Assets,
    pub fonts: Arc<BundledFonts>,
}

impl Allowed {
    /// Decides how to answer a request for `raw_url`.
    pub fn decide(&self, raw_url: &str) -> Decision {
        let refuse = |reason: &str| Decision::Refuse { reason: reason.to_string() };
        let url = match url::Url::parse(raw_url) {
            Ok(u) => u,
            Err(_) => return refuse("not a valid URL"),
        };
        if url.scheme() != "https" || url.host_str() != Some("document.invalid") || url.port().is_some() {
            return match url.scheme() {
                "file" => refuse("file: URLs are never served: documents cannot read the file system"),
                "http" | "https" | "ws" | "wss" => {
                    refuse("network access is sealed: only the document's own assets and the bundled fonts load")
                }
                other => Decision::Refuse { reason: format!("scheme {other}: is never served") },
            };
        }
        let path = percent_decode(url.path());
        let Some(path) = path else { return refuse("the URL path is not valid UTF-8") };
        if path == "/index.html" || path == "/" {
            return Decision::Serve {
                body: self.html.as_bytes().to_vec(),
                content_type: "text/html; charset=utf-8".into(),
            };
        }
        if let Some(rel) = path.strip_prefix(FONTS_PREFIX) {
            return match self.fonts.read(rel) {
                Some(body) => Decision::Serve { body, content_type: content_type_for(rel) },
                None => refuse("no bundled font has this path (see fonts/)"),
            };
        }
        if crate::document::safe_relative_path(&path).is_none() {
            return refuse("the path leaves the document's asset root");
        }
        match self.assets.read(&path) {
            Some(body) => Decision::Serve { body, content_type: content_type_for(&path) },
            None => refuse("not one of the document's assets"),
        }
    }
}

/// Percent-decodes a URL path; `None` if the result is not UTF-8.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn content_type_for(path: &str) -> String {
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "woff2" => "font/woff2".into(),
        "woff" => "font/woff".into(),
        "ttf" => "font/ttf".into(),
        "otf" => "font/otf".into(),
        "ttc" => "font/collection".into(),
        _ => mime_guess::from_path(path).first_or_octet_stream().essence_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn allowed() -> Allowed {
        let fonts = BundledFonts::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts")).unwrap();
        let mut assets = BTreeMap::new();
        assets.insert("style.css".to_string(), b"p{}".to_vec());
        assets.insert("img/logo one.svg".to_string(), b"<svg/>".to_vec());
        Allowed { html: Arc::new("<p>hi</p>".into()), assets: Assets::Memory(assets), fonts: Arc::new(fonts) }
    }

    fn is_refused(d: &Decision) -> bool {
        matches!(d, Decision::Refuse { .. })
    }

    #[test]
    fn serves_the_document_its_assets_and_bundled_fonts() {
        let a = allowed();
        assert!(
            matches!(a.decide(DOC_URL), Decision::Serve { ref content_type, .. } if content_type.starts_with("text/html"))
        );
        assert!(
            matches!(a.decide("https://document.invalid/style.css"), Decision::Serve { ref content_type, .. } if content_type == "text/css")
        );
        assert!(!is_refused(&a.decide("https://document.invalid/img/logo%20one.svg?v=1#x")));
        assert!(
            matches!(a.decide("https://document.invalid/_fonts/dejavu/DejaVuSans.ttf"), Decision::Serve { ref content_type, .. } if content_type == "font/ttf")
        );
    }

    #[test]
    fn refuses_everything_else() {
        let a = allowed();
        for url in [
            "http://127.0.0.1:8080/x",
            "http://document.invalid/style.css",
            "https://document.invalid:8443/style.css",
            "https://example.com/style.css",
            "file:///etc/hostname",
            "FILE:///etc/hostname",
            "file://localhost/etc/hostname",
            "ftp://127.0.0.1/x",
            "chrome://version",
            "https://document.invalid/missing.css",
            "https://document.invalid/%2e%2e/Cargo.toml",
            "https://document.invalid/_fonts/../../Cargo.toml",
            "https://document.invalid/_fonts/dejavu/LICENSE",
            "data:text/html,hi",
        ] {
            assert!(is_refused(&a.decide(url)), "{url} must be refused");
        }
        match a.decide("file:///etc/passwd") {
            Decision::Refuse { reason } => assert!(reason.contains("file")),
            other => panic!("{other:?}"),
        }
    }
}
