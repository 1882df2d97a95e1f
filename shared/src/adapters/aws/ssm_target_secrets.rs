//! HTTP targets' signing secrets: SSM SecureString parameters under the stack's prefix
//! (`/courier/<stack>/targets/<job type>`), holding one or more `whsec_` secrets separated by
//! spaces (the first signs; all sign during a rotation). Kept for a few minutes per instance,
//! so a rotation reaches every instance within that time.

use crate::application::clock::Clock;
use crate::application::ports::{PortError, TargetSecrets};
use async_trait::async_trait;
use courier_protocol::webhook::Secret;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long an instance keeps a target's secrets before it reads them again.
const KEPT_FOR: Duration = Duration::from_secs(300);

pub struct SsmTargetSecrets {
    ssm: aws_sdk_ssm::Client,
    prefix: String,
    clock: Arc<dyn Clock>,
    kept: Mutex<HashMap<String, (time::OffsetDateTime, Vec<Secret>)>>,
}

impl SsmTargetSecrets {
    pub fn new(ssm: aws_sdk_ssm::Client, prefix: &str, clock: Arc<dyn Clock>) -> Self {
        Self {
            ssm,
            prefix: prefix.trim_end_matches('/').to_owned(),
            clock,
            kept: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl TargetSecrets for SsmTargetSecrets {
    async fn secrets(&self, job_type: &str) -> Result<Vec<Secret>, PortError> {
        let now = self.clock.now();
        if let Some((read_at, secrets)) = self.kept.lock().unwrap().get(job_type)
            && now - *read_at < KEPT_FOR
        {
            return Ok(secrets.clone());
        }
        let name = format!("{}/{job_type}", self.prefix);
        let answer = self
            .ssm
            .get_parameter()
            .name(&name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| super::port_error("ssm:GetParameter", e))?;
        let value = answer
            .parameter()
            .and_then(|p| p.value())
            .unwrap_or_default();
        let secrets = Secret::parse_list(value)
            .map_err(|e| PortError::new("ssm:GetParameter", format!("{name}: {e}")))?;
        if secrets.is_empty() {
            return Err(PortError::new(
                "ssm:GetParameter",
                format!("{name} holds no secret"),
            ));
        }
        self.kept
            .lock()
            .unwrap()
            .insert(job_type.to_owned(), (now, secrets.clone()));
        Ok(secrets)
    }
}
