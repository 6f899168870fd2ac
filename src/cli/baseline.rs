//! `pixelproof baseline list|approve|reject`: the operator's review of candidates; and
//! `pixelproof baseline copy`, which moves approved baselines between a directory and a bucket.
//!
//! Every decision needs a reason and a name (`--by`, else `$PIXELPROOF_USER`, else
//! `git config user.name`, else `$USER`) and is appended to the audit log. Keys are
//! checked before anything is decided, so a typo never applies half a command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::baseline::{BaselineError, Decision, Key, Store};
use crate::bundled::Bundled;

/// `pixelproof baseline` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List candidates waiting for review.
    #[command(after_help = "Examples:
  pixelproof baseline list
  pixelproof baseline list --renderer fallback
  pixelproof baseline list --baselines s3://team-baselines/main

Exit codes: 0 listed (none waiting is not an error); 2 the baselines cannot be read.")]
    List(ListArgs),
    /// Approve candidates: each becomes its fixture's baseline.
    #[command(after_help = "Examples:
  pixelproof baseline approve invoice/basic --reason \"wider total column (PR 412)\"
  pixelproof baseline approve --all --reason \"fonts upgraded\" --by \"Ada Lovelace\"
  pixelproof baseline approve report/quarterly --renderer fallback --reason \"first fallback baseline\"

Every decision is appended to the audit log (baselines/audit.jsonl) with its reason and name.
Exit codes: 0 decided (or nothing waiting); 2 a key is not a candidate, no reason or name, or
the baselines cannot be written: nothing is decided then.")]
    Approve(DecideArgs),
    /// Reject candidates: each is removed; the baseline stays as it is.
    #[command(after_help = "Examples:
  pixelproof baseline reject invoice/basic --reason \"the logo moved by accident\"
  pixelproof baseline reject --all --reason \"bad font build\"

Exit codes: 0 rejected (or nothing waiting); 2 a key is not a candidate, no reason or name,
or the baselines cannot be written: nothing is decided then.")]
    Reject(DecideArgs),
    /// Copy approved baselines as they are (manifests and approvals included) between a
    /// directory and a bucket: to give a fleet the committed baselines, or to commit a
    /// fleet's. Every file is verified before it is written.
    #[command(after_help = "Examples:
  pixelproof baseline copy --from baselines --to s3://team-baselines/main
  pixelproof baseline copy invoice/basic --from s3://team-baselines/main --to baselines
  pixelproof baseline copy --from baselines --to s3://fleet/baselines --keep-existing

Exit codes: 0 copied (or nothing to copy); 2 a baseline could not be read, verified or written.")]
    Copy(CopyArgs),
}

/// Arguments of `pixelproof baseline copy`.
#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// Baselines to copy, as TEMPLATE/FIXTURE. Default: every approved baseline.
    #[arg(value_name = "KEY")]
    pub keys: Vec<String>,
    /// Where the baselines are: a directory or s3://BUCKET/PREFIX.
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub from: PathBuf,
    /// Where to put them (a baseline already there is replaced; an identical one is left).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub to: PathBuf,
    /// Leave every baseline the destination already has, even when it differs: seed a fleet's
    /// bucket without undoing approvals made there since.
    #[arg(long)]
    pub keep_existing: bool,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// `--renderer`: whose baselines (Chromium's, the default, or the fallback's).
#[derive(Debug, clap::Args)]
pub struct EngineArg {
    /// Whose baselines: Chromium's, or the fallback engine's (made by
    /// `pixelproof check --update --renderer fallback`).
    #[arg(long, value_enum, default_value_t = super::RendererChoice::Chromium)]
    pub renderer: super::RendererChoice,
}

impl EngineArg {
    async fn open(&self, location: &std::path::Path) -> Result<Store, BaselineError> {
        Ok(Store::open(location).await?.for_engine(self.renderer.into()))
    }
}

/// Arguments of `pixelproof baseline list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The baselines directory, or a bucket: s3://BUCKET/PREFIX (with the AWS_* variables).
    /// Default: ./baselines, else the bundled one (found as the templates are).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX", env = "PIXELPROOF_BASELINES")]
    pub baselines: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// Arguments of `pixelproof baseline approve` and `reject`.
#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// Candidates to decide on, as TEMPLATE/FIXTURE (see `pixelproof baseline list`).
    #[arg(value_name = "KEY", required_unless_present = "all", conflicts_with = "all")]
    pub keys: Vec<String>,
    /// Decide on every candidate waiting for review.
    #[arg(long)]
    pub all: bool,
    /// Why: recorded in the audit log (and, on approval, in the baseline's manifest). Required.
    #[arg(long, value_name = "TEXT", required = true)]
    pub reason: String,
    /// Who decides. Default: $PIXELPROOF_USER, then `git config user.name`, then $USER.
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// The baselines directory, or a bucket: s3://BUCKET/PREFIX (with the AWS_* variables).
    /// Default: ./baselines, else the bundled one (found as the templates are).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX", env = "PIXELPROOF_BASELINES")]
    pub baselines: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArg,
}

pub fn run(cmd: Command) -> super::CliResult {
    // One thread is plenty: the commands wait on one file or request at a time.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async {
        match cmd {
            Command::List(args) => list(&args.engine.open(&Bundled::Baselines.resolve(args.baselines)).await?).await,
            Command::Approve(args) => decide(args, true).await,
            Command::Reject(args) => decide(args, false).await,
            Command::Copy(args) => copy(args).await,
        }
    })
}

