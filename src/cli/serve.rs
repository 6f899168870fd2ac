//! `pixelproof serve`: run the HTTP service (`app` builds it, `api` serves it). Flags map
//! one-to-one onto [`ServeConfig`] and its `AppConfig`; each has a `PIXELPROOF_*` environment
//! variable. `pixelproof worker` (`cli::worker`) takes the [`Common`] ones; the API's own are
//! in [`Args`] (a worker runs with [`ApiOnly::default`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::api::auth::{Token, Tokens};
use crate::api::jobs::PdfDownload;
use crate::api::ServeConfig;
use crate::app::{AppConfig, Mode};
use crate::data::QueueBackend;

/// The flags `serve` and `worker` share.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Address to listen on (port 0 picks a free port; the chosen one is printed). Default
    /// 127.0.0.1:8080 for `serve`, 127.0.0.1:0 for `worker` (its health and metrics).
    #[arg(long, env = "PIXELPROOF_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The job queue: `embedded` (DATA/queue/, one process) or RabbitMQ,
    /// amqp://USER:PASSWORD@HOST:PORT/VHOST (vhost `/` is %2f), shared with `pixelproof worker`s.
    #[arg(long, env = "PIXELPROOF_QUEUE", default_value = "embedded", hide_env_values = true)]
    pub queue: String,
    /// Where jobs' records, PDFs and artifacts live: `local` (DATA/objects/) or
    /// s3://BUCKET/PREFIX, configured by AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY (path-style addressing, for S3-compatible servers too).
    #[arg(long, env = "PIXELPROOF_STORE", default_value = "local")]
    pub store: String,
    /// RabbitMQ queue name; `NAME.delay` and `NAME.dead` hold retries and dead letters,
    /// `NAME.results` (a fanout exchange) carries an event for every settled job.
    #[arg(long, env = "PIXELPROOF_QUEUE_NAME", default_value = "pixelproof.jobs")]
    pub queue_name: String,
    /// The service's data directory (start-up check report, job store). `--data` is its old
    /// name, kept (hidden) for one release.
    #[arg(long = "data-dir", alias = "data", value_name = "DIR", env = "PIXELPROOF_DATA", default_value = "data")]
    pub data_dir: PathBuf,
    /// Templates directory. Default: ./templates, else the bundled one.
    #[arg(long, env = "PIXELPROOF_TEMPLATES")]
    pub templates: Option<PathBuf>,
    /// Baselines directory, or a bucket shared by a fleet: s3://BUCKET/PREFIX (with the AWS_* variables).
    /// Default: ./baselines, else the bundled one (found as the templates are).
    #[arg(long, env = "PIXELPROOF_BASELINES", value_name = "DIR|s3://BUCKET/PREFIX")]
    pub baselines: Option<PathBuf>,
    /// Bundled fonts directory.
    #[arg(long, env = "PIXELPROOF_FONTS")]
    pub fonts: Option<PathBuf>,
    /// Chromium processes kept warm: how many documents this process proves at once.
    /// Default 2.
    #[arg(long, env = "PIXELPROOF_BROWSERS", value_name = "N")]
    pub browsers: Option<usize>,
    /// Worker tasks taking queued jobs in this process (an API-only server runs none). More
    /// tasks than browsers keep a browser busy while a job is stored or announced. Default:
    /// --browsers.
    #[arg(long, env = "PIXELPROOF_WORKER_TASKS", value_name = "N")]
    pub worker_tasks: Option<usize>,
    /// With RabbitMQ: jobs the broker hands this process before it acknowledges one (AMQP
    /// prefetch); the rest stay ready for other workers. Default: --worker-tasks.
    #[arg(long, env = "PIXELPROOF_PREFETCH", value_name = "N")]
    pub prefetch: Option<u16>,
    /// The old name for all three: sets --browsers, --worker-tasks and --prefetch at once (each
    /// given on its own wins). Kept, hidden, for one release.
    #[arg(long, env = "PIXELPROOF_WORKERS", value_name = "N", hide = true)]
    pub workers: Option<usize>,
    /// An API token NAME:ROLE:SECRET, ROLE submit or operator (repeatable; the variable
    /// takes a comma-separated list). Without tokens the server only listens on loopback.
    #[arg(long = "token", env = "PIXELPROOF_TOKENS", value_delimiter = ',', hide_env_values = true)]
    pub tokens: Vec<Token>,
    /// Pages a document may have (Chromium stops printing one page past it).
    #[arg(long, env = "PIXELPROOF_MAX_PAGES", default_value_t = 200)]
    pub max_pages: usize,
    /// Bytes of a job's HTML: its `html`, or what its template renders to.
    #[arg(long, env = "PIXELPROOF_MAX_HTML_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_html_bytes: usize,
    /// Bytes of a template job's `data`, as JSON.
    #[arg(long, env = "PIXELPROOF_MAX_DATA_BYTES", default_value_t = 1024 * 1024)]
    pub max_data_bytes: usize,
    /// Nesting depth of a template job's `data` (objects and arrays; at most 100).
    #[arg(long, env = "PIXELPROOF_MAX_DATA_DEPTH", default_value_t = 32)]
    pub max_data_depth: usize,
    /// Decoded bytes of an HTML job's `assets`, all together.
    #[arg(long, env = "PIXELPROOF_MAX_ASSET_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_asset_bytes: usize,
    /// Seconds a document may take to print.
    #[arg(long, env = "PIXELPROOF_RENDER_TIMEOUT_SECS", default_value_t = 30)]
    pub render_timeout_secs: u64,
    /// Seconds the fallback renderer (WeasyPrint) may take to print a document. Default: twice
    /// --render-timeout-secs.
    #[arg(long, env = "PIXELPROOF_FALLBACK_TIMEOUT_SECS")]
    pub fallback_timeout_secs: Option<u64>,
    /// Jobs the queue may hold (waiting + running); more submissions get 429 with Retry-After.
    #[arg(long, env = "PIXELPROOF_MAX_QUEUE", default_value_t = 1000)]
    pub max_queue: usize,
    /// Signs webhooks (Standard Webhooks): `whsec_BASE64` for every submitter, or
    /// `NAME=whsec_BASE64` for token NAME's jobs (repeatable; the variable takes a comma-separated list).
    #[arg(long = "webhook-secret", env = "PIXELPROOF_WEBHOOK_SECRETS", value_delimiter = ',', hide_env_values = true)]
    pub webhook_secrets: Vec<String>,
    /// The submitter of jobs apps publish to RabbitMQ without a `submitter` field.
    #[arg(long, env = "PIXELPROOF_DEFAULT_SUBMITTER", default_value = "queue")]
    pub default_submitter: String,
    /// After SIGTERM, seconds jobs in flight may take to finish before they go back to the queue.
    #[arg(long, env = "PIXELPROOF_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
    /// Let webhooks (callback_url) reach loopback and private addresses (off by default: SSRF).
    #[arg(long, env = "PIXELPROOF_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// Base URL clients reach this server at, for `status_url` and `pdf_url` (default
    /// `http://` + the listening address).
    #[arg(long, env = "PIXELPROOF_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
    /// The render cache: `on` answers a job whose document (HTML, assets, options, data),
    /// environment (Chromium, PDFium, fonts), baseline and rules match a job that already
    /// shipped with that job's proved PDF, without rendering (the record says `"cache": "hit"`);
    /// `off` renders every job. Entries are kept in the job store under `cache/`.
    #[arg(long, env = "PIXELPROOF_RENDER_CACHE", value_enum, default_value_t = Switch::On)]
    pub render_cache: Switch,
    #[command(flatten)]
    pub connections: crate::api::conn::ConnArgs,
}

