//! Report writes: one SQLite transaction each, with the day counters folded to fit and
//! sums bounded in SQL.

use super::*;

impl Inner {
    pub(super) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll
        // back on drop), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn stored_hash(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row("SELECT body_hash FROM reports WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| sql("put report", e))
    }

    /// Writes a row and moves its domain's counters in one transaction.
    pub(super) fn write(&self, mut row: Row, mode: WriteMode) -> Result<PutReport, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql("put report", e))?;
        // The tally kept with the row is the one written, folded where a day was full, so a
        // replacement subtracts exactly what this write adds.
        fold_to_fit(&tx, &row.domain, &mut row.tally).map_err(|e| sql("put report", e))?;
        let existing: Option<(String, i64, i64, String)> = tx
            .query_row(
                "SELECT body_hash, messages, records, tally FROM reports WHERE id = ?1",
                [&row.id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(|e| sql("put report", e))?;
        let (result, d_reports, d_messages, d_records, delta) = match (&existing, mode) {
            (None, _) => (
                PutReport::Stored,
                1,
                row.messages,
                row.records,
                row.tally.clone(),
            ),
            (Some(_), WriteMode::Insert) => return Ok(PutReport::Duplicate),
            (Some((hash, ..)), WriteMode::Replace) if *hash == row.body_hash => {
                return Ok(PutReport::Duplicate);
            }
            (Some((_, m, n, old)), WriteMode::Replace) => {
                let old = Tally::from_json(old).map_err(|e| StoreError::corrupt("tally", e))?;
                let delta = row.tally.minus(&old);
                (
                    PutReport::Replaced,
                    0,
                    row.messages.saturating_sub(*m),
                    row.records.saturating_sub(*n),
                    delta,
                )
            }
        };
        tx.execute(
            "INSERT OR REPLACE INTO reports (id, domain, day, kind, org, report_id, begin, end,
                 messages, records, message, received_at, mail, origin,
                 ses_spf, ses_dkim, ses_dmarc, ses_spam, ses_virus, body_hash, body,
                 tally, span)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                 ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
            params![
                row.id,
                row.domain,
                row.day,
                row.kind,
                row.org,
                row.report_id,
                row.begin,
                row.end,
                row.messages,
                row.records,
                row.message,
                row.received_at,
                row.mail,
                row.origin,
                row.ses[0],
                row.ses[1],
                row.ses[2],
                row.ses[3],
                row.ses[4],
                row.body_hash,
                row.body,
                row.tally.to_json(),
                row.span,
            ],
        )
        .map_err(|e| sql("put report", e))?;
        // Leaving here drops the transaction, which rolls the row back: a crash.
        self.faults.check(FaultPoint::AfterHeader)?;
        self.faults.check(FaultPoint::AfterBody)?;
        tx.execute(
            &format!(
                "INSERT INTO domains (name, reports, messages, records) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET reports = {}, messages = {}, records = {}",
                bounded_sum("reports"),
                bounded_sum("messages"),
                bounded_sum("records")
            ),
            params![row.domain, d_reports, d_messages, d_records],
        )
        .map_err(|e| sql("put report", e))?;
        add_counts(&tx, &row.domain, &delta).map_err(|e| sql("put report", e))?;
        tx.commit().map_err(|e| sql("put report", e))?;
        Ok(result)
    }

    pub(super) fn select_reports(
        &self,
        where_clause: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredReport>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT id, message, received_at, mail, origin, body FROM reports
                 WHERE {where_clause} ORDER BY day, id"
            ))
            .map_err(|e| sql("read reports", e))?;
        let rows = stmt
            .query_map(args, |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Vec<u8>>(5)?,
                ))
            })
            .map_err(|e| sql("read reports", e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, message, received_at, mail, origin, blob) =
                row.map_err(|e| sql("read reports", e))?;
            let mail: Option<MessageFacts> = mail
                .map(|m| serde_json::from_str(&m))
                .transpose()
                .map_err(|e| StoreError::corrupt("mail facts", e))?;
            let origin: Origin =
                serde_json::from_str(&origin).map_err(|e| StoreError::corrupt("origin", e))?;
            let (report, sources) = body::decode([blob.as_slice()], self.max_json_bytes)?;
            out.push(StoredReport {
                id: ReportId::from_hex(&id).ok_or_else(|| StoreError::corrupt("report id", &id))?,
                message: RawKey::new(message).map_err(|e| StoreError::corrupt("message key", e))?,
                received_at,
                mail,
                origin,
                report,
                sources,
            });
        }
        Ok(out)
    }
}

