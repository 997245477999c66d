//! The database schema, its versions, and the migrations that bring an older file up to
//! date.

use super::*;

pub(super) const SCHEMA: &str = "
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
pub(super) const SCHEMA_2: &str = "
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
pub(super) const SCHEMA_3: &str = "
CREATE TABLE policies (
    domain     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    json       TEXT NOT NULL,
    PRIMARY KEY (domain, version)
) WITHOUT ROWID;
";
/// Version 4: the reverse DNS cache of source intelligence.
pub(super) const SCHEMA_4: &str = "
CREATE TABLE name_cache (
    ip         TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    json       TEXT NOT NULL
) WITHOUT ROWID;
";
/// Version 5: messages held for domains that are not registered, and the domains whose held
/// messages wait to be ingested.
pub(super) const SCHEMA_5: &str = "
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
/// Version 7: DNS check runs, the domains whose check was asked for, and each domain's
/// latest verdict.
pub(super) const SCHEMA_7: &str = "
CREATE TABLE checks (
    domain     TEXT NOT NULL,
    checked_at INTEGER NOT NULL,
    worst      TEXT NOT NULL,
    report     TEXT NOT NULL,
    PRIMARY KEY (domain, checked_at)
) WITHOUT ROWID;
CREATE TABLE check_requests (
    domain TEXT PRIMARY KEY
) WITHOUT ROWID;
ALTER TABLE domains ADD COLUMN dns_worst TEXT;
ALTER TABLE domains ADD COLUMN dns_checked_at INTEGER;
";
/// Version 8: alerts (one row per rule and key, written on condition of its version), the
/// day facts their rules read, alert settings, suppressed addresses and one-time claims.
pub(super) const SCHEMA_8: &str = "
CREATE TABLE alerts (
    domain     TEXT NOT NULL,
    id         TEXT NOT NULL,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (domain, id)
) WITHOUT ROWID;
CREATE TABLE alert_days (
    domain TEXT NOT NULL,
    day    TEXT NOT NULL,
    facts  TEXT NOT NULL,
    PRIMARY KEY (domain, day)
) WITHOUT ROWID;
CREATE TABLE alert_settings (
    scope    TEXT PRIMARY KEY,
    settings TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE suppressions (
    address TEXT PRIMARY KEY,
    reason  TEXT NOT NULL,
    at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE claims (
    key        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE alert_requests (
    domain TEXT PRIMARY KEY
) WITHOUT ROWID;
";
/// Version 9: mailbox sources (IMAP and Microsoft 365 folders), each with its checkpoint.
pub(super) const SCHEMA_9: &str = "
CREATE TABLE mailboxes (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL
) WITHOUT ROWID;
";
pub(super) const SCHEMA_VERSION: i64 = 9;

/// Brings an older database up to [`SCHEMA_VERSION`] in one transaction.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
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
        if version < 7 {
            conn.execute_batch(SCHEMA_7)?;
        }
        if version < 8 {
            conn.execute_batch(SCHEMA_8)?;
        }
        if version < 9 {
            conn.execute_batch(SCHEMA_9)?;
        }
        if (2..6).contains(&version) {
            // Version 6 adds the roll-ups (classification, country, service): the day
            // counters are counted again from the stored reports and their sources.
            conn.execute_batch("DELETE FROM day_counts")?;
            retally(conn)?;
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
pub(super) fn retally(conn: &Connection) -> rusqlite::Result<()> {
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
        let Ok((report, sources)) = body::decode([blob.as_slice()], limit) else {
            continue;
        };
        let tally = Tally::of(&report, &sources);
        let span = Span::of_report(&report).len() as i64;
        conn.execute(
            "UPDATE reports SET tally = ?1, span = ?2 WHERE id = ?3",
            params![tally.to_json(), span, id],
        )?;
        add_counts(conn, &domain, &tally)?;
    }
    Ok(())
}
