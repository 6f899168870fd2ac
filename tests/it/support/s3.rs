//! A real S3-compatible server for the tests: moto (`tests/it/support/s3_server.py`, installed by
//! `scripts/setup` in `vendor/s3-test-server`) on a free loopback port, one per test, killed on drop. It checks request
//! signatures against one IAM user whose credentials [`S3Server`] knows, and keeps its state in
//! memory (a restarted server has no buckets).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use pixelproof::store::{S3Config, S3Credentials};

pub const ACCESS_KEY_ID: &str = "AKIAPIXELPROOFTEST01";

pub struct S3Server {
    child: Option<Child>,
    pub port: u16,
    secret: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/s3_server.py")
}

/// The virtualenv scripts/setup installs moto in, else the system's python3.
fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vendor/s3-test-server/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Fails (never skips) when moto is missing, naming the fix.
fn require_moto() {
    let probe = Command::new(python())
        .args(["-c", "import moto.server, moto; print(moto.__version__)"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the S3 test server (moto[server], PyPI) is not installed: run scripts/setup, which installs the pinned version in vendor/s3-test-server. {} said: {}",
            python().display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!(
            "{} could not run ({e}): run scripts/setup, which installs the S3 test server (moto[server]) in vendor/s3-test-server",
            python().display()
        ),
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

static SERVERS: AtomicU32 = AtomicU32::new(0);

impl S3Server {
    /// Starts a server on a free loopback port and waits until it answers.
    pub fn start() -> S3Server {
        require_moto();
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let secret = format!("secret-{}-{n}-{nanos}", std::process::id());
        let mut last_error = String::new();
        for _ in 0..3 {
            let mut server = S3Server { child: None, port: free_port(), secret: secret.clone() };
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("the S3 test server did not start: {last_error}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut child = Command::new(python())
            .arg(script())
            .arg(self.port.to_string())
            .env("S3_TEST_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("S3_TEST_SECRET_ACCESS_KEY", &self.secret)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not run {} {}: {e}", python().display(), script().display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let ready = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        if ready.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            return Err(format!(
                "port {}: {}",
                self.port,
                stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            ));
        }
        // Drain stderr (moto logs every request there) so the pipe never fills.
        if let Some(mut stderr) = child.stderr.take() {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("nothing listens on port {} after 20 s", self.port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
        Ok(())
    }

    /// Kills the server (like a crash); nothing answers on its port afterwards.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): it keeps its objects, but nothing it is sent gets an
    /// answer until [`S3Server::resume`] — a stalled, unreachable S3.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let pid = self.child.as_ref().expect("the S3 test server runs").id().to_string();
        let ok = Command::new("kill").args([which, &pid]).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "kill {which} {pid} failed");
    }

    /// Starts the server again on the same port (with no buckets: moto keeps them in memory).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("could not restart the S3 test server: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn credentials(&self) -> S3Credentials {
        S3Credentials {
            access_key_id: ACCESS_KEY_ID.to_string(),
            secret_access_key: self.secret.clone(),
            session_token: None,
        }
    }

    /// A configuration for `bucket` on this server (with the right credentials).
    pub fn config(&self, bucket: &str, prefix: &str) -> S3Config {
        let mut config = S3Config::new(bucket);
        config.prefix = prefix.to_string();
        config.endpoint_url = Some(self.endpoint());
        config.credentials = Some(self.credentials());
        config
    }

    /// The `AWS_*` variables that point a pixelproof process at this server through `endpoint`
    /// (its own address, or a forwarder's).
    pub fn aws_env(&self, endpoint: &str) -> Vec<(String, String)> {
        let creds = self.credentials();
        [
            ("AWS_ENDPOINT_URL", endpoint.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ACCESS_KEY_ID", creds.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// A plain SDK client, to look at the bucket behind the store's back.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .force_path_style(true)
            .credentials_provider(Credentials::new(ACCESS_KEY_ID, self.secret.clone(), None, None, "test"))
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Creates a bucket with a name unique to this process and server; returns its name.
    pub async fn create_bucket(&self, name: &str) -> String {
        let bucket = format!("pp-{name}-{}-{}", std::process::id(), self.port);
        self.create_bucket_named(&bucket).await;
        bucket
    }

    pub async fn create_bucket_named(&self, bucket: &str) {
        self.client().create_bucket().bucket(bucket).send().await.expect("create the test bucket");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
