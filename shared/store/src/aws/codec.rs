//! Item codecs: keys, attribute values, and items decoded into the store's model.

use super::*;

/// Domain attributes `span_<n>` count the reports spread over `n` > 1 days; the largest `n`
/// with a positive count is the domain's [`DomainEntry::span_days`].
pub(super) const SPAN_PREFIX: &str = "span_";

/// The partition listing the domains with a hosted policy (`D#<domain>` items).
pub(super) const HOSTED: &str = "HOSTED";

/// The partition listing the domains whose held messages wait to be ingested.
pub(super) const RELEASES: &str = "RELEASE";

/// The partition listing the domains whose DNS check was asked for.
pub(super) const CHECK_REQUESTS: &str = "CHECK";

/// The partition of the messages held for a domain (one `<key>` item each).
pub(super) fn held_pk(domain: &str) -> String {
    format!("H#{}", normalise_domain(domain))
}

/// A message record's sort key in the outcome index: newest last, so read backwards.
pub(super) fn message_sort_key(p: &MessagePosition) -> String {
    format!("{:012}#{}", p.processed_at.max(0), p.key)
}

/// A BatchWriteItem request that puts `item`.
pub(super) fn put_request(item: Item) -> Result<WriteRequest, StoreError> {
    PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map(|p| WriteRequest::builder().put_request(p).build())
        .map_err(build_error)
}

/// The partition of an address's cached reverse DNS: one small item per address.
pub(super) fn name_pk(ip: IpAddr) -> String {
    format!("N#{ip}")
}

/// An item's size as DynamoDB counts it for the 400 KB limit and for capacity: attribute
/// names plus values (numbers roughly one byte per two digits plus one).
pub fn item_size(item: &Item) -> usize {
    fn value_size(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.len().div_ceil(2) + 1,
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
            AttributeValue::Ns(v) => v.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m
                    .iter()
                    .map(|(k, v)| 1 + k.len() + value_size(v))
                    .sum::<usize>()
            }
            _ => 0,
        }
    }
    item.iter()
        .map(|(name, v)| name.len() + value_size(v))
        .sum()
}

pub(super) fn decode_domain(i: &Item) -> Option<DomainEntry> {
    let count = |name| counter(i, name) as u64;
    let span_days = i
        .keys()
        .filter_map(|name| {
            let days: u32 = name.strip_prefix(SPAN_PREFIX)?.parse().ok()?;
            (counter(i, name) > 0).then_some(days)
        })
        .max()
        .unwrap_or(1);
    let entry = DomainEntry {
        name: text(i, "sk")?.strip_prefix("D#")?.to_owned(),
        registered_at: number(i, "registered_at"),
        reports: count("reports"),
        messages: count("messages"),
        records: count("records"),
        span_days,
        dns: match (text(i, "dns_worst"), number(i, "dns_checked_at")) {
            (Some(worst), Some(checked_at)) => Some(DnsVerdict {
                worst: worst.to_owned(),
                checked_at,
            }),
            _ => None,
        },
    };
    (entry.registered_at.is_some() || entry.reports > 0).then_some(entry)
}

pub(super) fn decode_policy(item: &Item) -> Result<PolicyVersion, StoreError> {
    let json =
        text(item, "policy").ok_or_else(|| StoreError::corrupt("policy version", "policy"))?;
    serde_json::from_str(json).map_err(|e| StoreError::corrupt("policy version", e))
}

pub(super) fn decode_message(item: &Item) -> Result<MessageRecord, StoreError> {
    let json =
        text(item, "record").ok_or_else(|| StoreError::corrupt("message record", "record"))?;
    serde_json::from_str(json).map_err(|e| StoreError::corrupt("message record", e))
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

pub(super) fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// A counter's value, within 0..=MAX_COUNT whatever the item holds: DynamoDB adds without
/// bound (38 digits), so a counter read back may be past what an `i64` holds.
pub(super) fn counter_value(v: &str) -> Option<i64> {
    let max = MAX_COUNT as i64;
    match v.parse::<i128>() {
        Ok(x) => Some(x.clamp(0, i128::from(max)) as i64),
        Err(_) => v
            .parse::<f64>()
            .ok()
            .map(|f| f.clamp(0.0, max as f64) as i64),
    }
}

pub(super) fn counter(item: &Item, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::N(v)) => counter_value(v).unwrap_or(0),
        _ => 0,
    }
}

/// A count (at most MAX_COUNT) as a DynamoDB number.
pub(super) fn count_i64(n: u64) -> i64 {
    n.min(MAX_COUNT) as i64
}

/// A length as a DynamoDB number.
pub(super) fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
