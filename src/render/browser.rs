//! One Chromium process: launched with the pinned binary, its own profile directory, the
//! bundled-fonts-only fontconfig and the flags that keep it quiet on a closed network.
//!
//! The CDP handler is polled in its own task for the browser's whole life. A dead browser
//! makes CDP calls hang, so callers wrap every call in a timeout and use [`BrowserProcess::is_alive`].

use std::path::Path;
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use futures::StreamExt;
use tokio::task::JoinHandle;

use super::RenderError;

/// A running Chromium and the task that drives its CDP connection.
pub struct BrowserProcess {
    pub browser: Browser,
    handler: JoinHandle<()>,
    /// Kept so the profile directory lives as long as the browser and is removed after.
    _profile: tempfile::TempDir,
    /// Documents printed by this process.
    pub jobs: u32,
    pub pid: Option<u32>,
}

/// Profile directories are named `PREFIX{owner pid}-…`, so a browser left behind by a
/// pixelproof process that was killed can be recognised ([`reap_orphans`]).
pub const PROFILE_PREFIX: &str = "pixelproof-chromium-";

/// Kills the Chromium processes whose pixelproof owner is gone (it was `kill -9`ed, so it
/// could not stop them) and removes their profile directories. Returns how many
/// processes were killed. Only processes of this user with a `--user-data-dir` naming a
/// pixelproof profile of a dead owner are touched.
pub fn reap_orphans() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    let mut killed = 0;
    let mut stale_profiles = std::collections::BTreeSet::new();
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let Some(profile) = cmdline
            .split(|b| *b == 0)
            .filter_map(|a| std::str::from_utf8(a).ok())
            .find_map(|a| a.strip_prefix("--user-data-dir="))
        else {
            continue;
        };
        let Some(owner) = profile_owner(profile) else { continue };
        if owner == std::process::id() || std::path::Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        // SAFETY: kill(2) with a pid read from /proc and a constant signal has no memory
        // effects; at worst the process is already gone (ESRCH) and nothing happens.
        if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
            killed += 1;
        }
        stale_profiles.insert(std::path::PathBuf::from(profile));
    }
    for profile in stale_profiles {
        let _ = std::fs::remove_dir_all(&profile);
    }
    if killed > 0 {
        tracing::warn!(killed, "killed Chromium processes left behind by a pixelproof process that died");
    }
    killed
}

/// The owner pid in a profile path `…/pixelproof-chromium-{pid}-XXXX`.
fn profile_owner(profile: &str) -> Option<u32> {
    let name = std::path::Path::new(profile).file_name()?.to_str()?;
    name.strip_prefix(PROFILE_PREFIX)?.split('-').next()?.parse().ok()
}

/// The JavaScript heap a document may use (V8's old space, per renderer): a script that
/// allocates without end crashes its page at this size instead of growing past 4 GiB.
pub const JS_HEAP_MIB: u32 = 512;

/// Flags every pixelproof browser gets (keys without leading dashes: chromiumoxide adds them).
const FLAGS: &[&str] = &[
    "disable-gpu",
    "disable-background-networking",
    "disable-component-update",
    "disable-sync",
    "no-first-run",
    "disable-default-apps",
    "disable-domain-reliability",
    "disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions,CalculateNativeWinOcclusion,HttpsUpgrades,AutofillServerCommunication,site-per-process,IsolateOrigins",
    "disable-site-isolation-trials",
    "font-render-hinting=none",
    "force-color-profile=srgb",
    "lang=en-US",
    "disable-quic",
    "no-pings",
    "deny-permission-prompts",
    "disable-dev-shm-usage",
    // What the Fetch domain does not see. Popups (`window.open`) are new targets outside the
    // page's interception: none are created. WebSockets, WebRTC and workers' sockets are not
    // paused by Fetch: no host name resolves, and WebRTC sends no UDP outside a proxy.
    "block-new-web-contents",
    "host-resolver-rules=MAP * ~NOTFOUND",
    "force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    // The DevTools endpoint drives the whole browser: loopback only (Chromium's default, said
    // out loud), on the random port chromiumoxide asks for. `tests/debug_endpoint.rs`.
    "remote-debugging-address=127.0.0.1",
];

