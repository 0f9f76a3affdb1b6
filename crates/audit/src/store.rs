//! Where records go: always a JSON log line (target `audit`), and a row of the warehouse's
//! `audit_log` table when a database is given. The table is append-only: the writer role may
//! insert and read, nobody may update, delete or truncate (a trigger refuses it even to its owner).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::action::AuditRecord;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The action ran; its record is in the log line, but not in the table.
    #[error(
        "{action} ran, but its audit record could not be stored in audit_log ({source}); \
         the record is in the log line before this one"
    )]
    Store {
        action: String,
        #[source]
        source: sqlx::Error,
    },
}

/// The audit log of one command: its log line, and the table when there is a database.
#[derive(Debug, Clone)]
pub struct AuditLog {
    pool: Option<PgPool>,
}

impl AuditLog {
    /// Records go to `audit_log` through `pool`, and to the log.
    pub fn new(pool: PgPool) -> Self {
        Self { pool: Some(pool) }
    }

    /// Records go to the log only (a lake command without `DATABASE_URL`; the lake's commits
    /// still carry them).
    pub fn log_only() -> Self {
        Self { pool: None }
    }

    pub fn stores_in_database(&self) -> bool {
        self.pool.is_some()
    }

    /// Writes `record`: the log line first, so that it exists even if the insert fails.
    pub async fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        tracing::info!(
            target: "audit",
            at = %record.at.to_rfc3339(),
            seconds = record.seconds,
            actor = %record.actor,
            action = %record.action,
            arguments = %record.arguments,
            ok = record.ok,
            result = %record.result,
            "audit"
        );
        let Some(pool) = &self.pool else {
            return Ok(());
        };
        let mut inserted = insert(pool, record).await;
        if inserted.as_ref().is_err_and(is_undefined_table) {
            // A database the stream-processor has not migrated yet (a lake command may come
            // first): the warehouse makes the table as its migration does, then the insert is
            // retried.
            inserted = match lakehouse_warehouse::create_audit_log(pool).await {
                Ok(_) => insert(pool, record).await,
                Err(error) => Err(error),
            };
        }
        inserted.map_err(|source| AuditError::Store {
            action: record.action.clone(),
            source,
        })
    }
}

async fn insert(pool: &PgPool, record: &AuditRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, seconds, actor, action, arguments, ok, result)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(record.at)
    .bind(record.seconds)
    .bind(&record.actor)
    .bind(&record.action)
    .bind(&record.arguments)
    .bind(record.ok)
    .bind(&record.result)
    .execute(pool)
    .await?;
    Ok(())
}

fn is_undefined_table(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "42P01")
}

/// Which records to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this action (`lake.vacuum`), or those under a prefix ending in `.` (`lake.`).
    pub action: Option<String>,
    pub actor: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// The records `filter` selects, newest first.
pub async fn list(pool: &PgPool, filter: &Filter) -> Result<Vec<AuditRecord>, sqlx::Error> {
    type Row = (i64, DateTime<Utc>, f64, String, String, Value, bool, Value);
    let action_pattern = filter
        .action
        .as_ref()
        .map(|action| match action.strip_suffix('.') {
            Some(prefix) => format!("{}.%", like_escaped(prefix)),
            None => like_escaped(action),
        });
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, at, seconds, actor, action, arguments, ok, result FROM audit_log
         WHERE ($1::text IS NULL OR action LIKE $1)
           AND ($2::text IS NULL OR actor = $2)
           AND ($3::timestamptz IS NULL OR at >= $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(action_pattern)
    .bind(&filter.actor)
    .bind(filter.since)
    .bind(filter.limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, at, seconds, actor, action, arguments, ok, result)| AuditRecord {
                id: Some(id),
                at,
                seconds,
                actor,
                action,
                arguments,
                ok,
                result,
            },
        )
        .collect())
}

/// `text` matched literally by `LIKE`.
fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
