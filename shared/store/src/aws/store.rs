//! The [`Store`] and [`NameCache`] traits over the items of this table.

use super::*;

impl Store for AwsStore {
    async fn put_raw(&self, key: &RawKey, bytes: &[u8]) -> Result<(), StoreError> {
        self.s3
            .put_object()
            .bucket(&self.at.bucket)
            .key(key.as_str())
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map(drop)
            .map_err(|e| classify("put raw message", e))
    }

    async fn get_raw(&self, key: &RawKey, max_bytes: u64) -> Result<RawRead, StoreError> {
        let got = self
            .s3
            .get_object()
            .bucket(&self.at.bucket)
            .key(key.as_str())
            .send()
            .await;
        let mut out = match got {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok(RawRead::Missing);
            }
            Err(e) => return Err(classify("read raw message", e)),
        };
        let size = out.content_length().unwrap_or(0).max(0) as u64;
        if size > max_bytes {
            return Ok(RawRead::TooLarge { size });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        while let Some(chunk) = out
            .body
            .try_next()
            .await
            .map_err(|e| StoreError::Unavailable {
                op: "read raw message",
                detail: e.to_string(),
            })?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max_bytes {
                return Ok(RawRead::TooLarge {
                    size: bytes.len() as u64,
                });
            }
        }
        Ok(RawRead::Bytes(bytes))
    }

    /// The mail SES wrote under the raw prefix, and the TLS reports uploaded over HTTPS.
    async fn raw_keys(&self) -> Result<Vec<RawKey>, StoreError> {
        let mut prefixes = vec![self.at.raw_prefix.as_str()];
        if !UPLOAD_PREFIX.starts_with(&self.at.raw_prefix) {
            prefixes.push(UPLOAD_PREFIX);
        }
        let mut keys = Vec::new();
        for prefix in prefixes {
            let mut pages = self
                .s3
                .list_objects_v2()
                .bucket(&self.at.bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("list raw messages", e))?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key())
                        .filter(|k| !k.ends_with('/'))
                        .filter_map(|k| RawKey::new(k).ok()),
                );
            }
        }
        Ok(keys)
    }

    async fn mark_raw(&self, key: &RawKey, outcome: Outcome) -> Result<(), StoreError> {
        let gone = |e: &Option<&str>| *e == Some("NoSuchKey");
        // PutObjectTagging replaces the whole set: keep the tags others put there.
        let current = self
            .s3
            .get_object_tagging()
            .bucket(&self.at.bucket)
            .key(key.as_str())
            .send()
            .await;
        let mut tags: Vec<Tag> = match current {
            Ok(out) => out
                .tag_set()
                .iter()
                .filter(|t| t.key() != OUTCOME_TAG)
                .cloned()
                .collect(),
            // The object is gone; there is nothing left to mark.
            Err(e) if gone(&e.as_service_error().and_then(ProvideErrorMetadata::code)) => {
                return Ok(());
            }
            Err(e) => return Err(classify("read raw message tags", e)),
        };
        tags.push(
            Tag::builder()
                .key(OUTCOME_TAG)
                .value(outcome.as_str())
                .build()
                .map_err(build_error)?,
        );
        let tagging = Tagging::builder()
            .set_tag_set(Some(tags))
            .build()
            .map_err(build_error)?;
        let sent = self
            .s3
            .put_object_tagging()
            .bucket(&self.at.bucket)
            .key(key.as_str())
            .tagging(tagging)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if gone(&e.as_service_error().and_then(ProvideErrorMetadata::code)) => Ok(()),
            Err(e) => Err(classify("tag raw message", e)),
        }
    }

    async fn put_report(
        &self,
        report: &StoredReport,
        mode: WriteMode,
    ) -> Result<PutReport, StoreError> {
        self.write_report(report, mode).await
    }

    async fn reports(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> Result<Vec<StoredReport>, StoreError> {
        // '~' sorts after every character of the ids and '#' that follow a day.
        let (from, to) = (format!("R#{}", days.from), format!("R#{}~", days.to));
        let items = self.domain_range(domain, from, to).await?;
        self.assemble(&items)
    }

    async fn each_report(
        &self,
        domain: &str,
        days: &DayRange,
        f: &mut (dyn FnMut(StoredReport) + Send),
    ) -> Result<(), StoreError> {
        // Headers and their pieces come back together, in key order, a page (1 MB) at a
        // time; each report is decoded as soon as its last piece is read.
        let (from, to) = (format!("R#{}", days.from), format!("R#{}~", days.to));
        let pk = format!("D#{}", normalise_domain(domain));
        let mut start: Option<Item> = None;
        let mut group: Vec<Item> = Vec::new();
        loop {
            let page = self
                .ddb
                .query()
                .table_name(&self.at.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":from", s(&from))
                .expression_attribute_values(":to", s(&to))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("query", e))?;
            for item in page.items() {
                self.count_read(item);
                let own_piece = group
                    .first()
                    .and_then(|h| text(h, "sk"))
                    .zip(text(item, "sk"))
                    .is_some_and(|(header, sk)| {
                        sk.strip_prefix(header)
                            .is_some_and(|rest| rest.starts_with("#B#"))
                    });
                if !own_piece && !group.is_empty() {
                    self.assemble(&group)?.into_iter().for_each(&mut *f);
                    group.clear();
                }
                group.push(item.clone());
            }
            match page.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
        self.assemble(&group)?.into_iter().for_each(&mut *f);
        Ok(())
    }

    async fn report(&self, id: &ReportId) -> Result<Option<StoredReport>, StoreError> {
        let headers = self
            .query(
                Some(GSI1),
                "gsi1pk = :id",
                &[(":id", s(format!("RID#{id}")))],
                true,
            )
            .await?;
        let Some(found) = headers.first() else {
            return Ok(None);
        };
        // The index is eventually consistent and holds no pieces: read the header again,
        // then its own pieces.
        let (pk, sk) = (
            text(found, "pk").unwrap_or_default(),
            text(found, "sk").unwrap_or_default(),
        );
        let Some(header) = self.header(pk, sk).await? else {
            return Ok(None);
        };
        let mut items = vec![header];
        items.extend(
            self.query(
                None,
                "pk = :pk AND begins_with(sk, :prefix)",
                &[(":pk", s(pk)), (":prefix", s(format!("{sk}#B#")))],
                true,
            )
            .await?,
        );
        Ok(self.assemble(&items)?.into_iter().next())
    }

    async fn is_stored(&self, report: &StoredReport) -> Result<bool, StoreError> {
        let (pk, sk) = (
            format!("D#{}", report.domain()),
            format!("R#{}#{}", report.day(), report.id),
        );
        let header = self.header(&pk, &sk).await?;
        Ok(header.is_some_and(|h| text(&h, "state") == Some(COMPLETE)))
    }

    async fn put_message(&self, record: &MessageRecord) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(record).map_err(|e| StoreError::corrupt("message record", e))?;
        let item = Item::from([
            ("pk".into(), s(format!("M#{}", record.key))),
            ("sk".into(), s("M")),
            ("gsi1pk".into(), s(format!("OUT#{}", record.outcome))),
            ("gsi1sk".into(), s(message_sort_key(&record.position()))),
            ("outcome".into(), s(record.outcome.as_str())),
            ("record".into(), s(json)),
        ]);
        self.ddb
            .put_item()
            .table_name(&self.at.table)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map(|out| self.count(out.consumed_capacity()))
            .map_err(|e| classify("put message", e))
    }

    async fn message(&self, key: &RawKey) -> Result<Option<MessageRecord>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.at.table)
            .key("pk", s(format!("M#{key}")))
            .key("sk", s("M"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("read message", e))?;
        out.item.as_ref().map(decode_message).transpose()
    }

    async fn messages(
        &self,
        outcome: Outcome,
        after: Option<&MessagePosition>,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let partition = (":o", s(format!("OUT#{outcome}")));
        let items = match after {
            Some(p) => {
                self.query_page(
                    Some(GSI1),
                    "gsi1pk = :o AND gsi1sk < :after",
                    &[partition, (":after", s(message_sort_key(p)))],
                    false,
                    limit,
                )
                .await?
            }
            None => {
                self.query_page(Some(GSI1), "gsi1pk = :o", &[partition], false, limit)
                    .await?
            }
        };
        items.iter().map(decode_message).collect()
    }

    async fn register_domain(&self, name: &str, at: i64) -> Result<bool, StoreError> {
        self.set_registration(name, Some(at)).await
    }

    async fn unregister_domain(&self, name: &str) -> Result<bool, StoreError> {
        self.set_registration(name, None).await
    }

    async fn domains(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DomainEntry>, StoreError> {
        // Domain items that count no report and are not registered are left out after
        // reading; pages are read until `limit` are found. The first page begins at the
        // first item: the empty domain's (reports naming none) sorts first.
        let mut out = Vec::new();
        let mut start: Option<Item> = after.map(|name| {
            Item::from([
                ("pk".into(), s("DOMAIN")),
                ("sk".into(), s(format!("D#{}", normalise_domain(name)))),
            ])
        });
        loop {
            let page = self
                .ddb
                .query()
                .table_name(&self.at.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s("DOMAIN"))
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(|e| classify("read domains", e))?;
            for item in page.items() {
                self.count_read(item);
                out.extend(decode_domain(item));
            }
            match page.last_evaluated_key() {
                Some(key) if out.len() < limit => start = Some(key.clone()),
                _ => return Ok(out),
            }
        }
    }

    async fn domain(&self, name: &str) -> Result<Option<DomainEntry>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.at.table)
            .key("pk", s("DOMAIN"))
            .key("sk", s(format!("D#{}", normalise_domain(name))))
            // Strongly: a domain read right after it is registered must be there.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("read domain", e))?;
        if let Some(item) = &out.item {
            self.count_read(item);
        }
        Ok(out.item.as_ref().and_then(decode_domain))
    }

    async fn forget_domain(&self, name: &str) -> Result<bool, StoreError> {
        let name = normalise_domain(name);
        let mut keys: Vec<(String, String)> = self
            .query(None, "pk = :pk", &[(":pk", s(format!("D#{name}")))], true)
            .await?
            .iter()
            .map(|i| {
                let key = |k| text(i, k).unwrap_or_default().to_owned();
                (key("pk"), key("sk"))
            })
            .collect();
        let existed = !keys.is_empty() || self.domain(&name).await?.is_some();
        for item in self
            .query(None, "pk = :pk", &[(":pk", s(held_pk(&name)))], true)
            .await?
        {
            keys.push((
                held_pk(&name),
                text(&item, "sk").unwrap_or_default().to_owned(),
            ));
        }
        for partition in [
            HOSTED,
            RELEASES,
            CHECK_REQUESTS,
            super::alerting::ALERT_REQUESTS,
        ] {
            keys.push((partition.to_owned(), format!("D#{name}")));
        }
        // The domain item goes last: until it is gone the domain still lists, and a retry
        // finds whatever is left.
        keys.push(("DOMAIN".to_owned(), format!("D#{name}")));
        let requests = keys
            .into_iter()
            .map(|(pk, sk)| {
                aws_sdk_dynamodb::types::DeleteRequest::builder()
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(build_error)
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.write_all(requests).await?;
        Ok(existed)
    }

    async fn day_counts(
        &self,
        domain: &str,
        days: &DayRange,
    ) -> Result<Vec<(String, Counters)>, StoreError> {
        let (from, to) = (format!("A#{}", days.from), format!("A#{}", days.to));
        let items = self.domain_range(domain, from, to).await?;
        Ok(items.iter().filter_map(day_counters).collect())
    }

    async fn latest_day(
        &self,
        domain: &str,
        not_after: &str,
    ) -> Result<Option<String>, StoreError> {
        // Newest first; a day whose counters a replacement or purge brought to zero is
        // skipped, and more than a few such days in a row are not looked past.
        let items = self
            .query_page(
                None,
                "pk = :pk AND sk BETWEEN :from AND :to",
                &[
                    (":pk", s(format!("D#{}", normalise_domain(domain)))),
                    (":from", s(format!("A#{}", crate::tally::FIRST_DAY))),
                    (":to", s(format!("A#{not_after}"))),
                ],
                false,
                LATEST_DAY_LOOKBACK,
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(day_counters)
            .find(|(_, counters)| !counters.is_empty())
            .map(|(day, _)| day))
    }

    async fn put_policy(&self, version: &PolicyVersion) -> Result<bool, StoreError> {
        let domain = normalise_domain(&version.domain);
        let json =
            serde_json::to_string(version).map_err(|e| StoreError::corrupt("policy version", e))?;
        // The mark that lists the domain for `policy_domains` goes first: a crash after it
        // leaves a listed domain without the new version, which every reader tolerates.
        self.put_marker(HOSTED, &domain, "mark policy domain")
            .await?;
        let item = Item::from([
            ("pk".into(), s(format!("D#{domain}"))),
            ("sk".into(), s(format!("P#{:010}", version.version))),
            ("created_at".into(), n(version.created_at)),
            ("policy".into(), s(json)),
        ]);
        let put = self
            .ddb
            .put_item()
            .table_name(&self.at.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match put {
            Ok(out) => {
                self.count(out.consumed_capacity());
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify("store policy", e)),
        }
    }

    async fn policies(&self, domain: &str) -> Result<Vec<PolicyVersion>, StoreError> {
        let items = self
            .domain_range(domain, "P#".to_owned(), "P#~".to_owned())
            .await?;
        items.iter().map(decode_policy).collect()
    }

    async fn policy_domains(&self) -> Result<Vec<String>, StoreError> {
        self.markers(HOSTED).await
    }

    async fn hold(&self, domain: &str, key: &RawKey, at: i64) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".into(), s(held_pk(domain))),
            ("sk".into(), s(key.as_str())),
            ("at".into(), n(at)),
        ]);
        self.put(item, "hold message").await
    }

    async fn held(&self, domain: &str, limit: usize) -> Result<Vec<RawKey>, StoreError> {
        let items = self
            .query_page(
                None,
                "pk = :pk",
                &[(":pk", s(held_pk(domain)))],
                true,
                limit,
            )
            .await?;
        items
            .iter()
            .map(|i| {
                let key = text(i, "sk").unwrap_or_default();
                RawKey::new(key).map_err(|e| StoreError::corrupt("held key", e))
            })
            .collect()
    }

    async fn unhold(&self, domain: &str, key: &RawKey) -> Result<(), StoreError> {
        self.delete(held_pk(domain), key.as_str().to_owned(), "release message")
            .await
    }

    async fn request_release(&self, domain: &str) -> Result<(), StoreError> {
        self.put_marker(RELEASES, domain, "request release").await
    }

    async fn releases(&self) -> Result<Vec<String>, StoreError> {
        self.markers(RELEASES).await
    }

    async fn release_done(&self, domain: &str) -> Result<(), StoreError> {
        self.delete(
            RELEASES.to_owned(),
            format!("D#{}", normalise_domain(domain)),
            "end release",
        )
        .await
    }

    async fn put_check(&self, run: &CheckRun) -> Result<(), StoreError> {
        let domain = normalise_domain(&run.domain);
        // Old runs expire through the table's TTL.
        let item = Item::from([
            ("pk".into(), s(format!("D#{domain}"))),
            ("sk".into(), s(format!("K#{:010}", run.checked_at))),
            ("worst".into(), s(&run.worst)),
            ("report".into(), s(&run.report)),
            (
                "expires_at".into(),
                n(run.checked_at.saturating_add(crate::CHECK_HISTORY_SECONDS)),
            ),
        ]);
        self.put(item, "store check").await?;
        // The verdict moves only forward, and only on a domain that exists.
        let verdict = self
            .ddb
            .update_item()
            .table_name(&self.at.table)
            .key("pk", s("DOMAIN"))
            .key("sk", s(format!("D#{domain}")))
            .update_expression("SET dns_worst = :w, dns_checked_at = :t")
            .condition_expression(
                "attribute_exists(pk) AND \
                 (attribute_not_exists(dns_checked_at) OR dns_checked_at <= :t)",
            )
            .expression_attribute_values(":w", s(&run.worst))
            .expression_attribute_values(":t", n(run.checked_at))
            .send()
            .await;
        match verdict {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("store check verdict", e)),
        }
    }

    async fn checks(&self, domain: &str, limit: usize) -> Result<Vec<CheckRun>, StoreError> {
        let domain = normalise_domain(domain);
        let items = self
            .query_page(
                None,
                "pk = :pk AND sk BETWEEN :from AND :to",
                &[
                    (":pk", s(format!("D#{domain}"))),
                    (":from", s("K#")),
                    (":to", s("K#~")),
                ],
                false,
                limit,
            )
            .await?;
        items
            .iter()
            .map(|i| {
                let corrupt = || StoreError::corrupt("check run", "a field is missing");
                Ok(CheckRun {
                    domain: domain.clone(),
                    checked_at: text(i, "sk")
                        .and_then(|k| k.strip_prefix("K#")?.parse().ok())
                        .ok_or_else(corrupt)?,
                    worst: text(i, "worst").ok_or_else(corrupt)?.to_owned(),
                    report: text(i, "report").ok_or_else(corrupt)?.to_owned(),
                })
            })
            .collect()
    }

    async fn request_check(&self, domain: &str) -> Result<(), StoreError> {
        self.put_marker(CHECK_REQUESTS, domain, "request check")
            .await
    }

    async fn check_requests(&self) -> Result<Vec<String>, StoreError> {
        self.markers(CHECK_REQUESTS).await
    }

    async fn check_done(&self, domain: &str) -> Result<(), StoreError> {
        self.delete(
            CHECK_REQUESTS.to_owned(),
            format!("D#{}", normalise_domain(domain)),
            "end check request",
        )
        .await
    }
}

