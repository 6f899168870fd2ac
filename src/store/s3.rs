//! [`S3Store`]: an [`ObjectStore`] in an S3 bucket, on AWS or any S3-compatible server
//! (MinIO, Ceph, R2, moto…), through `aws-sdk-s3`.
//!
//! * Configured by [`S3Config`]: a `s3://BUCKET/PREFIX` URL plus the standard variables
//!   `AWS_ENDPOINT_URL`, `AWS_REGION` (default `us-east-1`), `AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`). The secret is never logged or shown by
//!   `Debug`.
//! * An [`ObjectKey`] `k` is stored as `PREFIX/k` (just `k` without a prefix).
//! * `put` is one PutObject (atomic on S3 by nature); `put_if_absent` is a PutObject with
//!   `If-None-Match: *` (S3 conditional writes): `412 Precondition Failed` means the object
//!   exists and its bytes are read back; `409 ConditionalRequestConflict` (a concurrent write of
//!   the same key) is retried.
//! * Errors: connection failures, timeouts, 5xx and throttling are
//!   [`StoreError::Unavailable`] (retryable); refused credentials, missing buckets and other 4xx
//!   are [`StoreError::Refused`] (not retryable). Each names the bucket and the endpoint.
//! * Checksums: aws-sdk-s3's defaults (CRC32 on uploads, checked on downloads) unless
//!   [`S3Config::checksums_when_required`] asks for the older behaviour some S3-compatible
//!   servers need.
//! * Timeouts (connect 3 s, attempt 10 s, operation 30 s) and the SDK's retries (3 attempts,
//!   short backoff) keep a stopped server from stalling a caller for more than a few seconds.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use super::{ObjectKey, ObjectStore, ObjectStream, PutOutcome, StoreError};
use crate::error_chain::chain;

/// The region used when `AWS_REGION` is not set.
pub const DEFAULT_REGION: &str = "us-east-1";
/// How long a presigned download URL stays valid unless configured otherwise.
pub const DEFAULT_PRESIGN_TTL: Duration = Duration::from_secs(15 * 60);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_ATTEMPTS: u32 = 3;
/// How many times `put_if_absent` tries again after a 409 ConditionalRequestConflict (or an
/// object deleted between the refused write and the read of its bytes).
const CONDITIONAL_ATTEMPTS: u32 = 8;

/// An access key. `Debug` shows the key id, never the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where and how to reach the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Prepended (with a `/`) to every key; empty for none. Itself a valid [`ObjectKey`].
    pub prefix: String,
    /// `None`: AWS itself (the region's endpoint).
    pub endpoint_url: Option<String>,
    pub region: String,
    /// `http://host/BUCKET/key` rather than `http://BUCKET.host/key`; what S3-compatible
    /// servers expect (default `true`).
    pub path_style: bool,
    /// How long [`S3Store::presigned_get`] URLs stay valid.
    pub presign_ttl: Duration,
    /// The endpoint clients reach the server at, for presigned URLs, when it is not the one
    /// this process uses (`http://minio:9000` inside a compose network, `http://localhost:9000`
    /// from the host). `None`: presign for [`S3Config::endpoint_url`].
    pub public_endpoint_url: Option<String>,
    pub credentials: Option<S3Credentials>,
    /// Keys per ListObjectsV2 page; `None` for the server's default (1000 on S3).
    pub list_page_size: Option<i32>,
    /// Send and check checksums only where S3 requires them, instead of on every upload and
    /// download (aws-sdk-s3's default since 1.69). For S3-compatible servers that refuse the
    /// newer checksum headers; set by `AWS_REQUEST_CHECKSUM_CALCULATION=when_required` or
    /// `AWS_RESPONSE_CHECKSUM_VALIDATION=when_required`.
    pub checksums_when_required: bool,
}

fn config_error(detail: String) -> StoreError {
    StoreError::Config { detail }
}

