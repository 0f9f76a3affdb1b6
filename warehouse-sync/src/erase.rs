//! A user's rows across both stores, for the GDPR: [`erase_user`] removes them from the warehouse
//! (raw events and what the dashboards derived from them) and from the lake; [`export_user`]
//! reads them from both.
//!
//! The warehouse side runs in one transaction, serialised with the stream-processor as `rebuild`
//! is (`kafka_offsets` locked first). The derived tables are not patched by subtraction: every
//! hour that held one of the user's events is taken out whole — its raw events set aside, its
//! minute and hour buckets deleted — and its remaining events are inserted again through the
//! processor's own batch SQL, so that those hours equal a recomputation from the raw events by
//! construction. Funnel rows of the user's sessions are recomputed from the sessions' remaining
//! events, inside and outside those hours. The events put back keep every column but
//! `ingested_at`, which becomes the time of the erasure.

use chrono::{DateTime, Utc};
use deltalake::arrow::array::RecordBatch;
use lakehouse_event::EnrichedEvent;
use lakehouse_event::Record;
use lakehouse_lake::{
    EraseOptions, Erased, LakeLocation, OutputFormat, User, delete_user, export_user as lake_rows, open_at,
    render,
};
use lakehouse_stream_processor::{EVENT_COLUMNS, column_list, insert_new_events};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::error::{Result, SyncError};
use crate::rebuild::{hold_the_processor, refill_funnel_progress};

/// Events put back per statement.
const CHUNK: usize = 5_000;

/// What the erasure did in the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarehouseErased {
    pub dry_run: bool,
    /// The user's raw events removed (or, in a dry run, found).
    pub events: u64,
    /// The hours whose derived rows were recomputed.
    pub hours: Vec<DateTime<Utc>>,
    /// Other events of those hours, put back through the batch SQL.
    pub events_recomputed: u64,
    /// Funnel rows of the user's sessions recomputed from their remaining events.
    pub funnel_rows_recomputed: u64,
}

/// What `erase-user` did in both stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserErased {
    pub warehouse: WarehouseErased,
    pub lake: Erased,
}

/// A user's rows in both stores (GDPR access): the warehouse's raw events and the lake's rows,
/// each as JSON objects, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserExport {
    pub warehouse: Vec<Value>,
    pub lake: Vec<Value>,
}

/// `user_id = $1 AND ($2 IS NULL OR project_id = $2)`, the warehouse's side of [`User`].
const USER_ROWS: &str = "user_id = $1 AND ($2::text IS NULL OR project_id = $2)";

/// Removes the user's rows from the warehouse (one transaction), then from the lake's latest
/// version (one commit, carrying `options.user_metadata`). The warehouse goes first: were the lake
/// to go first and the warehouse fail, a later `rebuild` would still find the rows nowhere to put
/// back, but a dashboard would show them until the erasure is run again.
pub async fn erase_user(
    pool: &PgPool,
    lake: &LakeLocation,
    user: &User,
    options: EraseOptions,
) -> Result<UserErased> {
    let warehouse = erase_from_warehouse(pool, user, options.dry_run).await?;
    let mut table = open_at(lake, &Default::default()).await?;
    let lake = delete_user(&mut table, user, options).await?;
    Ok(UserErased { warehouse, lake })
}

