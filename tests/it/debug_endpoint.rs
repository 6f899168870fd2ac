//! Chromium's DevTools endpoint (it can drive the browser: open any URL, read any file) must
//! never be reachable from outside: every socket the pool's browsers listen on is bound to
//! loopback, on a port chosen at random, never 0.0.0.0 or `::`. And the browsers, which run
//! documents' JavaScript, inherit none of the server's secrets.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Every process below `root` (and `root`), from `/proc/*/stat`.
fn tree(root: u32) -> BTreeSet<u32> {
    let mut parents = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) {
            parents.insert(pid, ppid);
        }
    }
    let mut out = BTreeSet::from([root]);
    loop {
        let more: Vec<u32> =
            parents.iter().filter(|(c, p)| out.contains(p) && !out.contains(c)).map(|(c, _)| *c).collect();
        if more.is_empty() {
            return out;
        }
        out.extend(more);
    }
}

/// Socket inodes the processes hold open.
fn socket_inodes(pids: &BTreeSet<u32>) -> BTreeSet<u64> {
    let mut inodes = BTreeSet::new();
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else { continue };
            let target = target.to_string_lossy().to_string();
            if let Some(inode) = target.strip_prefix("socket:[").and_then(|t| t.strip_suffix(']')) {
                if let Ok(n) = inode.parse() {
                    inodes.insert(n);
                }
            }
        }
    }
    inodes
}

/// Listening TCP sockets among `inodes`: (local address as /proc writes it, port).
fn listening(inodes: &BTreeSet<u64>) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else { continue };
            if *state != "0A" || !inode.parse::<u64>().is_ok_and(|i| inodes.contains(&i)) {
                continue;
            }
            let Some((addr, port)) = local.split_once(':') else { continue };
            out.push((addr.to_string(), u16::from_str_radix(port, 16).unwrap_or(0)));
        }
    }
    out
}

/// 127.0.0.0/8 in /proc/net/tcp's little-endian hex, or ::1 in tcp6's.
fn is_loopback(addr: &str) -> bool {
    (addr.len() == 8 && addr.ends_with("7F")) || addr == "00000000000000000000000001000000"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_devtools_endpoint_listens_on_loopback_only() {
    let engine = support::engine(2, Duration::from_secs(30)).await;
    let pids = engine.chromium.idle_pids();
    assert_eq!(pids.len(), 2, "two warm browsers");
    let mut ports = Vec::new();
    for pid in pids {
        let procs = tree(pid);
        let sockets = listening(&socket_inodes(&procs));
        // The DevTools endpoint itself must be among them, or this check would pass on nothing.
        assert!(!sockets.is_empty(), "browser {pid} ({} processes) listens on nothing we could see", procs.len());
        for (addr, port) in &sockets {
            assert!(is_loopback(addr), "browser {pid} listens on {addr}:{port}, which is not loopback");
            assert_ne!(*port, 9222, "the DevTools port must be chosen at random, not the well-known 9222");
        }
        ports.extend(sockets.iter().map(|(_, p)| *p));
    }
    ports.sort();
    ports.dedup();
    assert!(ports.len() >= 2, "each browser has a port of its own: {ports:?}");
    engine.chromium.shutdown().await;
}

/// The environment of a process, from `/proc/PID/environ`.
fn environ(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(raw.split(|b| *b == 0).filter(|v| !v.is_empty()).map(|v| String::from_utf8_lossy(v).into_owned()).collect())
}

/// Chromium's processes (browser, zygotes, utilities, renderers) below `root`.
fn chromium_processes(root: u32) -> Vec<u32> {
    tree(root)
        .into_iter()
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe.to_string_lossy().contains("chromium"))
        })
        .collect()
}

#[test]
fn chromium_gets_none_of_the_servers_environment() {
    use support::service::{Server, OPERATOR, OPERATOR_TOKEN, SUBMIT_TOKEN};
    const AWS: &str = "aws-secret-canary-7f3a9c";
    const CANARY: &str = "any-variable-canary-51be";
    let data = tempfile::tempdir().expect("temp dir");
    let env = [
        ("AWS_SECRET_ACCESS_KEY".to_string(), AWS.to_string()),
        ("PIXELPROOF_TOKENS".to_string(), format!("{SUBMIT_TOKEN},{OPERATOR_TOKEN}")),
        ("PIXELPROOF_TEST_CANARY".to_string(), CANARY.to_string()),
    ];
    let server = Server::start_with_env("serve", data.path(), &["--workers", "2"], &env);
    // Something printed, so the browsers have had renderer processes too.
    let printed = support::service::client()
        .post(server.url("/v1/render"))
        .bearer_auth(OPERATOR)
        .json(&serde_json::json!({"html": "<p>environment</p>"}))
        .send()
        .expect("render");
    assert!(printed.status().is_success(), "{}", printed.status());
    let serve_env = environ(server.child.id()).expect("the server's environment");
    // The control: the server itself was given every secret, so their absence below means something.
    for secret in [AWS, OPERATOR, CANARY] {
        assert!(serve_env.iter().any(|v| v.contains(secret)), "serve was not given {secret}");
    }
    let browsers = chromium_processes(server.child.id());
    assert!(
        browsers.len() >= 2,
        "found {} Chromium processes under serve; expected two browsers at least",
        browsers.len()
    );
    let mut names = BTreeSet::new();
    for pid in &browsers {
        let Some(vars) = environ(*pid) else { continue };
        for var in &vars {
            for secret in [AWS, OPERATOR, CANARY] {
                assert!(!var.contains(secret), "Chromium process {pid} holds a secret of serve's: {var}");
            }
            names.insert(var.split('=').next().unwrap_or_default().to_string());
        }
    }
    assert!(names.contains("FONTCONFIG_FILE"), "Chromium must still get its fontconfig: {names:?}");
    let expected: BTreeSet<String> =
        ["FONTCONFIG_FILE", "TZ", "LANG", "LANGUAGE", "PATH", "HOME", "TMPDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"]
            .map(String::from)
            .into();
    let extra: Vec<&String> = names.difference(&expected).collect();
    // Chromium adds a few of its own to its children (e.g. the zygote's); none may come from serve.
    for name in &extra {
        assert!(!serve_env.iter().any(|v| v.starts_with(&format!("{name}="))), "{name} came from serve's environment");
    }
    eprintln!("{} Chromium processes; variables: {names:?}", browsers.len());
}

#[test]
fn loopback_is_recognised_in_proc_notation() {
    assert!(is_loopback("0100007F"));
    assert!(is_loopback("00000000000000000000000001000000"));
    assert!(!is_loopback("00000000"), "0.0.0.0");
    assert!(!is_loopback("00000000000000000000000000000000"), "::");
    assert!(!is_loopback("0A00A8C0"), "192.168.0.10");
}
