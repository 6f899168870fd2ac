//! Admission for synchronous renders (`POST /v1/render`, Gotenberg's form route). A client
//! of those holds a connection open while it waits, so their number is capped: as many render
//! at once as there are browsers, up to `max_waiting` more wait for one, each at most `wait`.
//! Past the cap a caller is told at once to come back later (429), and one that waited too
//! long gets a 503, instead of requests piling up without limit behind a busy pool. Both
//! answers carry `Retry-After`, from how long renders have been taking.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use super::metrics::Metrics;

/// `--max-waiting-renders` and `--api-timeout-secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// Synchronous renders that may wait for a browser beyond those rendering.
    pub max_waiting: usize,
    /// How long one may wait for a browser before it is answered 503.
    pub wait: Duration,
}

impl Default for RenderLimits {
    fn default() -> Self {
        RenderLimits { max_waiting: 16, wait: Duration::from_secs(60) }
    }
}

/// Why a synchronous render was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{running} render(s) are running and {waiting} more are waiting for a browser, the most this server lets wait (--max-waiting-renders); retry after {retry_after_secs} s, or queue the job with POST /v1/jobs")]
    Full { running: usize, waiting: usize, retry_after_secs: u32 },
    #[error("no browser was free within {} s (--api-timeout-secs); retry after {retry_after_secs} s, or queue the job with POST /v1/jobs", waited.as_secs())]
    Waited { waited: Duration, retry_after_secs: u32 },
}

impl Refused {
    pub fn retry_after_secs(&self) -> u32 {
        match self {
            Refused::Full { retry_after_secs, .. } | Refused::Waited { retry_after_secs, .. } => *retry_after_secs,
        }
    }
}

/// The gate every synchronous render passes (see the module doc).
pub struct RenderGate {
    slots: Semaphore,
    running: usize,
    limits: RenderLimits,
    waiting: AtomicUsize,
    /// How long admitted renders took, a moving average in milliseconds (0: none yet).
    average_ms: AtomicU64,
    metrics: Arc<Metrics>,
}

/// An admitted render: holds its slot until dropped, and times it for `Retry-After`.
pub struct Admitted<'a> {
    gate: &'a RenderGate,
    _slot: SemaphorePermit<'a>,
    started: Instant,
}

impl std::fmt::Debug for Admitted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitted").field("started", &self.started).finish_non_exhaustive()
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let took = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Each render moves the average an eighth of the way.
        let _ = self.gate.average_ms.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |avg| {
            Some(if avg == 0 { took } else { avg - avg / 8 + took / 8 })
        });
        self.gate.metrics.sync_renders("running").dec();
    }
}

/// Counts a caller among the waiting until it stops waiting.
struct Waiting<'a>(&'a RenderGate);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
        self.0.metrics.sync_renders("waiting").dec();
    }
}

impl RenderGate {
    /// A gate for `running` renders at once (the browsers), with `limits` on the waiting.
    pub fn new(running: usize, limits: RenderLimits, metrics: Arc<Metrics>) -> RenderGate {
        let running = running.max(1);
        RenderGate {
            slots: Semaphore::new(running),
            running,
            limits,
            waiting: AtomicUsize::new(0),
            average_ms: AtomicU64::new(0),
            metrics,
        }
    }

    /// A slot, at once or after waiting (see the module doc).
    pub async fn admit(&self) -> Result<Admitted<'_>, Refused> {
        let slot = match self.slots.try_acquire() {
            Ok(slot) => slot,
            Err(_) => {
                let max = self.limits.max_waiting;
                if self
                    .waiting
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1))
                    .is_err()
                {
                    self.metrics.render("busy");
                    return Err(Refused::Full {
                        running: self.running,
                        waiting: max,
                        retry_after_secs: self.retry_after(),
                    });
                }
                self.metrics.sync_renders("waiting").inc();
                let _waiting = Waiting(self);
                match tokio::time::timeout(self.limits.wait, self.slots.acquire()).await {
                    Ok(Ok(slot)) => slot,
                    // The semaphore is never closed; a closed one is as good as no browser.
                    Ok(Err(_)) | Err(_) => {
                        self.metrics.render("waited");
                        return Err(Refused::Waited { waited: self.limits.wait, retry_after_secs: self.retry_after() });
                    }
                }
            }
        };
        self.metrics.sync_renders("running").inc();
        Ok(Admitted { gate: self, _slot: slot, started: Instant::now() })
    }

    /// When a caller turned away may expect a free browser: the renders ahead of it (those
    /// waiting, and one more) over the browsers, times how long a render takes; 1 to 60 s.
    fn retry_after(&self) -> u32 {
        let average = match self.average_ms.load(Ordering::Relaxed) {
            0 => 1000,
            ms => ms,
        };
        let ahead = self.waiting.load(Ordering::SeqCst) as u64 + 1;
        let ms = average.saturating_mul(ahead) / self.running as u64;
        u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX).clamp(1, 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(running: usize, max_waiting: usize, wait: Duration) -> Arc<RenderGate> {
        Arc::new(RenderGate::new(running, RenderLimits { max_waiting, wait }, Arc::new(Metrics::new())))
    }

    #[tokio::test]
    async fn past_the_browsers_callers_wait_then_are_turned_away() {
        let gate = gate(1, 1, Duration::from_secs(30));
        let first = gate.admit().await.expect("a free browser");
        // The second waits for the first.
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.admit().await.map(|_| ()) })
        };
        while gate.waiting.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The third is one too many: refused at once, with a Retry-After.
        let third = gate.admit().await.expect_err("over the cap");
        assert!(matches!(third, Refused::Full { running: 1, waiting: 1, .. }), "{third:?}");
        assert!((1..=60).contains(&third.retry_after_secs()));
        assert!(third.to_string().contains("--max-waiting-renders"), "{third}");
        drop(first);
        waiter.await.unwrap().expect("admitted once the first finished");
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
        let metrics = gate.metrics.encode(0);
        assert!(metrics.contains("pixelproof_renders_total{outcome=\"busy\"} 1"), "{metrics}");
        assert!(metrics.contains("pixelproof_sync_renders{state=\"waiting\"} 0"), "{metrics}");
    }

    #[tokio::test]
    async fn a_caller_that_waits_past_the_timeout_is_refused_and_leaves_the_line() {
        let gate = gate(1, 4, Duration::from_millis(300));
        let busy = gate.admit().await.expect("a free browser");
        let started = Instant::now();
        let refused = gate.admit().await.expect_err("no browser within the wait");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(matches!(refused, Refused::Waited { .. }), "{refused:?}");
        assert!(refused.to_string().contains("--api-timeout-secs"), "{refused}");
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
        drop(busy);
        assert!(gate.admit().await.is_ok());
    }

    #[test]
    fn retry_after_follows_how_long_renders_take() {
        let gate = gate(2, 8, Duration::from_secs(60));
        assert_eq!(gate.retry_after(), 1, "no render yet: a second");
        gate.average_ms.store(10_000, Ordering::SeqCst);
        // 10 s a render, the caller itself ahead, two browsers: 5 s.
        assert_eq!(gate.retry_after(), 5);
        gate.waiting.store(100, Ordering::SeqCst);
        assert_eq!(gate.retry_after(), 60, "capped");
    }
}
