//! A case shared on S3 (`s3://BUCKET/PREFIX`): several responders, no server. Entry `n` of the
//! journal is the object `PREFIX/journal/<n, 20 digits>`, written with a conditional write
//! (`If-None-Match: *`): the first writer of a seq wins, every other gets `412 Precondition
//! Failed`, reads the entries it missed, judges its command again on the new state and tries the
//! next seq. The playbook snapshot and the inputs sit beside the journal, written once. Each
//! responder's local folder is a replica of the journal, rebuilt from S3 (docs/cases.md).

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;

use super::seal::Location;
use crate::action::aws::AwsSettings;

/// How a conditional write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The object is ours.
    Written,
    /// Someone wrote the key first.
    Taken,
}

/// An S3 call that failed, in the words irp uses for every AWS error; `.1` is true when S3
/// could not be reached at all (no network, a timeout), as opposed to S3 saying no.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String, pub bool);

/// The S3 side of a shared case, with a runtime of its own (the session is synchronous).
#[derive(Debug)]
pub struct Store {
    pub location: Location,
    runtime: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
}

/// The case's allowed signers under its prefix: when there, every entry must be signed by a key
/// they allow.
pub const ALLOWED_SIGNERS: &str = "allowed_signers";

/// The name of the signature of entry `seq` with hash `hash` (written before the entry).
pub fn signature_name(seq: u64, hash: &str) -> String {
    format!("signatures/{seq:020}-{hash}")
}

/// The key of journal entry `seq` under `prefix`.
fn journal_key(prefix: &str, seq: u64) -> String {
    format!("{}journal/{seq:020}", folder(prefix))
}

fn folder(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}

fn aws<E, R>(e: &SdkError<E, R>, permission: &str, what: &str) -> StoreError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let offline = matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_));
    StoreError(
        crate::action::aws::classify(e, permission, what).to_string(),
        offline,
    )
}

impl Store {
    pub fn connect(location: Location, settings: &AwsSettings) -> Result<Store, StoreError> {
        let (runtime, s3) = crate::action::aws::blocking_s3(settings).map_err(|e| StoreError(e, false))?;
        Ok(Store {
            location,
            runtime,
            s3,
        })
    }

    /// `s3://BUCKET/PREFIX` of the case.
    pub fn url(&self) -> String {
        self.location.url()
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", folder(&self.location.prefix))
    }

    /// Writes `name` under the case unless it is there already (`If-None-Match: *`).
    pub fn put_new(&self, name: &str, bytes: &[u8]) -> Result<Put, StoreError> {
        let key = self.key(name);
        self.put_key(&key, bytes)
    }

    /// Puts journal entry `seq` unless another responder's entry holds that seq.
    pub fn put_entry(&self, seq: u64, line: &[u8]) -> Result<Put, StoreError> {
        let key = journal_key(&self.location.prefix, seq);
        self.put_key(&key, line)
    }

    fn put_key(&self, key: &str, bytes: &[u8]) -> Result<Put, StoreError> {
        self.runtime.block_on(async {
            let sent = self
                .s3
                .put_object()
                .bucket(&self.location.bucket)
                .key(key)
                .if_none_match("*")
                .body(ByteStream::from(bytes.to_vec()))
                .send()
                .await;
            match sent {
                Ok(_) => Ok(Put::Written),
                // 412: the key exists. 409: another conditional write of it is in flight.
                Err(e) if matches!(e.raw_response().map(|r| r.status().as_u16()), Some(412 | 409)) => {
                    Ok(Put::Taken)
                }
                Err(e) => Err(aws(&e, "s3:PutObject", &self.location.object_url(key))),
            }
        })
    }

    /// The bytes of `name` under the case, or `None` when there is no such object.
    pub fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.key(name);
        self.get_key(&key)
    }

    /// Journal entry `seq`'s line, or `None` when no one has written it yet.
    pub fn get_entry(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let key = journal_key(&self.location.prefix, seq);
        self.get_key(&key)
    }

    fn get_key(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.runtime.block_on(async {
            let got = self
                .s3
                .get_object()
                .bucket(&self.location.bucket)
                .key(key)
                .send()
                .await;
            match got {
                Ok(o) => o
                    .body
                    .collect()
                    .await
                    .map(|b| Some(b.into_bytes().to_vec()))
                    .map_err(|e| {
                        StoreError(
                            format!("s3:GetObject on {}: {e}", self.location.object_url(key)),
                            true,
                        )
                    }),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) =>
                {
                    Ok(None)
                }
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
                Err(e) => Err(aws(&e, "s3:GetObject", &self.location.object_url(key))),
            }
        })
    }

    /// The names under the case that start with `name_prefix` (relative to the case's prefix),
    /// every page of the listing.
    pub fn list(&self, name_prefix: &str) -> Result<Vec<String>, StoreError> {
        let base = self.key("");
        let full = self.key(name_prefix);
        self.runtime.block_on(async {
            let mut names = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .s3
                    .list_objects_v2()
                    .bucket(&self.location.bucket)
                    .prefix(&full)
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|e| aws(&e, "s3:ListBucket", &self.location.object_url(&full)))?;
                for object in page.contents() {
                    if let Some(name) = object.key().and_then(|k| k.strip_prefix(&base)) {
                        names.push(name.to_owned());
                    }
                }
                match page.next_continuation_token() {
                    Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                    _ => break,
                }
            }
            Ok(names)
        })
    }
}
