//! What every lakehouse service shares to be operable: JSON logs, Prometheus metrics, the
//! `/health` `/ready` `/metrics` endpoints, a shutdown signal, and secrets that stay out of logs.

mod health;
mod logging;
pub mod metrics;
mod moved;
mod secret;
mod shutdown;

pub use health::{BindError, Health, OPS_ENDPOINTS, bind, ops_router, serve_ops};
pub use logging::{LogFormat, init_logging};
pub use moved::{Moves, moved_message, refuse_moved};
pub use secret::{Secret, SecretUrl};
pub use shutdown::shutdown_on_signal;
