//! A client for the lakehouse api (`POST /analytics`) for server-side Rust apps, with the
//! guarantees of the browser SDK (DESIGN.md §14): every event gets a UUIDv7 `event_id` and its
//! `timestamp` when it is made, and every attempt sends the same ids, so that a retry is stored
//! once; refusals that may pass (408, 429, 5xx, timeouts, broken connections) are retried after
//! `Retry-After` or an exponential backoff with jitter; other refusals are reported by field.
//!
//! Two layers: [`Client`], a queue that batches by count and time in a background task, with
//! bounded memory and a flush on shutdown; and [`Transport`] with [`deliver`], one batch sent
//! until it is answered for good, for callers that batch themselves (the load generator).
//!
//! ```no_run
//! # async fn example() -> Result<(), lakehouse_client::Error> {
//! use lakehouse_client::{Client, ClientConfig, Event};
//! let client = Client::new(ClientConfig::new("http://127.0.0.1:3001/analytics", "local-dev-key"))?;
//! client.track(Event::new("signup", "session-1").user("user-42")).await?;
//! let report = client.shutdown(std::time::Duration::from_secs(10)).await;
//! assert!(report.undelivered.is_empty());
//! # Ok(()) }
//! ```

mod backoff;
mod client;
mod config;
mod delivery;
mod error;
mod event;
mod transport;

pub use backoff::RetryPolicy;
pub use client::{Client, Report};
pub use config::{ApiKey, ClientConfig};
pub use delivery::{Delivery, deliver};
pub use error::Error;
pub use event::Event;
pub use transport::{Attempt, Outcome, Rejection, Status, Transport};
