//! The HTTP edge of the service (`pixelproof serve`): configuration, shared state, the
//! router and the server's life (bind, start-up verification, graceful shutdown).
//!
//! One module per route group; each handler takes `State<AppState>`. Routes declare the
//! role they need by the group they join in [`router`]: `open` (no token), `submit` or
//! `operator` (see `auth`). Every error is a `problem::Problem`.

pub mod audit;
pub mod auth;
pub mod conn;
pub mod headers;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod render;
pub mod review;
pub mod routing;
pub mod same_origin;
pub mod templates;
pub mod verify;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use crate::data::DataError;
use crate::pipeline::{Engine, EngineConfig, EngineError};
use crate::review::Review;
use crate::routing::RoutingTable;
use crate::store::JobStore;
use crate::template::{Catalog, TemplateError};
use auth::{Role, Tokens};
use metrics::Metrics;
use verify::Verification;

/// Everything `pixelproof serve` was configured with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Where the service keeps its state (start-up check report, later the job store).
    pub data_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub baselines_dir: PathBuf,
    pub fonts_dir: PathBuf,
    /// Chromium processes kept warm (documents proved at once).
    pub workers: usize,
    pub tokens: Tokens,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    pub limits: crate::request::Limits,
    pub render_timeout: Duration,
    /// How long the fallback renderer may take to print a document (default: twice
    /// `render_timeout`).
    pub fallback_timeout: Option<Duration>,
    /// Jobs the queue may hold.
    pub max_queue: usize,
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
    pub queue: crate::data::QueueBackend,
    /// Where jobs' records, PDFs and artifacts live: `DATA/objects/` (default) or S3
    /// (`--store s3://BUCKET/PREFIX`).
    pub store: crate::data::StoreBackend,
    /// `pixelproof serve` (the API, with its own workers) or `pixelproof worker` (workers
    /// only; the HTTP side answers just health, readiness and metrics).
    pub mode: Mode,
    /// With a shared queue: take no queued jobs in this process (`pixelproof worker`s do).
    pub api_only: bool,
    /// Header-read timeout, idle timeout and connection cap (`api::conn`).
    pub connections: conn::ConnLimits,
    /// Answer jobs identical to one that shipped from the render cache (`--render-cache`).
    pub render_cache: bool,
}

/// What a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The HTTP API and worker tasks (`pixelproof serve`).
    Api,
    /// Worker tasks on a shared queue, plus `/healthz`, `/readyz` and `/metrics`
    /// (`pixelproof worker`).
    Worker,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            templates_dir: crate::template::default_templates_dir(),
            baselines_dir: crate::bundled::Bundled::Baselines.default_dir(),
            fonts_dir: crate::fonts::default_fonts_dir(),
            workers: 2,
            tokens: Tokens::default(),
            max_body_bytes: 16 * 1024 * 1024,
            limits: crate::request::Limits::default(),
            render_timeout: Duration::from_secs(30),
            fallback_timeout: None,
            max_queue: 1000,
            max_queue_per_submitter: None,
            webhook_secrets: crate::webhook::signature::Secrets::default(),
            default_submitter: "queue".to_string(),
            shutdown_grace: Duration::from_secs(30),
            webhook_allow_private: false,
            retry_backoff: Duration::from_secs(1),
            public_url: None,
            queue: crate::data::QueueBackend::Embedded(crate::queue::QueueConfig {
                max_len: 1000,
                ..crate::queue::QueueConfig::default()
            }),
            mode: Mode::Api,
            api_only: false,
            store: crate::data::StoreBackend::Local,
            connections: conn::ConnLimits::default(),
            render_cache: true,
        }
    }
}