/// Arguments of `pixelproof serve`: the shared flags and those of the API alone.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// With `--queue amqp://…`: take no queued jobs here, leave them to `pixelproof worker`s
    /// (`POST /v1/render` still prints in this process).
    #[arg(long, env = "PIXELPROOF_API_ONLY")]
    pub api_only: bool,
    /// With an S3 store: seconds a PDF download link (GET /v1/jobs/ID/pdf redirects to it) stays valid.
    #[arg(long, env = "PIXELPROOF_PRESIGN_TTL_SECS", default_value_t = 300)]
    pub presign_ttl_secs: u64,
    /// With an S3 store: the S3 endpoint clients reach (e.g. http://localhost:9000), when it is
    /// not AWS_ENDPOINT_URL (e.g. http://minio:9000 inside a compose network). Download links
    /// are signed for it.
    #[arg(long, env = "PIXELPROOF_S3_PUBLIC_ENDPOINT", value_name = "URL")]
    pub s3_public_endpoint: Option<String>,
    /// With an S3 store, how GET /v1/jobs/ID/pdf hands out a PDF: `redirect` answers 307 to a
    /// download link on S3 (clients follow it: `curl -L`); `proxy` streams the PDF through the
    /// API, for clients that can reach only the API.
    #[arg(long, env = "PIXELPROOF_PDF_DOWNLOAD", value_enum, default_value_t = PdfDownload::Redirect)]
    pub pdf_download: PdfDownload,
    /// Largest request body, in bytes.
    #[arg(long, env = "PIXELPROOF_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Jobs one submitter (token) may have waiting or running; more get 429 with Retry-After.
    /// Default: no cap per submitter (only --max-queue).
    #[arg(long, env = "PIXELPROOF_MAX_QUEUE_PER_SUBMITTER")]
    pub max_queue_per_submitter: Option<usize>,
    /// Remove settled jobs (done, fallback, failed: record, PDF, artifacts, cache entry) this
    /// many days after they settled, at start and every hour (in this process only, not in `pixelproof worker`s); their ids then answer 410. Held
    /// jobs are kept until decided. Default: keep everything.
    #[arg(long, env = "PIXELPROOF_RETAIN_DAYS", value_name = "DAYS")]
    pub retain_days: Option<u32>,
    /// POST /v1/render and the form route: renders that may wait for a browser beyond those
    /// rendering (one per --browsers); more are answered 429 with Retry-After at once.
    #[arg(long, env = "PIXELPROOF_MAX_WAITING_RENDERS", value_name = "N", default_value_t = 16)]
    pub max_waiting_renders: usize,
    /// POST /v1/render and the form route: seconds a render may wait for a browser before it is
    /// answered 503 with Retry-After (the render itself is bounded by --render-timeout-secs).
    #[arg(long, env = "PIXELPROOF_API_TIMEOUT_SECS", value_name = "SECS", default_value_t = 60)]
    pub api_timeout_secs: u64,
}

