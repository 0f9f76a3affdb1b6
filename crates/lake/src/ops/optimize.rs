//! `optimize`: compacts small files per partition, optionally rewriting each partition's rows in
//! Z-order, with delta-rs's optimize (DataFusion reads the rows: Z-order sorts them). The writer's
//! own compaction rewrites files without it ([`crate::table::rewrite`]). The commit carries `dataChange = false`, so streaming readers ignore it; running
//! writers are unaffected (appends do not conflict with it) and a concurrent delete makes it
//! retry. It takes its turn with the writers' compactions through the claim in the log
//! ([`crate::table::claim`]), waiting while one holds it.

use std::num::NonZeroU64;
use std::time::Duration;

use deltalake::DeltaTable;
use deltalake::operations::optimize::OptimizeType;

use crate::error::LakeError;
use crate::table::claim::{self, Claim};
use crate::table::conflict::ConflictRetries;
use crate::table::rewrite::{DEFAULT_TARGET_SIZE, Optimized};
use crate::table::user_metadata::commit_properties;

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
    rewrite(table, options.target_size, kind, metadata, claim).await
}

/// Compacts under `claim`, and releases it after, whatever the outcome. (The release cannot ride
/// on the compaction's commit: delta-rs 1.1's optimize keeps only the commit's metadata.)
async fn rewrite(
    table: DeltaTable,
    target_size: u64,
    kind: impl Fn() -> OptimizeType,
    user_metadata: Option<&str>,
    claim: Claim,
) -> Result<Optimized, LakeError> {
    let target = NonZeroU64::new(target_size).unwrap_or(NonZeroU64::MIN);
    let mut table = table;
    let mut retries = ConflictRetries::new("optimize");
    let optimized = loop {
        let optimized = table
            .clone()
            .optimize()
            .with_target_size(target)
            .with_type(kind())
            .with_commit_properties(commit_properties(user_metadata))
            .await
            .map_err(LakeError::from);
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
