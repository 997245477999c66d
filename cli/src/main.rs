//! `rampart`: the command line around Rampart's core.
//!
//! - `rampart parse PATH...` prints the reports in files and mails, storing nothing.
//! - `rampart ingest PATH...` stores them (local data folder, or DynamoDB + S3).
//! - `rampart reprocess` re-reads every stored raw message, after a parser upgrade.
//! - `rampart setup` creates the store (the folder, or the table and bucket).
//! - `rampart serve` serves the REST API over the store, on this machine.
//! - `rampart check DOMAIN...` checks the DNS records each domain relies on.
//! - `rampart fetch --mailbox FILE` reads report mails from IMAP folders once.

mod backend;
mod check;
mod enrich;
mod files;
mod ingest;
mod listen;
mod mailbox;
mod output;
mod parse;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rampart",
    version,
    about = "DMARC and TLS-RPT reports, decoded however broken"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse report mails (.eml) and report files (.xml, .json, .gz, .zip) and print the reports.
    Parse(parse::ParseArgs),
    /// Store report mails and files; prints one JSON line per input with its outcome.
    Ingest(ingest::IngestArgs),
    /// Re-read every stored raw message and store what changed; idempotent.
    Reprocess(ingest::ReprocessArgs),
    /// Create the store: the local data folder, or (--backend aws) the DynamoDB table and S3
    /// bucket, for an emulator or a first run outside the SAM template.
    Setup(ingest::SetupArgs),
    /// Serve the REST API on this machine (the query Lambda's Router). An empty store first
    /// gets the bundled sample reports; --inbox ingests and watches a folder instead.
    Serve(Box<serve::ServeArgs>),
    /// Check the DNS records a domain relies on (DMARC, SPF, MX, MTA-STS, TLS-RPT) and print
    /// each problem with its fix. Exit code: 0 fine, 1 warning, 2 error or critical, 3 the
    /// check could not run.
    Check(check::CheckArgs),
    /// Read report mails from IMAP folders (named in a mailbox file) once, store them, and
    /// print one JSON line per folder with what its run took; `serve --mailbox` keeps reading.
    Fetch(mailbox::FetchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Parse(args) => parse::parse(args),
        Command::Ingest(args) => runtime().and_then(|rt| rt.block_on(ingest::ingest(args))),
        Command::Reprocess(args) => runtime().and_then(|rt| rt.block_on(ingest::reprocess(args))),
        Command::Setup(args) => {
            runtime().and_then(|rt| rt.block_on(ingest::setup(args)).map(|()| true))
        }
        Command::Serve(args) => {
            runtime().and_then(|rt| rt.block_on(serve::serve(args)).map(|()| true))
        }
        Command::Fetch(args) => runtime().and_then(|rt| rt.block_on(mailbox::fetch(args))),
        // Its exit code says how the domains are, not only whether the command ran.
        Command::Check(args) => return check::main(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        // `rampart ... | head` closing the pipe is not an error worth a message.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rampart: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
