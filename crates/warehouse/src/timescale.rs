//! TimescaleDB where it exists: the time-bucketed tables become hypertables with compression, and
//! retention drops whole chunks. On plain PostgreSQL the same tables and queries work; retention
//! is a scheduled delete (see [`crate::retention`]).
//!
//! `events` stays a plain table in both cases: a hypertable's unique keys must contain its time
//! column, and deduplication is by `event_id` alone (a client retry may carry another timestamp).

use sqlx::PgPool;

/// The tables partitioned by time, each with its time column.
pub(crate) const HYPERTABLES: [(&str, &str); 3] = [
    ("event_rollups_minute", "bucket"),
    ("event_dimensions_hourly", "bucket"),
    ("unique_ids_hourly", "bucket"),
];

/// Chunks older than this are compressed. Late events (old client timestamps) still upsert into
/// them, at a cost, so it is well past the usual lateness.
const COMPRESS_AFTER: &str = "30 days";

/// Which engine the warehouse runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    Plain,
    Timescale { version: String },
}

/// Creates the extension when it is available and may be created, then makes the hypertables and
/// their compression policies; idempotent. Anything refused leaves a plain-PostgreSQL warehouse
/// and a warning, never a failed start.
pub async fn ensure(pool: &PgPool) -> Result<Storage, sqlx::Error> {
    let installed_or_created = match installed(pool).await? {
        Some(version) => Some(version),
        None => create_extension(pool).await?,
    };
    let Some(version) = installed_or_created else {
        return Ok(Storage::Plain);
    };
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('lakehouse.timescale'))")
        .execute(&mut *tx)
        .await?;
    for (table, column) in HYPERTABLES {
        sqlx::query(
            "SELECT create_hypertable($1::regclass, $2::name, chunk_time_interval => interval '7 days',
                                      if_not_exists => true, migrate_data => true)",
        )
        .bind(table)
        .bind(column)
        .execute(&mut *tx)
        .await?;
        let compressed: bool = sqlx::query_scalar(
            "SELECT coalesce(bool_or(compression_enabled), false) FROM timescaledb_information.hypertables
             WHERE hypertable_name = $1 AND hypertable_schema = current_schema()",
        )
        .bind(table)
        .fetch_one(&mut *tx)
        .await?;
        if !compressed {
            sqlx::query(&format!(
                "ALTER TABLE {table} SET (timescaledb.compress, timescaledb.compress_segmentby = 'project_id',
                                          timescaledb.compress_orderby = '{column} DESC')"
            ))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(&format!(
            "SELECT add_compression_policy($1::regclass, interval '{COMPRESS_AFTER}', if_not_exists => true)"
        ))
        .bind(table)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Storage::Timescale { version })
}

/// Creates the extension if the server has it and returns its version; `None` when it does not
/// or refuses.
async fn create_extension(pool: &PgPool) -> Result<Option<String>, sqlx::Error> {
    let available: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'timescaledb')")
            .fetch_one(pool)
            .await?;
    if !available {
        return Ok(None);
    }
    if let Err(error) = sqlx::query("CREATE EXTENSION IF NOT EXISTS timescaledb")
        .execute(pool)
        .await
    {
        tracing::warn!(%error, "TimescaleDB is available but cannot be created (is it in shared_preload_libraries, and may this role create it?); running on plain PostgreSQL");
        return Ok(None);
    }
    installed(pool).await
}

/// The installed TimescaleDB version, if any.
pub async fn installed<'e>(executor: impl sqlx::PgExecutor<'e>) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT extversion::text FROM pg_extension WHERE extname = 'timescaledb'")
        .fetch_optional(executor)
        .await
}

/// The hypertables of the current schema (none without TimescaleDB). Their chunks do not inherit
/// row-security policies and compression refuses them, so [`crate::project_readers`] leaves them
/// without row security and refuses project readers while there are any.
pub(crate) async fn hypertables(connection: &mut sqlx::PgConnection) -> Result<Vec<String>, sqlx::Error> {
    if installed(&mut *connection).await?.is_none() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "SELECT hypertable_name::text FROM timescaledb_information.hypertables
         WHERE hypertable_schema = current_schema()",
    )
    .fetch_all(connection)
    .await
}
