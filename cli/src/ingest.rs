//! `rampart ingest`, `rampart reprocess` and `rampart setup`: the store commands.

use std::io::Write;
use std::path::{Path, PathBuf};

use rampart_formats::time::now;
use rampart_ingest::{Accept, Ingest};
use rampart_store::{Outcome, RawKey, Store, WriteMode};
use serde::Serialize;

use crate::backend::{Backend, StoreArgs};
use crate::enrich::{EnrichArgs, reprocess_sources};
use crate::files::{ReadError, collect_files, progress, read_input, report_error};
use rampart_sources::Enricher;

#[derive(clap::Args)]
pub struct IngestArgs {
    /// Files or directories (searched recursively for .eml, .xml, .json, .gz and .zip files).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    enrich: EnrichArgs,
    #[command(flatten)]
    accept: AcceptArgs,
}

/// Whose reports are counted.
#[derive(clap::Args)]
pub struct AcceptArgs {
    /// `any`: every domain's reports; `registered`: only registered domains', the others'
    /// mail is held until the domain is registered [default: registered with --backend aws,
    /// as a deployment counts, else any].
    #[arg(long = "accept", env = "RAMPART_ACCEPT", value_name = "any|registered", value_parser = parse_accept)]
    accept: Option<Accept>,
}

impl AcceptArgs {
    /// The setting given, else the one of the store's kind: a deployment's table is read as
    /// the deployment reads it, so reprocessing never counts what it holds.
    pub fn for_store(&self, store: &StoreArgs) -> Accept {
        self.accept.unwrap_or(if store.is_aws() {
            Accept::Registered
        } else {
            Accept::Any
        })
    }
}

fn parse_accept(text: &str) -> Result<Accept, String> {
    Accept::parse(text).ok_or_else(|| format!("{text:?} is not any or registered"))
}

#[derive(clap::Args)]
pub struct ReprocessArgs {
    /// Only refresh the source intelligence of stored reports (country, AS, reverse DNS,
    /// service) instead of reading every raw message again: fills in what ingest could not
    /// resolve in time, and enriches reports stored before enrichment existed.
    #[arg(long)]
    enrich: bool,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    sources: EnrichArgs,
    #[command(flatten)]
    accept: AcceptArgs,
}

#[derive(clap::Args)]
pub struct SetupArgs {
    #[command(flatten)]
    store: StoreArgs,
}

/// How one input file ended: a line of `rampart ingest`.
#[derive(Debug, Serialize)]
pub struct InputOutcome {
    pub file: String,
    pub outcome: Outcome,
    /// Reports in the input (new and already stored).
    pub reports: usize,
    /// Of those, how many were new.
    pub new: u32,
    pub reason: Option<String>,
    /// Where the raw input is kept in the store.
    pub key: Option<String>,
}

impl InputOutcome {
    /// An input that never reached the store.
    fn not_stored(file: String, outcome: Outcome, reason: String) -> Self {
        InputOutcome {
            file,
            outcome,
            reports: 0,
            new: 0,
            reason: Some(reason),
            key: None,
        }
    }
}

/// One output line of `rampart reprocess`.
#[derive(Serialize)]
struct ReprocessLine<'a> {
    key: &'a str,
    outcome: Outcome,
    reports: usize,
    /// Reports stored for the first time or replaced by a different reading.
    changed: u32,
    reason: Option<&'a str>,
}

/// Reads one file, keeps its bytes under `raw_prefix` and ingests it. Errors only when the
/// file name or key cannot be used; every other failure is an outcome.
pub async fn ingest_file<S: Store>(
    ingest: &Ingest<'_, S>,
    file: &Path,
    raw_prefix: &str,
) -> anyhow::Result<InputOutcome> {
    let name = file.display().to_string();
    let bytes = match read_input(file, &ingest.limits) {
        Ok(b) => b,
        Err(e) => {
            // Too large is a rejection, like any input the store would refuse; the file
            // itself is the raw copy, so nothing is lost by not storing it.
            let (outcome, reason) = match e {
                ReadError::TooLarge { max, .. } => {
                    let limit = rampart_formats::IntakeError::LimitExceeded {
                        limit: rampart_formats::limits::LimitKind::InputBytes,
                        max,
                    };
                    (Outcome::Rejected, limit.to_string())
                }
                ReadError::Io(_) => (Outcome::Failed, e.to_string()),
            };
            return Ok(InputOutcome::not_stored(name, outcome, reason));
        }
    };
    let key = RawKey::new(format!("{raw_prefix}{}", RawKey::for_content(&bytes)))?;
    let done = ingest.keep(&key, &bytes, now()).await;
    Ok(InputOutcome {
        file: name,
        outcome: done.outcome,
        reports: done.reports.len(),
        new: done.stored,
        reason: done.reason,
        key: Some(key.as_str().to_owned()),
    })
}

