//! The stack's payload bucket over S3: objects put, read, sized (`HeadObject`), copied, and
//! presigned `GET`/`PUT` URLs (signed by the function's own credentials: what they may do is
//! what its role grants, for as long as the URL lives).

use crate::application::ports::{BlobStore, Fetched, ObjectInfo, PortError};
use crate::domain::BlobKey;
use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use std::time::Duration;

pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

/// An S3 client for `aws`; an emulator serves buckets under paths, AWS under host names.
pub fn s3_client(aws: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let mut s3 = aws_sdk_s3::config::Builder::from(aws);
    if aws.endpoint_url().is_some() {
        s3 = s3.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(s3.build())
}

fn presigning(lifetime: Duration) -> Result<PresigningConfig, PortError> {
    PresigningConfig::expires_in(lifetime).map_err(|e| PortError::new("s3:presign", e.to_string()))
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>) -> Result<(), PortError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type("application/json")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| super::port_error("s3:PutObject", e))?;
        Ok(())
    }

    async fn get(&self, key: &BlobKey, limit: u64) -> Result<Fetched, PortError> {
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(Fetched::Missing);
            }
            Err(error) => return Err(super::port_error("s3:GetObject", error)),
        };
        // Sized before a byte is read: an object over the limit is never held in memory.
        let size = output.content_length().unwrap_or(0).max(0) as u64;
        if size > limit {
            return Ok(Fetched::TooLarge(size));
        }
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| PortError::new("s3:GetObject(body)", e.to_string()))?;
        Ok(Fetched::Bytes(Vec::from(bytes.into_bytes())))
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<ObjectInfo>, PortError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(output) => Ok(Some(ObjectInfo {
                size: output.content_length().unwrap_or(0).max(0) as u64,
                etag: output.e_tag().unwrap_or_default().to_owned(),
            })),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(error) => Err(super::port_error("s3:HeadObject", error)),
        }
    }

    async fn copy(&self, from: &BlobKey, etag: &str, to: &BlobKey) -> Result<bool, PortError> {
        let copied = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{}", self.bucket, from.as_str()))
            // The version that was sized: one PUT again since (a larger one) is not copied.
            .copy_source_if_match(etag)
            .key(to.as_str())
            .send()
            .await;
        match copied {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .raw_response()
                    .is_some_and(|r| matches!(r.status().as_u16(), 404 | 412)) =>
            {
                Ok(false)
            }
            Err(error) => Err(super::port_error("s3:CopyObject", error)),
        }
    }

    async fn download_url(&self, key: &BlobKey, lifetime: Duration) -> Result<String, PortError> {
        let signed = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(presigning(lifetime)?)
            .await
            .map_err(|e| super::port_error("s3:presign(GetObject)", e))?;
        Ok(signed.uri().to_owned())
    }

    async fn upload_url(&self, key: &BlobKey, lifetime: Duration) -> Result<String, PortError> {
        let signed = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(presigning(lifetime)?)
            .await
            .map_err(|e| super::port_error("s3:presign(PutObject)", e))?;
        Ok(signed.uri().to_owned())
    }
}
