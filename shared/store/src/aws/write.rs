//! The write protocol: report headers, body pieces, the completing transaction and its
//! counters, markers and batch writes.

use super::*;

impl AwsStore {
    /// Writes a report in the three steps of the module's protocol (see the module doc of
    /// [`super`]): a pending header, its pieces, then the completing transaction.
    pub(super) async fn write_report(
        &self,
        report: &StoredReport,
        mode: WriteMode,
    ) -> Result<PutReport, StoreError> {
        // The claim needs only the hash: a duplicate is recognised without compressing.
        let hash = Body::hash_of(&report.report, &report.sources)?;
        // Computed once: the header keeps it, and completing the report adds it.
        let tally = Tally::of(&report.report, &report.sources);
        let span = Span::of_report(&report.report).len();
        let (pk, sk, item) = header_item(report, (&tally, span), &hash, None, PENDING)?;
        let sum = report.summary();
        let pieces_prefix = |hash: &str| format!("{sk}#B#{hash}#");

        // Step 1: claim the identity, or find who holds it.
        let claimed = self
            .ddb
            .put_item()
            .table_name(&self.at.table)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(pk) OR #state = :pending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(PENDING))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        let existing = match claimed {
            Ok(out) => {
                self.count(out.consumed_capacity());
                None
            }
            Err(e) => {
                let Some(failed) = e.as_service_error().and_then(|s| match s {
                    PutItemError::ConditionalCheckFailedException(c) => Some(c),
                    _ => None,
                }) else {
                    return Err(classify("claim report", e));
                };
                // Emulators without ReturnValuesOnConditionCheckFailure: read it instead.
                match failed.item() {
                    Some(old) => Some(old.clone()),
                    None => self.header(&pk, &sk).await?,
                }
            }
        };

