//! Reading back what the lake holds.

use std::collections::HashMap;

use lakehouse_lake::{AsOf, LakeLocation, event_id_counts, open_at};
use uuid::Uuid;

/// How many times each `event_id` is in the lake's latest version (an error before the table
/// exists, so that a wait goes on).
pub async fn id_counts(lake: impl Into<LakeLocation>) -> Result<HashMap<Uuid, i64>, String> {
    let table = open_at(&lake.into(), &AsOf::default())
        .await
        .map_err(|e| e.to_string())?;
    event_id_counts(&table).await.map_err(|e| e.to_string())
}
