//! The serenity edge: turns Discord interactions into [`Invocation`]s and [`Response`]s back into
//! what Discord expects, for the gateway client (`rally run`) and the HTTP interactions endpoint
//! (`rally serve`). Everything behind it is transport-agnostic (`handlers`, `app`).
//!
//! [`Invocation`]: crate::handlers::Invocation
//! [`Response`]: crate::handlers::Response

pub mod convert;
pub mod endpoint;
pub mod gateway;
pub mod normalise;
pub mod render;
pub mod roles;
pub mod shards;

use chrono::{DateTime, Utc};

/// Where "now" comes from: the system clock, or a clock that starts at a given instant and runs on
/// from there (reproducible demos and tests).
#[derive(Clone, Debug)]
pub enum Clock {
    System,
    StartingAt {
        start: DateTime<Utc>,
        at: std::time::Instant,
    },
    /// Set by its owner (the demo's simulated week): milliseconds since the epoch.
    Manual(std::sync::Arc<std::sync::atomic::AtomicI64>),
}

impl Clock {
    pub fn starting_at(start: DateTime<Utc>) -> Clock {
        Clock::StartingAt { start, at: std::time::Instant::now() }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::StartingAt { start, at } => *start + chrono::Duration::from_std(at.elapsed()).unwrap_or_default(),
            Clock::Manual(ms) => {
                DateTime::from_timestamp_millis(ms.load(std::sync::atomic::Ordering::SeqCst)).unwrap_or_default()
            }
        }
    }

    /// A clock that reads what `set` last stored.
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock::Manual(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(start.timestamp_millis())))
    }

    /// Moves a manual clock; other clocks ignore it.
    pub fn set(&self, t: DateTime<Utc>) {
        if let Clock::Manual(ms) = self {
            ms.store(t.timestamp_millis(), std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Builds serenity's REST client: against Discord, or against a loopback Discord at `api_url`
/// (serenity ignores the proxy while its rate limiter is on, so a proxy turns it off).
pub fn http_client(token: &str, api_url: Option<&str>) -> serenity::http::Http {
    let builder = serenity::http::HttpBuilder::new(token);
    match api_url {
        Some(url) => builder.proxy(url).ratelimiter_disabled(true).build(),
        None => builder.build(),
    }
}
