//! The local backend: an SQLite database file and a folder of raw messages.
//!
//! SQLite rather than a pure-Rust key-value file (redb): `rampart serve` and `rampart ingest`
//! run as separate processes on the same data folder, and SQLite in WAL mode lets them share
//! it, where redb locks the file to one process. The file also opens in any `sqlite3` shell.
//!
//! Layout of a data folder: `rampart.sqlite3` (tables `reports`, `messages`, `domains`) and
//! `raw/<key>` for each raw message. Each report write is one SQLite transaction, so a crash
//! at any point leaves either nothing or everything of it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::body::{self, Body};
use super::{
    DayRange, DomainEntry, FaultPoint, Faults, MessagePosition, MessageRecord, Outcome, PutReport,
    RawKey, RawRead, Store, StoreError, StoredReport, WriteMode, normalise_domain,
};
use crate::PolicyVersion;
use crate::tally::{Counters, MAX_REPORTERS_PER_DAY, Span, Tally, counter};
use rampart_formats::identity::ReportId;
use rampart_formats::intake::Origin;
use rampart_formats::limits::MAX_COUNT;
use rampart_formats::mail::MessageFacts;
use rampart_sources::ReverseDns;
use rampart_sources::{CachedName, NameCache};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reports (
    id          TEXT PRIMARY KEY,
    domain      TEXT NOT NULL,
    day         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    org         TEXT NOT NULL,
    report_id   TEXT NOT NULL,
    begin       INTEGER,
    end         INTEGER,
    messages    INTEGER NOT NULL,
    records     INTEGER NOT NULL,
    message     TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    mail        TEXT,
    origin      TEXT NOT NULL,
    ses_spf     TEXT,
    ses_dkim    TEXT,
    ses_dmarc   TEXT,
    ses_spam    TEXT,
    ses_virus   TEXT,
    body_hash   TEXT NOT NULL,
    body        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_domain_day ON reports (domain, day);
CREATE TABLE IF NOT EXISTS messages (
    key          TEXT PRIMARY KEY,
    outcome      TEXT NOT NULL,
    processed_at INTEGER NOT NULL,
    record       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_outcome ON messages (outcome, processed_at);
CREATE TABLE IF NOT EXISTS domains (
    name          TEXT PRIMARY KEY,
    registered_at INTEGER,
    reports       INTEGER NOT NULL DEFAULT 0,
    messages      INTEGER NOT NULL DEFAULT 0,
    records       INTEGER NOT NULL DEFAULT 0
);
";

/// Version 2: per-day counters (`day_counts`) and each report's own tally, rebuilt from the
/// stored reports when an older data folder is opened.
const SCHEMA_2: &str = "
ALTER TABLE reports ADD COLUMN tally TEXT NOT NULL DEFAULT '{}';
ALTER TABLE reports ADD COLUMN span INTEGER NOT NULL DEFAULT 1;
CREATE TABLE day_counts (
    domain TEXT NOT NULL,
    day    TEXT NOT NULL,
    name   TEXT NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (domain, day, name)
) WITHOUT ROWID;
";
/// Version 3: the versions of each domain's hosted MTA-STS policy.
const SCHEMA_3: &str = "
CREATE TABLE policies (
    domain     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    json       TEXT NOT NULL,
    PRIMARY KEY (domain, version)
) WITHOUT ROWID;
";
/// Version 4: the reverse DNS cache of source intelligence.
const SCHEMA_4: &str = "
CREATE TABLE name_cache (
    ip         TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    json       TEXT NOT NULL
) WITHOUT ROWID;
";
/// Version 5: messages held for domains that are not registered, and the domains whose held
/// messages wait to be ingested.
const SCHEMA_5: &str = "
CREATE TABLE held (
    domain TEXT NOT NULL,
    key    TEXT NOT NULL,
    at     INTEGER NOT NULL,
    PRIMARY KEY (domain, key)
) WITHOUT ROWID;
CREATE TABLE releases (
    domain TEXT PRIMARY KEY
) WITHOUT ROWID;
";
const SCHEMA_VERSION: i64 = 5;

/// How long a statement waits for another process's write to finish.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The database file inside a data folder.
pub const DATABASE_FILE: &str = "rampart.sqlite3";
/// The folder of raw messages inside a data folder.
pub const RAW_DIR: &str = "raw";

/// An SQLite file plus a folder of raw messages. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    dir: PathBuf,
    raw_dir: PathBuf,
    faults: Faults,
    max_json_bytes: u64,
}

impl EmbeddedStore {
    /// Opens (and creates, if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let raw_dir = dir.join(RAW_DIR);
        std::fs::create_dir_all(&raw_dir).map_err(|e| io_error(&raw_dir, e))?;
        let db_path = dir.join(DATABASE_FILE);
        let conn = Connection::open(&db_path).map_err(|e| sql("open", e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql("open", e))?;
        // Switching to WAL and creating the schema take the write lock, and SQLite answers
        // "locked" at once (without its busy handler) while another process opens the same
        // file: wait for it, as the busy timeout does for every other statement.
        let started = std::time::Instant::now();
        loop {
            let prepared = conn
                .pragma_update(None, "journal_mode", "WAL")
                .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
                .and_then(|()| conn.execute_batch(SCHEMA))
                .and_then(|()| migrate(&conn));
            match prepared.map_err(|e| sql("open", e)) {
                Ok(()) => break,
                Err(StoreError::Unavailable { .. }) if started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                dir: dir.to_owned(),
                raw_dir,
                faults: Faults::default(),
                max_json_bytes: rampart_formats::Limits::default().max_total_bytes,
            }),
        })
    }

    /// Test hook: make the next report write stop at a point, as a crash there would.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The file a raw message is kept in.
    pub fn raw_path(&self, key: &RawKey) -> PathBuf {
        self.inner.raw_dir.join(key.as_str())
    }

    /// Runs blocking SQLite or file work off the async runtime's threads.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::Unavailable {
                op: "embedded store",
                detail: e.to_string(),
            })?
    }
}

