//! Loopback network pieces that stand in for what lies between a client and a server:
//! [`Forwarder`], a TCP forwarder the test can take down and bring back (an endpoint that stops
//! answering while the server behind it keeps its state, or a second address for one server),
//! and [`ClientNetwork`], an HTTP proxy through which a client reaches only the addresses it
//! allows (a host that sees a compose network's published ports and nothing else).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A loopback TCP forwarder to `127.0.0.1:upstream`.
pub struct Forwarder {
    pub port: u16,
    upstream: u16,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
    accepting: Option<std::thread::JoinHandle<()>>,
}

/// Copies both ways between two connections until either side closes.
fn splice(a: TcpStream, b: TcpStream) {
    for (mut from, mut to) in [
        (a.try_clone().expect("clone"), b.try_clone().expect("clone")),
        (b.try_clone().expect("clone"), a.try_clone().expect("clone")),
    ] {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
        });
    }
}

impl Forwarder {
    pub fn start(upstream: u16) -> Forwarder {
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let mut p = Forwarder { port, upstream, open: Default::default(), stop: Default::default(), accepting: None };
        p.up();
        p
    }

    pub fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("bind the forwarder's port again");
        self.stop.store(false, Ordering::SeqCst);
        let (stop, open, upstream) = (self.stop.clone(), self.open.clone(), self.upstream);
        self.accepting = Some(std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                splice(client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                open.lock().expect("lock").extend([client, server]);
            }
        }));
    }

    /// Refuses new connections and cuts the open ones.
    pub fn down(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
        if let Some(t) = self.accepting.take() {
            let _ = t.join();
        }
        for c in self.open.lock().expect("lock").drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        assert!(TcpStream::connect(("127.0.0.1", self.port)).is_err(), "the forwarder still accepts");
    }
}

/// An HTTP proxy (`curl -x`) that forwards a request only to an allowed `host:port` and
/// answers any other with 502: what a client reaches and what it does not. One request per
/// connection; it remembers every `host:port` asked for.
pub struct ClientNetwork {
    pub port: u16,
    asked: Arc<Mutex<Vec<(String, bool)>>>,
}

impl ClientNetwork {
    /// A network in which only `reachable` (`host:port` as written in URLs) answer.
    pub fn start(reachable: Vec<String>) -> ClientNetwork {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let asked: Arc<Mutex<Vec<(String, bool)>>> = Default::default();
        let log = asked.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let (reachable, log) = (reachable.clone(), log.clone());
                std::thread::spawn(move || serve_one(client, &reachable, &log));
            }
        });
        ClientNetwork { port, asked }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every `host:port` a request was made to, and whether it was let through.
    pub fn asked(&self) -> Vec<(String, bool)> {
        self.asked.lock().expect("lock").clone()
    }
}

fn serve_one(client: TcpStream, reachable: &[String], asked: &Mutex<Vec<(String, bool)>>) {
    let mut reader = BufReader::new(client.try_clone().expect("clone"));
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push(line),
        }
    }
    let Some(request_line) = head.first() else { return };
    // `GET http://host:port/path HTTP/1.1` (absolute form, as clients send to a proxy).
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else { return };
    let Some(rest) = target.strip_prefix("http://") else { return };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let allowed = reachable.iter().any(|r| r == authority);
    asked.lock().expect("lock").push((authority.to_string(), allowed));
    let mut client = client;
    let upstream = allowed.then(|| TcpStream::connect(authority).ok()).flatten();
    let Some(mut upstream) = upstream else {
        let body = format!("{authority} cannot be reached from this network\n");
        let _ = write!(
            client,
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    };
    let mut forwarded = format!("{method} {path} {version}\r\n");
    for h in &head[1..] {
        let name = h.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
        if !matches!(name.as_str(), "proxy-connection" | "connection") {
            forwarded.push_str(h);
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    if upstream.write_all(forwarded.as_bytes()).is_err() {
        return;
    }
    // Whatever the client sent past the head (a body) follows, then the answer comes back.
    let buffered = reader.buffer().to_vec();
    if !buffered.is_empty() && upstream.write_all(&buffered).is_err() {
        return;
    }
    let mut back = upstream.try_clone().expect("clone");
    let mut to_client = client.try_clone().expect("clone");
    let answer = std::thread::spawn(move || {
        let _ = std::io::copy(&mut back, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let mut rest = reader.into_inner();
    let mut buf = [0u8; 8192];
    while let Ok(n) = rest.read(&mut buf) {
        if n == 0 || upstream.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = answer.join();
}
