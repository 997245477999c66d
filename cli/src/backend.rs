//! Which store a command works on: the local data folder, or DynamoDB + S3.

use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;
use rampart_store::aws::{AwsLocation, AwsStore, load_config};
use rampart_store::embedded::EmbeddedStore;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// An SQLite file and a folder of raw messages under --data.
    Local,
    /// DynamoDB and S3, through the standard AWS configuration chain (environment including
    /// AWS_ENDPOINT_URL, profiles, SSO, instance and container roles).
    Aws,
}

#[derive(clap::Args)]
pub struct StoreArgs {
    /// Where the reports are stored.
    #[arg(long, value_enum, default_value_t = BackendKind::Local)]
    backend: BackendKind,
    /// The local data folder [default: $RAMPART_DATA, else $XDG_DATA_HOME/rampart, else
    /// ~/.local/share/rampart].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// DynamoDB table (--backend aws).
    #[arg(long, env = "RAMPART_TABLE", default_value = "rampart")]
    table: String,
    /// S3 bucket of raw messages (--backend aws).
    #[arg(long, env = "RAMPART_BUCKET", required_if_eq("backend", "aws"))]
    bucket: Option<String>,
    /// Prefix of raw messages in the bucket: the SES receipt rule's object prefix.
    #[arg(long, env = "RAMPART_RAW_PREFIX", default_value = "inbound/")]
    raw_prefix: String,
}

pub enum Backend {
    Local(EmbeddedStore),
    Aws(AwsStore),
}

impl StoreArgs {
    pub async fn open(&self) -> anyhow::Result<Backend> {
        match self.backend {
            BackendKind::Local => {
                let dir = self.data_dir()?;
                let store = EmbeddedStore::open(&dir)
                    .with_context(|| format!("cannot open the data folder {}", dir.display()))?;
                Ok(Backend::Local(store))
            }
            BackendKind::Aws => {
                let sdk = load_config().await;
                let at = AwsLocation {
                    table: self.table.clone(),
                    bucket: self.bucket.clone().unwrap_or_default(),
                    raw_prefix: self.raw_prefix.clone(),
                };
                Ok(Backend::Aws(AwsStore::new(&sdk, at)))
            }
        }
    }

    pub fn is_aws(&self) -> bool {
        self.backend == BackendKind::Aws
    }

    /// The prefix that raw messages stored by this command get.
    pub fn raw_prefix(&self) -> &str {
        match self.backend {
            BackendKind::Local => "",
            BackendKind::Aws => &self.raw_prefix,
        }
    }

    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.data {
            return Ok(dir.clone());
        }
        let env = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = env("RAMPART_DATA") {
            return Ok(dir.into());
        }
        if let Some(dir) = env("XDG_DATA_HOME") {
            return Ok(PathBuf::from(dir).join("rampart"));
        }
        match env("HOME") {
            Some(home) => Ok(PathBuf::from(home).join(".local/share/rampart")),
            None => anyhow::bail!("no data folder: pass --data DIR or set RAMPART_DATA"),
        }
    }
}
