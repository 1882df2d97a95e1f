//! The deployment's job-types document, read from the S3 object the template names
//! (`JobTypesObject`: `bucket/key`, content-addressed, so a changed document is a new key and
//! a redeploy). The object's text must hash to the digest its name carries: one replaced after
//! its check at deploy is refused, never run; and the bucket must be the account's own.

use crate::application::ports::PortError;
use std::time::Duration;

/// A read that takes longer is a failed start, not a hung one.
const READ_WITHIN: Duration = Duration::from_secs(10);

/// The document's text at `bucket/key`; `owner`: the account the bucket must belong to.
pub async fn read_job_types_object(
    s3: &aws_sdk_s3::Client,
    object: &str,
    owner: Option<&str>,
) -> Result<String, PortError> {
    let (bucket, key) = object
        .split_once('/')
        .ok_or_else(|| PortError::new("GetObject", format!("{object:?} is not bucket/key")))?;
    let request = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_expected_bucket_owner(owner.map(str::to_owned));
    let answer = tokio::time::timeout(READ_WITHIN, request.send())
        .await
        .map_err(|_| PortError::new("GetObject", format!("no answer within {READ_WITHIN:?}")))?
        .map_err(|e| super::port_error("GetObject", e))?;
    let bytes = answer
        .body
        .collect()
        .await
        .map_err(|e| PortError::new("GetObject", e.to_string()))?
        .into_bytes();
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|e| PortError::new("GetObject", format!("not UTF-8: {e}")))?;
    check_digest(key, &text)?;
    Ok(text)
}

/// The text is the one the key names by its digest.
fn check_digest(key: &str, text: &str) -> Result<(), PortError> {
    let named = key
        .rsplit('/')
        .next()
        .unwrap_or(key)
        .trim_end_matches(".json");
    let actual = courier_jobs::declared::document_digest(text);
    match named == actual {
        true => Ok(()),
        false => Err(PortError::new(
            "GetObject",
            format!(
                "the object {key} is not the document its name says (its digest is {actual}): \
                 publish it again with courier job-types publish and redeploy"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_only_the_one_its_name_says() {
        let text = r#"{"jobTypes": {}}"#;
        let key = format!(
            "courier/job-types/{}.json",
            courier_jobs::declared::document_digest(text)
        );
        assert!(check_digest(&key, text).is_ok());
        assert!(
            check_digest(&key, r#"{"jobTypes": {"x": {}}}"#).is_err(),
            "replaced"
        );
        assert!(
            check_digest("courier/job-types/mine.json", text).is_err(),
            "not published"
        );
    }
}
