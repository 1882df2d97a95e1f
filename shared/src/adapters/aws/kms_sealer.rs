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
use std::sync::Mutex;

/// Opened secrets kept per instance; past this the cache starts over.
const CACHE_ENTRIES: usize = 1024;

type CacheKey = (Vec<u8>, String, String);

pub struct KmsSecretSealer {
    client: Client,
    key_id: String,
    opened: Mutex<HashMap<CacheKey, Secret>>,
}

impl KmsSecretSealer {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
            opened: Mutex::default(),
        }
    }

    /// The encryption context: the endpoint, and the owner as a tag (KMS logs the context
    /// in the clear; the tag names nobody).
    fn context(context: &SealingContext) -> [(&'static str, String); 2] {
        [
            ("courier:endpoint", context.endpoint.to_string()),
            ("courier:owner", context.owner.tag()),
        ]
    }

    fn cache_key(sealed: &SealedSecret, context: &SealingContext) -> CacheKey {
        (
            sealed.0.clone(),
            context.endpoint.to_string(),
            context.owner.tag(),
        )
    }
}

#[async_trait]
impl SecretSealer for KmsSecretSealer {
    async fn seal(
        &self,
        secret: &Secret,
        context: &SealingContext,
    ) -> Result<SealedSecret, PortError> {
        let mut request = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(secret.expose_bytes()));
        for (name, value) in Self::context(context) {
            request = request.encryption_context(name, value);
        }
        let output = request
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
        let key = Self::cache_key(sealed, context);
        if let Some(secret) = self.opened.lock().unwrap().get(&key) {
            return Ok(secret.clone());
        }
        // The key is named too, so a ciphertext made under another key is refused.
        let mut request = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(sealed.0.clone()));
        for (name, value) in Self::context(context) {
            request = request.encryption_context(name, value);
        }
        let output = request
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
