//! Finding input files and telling the user about each one.

use std::io::Write;
use std::path::{Path, PathBuf};

use rampart_formats::Limits;

const REPORT_EXTENSIONS: [&str; 5] = ["eml", "xml", "json", "gz", "zip"];

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{size} bytes is more than the input limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads an input file, refusing one over the input limit without reading it.
pub fn read_input(path: &Path, limits: &Limits) -> Result<Vec<u8>, ReadError> {
    let size = std::fs::metadata(path)?.len();
    if size > limits.max_input_bytes {
        return Err(ReadError::TooLarge {
            size,
            max: limits.max_input_bytes,
        });
    }
    Ok(std::fs::read(path)?)
}

pub fn report_error(progress: Option<&indicatif::ProgressBar>, line: &str) {
    match progress {
        Some(bar) => bar.suspend(|| eprintln!("rampart: {line}")),
        None => {
            let _ = writeln!(std::io::stderr(), "rampart: {line}");
        }
    }
}

/// A path given or found that cannot be read, and why.
pub struct Unreadable {
    pub name: String,
    pub reason: String,
}

/// Expands directories (sorted, recursive, report extensions only); files named explicitly are
/// always taken. Returns the files, and the paths that could not be read.
pub fn collect_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Unreadable>) {
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    for path in paths {
        if !path.is_dir() {
            if !path.exists() {
                unreadable.push(Unreadable {
                    name: path.display().to_string(),
                    reason: "no such file or directory".to_owned(),
                });
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
                Err(e) => unreadable.push(Unreadable {
                    name: e.path().unwrap_or(path).display().to_string(),
                    reason: e
                        .io_error()
                        .map(|io| io.to_string())
                        .unwrap_or_else(|| e.to_string()),
                }),
            }
        }
    }
    (files, unreadable)
}

fn has_report_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| REPORT_EXTENSIONS.iter().any(|r| e.eq_ignore_ascii_case(r)))
}

/// A progress bar on stderr, when it is a terminal and the run is long enough to need one.
pub fn progress(files: usize, walked_a_directory: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    (files > 1 && walked_a_directory && std::io::stderr().is_terminal())
        .then(|| indicatif::ProgressBar::new(files as u64))
}