        let Some(old) = existing else {
            self.faults.check(FaultPoint::AfterHeader)?;
            let body = Body::encode(&report.report, &report.sources)?;
            // Step 2: the body.
            self.write_pieces(&pk, &pieces_prefix(&body.hash), &body)
                .await?;
            self.faults.check(FaultPoint::AfterBody)?;
            // Step 3: complete and count, once; the header keeps the tally as written.
            let flip = |written: &Tally| {
                Update::builder()
                    .table_name(&self.at.table)
                    .key("pk", s(&pk))
                    .key("sk", s(&sk))
                    .update_expression(
                        "SET #state = :complete, pieces = :pieces, body_bytes = :bytes, \
                         tally = :tally",
                    )
                    .condition_expression("#state = :pending AND body = :body")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":complete", s(COMPLETE))
                    .expression_attribute_values(":pending", s(PENDING))
                    .expression_attribute_values(":body", s(&body.hash))
                    .expression_attribute_values(":pieces", n(len_i64(body.pieces.len())))
                    .expression_attribute_values(":bytes", n(len_i64(body.compressed_len())))
                    .expression_attribute_values(":tally", s(written.to_json()))
                    .build()
                    .map(|u| TransactWriteItem::builder().update(u).build())
                    .map_err(build_error)
            };
            let totals = DomainDelta {
                reports: 1,
                messages: count_i64(sum.messages),
                records: count_i64(sum.records),
                spans: spans_delta(span, None),
            };
            let won = self
                .complete(flip, &report.domain(), &tally, None, totals)
                .await?;
            return Ok(if won.is_some() {
                PutReport::Stored
            } else {
                PutReport::Duplicate
            });
        };

        let old_hash = text(&old, "body").unwrap_or_default().to_owned();
        if mode == WriteMode::Insert || old_hash == hash {
            return Ok(PutReport::Duplicate);
        }
        let body = Body::encode(&report.report, &report.sources)?;
        // Replace: new pieces under the new hash, then swap the header and move the counters
        // by the difference, on condition that nobody swapped it first.
        self.write_pieces(&pk, &pieces_prefix(&body.hash), &body)
            .await?;
        self.faults.check(FaultPoint::AfterBody)?;
        let swap = |written: &Tally| {
            let (_, _, new_header) =
                header_item(report, (written, span), &body.hash, Some(&body), COMPLETE)?;
            aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.at.table)
                .set_item(Some(new_header))
                .condition_expression("#state = :complete AND body = :old")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":complete", s(COMPLETE))
                .expression_attribute_values(":old", s(&old_hash))
                .build()
                .map(|p| TransactWriteItem::builder().put(p).build())
                .map_err(build_error)
        };
        let old_tally = Tally::from_json(text(&old, "tally").unwrap_or("{}"))
            .map_err(|e| StoreError::corrupt("tally", e))?;
        let old_span = number(&old, "span").unwrap_or(1).clamp(1, 366) as usize;
        let totals = DomainDelta {
            reports: 0,
            messages: count_i64(sum.messages).saturating_sub(counter(&old, "messages")),
            records: count_i64(sum.records).saturating_sub(counter(&old, "records")),
            spans: spans_delta(span, Some(old_span)),
        };
        let won = self
            .complete(swap, &report.domain(), &tally, Some(&old_tally), totals)
            .await?;
        if won.is_none() {
            return Ok(PutReport::Duplicate);
        }
        let old_pieces = number(&old, "pieces").unwrap_or(0);
        self.delete_pieces(&pk, &pieces_prefix(&old_hash), old_pieces)
            .await;
        Ok(PutReport::Replaced)
    }

    pub(super) async fn write_pieces(
        &self,
        pk: &str,
        prefix: &str,
        body: &Body,
    ) -> Result<(), StoreError> {
        let requests = body
            .pieces
            .iter()
            .enumerate()
            .map(|(i, data)| {
                put_request(Item::from([
                    ("pk".into(), s(pk)),
                    ("sk".into(), s(format!("{prefix}{i:04}"))),
                    ("data".into(), AttributeValue::B(data.clone().into())),
                ]))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.write_all(requests).await
    }

    /// Sends write requests 25 at a time (BatchWriteItem's limit), resending whatever
    /// DynamoDB leaves unprocessed.
    pub(super) async fn write_all(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for batch in requests.chunks(25) {
            self.backoff
                .until_processed(batch.to_vec(), |items| self.batch_write(items))
                .await?;
        }
        Ok(())
    }

    /// One BatchWriteItem call; returns the requests DynamoDB left unprocessed.
    pub(super) async fn batch_write(
        &self,
        items: Vec<WriteRequest>,
    ) -> Result<Vec<WriteRequest>, StoreError> {
        let out = self
            .ddb
            .batch_write_item()
            .request_items(&self.at.table, items)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| classify("write report body", e))?;
        for c in out.consumed_capacity() {
            self.count(Some(c));
        }
        Ok(out
            .unprocessed_items()
            .and_then(|u| u.get(&self.at.table))
            .cloned()
            .unwrap_or_default())
    }

    /// The transaction that completes (or replaces) a report and moves its domain's counters
    /// and its per-day counters, all or nothing. `header` makes the header's operation for the
    /// tally as written; `old` is what the version being replaced wrote.
    ///
    /// A day item takes a new reporter only while it has fewer than
    /// [`MAX_REPORTERS_PER_DAY`] (a condition on its `reporters` set, so concurrent writers
    /// cannot overshoot); a day that refuses is folded ([`Tally::fold_day`]) and the
    /// transaction sent again. `None` when another writer completed the report first.
    pub(super) async fn complete(
        &self,
        header: impl Fn(&Tally) -> Result<TransactWriteItem, StoreError>,
        domain: &str,
        tally: &Tally,
        old: Option<&Tally>,
        totals: DomainDelta,
    ) -> Result<Option<Tally>, StoreError> {
        let mut folded: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        loop {
            let mut written = tally.clone();
            for day in &folded {
                written.fold_day(day);
            }
            let delta = old.map_or_else(|| written.clone(), |old| written.minus(old));
            // What each transaction item is, to read its cancellation reason back.
            let mut items = vec![header(&written)?];
            let mut item_days = vec![None];
            if let Some(counters) = totals.counters().days.get("") {
                items.push(self.add_counters(
                    s("DOMAIN"),
                    format!("D#{domain}"),
                    counters,
                    None,
                )?);
                item_days.push(None);
            }
            for (day, counters) in &delta.days {
                items.push(self.add_counters(
                    s(format!("D#{domain}")),
                    format!("A#{day}"),
                    counters,
                    written.reporter_on(day),
                )?);
                item_days.push(Some(day.clone()));
            }
            let sent = self
                .ddb
                .transact_write_items()
                .set_transact_items(Some(items))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            let e = match sent {
                Ok(out) => {
                    for c in out.consumed_capacity() {
                        self.count(Some(c));
                    }
                    return Ok(Some(written));
                }
                Err(e) => e,
            };
            let failed: Vec<bool> = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(t)) => t
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code() == Some("ConditionalCheckFailed"))
                    .collect(),
                _ => Vec::new(),
            };
            if failed.first() == Some(&true) {
                return Ok(None);
            }
            let full: Vec<String> = failed
                .iter()
                .zip(item_days)
                .filter_map(|(failed, day)| day.filter(|_| *failed))
                .filter(|day| !folded.contains(day))
                .collect();
            if full.is_empty() {
                return Err(classify("complete report", e));
            }
            folded.extend(full);
        }
    }

    /// An `ADD` of named counters to one item, creating it when absent. With `reporter`, the
    /// item is a day's and the reporter joins its `reporters` set, on condition that it is a
    /// member already or the set has room.
    pub(super) fn add_counters(
        &self,
        pk: AttributeValue,
        sk: String,
        counters: &Counters,
        reporter: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.at.table)
            .key("pk", pk)
            .key("sk", s(sk));
        let mut adds = Vec::with_capacity(counters.len() + 1);
        for (i, (name, value)) in counters.iter().enumerate() {
            adds.push(format!("#c{i} :c{i}"));
            update = update
                .expression_attribute_names(format!("#c{i}"), name)
                .expression_attribute_values(format!(":c{i}"), n(*value));
        }
        if let Some(reporter) = reporter {
            adds.push("#reporters :reporters".to_owned());
            update = update
                .expression_attribute_names("#reporters", REPORTERS)
                .expression_attribute_values(
                    ":reporters",
                    AttributeValue::Ss(vec![reporter.into()]),
                )
                .expression_attribute_values(":reporter", s(reporter))
                .expression_attribute_values(":room", n(MAX_REPORTERS_PER_DAY as i64))
                .condition_expression(
                    "attribute_not_exists(#reporters) OR contains(#reporters, :reporter) \
                     OR size(#reporters) < :room",
                );
        }
        let update = update
            .update_expression(format!("ADD {}", adds.join(", ")))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Lists a domain under a marker partition (`HOSTED`, `RELEASE`).
    pub(super) async fn put_marker(
        &self,
        partition: &str,
        domain: &str,
        op: &'static str,
    ) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".into(), s(partition)),
            ("sk".into(), s(format!("D#{}", normalise_domain(domain)))),
        ]);
        self.put(item, op).await
    }

    /// Writes one item, replacing any with its key.
    pub(super) async fn put(&self, item: Item, op: &'static str) -> Result<(), StoreError> {
        self.ddb
            .put_item()
            .table_name(&self.at.table)
            .set_item(Some(item))
            .send()
            .await
            .map(drop)
            .map_err(|e| classify(op, e))
    }

    pub(super) async fn delete(
        &self,
        pk: String,
        sk: String,
        op: &'static str,
    ) -> Result<(), StoreError> {
        self.ddb
            .delete_item()
            .table_name(&self.at.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map(drop)
            .map_err(|e| classify(op, e))
    }

    /// Registers (`Some(time)`) or unregisters (`None`) a domain; false if it already was.
    pub(super) async fn set_registration(
        &self,
        name: &str,
        at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let update = self
            .ddb
            .update_item()
            .table_name(&self.at.table)
            .key("pk", s("DOMAIN"))
            .key("sk", s(format!("D#{}", normalise_domain(name))));
        let update = match at {
            Some(at) => update
                .update_expression("SET registered_at = :at")
                .condition_expression("attribute_not_exists(registered_at)")
                .expression_attribute_values(":at", n(at)),
            None => update
                .update_expression("REMOVE registered_at")
                .condition_expression("attribute_exists(registered_at)"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify("register domain", e)),
        }
    }

    pub(super) async fn delete_pieces(&self, pk: &str, prefix: &str, count: i64) {
        for i in 0..count {
            // Best effort: an orphaned piece is never read (its hash is not the header's).
            let _ = self
                .ddb
                .delete_item()
                .table_name(&self.at.table)
                .key("pk", s(pk))
                .key("sk", s(format!("{prefix}{i:04}")))
                .send()
                .await;
        }
    }
}