/// Shared by every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServeConfig>,
    pub engine: Arc<Engine>,
    pub catalog: Arc<Catalog>,
    pub metrics: Arc<Metrics>,
    /// The start-up verification: which templates matched their baselines.
    pub verification: Arc<Verification>,
    /// The job path (queue, workers, job store); shared with the worker tasks.
    pub service: Arc<crate::service::Service>,
    /// Jobs' records, PDFs and artifacts (`DATA/objects/`): the service's own store.
    pub jobs: JobStore,
    /// The operators' routing table (`DATA/routing.json`, or `routing.json` in the bucket): the service's own, which the workers read.
    pub routing: Arc<std::sync::RwLock<RoutingTable>>,
    /// Candidates and held jobs waiting for review, decisions, the audit log.
    pub review: Arc<Review>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to listen on {0} without API tokens: anyone who can reach it could use the service. \
         Give tokens with --token NAME:ROLE:SECRET (or PIXELPROOF_TOKENS), or listen on 127.0.0.1"
    )]
    OpenWithoutTokens(SocketAddr),
    #[error("could not create the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("could not listen on {addr}: {source}. Is another server using it?")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("could not open the data directory: {0}")]
    Data(#[from] DataError),
    #[error("could not open the baselines: {0}")]
    Baselines(#[from] crate::baseline::BaselineError),
    #[error(transparent)]
    Templates(#[from] TemplateError),
    #[error("could not start the rendering engine: {0}")]
    Engine(#[from] EngineError),
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
    #[error(
        "`pixelproof worker` (and `serve --api-only`) need jobs to go through RabbitMQ: give --queue \
         amqp://USER:PASSWORD@HOST:PORT/VHOST (PIXELPROOF_QUEUE). With the embedded queue, `pixelproof serve` \
         runs the workers itself"
    )]
    WorkerNeedsSharedQueue,
}

/// The application: every route with its role, body limit and problem responses.
pub fn router(state: AppState) -> Router {
    let tokens = Arc::new(state.config.tokens.clone());
    let submit = Router::new()
        .route("/v1/render", post(render::render))
        .route("/v1/templates", get(templates::list))
        .route("/v1/jobs", post(jobs::submit).get(jobs::list))
        .route("/v1/jobs/{id}", get(jobs::status))
        .route("/v1/jobs/{id}/pdf", get(jobs::pdf))
        // Operators only, checked in the handler after the job's owner, so that another
        // submitter's job answers 404 like every job route.
        .route("/v1/jobs/{id}/artifacts/{name}", get(jobs::artifact))
        .route_layer(axum::middleware::from_fn_with_state((tokens.clone(), Role::Submit), auth::require));
    let operator = Router::new()
        .route("/v1/verification", get(verification))
        .route("/metrics", get(metrics::metrics))
        .route("/review", get(review::review_page))
        .route("/review/files/jobs/{id}/{name}", get(review::job_file))
        .route("/review/files/{source}/{template}/{fixture}/{name}", get(review::baseline_file))
        .route("/v1/review/candidates/{template}/{fixture}/{action}", post(review::decide_candidate))
        .route("/v1/review/jobs/{id}/{action}", post(review::decide_job))
        .route("/v1/audit", get(audit::audit))
        .route("/v1/routing", get(routing::list).post(routing::add))
        .route("/v1/routing/{id}", delete(routing::remove))
        .route_layer(axum::middleware::from_fn_with_state((tokens, Role::Operator), auth::require));
    let open = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::openapi_json));
    let max_body = state.config.max_body_bytes;
    let routes = match state.config.mode {
        Mode::Api => Router::new().merge(submit).merge(operator).merge(open),
        // A worker takes its jobs from the queue: only what orchestrators and Prometheus ask.
        Mode::Worker => Router::new()
            .route("/metrics", get(metrics::metrics))
            .route("/v1/verification", get(verification))
            .route_layer(axum::middleware::from_fn_with_state(
                (Arc::new(state.config.tokens.clone()), Role::Operator),
                auth::require,
            ))
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz)),
    };
    let origins = Arc::new(same_origin::Origins::new(state.config.public_url.as_deref()));
    routes
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(origins, same_origin::refuse_cross_site))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(max_body))
        .layer(axum::middleware::map_response_with_state(max_body, problem::problem_for_bare_errors))
        // Failures worth a warning are logged where they happen (render, auth); a 503 from
        // /readyz during start-up is not an error.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
}

