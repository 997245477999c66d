//! The weekly digest of one domain (or of all of them): the week's volume and pass shares
//! against the week before, sources by classification with the new ones marked, reporters
//! new and silent, TLS sessions and failure types, the DNS status, the alerts of the week,
//! and one next step. It is sent every week, also when nothing arrived: a quiet week says
//! so, and that is how a broken intake shows. The numbers come from the same queries the
//! API answers (the caller fills [`Digest`]); this module only writes them as text and HTML.

use std::fmt::Write;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::mail::escape_html;

/// Sources shown per classification.
pub const SOURCES_PER_CLASS: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// The domain, or `None` for the digest of all domains.
    pub domain: Option<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The dashboard's view of the week.
    pub link: String,
    pub week: Volume,
    pub previous: Volume,
    /// In the order shown: compliant, forwarded, misconfigured, suspicious.
    pub sources: Vec<SourceLine>,
    pub reporters: u64,
    pub new_reporters: Vec<String>,
    pub silent_reporters: Vec<String>,
    pub tls_successful: u64,
    pub tls_failed: u64,
    /// Failed sessions by result type, most first.
    pub tls_failures: Vec<(String, u64)>,
    /// The worst finding of the latest DNS check and when it ran (`YYYY-MM-DD`).
    pub dns: Option<(String, String)>,
    pub alerts: Vec<AlertLine>,
    /// Per domain, in the digest of all domains.
    pub domains: Vec<DomainLine>,
    pub next_step: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub messages: u64,
    pub dmarc_pass: u64,
    pub quarantined: u64,
    pub rejected: u64,
    pub reports: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLine {
    pub classification: String,
    pub name: String,
    pub messages: u64,
    pub dmarc_pass: u64,
    pub new: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertLine {
    pub severity: String,
    pub title: String,
    /// `open`, `resolved`, or `snoozed`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainLine {
    pub domain: String,
    pub week: Volume,
    pub previous: Volume,
    pub dns: Option<String>,
}

/// The pass share as shown: one decimal, or a dash without mail.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.1} %", part as f64 * 100.0 / whole as f64)
    }
}

/// The change of a share in points, signed, or nothing when either week had no mail.
fn points(now: &Volume, before: &Volume) -> String {
    if now.messages == 0 || before.messages == 0 {
        return String::new();
    }
    let share = |v: &Volume| v.dmarc_pass as f64 * 100.0 / v.messages as f64;
    format!(" ({:+.1} points)", share(now) - share(before))
}

fn count_change(now: u64, before: u64) -> String {
    if before == 0 {
        return String::new();
    }
    let change = (now as f64 - before as f64) * 100.0 / before as f64;
    format!(" ({change:+.0} %)")
}

impl Digest {
    pub fn is_quiet(&self) -> bool {
        self.week.messages == 0
            && self.week.reports == 0
            && self.tls_successful == 0
            && self.tls_failed == 0
    }

    fn name(&self) -> &str {
        self.domain.as_deref().unwrap_or("all domains")
    }

    pub fn subject(&self) -> String {
        if self.is_quiet() {
            return format!(
                "Rampart weekly: no reports for {} ({} to {})",
                self.name(),
                self.from,
                self.to
            );
        }
        format!(
            "Rampart weekly: {} – {} messages, {} passed DMARC ({} to {})",
            self.name(),
            self.week.messages,
            percent(self.week.dmarc_pass, self.week.messages),
            self.from,
            self.to
        )
    }

