//! [`EmbeddedQueue`]: a durable queue in a directory (default `DATA/queue/`), with nothing to
//! install. Each job is one empty file whose *name* carries its state, so every change is a
//! single atomic `rename(2)` followed by an fsync of the directories:
//!
//! * `ready/{id}.{attempts}.{not_before_ms}` — waiting (FIFO by id, i.e. by ULID time);
//! * `inflight/{id}.{attempts}` — handed to a worker;
//! * `dead/{id}.{attempts}` + `dead/{id}.why` — given up on, with the reason;
//! * `tmp/` — files being made; `lock` — held exclusively by the process that opened the queue.
//!
//! A job is in exactly one of these places at every instant, so `kill -9` can neither lose
//! nor duplicate it. On [`EmbeddedQueue::open`], deliveries left in flight by a dead process
//! go back to ready with one more attempt, or to dead once they have used all their attempts;
//! [`Recovery`] lists both so the service can mark those jobs.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{DeadLetter, Delivery, Queue, QueueDepth, QueueError, Retried};
use crate::durable;
use crate::jobs::JobId;

/// Limits of an embedded queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Most jobs ready + in flight at once; `enqueue` answers [`QueueError::Full`] beyond.
    pub max_len: usize,
    /// Deliveries a job gets before it goes to the dead letters.
    pub max_attempts: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig { max_len: 10_000, max_attempts: 3 }
    }
}

/// What `open` found left over by a process that stopped without closing the queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Deliveries that were in flight and are ready again (with one more attempt).
    pub requeued: Vec<JobId>,
    /// Deliveries that were in flight and had used their last attempt: now dead letters.
    pub dead: Vec<DeadLetter>,
}

/// The directory-backed durable queue (see the module doc).
#[derive(Debug, Clone)]
pub struct EmbeddedQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dirs: Dirs,
    config: QueueConfig,
    state: Mutex<State>,
    wake: Notify,
    // Held for the queue's whole life: the OS releases it when the process dies.
    _lock: File,
}

#[derive(Debug)]
struct Dirs {
    ready: PathBuf,
    inflight: PathBuf,
    dead: PathBuf,
    tmp: PathBuf,
}

#[derive(Debug, Clone, Copy)]
struct Waiting {
    attempts: u32,
    not_before_ms: u64,
}

#[derive(Debug, Default)]
struct State {
    ready: BTreeMap<JobId, Waiting>,
    inflight: HashMap<JobId, u32>,
    dead: BTreeMap<JobId, u32>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> QueueError + '_ {
    move |source| QueueError::Io { path: path.to_path_buf(), source }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Dirs {
    fn ready_file(&self, job: JobId, w: Waiting) -> PathBuf {
        self.ready.join(format!("{job}.{}.{}", w.attempts, w.not_before_ms))
    }
    fn inflight_file(&self, job: JobId, attempts: u32) -> PathBuf {
        self.inflight.join(format!("{job}.{attempts}"))
    }
    fn dead_file(&self, job: JobId, attempts: u32) -> PathBuf {
        self.dead.join(format!("{job}.{attempts}"))
    }
    fn why_file(&self, job: JobId) -> PathBuf {
        self.dead.join(format!("{job}.why"))
    }
}

/// The files of one queue directory as (path, id, numbers after the id).
fn scan(dir: &Path, numbers: usize) -> Result<Vec<(PathBuf, JobId, Vec<u64>)>, QueueError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.ends_with(".why") {
            continue;
        }
        let corrupt = |detail: &str| QueueError::Corrupt { path: path.clone(), detail: detail.to_string() };
        let mut parts = name.split('.');
        let id = JobId::parse(parts.next().unwrap_or_default()).map_err(|_| corrupt("its name is not a job id"))?;
        let nums: Vec<u64> =
            parts.map(|p| p.parse::<u64>()).collect::<Result<_, _>>().map_err(|_| corrupt("bad number"))?;
        if nums.len() != numbers {
            return Err(corrupt("its name does not have the queue's form"));
        }
        found.push((path, id, nums));
    }
    Ok(found)
}

