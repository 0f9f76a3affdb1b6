//! The warehouse's schema: the migrations in `migrations/`, the one place where its tables are
//! defined. [`crate::Warehouse::migrate`] applies them all; [`create_audit_log`] makes the audit
//! log alone, for a command that records itself in a warehouse nobody migrated yet.

use sqlx::PgPool;

/// Every migration, embedded at build time.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The audit log's migration: the table, its indexes and its append-only trigger. Idempotent, so
/// the migrator may run it again later.
const AUDIT_LOG: &str = include_str!("../migrations/0005_audit_log.sql");

/// Creates `audit_log` as its migration does, and nothing else, if it does not exist yet (the
/// api's keys or a lake command may come before the stream-processor's first migration).
pub async fn create_audit_log(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AUDIT_LOG).execute(pool).await?;
    Ok(())
}
