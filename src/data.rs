//! The data directory (default `./data`): the one place that says where the embedded
//! service keeps its state, and opens all of it at once.
//!
//! ```text
//! DATA/queue/      the embedded queue (ready/, inflight/, dead/, tmp/, lock); not opened
//!                  when the queue is RabbitMQ (`QueueBackend::Amqp`)
//! DATA/objects/    the local object store (jobs/{id}/…, idempotency/…)
//! DATA/routing.json  the routing table
//! DATA/audit.jsonl   the operators' audit log
//!                  (with an S3 store both are in the bucket: `routing.json`, `review-audit/`;
//!                  see `DataDir::open_with`)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::jobs::JobStore;
use crate::queue::{AmqpConfig, AmqpQueue, EmbeddedQueue, Queue, QueueConfig, QueueError, Recovery};
use crate::review::audit::AuditLog;
use crate::routing::{RoutingError, RoutingTable};
use crate::store::{LocalStore, ObjectStore, S3Config, S3Store, StoreError};

/// The default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "data";

/// Why the data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Routing(#[from] RoutingError),
}

/// Which queue the service uses (`--queue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueBackend {
    /// `DATA/queue/`: durable, nothing to install, one process per data directory (the default).
    Embedded(QueueConfig),
    /// RabbitMQ: one queue shared by the API process and any number of `pixelproof worker`s.
    Amqp(AmqpConfig),
}

impl QueueBackend {
    /// Reads `--queue`: `embedded`, or an `amqp://USER:PASSWORD@HOST:PORT/VHOST` URL (the
    /// vhost `/` is written `%2f`). `max_len` and `prefetch` come from `--max-queue` and
    /// `--prefetch`; `queue_name` from `--queue-name`.
    pub fn parse(spec: &str, queue_name: &str, max_len: usize, prefetch: u16) -> Result<QueueBackend, String> {
        let spec = spec.trim();
        if spec.is_empty() || spec == "embedded" {
            return Ok(QueueBackend::Embedded(QueueConfig { max_len: max_len.max(1), ..QueueConfig::default() }));
        }
        let lower = spec.to_ascii_lowercase();
        if lower.starts_with("amqps://") {
            return Err("amqps:// (TLS) is not built into pixelproof: use amqp:// on a private network, or a \
                        TLS-terminating proxy in front of RabbitMQ"
                .to_string());
        }
        if !lower.starts_with("amqp://") {
            return Err(format!(
                "--queue takes `embedded` or an amqp://USER:PASSWORD@HOST:PORT/VHOST URL, not {:?}",
                spec.split('@').next_back().unwrap_or(spec)
            ));
        }
        if queue_name.is_empty() || queue_name.len() > 200 {
            return Err("--queue-name must be 1 to 200 characters".to_string());
        }
        Ok(QueueBackend::Amqp(AmqpConfig {
            url: spec.to_string(),
            queue_name: queue_name.to_string(),
            prefetch: prefetch.max(1),
            max_len: max_len.max(1),
            ..AmqpConfig::default()
        }))
    }

    /// Whether several processes can share this queue.
    pub fn is_shared(&self) -> bool {
        matches!(self, QueueBackend::Amqp(_))
    }
}

/// Where jobs' records, PDFs and artifacts live (`--store`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// `DATA/objects/` (the default).
    Local,
    /// A bucket on S3 or an S3-compatible server: every process of a fleet reads and writes it.
    S3(Box<S3Config>),
}

impl StoreBackend {
    /// Reads `--store`: `local`, or `s3://BUCKET/PREFIX` with the `AWS_*` variables
    /// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    pub fn parse(spec: &str, presign_ttl: std::time::Duration) -> Result<StoreBackend, StoreError> {
        let spec = spec.trim();
        if spec.is_empty() || spec == "local" {
            return Ok(StoreBackend::Local);
        }
        let mut config = S3Config::from_url(spec)?;
        config.presign_ttl = presign_ttl;
        Ok(StoreBackend::S3(Box::new(config)))
    }

    pub fn is_shared(&self) -> bool {
        matches!(self, StoreBackend::S3(_))
    }
}

