//! The [`Store`] and [`NameCache`] traits over the database and the raw folder.

use super::*;

impl Store for EmbeddedStore {
    async fn put_raw(&self, key: &RawKey, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.raw_path(key);
        let bytes = bytes.to_vec();
        self.blocking(move |_| write_atomically(&path, &bytes))
            .await
    }

    async fn get_raw(&self, key: &RawKey, max_bytes: u64) -> Result<RawRead, StoreError> {
        let path = self.raw_path(key);
        self.blocking(move |_| {
            let size = match std::fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RawRead::Missing),
                Err(e) => return Err(io_error(&path, e)),
            };
            if size > max_bytes {
                return Ok(RawRead::TooLarge { size });
            }
            std::fs::read(&path)
                .map(RawRead::Bytes)
                .map_err(|e| io_error(&path, e))
        })
        .await
    }

    async fn raw_keys(&self) -> Result<Vec<RawKey>, StoreError> {
        self.blocking(|inner| {
            let mut keys = Vec::new();
            for entry in walkdir::WalkDir::new(&inner.raw_dir).sort_by_file_name() {
                let entry = entry.map_err(|e| StoreError::Io {
                    path: inner.raw_dir.display().to_string(),
                    source: e.into(),
                })?;
                let name = entry.file_name().to_string_lossy();
                if !entry.file_type().is_file() || name.starts_with(".tmp-") {
                    continue;
                }
                let rel = entry
                    .path()
                    .strip_prefix(&inner.raw_dir)
                    .unwrap_or(entry.path());
                let rel = rel.to_string_lossy().replace('\\', "/");
                if let Ok(key) = RawKey::new(rel) {
                    keys.push(key);
                }
            }
            Ok(keys)
        })
        .await
    }

    async fn mark_raw(&self, _key: &RawKey, _outcome: Outcome) -> Result<(), StoreError> {
        // A file carries no tag; the `messages` table holds the outcome.
        Ok(())
    }

    async fn put_report(
        &self,
        report: &StoredReport,
        mode: WriteMode,
    ) -> Result<PutReport, StoreError> {
        // Most second copies are duplicates: recognise them before compressing anything.
        let hash = Body::hash_of(&report.report, &report.sources)?;
        let id = report.id.as_str().to_owned();
        let stored = self.blocking(move |inner| inner.stored_hash(&id)).await?;
        match (stored, mode) {
            (Some(_), WriteMode::Insert) => return Ok(PutReport::Duplicate),
            (Some(h), WriteMode::Replace) if h == hash => return Ok(PutReport::Duplicate),
            _ => {}
        }
        let row = Row::of(report, Body::encode(&report.report, &report.sources)?)?;
        self.blocking(move |inner| inner.write(row, mode)).await
    }

    async fn reports(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> Result<Vec<StoredReport>, StoreError> {
        let (domain, from, to) = (normalise_domain(domain), days.from.clone(), days.to.clone());
        self.blocking(move |inner| {
            inner.select_reports(
                "domain = ?1 AND day BETWEEN ?2 AND ?3",
                &[&domain, &from, &to],
            )
        })
        .await
    }

    async fn each_report(
        &self,
        domain: &str,
        days: &DayRange,
        f: &mut (dyn FnMut(StoredReport) + Send),
    ) -> Result<(), StoreError> {
        let (domain, from, to) = (normalise_domain(domain), days.from.clone(), days.to.clone());
        // The ids first (32 bytes each), then one report at a time: no day's reports are
        // ever in memory together, and the connection is never held for the whole walk.
        let ids: Vec<String> = self
            .blocking(move |inner| {
                let conn = inner.conn();
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT id FROM reports WHERE domain = ?1 AND day BETWEEN ?2 AND ?3
                         ORDER BY day, id",
                    )
                    .map_err(|e| sql("read reports", e))?;
                let rows = stmt
                    .query_map(params![domain, from, to], |r| r.get::<_, String>(0))
                    .map_err(|e| sql("read reports", e))?;
                rows.collect::<Result<_, _>>()
                    .map_err(|e| sql("read reports", e))
            })
            .await?;
        for id in ids {
            let found = self
                .blocking(move |inner| inner.select_reports("id = ?1", &[&id]))
                .await?;
            found.into_iter().for_each(&mut *f);
        }
        Ok(())
    }

    async fn report(&self, id: &ReportId) -> Result<Option<StoredReport>, StoreError> {
        let id = id.as_str().to_owned();
        self.blocking(move |inner| Ok(inner.select_reports("id = ?1", &[&id])?.into_iter().next()))
            .await
    }

    async fn is_stored(&self, report: &StoredReport) -> Result<bool, StoreError> {
        // A row is written with its counters in one transaction: there, it is complete.
        let id = report.id.as_str().to_owned();
        self.blocking(move |inner| Ok(inner.stored_hash(&id)?.is_some()))
            .await
    }

    async fn put_message(&self, record: &MessageRecord) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(record).map_err(|e| StoreError::corrupt("message record", e))?;
        let (key, outcome, at) = (
            record.key.as_str().to_owned(),
            record.outcome.as_str(),
            record.processed_at,
        );
        self.blocking(move |inner| {
            inner
                .conn()
                .execute(
                    "INSERT OR REPLACE INTO messages (key, outcome, processed_at, record)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![key, outcome, at, json],
                )
                .map(drop)
                .map_err(|e| sql("put message", e))
        })
        .await
    }

    async fn message(&self, key: &RawKey) -> Result<Option<MessageRecord>, StoreError> {
        let key = key.as_str().to_owned();
        self.blocking(move |inner| {
            let json: Option<String> = inner
                .conn()
                .query_row("SELECT record FROM messages WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(|e| sql("read message", e))?;
            json.map(|j| serde_json::from_str(&j))
                .transpose()
                .map_err(|e| StoreError::corrupt("message record", e))
        })
        .await
    }

    async fn messages(
        &self,
        outcome: Outcome,
        after: Option<&MessagePosition>,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let (at, key) = match after {
            Some(p) => (Some(p.processed_at), p.key.as_str().to_owned()),
            None => (None, String::new()),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.blocking(move |inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT record FROM messages WHERE outcome = ?1
                     AND (?2 IS NULL OR processed_at < ?2 OR (processed_at = ?2 AND key < ?3))
                     ORDER BY processed_at DESC, key DESC LIMIT ?4",
                )
                .map_err(|e| sql("read messages", e))?;
            let rows = stmt
                .query_map(params![outcome.as_str(), at, key, limit], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(|e| sql("read messages", e))?;
            let mut out = Vec::new();
            for json in rows {
                let json = json.map_err(|e| sql("read messages", e))?;
                out.push(
                    serde_json::from_str(&json)
                        .map_err(|e| StoreError::corrupt("message record", e))?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn register_domain(&self, name: &str, at: i64) -> Result<bool, StoreError> {
        let name = normalise_domain(name);
        self.blocking(move |inner| {
            let conn = inner.conn();
            conn.execute(
                "INSERT INTO domains (name, registered_at) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET registered_at = excluded.registered_at
                 WHERE registered_at IS NULL",
                params![name, at],
            )
            .map(|changed| changed > 0)
            .map_err(|e| sql("register domain", e))
        })
        .await
    }

    async fn unregister_domain(&self, name: &str) -> Result<bool, StoreError> {
        let name = normalise_domain(name);
        self.blocking(move |inner| {
            inner
                .conn()
                .execute(
                    "UPDATE domains SET registered_at = NULL
                     WHERE name = ?1 AND registered_at IS NOT NULL",
                    [name],
                )
                .map(|changed| changed > 0)
                .map_err(|e| sql("unregister domain", e))
        })
        .await
    }

    async fn domains(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DomainEntry>, StoreError> {
        let after = after.map(normalise_domain);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.blocking(move |inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {DOMAIN_COLUMNS} FROM domains
                     WHERE (registered_at IS NOT NULL OR reports > 0)
                     AND (?1 IS NULL OR name > ?1)
                     ORDER BY name LIMIT ?2"
                ))
                .map_err(|e| sql("read domains", e))?;
            let rows = stmt
                .query_map(params![after, limit], domain_entry)
                .map_err(|e| sql("read domains", e))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| sql("read domains", e))
        })
        .await
    }

    async fn domain(&self, name: &str) -> Result<Option<DomainEntry>, StoreError> {
        let name = normalise_domain(name);
        self.blocking(move |inner| {
            inner
                .conn()
                .query_row(
                    &format!(
                        "SELECT {DOMAIN_COLUMNS} FROM domains
                         WHERE name = ?1 AND (registered_at IS NOT NULL OR reports > 0)"
                    ),
                    [name],
                    domain_entry,
                )
                .optional()
                .map_err(|e| sql("read domain", e))
        })
        .await
    }

    async fn forget_domain(&self, name: &str) -> Result<bool, StoreError> {
        let name = normalise_domain(name);
        self.blocking(move |inner| {
            let mut conn = inner.conn();
            let tx = conn.transaction().map_err(|e| sql("forget domain", e))?;
            let mut changed = 0;
            for table in [
                "DELETE FROM reports WHERE domain = ?1",
                "DELETE FROM day_counts WHERE domain = ?1",
                "DELETE FROM policies WHERE domain = ?1",
                "DELETE FROM held WHERE domain = ?1",
                "DELETE FROM releases WHERE domain = ?1",
                "DELETE FROM checks WHERE domain = ?1",
                "DELETE FROM check_requests WHERE domain = ?1",
                "DELETE FROM alerts WHERE domain = ?1",
                "DELETE FROM alert_days WHERE domain = ?1",
                "DELETE FROM alert_settings WHERE scope = ?1",
                "DELETE FROM alert_requests WHERE domain = ?1",
                "DELETE FROM domains WHERE name = ?1",
            ] {
                changed += tx
                    .execute(table, [&name])
                    .map_err(|e| sql("forget domain", e))?;
            }
            tx.commit().map_err(|e| sql("forget domain", e))?;
            Ok(changed > 0)
        })
        .await
    }

    async fn day_counts(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> Result<Vec<(String, Counters)>, StoreError> {
        let (domain, from, to) = (normalise_domain(domain), days.from.clone(), days.to.clone());
        self.blocking(move |inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT day, name, value FROM day_counts
                     WHERE domain = ?1 AND day BETWEEN ?2 AND ?3 AND value != 0
                     ORDER BY day, name",
                )
                .map_err(|e| sql("read day counts", e))?;
            let rows = stmt
                .query_map(params![domain, from, to], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
                })
                .map_err(|e| sql("read day counts", e))?;
            let mut out: Vec<(String, Counters)> = Vec::new();
            for row in rows {
                let (day, name, value) = row.map_err(|e| sql("read day counts", e))?;
                match out.last_mut() {
                    Some((last, counters)) if *last == day => {
                        counters.insert(name, value);
                    }
                    _ => out.push((day, Counters::from([(name, value)]))),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn latest_day(
        &self,
        domain: &str,
        not_after: &str,
    ) -> Result<Option<String>, StoreError> {
        let (domain, not_after) = (normalise_domain(domain), not_after.to_owned());
        self.blocking(move |inner| {
            inner
                .conn()
                .query_row(
                    "SELECT MAX(day) FROM day_counts
                     WHERE domain = ?1 AND day BETWEEN ?2 AND ?3 AND value != 0",
                    params![domain, crate::tally::FIRST_DAY, not_after],
                    |r| r.get::<_, Option<String>>(0),
                )
                .map_err(|e| sql("read latest day", e))
        })
        .await
    }

    async fn put_policy(&self, version: &PolicyVersion) -> Result<bool, StoreError> {
        let json =
            serde_json::to_string(version).map_err(|e| StoreError::corrupt("policy version", e))?;
        let v = version.clone();
        self.blocking(move |inner| {
            inner
                .conn()
                .execute(
                    "INSERT INTO policies (domain, version, created_at, json) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                    params![normalise_domain(&v.domain), v.version, v.created_at, json],
                )
                .map(|inserted| inserted > 0)
                .map_err(|e| sql("store policy", e))
        })
        .await
    }

    async fn policies(&self, domain: &str) -> Result<Vec<PolicyVersion>, StoreError> {
        self.select_policies(domain, "ORDER BY version").await
    }

    async fn policy_domains(&self) -> Result<Vec<String>, StoreError> {
        self.blocking(|inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached("SELECT DISTINCT domain FROM policies ORDER BY domain")
                .map_err(|e| sql("read policies", e))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| sql("read policies", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| sql("read policies", e))
        })
        .await
    }

    async fn hold(&self, domain: &str, key: &RawKey, at: i64) -> Result<(), StoreError> {
        let (domain, key) = (normalise_domain(domain), key.as_str().to_owned());
        self.execute(
            "hold message",
            "INSERT INTO held (domain, key, at) VALUES (?1, ?2, ?3)
             ON CONFLICT (domain, key) DO UPDATE SET at = excluded.at",
            (domain, key, at),
        )
        .await
    }

    async fn held(&self, domain: &str, limit: usize) -> Result<Vec<RawKey>, StoreError> {
        let domain = normalise_domain(domain);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.blocking(move |inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached("SELECT key FROM held WHERE domain = ?1 ORDER BY key LIMIT ?2")
                .map_err(|e| sql("read held messages", e))?;
            let rows = stmt
                .query_map(params![domain, limit], |r| r.get::<_, String>(0))
                .map_err(|e| sql("read held messages", e))?;
            let mut out = Vec::new();
            for key in rows {
                let key = key.map_err(|e| sql("read held messages", e))?;
                out.push(RawKey::new(key).map_err(|e| StoreError::corrupt("held key", e))?);
            }
            Ok(out)
        })
        .await
    }

    async fn unhold(&self, domain: &str, key: &RawKey) -> Result<(), StoreError> {
        let (domain, key) = (normalise_domain(domain), key.as_str().to_owned());
        self.execute(
            "release message",
            "DELETE FROM held WHERE domain = ?1 AND key = ?2",
            (domain, key),
        )
        .await
    }

    async fn request_release(&self, domain: &str) -> Result<(), StoreError> {
        self.execute(
            "request release",
            "INSERT INTO releases (domain) VALUES (?1) ON CONFLICT DO NOTHING",
            (normalise_domain(domain),),
        )
        .await
    }

    async fn releases(&self) -> Result<Vec<String>, StoreError> {
        self.blocking(|inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached("SELECT domain FROM releases ORDER BY domain")
                .map_err(|e| sql("read releases", e))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| sql("read releases", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| sql("read releases", e))
        })
        .await
    }

    async fn release_done(&self, domain: &str) -> Result<(), StoreError> {
        self.execute(
            "end release",
            "DELETE FROM releases WHERE domain = ?1",
            (normalise_domain(domain),),
        )
        .await
    }

    async fn put_check(&self, run: &CheckRun) -> Result<(), StoreError> {
        let run = CheckRun {
            domain: normalise_domain(&run.domain),
            ..run.clone()
        };
        self.blocking(move |inner| {
            let mut conn = inner.conn();
            let tx = conn.transaction().map_err(|e| sql("store check", e))?;
            tx.execute(
                "INSERT INTO checks (domain, checked_at, worst, report) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (domain, checked_at) DO UPDATE SET worst = ?3, report = ?4",
                params![run.domain, run.checked_at, run.worst, run.report],
            )
            .map_err(|e| sql("store check", e))?;
            tx.execute(
                "UPDATE domains SET dns_worst = ?2, dns_checked_at = ?3
                 WHERE name = ?1 AND (dns_checked_at IS NULL OR dns_checked_at <= ?3)",
                params![run.domain, run.worst, run.checked_at],
            )
            .map_err(|e| sql("store check", e))?;
            tx.execute(
                "DELETE FROM checks WHERE domain = ?1 AND checked_at < ?2",
                params![
                    run.domain,
                    run.checked_at.saturating_sub(crate::CHECK_HISTORY_SECONDS)
                ],
            )
            .map_err(|e| sql("store check", e))?;
            tx.commit().map_err(|e| sql("store check", e))
        })
        .await
    }

    async fn checks(&self, domain: &str, limit: usize) -> Result<Vec<CheckRun>, StoreError> {
        let domain = normalise_domain(domain);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.blocking(move |inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT checked_at, worst, report FROM checks WHERE domain = ?1
                     ORDER BY checked_at DESC LIMIT ?2",
                )
                .map_err(|e| sql("read checks", e))?;
            let rows = stmt
                .query_map(params![domain, limit], |r| {
                    Ok(CheckRun {
                        domain: domain.clone(),
                        checked_at: r.get(0)?,
                        worst: r.get(1)?,
                        report: r.get(2)?,
                    })
                })
                .map_err(|e| sql("read checks", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| sql("read checks", e))
        })
        .await
    }

    async fn request_check(&self, domain: &str) -> Result<(), StoreError> {
        self.execute(
            "request check",
            "INSERT INTO check_requests (domain) VALUES (?1) ON CONFLICT DO NOTHING",
            (normalise_domain(domain),),
        )
        .await
    }

    async fn check_requests(&self) -> Result<Vec<String>, StoreError> {
        self.blocking(|inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached("SELECT domain FROM check_requests ORDER BY domain")
                .map_err(|e| sql("read check requests", e))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| sql("read check requests", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| sql("read check requests", e))
        })
        .await
    }

    async fn check_done(&self, domain: &str) -> Result<(), StoreError> {
        self.execute(
            "end check request",
            "DELETE FROM check_requests WHERE domain = ?1",
            (normalise_domain(domain),),
        )
        .await
    }
}

