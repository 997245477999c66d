//! The `tag=value; tag=value` lists of DMARC (RFC 7489 §6.4), DKIM key (RFC 6376 §3.2),
//! MTA-STS (RFC 8461 §3.1) and TLS-RPT (RFC 8460 §3) records.

/// Tags kept from one record; a longer record is malformed anyway.
pub const MAX_TAGS: usize = 32;

/// A record read as a tag list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagList {
    /// Tag names lower-cased, values trimmed, in record order.
    pub tags: Vec<(String, String)>,
    /// Parts that are not `tag=value`, and tags named twice.
    pub problems: Vec<String>,
}

impl TagList {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(tag, _)| tag == name)
            .map(|(_, value)| value.as_str())
    }

    /// The comma-separated URIs of `name` (`rua`, `ruf`), trimmed, empty ones dropped.
    pub fn uris(&self, name: &str) -> Vec<&str> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first tag's name and value.
    pub fn first(&self) -> Option<(&str, &str)> {
        self.tags.first().map(|(t, v)| (t.as_str(), v.as_str()))
    }
}

/// Reads `text`; an empty part (a final `;`) is allowed.
pub fn parse(text: &str) -> TagList {
    let mut list = TagList::default();
    for part in text.split(';') {
        let part = part.trim_matches([' ', '\t', '\r', '\n']);
        if part.is_empty() {
            continue;
        }
        if list.tags.len() == MAX_TAGS {
            list.problems
                .push(format!("more than {MAX_TAGS} tags; the rest is not read"));
            break;
        }
        let Some((name, value)) = part.split_once('=') else {
            list.problems.push(format!("{part:?} is not tag=value"));
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_owned();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            list.problems
                .push(format!("{part:?} has no valid tag name"));
            continue;
        }
        if list.get(&name).is_some() {
            list.problems
                .push(format!("{name}= appears twice (the record is invalid)"));
            continue;
        }
        list.tags.push((name, value));
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_with_spaces_and_a_final_semicolon() {
        let list = parse(" v=DMARC1 ; P = reject;rua=mailto:a@b.example; ");
        assert_eq!(list.first(), Some(("v", "DMARC1")));
        assert_eq!(list.get("p"), Some("reject"));
        assert_eq!(list.get("rua"), Some("mailto:a@b.example"));
        assert!(list.problems.is_empty());
    }

    #[test]
    fn a_repeated_tag_and_a_bare_word_are_problems() {
        let list = parse("v=DMARC1; p=none; p=reject; oops");
        assert_eq!(list.get("p"), Some("none"));
        assert_eq!(list.problems.len(), 2);
    }
}