/// The start-up verification in detail (operator only).
#[utoipa::path(get, path = "/v1/verification", tag = "operations",
    responses((status = 200, description = "The start-up verification's state and per-template result")),
    security(("bearer" = [])))]
pub async fn verification(State(state): State<AppState>) -> Json<verify::VerificationState> {
    Json(state.verification.state())
}

/// Runs the server until SIGTERM or Ctrl-C: binds, prints `listening on http://ADDR`,
/// verifies the templates in the background, and on a signal stops accepting, lets
/// in-flight requests finish, and closes Chromium.
pub async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    if config.webhook_secrets.is_empty() {
        tracing::warn!(
            "no --webhook-secret: webhooks are sent without a webhook-signature, so receivers cannot verify them"
        );
    }
    if config.tokens.is_empty() {
        if !config.listen.ip().is_loopback() {
            return Err(ServeError::OpenWithoutTokens(config.listen));
        }
        tracing::warn!("no API tokens configured: every route is open, so the server only listens on loopback");
    }
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| ServeError::DataDir { path: config.data_dir.clone(), source })?;
    if (config.mode == Mode::Worker || config.api_only) && !config.queue.is_shared() {
        return Err(ServeError::WorkerNeedsSharedQueue);
    }
    let mut data = crate::data::DataDir::new(&config.data_dir).open_with(&config.queue, &config.store).await?;
    let audit = data.audit.take();
    let baselines = crate::baseline::Store::open(&config.baselines_dir)?;
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
    if let crate::data::StoreBackend::S3(s3) = &config.store {
        tracing::info!(bucket = %s3.bucket, prefix = %s3.prefix, endpoint = %s3.endpoint(), "jobs are stored in S3");
    }
    if let crate::data::QueueBackend::Amqp(amqp) = &config.queue {
        tracing::info!(broker = %amqp.shown_url(), queue = %amqp.queue_name, "jobs go through RabbitMQ");
    }
    let catalog = Arc::new(Catalog::load(&config.templates_dir)?);
    let engine_config = EngineConfig {
        fonts_dir: config.fonts_dir.clone(),
        pool_size: config.workers.max(1),
        render_timeout: config.render_timeout,
        // The engine's ceiling: the jobs' limit, or a longer template's page range, so that the
        // start-up check can still prove that template (its jobs meet --max-pages in `verify`).
        max_pages: catalog.templates.iter().map(|t| t.config.pages.max).fold(config.limits.max_pages, usize::max),
        ..EngineConfig::default()
    };
    let engine = Arc::new(Engine::start(engine_config).await?);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: config.listen, source })?;
    let metrics = Arc::new(Metrics::new());
    let verification = Arc::new(Verification::default());
    let service =
        start_service(&config, addr, engine.clone(), catalog.clone(), data, baselines.clone(), &verification, &metrics)
            .await;
    let (stop_workers, stop) = tokio::sync::watch::channel(false);
    let workers = service.start_workers(stop);
    let review = Arc::new(Review::new(
        baselines,
        service.jobs.clone(),
        audit.unwrap_or_else(|| {
            crate::review::audit::AuditLog::new(config.data_dir.join(crate::review::audit::AUDIT_FILE))
        }),
    ));
    let state = AppState {
        config: Arc::new(config),
        engine: engine.clone(),
        catalog,
        metrics,
        verification,
        service: service.clone(),
        jobs: service.jobs.clone(),
        routing: service.routing.clone(),
        review,
    };
    // `check::run_with` reports progress through a `dyn Progress` that is not `Send`, so the
    // verification runs on a blocking thread that drives it on this runtime.
    let handle = tokio::runtime::Handle::current();
    let for_verification = state.clone();
    let (stop_verifying, stopped) = tokio::sync::oneshot::channel::<()>();
    let verifying = tokio::task::spawn_blocking(move || {
        handle.block_on(async {
            tokio::select! {
                _ = verify::run_for(for_verification) => {},
                _ = stopped => tracing::info!("start-up verification cancelled by shutdown"),
            }
        })
    });
    println!("listening on http://{addr}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, templates = state.catalog.templates.len(), "listening");
    let grace = state.config.shutdown_grace;
    let drain = async move {
        shutdown_signal().await;
        // Keep answering (POST /v1/jobs is a 503 now) while the workers finish or re-queue.
        service.stop_accepting();
        let _ = stop_workers.send(true);
        for w in workers {
            let _ = w.await;
        }
        service.wait_for_webhooks(grace).await;
        tracing::info!("workers stopped; closing the HTTP server");
    };
    let limits = state.config.connections;
    let served = conn::serve(listener, router(state), limits, drain).await;
    let _ = stop_verifying.send(());
    let _ = verifying.await;
    engine.renderer.shutdown().await;
    tracing::info!("server stopped");
    served.map_err(ServeError::Serve)
}

