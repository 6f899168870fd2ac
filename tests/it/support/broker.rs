//! The machine's one RabbitMQ, at 127.0.0.1:5672 (guest/guest; `scripts/test` starts it), which
//! `queue_amqp` and `fleet` share. All tests run in one process, side by side: a test that stops
//! the broker (`rabbitmqctl stop_app`) or loads it with a whole fleet holds it [`exclusive`]ly,
//! and every other test that uses it holds it [`shared`], so no queue test sees a restart that is
//! not its own.

use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The broker's AMQP URL.
pub const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

static BROKER: RwLock<()> = RwLock::const_new(());

/// The broker alongside other tests: queues of the test's own, no restart.
pub async fn shared() -> RwLockReadGuard<'static, ()> {
    BROKER.read().await
}

/// The broker to this test alone: it restarts the broker, or runs a fleet on it.
pub async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    BROKER.write().await
}

/// [`exclusive`], for a test that is not async (it must not be called inside a runtime).
pub fn exclusive_blocking() -> RwLockWriteGuard<'static, ()> {
    BROKER.blocking_write()
}

/// Whether anything accepts TCP connections on the broker's port.
pub fn answers() -> bool {
    TcpStream::connect_timeout(&"127.0.0.1:5672".parse().expect("addr"), Duration::from_millis(500)).is_ok()
}

/// Runs `rabbitmqctl ARGS` (scripts/setup installs it); fails the test unless it succeeds.
/// Returns its standard output.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let out = Command::new("rabbitmqctl").args(args).output().expect("run rabbitmqctl (scripts/setup installs it)");
    assert!(out.status.success(), "rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
