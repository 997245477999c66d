//! `rampart`: the command line around Rampart's core.
//!
//! `rampart parse PATH...` reads report files and mails (directories recursively) and prints
//! the normalised reports as JSON lines, CSV rows or one summary line per report. Later
//! subcommands (`ingest`, `serve`) reuse the same core.

mod output;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use rampart::Limits;
use rampart::intake::parse_input;

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
    Parse(ParseArgs),
}

#[derive(clap::Args)]
struct ParseArgs {
    /// Files or directories (searched recursively for .eml, .xml, .json, .gz and .zip files).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format: JSON lines (one report per line) or CSV (one row per aggregate record).
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Print one JSON line per report with its key facts instead of the whole report.
    #[arg(long)]
    summary: bool,
    /// Largest input file accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_input_bytes)]
    max_input_bytes: u64,
    /// Largest decompressed report accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_payload_bytes)]
    max_payload_bytes: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Json,
    Csv,
}

const REPORT_EXTENSIONS: [&str; 5] = ["eml", "xml", "json", "gz", "zip"];

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Parse(args) => match parse(&args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("rampart: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}

/// Returns whether every input gave its reports without a problem.
fn parse(args: &ParseArgs) -> anyhow::Result<bool> {
    let limits = Limits {
        max_input_bytes: args.max_input_bytes,
        max_payload_bytes: args.max_payload_bytes,
        ..Limits::default()
    };
    let (files, mut all_ok) = collect_files(&args.paths);
    let progress = (files.len() > 1
        && std::io::stderr().is_terminal()
        && args.paths.iter().any(|p| p.is_dir()))
    .then(|| indicatif::ProgressBar::new(files.len() as u64));
    let stdout = std::io::stdout().lock();
    let mut out = output::Writer::new(stdout, args.format == Format::Csv, args.summary)?;
    for file in &files {
        if let Some(bar) = &progress {
            bar.inc(1);
        }
        let name = file.display().to_string();
        let bytes = match read_input(file, &limits) {
            Ok(b) => b,
            Err(e) => {
                report_error(progress.as_ref(), &format!("{name}: {e:#}"));
                all_ok = false;
                continue;
            }
        };
        let intake = parse_input(&bytes, &limits);
        for problem in &intake.problems {
            let at = if problem.origin == Default::default() {
                String::new()
            } else {
                format!("{}: ", problem.origin)
            };
            report_error(progress.as_ref(), &format!("{name}: {at}{}", problem.error));
            all_ok = false;
        }
        out.write(&name, &intake)
            .with_context(|| format!("writing the output for {name}"))?;
    }
    out.finish()?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(all_ok)
}

fn read_input(path: &Path, limits: &Limits) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path).context("cannot read")?.len();
    if size > limits.max_input_bytes {
        anyhow::bail!(
            "{size} bytes is more than the input limit of {} bytes (raise it with --max-input-bytes)",
            limits.max_input_bytes
        );
    }
    std::fs::read(path).context("cannot read")
}

fn report_error(progress: Option<&indicatif::ProgressBar>, line: &str) {
    match progress {
        Some(bar) => bar.suspend(|| eprintln!("rampart: {line}")),
        None => {
            let _ = writeln!(std::io::stderr(), "rampart: {line}");
        }
    }
}

/// Expands directories (sorted, recursive, report extensions only); files named explicitly are
/// always taken. Returns the files and whether every path could be read.
fn collect_files(paths: &[PathBuf]) -> (Vec<PathBuf>, bool) {
    let mut files = Vec::new();
    let mut ok = true;
    for path in paths {
        if !path.is_dir() {
            if !path.exists() {
                eprintln!("rampart: {}: no such file or directory", path.display());
                ok = false;
                continue;
            }
            files.push(path.clone());
            continue;
        }
        for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
            match entry {
                Ok(e) if e.file_type().is_file() && has_report_extension(e.path()) => {
                    files.push(e.into_path())
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("rampart: {e}");
                    ok = false;
                }
            }
        }
    }
    (files, ok)
}

fn has_report_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| REPORT_EXTENSIONS.iter().any(|r| e.eq_ignore_ascii_case(r)))
}
