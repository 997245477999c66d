//! Where each source's password or client secret lives, by source id: on one machine a file
//! per source in a private folder; on AWS a Secrets Manager secret per source under the
//! stack's prefix. A secret is read when a run needs it and never logged or stored with the
//! source.

use std::future::Future;
use std::path::PathBuf;

use crate::MailboxError;

pub trait Secrets: Send + Sync {
    /// The secret of source `id`; `None` when there is none.
    fn secret(&self, id: &str)
    -> impl Future<Output = Result<Option<String>, MailboxError>> + Send;

    /// Stores (or replaces) the secret of source `id`.
    fn put_secret(
        &self,
        id: &str,
        secret: &str,
    ) -> impl Future<Output = Result<(), MailboxError>> + Send;

    /// Deletes the secret of source `id` (gone already is fine).
    fn forget_secret(&self, id: &str) -> impl Future<Output = Result<(), MailboxError>> + Send;
}

/// One machine: `<dir>/<id>`, the folder mode 700 and each file mode 600.
pub struct SecretFiles {
    pub dir: PathBuf,
}

fn io(what: &str, e: std::io::Error) -> MailboxError {
    MailboxError::Protocol(format!("{what}: {e}"))
}

impl SecretFiles {
    fn path(&self, id: &str) -> Result<PathBuf, MailboxError> {
        rampart_store::mailbox::valid_id(id).map_err(|e| MailboxError::Protocol(e.to_string()))?;
        Ok(self.dir.join(id))
    }
}

impl Secrets for SecretFiles {
    async fn secret(&self, id: &str) -> Result<Option<String>, MailboxError> {
        let path = self.path(id)?;
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path.display().to_string(), e)),
        }
    }

    async fn put_secret(&self, id: &str, secret: &str) -> Result<(), MailboxError> {
        use std::io::Write;
        #[cfg(unix)]
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let path = self.path(id)?;
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        dir.mode(0o700);
        dir.create(&self.dir)
            .map_err(|e| io(&self.dir.display().to_string(), e))?;
        // Written beside, then renamed: a reader sees the old secret or the new one.
        let partial = self.dir.join(format!(".{id}.new"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options
            .open(&partial)
            .map_err(|e| io(&partial.display().to_string(), e))?;
        file.write_all(secret.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| io(&partial.display().to_string(), e))?;
        std::fs::rename(&partial, &path).map_err(|e| io(&path.display().to_string(), e))
    }

    async fn forget_secret(&self, id: &str) -> Result<(), MailboxError> {
        let path = self.path(id)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io(&path.display().to_string(), e))
            }
            _ => Ok(()),
        }
    }
}

/// AWS: the secret `<prefix><id>` (the template's prefix is `<stack>/mailbox/`), its
/// SecretString the password or client secret.
#[cfg(feature = "aws")]
pub struct SecretsManager {
    pub client: aws_sdk_secretsmanager::Client,
    pub prefix: String,
}

#[cfg(feature = "aws")]
impl SecretsManager {
    fn name(&self, id: &str) -> Result<String, MailboxError> {
        rampart_store::mailbox::valid_id(id).map_err(|e| MailboxError::Protocol(e.to_string()))?;
        Ok(format!("{}{id}", self.prefix))
    }
}

#[cfg(feature = "aws")]
fn aws_error(name: &str, e: impl std::error::Error + Send + Sync + 'static) -> MailboxError {
    MailboxError::Protocol(format!(
        "secret {name}: {}",
        aws_sdk_secretsmanager::error::DisplayErrorContext(e)
    ))
}

#[cfg(feature = "aws")]
impl Secrets for SecretsManager {
    async fn secret(&self, id: &str) -> Result<Option<String>, MailboxError> {
        let name = self.name(id)?;
        match self.client.get_secret_value().secret_id(&name).send().await {
            Ok(found) => Ok(found.secret_string().map(str::to_owned)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws_error(&name, e)),
        }
    }

    async fn put_secret(&self, id: &str, secret: &str) -> Result<(), MailboxError> {
        let name = self.name(id)?;
        let updated = self
            .client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(secret)
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                self.client
                    .create_secret()
                    .name(&name)
                    .description("Rampart mailbox source: its password or client secret")
                    .secret_string(secret)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| aws_error(&name, e))
            }
            Err(e) => Err(aws_error(&name, e)),
        }
    }

    async fn forget_secret(&self, id: &str) -> Result<(), MailboxError> {
        let name = self.name(id)?;
        let deleted = self
            .client
            .delete_secret()
            .secret_id(&name)
            .force_delete_without_recovery(true)
            .send()
            .await;
        match deleted {
            Err(e)
                if !e
                    .as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Err(aws_error(&name, e))
            }
            _ => Ok(()),
        }
    }
}

/// This deployment's secrets, whichever kind, as one type (for state that is not generic:
/// the API's).
pub enum SecretStore {
    Files(SecretFiles),
    #[cfg(feature = "aws")]
    Manager(SecretsManager),
}

impl Secrets for SecretStore {
    async fn secret(&self, id: &str) -> Result<Option<String>, MailboxError> {
        match self {
            SecretStore::Files(files) => files.secret(id).await,
            #[cfg(feature = "aws")]
            SecretStore::Manager(manager) => manager.secret(id).await,
        }
    }

    async fn put_secret(&self, id: &str, secret: &str) -> Result<(), MailboxError> {
        match self {
            SecretStore::Files(files) => files.put_secret(id, secret).await,
            #[cfg(feature = "aws")]
            SecretStore::Manager(manager) => manager.put_secret(id, secret).await,
        }
    }

    async fn forget_secret(&self, id: &str) -> Result<(), MailboxError> {
        match self {
            SecretStore::Files(files) => files.forget_secret(id).await,
            #[cfg(feature = "aws")]
            SecretStore::Manager(manager) => manager.forget_secret(id).await,
        }
    }
}
