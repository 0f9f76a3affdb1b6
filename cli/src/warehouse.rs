//! The warehouse a command works on: a small pool for one run.

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::error::Result;

/// A small pool for one command run.
pub async fn connect(database_url: &str) -> Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(database_url)
        .await?)
}
