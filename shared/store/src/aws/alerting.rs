//! [`AlertStore`] over the DynamoDB table. Items:
//!
//! | item          | pk             | sk           | attributes                                  |
//! |---------------|----------------|--------------|---------------------------------------------|
//! | alert         | `D#<domain>`   | `L#<id>`     | `version`, `body`, `expires_at` (resolved)  |
//! | facts day     | `D#<domain>`   | `F#<day>`    | `facts`, `expires_at`                       |
//! | settings      | `D#<scope>`    | `S#alerts`   | `settings`                                  |
//! | suppression   | `SUPPRESS`     | `<address>`  | `reason`, `at`                              |
//! | claim         | `CLAIM#<key>`  | `C`          | `expires_at`                                |
//! | request       | `ALERTS`       | `D#<domain>` | none: evaluate the domain's alerts next run |
//!
//! An alert is written on condition of the version read (`attribute_not_exists(pk)` for
//! the first), a claim on condition that none is held; `expires_at` is the table's TTL.

use aws_sdk_dynamodb::operation::put_item::PutItemError;

use super::*;
use crate::alerting::{
    AlertItem, AlertStore, FACTS_SECONDS, Suppression, bounded, normalise_scope,
};

const SUPPRESSIONS: &str = "SUPPRESS";
/// Marker partition: the domains whose alerts are to be evaluated.
pub(super) const ALERT_REQUESTS: &str = "ALERTS";
const SETTINGS_SK: &str = "S#alerts";

impl AlertStore for AwsStore {
    async fn alerts(&self, domain: &str) -> Result<Vec<AlertItem>, StoreError> {
        let domain = normalise_domain(domain);
        let items = self
            .domain_range(&domain, "L#".to_owned(), "L#~".to_owned())
            .await?;
        items
            .iter()
            .map(|i| {
                let corrupt = || StoreError::corrupt("alert", "a field is missing");
                Ok(AlertItem {
                    domain: domain.clone(),
                    id: text(i, "sk")
                        .and_then(|k| k.strip_prefix("L#"))
                        .ok_or_else(corrupt)?
                        .to_owned(),
                    version: number(i, "version")
                        .and_then(|v| u64::try_from(v).ok())
                        .ok_or_else(corrupt)?,
                    body: text(i, "body").ok_or_else(corrupt)?.to_owned(),
                    expires_at: number(i, "expires_at"),
                })
            })
            .collect()
    }

    async fn put_alert(&self, item: &AlertItem) -> Result<bool, StoreError> {
        bounded("alert", &item.body)?;
        let version = i64::try_from(item.version).unwrap_or(i64::MAX);
        let mut put = Item::from([
            (
                "pk".into(),
                s(format!("D#{}", normalise_domain(&item.domain))),
            ),
            ("sk".into(), s(format!("L#{}", item.id))),
            ("version".into(), n(version)),
            ("body".into(), s(&item.body)),
        ]);
        if let Some(at) = item.expires_at {
            put.insert("expires_at".into(), n(at));
        }
        let request = self
            .ddb
            .put_item()
            .table_name(&self.at.table)
            .set_item(Some(put));
        let request = if version <= 1 {
            request.condition_expression("attribute_not_exists(pk)")
        } else {
            request
                .condition_expression("version = :previous")
                .expression_attribute_values(":previous", n(version - 1))
        };
        conditional(request.send().await, "store alert")
    }

