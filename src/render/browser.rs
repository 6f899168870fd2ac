//! One Chromium process: launched with the pinned binary, its own profile directory, the
//! bundled-fonts-only fontconfig and the flags that keep it quiet on a closed network.
//!
//! The CDP handler is polled in its own task for the browser's whole life. A dead browser
//! makes CDP calls hang, so callers wrap every call in a timeout and use [`BrowserProcess::is_alive`].
//!
//! Chromium runs documents' JavaScript, so it gets none of the server's environment (tokens,
//! `AWS_SECRET_ACCESS_KEY`, a broker URL with its password): chromiumoxide can only add
//! variables, so it starts a launcher ([`launcher_script`]) that `exec`s Chromium under
//! `env -i` with [`chromium_env`] alone; the pid chromiumoxide watches and kills is
//! Chromium's. Its sandbox is on whenever it can be (not as root, see [`Sandbox`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
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
    /// A context and page made ready for the next document (`page::prepare`).
    pub spare: Option<super::page::Warm>,
    /// The last document's page, discarded while the next document loads.
    pub used: Option<super::page::Warm>,
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
    // No frames are drawn for a screen nobody sees: a page's frames come only when `page`
    // asks for them (`HeadlessExperimental.beginFrame`), and it asks without display updates,
    // so scripts, animation frames and layout run as on a screen while nothing is rastered or
    // composited. Printing paints on its own. This saves about a tenth of the CPU per
    // document, with the same pixels (docs/performance.md). Chromium takes `beginFrame` only
    // with the second flag.
    "enable-begin-frame-control",
    "run-all-compositor-stages-before-draw",
    // What the Fetch domain does not see. Popups (`window.open`) are new targets outside the
    // page's interception: none are created. WebSockets, WebRTC and workers' sockets are not
    // paused by Fetch: no host name resolves, and WebRTC sends no UDP outside a proxy.
    "block-new-web-contents",
    "host-resolver-rules=MAP * ~NOTFOUND",
    "force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    // The DevTools endpoint drives the whole browser: loopback only (Chromium's default, said
    // out loud), on the random port chromiumoxide asks for. `tests/it/debug_endpoint.rs`.
    "remote-debugging-address=127.0.0.1",
];

/// The whole environment Chromium gets: the bundled-fonts-only fontconfig, a fixed time zone
/// and language, and its profile directory as home, cache and config (so nothing of the
/// server's user is read or written). Nothing of the server's own environment.
pub fn chromium_env(fontconfig: &Path, profile: &Path) -> Vec<(&'static str, String)> {
    let profile = profile.to_string_lossy().to_string();
    vec![
        ("FONTCONFIG_FILE", fontconfig.to_string_lossy().to_string()),
        ("TZ", "UTC".to_string()),
        ("LANG", "en_US.UTF-8".to_string()),
        ("LANGUAGE", "en_US".to_string()),
        ("PATH", "/usr/bin:/bin".to_string()),
        ("HOME", profile.clone()),
        ("TMPDIR", std::env::temp_dir().to_string_lossy().to_string()),
        ("XDG_CONFIG_HOME", profile.clone()),
        ("XDG_CACHE_HOME", profile),
    ]
}

/// A shell script that replaces itself with Chromium under `env -i` and `vars`, passing on
/// the arguments chromiumoxide gives it. `exec` keeps the pid: chromiumoxide's child is
/// Chromium itself, so killing and waiting work as before.
pub fn launcher_script(chromium: &Path, vars: &[(&str, String)]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let assignments: Vec<String> = vars.iter().map(|(k, v)| quote(&format!("{k}={v}"))).collect();
    format!(
        "#!/bin/sh\n# Written by pixelproof: Chromium runs with this environment and nothing else.\nexec env -i {} {} \"$@\"\n",
        assignments.join(" "),
        quote(&chromium.to_string_lossy())
    )
}

/// Whether Chromium's sandbox is used. It cannot run as root (Chromium refuses to start), so
/// root gets `--no-sandbox`; another user gets the sandbox, unless the host cannot give it
/// (no user namespaces and no setuid helper, as in some containers): then the first launch
/// fails, a warning says so, and this process's browsers run without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sandbox {
    On,
    /// Why not.
    Off(&'static str),
}

/// 0: not tried, 1: works, 2: the host refused it.
static SANDBOX_STATE: AtomicU8 = AtomicU8::new(0);

