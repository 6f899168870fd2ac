//! Webhooks: telling an app that its job settled, by POSTing the job's status to the
//! job's `callback_url`.
//!
//! A callback URL is a request the *service* makes on a user's behalf, so it is an SSRF
//! vector like any document: by default it may only reach public addresses. The host is
//! resolved here, every address is checked ([`is_public`]), and the connection is pinned
//! to the checked addresses (no second lookup, so DNS rebinding cannot swap them);
//! redirects are never followed and proxies never used. Loopback and private targets
//! are allowed only when the operator says so (`WebhookPolicy::allow_private`).
//!
//! Delivery is retried with exponential backoff on connection errors, 429 and 5xx;
//! any other answer ends it. Every attempt carries the Standard Webhooks headers
//! (`signature`): one `webhook-id` for all attempts, a fresh timestamp and signature each.

pub mod signature;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use url::Url;

/// How webhooks are sent.
#[derive(Debug, Clone)]
pub struct WebhookPolicy {
    /// Allow loopback, private, link-local and other non-public targets (tests, on-premises apps).
    pub allow_private: bool,
    /// Time limit for one attempt (connect + answer).
    pub timeout: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubled after each failure.
    pub first_backoff: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        WebhookPolicy {
            allow_private: false,
            timeout: Duration::from_secs(10),
            attempts: 5,
            first_backoff: Duration::from_secs(1),
        }
    }
}

/// Why a webhook was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("callback_url {url:?} is not usable: {why}")]
    BadUrl { url: String, why: String },
    #[error(
        "callback_url {url} resolves to {addr}, which is not a public address ({why}); webhooks may only reach \
         loopback or private networks when the server allows it (--webhook-allow-private)"
    )]
    Refused { url: String, addr: IpAddr, why: &'static str },
    /// The host name did not resolve, or resolved to an address the policy refuses. Which
    /// of the two, and the addresses, are logged, never told: the message ends up in the job
    /// record, and a submitter must not learn what an internal name resolves to.
    #[error(
        "callback_url {url} does not lead to an address webhooks may reach: its host must resolve to public \
         addresses (loopback and private ones only when the server allows them with --webhook-allow-private); \
         check the host name"
    )]
    Unreachable { url: String },
    #[error("webhook to {url} failed after {attempts} attempt(s): {last}")]
    Failed { url: String, attempts: u32, last: String },
}

/// A webhook that was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub attempts: u32,
    pub status: u16,
}

/// Parses and checks a callback URL without resolving it: http or https, a host, no
/// credentials, and (for an IP literal) an address the policy allows. The API calls this
/// at submission so a bad URL is a 4xx, not a failure discovered later.
pub fn check_url(raw: &str, policy: &WebhookPolicy) -> Result<Url, WebhookError> {
    let bad = |why: &str| WebhookError::BadUrl { url: raw.to_string(), why: why.to_string() };
    let url = Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http and https callbacks are sent"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials in the URL are not allowed; use a token in the path or query"));
    }
    match url.host() {
        None => return Err(bad("it has no host")),
        Some(url::Host::Ipv4(v4)) => allowed(&url, IpAddr::V4(v4), policy)?,
        Some(url::Host::Ipv6(v6)) => allowed(&url, IpAddr::V6(v6), policy)?,
        Some(url::Host::Domain(_)) => {}
    }
    Ok(url)
}

fn allowed(url: &Url, addr: IpAddr, policy: &WebhookPolicy) -> Result<(), WebhookError> {
    if policy.allow_private {
        return Ok(());
    }
    match is_public(addr) {
        Ok(()) => Ok(()),
        Err(why) => Err(WebhookError::Refused { url: url.to_string(), addr, why }),
    }
}

/// `Ok` for a globally routable unicast address; otherwise which range it is in.
/// IPv4 addresses embedded in IPv6 (mapped, compatible, NAT64, 6to4, Teredo) are judged as IPv4.
pub fn is_public(addr: IpAddr) -> Result<(), &'static str> {
    match addr {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> Result<(), &'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Err("loopback")
    } else if ip.is_unspecified() || a == 0 {
        Err("\"this network\" (0.0.0.0/8)")
    } else if ip.is_private() {
        Err("private (RFC 1918)")
    } else if ip.is_link_local() {
        Err("link-local (169.254.0.0/16, cloud metadata lives here)")
    } else if a == 100 && (64..128).contains(&b) {
        Err("shared address space (100.64.0.0/10)")
    } else if a == 192 && b == 0 && c == 0 {
        Err("IETF protocol assignments (192.0.0.0/24)")
    } else if ip.is_documentation() {
        Err("documentation range")
    } else if a == 198 && (b == 18 || b == 19) {
        Err("benchmarking range (198.18.0.0/15)")
    } else if ip.is_multicast() {
        Err("multicast")
    } else if a >= 240 {
        Err("reserved or broadcast (240.0.0.0/4)")
    } else {
        Ok(())
    }
}