    async fn put_alert_days(
        &self,
        domain: &str,
        days: &[(String, String)],
    ) -> Result<(), StoreError> {
        let domain = normalise_domain(domain);
        let mut requests = Vec::with_capacity(days.len());
        for (day, facts) in days {
            bounded("alert facts", facts)?;
            let start = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|e| StoreError::corrupt("alert facts day", e))?
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp())
                .unwrap_or_default();
            requests.push(put_request(Item::from([
                ("pk".into(), s(format!("D#{domain}"))),
                ("sk".into(), s(format!("F#{day}"))),
                ("facts".into(), s(facts)),
                ("expires_at".into(), n(start.saturating_add(FACTS_SECONDS))),
            ]))?);
        }
        self.write_all(requests).await
    }

    async fn alert_days(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let items = self
            .domain_range(domain, format!("F#{}", days.from), format!("F#{}", days.to))
            .await?;
        items
            .iter()
            .map(|i| {
                let corrupt = || StoreError::corrupt("alert facts", "a field is missing");
                Ok((
                    text(i, "sk")
                        .and_then(|k| k.strip_prefix("F#"))
                        .ok_or_else(corrupt)?
                        .to_owned(),
                    text(i, "facts").ok_or_else(corrupt)?.to_owned(),
                ))
            })
            .collect()
    }

    async fn alert_settings(&self, scope: &str) -> Result<Option<String>, StoreError> {
        let found = self
            .ddb
            .get_item()
            .table_name(&self.at.table)
            .key("pk", s(format!("D#{}", normalise_scope(scope))))
            .key("sk", s(SETTINGS_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("read alert settings", e))?;
        Ok(found
            .item()
            .and_then(|i| text(i, "settings"))
            .map(str::to_owned))
    }

    async fn put_alert_settings(&self, scope: &str, settings: &str) -> Result<(), StoreError> {
        bounded("alert settings", settings)?;
        let item = Item::from([
            ("pk".into(), s(format!("D#{}", normalise_scope(scope)))),
            ("sk".into(), s(SETTINGS_SK)),
            ("settings".into(), s(settings)),
        ]);
        self.put(item, "store alert settings").await
    }

    async fn suppress(&self, suppression: &Suppression) -> Result<(), StoreError> {
        bounded("suppression", &suppression.reason)?;
        let item = Item::from([
            ("pk".into(), s(SUPPRESSIONS)),
            ("sk".into(), s(suppression.address.to_ascii_lowercase())),
            ("reason".into(), s(&suppression.reason)),
            ("at".into(), n(suppression.at)),
        ]);
        self.put(item, "suppress address").await
    }

    async fn unsuppress(&self, address: &str) -> Result<bool, StoreError> {
        let gone = self
            .ddb
            .delete_item()
            .table_name(&self.at.table)
            .key("pk", s(SUPPRESSIONS))
            .key("sk", s(address.to_ascii_lowercase()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify("unsuppress address", e))?;
        Ok(gone.attributes().is_some_and(|a| !a.is_empty()))
    }

    async fn suppressed(&self, addresses: &[String]) -> Result<Vec<Suppression>, StoreError> {
        // A domain has a handful of recipients: one consistent read each.
        let mut out = Vec::new();
        for address in addresses {
            let address = address.to_ascii_lowercase();
            let found = self
                .ddb
                .get_item()
                .table_name(&self.at.table)
                .key("pk", s(SUPPRESSIONS))
                .key("sk", s(&address))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| classify("read suppressions", e))?;
            if let Some(item) = found.item() {
                out.push(Suppression {
                    reason: text(item, "reason").unwrap_or_default().to_owned(),
                    at: number(item, "at").unwrap_or_default(),
                    address,
                });
            }
        }
        Ok(out)
    }

    async fn claim(&self, key: &str, now: i64, expires_at: i64) -> Result<bool, StoreError> {
        let item = Item::from([
            ("pk".into(), s(format!("CLAIM#{key}"))),
            ("sk".into(), s("C")),
            ("expires_at".into(), n(expires_at)),
        ]);
        let sent = self
            .ddb
            .put_item()
            .table_name(&self.at.table)
            .set_item(Some(item))
            // TTL deletes late: an expired claim still in the table is free.
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        conditional(sent, "claim")
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.delete(format!("CLAIM#{key}"), "C".to_owned(), "release claim")
            .await
    }

    async fn request_alerts(&self, domain: &str) -> Result<(), StoreError> {
        self.put_marker(ALERT_REQUESTS, domain, "request alerts")
            .await
    }

    async fn alert_requests(&self) -> Result<Vec<String>, StoreError> {
        self.markers(ALERT_REQUESTS).await
    }

    async fn alerts_done(&self, domain: &str) -> Result<(), StoreError> {
        self.delete(
            ALERT_REQUESTS.to_owned(),
            format!("D#{}", normalise_domain(domain)),
            "end alert request",
        )
        .await
    }
}

/// `true` when a conditional put was written, `false` when its condition failed.
fn conditional<T>(
    sent: Result<T, SdkError<PutItemError, HttpResponse>>,
    op: &'static str,
) -> Result<bool, StoreError> {
    match sent {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(classify(op, e)),
    }
}
