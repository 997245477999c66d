//! [`AlertStore`] over the SQLite file: one row per alert, facts day, settings scope,
//! suppressed address and claim. The version condition is part of each statement, so a
//! write that lost the race changes nothing and says so.

use super::*;
use crate::alerting::{
    AlertItem, AlertStore, FACTS_SECONDS, Suppression, bounded, normalise_scope,
};

impl AlertStore for EmbeddedStore {
    async fn alerts(&self, domain: &str) -> Result<Vec<AlertItem>, StoreError> {
        let domain = normalise_domain(domain);
        self.blocking(move |inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, version, body, expires_at FROM alerts WHERE domain = ?1
                     ORDER BY id",
                )
                .map_err(|e| sql("read alerts", e))?;
            let rows = stmt
                .query_map([&domain], |r| {
                    Ok(AlertItem {
                        domain: domain.clone(),
                        id: r.get(0)?,
                        version: r.get::<_, i64>(1)?.max(0) as u64,
                        body: r.get(2)?,
                        expires_at: r.get(3)?,
                    })
                })
                .map_err(|e| sql("read alerts", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| sql("read alerts", e))
        })
        .await
    }

    async fn put_alert(&self, item: &AlertItem) -> Result<bool, StoreError> {
        bounded("alert", &item.body)?;
        let item = AlertItem {
            domain: normalise_domain(&item.domain),
            ..item.clone()
        };
        let version = i64::try_from(item.version).unwrap_or(i64::MAX);
        self.blocking(move |inner| {
            let conn = inner.conn();
            let changed = if version <= 1 {
                conn.execute(
                    "INSERT INTO alerts (domain, id, version, body, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                    params![item.domain, item.id, version, item.body, item.expires_at],
                )
            } else {
                conn.execute(
                    "UPDATE alerts SET version = ?3, body = ?4, expires_at = ?5
                     WHERE domain = ?1 AND id = ?2 AND version = ?3 - 1",
                    params![item.domain, item.id, version, item.body, item.expires_at],
                )
            }
            .map_err(|e| sql("store alert", e))?;
            Ok(changed == 1)
        })
        .await
    }

    async fn put_alert_days(
        &self,
        domain: &str,
        days: &[(String, String)],
    ) -> Result<(), StoreError> {
        for (_, facts) in days {
            bounded("alert facts", facts)?;
        }
        let domain = normalise_domain(domain);
        let days = days.to_vec();
        self.blocking(move |inner| {
            let mut conn = inner.conn();
            let tx = conn
                .transaction()
                .map_err(|e| sql("store alert facts", e))?;
            for (day, facts) in &days {
                tx.execute(
                    "INSERT INTO alert_days (domain, day, facts) VALUES (?1, ?2, ?3)
                     ON CONFLICT (domain, day) DO UPDATE SET facts = ?3",
                    params![domain, day, facts],
                )
                .map_err(|e| sql("store alert facts", e))?;
            }
            // Facts older than any rule reads go, as DynamoDB's TTL takes them there.
            if let Some(newest) = days.iter().map(|(d, _)| d.as_str()).max() {
                let keep_from = crate::tally::days_before(newest, (FACTS_SECONDS / 86_400) as u64)
                    .unwrap_or_default();
                tx.execute(
                    "DELETE FROM alert_days WHERE domain = ?1 AND day < ?2",
                    params![domain, keep_from],
                )
                .map_err(|e| sql("store alert facts", e))?;
            }
            tx.commit().map_err(|e| sql("store alert facts", e))
        })
        .await
    }

    async fn alert_days(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let domain = normalise_domain(domain);
        let days = days.clone();
        self.blocking(move |inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT day, facts FROM alert_days WHERE domain = ?1 AND day BETWEEN ?2 AND ?3
                     ORDER BY day",
                )
                .map_err(|e| sql("read alert facts", e))?;
            let rows = stmt
                .query_map(params![domain, days.from, days.to], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(|e| sql("read alert facts", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| sql("read alert facts", e))
        })
        .await
    }

    async fn alert_settings(&self, scope: &str) -> Result<Option<String>, StoreError> {
        let scope = normalise_scope(scope);
        self.blocking(move |inner| {
            inner
                .conn()
                .query_row(
                    "SELECT settings FROM alert_settings WHERE scope = ?1",
                    [&scope],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| sql("read alert settings", e))
        })
        .await
    }

    async fn put_alert_settings(&self, scope: &str, settings: &str) -> Result<(), StoreError> {
        bounded("alert settings", settings)?;
        let (scope, settings) = (normalise_scope(scope), settings.to_owned());
        self.blocking(move |inner| {
            inner
                .conn()
                .execute(
                    "INSERT INTO alert_settings (scope, settings) VALUES (?1, ?2)
                     ON CONFLICT (scope) DO UPDATE SET settings = ?2",
                    params![scope, settings],
                )
                .map(drop)
                .map_err(|e| sql("store alert settings", e))
        })
        .await
    }

    async fn suppress(&self, suppression: &Suppression) -> Result<(), StoreError> {
        let s = Suppression {
            address: suppression.address.to_ascii_lowercase(),
            ..suppression.clone()
        };
        bounded("suppression", &s.reason)?;
        self.blocking(move |inner| {
            inner
                .conn()
                .execute(
                    "INSERT INTO suppressions (address, reason, at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (address) DO UPDATE SET reason = ?2, at = ?3",
                    params![s.address, s.reason, s.at],
                )
                .map(drop)
                .map_err(|e| sql("suppress address", e))
        })
        .await
    }

    async fn unsuppress(&self, address: &str) -> Result<bool, StoreError> {
        let address = address.to_ascii_lowercase();
        self.blocking(move |inner| {
            inner
                .conn()
                .execute("DELETE FROM suppressions WHERE address = ?1", [&address])
                .map(|n| n > 0)
                .map_err(|e| sql("unsuppress address", e))
        })
        .await
    }

    async fn suppressed(&self, addresses: &[String]) -> Result<Vec<Suppression>, StoreError> {
        let addresses: Vec<String> = addresses.iter().map(|a| a.to_ascii_lowercase()).collect();
        self.blocking(move |inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached("SELECT reason, at FROM suppressions WHERE address = ?1")
                .map_err(|e| sql("read suppressions", e))?;
            let mut out = Vec::new();
            for address in addresses {
                let found = stmt
                    .query_row([&address], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(|e| sql("read suppressions", e))?;
                if let Some((reason, at)) = found {
                    out.push(Suppression {
                        address,
                        reason,
                        at,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn claim(&self, key: &str, now: i64, expires_at: i64) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.blocking(move |inner| {
            inner
                .conn()
                .execute(
                    "INSERT INTO claims (key, expires_at) VALUES (?1, ?3)
                     ON CONFLICT (key) DO UPDATE SET expires_at = ?3 WHERE expires_at <= ?2",
                    params![key, now, expires_at],
                )
                .map(|n| n == 1)
                .map_err(|e| sql("claim", e))
        })
        .await
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.execute(
            "release claim",
            "DELETE FROM claims WHERE key = ?1",
            (key.to_owned(),),
        )
        .await
    }

    async fn request_alerts(&self, domain: &str) -> Result<(), StoreError> {
        self.execute(
            "request alerts",
            "INSERT INTO alert_requests (domain) VALUES (?1) ON CONFLICT DO NOTHING",
            (normalise_domain(domain),),
        )
        .await
    }

    async fn alert_requests(&self) -> Result<Vec<String>, StoreError> {
        self.blocking(|inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached("SELECT domain FROM alert_requests ORDER BY domain")
                .map_err(|e| sql("read alert requests", e))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| sql("read alert requests", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| sql("read alert requests", e))
        })
        .await
    }

    async fn alerts_done(&self, domain: &str) -> Result<(), StoreError> {
        self.execute(
            "end alert request",
            "DELETE FROM alert_requests WHERE domain = ?1",
            (normalise_domain(domain),),
        )
        .await
    }
}