impl PolicySource for EmbeddedStore {
    async fn latest_policy(&self, domain: &str) -> Result<Option<PolicyVersion>, StoreError> {
        let mut found = self
            .select_policies(domain, "ORDER BY version DESC LIMIT 1")
            .await?;
        Ok(found.pop())
    }
}

impl NameCache for EmbeddedStore {
    type Error = StoreError;

    async fn cached_names(
        &self,
        ips: &[IpAddr],
        now: i64,
    ) -> Result<HashMap<IpAddr, ReverseDns>, StoreError> {
        let ips = ips.to_vec();
        self.blocking(move |inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached("SELECT json FROM name_cache WHERE ip = ?1 AND expires_at > ?2")
                .map_err(|e| sql("read name cache", e))?;
            let mut out = HashMap::new();
            for ip in ips {
                let json: Option<String> = stmt
                    .query_row(params![ip.to_string(), now], |r| r.get(0))
                    .optional()
                    .map_err(|e| sql("read name cache", e))?;
                // An unreadable entry is a cache miss: the address is looked up again.
                if let Some(rdns) = json.and_then(|j| serde_json::from_str(&j).ok()) {
                    out.insert(ip, rdns);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn cache_names(&self, names: &[CachedName]) -> Result<(), StoreError> {
        let names = names.to_vec();
        self.blocking(move |inner| {
            let mut conn = inner.conn();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| sql("write name cache", e))?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO name_cache (ip, expires_at, json) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (ip) DO UPDATE SET expires_at = ?2, json = ?3",
                    )
                    .map_err(|e| sql("write name cache", e))?;
                for n in &names {
                    let json = serde_json::to_string(&n.reverse_dns)
                        .map_err(|e| StoreError::corrupt("name cache", e))?;
                    stmt.execute(params![n.ip.to_string(), n.expires_at, json])
                        .map_err(|e| sql("write name cache", e))?;
                }
                // Expired entries go with the next write, so the table stays the size of
                // one period's sources.
                // Every new entry expires at least a day from now, and no lifetime is longer
                // than a year: anything older than the earliest new expiry less a year has
                // expired.
                if let Some(earliest) = names.iter().map(|n| n.expires_at).min() {
                    tx.execute(
                        "DELETE FROM name_cache WHERE expires_at < ?1",
                        params![earliest - 365 * 86_400],
                    )
                    .map_err(|e| sql("write name cache", e))?;
                }
            }
            tx.commit().map_err(|e| sql("write name cache", e))
        })
        .await
    }
}

impl EmbeddedStore {
    /// Runs one statement that writes.
    pub(super) async fn execute<P>(
        &self,
        op: &'static str,
        statement: &'static str,
        args: P,
    ) -> Result<(), StoreError>
    where
        P: rusqlite::Params + Send + 'static,
    {
        self.blocking(move |inner| {
            inner
                .conn()
                .execute(statement, args)
                .map(drop)
                .map_err(|e| sql(op, e))
        })
        .await
    }

    async fn select_policies(
        &self,
        domain: &str,
        order: &'static str,
    ) -> Result<Vec<PolicyVersion>, StoreError> {
        let domain = normalise_domain(domain);
        self.blocking(move |inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT json FROM policies WHERE domain = ?1 {order}"
                ))
                .map_err(|e| sql("read policies", e))?;
            let rows = stmt
                .query_map([&domain], |r| r.get::<_, String>(0))
                .map_err(|e| sql("read policies", e))?;
            let mut out = Vec::new();
            for json in rows {
                let json = json.map_err(|e| sql("read policies", e))?;
                out.push(
                    serde_json::from_str(&json)
                        .map_err(|e| StoreError::corrupt("policy version", e))?,
                );
            }
            Ok(out)
        })
        .await
    }
}