impl S3Config {
    /// A configuration for `bucket` with the defaults: no prefix, AWS's endpoint, `us-east-1`,
    /// path-style, presigned URLs valid for 15 minutes, no credentials.
    pub fn new(bucket: impl Into<String>) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            prefix: String::new(),
            endpoint_url: None,
            region: DEFAULT_REGION.to_string(),
            path_style: true,
            presign_ttl: DEFAULT_PRESIGN_TTL,
            public_endpoint_url: None,
            credentials: None,
            list_page_size: None,
            checksums_when_required: false,
        }
    }

    /// Parses `s3://BUCKET/PREFIX` and reads `AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` from the environment.
    pub fn from_url(url: &str) -> Result<S3Config, StoreError> {
        S3Config::from_url_with(url, |name| std::env::var(name).ok())
    }

    /// [`S3Config::from_url`] with the variables taken from `var` (for tests and callers that
    /// keep their own environment).
    pub fn from_url_with(url: &str, var: impl Fn(&str) -> Option<String>) -> Result<S3Config, StoreError> {
        let var = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(config_error(format!("{url:?} is not an S3 URL: write s3://BUCKET or s3://BUCKET/PREFIX")));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket_name(bucket)?;
        let prefix = prefix.trim_end_matches('/');
        if !prefix.is_empty() {
            ObjectKey::parse(prefix).map_err(|e| config_error(format!("the prefix in {url:?} cannot be used: {e}")))?;
        }
        let mut config = S3Config::new(bucket);
        config.prefix = prefix.to_string();
        if let Some(endpoint) = var("AWS_ENDPOINT_URL") {
            config.endpoint_url = Some(endpoint_url("AWS_ENDPOINT_URL", &endpoint)?);
        }
        config.checksums_when_required = ["AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION"]
            .iter()
            .any(|name| var(name).is_some_and(|v| v.eq_ignore_ascii_case("when_required")));
        if let Some(region) = var("AWS_REGION") {
            config.region = region;
        }
        config.credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => {
                Some(S3Credentials { access_key_id, secret_access_key, session_token: var("AWS_SESSION_TOKEN") })
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(config_error("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into()))
            }
            (None, Some(_)) => {
                return Err(config_error("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into()))
            }
        };
        Ok(config)
    }

    /// `s3://BUCKET/PREFIX` (or `s3://BUCKET`): where this configuration points, for messages.
    pub fn url(&self) -> String {
        match self.prefix.as_str() {
            "" => format!("s3://{}", self.bucket),
            prefix => format!("s3://{}/{prefix}", self.bucket),
        }
    }

    /// The endpoint as shown in messages.
    pub fn endpoint(&self) -> String {
        match &self.endpoint_url {
            Some(url) => url.clone(),
            None => format!("AWS S3 ({})", self.region),
        }
    }
}

/// `value` (of the setting `name`) as an endpoint: an `http://` or `https://` URL with a host
/// and no path, without a trailing `/`.
pub fn endpoint_url(name: &str, value: &str) -> Result<String, StoreError> {
    let parsed = url::Url::parse(value).map_err(|e| config_error(format!("{name}={value:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(config_error(format!("{name}={value:?} must be an http:// or https:// URL with a host")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !matches!(parsed.path(), "" | "/") {
        return Err(config_error(format!("{name}={value:?} must be scheme, host and port only, without ? or #")));
    }
    Ok(value.trim_end_matches('/').to_string())
}

/// S3's bucket naming rules (3–63 of lowercase letters, digits, '.', '-'; starting and ending
/// with a letter or digit).
fn check_bucket_name(bucket: &str) -> Result<(), StoreError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(config_error(format!(
            "{bucket:?} is not a valid bucket name: 3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"
        )))
    }
}

/// Objects in one bucket (under an optional prefix).
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    /// Signs download URLs for [`S3Config::public_endpoint_url`] (the same client without one).
    presigner: Client,
    config: S3Config,
}

/// What went wrong with a request, before it is phrased for a caller.
enum Failure {
    /// The server said the thing is not there (404 / NoSuchKey / NoSuchBucket / NotFound).
    NotFound {
        code: Option<String>,
    },
    /// `If-None-Match: *` failed: the object exists.
    PreconditionFailed,
    /// A concurrent conditional write of the same key: try again.
    Conflict,
    Error(StoreError),
}

impl S3Store {
    /// Builds the client and checks the bucket is reachable (HeadBucket), failing with a message
    /// that names the bucket, the endpoint and what to do.
    pub async fn connect(config: S3Config) -> Result<S3Store, StoreError> {
        check_bucket_name(&config.bucket)?;
        if !config.prefix.is_empty() {
            ObjectKey::parse(&config.prefix)
                .map_err(|e| config_error(format!("the prefix {:?} cannot be used: {e}", config.prefix)))?;
        }
        let Some(credentials) = config.credentials.clone() else {
            return Err(config_error(format!(
                "no credentials for bucket {} at {}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                config.bucket,
                config.endpoint()
            )));
        };
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(Credentials::new(
                credentials.access_key_id,
                credentials.secret_access_key,
                credentials.session_token,
                None,
                "pixelproof",
            ))
            .force_path_style(config.path_style)
            .http_client(http)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_secs(1)),
            );
        if let Some(endpoint) = &config.endpoint_url {
            builder = builder.endpoint_url(endpoint.clone());
        }
        if config.checksums_when_required {
            // Only the checksums S3 requires: some S3-compatible servers refuse the others.
            builder = builder
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        let client = Client::from_conf(builder.build());
        // A presigned URL is signed for its host: a client that reaches the server at another
        // address needs a URL signed for that one. Presigning makes no request.
        let presigner = match &config.public_endpoint_url {
            Some(public) => Client::from_conf(client.config().to_builder().endpoint_url(public.clone()).build()),
            None => client.clone(),
        };
        let store = S3Store { client, presigner, config };
        store.check_bucket().await?;
        Ok(store)
    }

    async fn check_bucket(&self) -> Result<(), StoreError> {
        let bucket = &self.config.bucket;
        let endpoint = self.config.endpoint();
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => match self.failure("HeadBucket", None, e) {
                Failure::NotFound { .. } => Err(StoreError::Refused {
                    detail: format!(
                        "bucket {bucket} does not exist at {endpoint}: create it (e.g. `aws s3 mb s3://{bucket}{}`) or fix the bucket in the s3:// URL",
                        self.config.endpoint_url.as_ref().map(|u| format!(" --endpoint-url {u}")).unwrap_or_default()
                    ),
                }),
                Failure::Error(StoreError::Unavailable { detail }) => Err(StoreError::Unavailable {
                    detail: format!("{detail} (is the server running, and is AWS_ENDPOINT_URL right?)"),
                }),
                // A HEAD answer has no body, so a 403 does not say why: ask again with a request
                // whose answer does (InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied…).
                Failure::Error(refused @ StoreError::Refused { .. }) => {
                    match self.client.list_objects_v2().bucket(bucket).max_keys(1).send().await {
                        Err(e) => match self.failure("ListObjectsV2", None, e) {
                            Failure::Error(coded @ StoreError::Refused { .. }) => Err(coded),
                            _ => Err(refused),
                        },
                        Ok(_) => Err(refused),
                    }
                }
                Failure::Error(e) => Err(e),
                Failure::PreconditionFailed | Failure::Conflict => Err(StoreError::Refused {
                    detail: format!("HeadBucket on bucket {bucket} at {endpoint} answered with a conditional-write error"),
                }),
            },
        }
    }

    pub fn config(&self) -> &S3Config {
        &self.config
    }

    /// The key in the bucket that holds `key`.
    pub fn bucket_key(&self, key: &ObjectKey) -> String {
        if self.config.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.config.prefix)
        }
    }

    /// A URL that downloads `key` without credentials for [`S3Config::presign_ttl`], on
    /// [`S3Config::public_endpoint_url`] when there is one.
    pub async fn presigned_get(&self, key: &ObjectKey) -> Result<String, StoreError> {
        let presigning = PresigningConfig::expires_in(self.config.presign_ttl)
            .map_err(|e| config_error(format!("presign_ttl {:?} cannot be used: {e}", self.config.presign_ttl)))?;
        let request = self
            .presigner
            .get_object()
            .bucket(&self.config.bucket)
            .key(self.bucket_key(key))
            .presigned(presigning)
            .await
            .map_err(|e| match self.failure("presign GetObject", Some(key), e) {
                Failure::Error(e) => e,
                _ => StoreError::Refused { detail: format!("could not presign a GET of {key}") },
            })?;
        Ok(request.uri().to_string())
    }

    /// Phrases an SDK error: what was being done, on which object, bucket and endpoint.
    fn failure<E>(
        &self,
        op: &str,
        key: Option<&ObjectKey>,
        err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let target = match key {
            Some(key) => format!(
                "{op} of {} in bucket {} at {}",
                self.bucket_key(key),
                self.config.bucket,
                self.config.endpoint()
            ),
            None => format!("{op} on bucket {} at {}", self.config.bucket, self.config.endpoint()),
        };
        let unavailable =
            |why: String| Failure::Error(StoreError::Unavailable { detail: format!("{target} failed: {why}") });
        let refused =
            |why: String| Failure::Error(StoreError::Refused { detail: format!("{target} was refused: {why}") });
        match &err {
            SdkError::TimeoutError(_) => unavailable(format!("no answer in time ({})", chain(&err))),
            SdkError::DispatchFailure(d) if d.is_user() => refused(chain(&err)),
            SdkError::DispatchFailure(_) => unavailable(format!("could not reach the server ({})", chain(&err))),
            SdkError::ConstructionFailure(_) => refused(chain(&err)),
            SdkError::ResponseError(r) => {
                let status = r.raw().status().as_u16();
                unavailable(format!("an unreadable answer (HTTP {status}: {})", chain(&err)))
            }
            SdkError::ServiceError(s) => {
                let status = s.raw().status().as_u16();
                let code = s.err().code().map(str::to_string);
                let message = s.err().message().unwrap_or("").trim().trim_end_matches('.').to_string();
                let said = match (&code, message.is_empty()) {
                    (Some(code), false) => format!("HTTP {status} {code}: {message}"),
                    (Some(code), true) => format!("HTTP {status} {code}"),
                    (None, _) => format!("HTTP {status}"),
                };
                match (status, code.as_deref()) {
                    (412, _) | (_, Some("PreconditionFailed")) => Failure::PreconditionFailed,
                    (409, Some("ConditionalRequestConflict")) => Failure::Conflict,
                    (_, Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" | "InvalidToken" | "TokenRefreshRequired")) => {
                        refused(format!("{said}. Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"))
                    }
                    (403, _) => refused(format!(
                        "{said}. The credentials were refused or may not access this bucket: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's policy"
                    )),
                    (301 | 307, _) | (_, Some("PermanentRedirect" | "AuthorizationHeaderMalformed")) => refused(format!(
                        "{said}. The bucket may be in another region than {}: set AWS_REGION",
                        self.config.region
                    )),
                    (404, Some("NoSuchBucket")) => refused(format!(
                        "{said}. Bucket {} does not exist: create it or fix the s3:// URL",
                        self.config.bucket
                    )),
                    (404, _) | (_, Some("NoSuchKey" | "NotFound")) => Failure::NotFound { code },
                    (429 | 500..=599, _)
                    | (_, Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestTimeout" | "InternalError" | "ServiceUnavailable")) => {
                        unavailable(said)
                    }
                    _ => refused(said),
                }
            }
            _ => unavailable(chain(&err)),
        }
    }

    /// GetObject: the answer whose body is still to be read, or `None` for no such object.
    async fn open(
        &self,
        key: &ObjectKey,
    ) -> Result<Option<aws_sdk_s3::operation::get_object::GetObjectOutput>, StoreError> {
        let result = self.client.get_object().bucket(&self.config.bucket).key(self.bucket_key(key)).send().await;
        match result {
            Ok(output) => Ok(Some(output)),
            Err(e) => match self.failure("GetObject", Some(key), e) {
                Failure::NotFound { code } if code.as_deref() != Some("NoSuchBucket") => Ok(None),
                Failure::Error(e) => Err(e),
                _ => Err(StoreError::Refused { detail: format!("GetObject of {key} failed unexpectedly") }),
            },
        }
    }

    fn broke_off(&self, key: &ObjectKey, e: impl fmt::Display) -> String {
        format!(
            "reading {} from bucket {} at {} broke off: {e}",
            self.bucket_key(key),
            self.config.bucket,
            self.config.endpoint()
        )
    }

    async fn read(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(output) = self.open(key).await? else { return Ok(None) };
        let body =
            output.body.collect().await.map_err(|e| StoreError::Unavailable { detail: self.broke_off(key, e) })?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    fn unexpected(&self, op: &str, key: &ObjectKey) -> StoreError {
        StoreError::Refused {
            detail: format!(
                "{op} of {} in bucket {} at {} got an answer that makes no sense for it",
                self.bucket_key(key),
                self.config.bucket,
                self.config.endpoint()
            ),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn download_url(&self, key: &ObjectKey) -> Result<Option<String>, StoreError> {
        S3Store::presigned_get(self, key).await.map(Some)
    }

    async fn put(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<(), StoreError> {
        let result = self
            .client
            .put_object()
            .bucket(&self.config.bucket)
            .key(self.bucket_key(key))
            .body(ByteStream::from(bytes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match self.failure("PutObject", Some(key), e) {
                Failure::Error(e) => Err(e),
                _ => Err(self.unexpected("PutObject", key)),
            },
        }
    }

    async fn put_if_absent(&self, key: &ObjectKey, bytes: Vec<u8>) -> Result<PutOutcome, StoreError> {
        for attempt in 1..=CONDITIONAL_ATTEMPTS {
            let result = self
                .client
                .put_object()
                .bucket(&self.config.bucket)
                .key(self.bucket_key(key))
                .if_none_match("*")
                .body(ByteStream::from(bytes.clone()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(PutOutcome::Created),
                Err(e) => match self.failure("PutObject (If-None-Match: *)", Some(key), e) {
                    // Note: when the SDK retried after a lost answer, the "existing" object may
                    // be this very write; callers compare bytes where that matters.
                    Failure::PreconditionFailed => match self.read(key).await? {
                        Some(existing) => return Ok(PutOutcome::Existing(existing)),
                        None => {
                            tracing::debug!(%key, attempt, "the object was deleted between a refused write and its read; writing again")
                        }
                    },
                    Failure::Conflict => {
                        tracing::debug!(%key, attempt, "ConditionalRequestConflict; writing again");
                        tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                    }
                    Failure::Error(e) => return Err(e),
                    Failure::NotFound { .. } => return Err(self.unexpected("PutObject (If-None-Match: *)", key)),
                },
            }
        }
        Err(StoreError::Unavailable {
            detail: format!(
                "writing {} to bucket {} at {} kept conflicting with other writes ({CONDITIONAL_ATTEMPTS} attempts)",
                self.bucket_key(key),
                self.config.bucket,
                self.config.endpoint()
            ),
        })
    }

    async fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(key).await
    }

    async fn stream(&self, key: &ObjectKey) -> Result<Option<ObjectStream>, StoreError> {
        let Some(output) = self.open(key).await? else { return Ok(None) };
        let length = output.content_length().and_then(|n| u64::try_from(n).ok());
        let (store, key) = (self.clone(), key.clone());
        // Chunks as the server sends them; an interruption ends the stream with an error
        // (the client sees a cut-off body, never a short one passed off as whole).
        let chunks = futures::stream::unfold(Some(output.body), move |body| {
            let (store, key) = (store.clone(), key.clone());
            async move {
                let mut body = body?;
                match body.next().await? {
                    Ok(chunk) => Some((Ok(chunk), Some(body))),
                    Err(e) => Some((Err(std::io::Error::other(store.broke_off(&key, e))), None)),
                }
            }
        });
        Ok(Some(ObjectStream { length, chunks: Box::pin(chunks) }))
    }

    async fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        let result = self.client.head_object().bucket(&self.config.bucket).key(self.bucket_key(key)).send().await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match self.failure("HeadObject", Some(key), e) {
                Failure::NotFound { .. } => Ok(false),
                Failure::Error(e) => Err(e),
                _ => Err(self.unexpected("HeadObject", key)),
            },
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        // S3's DeleteObject answers 204 whether or not the object existed: ask first.
        if !self.exists(key).await? {
            return Ok(false);
        }
        let result = self.client.delete_object().bucket(&self.config.bucket).key(self.bucket_key(key)).send().await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match self.failure("DeleteObject", Some(key), e) {
                Failure::NotFound { .. } => Ok(false),
                Failure::Error(e) => Err(e),
                _ => Err(self.unexpected("DeleteObject", key)),
            },
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, StoreError> {
        self.list_from(prefix, None, None).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        self.list_from(prefix, start_after, Some(limit)).await
    }
}

impl S3Store {
    /// ListObjectsV2, page after page: every key under `prefix` after `start_after`, or the first
    /// `limit` of them.
    async fn list_from(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<ObjectKey>, StoreError> {
        let strip = if self.config.prefix.is_empty() { String::new() } else { format!("{}/", self.config.prefix) };
        let full_prefix = format!("{strip}{prefix}");
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = self.client.list_objects_v2().bucket(&self.config.bucket).prefix(&full_prefix);
            if let Some(after) = start_after {
                request = request.start_after(format!("{strip}{after}"));
            }
            let wanted = limit.map(|l| i32::try_from(l.saturating_sub(keys.len())).unwrap_or(i32::MAX));
            if let Some(size) = match (self.config.list_page_size, wanted) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            } {
                request = request.max_keys(size);
            }
            if let Some(token) = token.take() {
                request = request.continuation_token(token);
            }
            let page = match request.send().await {
                Ok(page) => page,
                Err(e) => {
                    return Err(match self.failure(&format!("ListObjectsV2 of prefix {full_prefix:?}"), None, e) {
                        Failure::Error(e) => e,
                        Failure::NotFound { code } => StoreError::Refused {
                            detail: format!(
                                "listing bucket {} at {} answered 404 ({}): the bucket is gone",
                                self.config.bucket,
                                self.config.endpoint(),
                                code.unwrap_or_default()
                            ),
                        },
                        _ => StoreError::Refused {
                            detail: format!("listing bucket {} failed unexpectedly", self.config.bucket),
                        },
                    });
                }
            };
            for object in page.contents() {
                let Some(name) = object.key() else { continue };
                let Some(rel) = name.strip_prefix(&strip) else { continue };
                match ObjectKey::parse(rel) {
                    Ok(key) => keys.push(key),
                    Err(e) => {
                        tracing::warn!(bucket = %self.config.bucket, key = %name, error = %e, "skipping an object whose key is not a valid ObjectKey")
                    }
                }
            }
            let enough = limit.is_some_and(|l| keys.len() >= l);
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) && !enough => token = Some(next.to_string()),
                _ => break,
            }
        }
        keys.sort();
        keys.dedup();
        if let Some(limit) = limit {
            keys.truncate(limit);
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn urls_and_variables_make_a_config() {
        let vars = [
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"),
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
        ];
        let c = S3Config::from_url_with("s3://my-bucket/pixelproof/prod/", env(&vars)).unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("my-bucket", "pixelproof/prod"));
        assert_eq!(c.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(c.region, "us-east-1");
        assert!(c.path_style && !c.checksums_when_required);
        assert!(!format!("{c:?}").contains("very-secret"), "Debug shows the secret");
        let vars = [("AWS_REGION", "eu-west-3"), ("AWS_REQUEST_CHECKSUM_CALCULATION", "WHEN_REQUIRED")];
        let c = S3Config::from_url_with("s3://my-bucket", env(&vars)).unwrap();
        assert!(c.checksums_when_required);
        assert_eq!((c.prefix.as_str(), c.region.as_str(), c.endpoint_url.clone()), ("", "eu-west-3", None));
        assert_eq!(c.credentials, None);
        assert_eq!(c.endpoint(), "AWS S3 (eu-west-3)");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let none = |_: &str| None;
        let err = |url: &str| S3Config::from_url_with(url, none).unwrap_err().to_string();
        assert!(err("https://bucket/x").contains("s3://BUCKET"));
        assert!(err("s3://Bad_Bucket").contains("not a valid bucket name"));
        assert!(err("s3://ok-bucket/../x").contains("prefix"));
        assert!(err("s3://ok-bucket//x").contains("prefix"));
        let only_id = S3Config::from_url_with("s3://ok-bucket", env(&[("AWS_ACCESS_KEY_ID", "AKIA")]));
        assert!(only_id.unwrap_err().to_string().contains("AWS_SECRET_ACCESS_KEY is not"));
        let bad_endpoint = S3Config::from_url_with("s3://ok-bucket", env(&[("AWS_ENDPOINT_URL", "localhost:9000")]));
        assert!(bad_endpoint.unwrap_err().to_string().contains("AWS_ENDPOINT_URL"));
        assert!(!StoreError::Config { detail: String::new() }.is_retryable());
    }
}