/// The warehouse's side of [`erase_user`].
pub async fn erase_from_warehouse(pool: &PgPool, user: &User, dry_run: bool) -> Result<WarehouseErased> {
    let mut tx = pool.begin().await?;
    hold_the_processor(&mut tx).await?;

    let (events, hours): (i64, Vec<DateTime<Utc>>) = sqlx::query_as(&format!(
        r#"SELECT count(*), coalesce(array_agg(DISTINCT date_trunc('hour', "timestamp")), '{{}}')
           FROM events WHERE {USER_ROWS}"#
    ))
    .bind(&user.user_id)
    .bind(&user.project_id)
    .fetch_one(&mut *tx)
    .await?;
    let mut erased = WarehouseErased {
        dry_run,
        events: events.unsigned_abs(),
        hours,
        events_recomputed: 0,
        funnel_rows_recomputed: 0,
    };
    if dry_run || events == 0 {
        return Ok(erased);
    }

    // The funnel rows of the user's sessions, to recompute from what remains of them.
    sqlx::query(
        "CREATE TEMPORARY TABLE erase_funnel_keys (
             project_id text, funnel text, step integer, session_id text) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await?;
    erased.funnel_rows_recomputed = sqlx::query(&format!(
        "WITH sessions AS (SELECT DISTINCT project_id, session_id FROM events WHERE {USER_ROWS}),
              deleted AS (
                  DELETE FROM funnel_progress f USING sessions s
                  WHERE f.project_id = s.project_id AND f.session_id = s.session_id
                  RETURNING f.project_id, f.funnel, f.step, f.session_id)
         INSERT INTO erase_funnel_keys SELECT * FROM deleted"
    ))
    .bind(&user.user_id)
    .bind(&user.project_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();

    sqlx::query(&format!("DELETE FROM events WHERE {USER_ROWS}"))
        .bind(&user.user_id)
        .bind(&user.project_id)
        .execute(&mut *tx)
        .await?;
    // The affected hours, whole: their other events set aside, their buckets emptied.
    let kept: Vec<KeptEvent> = sqlx::query_as(&format!(
        r#"DELETE FROM events WHERE date_trunc('hour', "timestamp") = ANY($1) RETURNING {}"#,
        column_list(&EVENT_COLUMNS)
    ))
    .bind(&erased.hours)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM event_rollups_minute WHERE date_trunc('hour', bucket) = ANY($1)")
        .bind(&erased.hours)
        .execute(&mut *tx)
        .await?;
    for table in ["event_dimensions_hourly", "unique_ids_hourly"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE bucket = ANY($1)"))
            .bind(&erased.hours)
            .execute(&mut *tx)
            .await?;
    }
    let records = kept
        .into_iter()
        .map(KeptEvent::into_record)
        .collect::<Result<Vec<_>>>()?;
    for chunk in records.chunks(CHUNK) {
        erased.events_recomputed += insert_new_events(&mut tx, chunk).await?;
    }
    refill_funnel_progress(&mut tx, "erase_funnel_keys").await?;
    tx.commit().await?;
    Ok(erased)
}

/// The user's rows in both stores; the lake at its latest version.
pub async fn export_user(pool: &PgPool, lake: &LakeLocation, user: &User) -> Result<UserExport> {
    let warehouse: Vec<Value> = sqlx::query_scalar(&format!(
        r#"SELECT to_jsonb(e) - 'ingested_at' FROM events e WHERE {USER_ROWS} ORDER BY "timestamp", event_id"#
    ))
    .bind(&user.user_id)
    .bind(&user.project_id)
    .fetch_all(pool)
    .await?;
    let table = open_at(lake, &Default::default()).await?;
    let lake = json_rows(&lake_rows(&table, user).await?)?;
    Ok(UserExport { warehouse, lake })
}

/// Arrow rows as JSON objects.
fn json_rows(batches: &[RecordBatch]) -> Result<Vec<Value>> {
    render(batches, OutputFormat::Json)?
        .lines()
        .map(|line| serde_json::from_str(line).map_err(|error| SyncError::Row(error.to_string())))
        .collect()
}

/// A raw event set aside while its hour is recomputed.
#[derive(sqlx::FromRow)]
struct KeptEvent {
    event_id: uuid::Uuid,
    project_id: String,
    event_type: String,
    event_name: Option<String>,
    session_id: String,
    user_id: Option<String>,
    visitor_id: Option<String>,
    timestamp: DateTime<Utc>,
    timestamp_clamped: bool,
    sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    url: Option<String>,
    host: Option<String>,
    path: Option<String>,
    referrer: Option<String>,
    title: Option<String>,
    value: Option<f64>,
    properties: Value,
    browser: Option<String>,
    os: Option<String>,
    device_type: Option<String>,
    country: Option<String>,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    utm_term: Option<String>,
    utm_content: Option<String>,
    schema_version: i16,
    kafka_partition: i32,
    kafka_offset: i64,
}

impl KeptEvent {
    fn into_record(self) -> Result<Record> {
        let Value::Object(properties) = self.properties else {
            return Err(SyncError::Row(format!(
                "event {}: properties are not an object",
                self.event_id
            )));
        };
        let event = EnrichedEvent {
            event_id: self.event_id,
            project_id: self.project_id,
            event_type: self.event_type,
            event_name: self.event_name,
            session_id: self.session_id,
            user_id: self.user_id,
            visitor_id: self.visitor_id,
            timestamp: self.timestamp,
            timestamp_clamped: self.timestamp_clamped,
            sent_at: self.sent_at,
            received_at: self.received_at,
            url: self.url,
            host: self.host,
            path: self.path,
            referrer: self.referrer,
            title: self.title,
            value: self.value,
            properties,
            browser: self.browser,
            os: self.os,
            device_type: self.device_type,
            country: self.country,
            utm_source: self.utm_source,
            utm_medium: self.utm_medium,
            utm_campaign: self.utm_campaign,
            utm_term: self.utm_term,
            utm_content: self.utm_content,
            schema_version: u16::try_from(self.schema_version)
                .map_err(|_| SyncError::Row(format!("schema_version {}", self.schema_version)))?,
        };
        Ok(Record {
            event,
            partition: self.kafka_partition,
            offset: self.kafka_offset,
        })
    }
}