/// What only the API process takes; a worker runs with the defaults.
#[derive(Debug, Clone)]
pub struct ApiOnly {
    pub api_only: bool,
    pub presign_ttl_secs: u64,
    pub s3_public_endpoint: Option<String>,
    pub pdf_download: PdfDownload,
    pub max_body_bytes: usize,
    pub max_queue_per_submitter: Option<usize>,
    pub renders: crate::service::admission::RenderLimits,
    pub retain_days: Option<u32>,
}

impl Default for ApiOnly {
    fn default() -> Self {
        ApiOnly {
            api_only: false,
            presign_ttl_secs: 300,
            s3_public_endpoint: None,
            pdf_download: PdfDownload::Redirect,
            max_body_bytes: 16 * 1024 * 1024,
            max_queue_per_submitter: None,
            renders: crate::service::admission::RenderLimits::default(),
            retain_days: None,
        }
    }
}

impl Args {
    /// The configuration of `pixelproof serve`.
    pub fn config(self) -> anyhow::Result<ServeConfig> {
        let api = ApiOnly {
            api_only: self.api_only,
            presign_ttl_secs: self.presign_ttl_secs,
            s3_public_endpoint: self.s3_public_endpoint,
            pdf_download: self.pdf_download,
            max_body_bytes: self.max_body_bytes,
            max_queue_per_submitter: self.max_queue_per_submitter,
            renders: crate::service::admission::RenderLimits {
                max_waiting: self.max_waiting_renders,
                wait: Duration::from_secs(self.api_timeout_secs),
            },
            retain_days: self.retain_days,
        };
        self.common.config(Mode::Api, api)
    }
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Common {
    /// The configuration these flags (and `api`'s) give a process of `mode`.
    pub fn config(self, mode: Mode, api: ApiOnly) -> anyhow::Result<ServeConfig> {
        let browsers = self.browsers.or(self.workers).unwrap_or(2);
        anyhow::ensure!((1..=64).contains(&browsers), "--browsers must be from 1 to 64, not {browsers}");
        let worker_tasks = self.worker_tasks.or(self.workers).unwrap_or(browsers);
        anyhow::ensure!((1..=256).contains(&worker_tasks), "--worker-tasks must be from 1 to 256, not {worker_tasks}");
        let prefetch = match (self.prefetch, self.workers) {
            (Some(p), _) => usize::from(p),
            (None, Some(w)) => w,
            (None, None) => worker_tasks,
        };
        anyhow::ensure!((1..=1000).contains(&prefetch), "--prefetch must be from 1 to 1000, not {prefetch}");
        anyhow::ensure!(self.max_pages >= 1, "--max-pages must be at least 1");
        anyhow::ensure!(self.render_timeout_secs >= 1, "--render-timeout-secs must be at least 1");
        anyhow::ensure!(self.fallback_timeout_secs != Some(0), "--fallback-timeout-secs must be at least 1");
        anyhow::ensure!(self.max_queue >= 1, "--max-queue must be at least 1");
        anyhow::ensure!(
            api.retain_days.is_none_or(|d| (1..=36500).contains(&d)),
            "--retain-days must be from 1 to 36500 (leave it out to keep every job)"
        );
        anyhow::ensure!(api.max_queue_per_submitter != Some(0), "--max-queue-per-submitter must be at least 1");
        anyhow::ensure!(!self.default_submitter.trim().is_empty(), "--default-submitter must not be empty");
        let webhook_secrets =
            crate::webhook::signature::Secrets::parse(&self.webhook_secrets).context("--webhook-secret")?;
        anyhow::ensure!(api.max_body_bytes >= 1024, "--max-body-bytes must be at least 1024");
        anyhow::ensure!(
            (1..=3600).contains(&api.renders.wait.as_secs()),
            "--api-timeout-secs must be from 1 to 3600, not {}",
            api.renders.wait.as_secs()
        );
        anyhow::ensure!(self.max_html_bytes >= 1, "--max-html-bytes must be at least 1");
        // serde_json refuses JSON nested deeper than 128 levels before any limit of ours is asked.
        anyhow::ensure!(
            (1..=100).contains(&self.max_data_depth),
            "--max-data-depth must be from 1 to 100, not {}",
            self.max_data_depth
        );
        let connections = self.connections.limits()?;
        let defaults = ServeConfig::default();
        let queue = QueueBackend::parse(&self.queue, &self.queue_name, self.max_queue, prefetch as u16)
            .map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            (1..=7 * 24 * 3600).contains(&api.presign_ttl_secs),
            "--presign-ttl-secs must be from 1 to 604800 (S3's limit is 7 days), not {}",
            api.presign_ttl_secs
        );
        let mut store = crate::data::StoreBackend::parse(&self.store, Duration::from_secs(api.presign_ttl_secs))?;
        if let Some(public) = api.s3_public_endpoint.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            let crate::data::StoreBackend::S3(s3) = &mut store else {
                anyhow::bail!(
                    "--s3-public-endpoint is for an S3 store (--store s3://…); with --store {} the API serves PDFs itself",
                    self.store
                )
            };
            s3.public_endpoint_url = Some(crate::store::endpoint_url("--s3-public-endpoint", public)?);
        }
        let listen = self.listen.unwrap_or(match mode {
            Mode::Api => defaults.listen,
            Mode::Worker => SocketAddr::from(([127, 0, 0, 1], 0)),
        });
        let app = AppConfig {
            queue,
            store,
            mode,
            api_only: api.api_only && mode == Mode::Api,
            data_dir: self.data_dir,
            templates_dir: self.templates.unwrap_or(defaults.app.templates_dir),
            baselines_dir: self.baselines.unwrap_or(defaults.app.baselines_dir),
            fonts_dir: self.fonts.unwrap_or(defaults.app.fonts_dir),
            browsers,
            worker_tasks,
            limits: crate::request::Limits {
                max_pages: self.max_pages,
                max_html_bytes: self.max_html_bytes,
                max_data_bytes: self.max_data_bytes,
                max_data_depth: self.max_data_depth,
                max_asset_bytes: self.max_asset_bytes,
            },
            render_timeout: Duration::from_secs(self.render_timeout_secs),
            fallback_timeout: self.fallback_timeout_secs.map(Duration::from_secs),
            max_queue_per_submitter: api.max_queue_per_submitter,
            webhook_secrets,
            default_submitter: self.default_submitter,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            webhook_allow_private: self.webhook_allow_private,
            retry_backoff: defaults.app.retry_backoff,
            public_url: self.public_url.map(|u| u.as_str().trim_end_matches('/').to_string()),
            render_cache: self.render_cache == Switch::On,
            retain_days: api.retain_days,
        };
        Ok(ServeConfig {
            app,
            listen,
            tokens: Tokens::new(self.tokens)?,
            max_body_bytes: api.max_body_bytes,
            connections,
            pdf_download: api.pdf_download,
            renders: api.renders,
        })
    }
}

