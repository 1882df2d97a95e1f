//! Webhook secrets sealed with a KMS key (symmetric `Encrypt`/`Decrypt`). Each ciphertext is
//! bound to its endpoint and owner by the encryption context, so it cannot be opened as
//! another endpoint's secret. Opened secrets are kept in memory for the life of the function
//! instance: a ciphertext never changes, and it saves a KMS call on every delivery.

use super::port_error;
use crate::application::ports::{PortError, SealingContext, SecretSealer};
use crate::domain::SealedSecret;
use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use courier_protocol::webhook::Secret;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Opened secrets kept per instance; past this the cache starts over.
const CACHE_ENTRIES: usize = 1024;

/// The encryption context's entries, always in this order.
type Context = [(String, String); 2];

type CacheKey = (Vec<u8>, Context);

pub struct KmsSecretSealer {
    config: aws_config::SdkConfig,
    /// Built on first use: most requests to the HTTP function, and most deliveries once their
    /// secrets are cached, never call KMS, so cold starts do not build its client.
    client: OnceLock<Client>,
    key_id: String,
    opened: Mutex<HashMap<CacheKey, Secret>>,
}

impl KmsSecretSealer {
    pub fn new(config: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        Self {
            config: config.clone(),
            client: OnceLock::new(),
            key_id: key_id.into(),
            opened: Mutex::default(),
        }
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| Client::new(&self.config))
    }

    /// The encryption context: the endpoint, and the owner as a tag (KMS logs the context
    /// in the clear; the tag names nobody).
    fn context(context: &SealingContext) -> Context {
        [
            ("courier:endpoint".to_owned(), context.endpoint.to_string()),
            ("courier:owner".to_owned(), context.owner.tag()),
        ]
    }

    fn as_map(context: &Context) -> Option<HashMap<String, String>> {
        Some(context.iter().cloned().collect())
    }
}

#[async_trait]
impl SecretSealer for KmsSecretSealer {
    async fn seal(
        &self,
        secret: &Secret,
        context: &SealingContext,
    ) -> Result<SealedSecret, PortError> {
        let output = self
            .client()
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(secret.expose_bytes()))
            .set_encryption_context(Self::as_map(&Self::context(context)))
            .send()
            .await
            .map_err(|e| port_error("kms encrypt", e))?;
        let blob = output
            .ciphertext_blob()
            .ok_or_else(|| PortError::new("kms encrypt", "no ciphertext returned"))?;
        Ok(SealedSecret(blob.as_ref().to_vec()))
    }

    async fn open(
        &self,
        sealed: &SealedSecret,
        context: &SealingContext,
    ) -> Result<Secret, PortError> {
        let key = (sealed.0.clone(), Self::context(context));
        if let Some(secret) = self.opened.lock().unwrap().get(&key) {
            return Ok(secret.clone());
        }
        // The key is named too, so a ciphertext made under another key is refused.
        let output = self
            .client()
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(sealed.0.clone()))
            .set_encryption_context(Self::as_map(&key.1))
            .send()
            .await
            .map_err(|e| port_error("kms decrypt", e))?;
        let plaintext = output
            .plaintext()
            .ok_or_else(|| PortError::new("kms decrypt", "no plaintext returned"))?;
        let secret = Secret::from_bytes(plaintext.as_ref().to_vec())
            .map_err(|e| PortError::new("kms decrypt", e.to_string()))?;
        let mut opened = self.opened.lock().unwrap();
        if opened.len() >= CACHE_ENTRIES {
            opened.clear();
        }
        opened.insert(key, secret.clone());
        Ok(secret)
    }
}
