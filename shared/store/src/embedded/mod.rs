//! The local backend: an SQLite database file and a folder of raw messages.
//!
//! SQLite rather than a pure-Rust key-value file (redb): `rampart serve` and `rampart ingest`
//! run as separate processes on the same data folder, and SQLite in WAL mode lets them share
//! it, where redb locks the file to one process. The file also opens in any `sqlite3` shell.
//!
//! Layout of a data folder: `rampart.sqlite3` (tables `reports`, `messages`, `domains`) and
//! `raw/<key>` for each raw message. Each report write is one SQLite transaction, so a crash
//! at any point leaves either nothing or everything of it.

mod alerting;
mod mailbox;
mod schema;
mod store;
#[cfg(test)]
mod tests;
mod write;

use schema::*;
use write::*;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::body::{self, Body};
use super::{
    CheckRun, DayRange, DnsVerdict, DomainEntry, FaultPoint, Faults, MessagePosition,
    MessageRecord, Outcome, PolicySource, PutReport, RawKey, RawRead, Store, StoreError,
    StoredReport, WriteMode, normalise_domain,
};
use crate::PolicyVersion;
use crate::tally::{Counters, MAX_REPORTERS_PER_DAY, Span, Tally, counter};
use rampart_formats::identity::ReportId;
use rampart_formats::intake::Origin;
use rampart_formats::limits::MAX_COUNT;
use rampart_formats::mail::MessageFacts;
use rampart_sources::ReverseDns;
use rampart_sources::{CachedName, NameCache};

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

pub(super) const DOMAIN_COLUMNS: &str = "name, registered_at, reports, messages, records,
    (SELECT COALESCE(MAX(span), 1) FROM reports WHERE reports.domain = domains.name),
    dns_worst, dns_checked_at";

pub(super) fn domain_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<DomainEntry> {
    Ok(DomainEntry {
        name: r.get(0)?,
        registered_at: r.get(1)?,
        reports: r.get::<_, i64>(2)?.max(0) as u64,
        messages: r.get::<_, i64>(3)?.max(0) as u64,
        records: r.get::<_, i64>(4)?.max(0) as u64,
        span_days: r.get::<_, i64>(5)?.clamp(1, i64::from(u32::MAX)) as u32,
        dns: match (r.get::<_, Option<String>>(6)?, r.get::<_, Option<i64>>(7)?) {
            (Some(worst), Some(checked_at)) => Some(DnsVerdict { worst, checked_at }),
            _ => None,
        },
    })
}

pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
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

pub(super) fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub(super) fn sql(op: &'static str, e: rusqlite::Error) -> StoreError {
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