impl Sandbox {
    /// What the next launch uses.
    pub fn current() -> Sandbox {
        // SAFETY: geteuid(2) has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            return Sandbox::Off("running as root, where Chromium's sandbox cannot run");
        }
        match SANDBOX_STATE.load(Ordering::Relaxed) {
            2 => Sandbox::Off("this host could not start Chromium's sandbox"),
            _ => Sandbox::On,
        }
    }
}

/// Writes the launcher into the profile directory (private to this browser).
fn write_launcher(profile: &Path, chromium: &Path, fontconfig: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = profile.join("launch-chromium.sh");
    std::fs::write(&path, launcher_script(chromium, &chromium_env(fontconfig, profile)))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
    Ok(path)
}

impl BrowserProcess {
    /// Starts Chromium. `fontconfig` is the fonts.conf listing the bundled fonts alone.
    /// `invalid` counts, per CDP method, the messages chromiumoxide could not parse.
    pub async fn launch(
        chromium: &Path,
        fontconfig: &Path,
        timeout: Duration,
        invalid: InvalidMessages,
    ) -> Result<BrowserProcess, RenderError> {
        let sandbox = Sandbox::current();
        match Self::launch_with(chromium, fontconfig, timeout, invalid.clone(), sandbox).await {
            Err(e) if sandbox == Sandbox::On && SANDBOX_STATE.load(Ordering::Relaxed) == 0 => {
                tracing::warn!(
                    error = %e,
                    "Chromium did not start with its sandbox on this host; browsers run without it. \
                     Give the container user namespaces (or run Chromium's setuid sandbox helper) to have it"
                );
                SANDBOX_STATE.store(2, Ordering::Relaxed);
                Self::launch_with(chromium, fontconfig, timeout, invalid, Sandbox::current()).await
            }
            Ok(b) => {
                if sandbox == Sandbox::On && SANDBOX_STATE.swap(1, Ordering::Relaxed) == 0 {
                    tracing::info!("Chromium runs with its sandbox");
                }
                Ok(b)
            }
            Err(e) => Err(e),
        }
    }

    async fn launch_with(
        chromium: &Path,
        fontconfig: &Path,
        timeout: Duration,
        invalid: InvalidMessages,
        sandbox: Sandbox,
    ) -> Result<BrowserProcess, RenderError> {
        let launch_err = |detail: String| RenderError::Launch { path: chromium.to_path_buf(), detail };
        let profile = tempfile::Builder::new()
            .prefix(&format!("{PROFILE_PREFIX}{}-", std::process::id()))
            .tempdir()
            .map_err(|e| launch_err(format!("cannot create a profile directory: {e}")))?;
        let launcher = write_launcher(profile.path(), chromium, fontconfig)
            .map_err(|e| launch_err(format!("cannot write the launcher in {}: {e}", profile.path().display())))?;
        let mut builder = BrowserConfig::builder()
            .chrome_executable(launcher)
            .viewport(None)
            .user_data_dir(profile.path())
            .launch_timeout(timeout)
            .surface_invalid_messages()
            .request_timeout(timeout);
        if let Sandbox::Off(why) = sandbox {
            tracing::debug!(why, "Chromium starts without its sandbox");
            builder = builder.no_sandbox();
        }
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
        Ok(BrowserProcess { browser, handler, _profile: profile, jobs: 0, pid, spare: None, used: None })
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

    /// The launcher with `env` standing in for Chromium: what it prints is the whole
    /// environment the browser would get, whatever the caller's environment holds.
    #[test]
    fn the_launcher_passes_its_variables_and_nothing_else() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let vars = vec![("ONE", "it's \"quoted\" $HOME `x`".to_string()), ("TWO", "b".to_string())];
        let script = dir.path().join("launch.sh");
        std::fs::write(&script, super::launcher_script(std::path::Path::new("/usr/bin/env"), &vars)).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        let out = std::process::Command::new(&script)
            .arg("--null")
            .env("AWS_SECRET_ACCESS_KEY", "must-not-pass")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let seen: Vec<&[u8]> = out.stdout.split(|b| *b == 0).filter(|v| !v.is_empty()).collect();
        assert_eq!(seen, vec![&b"ONE=it's \"quoted\" $HOME `x`"[..], &b"TWO=b"[..]]);
    }
}
