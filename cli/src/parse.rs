//! `rampart parse`: print the reports in files and mails, without storing anything.

use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;
use rampart_formats::Limits;
use rampart_formats::intake::parse_input;

use crate::files::{ReadError, collect_files, progress, read_input, report_error};
use crate::output;

#[derive(clap::Args)]
pub struct ParseArgs {
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
pub enum Format {
    Json,
    Csv,
}

/// Returns whether every input gave its reports without a problem.
pub fn parse(args: &ParseArgs) -> anyhow::Result<bool> {
    let limits = Limits {
        max_input_bytes: args.max_input_bytes,
        max_payload_bytes: args.max_payload_bytes,
        ..Limits::default()
    };
    let (files, unreadable) = collect_files(&args.paths);
    let mut all_ok = unreadable.is_empty();
    for u in &unreadable {
        report_error(None, &format!("{}: {}", u.name, u.reason));
    }
    let progress = progress(files.len(), args.paths.iter().any(|p| p.is_dir()));
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
                let hint = match e {
                    ReadError::TooLarge { .. } => " (raise it with --max-input-bytes)",
                    ReadError::Io(_) => "",
                };
                report_error(progress.as_ref(), &format!("{name}: {e}{hint}"));
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
