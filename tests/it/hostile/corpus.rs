//! The hostile corpus: every way a document could reach out (a *vector*) aimed at every place
//! it must not reach (a *target*). One document per target carries every vector, each vector's
//! URL marked with its name, so one render proves the whole row.
//!
//! Targets that are loopback addresses point at [`Listeners`], which count every TCP connection
//! (IPv4 on 127.0.0.1, IPv6 on ::1, the same port): a count above zero is a leak, whatever the
//! renderer reported. Targets that cannot be listened on here (link-local, private ranges) and
//! other schemes are checked by what the renderer refused and by the text of the PDF.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The text every listener answers with: a leak that got a response shows it in the PDF.
pub const LEAK_MARK: &str = "LEAKED-FROM-LOOPBACK";

/// What the tests look for in the PDF text to tell a local file was read: `/etc/passwd`'s first
/// line on every Linux system.
pub const FILE_MARK: &str = "root:x:0:0";

/// Counting listeners on 127.0.0.1:PORT and [::1]:PORT.
pub struct Listeners {
    pub port: u16,
    hits: Arc<AtomicUsize>,
    pub ipv6: bool,
}

impl Listeners {
    pub fn start() -> Listeners {
        for _ in 0..20 {
            let v4 = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
            let port = v4.local_addr().expect("addr").port();
            let v6 = TcpListener::bind(("::1", port));
            let hits = Arc::new(AtomicUsize::new(0));
            let ipv6 = v6.is_ok();
            serve(v4, hits.clone());
            match v6 {
                Ok(l) => serve(l, hits.clone()),
                // No IPv6 loopback on this machine: [::1] cannot be reached by anyone, so it is
                // checked like the other unlistenable targets.
                Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {}
                Err(_) => continue,
            }
            return Listeners { port, hits, ipv6 };
        }
        panic!("no port free on both 127.0.0.1 and ::1");
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn serve(listener: TcpListener, hits: Arc<AtomicUsize>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            hits.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut s) = stream {
                answer(&mut s);
            }
        }
    });
}

fn answer(s: &mut TcpStream) {
    use std::io::Write;
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: {}\r\n\r\n{}",
        LEAK_MARK.len(),
        LEAK_MARK
    );
}

/// Where a target points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// At the counting listeners: any connection is counted.
    Listened,
    /// An http(s) address nobody can listen on here (link-local, private, the broker, S3): the
    /// renderer must refuse it (it is listed as blocked) and nothing may come back.
    Refused,
    /// A local file: no byte of it may reach the PDF.
    File,
    /// Another scheme: no connection, no content.
    Scheme,
}

/// One place a document must not reach.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: &'static str,
    /// The base URL; a vector appends `v-NAME` (http targets) or uses it as is.
    pub base: String,
    pub kind: Kind,
}

