//! `optimize`: compacts small files per partition, optionally rewriting each partition's rows in
//! Z-order. The commit carries `dataChange = false`, so streaming readers ignore it; running
//! writers are unaffected (appends do not conflict with it) and a concurrent optimize or delete
//! makes it retry.

use std::num::NonZeroU64;

use deltalake::DeltaTable;
use deltalake::operations::optimize::OptimizeType;
use serde::Serialize;

use crate::conflict::ConflictRetries;
use crate::error::LakeError;
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
}

impl Default for OptimizeOptions {
    fn default() -> Self {
        Self {
            target_size: DEFAULT_TARGET_SIZE,
            zorder: Vec::new(),
            user_metadata: None,
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

/// Compacts small files into files of about `options.target_size` bytes, per partition.
pub async fn optimize(table: DeltaTable, options: &OptimizeOptions) -> Result<Optimized, LakeError> {
    let target = NonZeroU64::new(options.target_size).unwrap_or(NonZeroU64::MIN);
    let kind = || {
        if options.zorder.is_empty() {
            OptimizeType::Compact
        } else {
            OptimizeType::ZOrder(options.zorder.clone())
        }
    };
    let mut table = table;
    let mut retries = ConflictRetries::new("optimize");
    let (table, metrics) = loop {
        let optimized = table
            .clone()
            .optimize()
            .with_target_size(target)
            .with_type(kind())
            .with_commit_properties(commit_properties(options.user_metadata.as_deref()))
            .await
            .map_err(LakeError::from);
        if !retries.again(&optimized) {
            break optimized?;
        }
        table.update_state().await?;
    };
    Ok(Optimized {
        files_removed: metrics.num_files_removed,
        files_added: metrics.num_files_added,
        partitions_optimized: metrics.partitions_optimized,
        new_version: table.version(),
    })
}
