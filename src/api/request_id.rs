//! `X-Request-Id`: every answer carries one, the client's when it sent a usable one (1 to 128
//! letters, digits, `.`, `_`, `:` and `-`: nothing that could forge a log field), a new ULID
//! otherwise, and every log line written while the
//! request is handled is in a `request` span that names it, so a client's report and the
//! server's log meet. A W3C `traceparent` the client sent is kept as [`TraceParent`] for the
//! job it submits (its record and result events carry it).

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

/// The request's id (an extension every handler may read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// A valid W3C `traceparent` header the request came with (an extension, when there was one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent(pub String);

fn usable(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// `VERSION-TRACEID-PARENTID-FLAGS` in lowercase hex (2-32-16-2), trace and parent ids not all
/// zeros, version not `ff` (W3C Trace Context, level 1).
pub fn valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    parts.len() >= 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && (parts[0] != "00" || parts.len() == 4)
        && hex(parts[1], 32)
        && parts[1].bytes().any(|b| b != b'0')
        && hex(parts[2], 16)
        && parts[2].bytes().any(|b| b != b'0')
        && hex(parts[3], 2)
}

/// The middleware (outermost, so even a refused request gets its id).
pub async fn tag(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| usable(v))
        .map(str::to_string)
        .unwrap_or_else(|| ulid::Ulid::new().to_string());
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| valid_traceparent(v))
        .map(str::to_string);
    let span =
        tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    request.extensions_mut().insert(RequestId(id.clone()));
    if let Some(t) = traceparent {
        request.extensions_mut().insert(TraceParent(t));
    }
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_as_w3c_writes_them() {
        assert!(valid_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert!(valid_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"));
        for bad in [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "",
        ] {
            assert!(!valid_traceparent(bad), "{bad}");
        }
    }

    #[test]
    fn a_request_id_is_short_visible_ascii() {
        assert!(usable("req-42") && usable(&"a".repeat(128)));
        assert!(!usable("") && !usable(&"a".repeat(129)) && !usable("two words") && !usable("é"));
        assert!(!usable("x\"}=forged") && !usable("a=b"), "nothing that reads as a log field");
    }
}
