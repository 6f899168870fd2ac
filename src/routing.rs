//! The routing table operators edit: which documents skip Chromium and go straight to the
//! fallback renderer (or are pinned to Chromium). Rules match a template name or a document
//! fingerprint ([`fingerprint`]); a fingerprint rule wins over a template rule; no rule means
//! Chromium. Persisted as JSON in `DATA/routing.json`, replaced atomically on every change; with
//! `--store s3://…` it is the object `routing.json` in the bucket, so workers on other machines
//! read the rules the API's operators edit.
//!
//! A process routes by [`Routes`]: the rules it last read or wrote, at hand without I/O. When
//! other processes share the table, one background task reads it again every [`ROUTING_TTL`]
//! (a failed read keeps the rules); jobs never wait for that read, and this process's own
//! edits apply at once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::durable;
use crate::store::{ObjectKey, ObjectStore, StoreError};

/// The routing table's object key in a bucket (under the store's prefix).
pub const ROUTING_OBJECT: &str = "routing.json";

/// How often a process that shares the routing table with others reads it again: a rule
/// another process adds or removes is in effect here within this time (plus one read). Short,
/// because an operator who routes a template away from a failing engine wants it now; one
/// small GET every two seconds per process costs next to nothing.
pub const ROUTING_TTL: Duration = Duration::from_secs(2);

/// The engine a document is printed with. Baselines are recorded per engine too
/// (`baseline::Store::for_engine`): a Chromium baseline cannot judge the fallback's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Renderer {
    #[default]
    Chromium,
    Fallback,
}

impl Renderer {
    /// Whether this is Chromium (the default engine, left out where it is implied).
    pub fn is_chromium(&self) -> bool {
        *self == Renderer::Chromium
    }

    /// `chromium` or `fallback`: the name used in the API, the CLI, manifests and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Renderer::Chromium => "chromium",
            Renderer::Fallback => "fallback",
        }
    }
}

impl std::fmt::Display for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Match {
    /// Every document made from this template.
    Template(String),
    /// One document: [`fingerprint`] of its HTML and options.
    Fingerprint(String),
}

/// One operator-made rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    #[serde(rename = "match")]
    pub matches: Match,
    pub renderer: Renderer,
    pub note: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A rule as an operator submits it (the table gives it an id and a time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRule {
    #[serde(rename = "match")]
    pub matches: Match,
    pub renderer: Renderer,
    pub note: String,
    pub created_by: String,
}

/// Where a document goes, and which rule (if any) sent it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub renderer: Renderer,
    pub rule: Option<String>,
}

/// Why the routing table refused a change or could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("template name {name:?} is not valid: use 1 to 64 letters, digits, '-' and '_'")]
    BadTemplate { name: String },
    #[error(
        "fingerprint {value:?} is not valid: it is the 64 lowercase hex digits of sha256 (see `routing::fingerprint`)"
    )]
    BadFingerprint { value: String },
    #[error("a rule needs a note saying why it exists")]
    NoNote,
    #[error("a rule needs the name of who made it (created_by)")]
    NoAuthor,
    #[error("rule {existing} already matches {what}: remove it first if you want to change where it goes")]
    Duplicate { existing: String, what: String },
    #[error("there is no rule {id:?}; the rules are: {known}")]
    NoSuchRule { id: String, known: String },
    #[error("could not access the routing table {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the routing table {path} is not valid JSON ({detail}): fix or restore it")]
    Invalid { path: PathBuf, detail: String },
    #[error("could not access the routing table {location}: {source}")]
    Store { location: String, source: StoreError },
}

/// sha256 (lowercase hex) of a document's HTML and its print options as JSON. The two parts
/// are length-prefixed, so no (html, options) pair can collide with another by shifting text.
pub fn fingerprint(html: &str, options_json: &str) -> String {
    let mut hash = Sha256::new();
    for part in [html, options_json] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    rules: Vec<Rule>,
}

/// Where the table is kept.
#[derive(Debug, Clone)]
enum Place {
    File(PathBuf),
    /// `routing.json` in an object store.
    Object {
        objects: Arc<dyn ObjectStore>,
        location: String,
    },
}

