//! [`MailboxStore`] over the DynamoDB table: one item per source in one partition,
//! `pk = MAILBOX`, `sk = <id>`, `body` the source's JSON. Its password or client secret is
//! in Secrets Manager, never here.

use super::*;
use crate::mailbox::{MAX_MAILBOXES, MailboxItem, MailboxStore, valid};

const MAILBOXES: &str = "MAILBOX";

impl MailboxStore for AwsStore {
    async fn mailboxes(&self) -> Result<Vec<MailboxItem>, StoreError> {
        let items = self
            .query(None, "pk = :pk", &[(":pk", s(MAILBOXES))], true)
            .await?;
        Ok(items.iter().filter_map(item).collect())
    }

    async fn mailbox(&self, id: &str) -> Result<Option<MailboxItem>, StoreError> {
        let found = self
            .ddb
            .get_item()
            .table_name(&self.at.table)
            .key("pk", s(MAILBOXES))
            .key("sk", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("read mailbox source", e))?;
        Ok(found.item().and_then(item))
    }

    async fn put_mailbox(&self, source: &MailboxItem) -> Result<(), StoreError> {
        valid(source)?;
        // The cap is counted, not enforced by a condition: sources are added by hand, by
        // admins, one at a time.
        if self.mailbox(&source.id).await?.is_none()
            && self.mailboxes().await?.len() >= MAX_MAILBOXES
        {
            return Err(StoreError::Refused {
                op: "mailbox source",
                detail: format!("there are {MAX_MAILBOXES} sources already"),
            });
        }
        let item = Item::from([
            ("pk".into(), s(MAILBOXES)),
            ("sk".into(), s(&source.id)),
            ("body".into(), s(&source.body)),
        ]);
        self.put(item, "store mailbox source").await
    }

    async fn forget_mailbox(&self, id: &str) -> Result<bool, StoreError> {
        let gone = self
            .ddb
            .delete_item()
            .table_name(&self.at.table)
            .key("pk", s(MAILBOXES))
            .key("sk", s(id))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify("forget mailbox source", e))?;
        Ok(gone.attributes().is_some_and(|a| !a.is_empty()))
    }
}

fn item(item: &Item) -> Option<MailboxItem> {
    Some(MailboxItem {
        id: text(item, "sk")?.to_owned(),
        body: text(item, "body")?.to_owned(),
    })
}
