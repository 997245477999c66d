//! Counts of what ingest did, written as CloudWatch embedded-metric-format (EMF) lines.
//!
//! An EMF line is a JSON log line that CloudWatch turns into metrics without any API call,
//! so counting costs the function nothing but a line of stdout.

use serde::Serialize;

use crate::Ingested;
use rampart_store::Outcome;

/// Per-invocation totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestCounts {
    /// Raw messages processed.
    pub mails: u64,
    /// Reports newly stored (or replaced).
    pub reports: u64,
    /// Records in those reports.
    pub records: u64,
    /// Reports that were already stored.
    pub duplicates: u64,
    /// Messages rejected as unreadable or not countable.
    pub rejected: u64,
    /// Messages held for domains that are not registered.
    pub held: u64,
    /// Messages that failed and will be retried.
    pub failed: u64,
}

impl IngestCounts {
    pub fn add(&mut self, done: &Ingested) {
        self.mails += 1;
        self.reports += u64::from(done.stored);
        self.records += done.records;
        self.duplicates += u64::from(done.duplicates);
        match done.outcome {
            Outcome::Rejected => self.rejected += 1,
            Outcome::Held => self.held += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Stored | Outcome::Duplicate => {}
        }
    }

    /// One EMF line in namespace `Rampart`, dimension `Function`.
    pub fn emf_line(&self, function: &str, timestamp_ms: i64) -> String {
        let metrics: Vec<serde_json::Value> = self
            .values()
            .iter()
            .map(|(name, _)| serde_json::json!({"Name": name, "Unit": "Count"}))
            .collect();
        let mut line = serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": "Rampart",
                    "Dimensions": [["Function"]],
                    "Metrics": metrics,
                }],
            },
            "Function": function,
        });
        for (name, value) in self.values() {
            line[name] = value.into();
        }
        line.to_string()
    }

    fn values(&self) -> [(&'static str, u64); 7] {
        [
            ("Mails", self.mails),
            ("Reports", self.reports),
            ("Records", self.records),
            ("Duplicates", self.duplicates),
            ("Rejected", self.rejected),
            ("Held", self.held),
            ("Failed", self.failed),
        ]
    }
}

/// One EMF line counting one refused TLS report upload, by reason (`Reason` dimension: the
/// refusal's code), and saying why in the same line, which is the operator's log line.
pub fn refused_upload_line(reason: &str, message: &str, timestamp_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Rampart",
                "Dimensions": [["Function", "Reason"]],
                "Metrics": [{"Name": "UploadsRefused", "Unit": "Count"}],
            }],
        },
        "Function": "query",
        "Reason": reason,
        "UploadsRefused": 1,
        "message": message,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_is_exact() {
        let counts = IngestCounts {
            mails: 3,
            reports: 2,
            records: 7,
            duplicates: 1,
            rejected: 1,
            held: 2,
            failed: 0,
        };
        assert_eq!(
            counts.emf_line("ingest", 1_700_000_000_000),
            r#"{"Duplicates":1,"Failed":0,"Function":"ingest","Held":2,"Mails":3,"Records":7,"Rejected":1,"Reports":2,"_aws":{"CloudWatchMetrics":[{"Dimensions":[["Function"]],"Metrics":[{"Name":"Mails","Unit":"Count"},{"Name":"Reports","Unit":"Count"},{"Name":"Records","Unit":"Count"},{"Name":"Duplicates","Unit":"Count"},{"Name":"Rejected","Unit":"Count"},{"Name":"Held","Unit":"Count"},{"Name":"Failed","Unit":"Count"}],"Namespace":"Rampart"}],"Timestamp":1700000000000}}"#
        );
    }
}
