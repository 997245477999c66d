//! The dashboard on one big domain: time to a settled Domains, Overview, Readiness and
//! Explore screen in Chromium, the bytes transferred, and the API time behind each, on an
//! embedded store holding the benchmark domain ([`common::bench_domain`]: 1,000,500 records
//! over 30 days) with its sources enriched from the bundled IP database and service list.
//!
//! Not a criterion benchmark: the browser is the thing measured. This fills (once) a data
//! folder under the target directory, starts `rampart serve` on it (the release binary,
//! `RAMPART_BIN`, which `./scripts/bench` builds), and runs `tests/ui/bench.mjs`, which
//! prints the figures. Run: `./scripts/bench --bench dashboard`. Figures go to
//! `docs/performance.md`.

#[path = "../common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::bench_domain::{DOMAIN, all_reports, templates};
use rampart_formats::Report;
use rampart_sources::{EnrichSettings, Enricher};
use rampart_store::embedded::EmbeddedStore;
use rampart_store::{Store, WriteMode};

/// Marks a data folder that holds every report.
const FILLED: &str = "bench-filled";

fn main() {
    // `cargo bench` passes `--bench`; this target takes no other arguments.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-dashboard");
    if !dir.join(FILLED).exists() {
        fill(&dir);
    }
    let bin = std::env::var_os("RAMPART_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/rampart"));
    let mut serve = Command::new(&bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&dir)
        .env("RAMPART_RESOLVER", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (build it: cargo build --release --bin rampart)",
                bin.display()
            )
        });
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let origin = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .map(|host| format!("http://{host}"))
        .expect("rampart serve prints its URL");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/bench.mjs");
    let status = Command::new("node")
        .arg(&script)
        .arg(&origin)
        .arg(DOMAIN)
        .status()
        .expect("node runs tests/ui/bench.mjs");
    // The server's peak resident memory over every screen load (Linux).
    let proc_status =
        std::fs::read_to_string(format!("/proc/{}/status", serve.id())).unwrap_or_default();
    if let Some(peak) = proc_status.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
        println!("\nrampart serve peak resident memory: {}", peak.trim());
    }
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(status.success(), "tests/ui/bench.mjs failed");
}

/// Stores the benchmark domain, each template's sources enriched once as ingest would.
fn fill(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = EmbeddedStore::open(dir).unwrap();
    let templates = templates();
    let enricher = Enricher::new(None, EnrichSettings::default());
    let sources: Vec<_> = templates
        .iter()
        .map(|t| match t {
            Report::Aggregate(r) => rt.block_on(enricher.enrich(&store, r, 0, None)).0,
            Report::Tls(_) => Default::default(),
        })
        .collect();
    let reports = all_reports(&templates, &sources);
    let start = Instant::now();
    rt.block_on(async {
        for r in &reports {
            store.put_report(r, WriteMode::Insert).await.unwrap();
        }
    });
    eprintln!(
        "bench domain: {} reports stored in {:.1} s",
        reports.len(),
        start.elapsed().as_secs_f64()
    );
    std::fs::write(dir.join(FILLED), b"").unwrap();
}
