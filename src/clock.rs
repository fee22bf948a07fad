//! Time and ids are inputs: the engine never reads the clock, and the drivers take both from
//! here, so tests pin them (`IRP_NOW`, `IRP_SEED`) and outputs are reproducible.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Where "now" comes from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    /// Always this instant (tests, reproducible runs).
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }

    /// What the journal records as the clock's source.
    pub fn source(&self) -> &'static str {
        match self {
            Clock::System => "system",
            Clock::Fixed(_) => "fixed",
        }
    }

    /// `IRP_NOW` (RFC 3339) pins the clock; otherwise the system clock.
    pub fn from_env() -> Result<Clock, String> {
        match std::env::var("IRP_NOW") {
            Ok(v) if !v.trim().is_empty() => DateTime::parse_from_rfc3339(v.trim())
                .map(|t| Clock::Fixed(t.with_timezone(&Utc)))
                .map_err(|e| format!("IRP_NOW=`{v}` is not an RFC 3339 time: {e}")),
            _ => Ok(Clock::System),
        }
    }
}

/// Where `UUIDv7` ids come from: random bits from the system, or derived from a seed and a
/// counter (`IRP_SEED`), so the same run gives the same ids.
#[derive(Debug, Clone)]
pub enum Ids {
    Random,
    Seeded(String),
}

impl Ids {
    pub fn from_env() -> Ids {
        match std::env::var("IRP_SEED") {
            Ok(s) if !s.trim().is_empty() => Ids::Seeded(s.trim().to_owned()),
            _ => Ids::Random,
        }
    }

    /// What the journal records as the ids' source.
    pub fn source(&self) -> &'static str {
        match self {
            Ids::Random => "random",
            Ids::Seeded(_) => "seeded",
        }
    }

    /// A `UUIDv7` for the instant `at`; `salt` makes seeded ids unique (e.g. the entry's seq).
    pub fn id(&self, at: DateTime<Utc>, salt: &str) -> Uuid {
        let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        match self {
            Ids::Random => {
                let ts = uuid::Timestamp::from_unix(
                    uuid::NoContext,
                    ms / 1000,
                    u32::try_from(ms % 1000).unwrap_or(0) * 1_000_000,
                );
                Uuid::new_v7(ts)
            }
            Ids::Seeded(seed) => {
                let digest = Sha256::digest(format!("{seed}\0{salt}").as_bytes());
                let mut random = [0u8; 10];
                random.copy_from_slice(&digest[..10]);
                uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid()
            }
        }
    }
}