/// Where `status_url`s and `pdf_url`s (in answers, webhooks and result events) point: the
/// `--public-url`, else this server. A worker's own address serves no jobs, so without
/// `--public-url` it links to the API's default address and says so.
fn public_url(config: &ServeConfig, addr: SocketAddr) -> String {
    match (&config.public_url, config.mode) {
        (Some(url), _) => url.clone(),
        (None, Mode::Api) => format!("http://{addr}"),
        (None, Mode::Worker) => {
            let api = format!("http://{}", ServeConfig::default().listen);
            tracing::warn!(
                %api,
                "no --public-url: webhooks and result events from this worker link to {api}; give the API's URL"
            );
            api
        }
    }
}

/// Builds the job path on the opened data directory and runs start-up recovery.
#[allow(clippy::too_many_arguments)]
async fn start_service(
    config: &ServeConfig,
    addr: SocketAddr,
    engine: Arc<Engine>,
    catalog: Arc<Catalog>,
    data: crate::data::Opened,
    baselines: crate::baseline::Store,
    verification: &Arc<Verification>,
    metrics: &Arc<Metrics>,
) -> Arc<crate::service::Service> {
    let fallback_config = crate::fallback::FallbackConfig {
        timeout: config.fallback_timeout.unwrap_or(config.render_timeout.saturating_mul(2)),
        max_pages: engine.max_pages,
        ..crate::fallback::FallbackConfig::new(Arc::new(engine.fonts.clone()))
    };
    let fallback = match crate::fallback::FallbackRenderer::new(fallback_config) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(error = %e, "no fallback renderer: documents that fail verification are held directly");
            None
        }
    };
    let service_config = crate::service::ServiceConfig {
        workers: if config.api_only { 0 } else { config.workers.max(1) },
        limits: config.limits.clone(),
        retry_backoff: config.retry_backoff,
        shutdown_grace: config.shutdown_grace,
        webhook: crate::webhook::WebhookPolicy {
            allow_private: config.webhook_allow_private,
            ..crate::webhook::WebhookPolicy::default()
        },
        public_url: public_url(config, addr),
        baselines_dir: config.baselines_dir.clone(),
        reload_routing: config.queue.is_shared(),
        max_queue_per_submitter: config.max_queue_per_submitter,
        webhook_secrets: config.webhook_secrets.clone(),
        default_submitter: config.default_submitter.clone(),
        render_cache: config.render_cache,
        ..crate::service::ServiceConfig::default()
    };
    let (service, recovery) = crate::service::Service::new(
        service_config,
        engine,
        catalog,
        fallback,
        data,
        baselines,
        verification.clone(),
        metrics.clone(),
    );
    let service = Arc::new(service);
    if let Err(e) = service.recover(&recovery).await {
        tracing::error!(error = %e, "start-up recovery did not finish; unsettled jobs may wait for the next start");
    }
    service
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: no new connections; finishing requests in flight");
}
