//! The deployment's job-types document, read from the S3 object the template names
//! (`JobTypesObject`: `bucket/key`, content-addressed, so a changed document is a new key and
//! a redeploy).

use crate::application::ports::PortError;

/// The document's text at `bucket/key`.
pub async fn read_job_types_object(
    s3: &aws_sdk_s3::Client,
    object: &str,
) -> Result<String, PortError> {
    let (bucket, key) = object
        .split_once('/')
        .ok_or_else(|| PortError::new("GetObject", format!("{object:?} is not bucket/key")))?;
    let answer = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| super::port_error("GetObject", e))?;
    let bytes = answer
        .body
        .collect()
        .await
        .map_err(|e| PortError::new("GetObject", e.to_string()))?
        .into_bytes();
    String::from_utf8(bytes.to_vec())
        .map_err(|e| PortError::new("GetObject", format!("not UTF-8: {e}")))
}