impl Inner {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll
        // back on drop), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stored_hash(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row("SELECT body_hash FROM reports WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| sql("put report", e))
    }

    /// Writes a row and moves its domain's counters in one transaction.
    fn write(&self, mut row: Row, mode: WriteMode) -> Result<PutReport, StoreError> {
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

    fn select_reports(
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

/// Brings an older database up to [`SCHEMA_VERSION`] in one transaction.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let migrated = (|| {
        // Another process may have migrated while this one waited for the lock.
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < 2 {
            conn.execute_batch(SCHEMA_2)?;
            retally(conn)?;
        }
        if version < 3 {
            conn.execute_batch(SCHEMA_3)?;
        }
        if version < 4 {
            conn.execute_batch(SCHEMA_4)?;
        }
        if version < 5 {
            conn.execute_batch(SCHEMA_5)?;
        }
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
    })();
    match migrated {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Recomputes every report's tally and the day counters from the stored bodies.
fn retally(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare("SELECT id, domain, body FROM reports")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    for row in rows {
        let (id, domain, blob) = row?;
        let limit = rampart_formats::Limits::default().max_total_bytes;
        let Ok((report, _)) = body::decode([blob.as_slice()], limit) else {
            continue;
        };
        let tally = Tally::of(&report);
        let span = Span::of_report(&report).len() as i64;
        conn.execute(
            "UPDATE reports SET tally = ?1, span = ?2 WHERE id = ?3",
            params![tally.to_json(), span, id],
        )?;
        add_counts(conn, &domain, &tally)?;
    }
    Ok(())
}

/// `column + excluded.column` kept within 0..=MAX_COUNT. Both are within ±MAX_COUNT (2^53),
/// so the sum cannot overflow SQLite's 64-bit integers (which would turn it into a float).
fn bounded_sum(column: &str) -> String {
    format!("MAX(0, MIN({}, {column} + excluded.{column}))", MAX_COUNT)
}

/// Folds the days of `tally` whose reporter would be one too many for the day's counters
/// (see [`crate::tally`]): the reporter is new there and the day has its fill already.
fn fold_to_fit(conn: &Connection, domain: &str, tally: &mut Tally) -> rusqlite::Result<()> {
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

fn add_counts(conn: &Connection, domain: &str, delta: &Tally) -> rusqlite::Result<()> {
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
struct Row {
    id: String,
    domain: String,
    day: String,
    kind: &'static str,
    org: String,
    report_id: String,
    begin: Option<i64>,
    end: Option<i64>,
    messages: i64,
    records: i64,
    message: String,
    received_at: i64,
    mail: Option<String>,
    origin: String,
    /// SES verdicts: spf, dkim, dmarc, spam, virus.
    ses: [Option<String>; 5],
    body_hash: String,
    body: Vec<u8>,
    tally: Tally,
    /// Days the report's counts are spread over.
    span: i64,
}

impl Row {
    fn of(r: &StoredReport, body: Body) -> Result<Row, StoreError> {
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
            tally: Tally::of(&r.report),
            span: Span::of_report(&r.report).len() as i64,
        })
    }
}

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

    async fn latest_policy(&self, domain: &str) -> Result<Option<PolicyVersion>, StoreError> {
        let mut found = self
            .select_policies(domain, "ORDER BY version DESC LIMIT 1")
            .await?;
        Ok(found.pop())
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
    async fn execute<P>(
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

const DOMAIN_COLUMNS: &str = "name, registered_at, reports, messages, records,
    (SELECT COALESCE(MAX(span), 1) FROM reports WHERE reports.domain = domains.name)";

fn domain_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<DomainEntry> {
    Ok(DomainEntry {
        name: r.get(0)?,
        registered_at: r.get(1)?,
        reports: r.get::<_, i64>(2)?.max(0) as u64,
        messages: r.get::<_, i64>(3)?.max(0) as u64,
        records: r.get::<_, i64>(4)?.max(0) as u64,
        span_days: r.get::<_, i64>(5)?.clamp(1, i64::from(u32::MAX)) as u32,
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    // Unique per process and call, so concurrent writers of one key never share a file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".tmp-{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(path, e)
    })
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn sql(op: &'static str, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    let busy = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    if busy {
        StoreError::Unavailable {
            op,
            detail: e.to_string(),
        }
    } else {
        StoreError::Refused {
            op,
            detail: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_formats::intake::parse_input;

    /// A data folder written before the day counters existed gets them from its reports.
    #[tokio::test]
    async fn an_older_data_folder_is_migrated_with_its_counts() {
        let dir = std::env::temp_dir().join(format!("rampart-migrate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let xml = br#"<feedback><report_metadata><org_name>Old</org_name><report_id>1</report_id>
          <date_range><begin>1700000000</begin><end>1700003600</end></date_range>
          </report_metadata><policy_published><domain>old.example</domain></policy_published>
          <record><row><source_ip>192.0.2.1</source_ip><count>7</count><policy_evaluated>
          <disposition>none</disposition><dkim>pass</dkim></policy_evaluated></row></record>
          </feedback>"#;
        let report = parse_input(xml, &rampart_formats::Limits::default())
            .reports
            .remove(0);
        let body = Body::encode(&report.report, &Default::default()).unwrap();
        {
            let conn = Connection::open(dir.join(DATABASE_FILE)).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO reports (id, domain, day, kind, org, report_id, messages, records,
                     message, received_at, origin, body_hash, body)
                 VALUES (?1, 'old.example', '2023-11-14', 'aggregate', 'Old', '1', 7, 1,
                     'aa/old', 0, '{}', ?2, ?3)",
                params![report.id.as_str(), body.hash, body.pieces.concat()],
            )
            .unwrap();
        }
        let store = EmbeddedStore::open(&dir).unwrap();
        let days = store
            .day_counts("old.example", &DayRange::all())
            .await
            .unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].0, "2023-11-14");
        assert_eq!(days[0].1["messages"], 7);
        assert_eq!(days[0].1["dmarc_pass"], 7);
        drop(store);
        // Opening again does not count twice.
        let store = EmbeddedStore::open(&dir).unwrap();
        let days = store
            .day_counts("old.example", &DayRange::all())
            .await
            .unwrap();
        assert_eq!(days[0].1["messages"], 7);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
