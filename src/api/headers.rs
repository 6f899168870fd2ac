//! Response headers that keep what the server sends from being misused by a browser: files
//! are downloads with a fixed type (`Content-Disposition`, `nosniff`), and pages cannot be
//! framed or run scripts other than their own (`Content-Security-Policy`).
//!
//! One place, so a PDF from `/v1/render`, `/v1/jobs/ID/pdf`, an artifact and a review file
//! all carry the same set.

use axum::http::header::{self, HeaderName, HeaderValue};

/// Headers for a file sent as `name` (a name the server chose or validated). PDFs, JSON
/// and anything else are attachments; images are `inline` so the review page can show them.
pub fn file(name: &str, content_type: &str) -> [(HeaderName, HeaderValue); 4] {
    // Only characters that need no quoting; anything else becomes `_`.
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    let disposition = if content_type.starts_with("image/") { "inline" } else { "attachment" };
    [
        (header::CONTENT_TYPE, value(content_type, "application/octet-stream")),
        (header::CONTENT_DISPOSITION, value(&format!("{disposition}; filename=\"{safe}\""), "attachment")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
    ]
}

/// Headers for an HTML page whose only script is the inline one hashed as `script_sha256`
/// (base64): no framing, no other script, requests only to this origin, nothing cached.
pub fn page(script_sha256: &str) -> [(HeaderName, HeaderValue); 5] {
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{script_sha256}'; style-src 'unsafe-inline'; img-src 'self'; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    [
        (header::CONTENT_SECURITY_POLICY, value(&csp, "default-src 'none'; frame-ancestors 'none'")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ]
}

/// `text` as a header value, or `fallback` if it cannot be one (it always can: callers pass
/// ASCII, but a panic is not the answer to a surprise).
fn value(text: &str, fallback: &'static str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(fallback))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_quoted_safely_and_pdfs_are_downloads() {
        let h = file("01J\"x;y.pdf", "application/pdf");
        assert_eq!(h[1].1, "attachment; filename=\"01J_x_y.pdf\"");
        assert_eq!(file("diff-001.png", "image/png")[1].1, "inline; filename=\"diff-001.png\"");
        assert!(page("abc=")[0].1.to_str().unwrap().contains("frame-ancestors 'none'"));
    }
}
