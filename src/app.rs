//! The composition root: the one place the service is built from its configuration, for
//! `pixelproof serve` and `pixelproof worker` alike. It opens the data directory (queue, job
//! store, routing table, audit log), the baselines and the templates, starts the engines,
//! builds the `service` and the `review`, and runs the workers and the start-up verification.
//!
//! The edges call it (`cli` configures it, `api` serves it over HTTP); nothing below it knows
//! it exists, so the service never depends on the HTTP layer or the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::check::CheckOptions;
use crate::data::{DataError, QueueBackend, StoreBackend};
use crate::fallback::{FallbackConfig, FallbackRenderer};
use crate::pipeline::{Engine, EngineConfig, EngineError};
use crate::review::audit::{AuditLog, AUDIT_FILE};
use crate::review::Review;
use crate::service::metrics::Metrics;
use crate::service::verification::{self, Verification};
use crate::service::{Parts, Service, ServiceConfig};
use crate::template::{Catalog, TemplateError};
use crate::webhook::WebhookPolicy;

/// What a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The HTTP API and worker tasks (`pixelproof serve`).
    Api,
    /// Worker tasks on a shared queue, plus `/healthz`, `/readyz` and `/metrics`
    /// (`pixelproof worker`).
    Worker,
}

/// Everything the application is built from (the HTTP edge adds its own: `api::ServeConfig`).
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Where the service keeps its state (queue, job store, routing table, start-up check report).
    pub data_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub baselines_dir: PathBuf,
    pub fonts_dir: PathBuf,
    /// Chromium processes kept warm: documents proved at once (`--browsers`).
    pub browsers: usize,
    /// Worker tasks taking queued jobs (`--worker-tasks`; none when `api_only`).
    pub worker_tasks: usize,
    pub limits: crate::request::Limits,
    pub render_timeout: Duration,
    /// How long the fallback renderer may take to print a document (default: twice
    /// `render_timeout`).
    pub fallback_timeout: Option<Duration>,
    /// Jobs one submitter may have waiting or running (`None`: no cap of its own).
    pub max_queue_per_submitter: Option<usize>,
    /// Webhook signing secrets, per submitter and server-wide.
    pub webhook_secrets: crate::webhook::signature::Secrets,
    /// The submitter of jobs apps publish to RabbitMQ without naming one.
    pub default_submitter: String,
    /// After SIGTERM: how long jobs in flight may take to finish before they are re-queued.
    pub shutdown_grace: Duration,
    /// Let webhooks reach loopback and private addresses.
    pub webhook_allow_private: bool,
    /// First delay before a job whose render failed is tried again (doubled per attempt).
    pub retry_backoff: Duration,
    /// Base of the `status_url`s and `pdf_url`s given to clients (default `http://` + the
    /// address listened on).
    pub public_url: Option<String>,
    /// The job queue: embedded (default) or RabbitMQ (`--queue amqp://…`).
    pub queue: QueueBackend,
    /// Where jobs' records, PDFs and artifacts live: `DATA/objects/` (default) or S3
    /// (`--store s3://BUCKET/PREFIX`).
    pub store: StoreBackend,
    /// `pixelproof serve` (the API, with its own workers) or `pixelproof worker` (workers only).
    pub mode: Mode,
    /// With a shared queue: take no queued jobs in this process (`pixelproof worker`s do).
    pub api_only: bool,
    /// Answer jobs identical to one that shipped from the render cache (`--render-cache`).
    pub render_cache: bool,
    /// `--retain-days`.
    pub retain_days: Option<u32>,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            data_dir: PathBuf::from("data"),
            templates_dir: crate::template::default_templates_dir(),
            baselines_dir: crate::bundled::Bundled::Baselines.default_dir(),
            fonts_dir: crate::fonts::default_fonts_dir(),
            browsers: 2,
            worker_tasks: 2,
            limits: crate::request::Limits::default(),
            render_timeout: Duration::from_secs(30),
            fallback_timeout: None,
            max_queue_per_submitter: None,
            webhook_secrets: crate::webhook::signature::Secrets::default(),
            default_submitter: "queue".to_string(),
            shutdown_grace: Duration::from_secs(30),
            webhook_allow_private: false,
            retry_backoff: Duration::from_secs(1),
            public_url: None,
            queue: QueueBackend::Embedded(crate::queue::QueueConfig { max_len: 1000, ..Default::default() }),
            store: StoreBackend::Local,
            mode: Mode::Api,
            api_only: false,
            render_cache: true,
            retain_days: None,
        }
    }
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("could not create the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("could not open the data directory: {0}")]
    Data(#[from] DataError),
    #[error("could not open the baselines: {0}")]
    Baselines(#[from] crate::baseline::BaselineError),
    #[error(transparent)]
    Templates(#[from] TemplateError),
    #[error("could not start the rendering engine: {0}")]
    Engine(#[from] EngineError),
    #[error(
        "`pixelproof worker` (and `serve --api-only`) need jobs to go through RabbitMQ: give --queue \
         amqp://USER:PASSWORD@HOST:PORT/VHOST (PIXELPROOF_QUEUE). With the embedded queue, `pixelproof serve` \
         runs the workers itself"
    )]
    WorkerNeedsSharedQueue,
}

/// The built application: what the edges serve.
pub struct App {
    pub config: Arc<AppConfig>,
    pub engine: Arc<Engine>,
    pub catalog: Arc<Catalog>,
    pub metrics: Arc<Metrics>,
    /// The start-up verification: which templates matched their baselines, on which engine.
    pub verification: Arc<Verification>,
    /// The job path (queue, workers, job store, routing table).
    pub service: Arc<Service>,
    /// Candidates and held jobs waiting for review, decisions, the audit log.
    pub review: Arc<Review>,
}

impl App {
    /// Opens and starts everything, and recovers the jobs an earlier process left unsettled.
    /// `addr` is where the HTTP edge listens: the links in answers, webhooks and result
    /// events point there unless `public_url` says otherwise.
    pub async fn start(config: AppConfig, addr: SocketAddr) -> Result<App, AppError> {
        if config.webhook_secrets.is_empty() {
            tracing::warn!(
                "no --webhook-secret: webhooks are sent without a webhook-signature, so receivers cannot verify them"
            );
        }
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| AppError::DataDir { path: config.data_dir.clone(), source })?;
        if (config.mode == Mode::Worker || config.api_only) && !config.queue.is_shared() {
            return Err(AppError::WorkerNeedsSharedQueue);
        }
        let data = crate::data::DataDir::new(&config.data_dir).open_with(&config.queue, &config.store).await?;
        let audit = data.audit;
        let baselines = crate::baseline::Store::open(&config.baselines_dir).await?;
        if baselines.is_shared() {
            tracing::info!(baselines = %baselines.location(), "baselines are kept in the bucket");
        } else if crate::baseline::Store::is_missing_directory(&config.baselines_dir) {
            tracing::warn!(
                baselines = %config.baselines_dir.display(),
                "no baselines directory there: every template will fail its start-up check and its jobs \
                 will ship the fallback's PDF; pass --baselines DIR (or PIXELPROOF_BASELINES) naming the \
                 approved baselines"
            );
        }
        if let StoreBackend::S3(s3) = &config.store {
            tracing::info!(bucket = %s3.bucket, prefix = %s3.prefix, endpoint = %s3.endpoint(), "jobs are stored in S3");
        }
        if let QueueBackend::Amqp(amqp) = &config.queue {
            tracing::info!(broker = %amqp.shown_url(), queue = %amqp.queue_name, "jobs go through RabbitMQ");
        }
        let catalog = Arc::new(Catalog::load(&config.templates_dir)?);
        let engine_config = EngineConfig {
            fonts_dir: config.fonts_dir.clone(),
            pool_size: config.browsers.max(1),
            render_timeout: config.render_timeout,
            // The engine's ceiling: the jobs' limit, or a longer template's page range, so that the
            // start-up check can still prove that template (its jobs meet --max-pages in `rules`).
            max_pages: catalog.templates.iter().map(|t| t.config.pages.max).fold(config.limits.max_pages, usize::max),
            ..EngineConfig::default()
        };
        let engine = Arc::new(Engine::start(engine_config).await?);
        let (service, recovery) = Service::new(Parts {
            config: service_config(&config, addr),
            engine: engine.clone(),
            catalog: catalog.clone(),
            fallback: fallback(&config, &engine),
            queue: data.queue,
            recovery: data.recovery,
            jobs: data.jobs,
            routing: data.routing,
            baselines: baselines.clone(),
        });
        let service = Arc::new(service);
        let (metrics, verification) = (service.metrics.clone(), service.verification.clone());
        if let Err(e) = service.recover(&recovery).await {
            tracing::error!(error = %e, "start-up recovery did not finish; unsettled jobs may wait for the next start");
        }
        let audit = audit.unwrap_or_else(|| AuditLog::new(config.data_dir.join(AUDIT_FILE)));
        let review = Arc::new(Review::new(baselines, service.jobs.clone(), audit));
        Ok(App { config: Arc::new(config), engine, catalog, metrics, verification, service, review })
    }

    /// Starts the worker tasks and, in the background, the start-up verification.
    pub fn run(&self) -> Running {
        let (stop_workers, stop) = watch::channel(false);
        let mut workers = self.service.start_workers(stop.clone());
        let service = self.service.clone();
        let outbox_stop = stop.clone();
        workers.push(tokio::spawn(async move { service.run_outbox(outbox_stop).await }));
        if let Some(days) = self.service.config.retain_days {
            let service = self.service.clone();
            workers.push(tokio::spawn(async move { service.run_retention(days, stop).await }));
        }
        let options = CheckOptions {
            templates_dir: self.config.templates_dir.clone(),
            baselines_dir: self.config.baselines_dir.clone(),
            report_dir: self.config.data_dir.join("startup-check"),
            jobs: self.config.browsers.max(1),
            user: "pixelproof-serve".to_string(),
            ..CheckOptions::default()
        };
        // `check::run_with` compares pages and writes its report between awaits (CPU work that
        // must not hold a worker of this runtime) and reports progress through a `dyn Progress`
        // that is not `Send`, so the verification runs on a blocking thread that drives it on
        // this runtime; its baseline requests are awaited there like every other.
        let handle = tokio::runtime::Handle::current();
        let service = self.service.clone();
        let (stop_verifying, stopped) = oneshot::channel::<()>();
        let verifying = tokio::task::spawn_blocking(move || {
            handle.block_on(async {
                tokio::select! {
                    _ = verification::run(&service.engine, service.fallback.as_ref(), options, &service.verification) => {},
                    _ = stopped => tracing::info!("start-up verification cancelled by shutdown"),
                }
            })
        });
        Running { service: self.service.clone(), stop_workers, workers, stop_verifying, verifying }
    }

    /// Closes the engines (after [`Running::stop`]).
    pub async fn close(&self) {
        self.engine.chromium.shutdown().await;
    }
}

/// The application's background tasks, for the edge to stop at shutdown.
pub struct Running {
    service: Arc<Service>,
    stop_workers: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    stop_verifying: oneshot::Sender<()>,
    verifying: JoinHandle<()>,
}

impl Running {
    /// After a shutdown signal: no new jobs (`POST /v1/jobs` answers 503), the workers finish
    /// or re-queue their jobs within the grace period; webhooks not yet delivered stay in the
    /// outbox for the next start.
    /// The edge keeps answering meanwhile.
    pub async fn drain(&mut self) {
        self.service.stop_accepting();
        let _ = self.stop_workers.send(true);
        for w in std::mem::take(&mut self.workers) {
            let _ = w.await;
        }
        tracing::info!("workers stopped");
    }

    /// Cancels the start-up verification if it still runs.
    pub async fn stop(self) {
        let _ = self.stop_verifying.send(());
        let _ = self.verifying.await;
    }
}

/// The job path's configuration.
fn service_config(config: &AppConfig, addr: SocketAddr) -> ServiceConfig {
    ServiceConfig {
        workers: if config.api_only { 0 } else { config.worker_tasks.max(1) },
        limits: config.limits.clone(),
        retry_backoff: config.retry_backoff,
        shutdown_grace: config.shutdown_grace,
        webhook: WebhookPolicy { allow_private: config.webhook_allow_private, ..WebhookPolicy::default() },
        public_url: public_url(config, addr),
        baselines_dir: config.baselines_dir.clone(),
        reload_routing: config.queue.is_shared() || config.store.is_shared(),
        max_queue_per_submitter: config.max_queue_per_submitter,
        webhook_secrets: config.webhook_secrets.clone(),
        default_submitter: config.default_submitter.clone(),
        render_cache: config.render_cache,
        retain_days: config.retain_days,
        ..ServiceConfig::default()
    }
}

/// The fallback renderer, when WeasyPrint is installed.
fn fallback(config: &AppConfig, engine: &Engine) -> Option<FallbackRenderer> {
    let fallback_config = FallbackConfig {
        timeout: config.fallback_timeout.unwrap_or(config.render_timeout.saturating_mul(2)),
        max_pages: engine.max_pages,
        ..FallbackConfig::new(Arc::new(engine.fonts.clone()))
    };
    match FallbackRenderer::new(fallback_config) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(error = %e, "no fallback renderer: documents that fail verification are held directly");
            None
        }
    }
}

/// The address the API listens on by default, where a worker's links point without
/// `--public-url`.
pub const DEFAULT_API: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// Where `status_url`s and `pdf_url`s (in answers, webhooks and result events) point: the
/// `--public-url`, else this server. A worker's own address serves no jobs, so without
/// `--public-url` it links to the API's default address and says so.
fn public_url(config: &AppConfig, addr: SocketAddr) -> String {
    match (&config.public_url, config.mode) {
        (Some(url), _) => url.clone(),
        (None, Mode::Api) => format!("http://{addr}"),
        (None, Mode::Worker) => {
            let api = format!("http://{DEFAULT_API}");
            tracing::warn!(
                %api,
                "no --public-url: webhooks and result events from this worker link to {api}; give the API's URL"
            );
            api
        }
    }
}
