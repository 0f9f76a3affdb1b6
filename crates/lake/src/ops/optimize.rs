//! `optimize`: compacts small files per partition, optionally rewriting each partition's rows in
//! Z-order. The commit carries `dataChange = false`, so streaming readers ignore it; running
//! writers are unaffected (appends do not conflict with it) and a concurrent delete makes it
//! retry. It takes its turn with the writers' compactions through the claim in the log
//! ([`crate::table::claim`]), waiting while one holds it.

use std::time::Duration;

use deltalake::DeltaTable;
use deltalake::operations::optimize::OptimizeType;

use crate::error::LakeError;
use crate::table::claim;
use crate::table::rewrite::{DEFAULT_TARGET_SIZE, Optimized, rewrite};

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
    rewrite(table, options.target_size, kind, &[], None, metadata, claim).await
}
