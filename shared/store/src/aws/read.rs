//! Reads: queries a page at a time, batch gets, and report headers assembled with their pieces.

use super::*;

impl AwsStore {
    /// One BatchGetItem call (eventually consistent): the items found, and the keys
    /// DynamoDB left unprocessed.
    pub(super) async fn batch_get(
        &self,
        keys: Vec<Item>,
    ) -> Result<(Vec<Item>, Vec<Item>), StoreError> {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .build()
            .map_err(build_error)?;
        let out = self
            .ddb
            .batch_get_item()
            .request_items(&self.at.table, request)
            .send()
            .await
            .map_err(|e| classify("read name cache", e))?;
        let items = out
            .responses()
            .and_then(|r| r.get(&self.at.table))
            .cloned()
            .unwrap_or_default();
        for item in &items {
            self.count_read(item);
        }
        let unprocessed = out
            .unprocessed_keys()
            .and_then(|u| u.get(&self.at.table))
            .map(|k| k.keys().to_vec())
            .unwrap_or_default();
        Ok((items, unprocessed))
    }

    pub(super) async fn query(
        &self,
        index: Option<&str>,
        condition: &str,
        values: &[(&str, AttributeValue)],
        forward: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut q = self
            .ddb
            .query()
            .table_name(&self.at.table)
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression(condition)
            .scan_index_forward(forward);
        for (name, value) in values {
            q = q.expression_attribute_values(*name, value.clone());
        }
        let mut pages = q.into_paginator().items().send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| classify("query", e))?;
            self.count_read(&item);
            items.push(item);
        }
        Ok(items)
    }

    /// At most `limit` items of a query, reading no more pages than that takes.
    pub(super) async fn query_page(
        &self,
        index: Option<&str>,
        condition: &str,
        values: &[(&str, AttributeValue)],
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        while out.len() < limit {
            let mut q = self
                .ddb
                .query()
                .table_name(&self.at.table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression(condition)
                .scan_index_forward(forward)
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX));
            for (name, value) in values {
                q = q.expression_attribute_values(*name, value.clone());
            }
            let page = q.send().await.map_err(|e| classify("query", e))?;
            for item in page.items() {
                self.count_read(item);
            }
            out.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
        Ok(out)
    }

    /// The domains listed under a marker partition.
    pub(super) async fn markers(&self, partition: &str) -> Result<Vec<String>, StoreError> {
        let items = self
            .query(None, "pk = :pk", &[(":pk", s(partition))], true)
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| Some(text(i, "sk")?.strip_prefix("D#")?.to_owned()))
            .collect())
    }

    /// The items of a domain's partition whose sort keys lie from `from` to `to`.
    pub(super) async fn domain_range(
        &self,
        domain: &str,
        from: String,
        to: String,
    ) -> Result<Vec<Item>, StoreError> {
        self.query(
            None,
            "pk = :pk AND sk BETWEEN :from AND :to",
            &[
                (":pk", s(format!("D#{}", normalise_domain(domain)))),
                (":from", s(from)),
                (":to", s(to)),
            ],
            true,
        )
        .await
    }

    /// Complete reports among `items` (headers and pieces in key order), decoded.
    pub(super) fn assemble(&self, items: &[Item]) -> Result<Vec<StoredReport>, StoreError> {
        let mut out = Vec::new();
        for (i, header) in items.iter().enumerate() {
            if text(header, "state") != Some(COMPLETE) {
                continue;
            }
            // A header's pieces follow it directly in key order: `<sk>#B#<hash>#<n>`. Pieces
            // of another hash are left over from a replaced version and are skipped.
            let own = format!("{}#B#", text(header, "sk").unwrap_or_default());
            let current = format!("{own}{}#", text(header, "body").unwrap_or_default());
            let pieces = items[i + 1..]
                .iter()
                .map_while(|p| {
                    text(p, "sk")
                        .filter(|sk| sk.starts_with(&own))
                        .map(|sk| (sk, p))
                })
                .filter(|(sk, _)| sk.starts_with(&current))
                .filter_map(|(_, p)| match p.get("data") {
                    Some(AttributeValue::B(b)) => Some(b.as_ref()),
                    _ => None,
                });
            out.push(self.decode_header(header, pieces)?);
        }
        Ok(out)
    }

    pub(super) fn decode_header<'a>(
        &self,
        header: &Item,
        pieces: impl Iterator<Item = &'a [u8]>,
    ) -> Result<StoredReport, StoreError> {
        let field = |name: &'static str| {
            text(header, name).ok_or_else(|| StoreError::corrupt("report header", name))
        };
        let id = field("id")?;
        let (report, sources) = body::decode(pieces, self.max_json_bytes)?;
        Ok(StoredReport {
            id: ReportId::from_hex(id).ok_or_else(|| StoreError::corrupt("report id", id))?,
            message: RawKey::new(field("message")?)
                .map_err(|e| StoreError::corrupt("message key", e))?,
            received_at: number(header, "received_at").unwrap_or(0),
            mail: text(header, "mail")
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| StoreError::corrupt("mail facts", e))?,
            origin: serde_json::from_str(field("origin")?)
                .map_err(|e| StoreError::corrupt("origin", e))?,
            report,
            sources,
        })
    }

    /// The header of a stored report, read strongly so a write just made is seen.
    pub(super) async fn header(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.at.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("read report", e))?;
        if let Some(item) = &out.item {
            self.count_read(item);
        }
        Ok(out.item)
    }
}