/// `column + excluded.column` kept within 0..=MAX_COUNT. Both are within ±MAX_COUNT (2^53),
/// so the sum cannot overflow SQLite's 64-bit integers (which would turn it into a float).
pub(super) fn bounded_sum(column: &str) -> String {
    format!("MAX(0, MIN({}, {column} + excluded.{column}))", MAX_COUNT)
}

/// Folds the days of `tally` whose reporter would be one too many for the day's counters
/// (see [`crate::tally`]): the reporter is new there and the day has its fill already.
pub(super) fn fold_to_fit(
    conn: &Connection,
    domain: &str,
    tally: &mut Tally,
) -> rusqlite::Result<()> {
    let days: Vec<String> = tally.days.keys().cloned().collect();
    for day in days {
        let Some(reporter) = tally.reporter_on(&day) else {
            continue;
        };
        let name = format!("{}{reporter}", counter::REPORTER);
        let (known, reporters): (bool, i64) = conn.query_row(
            "SELECT COALESCE(MAX(name = ?3), 0), COUNT(*) FROM day_counts
             WHERE domain = ?1 AND day = ?2 AND name >= 'reporter:' AND name < 'reporter;'",
            params![domain, day, name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if !known && reporters >= MAX_REPORTERS_PER_DAY as i64 {
            tally.fold_day(&day);
        }
    }
    Ok(())
}

pub(super) fn add_counts(conn: &Connection, domain: &str, delta: &Tally) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT INTO day_counts (domain, day, name, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (domain, day, name) DO UPDATE SET value = {}",
        bounded_sum("value")
    ))?;
    for (day, counters) in &delta.days {
        for (name, n) in counters {
            stmt.execute(params![domain, day, name, n])?;
        }
    }
    Ok(())
}

/// One `reports` row, owned, so the blocking pool gets it without a copy of the report.
pub(super) struct Row {
    pub(super) id: String,
    pub(super) domain: String,
    pub(super) day: String,
    pub(super) kind: &'static str,
    pub(super) org: String,
    pub(super) report_id: String,
    pub(super) begin: Option<i64>,
    pub(super) end: Option<i64>,
    pub(super) messages: i64,
    pub(super) records: i64,
    pub(super) message: String,
    pub(super) received_at: i64,
    pub(super) mail: Option<String>,
    pub(super) origin: String,
    /// SES verdicts: spf, dkim, dmarc, spam, virus.
    pub(super) ses: [Option<String>; 5],
    pub(super) body_hash: String,
    pub(super) body: Vec<u8>,
    pub(super) tally: Tally,
    /// Days the report's counts are spread over.
    pub(super) span: i64,
}

impl Row {
    pub(super) fn of(r: &StoredReport, body: Body) -> Result<Row, StoreError> {
        let sum = r.summary();
        let ses = r.mail.as_ref().map(|m| &m.ses);
        let verdict = |f: fn(
            &rampart_formats::mail::SesVerdicts,
        ) -> &Option<rampart_formats::mail::Verdict>| {
            ses.and_then(|s| f(s).as_ref())
                .map(|v| v.as_str().to_owned())
        };
        Ok(Row {
            id: r.id.as_str().to_owned(),
            domain: r.domain(),
            day: r.day(),
            kind: r.report.kind(),
            org: sum.org,
            report_id: sum.report_id,
            begin: sum.begin,
            end: sum.end,
            messages: i64::try_from(sum.messages).unwrap_or(i64::MAX),
            records: i64::try_from(sum.records).unwrap_or(i64::MAX),
            message: r.message.as_str().to_owned(),
            received_at: r.received_at,
            mail: r
                .mail
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| StoreError::corrupt("mail facts", e))?,
            origin: serde_json::to_string(&r.origin)
                .map_err(|e| StoreError::corrupt("origin", e))?,
            ses: [
                verdict(|s| &s.spf),
                verdict(|s| &s.dkim),
                verdict(|s| &s.dmarc),
                verdict(|s| &s.spam),
                verdict(|s| &s.virus),
            ],
            body_hash: body.hash.clone(),
            body: body.pieces.concat(),
            tally: Tally::of(&r.report, &r.sources),
            span: Span::of_report(&r.report).len() as i64,
        })
    }
}
