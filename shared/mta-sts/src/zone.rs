//! The DNS zone Rampart writes policy ids into: [`DnsZone`], kept as a zone file in the local
//! mode ([`ZoneFile`]) and as a Route 53 hosted zone on AWS (`route53::Route53Zone`).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rampart_store::StoreError;

/// TXT records in a zone that Rampart controls. Every method is safe to retry.
pub trait DnsZone: Send + Sync {
    /// The zone's name, e.g. `rua.example.net`.
    fn apex(&self) -> &str;

    /// The TXT value at `name` (fully qualified, without the final dot), if any.
    fn txt(&self, name: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Every TXT record of the zone, by name (fully qualified, without the final dot).
    fn txt_records(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<String, String>, StoreError>> + Send;

    /// Creates or replaces the TXT record at `name`.
    fn set_txt(
        &self,
        name: &str,
        value: &str,
        ttl: u32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes the TXT record at `name`; nothing happens if there is none.
    fn remove_txt(&self, name: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A zone kept as a file in BIND master-file format, one TXT record per line with absolute
/// names, ready for `$INCLUDE` in the zone of any DNS server. `rampart serve` keeps it in its
/// data folder; the tests serve it from a real DNS server.
#[derive(Debug)]
pub struct ZoneFile {
    apex: String,
    path: PathBuf,
    // Writers in this process take turns; the file is replaced atomically for readers.
    lock: Mutex<()>,
}

impl ZoneFile {
    pub fn new(apex: &str, path: &Path) -> Self {
        ZoneFile {
            apex: apex.trim_end_matches('.').to_ascii_lowercase(),
            path: path.to_owned(),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// name → (ttl, value).
    fn load(&self) -> Result<BTreeMap<String, (u32, String)>, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(io_error(&self.path, e)),
        };
        let mut records = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with(';') && !l.is_empty())
        {
            let mut fields = line.splitn(5, ' ');
            let (Some(name), Some(ttl), Some("IN"), Some("TXT"), Some(value)) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                return Err(StoreError::corrupt("zone file", format!("line {line:?}")));
            };
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| StoreError::corrupt("zone file", format!("line {line:?}")))?;
            let ttl = ttl
                .parse()
                .map_err(|_| StoreError::corrupt("zone file", format!("line {line:?}")))?;
            records.insert(
                name.trim_end_matches('.').to_owned(),
                (ttl, value.to_owned()),
            );
        }
        Ok(records)
    }

    fn save(&self, records: &BTreeMap<String, (u32, String)>) -> Result<(), StoreError> {
        let mut text = format!(
            "; MTA-STS policy ids published by Rampart in {}. Generated: do not edit.\n",
            self.apex
        );
        for (name, (ttl, value)) in records {
            text.push_str(&format!("{name}. {ttl} IN TXT \"{value}\"\n"));
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(|e| io_error(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io_error(&self.path, e))
    }

    fn change(
        &self,
        edit: impl FnOnce(&mut BTreeMap<String, (u32, String)>),
    ) -> Result<(), StoreError> {
        let _turn = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut records = self.load()?;
        edit(&mut records);
        self.save(&records)
    }
}

impl DnsZone for ZoneFile {
    fn apex(&self) -> &str {
        &self.apex
    }

    async fn txt(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.load()?.remove(name).map(|(_, value)| value))
    }

    async fn txt_records(&self) -> Result<BTreeMap<String, String>, StoreError> {
        Ok(self
            .load()?
            .into_iter()
            .map(|(name, (_, value))| (name, value))
            .collect())
    }

    async fn set_txt(&self, name: &str, value: &str, ttl: u32) -> Result<(), StoreError> {
        // A TXT string cannot carry a bare quote; policy ids are letters and digits.
        if value.contains(['"', '\n', '\\']) {
            return Err(StoreError::Refused {
                op: "publish TXT",
                detail: format!("{value:?} needs escaping"),
            });
        }
        self.change(|records| {
            records.insert(name.to_owned(), (ttl, value.to_owned()));
        })
    }

    async fn remove_txt(&self, name: &str) -> Result<(), StoreError> {
        self.change(|records| {
            records.remove(name);
        })
    }
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_zone_file_keeps_records_in_master_file_format() {
        let dir = std::env::temp_dir().join(format!("rampart-zone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let zone = ZoneFile::new("RUA.Example.net.", &dir.join("mta-sts.zone"));
        assert_eq!(zone.apex(), "rua.example.net");
        let name = "example.com._mta-sts.rua.example.net";
        assert_eq!(zone.txt(name).await.unwrap(), None);
        zone.set_txt(name, "v=STSv1; id=abc;", 300).await.unwrap();
        zone.set_txt("b.example._mta-sts.rua.example.net", "v=STSv1; id=1;", 60)
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(zone.path()).unwrap(),
            "; MTA-STS policy ids published by Rampart in rua.example.net. Generated: do not edit.\n\
             b.example._mta-sts.rua.example.net. 60 IN TXT \"v=STSv1; id=1;\"\n\
             example.com._mta-sts.rua.example.net. 300 IN TXT \"v=STSv1; id=abc;\"\n"
        );
        assert_eq!(
            zone.txt(name).await.unwrap().as_deref(),
            Some("v=STSv1; id=abc;")
        );
        assert_eq!(
            zone.txt_records().await.unwrap(),
            BTreeMap::from([
                (
                    "b.example._mta-sts.rua.example.net".to_owned(),
                    "v=STSv1; id=1;".to_owned()
                ),
                (name.to_owned(), "v=STSv1; id=abc;".to_owned()),
            ])
        );
        zone.remove_txt(name).await.unwrap();
        zone.remove_txt(name).await.unwrap();
        assert_eq!(zone.txt(name).await.unwrap(), None);
        assert!(zone.set_txt(name, "a\"b", 300).await.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
