//! The compaction claim in the log (DESIGN.md §8.5). Two compactions of the same files must not
//! both commit: each would add its own copy of the rows, and delta-rs lets two commits that
//! remove the same files with `dataChange = false` both through. So whatever compacts (a writer
//! beside its commits, or `optimize`) takes turns through a `txn` action of the app id
//! [`CLAIM_APP_ID`]: an odd version while held (since `(version - 1) / 2` ms), the next, even
//! version once released. Two claims made at once conflict in Delta's own check (a concurrent
//! transaction on the same app id), so one wins and the other does not get it; a claim held
//! longer than [`CLAIM_EXPIRY`] belonged to a process that died and is taken over.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};

use crate::error::{LakeError, fold_into_lake_error};
use crate::table::user_metadata::commit_properties;

/// The `txn` app id of the compaction claim.
pub(crate) const CLAIM_APP_ID: &str = "lakehouse.compaction";

/// A claim held this long belonged to a process that died: another may take it over.
const CLAIM_EXPIRY: chrono::Duration = chrono::Duration::minutes(30);

/// How often a compaction that waits for its turn looks at the log again.
#[cfg(feature = "query")]
const CLAIM_POLL: Duration = Duration::from_secs(1);

/// A claim another compaction held for all the time this one would wait.
#[derive(Debug, thiserror::Error)]
#[error(
    "another compaction (a delta-writer's, or another optimize) has held the table's compaction claim since {since}; waited {waited:?} for it: run again later"
)]
pub struct ClaimHeld {
    pub since: DateTime<Utc>,
    pub waited: Duration,
}
fold_into_lake_error!(ClaimHeld);

/// A claim taken: [`release`] commits the next version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim(i64);

/// Takes the claim, or `Err(since)` when another compaction holds it.
pub(crate) async fn take(table: &mut DeltaTable) -> Result<Result<Claim, DateTime<Utc>>, LakeError> {
    table.update_state().await?;
    let held = table
        .snapshot()?
        .transaction_version(table.log_store().as_ref(), CLAIM_APP_ID)
        .await?;
    let now = Utc::now();
    if let Some(version) = held.filter(|version| version % 2 == 1) {
        let since = DateTime::from_timestamp_millis((version - 1) / 2).unwrap_or(now);
        if now - since < CLAIM_EXPIRY {
            return Ok(Err(since));
        }
        tracing::warn!(%since, "taking over a compaction claim its holder never released");
    }
    let claim = Claim(now.timestamp_millis() * 2 + 1);
    match commit(table, claim.0, "taken").await {
        Ok(()) => {
            table.update_state().await?;
            Ok(Ok(claim))
        }
        Err(error) if error.is_commit_conflict() => Ok(Err(now)),
        Err(error) => Err(error),
    }
}

/// Takes the claim, waiting up to `wait` (looking every second) while another compaction holds it:
/// what `optimize` does (only with the `query` feature; the writer skips its turn instead).
#[cfg(feature = "query")]
pub(crate) async fn take_waiting(table: &mut DeltaTable, wait: Duration) -> Result<Claim, LakeError> {
    let started = tokio::time::Instant::now();
    let mut said = false;
    loop {
        let since = match take(table).await? {
            Ok(claim) => return Ok(claim),
            Err(since) => since,
        };
        let waited = started.elapsed();
        if waited >= wait {
            return Err(ClaimHeld { since, waited }.into());
        }
        if !std::mem::replace(&mut said, true) {
            tracing::info!(%since, wait_secs = wait.as_secs(), "another compaction holds the table's compaction claim: waiting for its turn");
        }
        tokio::time::sleep(CLAIM_POLL.min(wait - waited)).await;
    }
}

/// Releases `claim` with a commit of its own, unless it is no longer ours (it expired and was
/// taken over: releasing it would free another's).
pub(crate) async fn release(table: &mut DeltaTable, claim: Claim) {
    let released = async {
        table.update_state().await?;
        let now = table
            .snapshot()?
            .transaction_version(table.log_store().as_ref(), CLAIM_APP_ID)
            .await?;
        if now == Some(claim.0) {
            commit(table, claim.0 + 1, "released").await?;
        }
        Ok::<_, LakeError>(())
    };
    if let Err(error) = released.await {
        // The store failed, or another claim won meanwhile: ours expires.
        tracing::warn!(%error, "cannot release the compaction claim; it expires in {} minutes", CLAIM_EXPIRY.num_minutes());
    }
}

/// Commits the claim's `version` alone: no data, one `txn` action, and a note for `history`
/// (`{"compaction_claim": "taken"}` or `"released"`).
async fn commit(table: &DeltaTable, version: i64, what: &str) -> Result<(), LakeError> {
    let note = serde_json::json!({ "compaction_claim": what }).to_string();
    let properties = commit_properties(Some(&note))
        .with_application_transactions(vec![Transaction::new(CLAIM_APP_ID, version)])
        .with_create_checkpoint(false)
        .with_cleanup_expired_logs(Some(false));
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: None,
        predicate: None,
    };
    CommitBuilder::from(properties)
        .build(Some(table.snapshot()?), table.log_store(), operation)
        .await?;
    Ok(())
}
