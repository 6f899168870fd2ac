//! The data directory (default `./data`): the one place that says where the embedded
//! service keeps its state, and opens all of it at once.
//!
//! ```text
//! DATA/queue/      the embedded queue (ready/, inflight/, dead/, tmp/, lock)
//! DATA/objects/    the local object store (jobs/{id}/…, idempotency/…)
//! DATA/routing.json  the routing table
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::queue::{EmbeddedQueue, QueueConfig, QueueError, Recovery};
use crate::routing::{RoutingError, RoutingTable};
use crate::store::{JobStore, LocalStore, StoreError};

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
}

impl Default for DataDir {
    fn default() -> Self {
        DataDir::new(DEFAULT_DATA_DIR)
    }
}
