//! `optimize`: compacts small files per partition, optionally rewriting each partition's rows in
//! Z-order. The commit carries `dataChange = false`, so streaming readers ignore it; running
//! writers are unaffected (appends do not conflict with it) and a concurrent delete makes it
//! retry. It takes its turn with the writers' compactions through the claim in the log
//! ([`crate::claim`]), waiting while one holds it.

use std::num::NonZeroU64;
use std::time::Duration;

use chrono::NaiveDate;
use deltalake::operations::optimize::OptimizeType;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::{DeltaTable, FilterLiteral, FilterOp, FilterValue};
use serde::Serialize;

use crate::claim::{self, Claim};
use crate::conflict::ConflictRetries;
use crate::error::LakeError;
use crate::schema::PARTITION_COLUMN;
use crate::staging::writer_properties;
use crate::user_metadata::commit_properties;

/// The size files are compacted towards when none is given, in bytes.
pub const DEFAULT_TARGET_SIZE: u64 = 128 * 1024 * 1024;

/// How to compact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptimizeOptions {
    /// The size files are compacted towards, in bytes.
    pub target_size: u64,
    /// Also order each partition's rows in Z-order over these columns (not `event_date`):
    /// queries filtering on them read fewer files.
    pub zorder: Vec<String>,
    /// Recorded in the commit's `commitInfo.userMetadata` (who optimized, and why).
    pub user_metadata: Option<String>,
    /// How long to wait while another compaction (a writer's) holds the claim; then
    /// [`crate::ClaimHeld`].
    pub claim_wait: Duration,
}

/// How long `optimize` waits for its turn by default: as long as a claim can be held before it
/// is taken over, so that a claim left by a writer that died never stops it.
pub const DEFAULT_CLAIM_WAIT: Duration = Duration::from_secs(31 * 60);

impl Default for OptimizeOptions {
    fn default() -> Self {
        Self {
            target_size: DEFAULT_TARGET_SIZE,
            zorder: Vec::new(),
            user_metadata: None,
            claim_wait: DEFAULT_CLAIM_WAIT,
        }
    }
}

/// What `optimize` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Optimized {
    pub files_removed: u64,
    pub files_added: u64,
    pub partitions_optimized: u64,
    pub new_version: Option<u64>,
}

/// Compacts small files into files of about `options.target_size` bytes, per partition, once
/// it holds the compaction claim.
pub async fn optimize(table: DeltaTable, options: &OptimizeOptions) -> Result<Optimized, LakeError> {
    let mut table = table;
    let claim = claim::take_waiting(&mut table, options.claim_wait).await?;
    let kind = || {
        if options.zorder.is_empty() {
            OptimizeType::Compact
        } else {
            OptimizeType::ZOrder(options.zorder.clone())
        }
    };
    let metadata = options.user_metadata.as_deref();
    run(table, options.target_size, kind, &[], None, metadata, claim).await
}

/// Rows per row group of the files the writer's compaction writes: the compacting task holds
/// about one row group, encoded, at a time.
const COMPACTION_ROW_GROUP_ROWS: usize = 128 * 1024;

/// Compacts only the `event_date` partitions `dates`, one file at a time, holding about one row
/// group: the writer's compaction (see [`crate::CompactionOptions`]), under its `claim`.
pub(crate) async fn compact_dates(
    table: DeltaTable,
    target_size: u64,
    dates: &[NaiveDate],
    claim: Claim,
) -> Result<Optimized, LakeError> {
    let days: Vec<String> = dates.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect();
    let filters = [(
        PARTITION_COLUMN,
        FilterOp::In,
        FilterValue::Set(days.iter().map(String::as_str).collect()),
    )];
    let properties = writer_properties()
        .set_max_row_group_row_count(Some(COMPACTION_ROW_GROUP_ROWS))
        .build();
    run(
        table,
        target_size,
        || OptimizeType::Compact,
        &filters,
        Some(properties),
        None,
        claim,
    )
    .await
}

/// Compacts under `claim`, and releases it after, whatever the outcome. (The release cannot ride
/// on the compaction's commit: delta-rs 1.1's optimize keeps only the commit's metadata.)
async fn run(
    table: DeltaTable,
    target_size: u64,
    kind: impl Fn() -> OptimizeType,
    filters: &[FilterLiteral<'_>],
    properties: Option<WriterProperties>,
    user_metadata: Option<&str>,
    claim: Claim,
) -> Result<Optimized, LakeError> {
    let target = NonZeroU64::new(target_size).unwrap_or(NonZeroU64::MIN);
    let mut table = table;
    let mut retries = ConflictRetries::new("optimize");
    let optimized = loop {
        let mut builder = table
            .clone()
            .optimize()
            .with_target_size(target)
            .with_type(kind())
            .with_filters(filters)
            .with_commit_properties(commit_properties(user_metadata));
        if let Some(properties) = &properties {
            builder = builder
                .with_writer_properties(properties.clone())
                .with_max_concurrent_tasks(1);
        }
        let optimized = builder.await.map_err(LakeError::from);
        if !retries.again(&optimized) {
            break optimized;
        }
        table.update_state().await?;
    };
    claim::release(&mut table, claim).await;
    let (table, metrics) = optimized?;
    Ok(Optimized {
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
        partitions_optimized: metrics.partitions_optimized,
        new_version: table.version(),
    })
}