impl EmbeddedQueue {
    /// Opens (creating it if needed) the queue in `dir`, taking its lock, and recovers what a
    /// previous process left in flight. Fails with [`QueueError::Locked`] while another
    /// process has it open.
    pub fn open(dir: impl Into<PathBuf>, config: QueueConfig) -> Result<(EmbeddedQueue, Recovery), QueueError> {
        let dir = dir.into();
        let dirs = Dirs {
            ready: dir.join("ready"),
            inflight: dir.join("inflight"),
            dead: dir.join("dead"),
            tmp: dir.join("tmp"),
        };
        for d in [&dirs.ready, &dirs.inflight, &dirs.dead, &dirs.tmp] {
            std::fs::create_dir_all(d).map_err(io_err(d))?;
        }
        let lock_path = dir.join("lock");
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(QueueError::Locked { dir, lock: lock_path }),
            Err(TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        // Leftovers of interrupted writes: nobody else can be writing now (we hold the lock).
        for entry in std::fs::read_dir(&dirs.tmp).map_err(io_err(&dirs.tmp))?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }

        let mut state = State::default();
        for (_, id, n) in scan(&dirs.ready, 2)? {
            state.ready.insert(id, Waiting { attempts: n[0] as u32, not_before_ms: n[1] });
        }
        for (_, id, n) in scan(&dirs.dead, 1)? {
            state.dead.insert(id, n[0] as u32);
        }
        let queue = EmbeddedQueue {
            inner: Arc::new(Inner { dirs, config, state: Mutex::new(state), wake: Notify::new(), _lock: lock }),
        };
        let recovery = queue.recover()?;
        if !recovery.requeued.is_empty() || !recovery.dead.is_empty() {
            tracing::warn!(
                dir = %dir.display(),
                requeued = recovery.requeued.len(),
                dead = recovery.dead.len(),
                "the queue had deliveries in flight from a process that stopped: requeued or gave up on them"
            );
        }
        Ok((queue, recovery))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the files consistent (they are the truth).
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn recover(&self) -> Result<Recovery, QueueError> {
        let dirs = &self.inner.dirs;
        let mut recovery = Recovery::default();
        let mut leftovers = scan(&dirs.inflight, 1)?;
        leftovers.sort_by_key(|(_, id, _)| *id);
        let mut state = self.state();
        for (path, id, n) in leftovers {
            let attempts = n[0] as u32 + 1;
            if attempts >= self.inner.config.max_attempts {
                let why = format!(
                    "its worker stopped while working on it, {attempts} deliveries out of {} allowed",
                    self.inner.config.max_attempts
                );
                self.move_to_dead(&mut state, &path, id, attempts, &why)?;
                recovery.dead.push(DeadLetter { job: id, attempts, why });
            } else {
                let w = Waiting { attempts, not_before_ms: 0 };
                durable::rename_durable(&path, &dirs.ready_file(id, w)).map_err(io_err(&path))?;
                state.ready.insert(id, w);
                recovery.requeued.push(id);
            }
        }
        Ok(recovery)
    }

    fn move_to_dead(
        &self,
        state: &mut State,
        from: &Path,
        job: JobId,
        attempts: u32,
        why: &str,
    ) -> Result<(), QueueError> {
        let dirs = &self.inner.dirs;
        let why_path = dirs.why_file(job);
        // The reason first: a crash between the two leaves an orphan reason, never a reasonless job.
        durable::write_atomic(&why_path, &dirs.tmp, why.as_bytes()).map_err(io_err(&why_path))?;
        durable::rename_durable(from, &dirs.dead_file(job, attempts)).map_err(io_err(from))?;
        state.inflight.remove(&job);
        state.dead.insert(job, attempts);
        Ok(())
    }

    /// Every dead letter with its reason, oldest job first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        let dead: Vec<(JobId, u32)> = self.state().dead.iter().map(|(k, v)| (*k, *v)).collect();
        let mut letters = Vec::with_capacity(dead.len());
        for (job, attempts) in dead {
            let path = self.inner.dirs.why_file(job);
            let why = match std::fs::read_to_string(&path) {
                Ok(why) => why,
                Err(e) if e.kind() == io::ErrorKind::NotFound => "no reason recorded".to_string(),
                Err(e) => return Err(io_err(&path)(e)),
            };
            letters.push(DeadLetter { job, attempts, why });
        }
        Ok(letters)
    }

    /// Removes a dead letter, e.g. one `open` made for a job whose record shows it finished
    /// (killed after its result was stored but before the ack). `false` if it was not dead.
    pub fn forget_dead(&self, job: JobId) -> Result<bool, QueueError> {
        let mut state = self.state();
        let Some(attempts) = state.dead.get(&job).copied() else { return Ok(false) };
        let path = self.inner.dirs.dead_file(job, attempts);
        durable::remove_durable(&path).map_err(io_err(&path))?;
        state.dead.remove(&job);
        let why = self.inner.dirs.why_file(job);
        durable::remove_durable(&why).map_err(io_err(&why))?;
        Ok(true)
    }

    /// Whether `job` is anywhere in the queue (ready, in flight or dead).
    pub fn contains(&self, job: JobId) -> bool {
        let s = self.state();
        s.ready.contains_key(&job) || s.inflight.contains_key(&job) || s.dead.contains_key(&job)
    }

