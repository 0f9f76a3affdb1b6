//! The warehouse store: raw events, the tables the dashboards read, and the Kafka offsets they
//! cover, written in one transaction.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lakehouse_kafka::{Batch, BatchSink, Record};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::grants::Roles;
use crate::timescale::Storage;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("invalid DATABASE_URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("PostgreSQL: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The PostgreSQL side of the consumer group `group`.
#[derive(Debug, Clone)]
pub struct Warehouse {
    pool: PgPool,
    group: String,
}

impl Warehouse {
    /// A pool that connects on first use, so that a database that is down does not stop start-up.
    pub fn connect_lazy(database_url: &str, group: &str) -> Result<Self, WarehouseError> {
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy(database_url)
            .map_err(WarehouseError::Url)?;
        Ok(Self {
            pool,
            group: group.into(),
        })
    }

    /// Applies the embedded migrations, makes the hypertables where TimescaleDB exists, and grants
    /// the roles their privileges; safe to run from several processes at once.
    pub async fn migrate(&self, roles: &Roles) -> Result<Storage, WarehouseError> {
        MIGRATOR.run(&self.pool).await?;
        let storage = crate::timescale::ensure(&self.pool).await?;
        let granted = crate::grants::grant(&self.pool, roles).await?;
        if !granted.missing.is_empty() {
            tracing::warn!(missing = ?granted.missing,
                "warehouse roles do not exist, so nothing was granted to them; create them (NOLOGIN) and restart or run `migrate`");
        }
        tracing::info!(storage = ?storage, granted = ?granted.granted, "warehouse schema ready");
        Ok(storage)
    }

    /// Deletes the group's stored offsets on `topic` (only `partitions`, unless empty); returns
    /// how many were deleted.
    pub async fn reset_offsets(&self, topic: &str, partitions: &[i32]) -> Result<u64, WarehouseError> {
        let deleted = sqlx::query(
            "DELETE FROM kafka_offsets WHERE consumer_group = $1 AND topic = $2
             AND (cardinality($3::int[]) = 0 OR partition = ANY($3))",
        )
        .bind(&self.group)
        .bind(topic)
        .bind(partitions)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(deleted)
    }

    /// The connection pool, for the retention job.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Inserts the records not yet stored and advances the offsets, in one transaction. Records
    /// below the stored offset of their partition were committed before (a retry, or another
    /// member that held the partition) and are left out; the row locks on the offsets serialise
    /// two members writing the same partition.
    async fn write_batch(&self, batch: &Batch) -> Result<u64, WarehouseError> {
        let mut tx = self.pool.begin().await?;
        let partitions: Vec<i32> = batch.next_offsets.keys().copied().collect();
        let stored: HashMap<i32, i64> = sqlx::query_as(
            "SELECT partition, next_offset FROM kafka_offsets
             WHERE consumer_group = $1 AND topic = $2 AND partition = ANY($3)
             FOR UPDATE",
        )
        .bind(&self.group)
        .bind(&batch.topic)
        .bind(&partitions)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let fresh = batch
            .records
            .iter()
            .filter(|r| stored.get(&r.partition).is_none_or(|&next| r.offset >= next));
        let columns = Columns::from_records(fresh);
        let inserted = columns.insert(&mut tx).await?;

        let next_offsets: Vec<i64> = batch.next_offsets.values().copied().collect();
        sqlx::query(
            "INSERT INTO kafka_offsets (consumer_group, topic, partition, next_offset)
             SELECT $1, $2, partition, next_offset FROM UNNEST($3::int[], $4::bigint[]) AS o(partition, next_offset)
             ON CONFLICT (consumer_group, topic, partition) DO UPDATE
             SET next_offset = GREATEST(kafka_offsets.next_offset, EXCLUDED.next_offset), updated_at = now()",
        )
        .bind(&self.group)
        .bind(&batch.topic)
        .bind(&partitions)
        .bind(&next_offsets)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(inserted)
    }
}

#[async_trait]
impl BatchSink for Warehouse {
    type Error = WarehouseError;
    const NAME: &'static str = "warehouse";

    async fn stored_offset(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, WarehouseError> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT next_offset FROM kafka_offsets WHERE consumer_group = $1 AND topic = $2 AND partition = $3",
        )
        .bind(&self.group)
        .bind(topic)
        .bind(partition)
        .fetch_optional(&self.pool)
        .await?;
        Ok(next)
    }

    async fn write(&mut self, batch: &Batch) -> Result<(), WarehouseError> {
        let inserted = self.write_batch(batch).await?;
        tracing::debug!(
            records = batch.records.len(),
            inserted,
            "warehouse batch committed"
        );
        Ok(())
    }
}

