//! The crate's one error: what the store, Delta, DataFusion and arrow report, and each
//! operation's own error (a module's `*Error` type), folded in.

use deltalake::DeltaTableError;
use deltalake::arrow::error::ArrowError;
#[cfg(feature = "query")]
use deltalake::datafusion::error::DataFusionError;
use deltalake::kernel::transaction::TransactionError;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("Delta: {0}")]
    Delta(#[from] DeltaTableError),
    #[error("cannot build the arrow batch: {0}")]
    Arrow(#[from] ArrowError),
    /// A query failed (only with the `query` feature).
    #[cfg(feature = "query")]
    #[error("query: {0}")]
    Query(#[from] DataFusionError),
    /// What an operation itself refused or could not read: one of the modules' error types
    /// (`LocationError`, `NoTable`, `UnsafeStore`, `VacuumError`, `RowError`, `LogError`), which
    /// `downcast_ref` recovers.
    #[error(transparent)]
    Operation(Box<dyn std::error::Error + Send + Sync>),
}

impl LakeError {
    /// True when another commit conflicted with ours: the operation may succeed on the reloaded
    /// table.
    pub fn is_commit_conflict(&self) -> bool {
        matches!(
            self,
            Self::Delta(DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(_),
            })
        )
    }

    /// True when more commits landed meanwhile than ours would pass (delta-rs's optimize passes
    /// 15 whatever it is given): the operation may succeed on the reloaded table.
    pub fn is_outrun_by_commits(&self) -> bool {
        matches!(
            self,
            Self::Delta(DeltaTableError::Transaction {
                source: TransactionError::MaxCommitAttempts(_),
            })
        )
    }

    /// The operation's own error, when it is of type `E`.
    pub fn operation<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            Self::Operation(error) => error.downcast_ref(),
            _ => None,
        }
    }
}

/// Folds an operation's own error type into [`LakeError`].
macro_rules! fold_into_lake_error {
    ($error:ty) => {
        impl From<$error> for $crate::error::LakeError {
            fn from(error: $error) -> Self {
                Self::Operation(Box::new(error))
            }
        }
    };
}
pub(crate) use fold_into_lake_error;
