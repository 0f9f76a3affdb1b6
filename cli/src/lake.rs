//! The lake side: one table of the lake at the chosen version, read with DataFusion, as counts per
//! hour and event type (for reconcile) or as the events of a range (for rebuild). Which tables,
//! and which share of the warehouse they stand for, is [`crate::lake_tables`].

use chrono::{DateTime, Utc};
use deltalake::arrow::array::AsArray;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type};
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::prelude::SessionContext;
use lakehouse_lake::{AsOf, LakeLocation, open_at, session};
use lakehouse_warehouse::counts::Counts;
use lakehouse_warehouse::range::HourRange;

use crate::error::{Result, SyncError};

/// One table of the lake at one version, registered as `events` for SQL.
pub struct LakeSource {
    version: Option<u64>,
    context: SessionContext,
}

impl std::fmt::Debug for LakeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeSource")
            .field("version", &self.version)
            .finish()
    }
}

impl LakeSource {
    /// The table at the version `at` selects (the latest when neither is given).
    pub async fn open(lake: &LakeLocation, at: &AsOf) -> Result<Self> {
        let table = open_at(lake, at).await?;
        Ok(Self {
            version: table.version(),
            context: session(&table).await?,
        })
    }

    /// The version being read.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Events per hour (of their `timestamp`) and event type in `range`. An `event_id` the lake
    /// holds twice (a client retry outside the writer's deduplication window) counts once, as the
    /// warehouse stores it once.
    pub async fn counts(&self, range: &HourRange) -> Result<Counts> {
        let sql = format!(
            r#"SELECT CAST(date_part('epoch', date_trunc('hour', "timestamp")) AS BIGINT) AS hour,
                      event_type, count(DISTINCT event_id) AS events
               FROM events WHERE {}
               GROUP BY 1, 2"#,
            range_filter(range)
        );
        let batches = self.context.sql(&sql).await?.collect().await?;
        let mut counts = Counts::default();
        for batch in &batches {
            let hours = cast(batch.column(0), &DataType::Int64)?;
            let types = cast(batch.column(1), &DataType::Utf8)?;
            let events = cast(batch.column(2), &DataType::Int64)?;
            let (hours, types, events) = (
                hours.as_primitive::<Int64Type>(),
                types.as_string::<i32>(),
                events.as_primitive::<Int64Type>(),
            );
            for row in 0..batch.num_rows() {
                let hour = DateTime::from_timestamp(hours.value(row), 0)
                    .ok_or_else(|| SyncError::Row(format!("hour {} out of range", hours.value(row))))?;
                counts.add(hour, types.value(row), events.value(row));
            }
        }
        Ok(counts)
    }

    /// How many rows the lake holds in `range` (an id it holds twice counts twice): what a rebuild
    /// reads.
    pub async fn rows(&self, range: &HourRange) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM events WHERE {}", range_filter(range));
        let batches = self.context.sql(&sql).await?.collect().await?;
        let mut rows = 0;
        for batch in &batches {
            let counts = cast(batch.column(0), &DataType::Int64)?;
            rows += counts.as_primitive::<Int64Type>().iter().flatten().sum::<i64>();
        }
        Ok(rows.unsigned_abs())
    }

    /// Every event in `range`, as a stream of arrow batches (see [`lakehouse_lake::to_records`]).
    pub async fn events(&self, range: &HourRange) -> Result<SendableRecordBatchStream> {
        let sql = format!("SELECT * FROM events WHERE {}", range_filter(range));
        Ok(self.context.sql(&sql).await?.execute_stream().await?)
    }
}

/// The SQL condition for `range`: on the partition column first, so that DataFusion reads only
/// the days the range touches, then on the exact timestamps.
fn range_filter(range: &HourRange) -> String {
    let (first, last) = range.days();
    let micros = |t: DateTime<Utc>| t.timestamp_micros();
    format!(
        r#"event_date BETWEEN DATE '{first}' AND DATE '{last}'
           AND CAST("timestamp" AS BIGINT) >= {} AND CAST("timestamp" AS BIGINT) < {}"#,
        micros(range.start),
        micros(range.end)
    )
}
