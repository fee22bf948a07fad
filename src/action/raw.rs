//! S3's configuration documents kept byte for byte. `GetBucketAcl`, `GetBucketReplication`,
//! `GetBucketLifecycleConfiguration` and `GetBucketNotificationConfiguration` answer with the
//! same XML document their `Put…` counterpart takes. irp stores that document as the
//! before-state and a rollback sends it back unchanged, so every field survives, including the
//! ones this SDK version does not model.
//!
//! Two interceptors do it: `Capture` copies the response body after the SDK has read it, and
//! `ReplaceBody` swaps a request body for the stored document before the SDK computes the
//! request checksum and signs it.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;

/// Keeps the raw body of the response to one call.
#[derive(Debug, Clone, Default)]
pub struct Capture(Arc<Mutex<Option<Vec<u8>>>>);

impl Capture {
    /// The body as text, once the call has returned.
    pub fn text(&self) -> Option<String> {
        let body = self.0.lock().ok()?.clone()?;
        Some(String::from_utf8_lossy(&body).into_owned())
    }
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "IrpCaptureBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(bytes), Ok(mut slot)) = (context.response().body().bytes(), self.0.lock()) {
            *slot = Some(bytes.to_vec());
        }
        Ok(())
    }
}

/// Sends `body` instead of the body the SDK serialized. It runs before the retry loop, so the
/// SDK's own checksum and signature cover the stored document.
#[derive(Debug, Clone)]
pub struct ReplaceBody(pub Arc<Vec<u8>>);

impl Intercept for ReplaceBody {
    fn name(&self) -> &'static str {
        "IrpReplaceBody"
    }

    fn modify_before_retry_loop(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        *request.body_mut() = SdkBody::from(self.0.as_slice().to_vec());
        let headers = request.headers_mut();
        headers.insert("content-length", self.0.len().to_string());
        headers.remove("content-md5");
        Ok(())
    }
}
