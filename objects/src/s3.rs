//! Objects in an S3 bucket (Amazon S3, MinIO, or any S3-compatible server), under the same keys
//! as the local folder. Folder markers are zero-byte objects whose keys end in `/`.

use crate::{Object, ObjectError, ObjectStore, validate_key};
use aws_sdk_s3::config::{BehaviorVersion, Builder, Credentials, Region};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use secrecy::{ExposeSecret, SecretString};

/// Where the bucket is and how to reach it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// The bucket.
    pub bucket: String,
    /// The endpoint, e.g. `http://127.0.0.1:9000`; `None` for Amazon S3's own.
    pub endpoint: Option<String>,
    /// The region.
    pub region: String,
    /// Path-style addressing (`endpoint/bucket/key`), which MinIO and most local servers need.
    pub path_style: bool,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (never printed).
    pub secret_access_key: SecretString,
}

/// An S3 bucket as an object store.
#[derive(Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

fn failed(key: &str, error: impl std::fmt::Display) -> ObjectError {
    ObjectError::Storage {
        key: key.to_owned(),
        message: error.to_string(),
    }
}

/// An SDK error with the service's code and message, which its `Display` leaves out.
fn described<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: &aws_sdk_s3::error::SdkError<E>,
) -> String {
    match error.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("no message")
        ),
        None => format!("{error}: {:?}", std::error::Error::source(error)),
    }
}

impl S3Store {
    /// A client for `settings`' bucket (nothing is sent yet).
    pub fn new(settings: &S3Settings) -> Self {
        let mut config = Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .credentials_provider(Credentials::new(
                settings.access_key_id.clone(),
                settings.secret_access_key.expose_secret().to_owned(),
                None,
                None,
                "idlog-configuration",
            ))
            .force_path_style(settings.path_style);
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint.clone());
        }
        Self {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket: settings.bucket.clone(),
        }
    }

    /// Creates the bucket unless it exists.
    pub async fn ensure_bucket(&self) -> Result<(), ObjectError> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if matches!(
                    error.code(),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(failed(&self.bucket, described(&error))),
        }
    }
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> Result<(), ObjectError> {
        validate_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map_err(|error| failed(key, described(&error)))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        validate_key(key)?;
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|service| service.is_no_such_key()) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(failed(key, described(&error))),
        };
        let content_type = output
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|error| failed(key, error))?
            .into_bytes()
            .to_vec();
        Ok(Some(Object {
            bytes,
            content_type,
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        validate_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|error| failed(key, described(&error)))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|error| failed(prefix, described(&error)))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key().map(str::to_owned)),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated().unwrap_or(false) => {
                    token = Some(next.to_owned());
                }
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }
}
