//! The service's metrics (served as Prometheus/OpenMetrics text by `GET /metrics`). Jobs and
//! renders by outcome, stage latency histograms (`service::attempt` names the stages),
//! Chromium restarts, and the queue depth
//! (a gauge the queue feeds through [`Metrics::queue_depth`]); submissions per submitter
//! (the token's name, never its secret); the render cache's lookups and stores.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    pub state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubmitterLabel {
    pub submitter: String,
    pub outcome: &'static str,
}

/// The service's metrics. Cheap to update from any handler or worker.
pub struct Metrics {
    registry: Registry,
    /// Jobs by outcome: `/v1/render` (`ok`, `invalid`, `unverified`, `timeout`, `failed`) and queued jobs
    /// (`accepted`, `done`, `fallback`, `held`, `failed`, `retried`).
    pub jobs: Family<OutcomeLabel, Counter>,
    /// Chromium renders by outcome (`ok`, `timeout`, `failed`).
    pub renders: Family<OutcomeLabel, Counter>,
    /// Seconds per stage, the same names for queued jobs and `/v1/render`: `queued`, `cache`,
    /// `rendering` (with its steps `context` … `raster`), `verifying`, `fallback`, `storing`.
    pub stage_seconds: Family<StageLabel, Histogram>,
    /// Browsers replaced after a crash or hang (mirrors `Renderer::restarts` at scrape time).
    pub chromium_restarts: Counter,
    /// Jobs waiting in the queue.
    pub queue_depth: Gauge,
    /// Jobs in the queue by state (`ready`, `inflight`, `dead`).
    pub queue_jobs: Family<QueueLabel, Gauge>,
    /// Submissions by submitter (token name) and outcome (`accepted`, `over_quota`, `key_reused`).
    pub submitter_jobs: Family<SubmitterLabel, Counter>,
    /// The render cache (`service::cache`), exposed as `pixelproof_render_cache_total`: `hit`,
    /// `miss`, `bypass` (a job it cannot answer), `store` (a shipped job stored), `error` (a
    /// read or write that failed: the job rendered, or stayed uncached).
    pub render_cache: Family<OutcomeLabel, Counter>,
    /// Synchronous renders (`/v1/render`, the form route) `running` and `waiting` for a browser
    /// (`service::admission`); those turned away count in `renders` as `busy` and `waited`.
    pub sync_renders: Family<QueueLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("pixelproof");
        let jobs = Family::<OutcomeLabel, Counter>::default();
        let renders = Family::<OutcomeLabel, Counter>::default();
        let stage_seconds = Family::<StageLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        let chromium_restarts = Counter::default();
        let queue_depth = Gauge::default();
        registry.register("jobs", "Jobs by outcome", jobs.clone());
        registry.register("renders", "Chromium renders by outcome", renders.clone());
        registry.register("stage_seconds", "Seconds spent per stage of a job", stage_seconds.clone());
        registry.register(
            "chromium_restarts",
            "Chromium processes replaced after a crash or hang",
            chromium_restarts.clone(),
        );
        registry.register("queue_depth", "Jobs waiting in the queue", queue_depth.clone());
        let queue_jobs = Family::<QueueLabel, Gauge>::default();
        registry.register("queue_jobs", "Jobs in the queue by state", queue_jobs.clone());
        let submitter_jobs = Family::<SubmitterLabel, Counter>::default();
        registry.register("submitter_jobs", "Job submissions by submitter and outcome", submitter_jobs.clone());
        let render_cache = Family::<OutcomeLabel, Counter>::default();
        registry.register("render_cache", "Render cache lookups and stores by outcome", render_cache.clone());
        let sync_renders = Family::<QueueLabel, Gauge>::default();
        registry.register(
            "sync_renders",
            "Synchronous renders running and waiting for a browser",
            sync_renders.clone(),
        );
        Metrics {
            registry,
            sync_renders,
            jobs,
            renders,
            stage_seconds,
            chromium_restarts,
            queue_depth,
            queue_jobs,
            submitter_jobs,
            render_cache,
        }
    }

    pub fn job(&self, outcome: &'static str) {
        self.jobs.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    pub fn submitter_job(&self, submitter: &str, outcome: &'static str) {
        self.submitter_jobs.get_or_create(&SubmitterLabel { submitter: submitter.to_string(), outcome }).inc();
    }

    /// One render cache event (`hit`, `miss`, `bypass`, `store`, `error`).
    pub fn render_cache(&self, outcome: &'static str) {
        self.render_cache.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    pub fn render(&self, outcome: &'static str) {
        self.renders.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// The gauge of synchronous renders in `state` (`running`, `waiting`).
    pub fn sync_renders(&self, state: &'static str) -> Gauge {
        self.sync_renders.get_or_create(&QueueLabel { state }).clone()
    }

    pub fn stage(&self, stage: &'static str, elapsed: std::time::Duration) {
        self.stage_seconds.get_or_create(&StageLabel { stage }).observe(elapsed.as_secs_f64());
    }

    /// The queue's depth: `queue_depth` (ready) and `queue_jobs{state}`.
    pub fn set_queue_depth(&self, ready: usize, inflight: usize, dead: usize) {
        self.queue_depth.set(ready as i64);
        for (state, n) in [("ready", ready), ("inflight", inflight), ("dead", dead)] {
            self.queue_jobs.get_or_create(&QueueLabel { state }).set(n as i64);
        }
    }

    /// The text exposition, after syncing the restart counter with the renderer's.
    pub fn encode(&self, restarts: u64) -> String {
        let seen = self.chromium_restarts.get();
        if restarts > seen {
            self.chromium_restarts.inc_by(restarts - seen);
        }
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "could not encode metrics");
        }
        text
    }
}
