//! The warehouse store: raw events, the tables the dashboards read, and the Kafka offsets they
//! cover, written in one transaction per group of partitions, the groups of a batch on several
//! connections at once (DESIGN.md §7).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use lakehouse_event::Batch;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Notify;

use crate::derived::DerivedTables;
use crate::fold::FoldLoop;
use crate::grants::Roles;
use crate::load::Stage;
use crate::row::{EventRow, InvalidRow};
use crate::schema::SchemaMismatch;
use crate::timescale::Storage;

/// The most partition writers a processor runs at once.
pub const MAX_WRITERS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("invalid DATABASE_URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("PostgreSQL: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database lacks a table or column this build writes: nothing is committed until it is
    /// there (a removed column never turns into silently dropped fields or skipped events).
    #[error("{0}")]
    Schema(SchemaMismatch),
    /// A stored row that cannot be written again (the erasure reads rows back).
    #[error("a stored event cannot be read back: {0}")]
    Row(#[from] InvalidRow),
}

/// The PostgreSQL side of the consumer group `group`.
#[derive(Debug, Clone)]
pub struct Warehouse {
    pool: PgPool,
    group: String,
    writers: usize,
    derived: DerivedTables,
    /// Wakes the fold once a batch queued events.
    fold_wake: Arc<Notify>,
}

impl Warehouse {
    /// A pool that connects on first use, so that a database that is down does not stop start-up.
    /// One partition writer and every derived table until told otherwise.
    pub fn connect_lazy(database_url: &str, group: &str) -> Result<Self, WarehouseError> {
        let pool = PgPoolOptions::new()
            // The writers, a lookup of a stored offset, and the retention job.
            .max_connections(MAX_WRITERS as u32 + 2)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(|conn, _| Box::pin(async move { crate::load::create_staging(conn).await }))
            .connect_lazy(database_url)
            .map_err(WarehouseError::Url)?;
        Ok(Self {
            pool,
            group: group.into(),
            writers: 1,
            derived: DerivedTables::default(),
            fold_wake: Arc::new(Notify::new()),
        })
    }

    /// Writes the partitions of a batch in up to `writers` transactions at once (at most
    /// [`MAX_WRITERS`]).
    pub fn with_writers(mut self, writers: usize) -> Self {
        self.writers = writers.clamp(1, MAX_WRITERS);
        self
    }

    /// Maintains only these derived tables (benchmarks measure what each costs).
    pub fn with_derived(mut self, derived: DerivedTables) -> Self {
        self.derived = derived;
        self
    }

    /// Applies the embedded migrations, checks that every table and column a batch writes exists
    /// (a schema mismatch otherwise), makes the hypertables where TimescaleDB exists, and grants
    /// the roles their privileges; safe to run from several processes at once.
    pub async fn migrate(&self, roles: &Roles) -> Result<Storage, WarehouseError> {
        crate::migrations::MIGRATOR.run(&self.pool).await?;
        let storage = crate::timescale::ensure(&self.pool).await?;
        let missing = crate::schema::missing_columns(&self.pool, &self.derived).await?;
        if !missing.is_empty() {
            return Err(WarehouseError::Schema(SchemaMismatch {
                missing,
                refused: None,
            }));
        }
        let granted = crate::grants::grant(&self.pool, roles).await?;
        if !granted.missing.is_empty() {
            tracing::warn!(missing = ?granted.missing,
                "warehouse roles do not exist, so nothing was granted to them; create them (NOLOGIN) and restart or run `migrate`");
        }
        if !granted.without_row_security.is_empty() {
            // Only a concern for whoever wants project readers, whom grant-project refuses.
            tracing::info!(tables = ?granted.without_row_security,
                "tables with project data without row security (TimescaleDB hypertables): no project reader can be granted");
        }
        tracing::info!(storage = ?storage, granted = ?granted.granted, "warehouse schema ready");
        // The fold loop starts once the queue exists.
        self.fold_wake.notify_one();
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

    /// Folds every event queued so far into the derived tables this warehouse maintains, now;
    /// returns how many. For a caller that writes batches without running [`Self::fold_loop`].
    pub async fn fold(&self) -> Result<u64, WarehouseError> {
        Ok(self.fold_loop().fold_all().await?)
    }

    /// The loop that folds what this warehouse's batches queue into the derived tables it
    /// maintains, woken by each batch that queued events.
    pub fn fold_loop(&self) -> FoldLoop {
        FoldLoop {
            pool: self.pool.clone(),
            derived: self.derived.clone(),
            wake: self.fold_wake.clone(),
        }
    }

    /// Inserts the rows of `partitions` not yet stored, queues them for the derived tables, and
    /// advances the partitions' offsets, in one transaction; returns how many were new. Rows
    /// below the stored offset of their partition were committed before (a retry, or another
    /// member that held the partition) and are left out. The offsets rows, locked first,
    /// serialise two writers of the same partition; writers of other partitions go on at once.
    async fn write_partitions(
        &self,
        topic: &str,
        next_offsets: &BTreeMap<i32, i64>,
        rows: &[EventRow<'_>],
    ) -> Result<u64, WarehouseError> {
        let mut tx = self.pool.begin().await?;
        let (partitions, next): (Vec<i32>, Vec<i64>) = next_offsets.iter().map(|(p, n)| (*p, *n)).unzip();
        let stored: HashMap<i32, i64> = sqlx::query_as(
            "SELECT partition, next_offset FROM kafka_offsets
             WHERE consumer_group = $1 AND topic = $2 AND partition = ANY($3)
             ORDER BY partition
             FOR UPDATE",
        )
        .bind(&self.group)
        .bind(topic)
        .bind(&partitions)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let fresh: Vec<EventRow<'_>> = rows
            .iter()
            .copied()
            .filter(|r| stored.get(&r.partition).is_none_or(|&next| r.offset >= next))
            .collect();
        let stage = (!self.derived.is_empty()).then_some(Stage::Queue);
        let inserted = crate::load::insert_events(&mut tx, fresh, stage).await?;
        sqlx::query(
            "INSERT INTO kafka_offsets (consumer_group, topic, partition, next_offset)
             SELECT $1, $2, partition, next_offset FROM UNNEST($3::int[], $4::bigint[]) AS o(partition, next_offset)
             ON CONFLICT (consumer_group, topic, partition) DO UPDATE
             SET next_offset = GREATEST(kafka_offsets.next_offset, EXCLUDED.next_offset), updated_at = now()",
        )
        .bind(&self.group)
        .bind(topic)
        .bind(&partitions)
        .bind(&next)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if inserted > 0 && stage.is_some() {
            self.fold_wake.notify_one();
        }
        Ok(inserted)
    }

    /// Splits the batch into up to `writers` groups of partitions and writes the groups at once,
    /// each in its own transaction. A group that fails leaves the others committed: the retry of
    /// the whole batch skips what they stored, by their offsets.
    async fn write_groups(
        &self,
        topic: &str,
        next_offsets: &BTreeMap<i32, i64>,
        rows: &[EventRow<'_>],
    ) -> Result<u64, WarehouseError> {
        let groups = partition_groups(next_offsets, rows, self.writers);
        let writes = groups
            .iter()
            .map(|(offsets, rows)| self.write_partitions(topic, offsets, rows));
        let mut inserted = 0;
        let mut failure = None;
        // Every write runs to its end (a dropped one would leave its connection mid-protocol).
        for result in futures::future::join_all(writes).await {
            match result {
                Ok(n) => inserted += n,
                Err(error) => failure = failure.or(Some(error)),
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(inserted),
        }
    }

    /// The offset of the next message to read in `partition` of `topic`, as the group's last
    /// commit stored it; `None` before the first.
    pub async fn stored_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, WarehouseError> {
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

    /// Writes `batch`: its records and the offsets after them ([`Warehouse::write`]).
    pub async fn write_batch(&self, batch: &Batch) -> Result<u64, WarehouseError> {
        let rows: Vec<EventRow<'_>> = batch.records.iter().map(EventRow::from).collect();
        self.write(&batch.topic, &batch.next_offsets, &rows).await
    }

    /// Writes a batch read from `topic`: its `rows`, and `next_offsets`, the offset after each
    /// partition's last message (also of messages that are no rows, such as dead letters). The
    /// partitions go in up to `writers` transactions at once; returns how many rows were new. A
    /// statement refused for naming what the database lacks is a [`WarehouseError::Schema`].
    pub async fn write(
        &self,
        topic: &str,
        next_offsets: &BTreeMap<i32, i64>,
        rows: &[EventRow<'_>],
    ) -> Result<u64, WarehouseError> {
        let inserted = match self.write_groups(topic, next_offsets, rows).await {
            Ok(inserted) => inserted,
            Err(WarehouseError::Database(error)) if crate::schema::is_undefined_object(&error) => {
                return Err(self.schema_mismatch(&error).await);
            }
            Err(error) => return Err(error),
        };
        tracing::debug!(
            records = rows.len(),
            inserted,
            writers = self.writers,
            "warehouse batch committed"
        );
        Ok(inserted)
    }

    /// A commit refused for naming what the database lacks, as the columns missing now (the
    /// database's own words alone when it cannot be asked).
    async fn schema_mismatch(&self, refused: &sqlx::Error) -> WarehouseError {
        let missing = crate::schema::missing_columns(&self.pool, &self.derived)
            .await
            .unwrap_or_default();
        let refused = refused
            .as_database_error()
            .map_or_else(|| refused.to_string(), |e| e.message().to_string());
        WarehouseError::Schema(SchemaMismatch {
            missing,
            refused: Some(refused),
        })
    }
}

/// The partitions of a batch (`next_offsets`, the offset after each one's last row) dealt
/// round-robin into at most `writers` groups, each with the next offsets of its partitions and
/// its rows.
fn partition_groups<'a>(
    next_offsets: &BTreeMap<i32, i64>,
    rows: &[EventRow<'a>],
    writers: usize,
) -> Vec<(BTreeMap<i32, i64>, Vec<EventRow<'a>>)> {
    let count = writers.clamp(1, next_offsets.len().max(1));
    let mut groups: Vec<(BTreeMap<i32, i64>, Vec<EventRow<'a>>)> = vec![Default::default(); count];
    let mut group_of = HashMap::new();
    for (index, (&partition, &next)) in next_offsets.iter().enumerate() {
        groups[index % count].0.insert(partition, next);
        group_of.insert(partition, index % count);
    }
    for row in rows {
        if let Some(&group) = group_of.get(&row.partition) {
            groups[group].1.push(*row);
        }
    }
    groups
}