impl BrowserProcess {
    /// Starts Chromium. `fontconfig` is the fonts.conf listing the bundled fonts alone.
    /// `invalid` counts, per CDP method, the messages chromiumoxide could not parse.
    pub async fn launch(
        chromium: &Path,
        fontconfig: &Path,
        timeout: Duration,
        invalid: InvalidMessages,
    ) -> Result<BrowserProcess, RenderError> {
        let launch_err = |detail: String| RenderError::Launch { path: chromium.to_path_buf(), detail };
        let profile = tempfile::Builder::new()
            .prefix(&format!("{PROFILE_PREFIX}{}-", std::process::id()))
            .tempdir()
            .map_err(|e| launch_err(format!("cannot create a profile directory: {e}")))?;
        let mut builder = BrowserConfig::builder()
            .chrome_executable(chromium)
            .no_sandbox()
            .viewport(None)
            .user_data_dir(profile.path())
            .launch_timeout(timeout)
            .surface_invalid_messages()
            .request_timeout(timeout)
            .env("FONTCONFIG_FILE", fontconfig.to_string_lossy().to_string())
            .env("TZ", "UTC")
            .env("LANG", "en_US.UTF-8")
            .env("LANGUAGE", "en_US");
        for flag in FLAGS {
            builder = builder.arg(*flag);
        }
        builder = builder.arg(format!("js-flags=--max-old-space-size={JS_HEAP_MIB}"));
        let config = builder.build().map_err(launch_err)?;
        let (mut browser, mut handler) = Browser::launch(config).await.map_err(|e| launch_err(e.to_string()))?;
        let drift = invalid.clone();
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                match event {
                    // A message this chromiumoxide cannot parse (protocol drift): the event is
                    // lost. Count it by method so the domains we rely on can be guarded.
                    Err(chromiumoxide::error::CdpError::InvalidMessage(raw, err)) => {
                        let method = message_method(&raw);
                        tracing::debug!(%method, error = %err, "CDP message chromiumoxide cannot parse");
                        if let Ok(mut m) = drift.lock() {
                            *m.entry(method).or_insert(0) += 1;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "CDP handler error"),
                    Ok(()) => {}
                }
            }
            tracing::debug!("CDP handler finished");
        });
        let pid = browser.get_mut_child().and_then(|c| c.as_mut_inner().id());
        tracing::info!(?pid, "Chromium started");
        Ok(BrowserProcess { browser, handler, _profile: profile, jobs: 0, pid })
    }

    /// True while the process runs and its CDP connection is being served.
    pub fn is_alive(&mut self) -> bool {
        let exited = self.browser.try_wait().map(|s| s.is_some()).unwrap_or(true);
        !exited && !self.handler.is_finished()
    }

    /// True when the browser answers a trivial CDP call within `limit`.
    pub async fn responds(&mut self, limit: Duration) -> bool {
        self.is_alive() && matches!(tokio::time::timeout(limit, self.browser.version()).await, Ok(Ok(_)))
    }

    /// Kills the process and stops its handler task.
    pub async fn kill(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.browser.kill()).await;
        self.handler.abort();
        tracing::info!(pid = ?self.pid, "Chromium stopped");
    }
}

/// CDP messages chromiumoxide could not parse, counted by method (shared by a pool).
pub type InvalidMessages = std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>;

/// The `method` of a raw CDP message, or `response` for a command response.
fn message_method(raw: &str) -> String {
    serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| v.get("method").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| "response".to_string())
}

/// Where a per-renderer fontconfig file lives: a private temp directory.
pub fn fontconfig_dir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("pixelproof-fontconfig-").tempdir()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_owner_is_read_from_the_profile_name() {
        assert_eq!(super::profile_owner("/tmp/pixelproof-chromium-4242-AbC9"), Some(4242));
        assert_eq!(super::profile_owner("/tmp/other-4242-AbC9"), None);
        assert_eq!(super::profile_owner("/tmp/pixelproof-chromium-x-AbC9"), None);
    }
}