/// Inserts the events whose `event_id` is not stored yet and adds them to every derived table,
/// with the batch writer's own SQL, inside the caller's transaction; returns how many were new.
/// For warehouse-sync, which rebuilds from the lake rows the processor once wrote, so that both
/// derive the tables the same way.
pub async fn insert_new_events(
    conn: &mut sqlx::PgConnection,
    records: &[Record],
) -> Result<u64, sqlx::Error> {
    Columns::from_records(records.iter()).insert(conn).await
}

/// The batch in column arrays, so that one `INSERT ... SELECT FROM UNNEST` writes it whole.
#[derive(Default)]
struct Columns {
    event_id: Vec<Uuid>,
    project_id: Vec<String>,
    event_type: Vec<String>,
    event_name: Vec<Option<String>>,
    session_id: Vec<String>,
    user_id: Vec<Option<String>>,
    visitor_id: Vec<Option<String>>,
    timestamp: Vec<DateTime<Utc>>,
    timestamp_clamped: Vec<bool>,
    sent_at: Vec<Option<DateTime<Utc>>>,
    received_at: Vec<DateTime<Utc>>,
    url: Vec<Option<String>>,
    host: Vec<Option<String>>,
    path: Vec<Option<String>>,
    referrer: Vec<Option<String>>,
    title: Vec<Option<String>>,
    value: Vec<Option<f64>>,
    properties: Vec<serde_json::Value>,
    browser: Vec<Option<String>>,
    os: Vec<Option<String>>,
    device_type: Vec<Option<String>>,
    country: Vec<Option<String>>,
    schema_version: Vec<i16>,
    kafka_partition: Vec<i32>,
    kafka_offset: Vec<i64>,
}

