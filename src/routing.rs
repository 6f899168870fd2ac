//! The routing table operators edit: which documents skip Chromium and go straight to the
//! fallback renderer (or are pinned to Chromium). Rules match a template name or a document
//! fingerprint ([`fingerprint`]); a fingerprint rule wins over a template rule; no rule means
//! Chromium. Persisted as JSON in `DATA/routing.json`, replaced atomically on every change.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::durable;

/// The engine a document is printed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Renderer {
    Chromium,
    Fallback,
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

/// The rules, loaded from and saved to one JSON file.
#[derive(Debug)]
pub struct RoutingTable {
    path: PathBuf,
    rules: Vec<Rule>,
}

impl RoutingTable {
    /// Loads `path` (usually `DATA/routing.json`); a missing file is an empty table.
    pub fn load(path: impl Into<PathBuf>) -> Result<RoutingTable, RoutingError> {
        let path = path.into();
        let io = |source| RoutingError::Io { path: path.clone(), source };
        let rules = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: File = serde_json::from_slice(&bytes)
                    .map_err(|e| RoutingError::Invalid { path: path.clone(), detail: e.to_string() })?;
                for rule in &file.rules {
                    validate_match(&rule.matches).map_err(|e| RoutingError::Invalid {
                        path: path.clone(),
                        detail: format!("rule {}: {e}", rule.id),
                    })?;
                }
                file.rules
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        Ok(RoutingTable { path, rules })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again: processes sharing a data directory (`pixelproof worker`s beside
    /// the API that edits the rules) see each other's changes. On an error the rules stay.
    pub fn reload(&mut self) -> Result<(), RoutingError> {
        *self = RoutingTable::load(self.path.clone())?;
        Ok(())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Where a document goes: a fingerprint rule first, then a template rule, else Chromium.
    pub fn route(&self, template: Option<&str>, fingerprint: &str) -> Route {
        let by_fingerprint =
            self.rules.iter().find(|r| matches!(&r.matches, Match::Fingerprint(f) if f == fingerprint));
        let by_template = || {
            let t = template?;
            self.rules.iter().find(|r| matches!(&r.matches, Match::Template(n) if n == t))
        };
        match by_fingerprint.or_else(by_template) {
            Some(rule) => Route { renderer: rule.renderer, rule: Some(rule.id.clone()) },
            None => Route { renderer: Renderer::Chromium, rule: None },
        }
    }

    /// Validates and adds a rule, then saves the table. Refuses a second rule for the same
    /// template or fingerprint.
    pub fn add(&mut self, new: NewRule) -> Result<Rule, RoutingError> {
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
        if let Err(e) = self.save() {
            self.rules.pop();
            return Err(e);
        }
        Ok(rule)
    }

    /// Removes the rule `id` and saves the table; returns the removed rule.
    pub fn remove(&mut self, id: &str) -> Result<Rule, RoutingError> {
        let Some(index) = self.rules.iter().position(|r| r.id == id) else {
            let known: Vec<&str> = self.rules.iter().map(|r| r.id.as_str()).collect();
            let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            return Err(RoutingError::NoSuchRule { id: id.to_string(), known });
        };
        let rule = self.rules.remove(index);
        if let Err(e) = self.save() {
            self.rules.insert(index, rule);
            return Err(e);
        }
        Ok(rule)
    }

    fn save(&self) -> Result<(), RoutingError> {
        let io = |source| RoutingError::Io { path: self.path.clone(), source };
        let bytes = serde_json::to_vec_pretty(&File { rules: self.rules.clone() })
            .map_err(|e| RoutingError::Invalid { path: self.path.clone(), detail: e.to_string() })?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        durable::write_atomic(&self.path, &dir, &bytes).map_err(io)
    }
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
