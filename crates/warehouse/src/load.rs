//! A batch's new events into `events` by binary `COPY`, and the columns the dashboards derive from
//! staged for [`DerivedTables`]: in the queue `events_to_derive`, which the fold
//! ([`crate::fold`]) derives from after the commit, or in the session's temporary table
//! `lakehouse_new_events`, derived from before the commit (a rebuild or an erasure,
//! [`crate::rebuild`], [`crate::erase`]).
//!
//! `COPY` into `events` inserts every row or none: an `event_id` already stored (a client retry)
//! fails it. So it runs under a savepoint; on a unique violation the transaction goes back to the
//! savepoint, leaves out the ids `events` holds, and copies again. Only rows that were really
//! inserted are staged, so the derived tables never count one twice.

use std::collections::HashSet;
use std::sync::LazyLock;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::copy::CopyRows;
use crate::derived::DerivedTables;
use crate::row::{EVENT_COLUMNS, EventRow, column_list, event_rows};

/// The staging table, one per session, that [`DerivedTables::derive`] reads; its rows go at
/// every commit.
const STAGING: &str = r#"CREATE TEMPORARY TABLE IF NOT EXISTS lakehouse_new_events (
    "timestamp" timestamptz NOT NULL,
    project_id  text        NOT NULL,
    event_type  text        NOT NULL,
    event_name  text,
    session_id  text        NOT NULL,
    visitor_id  text,
    path        text,
    referrer    text,
    browser     text,
    os          text,
    device_type text,
    country     text,
    utm_source  text,
    utm_campaign text,
    value       double precision,
    properties  jsonb
) ON COMMIT DELETE ROWS"#;

/// The columns of the staging table and of the queue, in the order of [`staged_rows`].
pub(crate) const STAGED_COLUMNS: [&str; 16] = [
    "timestamp",
    "project_id",
    "event_type",
    "event_name",
    "session_id",
    "visitor_id",
    "path",
    "referrer",
    "browser",
    "os",
    "device_type",
    "country",
    "utm_source",
    "utm_campaign",
    "value",
    "properties",
];

static COPY_EVENTS: LazyLock<String> = LazyLock::new(|| copy_statement("events", &EVENT_COLUMNS));
static COPY_STAGED: LazyLock<String> =
    LazyLock::new(|| copy_statement("lakehouse_new_events", &STAGED_COLUMNS));
static COPY_QUEUED: LazyLock<String> = LazyLock::new(|| copy_statement(QUEUE, &STAGED_COLUMNS));

/// The queue of inserted events not derived yet (migration 0007).
pub(crate) const QUEUE: &str = "events_to_derive";

/// Where [`insert_events`] stages the columns the dashboards derive from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The session's temporary table: call [`DerivedTables::derive`] before the commit.
    Session,
    /// The queue `events_to_derive`, committed with the events; the fold derives from it.
    Queue,
}

/// The staged columns, comma-separated, as the fold moves them from the queue to the stage.
pub(crate) fn staged_column_list() -> String {
    column_list(&STAGED_COLUMNS)
}

/// `COPY table (columns) FROM STDIN (FORMAT binary)`.
fn copy_statement(table: &str, columns: &[&str]) -> String {
    format!(
        "COPY {table} ({}) FROM STDIN (FORMAT binary)",
        column_list(columns)
    )
}

/// How often a batch is copied again after a unique violation before the transaction fails (and
/// the whole batch is retried): only a concurrent insert of one of its ids causes a second one.
const COPY_ATTEMPTS: usize = 4;

/// SQLSTATE `unique_violation`.
const UNIQUE_VIOLATION: &str = "23505";

/// Creates the session's staging table, if it does not exist yet. The processor's connections
/// make it when they connect; another session (a rebuild's) calls this first.
pub async fn create_staging(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(STAGING).execute(conn).await?;
    Ok(())
}

