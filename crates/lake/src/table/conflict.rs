//! Retrying an operation that a concurrent commit conflicted with: Delta refuses a commit whose
//! reads another commit invalidated (files it rewrote were removed, offsets of its partitions were
//! stored), and the operation may succeed on the reloaded table.

use crate::error::LakeError;

/// How many concurrent commits a commit may be retried past, each checked for conflicts (delta-rs
/// gives up after 15 by default: a compaction beside writers that commit several times a second
/// can meet more while it rewrites files).
pub(crate) const COMMIT_ATTEMPTS: usize = 100;

/// How often an operation is retried when concurrent commits keep conflicting with it, before
/// the conflict is returned (a write then goes back to the consume loop, which retries with
/// backoff).
pub const CONFLICT_RETRIES: u32 = 5;

/// The conflicts one run of an operation has met. Each attempt's result goes through
/// [`ConflictRetries::again`]; the operation reloads the table and tries again while it says so.
#[derive(Debug)]
pub(crate) struct ConflictRetries {
    operation: &'static str,
    conflicts: u32,
}

impl ConflictRetries {
    pub(crate) fn new(operation: &'static str) -> Self {
        Self {
            operation,
            conflicts: 0,
        }
    }

    /// True when `result` failed by a commit conflict, or by more concurrent commits than its
    /// commit would pass (delta-rs's optimize passes 15 whatever it is given), and the operation
    /// has been retried fewer than [`CONFLICT_RETRIES`] times: then it should reload the table
    /// and try again.
    pub(crate) fn again<T>(&mut self, result: &Result<T, LakeError>) -> bool {
        let Err(error) = result else { return false };
        if !(error.is_commit_conflict() || error.is_outrun_by_commits()) || self.conflicts >= CONFLICT_RETRIES
        {
            return false;
        }
        self.conflicts += 1;
        tracing::info!(operation = self.operation, %error, conflicts = self.conflicts,
            "a concurrent commit conflicted; retrying on the reloaded table");
        true
    }
}

#[cfg(test)]
mod tests {
    use deltalake::DeltaTableError;
    use deltalake::kernel::transaction::{CommitConflictError, TransactionError};

    use super::*;

    fn conflict() -> Result<(), LakeError> {
        Err(DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(CommitConflictError::ConcurrentAppend),
        }
        .into())
    }

    #[test]
    fn conflicts_are_retried_up_to_the_limit_and_other_results_never() {
        let mut retries = ConflictRetries::new("test");
        for _ in 0..CONFLICT_RETRIES {
            assert!(retries.again(&conflict()));
        }
        assert!(!retries.again(&conflict()), "the last conflict is returned");
        let mut retries = ConflictRetries::new("test");
        assert!(!retries.again(&Ok(())));
        assert!(!retries.again::<()>(&Err(DeltaTableError::NotATable("t".into()).into())));
    }

    #[test]
    fn a_commit_outrun_by_concurrent_commits_is_retried() {
        let outrun: Result<(), LakeError> = Err(DeltaTableError::Transaction {
            source: TransactionError::MaxCommitAttempts(15),
        }
        .into());
        assert!(ConflictRetries::new("test").again(&outrun));
    }

    #[test]
    fn a_schema_change_committed_meanwhile_is_retried() {
        let metadata_changed: Result<(), LakeError> = Err(DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(CommitConflictError::MetadataChanged),
        }
        .into());
        assert!(ConflictRetries::new("test").again(&metadata_changed));
    }
}