/// The IPv4 address in two 16-bit segments.
fn v4_of(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

fn is_public_v6(ip: Ipv6Addr) -> Result<(), &'static str> {
    let seg = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) carry an IPv4 address.
    if seg[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return is_public_v4(Ipv4Addr::new((seg[6] >> 8) as u8, seg[6] as u8, (seg[7] >> 8) as u8, seg[7] as u8));
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new((seg[6] >> 8) as u8, seg[6] as u8, (seg[7] >> 8) as u8, seg[7] as u8));
    }
    // 6to4 (2002:AABB:CCDD::/48) routes to the IPv4 address AA.BB.CC.DD.
    if seg[0] == 0x2002 {
        return is_public_v4(v4_of(seg[1], seg[2])).map_err(|_| "6to4 (2002::/16) wrapping a non-public IPv4 address");
    }
    // Teredo (2001:0000::/32): the server's IPv4 address in plain, the client's inverted in
    // the last 32 bits. Either one being non-public is enough to refuse.
    if seg[0] == 0x2001 && seg[1] == 0 {
        let teredo = "Teredo (2001::/32) wrapping a non-public IPv4 address";
        is_public_v4(v4_of(seg[2], seg[3])).map_err(|_| teredo)?;
        return is_public_v4(v4_of(!seg[6], !seg[7])).map_err(|_| teredo);
    }
    if ip.is_loopback() {
        Err("loopback")
    } else if ip.is_unspecified() {
        Err("unspecified")
    } else if ip.is_multicast() {
        Err("multicast")
    } else if seg[0] & 0xfe00 == 0xfc00 {
        Err("unique local (fc00::/7)")
    } else if seg[0] & 0xffc0 == 0xfe80 {
        Err("link-local (fe80::/10)")
    } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
        Err("documentation range")
    } else if seg[0] & 0xe000 != 0x2000 {
        Err("not global unicast (outside 2000::/3)")
    } else {
        Ok(())
    }
}

/// Resolves the URL's host and checks every address; the connection may only go to these.
/// A host name that does not resolve or resolves to a refused address is one generic
/// [`WebhookError::Unreachable`]; the detail goes to the log (host name only: a URL's path
/// or query may carry the app's token).
pub async fn resolve(url: &Url, policy: &WebhookPolicy) -> Result<Vec<SocketAddr>, WebhookError> {
    let port = url.port_or_known_default().unwrap_or(80);
    let domain = match url.host() {
        Some(url::Host::Ipv4(v4)) => return literal(url, IpAddr::V4(v4), port, policy),
        Some(url::Host::Ipv6(v6)) => return literal(url, IpAddr::V6(v6), port, policy),
        Some(url::Host::Domain(domain)) => domain,
        None => return Err(WebhookError::BadUrl { url: url.to_string(), why: "it has no host".into() }),
    };
    let unreachable = || WebhookError::Unreachable { url: url.to_string() };
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((domain, port)).await {
        Ok(found) => found.collect(),
        Err(e) => {
            tracing::warn!(host = %domain, error = %e, "webhook host does not resolve");
            return Err(unreachable());
        }
    };
    if addrs.is_empty() {
        tracing::warn!(host = %domain, "webhook host resolves to no address");
        return Err(unreachable());
    }
    for addr in &addrs {
        if let Err(WebhookError::Refused { addr, why, .. }) = allowed(url, addr.ip(), policy) {
            tracing::warn!(host = %domain, %addr, why, "webhook host resolves to a refused address");
            return Err(unreachable());
        }
    }
    Ok(addrs)
}

/// An IP-literal host: the submitter wrote the address, so a refusal may name it.
fn literal(url: &Url, addr: IpAddr, port: u16, policy: &WebhookPolicy) -> Result<Vec<SocketAddr>, WebhookError> {
    allowed(url, addr, policy)?;
    Ok(vec![SocketAddr::new(addr, port)])
}