/// Where a routing table is kept, to read it again (`RoutingTable::source`).
#[derive(Debug, Clone)]
pub struct Source(Place);

impl Source {
    /// The file, or the object's URL.
    pub fn location(&self) -> String {
        match &self.0 {
            Place::File(path) => path.display().to_string(),
            Place::Object { location, .. } => location.clone(),
        }
    }

    /// The table as its file or object holds it now (a file is small: it is read in place).
    pub async fn read(&self) -> Result<RoutingTable, RoutingError> {
        match &self.0 {
            Place::File(path) => RoutingTable::load(path.clone()),
            Place::Object { objects, location } => RoutingTable::load_object(objects.clone(), location.clone()).await,
        }
    }
}

/// The rules, loaded from and saved to one JSON file or object.
#[derive(Debug)]
pub struct RoutingTable {
    place: Place,
    rules: Vec<Rule>,
}

impl RoutingTable {
    /// Loads `path` (usually `DATA/routing.json`); a missing file is an empty table. One small
    /// read, done in place, also inside async code.
    pub fn load(path: impl Into<PathBuf>) -> Result<RoutingTable, RoutingError> {
        let path = path.into();
        let rules = match std::fs::read(&path) {
            Ok(bytes) => parse(&bytes, &path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(RoutingError::Io { path, source }),
        };
        Ok(RoutingTable { place: Place::File(path), rules })
    }

    /// Loads the object [`ROUTING_OBJECT`] from `objects` (`location` names it in messages);
    /// a missing object is an empty table.
    pub async fn load_object(
        objects: Arc<dyn ObjectStore>,
        location: impl Into<String>,
    ) -> Result<RoutingTable, RoutingError> {
        let location = location.into();
        let store_error = |source| RoutingError::Store { location: location.clone(), source };
        let key = ObjectKey::parse(ROUTING_OBJECT).map_err(store_error)?;
        let rules = match objects.get(&key).await.map_err(store_error)? {
            Some(bytes) => parse(&bytes, Path::new(&location))?,
            None => Vec::new(),
        };
        Ok(RoutingTable { place: Place::Object { objects, location }, rules })
    }

    /// Where the table is kept: its file, or its object's URL.
    pub fn location(&self) -> String {
        self.source().location()
    }

    /// Reads the table again: processes sharing it (`pixelproof worker`s beside the API that
    /// edits the rules, or on other machines with the same bucket) see each other's changes.
    /// On an error the rules stay.
    pub async fn reload(&mut self) -> Result<(), RoutingError> {
        *self = self.source().read().await?;
        Ok(())
    }

    /// Where this table was read from, to read it again without holding the table.
    pub fn source(&self) -> Source {
        Source(self.place.clone())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Where a document goes: a fingerprint rule first, then a template rule, else Chromium.
    pub fn route(&self, template: Option<&str>, fingerprint: &str) -> Route {
        route_by(&self.rules, template, fingerprint)
    }

    /// Validates and adds a rule, then saves the table. Refuses a second rule for the same
    /// template or fingerprint.
    pub async fn add(&mut self, new: NewRule) -> Result<Rule, RoutingError> {
        validate_match(&new.matches)?;
        if new.note.trim().is_empty() {
            return Err(RoutingError::NoNote);
        }
        if new.created_by.trim().is_empty() {
            return Err(RoutingError::NoAuthor);
        }
        if let Some(existing) = self.rules.iter().find(|r| r.matches == new.matches) {
            let what = match &new.matches {
                Match::Template(t) => format!("template {t}"),
                Match::Fingerprint(f) => format!("fingerprint {f}"),
            };
            return Err(RoutingError::Duplicate { existing: existing.id.clone(), what });
        }
        let rule = Rule {
            id: format!("rule-{}", ulid::Ulid::new().to_string().to_lowercase()),
            matches: new.matches,
            renderer: new.renderer,
            note: new.note.trim().to_string(),
            created_by: new.created_by.trim().to_string(),
            created_at: Utc::now(),
        };
        self.rules.push(rule.clone());
        if let Err(e) = self.save().await {
            self.rules.pop();
            return Err(e);
        }
        Ok(rule)
    }

    /// Removes the rule `id` and saves the table; returns the removed rule.
    pub async fn remove(&mut self, id: &str) -> Result<Rule, RoutingError> {
        let Some(index) = self.rules.iter().position(|r| r.id == id) else {
            let known: Vec<&str> = self.rules.iter().map(|r| r.id.as_str()).collect();
            let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            return Err(RoutingError::NoSuchRule { id: id.to_string(), known });
        };
        let rule = self.rules.remove(index);
        if let Err(e) = self.save().await {
            self.rules.insert(index, rule);
            return Err(e);
        }
        Ok(rule)
    }

    /// Writes the table: a file atomically (its fsyncs on a blocking thread), or one PUT.
    async fn save(&self) -> Result<(), RoutingError> {
        let bytes = serde_json::to_vec_pretty(&File { rules: self.rules.clone() })
            .map_err(|e| RoutingError::Invalid { path: PathBuf::from(self.location()), detail: e.to_string() })?;
        match &self.place {
            Place::File(path) => {
                let path = path.clone();
                let io = |source| RoutingError::Io { path: path.clone(), source };
                let written = tokio::task::spawn_blocking({
                    let path = path.clone();
                    move || {
                        let dir = match path.parent() {
                            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                            _ => PathBuf::from("."),
                        };
                        std::fs::create_dir_all(&dir)?;
                        durable::write_atomic(&path, &dir, &bytes)
                    }
                })
                .await
                .map_err(|e| io(std::io::Error::other(format!("the task writing it stopped: {e}"))))?;
                written.map_err(io)
            }
            Place::Object { objects, location } => {
                let store_error = |source| RoutingError::Store { location: location.clone(), source };
                let key = ObjectKey::parse(ROUTING_OBJECT).map_err(store_error)?;
                objects.put(&key, bytes).await.map_err(store_error)
            }
        }
    }
}

/// Where a document goes by `rules`: a fingerprint rule first, then a template rule, else Chromium.
fn route_by(rules: &[Rule], template: Option<&str>, fingerprint: &str) -> Route {
    let by_fingerprint = rules.iter().find(|r| matches!(&r.matches, Match::Fingerprint(f) if f == fingerprint));
    let by_template = || {
        let t = template?;
        rules.iter().find(|r| matches!(&r.matches, Match::Template(n) if n == t))
    };
    match by_fingerprint.or_else(by_template) {
        Some(rule) => Route { renderer: rule.renderer, rule: Some(rule.id.clone()) },
        None => Route { renderer: Renderer::Chromium, rule: None },
    }
}

/// The routing table as one process routes by it: its rules at hand (jobs never wait for a
/// read), this process's edits applied at once, and, when other processes share the table,
/// one background task that reads it again every `ttl` (see [`ROUTING_TTL`]).
#[derive(Debug)]
pub struct Routes {
    /// The table, for edits: held across an edit's write, and while a refresh swaps it in.
    table: tokio::sync::Mutex<RoutingTable>,
    /// Its rules, what jobs route by: replaced whole, never held across I/O.
    rules: std::sync::RwLock<Arc<Vec<Rule>>>,
    source: Source,
    /// How often to read the table again; `None` when no other process changes it.
    ttl: Option<Duration>,
    /// Counts this process's edits, so a read made before one does not undo it here.
    edits: AtomicU64,
    /// Whether the refreshing task has been started.
    refreshing: AtomicBool,
    /// Whether the last read failed (its warning is logged once, not on every retry).
    failing: AtomicBool,
}

impl Routes {
    /// The rules of `table`. With `ttl` (the table is shared: [`ROUTING_TTL`]), a task on the
    /// current runtime reads it again that often, for as long as the `Routes` lives.
    pub fn new(table: RoutingTable, ttl: Option<Duration>) -> Arc<Routes> {
        let routes = Arc::new(Routes {
            rules: std::sync::RwLock::new(Arc::new(table.rules.clone())),
            source: table.source(),
            table: tokio::sync::Mutex::new(table),
            ttl,
            edits: AtomicU64::new(0),
            refreshing: AtomicBool::new(false),
            failing: AtomicBool::new(false),
        });
        routes.keep_fresh();
        routes
    }

    /// Where a document goes, by the rules at hand: no I/O, no waiting.
    pub fn route(self: &Arc<Self>, template: Option<&str>, fingerprint: &str) -> Route {
        // Made outside a runtime, the task starts with the first job instead.
        self.keep_fresh();
        route_by(&self.rules(), template, fingerprint)
    }

    /// The rules at hand.
    pub fn rules(&self) -> Arc<Vec<Rule>> {
        self.rules.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Adds a rule ([`RoutingTable::add`]); this process routes by it at once.
    pub async fn add(&self, new: NewRule) -> Result<Rule, RoutingError> {
        let mut table = self.table.lock().await;
        let rule = table.add(new).await?;
        self.edited(&table);
        Ok(rule)
    }

    /// Removes a rule ([`RoutingTable::remove`]); this process stops routing by it at once.
    pub async fn remove(&self, id: &str) -> Result<Rule, RoutingError> {
        let mut table = self.table.lock().await;
        let rule = table.remove(id).await?;
        self.edited(&table);
        Ok(rule)
    }

    /// Reads the table now and routes by what was read, unless this process changed the
    /// table while it was being read (its own edit is newer). On an error the rules stay.
    pub async fn refresh(&self) -> Result<(), RoutingError> {
        let edits = self.edits.load(Ordering::SeqCst);
        let read = self.source.read().await?;
        let mut table = self.table.lock().await;
        if self.edits.load(Ordering::SeqCst) == edits {
            self.publish(&read.rules);
            *table = read;
        }
        Ok(())
    }

    fn edited(&self, table: &RoutingTable) {
        self.edits.fetch_add(1, Ordering::SeqCst);
        self.publish(&table.rules);
    }

    fn publish(&self, rules: &[Rule]) {
        *self.rules.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(rules.to_vec());
    }

    /// Starts the refreshing task, once, when the table is shared and a runtime is at hand.
    fn keep_fresh(self: &Arc<Self>) {
        let Some(ttl) = self.ttl else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if self.refreshing.swap(true, Ordering::SeqCst) {
            return;
        }
        runtime.spawn(refreshing(Arc::downgrade(self), ttl));
    }
}

/// Reads the table every `ttl` until the `Routes` is dropped: one read in flight at most.
async fn refreshing(routes: Weak<Routes>, ttl: Duration) {
    let mut tick = tokio::time::interval(ttl);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(routes) = routes.upgrade() else { return };
        match routes.refresh().await {
            Ok(()) => {
                if routes.failing.swap(false, Ordering::SeqCst) {
                    tracing::info!(table = %routes.source.location(), "the routing table can be read again");
                }
            }
            Err(e) => {
                if !routes.failing.swap(true, Ordering::SeqCst) {
                    tracing::warn!(
                        error = %e,
                        "could not re-read the routing table; routing by the rules read before, and retrying every {}s",
                        ttl.as_secs_f32()
                    );
                } else {
                    tracing::debug!(error = %e, "the routing table still cannot be read");
                }
            }
        }
    }
}

/// The rules in a routing table's bytes, each checked; `path` names it in messages.
fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Rule>, RoutingError> {
    let file: File = serde_json::from_slice(bytes)
        .map_err(|e| RoutingError::Invalid { path: path.to_path_buf(), detail: e.to_string() })?;
    for rule in &file.rules {
        validate_match(&rule.matches).map_err(|e| RoutingError::Invalid {
            path: path.to_path_buf(),
            detail: format!("rule {}: {e}", rule.id),
        })?;
    }
    Ok(file.rules)
}

fn validate_match(m: &Match) -> Result<(), RoutingError> {
    match m {
        Match::Template(name) => {
            let ok = (1..=64).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(RoutingError::BadTemplate { name: name.clone() });
            }
        }
        Match::Fingerprint(f) => {
            if f.len() != 64 || !f.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(RoutingError::BadFingerprint { value: f.clone() });
            }
        }
    }
    Ok(())
}
