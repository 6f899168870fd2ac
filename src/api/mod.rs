//! The HTTP edge of the service (`pixelproof serve`): configuration, shared state, the
//! router and the server's life (bind, start-up verification, graceful shutdown).
//!
//! One module per route group; each handler takes `State<AppState>`. Routes declare the
//! role they need by the group they join in [`router`]: `open` (no token), `submit` or
//! `operator` (see `auth`). Every error is a `problem::Problem`.

pub mod audit;
pub mod auth;
pub mod conn;
pub mod forms;
pub mod headers;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod render;
pub mod request_id;
pub mod review;
pub mod routing;
pub mod same_origin;
pub mod templates;
pub mod upload;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

pub use crate::app::Mode;
use crate::app::{App, AppConfig, AppError};
use crate::jobs::JobStore;
use crate::pipeline::Engine;
use crate::review::Review;
use crate::routing::Routes;
use crate::service::metrics::Metrics;
use crate::service::verification::{self, Verification};
use crate::template::Catalog;
use auth::{Role, Tokens};

/// Everything `pixelproof serve` (or `worker`) was configured with: the application's
/// configuration and the HTTP edge's own.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub app: AppConfig,
    pub listen: SocketAddr,
    pub tokens: Tokens,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Header-read timeout, idle timeout and connection cap (`api::conn`).
    pub connections: conn::ConnLimits,
    /// How `GET /v1/jobs/{id}/pdf` hands out a PDF kept in S3.
    pub pdf_download: jobs::PdfDownload,
    /// How many synchronous renders may wait for a browser, and how long.
    pub renders: crate::service::admission::RenderLimits,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            app: AppConfig::default(),
            listen: crate::app::DEFAULT_API,
            tokens: Tokens::default(),
            max_body_bytes: 16 * 1024 * 1024,
            connections: conn::ConnLimits::default(),
            pdf_download: jobs::PdfDownload::Redirect,
            renders: crate::service::admission::RenderLimits::default(),
        }
    }
}

/// Shared by every handler (cheap to clone): the built application and the edge's configuration.
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
    pub routing: Arc<Routes>,
    /// Candidates and held jobs waiting for review, decisions, the audit log.
    pub review: Arc<Review>,
    /// The gate synchronous renders pass (`service::admission`).
    pub renders: Arc<crate::service::admission::RenderGate>,
}

impl AppState {
    pub fn new(app: &App, config: ServeConfig) -> AppState {
        let renders =
            crate::service::admission::RenderGate::new(config.app.browsers, config.renders, app.metrics.clone());
        AppState {
            renders: Arc::new(renders),
            config: Arc::new(config),
            engine: app.engine.clone(),
            catalog: app.catalog.clone(),
            metrics: app.metrics.clone(),
            verification: app.verification.clone(),
            service: app.service.clone(),
            jobs: app.service.jobs.clone(),
            routing: app.service.routing.clone(),
            review: app.review.clone(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to listen on {0} without API tokens: anyone who can reach it could use the service. \
         Give tokens with --token NAME:ROLE:SECRET (or PIXELPROOF_TOKENS), or listen on 127.0.0.1"
    )]
    OpenWithoutTokens(SocketAddr),
    #[error("could not listen on {addr}: {source}. Is another server using it?")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    App(#[from] AppError),
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// The application: every route with its role, body limit and problem responses.
pub fn router(state: AppState) -> Router {
    let tokens = Arc::new(state.config.tokens.clone());
    let submit = Router::new()
        .route("/v1/render", post(render::render))
        .route("/forms/chromium/convert/html", post(forms::convert_html))
        .route("/forms/{*route}", axum::routing::any(forms::other_route))
        .route("/v1/templates", get(templates::list))
        .route("/v1/templates/{name}", get(templates::detail))
        .route("/v1/jobs", post(jobs::submit).get(jobs::list))
        .route("/v1/jobs/{id}", get(jobs::status).delete(jobs::remove))
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
    let routes = match state.config.app.mode {
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
    let origins = Arc::new(same_origin::Origins::new(state.config.app.public_url.as_deref()));
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
        // Outermost: every answer, a refusal included, carries its X-Request-Id.
        .layer(axum::middleware::from_fn(request_id::tag))
}

/// The start-up verification in detail (operator only).
#[utoipa::path(get, path = "/v1/verification", tag = "operations",
    responses((status = 200, description = "The start-up verification's state and per-template result")),
    security(("bearer" = [])))]
pub async fn verification(State(state): State<AppState>) -> Json<verification::VerificationState> {
    Json(state.verification.state())
}

/// Runs the server until SIGTERM or Ctrl-C: binds, builds the application (`app::App`),
/// prints `listening on http://ADDR`, verifies the templates in the background, and on a
/// signal stops accepting, lets in-flight requests and jobs finish, and closes Chromium.
pub async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    if config.tokens.is_empty() {
        if !config.listen.ip().is_loopback() {
            return Err(ServeError::OpenWithoutTokens(config.listen));
        }
        tracing::warn!("no API tokens configured: every route is open, so the server only listens on loopback");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: config.listen, source })?;
    let app = App::start(config.app.clone(), addr).await?;
    let mut running = app.run();
    let state = AppState::new(&app, config);
    println!("listening on http://{addr}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, templates = state.catalog.templates.len(), "listening");
    let limits = state.config.connections;
    let drain = async {
        shutdown_signal().await;
        // Keep answering (POST /v1/jobs is a 503 now) while the workers finish or re-queue.
        running.drain().await;
        tracing::info!("closing the HTTP server");
    };
    let served = conn::serve(listener, router(state), limits, drain).await;
    running.stop().await;
    app.close().await;
    tracing::info!("server stopped");
    served.map_err(ServeError::Serve)
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