    pub fn text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "{}, {} to {}\n", self.name(), self.from, self.to);
        if self.is_quiet() {
            let _ = writeln!(
                t,
                "No reports arrived this week. Reporters send daily, so a quiet week usually \
                 means the DMARC record no longer names Rampart in rua=, or mail no longer \
                 reaches Rampart's intake.\n"
            );
        } else {
            let w = &self.week;
            let _ = writeln!(
                t,
                "Messages: {}{}\nPassed DMARC: {}{}\nQuarantined: {}  Rejected: {}\nReports: {}\n",
                w.messages,
                count_change(w.messages, self.previous.messages),
                percent(w.dmarc_pass, w.messages),
                points(w, &self.previous),
                w.quarantined,
                w.rejected,
                w.reports
            );
        }
        if !self.domains.is_empty() {
            let _ = writeln!(t, "Domains:");
            for d in &self.domains {
                let _ = writeln!(
                    t,
                    "  {}: {} messages, {} passed{}{}",
                    d.domain,
                    d.week.messages,
                    percent(d.week.dmarc_pass, d.week.messages),
                    points(&d.week, &d.previous),
                    d.dns
                        .as_deref()
                        .map(|w| format!(", DNS {w}"))
                        .unwrap_or_default()
                );
            }
            t.push('\n');
        }
        if !self.alerts.is_empty() {
            let _ = writeln!(t, "Alerts:");
            for a in &self.alerts {
                let _ = writeln!(t, "  [{}] {} ({})", a.severity, a.title, a.status);
            }
            t.push('\n');
        }
        if !self.sources.is_empty() {
            let _ = writeln!(t, "Sources:");
            for s in &self.sources {
                let _ = writeln!(
                    t,
                    "  {:<13} {}{}: {} messages, {} passed",
                    s.classification,
                    s.name,
                    if s.new { " (new)" } else { "" },
                    s.messages,
                    percent(s.dmarc_pass, s.messages)
                );
            }
            t.push('\n');
        }
        let _ = writeln!(t, "Reporters: {}", self.reporters);
        if !self.new_reporters.is_empty() {
            let _ = writeln!(t, "  new: {}", self.new_reporters.join(", "));
        }
        if !self.silent_reporters.is_empty() {
            let _ = writeln!(t, "  silent: {}", self.silent_reporters.join(", "));
        }
        let tls = self.tls_successful + self.tls_failed;
        if tls > 0 {
            let _ = writeln!(
                t,
                "\nTLS sessions: {tls}, {} failed ({})",
                self.tls_failed,
                percent(self.tls_failed, tls)
            );
            for (kind, n) in &self.tls_failures {
                let _ = writeln!(t, "  {kind}: {n}");
            }
        }
        if let Some((worst, at)) = &self.dns {
            let _ = writeln!(t, "\nDNS check: {worst} (checked {at})");
        }
        let _ = writeln!(t, "\nNext step: {}\n\n{}", self.next_step, self.link);
        t
    }

    pub fn html(&self) -> String {
        let e = escape_html;
        let mut h = String::new();
        h.push_str(
            "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;\
             color:#1b1f24;max-width:640px\">",
        );
        let _ = write!(
            h,
            "<h1 style=\"font-size:20px\">{}</h1><p>{} to {}</p>",
            e(self.name()),
            self.from,
            self.to
        );
        if self.is_quiet() {
            h.push_str(
                "<p><strong>No reports arrived this week.</strong> Reporters send daily, so a \
                 quiet week usually means the DMARC record no longer names Rampart in rua=, \
                 or mail no longer reaches Rampart's intake.</p>",
            );
        } else {
            let w = &self.week;
            let _ = write!(
                h,
                "<table cellpadding=\"4\"><tr><td>Messages</td><td><b>{}</b>{}</td></tr>\
                 <tr><td>Passed DMARC</td><td><b>{}</b>{}</td></tr>\
                 <tr><td>Quarantined</td><td>{}</td></tr><tr><td>Rejected</td><td>{}</td></tr>\
                 <tr><td>Reports</td><td>{}</td></tr></table>",
                w.messages,
                e(&count_change(w.messages, self.previous.messages)),
                e(&percent(w.dmarc_pass, w.messages)),
                e(&points(w, &self.previous)),
                w.quarantined,
                w.rejected,
                w.reports
            );
        }
        if !self.domains.is_empty() {
            h.push_str("<h2 style=\"font-size:16px\">Domains</h2><table cellpadding=\"4\">");
            for d in &self.domains {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td></tr>",
                    e(&d.domain),
                    d.week.messages,
                    e(&percent(d.week.dmarc_pass, d.week.messages)),
                    e(&points(&d.week, &d.previous)),
                    e(d.dns.as_deref().unwrap_or(""))
                );
            }
            h.push_str("</table>");
        }
        if !self.alerts.is_empty() {
            h.push_str("<h2 style=\"font-size:16px\">Alerts</h2><ul>");
            for a in &self.alerts {
                let _ = write!(
                    h,
                    "<li><b>{}</b> {} <i>({})</i></li>",
                    e(&a.severity),
                    e(&a.title),
                    e(&a.status)
                );
            }
            h.push_str("</ul>");
        }
        if !self.sources.is_empty() {
            h.push_str(
                "<h2 style=\"font-size:16px\">Sources</h2><table cellpadding=\"4\">\
                 <tr><th align=\"left\">Class</th><th align=\"left\">Source</th>\
                 <th align=\"right\">Messages</th><th align=\"right\">Passed</th></tr>",
            );
            for s in &self.sources {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}{}</td><td align=\"right\">{}</td>\
                     <td align=\"right\">{}</td></tr>",
                    e(&s.classification),
                    e(&s.name),
                    if s.new { " <b>new</b>" } else { "" },
                    s.messages,
                    e(&percent(s.dmarc_pass, s.messages))
                );
            }
            h.push_str("</table>");
        }
        let _ = write!(h, "<p>Reporters: {}", self.reporters);
        if !self.new_reporters.is_empty() {
            let _ = write!(h, "; new: {}", e(&self.new_reporters.join(", ")));
        }
        if !self.silent_reporters.is_empty() {
            let _ = write!(h, "; silent: {}", e(&self.silent_reporters.join(", ")));
        }
        h.push_str("</p>");
        let tls = self.tls_successful + self.tls_failed;
        if tls > 0 {
            let _ = write!(
                h,
                "<p>TLS sessions: {tls}, {} failed ({})</p><ul>",
                self.tls_failed,
                e(&percent(self.tls_failed, tls))
            );
            for (kind, n) in &self.tls_failures {
                let _ = write!(h, "<li>{}: {n}</li>", e(kind));
            }
            h.push_str("</ul>");
        }
        if let Some((worst, at)) = &self.dns {
            let _ = write!(h, "<p>DNS check: {} (checked {})</p>", e(worst), e(at));
        }
        let _ = write!(
            h,
            "<p><b>Next step:</b> {}</p><p><a href=\"{}\">Open the dashboard</a></p>\
             </body></html>",
            e(&self.next_step),
            e(&self.link)
        );
        h
    }
}