/// The day item attribute listing the reporters that have counters of their own there.
pub(super) const REPORTERS: &str = "reporters";

/// What completing a report adds to its domain item.
pub(super) struct DomainDelta {
    pub(super) reports: i64,
    pub(super) messages: i64,
    pub(super) records: i64,
    /// `(days, +1/-1)` for reports spread over more than one day.
    pub(super) spans: Vec<(usize, i64)>,
}

impl DomainDelta {
    /// The changes as counters, under the day `""`.
    fn counters(&self) -> Tally {
        let mut totals = Tally::default();
        totals.add("", "reports", self.reports);
        totals.add("", "messages", self.messages);
        totals.add("", "records", self.records);
        for (span, n) in &self.spans {
            totals.add("", &format!("{SPAN_PREFIX}{span}"), *n);
        }
        totals
    }
}

pub(super) fn spans_delta(new: usize, old: Option<usize>) -> Vec<(usize, i64)> {
    let mut out = Vec::new();
    if new > 1 {
        out.push((new, 1));
    }
    if let Some(old) = old.filter(|o| *o > 1) {
        out.push((old, -1));
    }
    out
}

/// A report's header item. `hash` names the body; `body`, once written, adds its size in
/// pieces and bytes; `tally` is what the report adds to the day counters, over `span` days.
pub(super) fn header_item(
    r: &StoredReport,
    (tally, span): (&Tally, usize),
    hash: &str,
    body: Option<&Body>,
    state: &str,
) -> Result<(String, String, Item), StoreError> {
    let pk = format!("D#{}", r.domain());
    let sk = format!("R#{}#{}", r.day(), r.id);
    let sum = r.summary();
    let mut item = Item::from([
        ("pk".into(), s(&pk)),
        ("sk".into(), s(&sk)),
        ("gsi1pk".into(), s(format!("RID#{}", r.id))),
        ("gsi1sk".into(), s("R")),
        ("state".into(), s(state)),
        ("id".into(), s(r.id.as_str())),
        ("domain".into(), s(r.domain())),
        ("day".into(), s(r.day())),
        ("kind".into(), s(r.report.kind())),
        ("org".into(), s(&sum.org)),
        ("report_id".into(), s(&sum.report_id)),
        ("messages".into(), n(count_i64(sum.messages))),
        ("records".into(), n(count_i64(sum.records))),
        ("message".into(), s(r.message.as_str())),
        ("received_at".into(), n(r.received_at)),
        ("body".into(), s(hash)),
        ("tally".into(), s(tally.to_json())),
        ("span".into(), n(len_i64(span))),
        (
            "origin".into(),
            s(serde_json::to_string(&r.origin).map_err(|e| StoreError::corrupt("origin", e))?),
        ),
    ]);
    let body_size = body.map(|b| (len_i64(b.pieces.len()), len_i64(b.compressed_len())));
    let optional = [
        ("begin", sum.begin),
        ("end", sum.end),
        ("pieces", body_size.map(|b| b.0)),
        ("body_bytes", body_size.map(|b| b.1)),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            item.insert(name.into(), n(v));
        }
    }
    if let Some(mail) = &r.mail {
        item.insert(
            "mail".into(),
            s(serde_json::to_string(mail).map_err(|e| StoreError::corrupt("mail facts", e))?),
        );
        let ses = &mail.ses;
        for (name, v) in [
            ("ses_spf", &ses.spf),
            ("ses_dkim", &ses.dkim),
            ("ses_dmarc", &ses.dmarc),
            ("ses_spam", &ses.spam),
            ("ses_virus", &ses.virus),
        ] {
            if let Some(v) = v {
                item.insert(name.into(), s(v.as_str()));
            }
        }
    }
    Ok((pk, sk, item))
}
