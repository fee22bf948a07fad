//! The AWS configuration every irp client loads (Athena, and the actions' S3, S3 Control, IAM, EC2
//! and STS): the SDK's standard chain (environment, profiles, SSO, IMDS…), then what the command
//! line or the config file names, with the SDK's standard retry mode.

use std::time::Duration;

/// What overrides the standard chain.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides<'a> {
    pub profile: Option<&'a str>,
    pub region: Option<&'a str>,
    /// Every service's calls go here instead (moto on loopback).
    pub endpoint_url: Option<&'a str>,
}

/// Loads the configuration; no call is made.
pub async fn load(o: Overrides<'_>, attempts: u32, backoff: Duration) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).retry_config(
        aws_config::retry::RetryConfig::standard()
            .with_max_attempts(attempts.max(1))
            .with_initial_backoff(backoff),
    );
    if let Some(p) = o.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = o.region {
        loader = loader.region(aws_config::Region::new(r.to_owned()));
    }
    if let Some(e) = o.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    loader.load().await
}