/// Every target, with `port` the listeners' port and `extra` more (the service's own ports,
/// the broker, the S3 endpoint) as `(name, base URL)`.
pub fn targets(listeners: &Listeners, extra: &[(&'static str, String)]) -> Vec<Target> {
    let p = listeners.port;
    let mut t = vec![
        ("loopback 127.0.0.1", format!("http://127.0.0.1:{p}/"), Kind::Listened),
        ("loopback 127.1", format!("http://127.1:{p}/"), Kind::Listened),
        ("loopback 0x7f000001", format!("http://0x7f000001:{p}/"), Kind::Listened),
        ("loopback 2130706433", format!("http://2130706433:{p}/"), Kind::Listened),
        ("loopback 0177.0.0.1", format!("http://0177.0.0.1:{p}/"), Kind::Listened),
        ("loopback localhost", format!("http://localhost:{p}/"), Kind::Listened),
        ("loopback LOCALHOST.", format!("http://LOCALHOST.:{p}/"), Kind::Listened),
        ("unspecified 0.0.0.0", format!("http://0.0.0.0:{p}/"), Kind::Listened),
        ("loopback [::ffff:127.0.0.1]", format!("http://[::ffff:127.0.0.1]:{p}/"), Kind::Listened),
        ("loopback https", format!("https://127.0.0.1:{p}/"), Kind::Listened),
        ("loopback with credentials", format!("http://user:pass@127.0.0.1:{p}/"), Kind::Listened),
        ("loopback [::1]", format!("http://[::1]:{p}/"), if listeners.ipv6 { Kind::Listened } else { Kind::Refused }),
        ("metadata 169.254.169.254", "http://169.254.169.254/latest/meta-data/".to_string(), Kind::Refused),
        ("link-local [fe80::1]", "http://[fe80::1]/".to_string(), Kind::Refused),
        ("private 10.0.0.1", "http://10.0.0.1/".to_string(), Kind::Refused),
        ("private 192.168.1.1", "http://192.168.1.1/".to_string(), Kind::Refused),
        ("private 172.16.0.1", "http://172.16.0.1/".to_string(), Kind::Refused),
        ("public example.com", "https://example.com/".to_string(), Kind::Refused),
        ("file:///etc/passwd", "file:///etc/passwd".to_string(), Kind::File),
        ("FILE:///etc/passwd", "FILE:///etc/passwd".to_string(), Kind::File),
        ("File://localhost/etc/passwd", "File://localhost/etc/passwd".to_string(), Kind::File),
        ("file:/etc/passwd", "file:/etc/passwd".to_string(), Kind::File),
        ("file:%2Fetc%2Fpasswd", "file:///%65tc/passwd".to_string(), Kind::File),
        ("UNC file:////127.0.0.1/etc/passwd", "file:////127.0.0.1/etc/passwd".to_string(), Kind::File),
        ("UNC \\\\127.0.0.1\\etc", "\\\\127.0.0.1\\etc\\passwd".to_string(), Kind::File),
        ("chrome://version", "chrome://version/".to_string(), Kind::Scheme),
        ("view-source:", format!("view-source:http://127.0.0.1:{p}/"), Kind::Scheme),
        ("ftp:", format!("ftp://127.0.0.1:{p}/"), Kind::Scheme),
        ("ws:", format!("ws://127.0.0.1:{p}/"), Kind::Scheme),
        ("javascript:", "javascript:void(document.title)".to_string(), Kind::Scheme),
    ]
    .into_iter()
    .map(|(name, base, kind)| Target { name, base, kind })
    .collect::<Vec<_>>();
    t.extend(extra.iter().map(|(name, base)| Target { name, base: base.clone(), kind: Kind::Refused }));
    t
}

/// One way out.
pub struct Vector {
    pub name: &'static str,
    /// Whether the fallback renderer (WeasyPrint, no JavaScript) meets it at all.
    pub static_html: bool,
    /// Where it goes in the document: `head`, `body` or `script`.
    pub place: Place,
    /// The snippet, with `{U}` the vector's URL.
    pub snippet: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Head,
    Body,
    Script,
}

/// Every vector the issue names.
pub const VECTORS: &[Vector] = &[
    Vector { name: "iframe", static_html: true, place: Place::Body, snippet: r#"<iframe src="{U}"></iframe>"# },
    Vector { name: "img", static_html: true, place: Place::Body, snippet: r#"<img src="{U}">"# },
    Vector { name: "img-srcset", static_html: true, place: Place::Body, snippet: r#"<img srcset="{U} 2x">"# },
    Vector {
        name: "picture",
        static_html: true,
        place: Place::Body,
        snippet: r#"<picture><source srcset="{U}"><img></picture>"#,
    },
    Vector { name: "object", static_html: true, place: Place::Body, snippet: r#"<object data="{U}"></object>"# },
    Vector { name: "embed", static_html: true, place: Place::Body, snippet: r#"<embed src="{U}">"# },
    Vector {
        name: "video-poster",
        static_html: true,
        place: Place::Body,
        snippet: r#"<video poster="{U}" src="{U}"></video>"#,
    },
    Vector { name: "audio", static_html: false, place: Place::Body, snippet: r#"<audio src="{U}" autoplay></audio>"# },
    Vector {
        name: "link-stylesheet",
        static_html: true,
        place: Place::Head,
        snippet: r#"<link rel="stylesheet" href="{U}">"#,
    },
    Vector {
        name: "link-preload",
        static_html: false,
        place: Place::Head,
        snippet: r#"<link rel="preload" as="image" href="{U}">"#,
    },
    Vector {
        name: "link-prefetch",
        static_html: false,
        place: Place::Head,
        snippet: r#"<link rel="prefetch" href="{U}">"#,
    },
    Vector { name: "link-icon", static_html: false, place: Place::Head, snippet: r#"<link rel="icon" href="{U}">"# },
    Vector {
        name: "css-import",
        static_html: true,
        place: Place::Head,
        snippet: r#"<style>@import url("{U}");</style>"#,
    },
    Vector {
        name: "css-url",
        static_html: true,
        place: Place::Body,
        snippet: r#"<div style="height:4px;background-image:url('{U}');border-image:url('{U}') 30;list-style-image:url('{U}');cursor:url('{U}'),auto;mask-image:url('{U}')"></div><p style="content:url('{U}')">.</p>"#,
    },
    Vector {
        name: "font-face",
        static_html: true,
        place: Place::Head,
        snippet: r#"<style>@font-face { font-family: "Leak"; src: url("{U}"); } .leak { font-family: "Leak", "DejaVu Sans"; }</style>"#,
    },
    Vector {
        name: "svg-image",
        static_html: true,
        place: Place::Body,
        snippet: r#"<svg width="10" height="10"><image href="{U}" width="10" height="10"/><image xlink:href="{U}" width="10" height="10" xmlns:xlink="http://www.w3.org/1999/xlink"/></svg>"#,
    },
    Vector {
        name: "svg-use",
        static_html: true,
        place: Place::Body,
        snippet: r#"<svg width="10" height="10"><use href="{U}#a"/></svg>"#,
    },
    Vector {
        name: "svg-feimage",
        static_html: true,
        place: Place::Body,
        snippet: r#"<svg width="10" height="10"><filter id="f"><feImage href="{U}"/></filter><rect width="10" height="10" filter="url(#f)"/></svg>"#,
    },
    Vector {
        name: "img-in-svg-data",
        static_html: true,
        place: Place::Body,
        snippet: r#"<img src="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'%3E%3Cimage href='{U}'/%3E%3C/svg%3E">"#,
    },
    Vector { name: "base-href", static_html: true, place: Place::Head, snippet: r#"<base href="{U}">"# },
    Vector {
        name: "base-relative",
        static_html: true,
        place: Place::Body,
        snippet: r#"<img src="relative-after-base.png">"#,
    },
    Vector {
        name: "meta-refresh",
        static_html: true,
        place: Place::Head,
        snippet: r#"<meta http-equiv="refresh" content="0;url={U}">"#,
    },
    Vector {
        name: "a-ping",
        static_html: false,
        place: Place::Body,
        snippet: r##"<a id="ping" href="#x" ping="{U}">ping</a>"##,
    },
    Vector {
        name: "location",
        static_html: false,
        place: Place::Script,
        snippet: r#"setTimeout(() => { try { location.href = "{U}"; } catch (e) {} }, 50);"#,
    },
    Vector {
        name: "window-open",
        static_html: false,
        place: Place::Script,
        snippet: r#"try { window.open("{U}"); } catch (e) {}"#,
    },
    Vector {
        name: "form-submit",
        static_html: false,
        place: Place::Script,
        snippet: r#"try { const f = document.createElement("form"); f.action = "{U}"; f.method = "post"; document.body.appendChild(f); setTimeout(() => f.submit(), 80); } catch (e) {}"#,
    },
    Vector {
        name: "fetch",
        static_html: false,
        place: Place::Script,
        snippet: r#"fetch("{U}").then(r => r.text()).then(t => note("FETCHED " + t)).catch(() => {});"#,
    },
    Vector {
        name: "fetch-no-cors",
        static_html: false,
        place: Place::Script,
        snippet: r#"fetch("{U}", {mode: "no-cors", keepalive: true}).catch(() => {});"#,
    },
    Vector {
        name: "xhr",
        static_html: false,
        place: Place::Script,
        snippet: r#"try { const x = new XMLHttpRequest(); x.open("GET", "{U}", false); x.send(); note("XHR " + x.responseText); } catch (e) {}"#,
    },
    Vector {
        name: "send-beacon",
        static_html: false,
        place: Place::Script,
        snippet: r#"try { navigator.sendBeacon("{U}", "x"); } catch (e) {}"#,
    },
    Vector {
        name: "event-source",
        static_html: false,
        place: Place::Script,
        snippet: r#"try { new EventSource("{U}"); } catch (e) {}"#,
    },
    Vector {
        name: "websocket",
        static_html: false,
        place: Place::Script,
        snippet: r#"try { new WebSocket("{WS}"); } catch (e) {}"#,
    },
    Vector {
        name: "webrtc",
        static_html: false,
        place: Place::Script,
        snippet: r#"try { const pc = new RTCPeerConnection({iceServers: [{urls: "stun:{HOSTPORT}"}, {urls: "turn:{HOSTPORT}?transport=tcp", username: "u", credential: "c"}]}); pc.createDataChannel("x"); pc.createOffer().then(o => pc.setLocalDescription(o)); } catch (e) {}"#,
    },
    Vector {
        name: "worker-fetch",
        static_html: false,
        place: Place::Script,
        snippet: r#"try { const w = new Worker(URL.createObjectURL(new Blob(['fetch("{U}").catch(()=>{}); try { new WebSocket("{WS}"); } catch (e) {}'], {type: "text/javascript"}))); } catch (e) {}"#,
    },
    Vector {
        name: "service-worker",
        static_html: false,
        place: Place::Script,
        snippet: r#"try { navigator.serviceWorker.register("sw.js").catch(() => {}); navigator.serviceWorker.register("{U}").catch(() => {}); } catch (e) {}"#,
    },
    Vector {
        name: "import-script",
        static_html: false,
        place: Place::Script,
        snippet: r#"import("{U}").catch(() => {});"#,
    },
    Vector { name: "script-src", static_html: false, place: Place::Body, snippet: r#"<script src="{U}"></script>"# },
];

/// The service worker script a document registers from its own assets: it tries the target too.
pub fn service_worker_js(target: &Target) -> String {
    format!("fetch({:?}).catch(() => {{}});", url_for(target, "service-worker-inside"))
}

/// The vector's URL on `target`: `BASE v-NAME` for http(s) targets, the target itself otherwise.
pub fn url_for(target: &Target, vector: &str) -> String {
    if target.base.starts_with("http://") || target.base.starts_with("https://") {
        format!("{}v-{vector}", target.base)
    } else {
        target.base.clone()
    }
}

/// `HOST:PORT` of an http target, for the vectors that take no URL (WebRTC).
fn host_port(target: &Target) -> String {
    let rest = target.base.split_once("://").map_or(target.base.as_str(), |(_, r)| r);
    let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
    let hp = rest.split('/').next().unwrap_or(rest);
    if hp.contains(':') && !hp.ends_with(']') {
        hp.to_string()
    } else {
        format!("{hp}:80")
    }
}

/// The `ws://` form of an http target (the target itself for other schemes).
fn ws_for(target: &Target) -> String {
    match target.base.split_once("://") {
        Some(("http", rest)) => format!("ws://{rest}v-websocket"),
        Some(("https", rest)) => format!("wss://{rest}v-websocket"),
        _ => target.base.clone(),
    }
}

/// The document carrying every vector (the ones `static_html` only, for `only_static`) aimed
/// at `target`. Its visible text starts with "Hostile corpus".
pub fn document(target: &Target, only_static: bool) -> String {
    let chosen: Vec<&Vector> = VECTORS.iter().filter(|v| !only_static || v.static_html).collect();
    document_with(target, &chosen)
}

/// The document carrying `chosen` vectors aimed at `target`.
pub fn document_with(target: &Target, chosen: &[&Vector]) -> String {
    let fill = |v: &Vector| {
        let attr = |s: String| s.replace('"', "&quot;");
        let url = url_for(target, v.name);
        let in_script = v.place == Place::Script;
        let u = if in_script { url.replace('\\', "\\\\").replace('"', "\\\"") } else { attr(url) };
        v.snippet.replace("{U}", &u).replace("{WS}", &ws_for(target)).replace("{HOSTPORT}", &host_port(target))
    };
    let head: String = chosen.iter().filter(|v| v.place == Place::Head).map(|v| fill(v)).collect();
    let body: String = chosen.iter().filter(|v| v.place == Place::Body).map(|v| fill(v)).collect();
    let script: String =
        chosen.iter().filter(|v| v.place == Place::Script).map(|v| fill(v)).collect::<Vec<_>>().join("\n");
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>hostile</title>
{head}
</head><body style="font-family: 'DejaVu Sans'">
<h1>Hostile corpus</h1>
<p class="leak">target: {name}</p>
<pre id="out">results:</pre>
{body}
<script>
const out = document.getElementById("out");
function note(s) {{ out.textContent += "\n" + s; }}
{script}
setTimeout(() => {{ const p = document.getElementById("ping"); if (p) p.click(); }}, 20);
</script>
</body></html>"#,
        name = target.name.replace('<', "&lt;"),
    )
}