pub fn run(args: Args) -> super::CliResult {
    let config = args.config()?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    runtime.block_on(crate::api::serve(config))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    /// (browsers, worker tasks, AMQP prefetch) for these flags.
    fn sizes(flags: &[&str]) -> anyhow::Result<(usize, usize, u16)> {
        let argv = ["serve", "--queue", "amqp://guest:guest@127.0.0.1:5672/%2f"].iter().chain(flags);
        let config = Cli::try_parse_from(argv)?.args.config()?;
        let QueueBackend::Amqp(amqp) = &config.app.queue else { anyhow::bail!("not the AMQP queue") };
        Ok((config.app.browsers, config.app.worker_tasks, amqp.prefetch))
    }

    #[test]
    fn browsers_worker_tasks_and_prefetch_are_three_flags_and_workers_sets_all_three() {
        assert_eq!(sizes(&[]).unwrap(), (2, 2, 2));
        assert_eq!(sizes(&["--browsers", "4"]).unwrap(), (4, 4, 4), "each defaults to the one before");
        assert_eq!(sizes(&["--browsers", "1", "--worker-tasks", "3", "--prefetch", "9"]).unwrap(), (1, 3, 9));
        assert_eq!(sizes(&["--workers", "3"]).unwrap(), (3, 3, 3), "the old flag sets all three");
        assert_eq!(sizes(&["--workers", "3", "--prefetch", "10"]).unwrap(), (3, 3, 10), "a new flag wins");
        let err = sizes(&["--browsers", "0"]).unwrap_err().to_string();
        assert!(err.contains("--browsers must be from 1 to 64"), "{err}");
        let err = sizes(&["--prefetch", "0"]).unwrap_err().to_string();
        assert!(err.contains("--prefetch"), "{err}");
    }

    #[test]
    fn the_data_directory_is_data_dir_and_data_is_its_old_name() {
        let dir = |flags: &[&str]| {
            let argv = ["serve"].iter().chain(flags);
            Cli::try_parse_from(argv).map(|c| c.args.common.data_dir).map_err(|e| e.to_string())
        };
        assert_eq!(dir(&["--data-dir", "/srv/a"]).unwrap(), PathBuf::from("/srv/a"));
        assert_eq!(dir(&["--data", "/srv/b"]).unwrap(), PathBuf::from("/srv/b"));
        assert_eq!(dir(&[]).unwrap(), PathBuf::from("data"));
    }
}
