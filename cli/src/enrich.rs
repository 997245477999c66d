//! Source enrichment options of the store commands, and `rampart reprocess --enrich`.

use std::io::Write;

use rampart_formats::Report;
use rampart_formats::time::now;
use rampart_sources::{EnrichSettings, Enricher, ReverseDns, resolver_from_spec};
use rampart_store::{DayRange, Store, WriteMode};
use serde::Serialize;

use crate::files::{progress, report_error};

#[derive(clap::Args)]
pub struct EnrichArgs {
    /// Reverse DNS of source addresses: `system` (/etc/resolv.conf), `off`, or DNS servers
    /// as a comma-separated list of address[:port].
    #[arg(
        long,
        env = "RAMPART_RESOLVER",
        default_value = "system",
        value_name = "SERVERS"
    )]
    resolver: String,
    /// Seconds all reverse DNS lookups of one report may take together; what is not
    /// answered by then is left for `rampart reprocess --enrich`.
    #[arg(
        long,
        env = "RAMPART_DNS_BUDGET",
        default_value_t = 10.0,
        value_name = "SECONDS"
    )]
    dns_budget: f64,
}

impl EnrichArgs {
    /// The DNS health checks over the same resolver; `None` when it is `off`.
    pub fn checker(&self) -> anyhow::Result<Option<rampart_checks::Checker>> {
        rampart_checks::Checker::from_spec(&self.resolver).map_err(anyhow::Error::msg)
    }

    pub fn enricher(&self) -> anyhow::Result<Enricher> {
        let settings = EnrichSettings {
            budget: std::time::Duration::try_from_secs_f64(self.dns_budget.max(0.0))
                .map_err(|e| anyhow::anyhow!("--dns-budget: {e}"))?,
            ..EnrichSettings::default()
        };
        let resolver = resolver_from_spec(&self.resolver, settings.lookup_timeout)
            .map_err(anyhow::Error::msg)?;
        let enricher = Enricher::new(resolver, settings);
        if !enricher.has_ip_database() {
            eprintln!(
                "rampart: built without the IP databases (run scripts/ipdb.sh and rebuild): no country or AS is stored"
            );
        }
        Ok(enricher)
    }
}

/// One output line of `rampart reprocess --enrich`.
#[derive(Serialize)]
struct EnrichLine<'a> {
    report: &'a str,
    domain: &'a str,
    day: &'a str,
    sources: usize,
    /// Addresses still without an answer (the resolver did not answer in time).
    unresolved: usize,
    /// True when the stored sources changed.
    changed: bool,
}

/// Re-enriches every stored aggregate report, day by day, and stores those whose sources
/// changed. Returns whether no write failed.
pub async fn reprocess_sources<S: Store>(store: &S, enricher: &Enricher) -> anyhow::Result<bool> {
    let domains = rampart_store::every_domain(store).await?;
    let bar = progress(domains.len(), true);
    let mut out = std::io::stdout().lock();
    let (mut reports, mut changed, mut failed, mut unresolved) = (0usize, 0usize, 0usize, 0usize);
    for domain in &domains {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        // Every report counts on the day it is filed under, so the days with counters are
        // the days with reports: one small read, then one day of reports at a time.
        let days = store
            .day_counts(&domain.name, &DayRange::new("0000-00-00", "9999-12-31"))
            .await?;
        for (day, _) in days {
            for mut stored in store
                .reports(&domain.name, &DayRange::new(&day, &day))
                .await?
            {
                let Report::Aggregate(report) = &stored.report else {
                    continue;
                };
                reports += 1;
                let (mut sources, done) = enricher.enrich(store, report, now(), None).await;
                enricher.carry_over(&mut sources, &stored.sources);
                let still = sources
                    .values()
                    .filter(|s| s.reverse_dns == ReverseDns::Unresolved)
                    .count();
                unresolved += still;
                let differs = sources != stored.sources;
                stored.sources = sources;
                if differs {
                    match store.put_report(&stored, WriteMode::Replace).await {
                        Ok(_) => changed += 1,
                        Err(e) => {
                            failed += 1;
                            report_error(bar.as_ref(), &format!("report {}: {e}", stored.id));
                        }
                    }
                }
                let line = EnrichLine {
                    report: stored.id.as_str(),
                    domain: &domain.name,
                    day: &day,
                    sources: done.addresses,
                    unresolved: still,
                    changed: differs,
                };
                writeln!(out, "{}", serde_json::to_string(&line)?)?;
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    eprintln!(
        "rampart: enriched {reports} reports: {changed} changed, {failed} failed, {unresolved} addresses still unresolved"
    );
    Ok(failed == 0)
}