impl PolicySource for AwsStore {
    async fn latest_policy(&self, domain: &str) -> Result<Option<PolicyVersion>, StoreError> {
        policy_table::latest_policy(&self.ddb, &self.at.table, domain).await
    }
}

impl NameCache for AwsStore {
    type Error = StoreError;

    async fn cached_names(
        &self,
        ips: &[IpAddr],
        now: i64,
    ) -> Result<HashMap<IpAddr, ReverseDns>, StoreError> {
        let mut out = HashMap::new();
        // BatchGetItem takes 100 keys; what DynamoDB leaves unprocessed is asked again.
        for chunk in ips.chunks(100) {
            let keys = chunk
                .iter()
                .map(|ip| Item::from([("pk".into(), s(name_pk(*ip))), ("sk".into(), s("N"))]))
                .collect::<Vec<_>>();
            let found = std::sync::Mutex::new(Vec::new());
            self.backoff
                .until_processed(keys, |keys| async {
                    let (items, unprocessed) = self.batch_get(keys).await?;
                    found.lock().expect("not poisoned").extend(items);
                    Ok(unprocessed)
                })
                .await?;
            let found = found.into_inner().expect("not poisoned");
            for item in found {
                let fresh = number(&item, "expires_at").is_some_and(|t| t > now);
                let ip = text(&item, "pk")
                    .and_then(|pk| pk.strip_prefix("N#"))
                    .and_then(|ip| ip.parse::<IpAddr>().ok());
                let rdns = text(&item, "rdns").and_then(|j| serde_json::from_str(j).ok());
                if let (true, Some(ip), Some(rdns)) = (fresh, ip, rdns) {
                    out.insert(ip, rdns);
                }
            }
        }
        Ok(out)
    }

    async fn cache_names(&self, names: &[CachedName]) -> Result<(), StoreError> {
        let requests = names
            .iter()
            .map(|cached| {
                let rdns = serde_json::to_string(&cached.reverse_dns)
                    .map_err(|e| StoreError::corrupt("name cache", e))?;
                put_request(Item::from([
                    ("pk".into(), s(name_pk(cached.ip))),
                    ("sk".into(), s("N")),
                    ("rdns".into(), s(rdns)),
                    ("expires_at".into(), n(cached.expires_at)),
                ]))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.write_all(requests).await
    }
}

/// Day items `latest_day` reads at most.
const LATEST_DAY_LOOKBACK: usize = 8;

/// A day item's day and its nonzero counters.
fn day_counters(item: &Item) -> Option<(String, Counters)> {
    let day = text(item, "sk")?.strip_prefix("A#")?.to_owned();
    let counters: Counters = item
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "pk" | "sk"))
        .filter_map(|(name, v)| match v {
            AttributeValue::N(v) => Some((name.clone(), counter_value(v)?)),
            _ => None,
        })
        .filter(|(_, v)| *v != 0)
        .collect();
    Some((day, counters))
}
