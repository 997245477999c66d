//! [`MailboxStore`] over the SQLite file: one row per source.

use super::*;
use crate::mailbox::{MAX_MAILBOXES, MailboxItem, MailboxStore, valid};

impl MailboxStore for EmbeddedStore {
    async fn mailboxes(&self) -> Result<Vec<MailboxItem>, StoreError> {
        self.blocking(|inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached("SELECT id, body FROM mailboxes ORDER BY id")
                .map_err(|e| sql("read mailbox sources", e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(MailboxItem {
                        id: r.get(0)?,
                        body: r.get(1)?,
                    })
                })
                .map_err(|e| sql("read mailbox sources", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| sql("read mailbox sources", e))
        })
        .await
    }

    async fn mailbox(&self, id: &str) -> Result<Option<MailboxItem>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |inner| {
            inner
                .conn()
                .query_row("SELECT body FROM mailboxes WHERE id = ?1", [&id], |r| {
                    r.get(0)
                })
                .optional()
                .map(|body| body.map(|body| MailboxItem { id, body }))
                .map_err(|e| sql("read mailbox source", e))
        })
        .await
    }

    async fn put_mailbox(&self, item: &MailboxItem) -> Result<(), StoreError> {
        valid(item)?;
        let item = item.clone();
        self.blocking(move |inner| {
            let conn = inner.conn();
            let updated = conn
                .execute(
                    "UPDATE mailboxes SET body = ?2 WHERE id = ?1",
                    params![item.id, item.body],
                )
                .map_err(|e| sql("store mailbox source", e))?;
            if updated > 0 {
                return Ok(());
            }
            let added = conn
                .execute(
                    "INSERT INTO mailboxes (id, body) SELECT ?1, ?2
                     WHERE (SELECT COUNT(*) FROM mailboxes) < ?3",
                    params![item.id, item.body, MAX_MAILBOXES as i64],
                )
                .map_err(|e| sql("store mailbox source", e))?;
            if added == 0 {
                return Err(StoreError::Refused {
                    op: "mailbox source",
                    detail: format!("there are {MAX_MAILBOXES} sources already"),
                });
            }
            Ok(())
        })
        .await
    }

    async fn forget_mailbox(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.blocking(move |inner| {
            inner
                .conn()
                .execute("DELETE FROM mailboxes WHERE id = ?1", [&id])
                .map(|n| n > 0)
                .map_err(|e| sql("forget mailbox source", e))
        })
        .await
    }
}