/// Returns whether no input failed.
pub async fn ingest(args: &IngestArgs) -> anyhow::Result<bool> {
    let enricher = args.enrich.enricher()?;
    match args.store.open().await? {
        Backend::Local(store) => ingest_files(&store, &enricher, args).await,
        Backend::Aws(store) => ingest_files(&store, &enricher, args).await,
    }
}

async fn ingest_files<S: Store>(
    store: &S,
    enricher: &Enricher,
    args: &IngestArgs,
) -> anyhow::Result<bool> {
    let ingest = Ingest::new(store, enricher).accept(args.accept.for_store(&args.store));
    let (files, unreadable) = collect_files(&args.paths);
    let mut all_ok = unreadable.is_empty();
    let bar = progress(files.len(), args.paths.iter().any(|p| p.is_dir()));
    let mut out = std::io::stdout().lock();
    for u in &unreadable {
        report_error(None, &format!("{}: {}", u.name, u.reason));
        let line = InputOutcome::not_stored(u.name.clone(), Outcome::Failed, u.reason.clone());
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
    }
    for file in &files {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        let done = ingest_file(&ingest, file, args.store.raw_prefix()).await?;
        all_ok &= done.outcome != Outcome::Failed;
        if let (Outcome::Rejected | Outcome::Failed, Some(reason)) = (done.outcome, &done.reason) {
            report_error(bar.as_ref(), &format!("{}: {reason}", done.file));
        }
        writeln!(out, "{}", serde_json::to_string(&done)?)?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(all_ok)
}

/// Reads an input: too large is a rejection (like any other input the store would refuse),
/// unreadable is a failure.
/// Returns whether no message failed.
pub async fn reprocess(args: &ReprocessArgs) -> anyhow::Result<bool> {
    let enricher = args.sources.enricher()?;
    match (args.store.open().await?, args.enrich) {
        (Backend::Local(store), true) => reprocess_sources(&store, &enricher).await,
        (Backend::Aws(store), true) => reprocess_sources(&store, &enricher).await,
        (Backend::Local(store), false) => reprocess_all(&store, &enricher, args).await,
        (Backend::Aws(store), false) => reprocess_all(&store, &enricher, args).await,
    }
}

/// Reads every raw message again: the mail SES stored and the TLS reports uploaded over
/// HTTPS, held and rejected messages included.
async fn reprocess_all<S: Store>(
    store: &S,
    enricher: &Enricher,
    args: &ReprocessArgs,
) -> anyhow::Result<bool> {
    let ingest = Ingest::new(store, enricher)
        .accept(args.accept.for_store(&args.store))
        .mode(WriteMode::Replace);
    let keys = store.raw_keys().await?;
    let bar = progress(keys.len(), true);
    let mut out = std::io::stdout().lock();
    let mut tally = std::collections::BTreeMap::new();
    for key in &keys {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        let done = ingest.stored(key, now()).await;
        *tally.entry(done.outcome.as_str()).or_insert(0) += 1;
        if done.outcome == Outcome::Failed {
            report_error(
                bar.as_ref(),
                &format!("{key}: {}", done.reason.as_deref().unwrap_or("")),
            );
        }
        let line = ReprocessLine {
            key: key.as_str(),
            outcome: done.outcome,
            reports: done.reports.len(),
            changed: done.stored,
            reason: done.reason.as_deref(),
        };
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary: Vec<String> = tally.iter().map(|(k, v)| format!("{v} {k}")).collect();
    eprintln!(
        "rampart: reprocessed {} messages: {}",
        keys.len(),
        if summary.is_empty() {
            "none stored".to_owned()
        } else {
            summary.join(", ")
        }
    );
    Ok(!tally.contains_key("failed"))
}

pub async fn setup(args: &SetupArgs) -> anyhow::Result<()> {
    match args.store.open().await? {
        Backend::Local(store) => {
            eprintln!("rampart: local store ready in {}", store.dir().display());
        }
        Backend::Aws(store) => {
            store.create_resources().await?;
            let at = store.location();
            eprintln!(
                "rampart: DynamoDB table {} and S3 bucket {} ready",
                at.table, at.bucket
            );
        }
    }
    Ok(())
}