/// POSTs `body` as JSON to `url`, retrying with backoff; the connection goes only to
/// addresses checked by [`resolve`]. Each attempt carries `webhook-id: {id}`, its timestamp
/// and, with a `secret`, its signature ([`signature::headers`]).
pub async fn deliver(
    url: &Url,
    body: &impl serde::Serialize,
    id: &str,
    secret: Option<&signature::Secret>,
    policy: &WebhookPolicy,
) -> Result<Delivered, WebhookError> {
    // The bytes signed are the bytes sent.
    let bytes = serde_json::to_vec(body).map_err(|e| WebhookError::Failed {
        url: url.to_string(),
        attempts: 0,
        last: format!("the body could not be encoded: {e}"),
    })?;
    let attempts = policy.attempts.max(1);
    let mut backoff = policy.first_backoff;
    let mut last = String::new();
    for attempt in 1..=attempts {
        if attempt > 1 {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
        match send(url, &bytes, id, secret, &[], policy).await {
            Ok(status) => return Ok(Delivered { attempts: attempt, status }),
            Err(NotDelivered::Final(e)) => return Err(e),
            Err(NotDelivered::Again(why)) => last = why,
            Err(NotDelivered::Answered { status, why }) => {
                if !(status >= 500 || status == 429) {
                    return Err(WebhookError::Failed { url: url.to_string(), attempts: attempt, last: why });
                }
                last = why;
            }
        }
    }
    Err(WebhookError::Failed { url: url.to_string(), attempts, last })
}

/// Why one attempt did not deliver.
#[derive(Debug)]
pub enum NotDelivered {
    /// The URL or its addresses are refused: no attempt will do better.
    Final(WebhookError),
    /// No answer (connection refused, timeout): another attempt may.
    Again(String),
    /// The receiver answered something other than 2xx (429 and 5xx are worth another attempt).
    Answered { status: u16, why: String },
}

impl NotDelivered {
    /// Whether a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotDelivered::Final(_) => false,
            NotDelivered::Again(_) => true,
            NotDelivered::Answered { status, .. } => *status >= 500 || *status == 429,
        }
    }
}

impl std::fmt::Display for NotDelivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotDelivered::Final(e) => write!(f, "{e}"),
            NotDelivered::Again(why) | NotDelivered::Answered { why, .. } => f.write_str(why),
        }
    }
}

/// One POST of `bytes` (JSON, signed as they are) to `url` with `headers` added (a job's
/// `callback_headers`; they cannot replace the signature's); the receiver's 2xx status.
pub async fn send(
    url: &Url,
    bytes: &[u8],
    id: &str,
    secret: Option<&signature::Secret>,
    headers: &[(String, String)],
    policy: &WebhookPolicy,
) -> Result<u16, NotDelivered> {
    // Resolved anew each attempt (addresses may change), checked every time.
    // A name that does not resolve and one that resolves to a refused address read the same
    // (see `Unreachable`), so neither is tried again.
    let addrs = resolve(url, policy).await.map_err(NotDelivered::Final)?;
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(policy.timeout)
        .user_agent(concat!("pixelproof/", env!("CARGO_PKG_VERSION"), " webhook"));
    if let Some(url::Host::Domain(domain)) = url.host() {
        builder = builder.resolve_to_addrs(domain, &addrs);
    }
    let client = builder.build().map_err(|e| NotDelivered::Again(e.to_string()))?;
    let started = Instant::now();
    let mut request = client.post(url.clone());
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    // Set last: a job's own headers cannot stand in for these.
    request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(bytes.to_vec());
    for (name, value) in signature::headers(id, chrono::Utc::now().timestamp(), bytes, secret) {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(resp) => {
            let status = resp.status();
            tracing::info!(%url, status = status.as_u16(), ms = started.elapsed().as_millis() as u64, "webhook answered");
            if status.is_success() {
                Ok(status.as_u16())
            } else {
                Err(NotDelivered::Answered { status: status.as_u16(), why: format!("the receiver answered {status}") })
            }
        }
        Err(e) => {
            tracing::info!(%url, error = %e, "webhook attempt failed");
            Err(NotDelivered::Again(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(s: &str) -> Result<(), &'static str> {
        is_public(s.parse().unwrap())
    }

    #[test]
    fn public_and_not() {
        for ok in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            // 6to4 around 8.8.8.8; Teredo: server 94.245.121.253, client 8.8.8.8 (inverted).
            "2002:808:808::1",
            "2001:0:5ef5:79fd::f7f7:f7f7",
        ] {
            assert_eq!(judge(ok), Ok(()), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            // 6to4 around 127.0.0.1, 10.0.0.1 and 169.254.169.254.
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2002:a9fe:a9fe::1",
            // Teredo with a loopback client (inverted 127.0.0.1), and with a private server.
            "2001:0:5efe:1::80ff:fffe",
            "2001:0:a00:1::f7f7:f7f7",
        ] {
            assert!(judge(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn urls_are_checked_before_resolving() {
        let p = WebhookPolicy::default();
        for bad in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "http://user:pw@example.com/",
            "http://127.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "not a url",
        ] {
            assert!(check_url(bad, &p).is_err(), "{bad} must be refused");
        }
        assert!(check_url("https://example.com/hook", &p).is_ok());
        let open = WebhookPolicy { allow_private: true, ..p };
        assert!(check_url("http://127.0.0.1:9/hook", &open).is_ok());
    }
}