    /// The ids waiting, in delivery order (ignoring delays).
    pub fn ready_jobs(&self) -> Vec<JobId> {
        self.state().ready.keys().copied().collect()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&EmbeddedQueue) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| QueueError::Unavailable { detail: format!("a queue task stopped: {e}") })?
    }

    fn enqueue_now(&self, job: JobId) -> Result<(), QueueError> {
        let dirs = &self.inner.dirs;
        let mut state = self.state();
        if state.ready.contains_key(&job) || state.inflight.contains_key(&job) || state.dead.contains_key(&job) {
            return Ok(());
        }
        let limit = self.inner.config.max_len;
        if state.ready.len() + state.inflight.len() >= limit {
            return Err(QueueError::Full { limit });
        }
        let w = Waiting { attempts: 0, not_before_ms: 0 };
        let tmp = durable::write_temp(&dirs.tmp, &[]).map_err(io_err(&dirs.tmp))?;
        let dest = dirs.ready_file(job, w);
        durable::rename_durable(&tmp, &dest).map_err(io_err(&dest))?;
        state.ready.insert(job, w);
        Ok(())
    }

    /// Takes the oldest job that is ready now; otherwise says when the next delayed one is.
    fn take_now(&self) -> Result<Result<Delivery, Option<u64>>, QueueError> {
        let dirs = &self.inner.dirs;
        let now = now_ms();
        let mut state = self.state();
        let next = state.ready.iter().find(|(_, w)| w.not_before_ms <= now).map(|(id, w)| (*id, *w));
        let Some((job, w)) = next else {
            return Ok(Err(state.ready.values().map(|w| w.not_before_ms).min()));
        };
        let from = dirs.ready_file(job, w);
        let to = dirs.inflight_file(job, w.attempts);
        durable::rename_durable(&from, &to).map_err(io_err(&from))?;
        state.ready.remove(&job);
        state.inflight.insert(job, w.attempts);
        Ok(Ok(Delivery {
            job,
            attempts: w.attempts,
            receipt: format!("{job}.{}", w.attempts),
            request: None,
            submitter: None,
        }))
    }

    /// Checks that `delivery` is in flight and returns its file.
    fn inflight_path(&self, state: &State, delivery: &Delivery) -> Result<PathBuf, QueueError> {
        match state.inflight.get(&delivery.job) {
            Some(a) if format!("{}.{a}", delivery.job) == delivery.receipt => {
                Ok(self.inner.dirs.inflight_file(delivery.job, *a))
            }
            _ => Err(QueueError::UnknownDelivery { job: delivery.job, receipt: delivery.receipt.clone() }),
        }
    }

    fn ack_now(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let mut state = self.state();
        let path = self.inflight_path(&state, delivery)?;
        durable::remove_durable(&path).map_err(io_err(&path))?;
        state.inflight.remove(&delivery.job);
        Ok(())
    }

    fn retry_now(&self, delivery: &Delivery, delay: Duration) -> Result<Retried, QueueError> {
        let mut state = self.state();
        let path = self.inflight_path(&state, delivery)?;
        let attempts = delivery.attempts + 1;
        let max = self.inner.config.max_attempts;
        if attempts >= max {
            let why = format!("it failed {attempts} deliveries out of {max} allowed");
            self.move_to_dead(&mut state, &path, delivery.job, attempts, &why)?;
            return Ok(Retried::Dead(DeadLetter { job: delivery.job, attempts, why }));
        }
        let w = Waiting { attempts, not_before_ms: now_ms() + delay.as_millis() as u64 };
        let dest = self.inner.dirs.ready_file(delivery.job, w);
        durable::rename_durable(&path, &dest).map_err(io_err(&path))?;
        state.inflight.remove(&delivery.job);
        state.ready.insert(delivery.job, w);
        Ok(Retried::Later { attempts })
    }

    fn dead_now(&self, delivery: &Delivery, why: &str) -> Result<(), QueueError> {
        let mut state = self.state();
        let path = self.inflight_path(&state, delivery)?;
        self.move_to_dead(&mut state, &path, delivery.job, delivery.attempts + 1, why)
    }
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn enqueue(&self, job: JobId) -> Result<(), QueueError> {
        self.blocking(move |q| q.enqueue_now(job)).await?;
        self.inner.wake.notify_one();
        Ok(())
    }

    async fn dequeue(&self, wait: Duration) -> Result<Option<Delivery>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next_at = match self.blocking(|q| q.take_now()).await? {
                Ok(delivery) => return Ok(Some(delivery)),
                Err(next_at) => next_at,
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // Sleep until woken by an enqueue, the next delayed job is due, or 100 ms pass.
            let mut nap = (deadline - now).min(Duration::from_millis(100));
            if let Some(at) = next_at {
                nap = nap.min(Duration::from_millis(at.saturating_sub(now_ms()).max(1)));
            }
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        self.blocking(move |q| q.ack_now(&delivery)).await
    }

    async fn retry(&self, delivery: Delivery, delay: Duration) -> Result<Retried, QueueError> {
        let retried = self.blocking(move |q| q.retry_now(&delivery, delay)).await?;
        self.inner.wake.notify_one();
        Ok(retried)
    }

    async fn dead(&self, delivery: Delivery, why: &str) -> Result<(), QueueError> {
        let why = why.to_string();
        self.blocking(move |q| q.dead_now(&delivery, &why)).await
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let s = self.state();
        Ok(QueueDepth { ready: s.ready.len(), inflight: s.inflight.len(), dead: s.dead.len() })
    }

    fn max_attempts(&self) -> u32 {
        self.inner.config.max_attempts
    }

    fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        EmbeddedQueue::dead_letters(self)
    }

    fn forget_dead(&self, job: JobId) -> Result<bool, QueueError> {
        EmbeddedQueue::forget_dead(self, job)
    }

    fn holds(&self, job: JobId) -> Option<bool> {
        Some(self.contains(job))
    }
}