async fn copy(args: CopyArgs) -> super::CliResult {
    let from = args.engine.open(&args.from).await?;
    let to = args.engine.open(&args.to).await?;
    if from.location() == to.location() {
        anyhow::bail!("--from and --to are the same place ({}): nothing to copy", from.location());
    }
    let keys = if args.keys.is_empty() {
        from.baseline_keys().await.with_context(|| format!("could not list the baselines in {}", from.location()))?
    } else {
        args.keys.iter().map(|k| Key::parse(k)).collect::<Result<Vec<_>, _>>()?
    };
    if keys.is_empty() {
        println!("No baselines in {}: nothing to copy.", from.location());
        return Ok(ExitCode::SUCCESS);
    }
    let (mut copied, mut same, mut kept) = (0, 0, 0);
    for key in &keys {
        let theirs = from.read_manifest(key).await.with_context(|| format!("could not read {key}"))?;
        let ours = to.read_manifest(key).await.ok().flatten();
        if theirs.is_some() && ours == theirs {
            println!("unchanged {key}");
            same += 1;
            continue;
        }
        if args.keep_existing && ours.is_some() {
            println!("kept {key}: {} has its own (--keep-existing)", to.location());
            kept += 1;
            continue;
        }
        let pages = to.copy_baseline_from(&from, key).await.with_context(|| format!("could not copy {key}"))?;
        let s = if pages == 1 { "" } else { "s" };
        println!("copied {key} ({pages} page{s})");
        copied += 1;
    }
    let kept = if kept > 0 { format!(", {kept} kept") } else { String::new() };
    println!("{copied} copied, {same} unchanged{kept}, from {} to {}.", from.location(), to.location());
    Ok(ExitCode::SUCCESS)
}

async fn list(store: &Store) -> super::CliResult {
    let candidates = store.candidates().await.context("could not list candidates")?;
    let dir = store.location();
    if candidates.is_empty() {
        println!("No candidates waiting for review in {dir}.");
        return Ok(ExitCode::SUCCESS);
    }
    let s = if candidates.len() == 1 { "" } else { "s" };
    println!("{} candidate{s} waiting for review in {dir}:", candidates.len());
    let rows: Vec<[String; 4]> = candidates
        .iter()
        .map(|c| {
            let (pages, created) = match &c.manifest {
                Some(m) => (
                    m.pages.len().to_string(),
                    format!("{} by {}", m.created_at.format("%Y-%m-%d %H:%M:%S UTC"), m.created_by),
                ),
                None => ("?".to_string(), "?".to_string()),
            };
            let change = match &c.problem {
                Some(p) => format!("unreadable: {p}"),
                None => c.change(),
            };
            [c.key.to_string(), pages, change, created]
        })
        .collect();
    let header = ["KEY", "PAGES", "CHANGE", "CREATED"].map(String::from);
    let widths: Vec<usize> =
        (0..3).map(|i| rows.iter().chain([&header]).map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for row in [&header].into_iter().chain(&rows) {
        println!(
            "  {:w0$}  {:w1$}  {:w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    println!(
        "Approve with `pixelproof baseline approve KEY --reason TEXT`, reject with `pixelproof baseline reject KEY --reason TEXT`."
    );
    Ok(ExitCode::SUCCESS)
}

async fn decide(args: DecideArgs, approve: bool) -> super::CliResult {
    let action = if approve { "approve" } else { "reject" };
    let store = args.engine.open(&Bundled::Baselines.resolve(args.baselines.clone())).await?;
    let reason = Some(args.reason).filter(|r| !r.trim().is_empty()).ok_or(BaselineError::NoReason { action })?;
    let by = match args.by {
        Some(by) => by,
        None => default_user().ok_or(BaselineError::NoUser)?,
    };
    let keys: Vec<Key> = if args.all {
        store.candidate_keys().await.context("could not list candidates")?
    } else {
        let mut keys = Vec::new();
        for text in &args.keys {
            let key = Key::parse(text)?;
            store.require_candidate(&key).await?;
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    };
    if keys.is_empty() {
        println!("No candidates waiting for review in {}.", store.location());
        return Ok(ExitCode::SUCCESS);
    }
    let decision = Decision { by, reason };
    for key in &keys {
        let entry = if approve { store.approve(key, &decision).await } else { store.reject(key, &decision).await }
            .with_context(|| format!("could not {action} {key}"))?;
        let done = if approve { "approved" } else { "rejected" };
        let pages = entry.details.pages.unwrap_or_default();
        let s = if pages == 1 { "" } else { "s" };
        println!("{done} {key} ({pages} page{s}) by {}: {}", entry.by, entry.reason);
    }
    Ok(ExitCode::SUCCESS)
}

/// Who is running this: `$PIXELPROOF_USER`, then `git config user.name`, then `$USER`.
pub fn default_user() -> Option<String> {
    let non_empty = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    if let Some(user) = std::env::var("PIXELPROOF_USER").ok().and_then(non_empty) {
        return Some(user);
    }
    let git = std::process::Command::new("git").args(["config", "user.name"]).output();
    if let Some(name) =
        git.ok().filter(|o| o.status.success()).and_then(|o| non_empty(String::from_utf8_lossy(&o.stdout).into()))
    {
        return Some(name);
    }
    std::env::var("USER").ok().and_then(non_empty)
}