/// The service's state, opened: the queue chosen by [`QueueBackend`] (with what an embedded
/// queue recovered), the job store and the routing table.
#[derive(Debug)]
pub struct Opened {
    pub queue: Arc<dyn Queue>,
    pub recovery: Recovery,
    pub jobs: JobStore,
    pub routing: RoutingTable,
    /// The operators' audit log (`DATA/audit.jsonl`, or objects in the bucket); the API takes it.
    pub audit: Option<AuditLog>,
}

/// Paths inside one data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

/// Everything the embedded service keeps, opened: the queue (with what it recovered from a
/// previous process), the job store and the routing table.
#[derive(Debug)]
pub struct Embedded {
    pub queue: EmbeddedQueue,
    pub recovery: Recovery,
    pub jobs: JobStore,
    pub routing: RoutingTable,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn queue_dir(&self) -> PathBuf {
        self.root.join("queue")
    }

    pub fn objects_dir(&self) -> PathBuf {
        self.root.join("objects")
    }

    pub fn routing_file(&self) -> PathBuf {
        self.root.join("routing.json")
    }

    /// Opens the queue (taking the directory's lock), the object store and the routing table.
    pub fn open(&self, queue: QueueConfig) -> Result<Embedded, DataError> {
        let (queue, recovery) = EmbeddedQueue::open(self.queue_dir(), queue)?;
        let jobs = JobStore::new(Arc::new(LocalStore::open(self.objects_dir())?));
        let routing = RoutingTable::load(self.routing_file())?;
        Ok(Embedded { queue, recovery, jobs, routing })
    }

    /// Opens the service's state with the chosen queue. With RabbitMQ the embedded queue (and
    /// its lock) is not opened, so several processes may share this directory's object
    /// store and routing table (all their writes are atomic between processes). With an S3
    /// store the routing table is the bucket's `routing.json`, shared by every machine.
    pub async fn open_with(&self, queue: &QueueBackend, store: &StoreBackend) -> Result<Opened, DataError> {
        let (objects, routing, audit): (Arc<dyn ObjectStore>, RoutingTable, AuditLog) = match store {
            StoreBackend::Local => (
                Arc::new(LocalStore::open(self.objects_dir())?),
                RoutingTable::load(self.routing_file())?,
                AuditLog::new(self.root.join(crate::review::audit::AUDIT_FILE)),
            ),
            StoreBackend::S3(config) => {
                // One client for the jobs, the routing table and the audit log.
                let objects: Arc<dyn ObjectStore> = Arc::new(S3Store::connect(S3Config::clone(config)).await?);
                let base = config.url();
                let routing =
                    RoutingTable::load_object(objects.clone(), format!("{base}/{}", crate::routing::ROUTING_OBJECT))
                        .await?;
                let audit =
                    AuditLog::in_store(objects.clone(), format!("{base}/{}", crate::review::audit::AUDIT_OBJECTS));
                (objects, routing, audit)
            }
        };
        let jobs = JobStore::new(objects);
        match queue {
            QueueBackend::Embedded(config) => {
                let (queue, recovery) = EmbeddedQueue::open(self.queue_dir(), *config)?;
                Ok(Opened { queue: Arc::new(queue), recovery, jobs, routing, audit: Some(audit) })
            }
            QueueBackend::Amqp(config) => {
                let queue = AmqpQueue::connect(config.clone()).await?;
                Ok(Opened { queue: Arc::new(queue), recovery: Recovery::default(), jobs, routing, audit: Some(audit) })
            }
        }
    }
}

impl Default for DataDir {
    fn default() -> Self {
        DataDir::new(DEFAULT_DATA_DIR)
    }
}