/// Inserts the events of `rows` whose `event_id` is not stored yet (the first of a batch's
/// copies of one), and stages them for the derived tables in `stage` (nowhere for `None`: no
/// derived table is maintained); returns how many were new. Call it in a transaction.
pub async fn insert_events(
    conn: &mut PgConnection,
    mut fresh: Vec<EventRow<'_>>,
    stage: Option<Stage>,
) -> Result<u64, sqlx::Error> {
    let mut ids = HashSet::new();
    fresh.retain(|row| ids.insert(row.event.event_id));
    // Every writer inserts in id order: two transactions that share an id (a retry that landed in
    // another partition) then wait for each other instead of deadlocking.
    fresh.sort_unstable_by_key(|row| row.event.event_id);
    let mut attempt = 1;
    while !fresh.is_empty() {
        sqlx::query("SAVEPOINT lakehouse_copy")
            .execute(&mut *conn)
            .await?;
        match copy_events(conn, &fresh).await {
            Ok(_) => {
                sqlx::query("RELEASE SAVEPOINT lakehouse_copy")
                    .execute(&mut *conn)
                    .await?;
                break;
            }
            Err(error) if is_unique_violation(&error) && attempt < COPY_ATTEMPTS => {
                attempt += 1;
                sqlx::query("ROLLBACK TO SAVEPOINT lakehouse_copy")
                    .execute(&mut *conn)
                    .await?;
                let ids: Vec<Uuid> = fresh.iter().map(|row| row.event.event_id).collect();
                let stored: HashSet<Uuid> =
                    sqlx::query_scalar("SELECT event_id FROM events WHERE event_id = ANY($1)")
                        .bind(&ids)
                        .fetch_all(&mut *conn)
                        .await?
                        .into_iter()
                        .collect();
                tracing::debug!(
                    stored = stored.len(),
                    "events already stored (client retries) left out of the batch"
                );
                fresh.retain(|row| !stored.contains(&row.event.event_id));
            }
            Err(error) => return Err(error),
        }
    }
    if let Some(stage) = stage.filter(|_| !fresh.is_empty()) {
        let statement = match stage {
            Stage::Session => &COPY_STAGED,
            Stage::Queue => &COPY_QUEUED,
        };
        copy(conn, statement, staged_rows(&fresh)).await?;
    }
    Ok(fresh.len() as u64)
}

/// Inserts the events of `rows` not stored yet and adds them to every derived table, in the
/// caller's transaction, on a connection of any session (the erasure refills the hours it emptied
/// so); returns how many were new.
pub async fn insert_new_events(conn: &mut PgConnection, rows: &[EventRow<'_>]) -> Result<u64, sqlx::Error> {
    create_staging(conn).await?;
    let inserted = insert_events(conn, rows.to_vec(), Some(Stage::Session)).await?;
    if inserted > 0 {
        DerivedTables::default().derive(conn).await?;
    }
    Ok(inserted)
}

/// Copies the rows into `events` as they are, all or none: the raw table's own speed, which
/// the benchmark measures as the ceiling. Fails on an `event_id` already stored.
pub async fn copy_events(conn: &mut PgConnection, rows: &[EventRow<'_>]) -> Result<u64, sqlx::Error> {
    copy(conn, &COPY_EVENTS, event_rows(rows)).await
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == UNIQUE_VIOLATION)
}

async fn copy(conn: &mut PgConnection, statement: &str, rows: CopyRows) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    if let Err(error) = copy.send(rows.finish()).await {
        // The connection is broken or the server refused the data: end the COPY either way.
        let _ = copy.abort(error.to_string()).await;
        return Err(error);
    }
    copy.finish().await
}

/// The staged rows, in the order of [`STAGED_COLUMNS`]; properties only where a funnel step
/// is read from them.
fn staged_rows(fresh: &[EventRow<'_>]) -> CopyRows {
    let mut rows = CopyRows::with_capacity(fresh.len() * 200);
    for EventRow { event: e, .. } in fresh {
        rows.row(STAGED_COLUMNS.len() as i16)
            .timestamptz(&e.timestamp)
            .text(&e.project_id)
            .text(&e.event_type)
            .optional_text(e.event_name.as_deref())
            .text(&e.session_id)
            .optional_text(e.visitor_id.as_deref())
            .optional_text(e.path.as_deref())
            .optional_text(e.referrer.as_deref())
            .optional_text(e.browser.as_deref())
            .optional_text(e.os.as_deref())
            .optional_text(e.device_type.as_deref())
            .optional_text(e.country.as_deref())
            .optional_text(e.utm_source.as_deref())
            .optional_text(e.utm_campaign.as_deref())
            .optional_float8(e.value);
        if e.event_type == "funnel_step" {
            rows.jsonb(&e.properties);
        } else {
            rows.null();
        }
    }
    rows
}
