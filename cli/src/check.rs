//! `rampart check DOMAIN...`: the DNS health checks of [`rampart_checks`], printed for a
//! person or as JSON lines, with an exit code by the worst finding (the convention of
//! monitoring plugins: 0 ok, 1 warning, 2 error or critical, 3 the check could not run).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use rampart_checks::dns::Dns;
use rampart_checks::mta_sts::{Fetcher, Reach};
use rampart_checks::{Checker, Expect, Report, Severity};
use rampart_query::domains::checked_name;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Domains to check, as registered (A-labels for internationalised names).
    #[arg(required = true, value_name = "DOMAIN")]
    domains: Vec<String>,
    /// Print one JSON object per domain (the API's format) instead of text.
    #[arg(long)]
    json: bool,
    /// The address DMARC and TLS-RPT reports should reach (Rampart's inbound address): the
    /// checks then say whether the records send reports there and whether it is authorised.
    #[arg(long, value_name = "ADDRESS", env = "RAMPART_INBOUND_ADDRESS")]
    rua: Option<String>,
    /// Ask these DNS servers (IP:PORT) instead of the system's, like `dig @server`.
    #[arg(long = "dns-server", value_name = "IP:PORT")]
    dns_servers: Vec<SocketAddr>,
    /// Seconds one DNS query may take.
    #[arg(long, default_value_t = 3)]
    dns_timeout: u64,
    /// PEM certificates to trust beside the system's when fetching MTA-STS policies (a
    /// private CA).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Fetch MTA-STS policies from this port instead of 443 (a policy host on a test machine).
    #[arg(long, default_value_t = 443, hide = true)]
    policy_port: u16,
}

/// Checks every domain; the exit code is that of the worst finding of all.
pub fn main(args: &CheckArgs) -> ExitCode {
    let checked = crate::runtime().and_then(|rt| rt.block_on(run(args)));
    match checked {
        Ok(worst) => ExitCode::from(exit_code(worst)),
        Err(e) => {
            eprintln!("rampart check: {e:#}");
            ExitCode::from(3)
        }
    }
}

/// The exit code of a severity.
pub fn exit_code(worst: Severity) -> u8 {
    match worst {
        Severity::Ok | Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error | Severity::Critical => 2,
    }
}

async fn run(args: &CheckArgs) -> anyhow::Result<Severity> {
    let domains = args
        .domains
        .iter()
        .map(|d| checked_name(d).map_err(|e| anyhow::anyhow!("{}", e.message)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let timeout = Duration::from_secs(args.dns_timeout.max(1));
    let dns = if args.dns_servers.is_empty() {
        Dns::system(timeout, rampart_checks::QUERY_BUDGET)
    } else {
        Dns::with_servers(&args.dns_servers, timeout, rampart_checks::QUERY_BUDGET)
    }
    .map_err(anyhow::Error::msg)?;
    let roots = match &args.ca_file {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?)
        }
        None => None,
    };
    // On the user's own machine, a policy host on the local network is theirs to check.
    let fetcher = Fetcher::new(&dns, roots.as_deref(), Reach::Any)
        .map_err(|e| match &args.ca_file {
            Some(path) => anyhow::anyhow!("{}: {e}", path.display()),
            None => anyhow::anyhow!(e),
        })?
        .with_port(args.policy_port);
    let checker = Checker::new(dns, fetcher);
    let expect = Expect {
        inbound_address: args.rua.clone(),
        ..Expect::default()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut worst = Severity::Ok;
    let mut out = std::io::stdout().lock();
    for domain in &domains {
        let report = checker.check(domain, &expect, now).await;
        worst = worst.max(report.worst);
        if args.json {
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
        } else {
            write!(out, "{}", text(&report))?;
        }
        out.flush()?;
    }
    Ok(worst)
}

/// A report for a terminal: the domain and its verdict, then each finding worst first with
/// its fix indented below it.
pub fn text(report: &Report) -> String {
    let mut text = format!(
        "{}: {}\n",
        report.domain,
        report.worst.as_str().to_ascii_uppercase()
    );
    for finding in &report.findings {
        text.push_str(&format!(
            "  {:<8} {:<7} {}\n",
            finding.severity.as_str(),
            finding.area.title(),
            finding.message
        ));
        if let Some(fix) = &finding.fix {
            text.push_str(&format!("  {:<8} {:<7} fix: {fix}\n", "", ""));
        }
    }
    if let Some(fix) = &report.policy_fix {
        text.push_str(&format!(
            "  the hosted policy that covers the live MX: mode {}, mx {}, max_age {}\n",
            fix.mode.as_str(),
            fix.mx.join(", "),
            fix.max_age
        ));
    }
    text
}