/// What a domain's data says to do next, in one sentence.
#[derive(Debug, Clone, Default)]
pub struct Standing<'a> {
    pub domain: &'a str,
    /// The `p=` published, when reports said.
    pub policy: Option<&'a str>,
    /// Days of the last 30 with reports.
    pub days_with_reports: u64,
    /// Messages and DMARC passes of the compliant and misconfigured sources (those that are
    /// the domain's own) over the last 30 days.
    pub own_messages: u64,
    pub own_pass: u64,
    /// The own source passing least, with its share, when under 98 %.
    pub weakest: Option<(&'a str, f64)>,
    pub mta_sts_mode: Option<&'a str>,
    pub inbound: &'a str,
}

/// The share of the domain's own mail that must pass before a stricter policy is safe.
pub const READY_PERCENT: f64 = 98.0;

pub fn next_step(s: &Standing<'_>) -> String {
    if s.days_with_reports == 0 {
        return format!(
            "No reports in 30 days: publish rua=mailto:{} in _dmarc.{} and check it with \
             `rampart check {}`.",
            s.inbound, s.domain, s.domain
        );
    }
    let share = if s.own_messages == 0 {
        0.0
    } else {
        s.own_pass as f64 * 100.0 / s.own_messages as f64
    };
    if let Some((name, pass)) = s.weakest {
        return format!(
            "{name}: {pass:.1} % of its mail passes DMARC; align its SPF or DKIM with {} \
             before tightening the policy.",
            s.domain
        );
    }
    let ready = s.days_with_reports >= 30 && share >= READY_PERCENT;
    match (s.policy, ready) {
        (Some("none") | None, true) => format!(
            "30 days at {share:.1} % aligned from your own sources: ready for p=quarantine."
        ),
        (Some("quarantine"), true) => format!(
            "30 days at {share:.1} % aligned from your own sources under p=quarantine: ready \
             for p=reject."
        ),
        (Some("reject"), _) if s.mta_sts_mode != Some("enforce") => {
            "p=reject holds. Next, move MTA-STS to enforce so mail to you is encrypted too.".into()
        }
        (Some("reject"), _) => "p=reject and MTA-STS enforce hold: nothing to do.".into(),
        _ => format!(
            "{} days of reports in the last 30, {share:.1} % of your own mail aligned: keep \
             watching until 30 days at {READY_PERCENT} %.",
            s.days_with_reports
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week() -> Digest {
        Digest {
            domain: Some("example.com".into()),
            from: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 11, 29).unwrap(),
            link: "https://rampart.example/ui/d/example.com?from=2026-11-23&to=2026-11-29".into(),
            week: Volume {
                messages: 7000,
                dmarc_pass: 6860,
                quarantined: 0,
                rejected: 120,
                reports: 21,
            },
            previous: Volume {
                messages: 7000,
                dmarc_pass: 6930,
                quarantined: 0,
                rejected: 0,
                reports: 21,
            },
            sources: vec![SourceLine {
                classification: "suspicious".into(),
                name: "203.0.113.0/24 <script>".into(),
                messages: 120,
                dmarc_pass: 0,
                new: true,
            }],
            reporters: 3,
            new_reporters: vec![],
            silent_reporters: vec!["Yahoo".into()],
            tls_successful: 3500,
            tls_failed: 14,
            tls_failures: vec![("certificate-expired".into(), 14)],
            dns: Some(("error".into(), "2026-11-29".into())),
            alerts: vec![],
            domains: vec![],
            next_step: "x".into(),
        }
    }

    #[test]
    fn a_week_in_numbers_with_the_change_against_the_last() {
        let d = week();
        assert_eq!(
            d.subject(),
            "Rampart weekly: example.com – 7000 messages, 98.0 % passed DMARC (2026-11-23 to 2026-11-29)"
        );
        let text = d.text();
        assert!(
            text.contains("Passed DMARC: 98.0 % (-1.0 points)"),
            "{text}"
        );
        assert!(text.contains("Messages: 7000 (+0 %)"), "{text}");
        assert!(
            text.contains(
                "suspicious    203.0.113.0/24 <script> (new): 120 messages, 0.0 % passed"
            )
        );
        assert!(text.contains("  silent: Yahoo"));
        assert!(text.contains("TLS sessions: 3514, 14 failed (0.4 %)"));
        let html = d.html();
        assert!(html.contains("203.0.113.0/24 &lt;script&gt; <b>new</b>"));
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn a_quiet_week_still_says_so() {
        let mut d = week();
        d.week = Volume::default();
        d.sources.clear();
        d.tls_successful = 0;
        d.tls_failed = 0;
        assert!(d.is_quiet());
        assert_eq!(
            d.subject(),
            "Rampart weekly: no reports for example.com (2026-11-23 to 2026-11-29)"
        );
        assert!(d.text().contains("No reports arrived this week."));
        assert!(d.html().contains("No reports arrived this week."));
    }

    #[test]
    fn the_next_step_follows_the_policy_and_the_own_sources() {
        let base = Standing {
            domain: "example.com",
            policy: Some("none"),
            days_with_reports: 30,
            own_messages: 10_000,
            own_pass: 9_850,
            inbound: "reports@rua.rampart.example",
            ..Standing::default()
        };
        assert_eq!(
            next_step(&base),
            "30 days at 98.5 % aligned from your own sources: ready for p=quarantine."
        );
        assert!(
            next_step(&Standing {
                policy: Some("quarantine"),
                ..base.clone()
            })
            .ends_with("ready for p=reject.")
        );
        assert_eq!(
            next_step(&Standing {
                policy: Some("reject"),
                ..base.clone()
            }),
            "p=reject holds. Next, move MTA-STS to enforce so mail to you is encrypted too."
        );
        assert_eq!(
            next_step(&Standing {
                weakest: Some(("Mailchimp", 61.0)),
                ..base.clone()
            }),
            "Mailchimp: 61.0 % of its mail passes DMARC; align its SPF or DKIM with \
             example.com before tightening the policy."
        );
        assert!(
            next_step(&Standing {
                days_with_reports: 0,
                ..base.clone()
            })
            .starts_with("No reports in 30 days: publish rua=mailto:reports@rua.rampart.example")
        );
        assert_eq!(
            next_step(&Standing {
                days_with_reports: 12,
                ..base
            }),
            "12 days of reports in the last 30, 98.5 % of your own mail aligned: keep \
             watching until 30 days at 98 %."
        );
    }
}
