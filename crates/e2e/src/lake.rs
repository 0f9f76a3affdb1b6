//! Reading back what the lake holds, through `lakehouse-lake` as any reader of the table would:
//! each event's count, when each first became visible, and a scan of its text columns.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::{DataType, Int64Type};
use lakehouse_lake::{AsOf, LakeLocation, event_id_counts, first_appearances, open_at, query};
use lakehouse_telemetry::Secret;
use lakehouse_testkit::Stack;
use uuid::Uuid;

/// The events table of a test's lake.
#[derive(Debug, Clone)]
pub struct Lake {
    pub location: LakeLocation,
}

impl Lake {
    /// A lake at `location`.
    pub fn new(location: LakeLocation) -> Self {
        Self { location }
    }

    /// A fresh lake in the stack's bucket, reached with the stack's credentials.
    pub fn on_stack(stack: &Stack, name: &str) -> Self {
        Self::new(LakeLocation {
            uri: stack.s3_lake_uri(name),
            aws_endpoint_url: Some(stack.aws_endpoint_url.clone()),
            aws_region: stack.aws_region.clone(),
            aws_access_key_id: Some(stack.aws_access_key_id.clone()),
            aws_secret_access_key: Some(Secret::new(stack.aws_secret_access_key.clone())),
            single_writer: false,
        })
    }

    /// The `--lake-uri` and `--aws-*` flags that point a service at this lake.
    pub fn flags(&self) -> Vec<String> {
        let location = &self.location;
        let mut flags = vec![format!("--lake-uri={}", location.uri)];
        if let Some(endpoint) = &location.aws_endpoint_url {
            flags.push(format!("--aws-endpoint-url={endpoint}"));
        }
        if let Some(key) = &location.aws_access_key_id {
            flags.push(format!("--aws-access-key-id={key}"));
        }
        if let Some(secret) = &location.aws_secret_access_key {
            flags.push(format!("--aws-secret-access-key={}", secret.expose()));
        }
        flags.push(format!("--aws-region={}", location.aws_region));
        flags
    }

    /// The table's latest version (an error before the table exists).
    async fn table(&self) -> Result<DeltaTable, String> {
        open_at(&self.location, &AsOf::default())
            .await
            .map_err(|e| e.to_string())
    }

    /// How many times each `event_id` is in the lake's latest version (an error before the table
    /// exists, so that a wait goes on).
    pub async fn id_counts(&self) -> Result<HashMap<Uuid, i64>, String> {
        let table = self.table().await?;
        event_id_counts(&table).await.map_err(|e| e.to_string())
    }

    /// When each event first became visible in the lake: the time of the commit that first added
    /// a file holding it (taken by the writer just before it writes the commit's log file).
    pub async fn first_visible(&self) -> HashMap<Uuid, DateTime<Utc>> {
        let table = self.table().await.expect("the table");
        first_appearances(&table).await.expect("the lake's log")
    }

    /// Rows of the lake's latest version with any of `needles` in any text column.
    pub async fn rows_holding(&self, needles: &[&str]) -> i64 {
        let table = self.table().await.expect("the table");
        let batches = query(&table, "SELECT * FROM events LIMIT 1")
            .await
            .expect("the schema");
        let schema = batches.first().expect("a row").schema();
        let text_columns: Vec<String> = schema
            .fields()
            .iter()
            .filter(|f| {
                matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            })
            .map(|f| format!("\"{}\"", f.name()))
            .collect();
        assert!(
            text_columns.len() > 5,
            "the lake's text columns: {text_columns:?}"
        );
        let condition: Vec<String> = text_columns
            .iter()
            .flat_map(|column| {
                needles
                    .iter()
                    .map(move |ip| format!("strpos(coalesce({column}, ''), '{ip}') > 0"))
            })
            .collect();
        let sql = format!("SELECT count(*) FROM events WHERE {}", condition.join(" OR "));
        let batches = query(&table, &sql).await.expect("the scan");
        let counts = batches[0].column(0);
        assert!(!counts.is_null(0));
        counts.as_primitive::<Int64Type>().value(0)
    }
}
