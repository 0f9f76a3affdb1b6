//! What every lakehouse service shares to be operable: JSON logs, Prometheus metrics, the
//! `/health` `/ready` `/metrics` endpoints, and a shutdown signal.

mod health;
mod logging;
pub mod metrics;
mod shutdown;

pub use health::{Health, ops_router, serve_ops};
pub use logging::{LogFormat, init_logging};
pub use shutdown::shutdown_on_signal;
