//! Refusing cross-site requests that change state.
//!
//! Operators log in to the review page with HTTP Basic, which the browser then sends with
//! every request to this server, whichever site makes it. A JSON body alone does not stop a
//! forged request (a `text/plain` form or a `no-cors` fetch still arrives), so every
//! state-changing request (any method but GET, HEAD, OPTIONS) that a browser marks as coming
//! from another site is refused: `Sec-Fetch-Site: cross-site` or `same-site` (a sibling
//! subdomain is another origin), or an `Origin` header that is not this server's (its `Host`,
//! or `--public-url`). Clients that are not browsers send neither header and are not
//! affected; the review page's own requests are `same-origin`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::Problem;

/// The origins, besides the request's own `Host`, that may send state-changing requests:
/// `--public-url`'s (`scheme://host[:port]`), when there is one.
#[derive(Debug, Clone, Default)]
pub struct Origins(Vec<String>);

impl Origins {
    pub fn new(public_url: Option<&str>) -> Origins {
        let origin = public_url
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null");
        Origins(origin.into_iter().collect())
    }
}

/// Middleware for [`axum::middleware::from_fn_with_state`]: 403 for a cross-site request
/// that would change state.
pub async fn refuse_cross_site(State(origins): State<Arc<Origins>>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    if let Some(why) = cross_site(request.headers(), &origins) {
        tracing::warn!(method = %request.method(), path = %request.uri().path(), why = %why, "cross-site request refused");
        return Problem::new(
            StatusCode::FORBIDDEN,
            "cross-site",
            "Cross-site requests may not change anything",
            format!(
                "{why}; this route changes state, so it only takes requests from this server's own pages \
                 (the review page) or from clients that are not browsers"
            ),
        )
        .into_response();
    }
    next.run(request).await
}

/// Why these headers show a request from another site, or `None`.
pub fn cross_site(headers: &HeaderMap, origins: &Origins) -> Option<String> {
    let fetch_site = headers.get("sec-fetch-site").map(|v| v.to_str().unwrap_or("?").to_ascii_lowercase());
    if let Some(site) = fetch_site.as_deref() {
        if !matches!(site, "same-origin" | "none") {
            return Some(format!("the browser says the request comes from another site (Sec-Fetch-Site: {site})"));
        }
    }
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or("?").trim();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let origin_host = url::Url::parse(origin).ok().filter(|u| matches!(u.scheme(), "http" | "https")).map(|u| {
        let host = u.host_str().unwrap_or("").to_ascii_lowercase();
        match u.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    });
    let same_host = origin_host.as_deref().is_some_and(|o| !o.is_empty() && o.eq_ignore_ascii_case(host));
    let listed = origins.0.iter().any(|o| o.eq_ignore_ascii_case(origin.trim_end_matches('/')));
    if same_host || listed {
        None
    } else {
        Some(format!("the request comes from {origin:?}, not from this server ({host})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn browsers_from_elsewhere_are_refused_and_other_clients_are_not() {
        let none = Origins::default();
        // curl, SDKs: neither header.
        assert_eq!(cross_site(&headers(&[("host", "127.0.0.1:8080")]), &none), None);
        // The review page itself.
        let own = [("host", "127.0.0.1:8080"), ("sec-fetch-site", "same-origin"), ("origin", "http://127.0.0.1:8080")];
        assert_eq!(cross_site(&headers(&own), &none), None);
        for bad in [
            vec![("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")],
            vec![("host", "127.0.0.1:8080"), ("sec-fetch-site", "same-site")],
            vec![("host", "127.0.0.1:8080"), ("origin", "https://evil.example")],
            vec![("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8081")],
            vec![("host", "127.0.0.1:8080"), ("origin", "null")],
            vec![("origin", "http://127.0.0.1:8080")],
        ] {
            assert!(cross_site(&headers(&bad), &none).is_some(), "{bad:?} must be refused");
        }
        // Behind a proxy that rewrites Host: the public URL's origin is this server.
        let public = Origins::new(Some("https://pdf.example.com/base"));
        let proxied = [("host", "10.0.0.5:8080"), ("origin", "https://pdf.example.com")];
        assert_eq!(cross_site(&headers(&proxied), &public), None);
        assert!(cross_site(&headers(&proxied), &none).is_some());
    }
}
