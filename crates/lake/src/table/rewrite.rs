//! Rewriting small files into larger ones, per partition, under the compaction claim
//! ([`crate::table::claim`]), which is released after whatever the outcome: what `optimize`
//! ([`crate::ops::optimize`]) and the writer's compaction ([`crate::writer::compaction`]) both do.

use std::num::NonZeroU64;

use deltalake::operations::optimize::OptimizeType;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::{DeltaTable, FilterLiteral};
use serde::Serialize;

use crate::error::LakeError;
use crate::table::claim::{self, Claim};
use crate::table::conflict::ConflictRetries;
use crate::table::user_metadata::commit_properties;

/// The size files are compacted towards when none is given, in bytes.
pub const DEFAULT_TARGET_SIZE: u64 = 128 * 1024 * 1024;

/// What `optimize` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Optimized {
    pub files_removed: u64,
    pub files_added: u64,
    pub partitions_optimized: u64,
    pub new_version: Option<u64>,
}

/// Compacts under `claim`, and releases it after, whatever the outcome. (The release cannot ride
/// on the compaction's commit: delta-rs 1.1's optimize keeps only the commit's metadata.)
pub(crate) async fn rewrite(
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