impl Columns {
    fn from_records<'a>(records: impl Iterator<Item = &'a Record>) -> Self {
        let mut c = Self::default();
        for Record {
            event: e,
            partition,
            offset,
        } in records
        {
            c.event_id.push(e.event_id);
            c.project_id.push(e.project_id.clone());
            c.event_type.push(e.event_type.clone());
            c.event_name.push(e.event_name.clone());
            c.session_id.push(e.session_id.clone());
            c.user_id.push(e.user_id.clone());
            c.visitor_id.push(e.visitor_id.clone());
            c.timestamp.push(e.timestamp);
            c.timestamp_clamped.push(e.timestamp_clamped);
            c.sent_at.push(e.sent_at);
            c.received_at.push(e.received_at);
            c.url.push(e.url.clone());
            c.host.push(e.host.clone());
            c.path.push(e.path.clone());
            c.referrer.push(e.referrer.clone());
            c.title.push(e.title.clone());
            c.value.push(e.value);
            c.properties.push(serde_json::Value::Object(e.properties.clone()));
            c.browser.push(e.browser.clone());
            c.os.push(e.os.clone());
            c.device_type.push(e.device_type.clone());
            c.country.push(e.country.clone());
            c.schema_version
                .push(i16::try_from(e.schema_version).unwrap_or(i16::MAX));
            c.kafka_partition.push(*partition);
            c.kafka_offset.push(*offset);
        }
        c
    }

    /// Inserts the events whose `event_id` is new and adds them, and only them, to the rollups,
    /// breakdowns, unique ids and funnel progress; returns how many were new.
    async fn insert(self, tx: &mut sqlx::PgConnection) -> Result<u64, sqlx::Error> {
        if self.event_id.is_empty() {
            return Ok(0);
        }
        // The rollups are fed from RETURNING: only rows that were really inserted count.
        let inserted: i64 = sqlx::query_scalar(
            r#"WITH inserted AS (
                INSERT INTO events (
                    event_id, project_id, event_type, event_name, session_id, user_id, visitor_id,
                    "timestamp", timestamp_clamped, sent_at, received_at, url, host, path, referrer, title,
                    value, properties, browser, os, device_type, country, schema_version,
                    kafka_partition, kafka_offset)
                SELECT * FROM UNNEST(
                    $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::timestamptz[], $9::boolean[], $10::timestamptz[], $11::timestamptz[], $12::text[],
                    $13::text[], $14::text[], $15::text[], $16::text[], $17::float8[], $18::jsonb[],
                    $19::text[], $20::text[], $21::text[], $22::text[], $23::int2[], $24::int4[], $25::int8[])
                ON CONFLICT (event_id) DO NOTHING
                RETURNING "timestamp", project_id, event_type, event_name, session_id, visitor_id, path,
                          referrer, browser, os, device_type, country, value,
                          CASE WHEN event_type = 'funnel_step' THEN properties->>'funnel' END AS funnel,
                          CASE WHEN event_type = 'funnel_step' THEN lakehouse_funnel_step(properties) END AS step
            ), rolled_up AS (
                INSERT INTO event_rollups_minute AS r (bucket, project_id, event_type, event_name, path, events, value_sum)
                SELECT date_trunc('minute', "timestamp"), project_id, event_type, coalesce(event_name, ''),
                       coalesce(path, ''), count(*), coalesce(sum(value), 0)
                FROM inserted
                GROUP BY 1, 2, 3, 4, 5
                ON CONFLICT (bucket, project_id, event_type, event_name, path) DO UPDATE
                SET events = r.events + EXCLUDED.events, value_sum = r.value_sum + EXCLUDED.value_sum
            ), dimensions AS (
                INSERT INTO event_dimensions_hourly AS d (bucket, project_id, event_type, dimension, value, events, value_sum)
                SELECT date_trunc('hour', i."timestamp"), i.project_id, i.event_type, x.dimension, x.value, count(*),
                       coalesce(sum(i.value), 0)
                FROM inserted i
                CROSS JOIN LATERAL lakehouse_dimensions(i.path, i.referrer, i.browser, i.os, i.device_type, i.country) AS x
                GROUP BY 1, 2, 3, 4, 5
                ON CONFLICT (bucket, project_id, event_type, dimension, value) DO UPDATE
                SET events = d.events + EXCLUDED.events, value_sum = d.value_sum + EXCLUDED.value_sum
            ), uniques AS (
                INSERT INTO unique_ids_hourly (bucket, project_id, kind, id)
                SELECT DISTINCT date_trunc('hour', i."timestamp"), i.project_id, u.kind, u.id
                FROM inserted i
                CROSS JOIN LATERAL (VALUES ('visitor', i.visitor_id), ('session', i.session_id)) AS u(kind, id)
                WHERE u.id IS NOT NULL
                ON CONFLICT DO NOTHING
            ), funnels AS (
                INSERT INTO funnel_progress AS f (project_id, funnel, step, session_id, first_at)
                SELECT project_id, funnel, step, session_id, min("timestamp")
                FROM inserted
                WHERE step IS NOT NULL
                GROUP BY 1, 2, 3, 4
                ON CONFLICT (project_id, funnel, step, session_id) DO UPDATE
                SET first_at = least(f.first_at, EXCLUDED.first_at)
            )
            SELECT count(*) FROM inserted"#,
        )
        .bind(self.event_id)
        .bind(self.project_id)
        .bind(self.event_type)
        .bind(self.event_name)
        .bind(self.session_id)
        .bind(self.user_id)
        .bind(self.visitor_id)
        .bind(self.timestamp)
        .bind(self.timestamp_clamped)
        .bind(self.sent_at)
        .bind(self.received_at)
        .bind(self.url)
        .bind(self.host)
        .bind(self.path)
        .bind(self.referrer)
        .bind(self.title)
        .bind(self.value)
        .bind(self.properties)
        .bind(self.browser)
        .bind(self.os)
        .bind(self.device_type)
        .bind(self.country)
        .bind(self.schema_version)
        .bind(self.kafka_partition)
        .bind(self.kafka_offset)
        .fetch_one(tx)
        .await?;
        Ok(u64::try_from(inserted).unwrap_or_default())
    }
}
