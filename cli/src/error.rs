//! The one error type of the lakehouse command's own library code: the rebuild, reconcile, a
//! user across both stores, the dead-letter topic.

use lakehouse_lake::{RowError, TablePath};
use lakehouse_warehouse::WarehouseError;
use lakehouse_warehouse::range::RangeError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Range(#[from] RangeError),
    #[error("the lake: {0}")]
    Lake(#[from] lakehouse_lake::LakeError),
    #[error("reading the lake: {0}")]
    Query(#[from] deltalake::datafusion::error::DataFusionError),
    #[error("reading the lake: {0}")]
    Arrow(#[from] deltalake::arrow::error::ArrowError),
    #[error("the lake: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    #[error("a lake row cannot be read back as an event: {0}")]
    Row(String),
    #[error("the warehouse: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the warehouse: {0}")]
    Warehouse(WarehouseError),
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid threshold {0:?}: a number of events (e.g. 10) or a percentage (e.g. 0.5%)")]
    Threshold(String),
    #[error("Kafka: {0}")]
    Kafka(String),
    #[error(transparent)]
    Audit(#[from] lakehouse_audit::AuditError),
    /// The tables asked for cannot be read as asked (exit status 2).
    #[error(transparent)]
    Refused(#[from] TablesRefused),
    #[error("printing the result: {0}")]
    Output(#[from] serde_json::Error),
}

/// Why a rebuild or a reconcile would not read the tables asked for (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TablesRefused {
    #[error(
        "--version and --as-of choose a version of one table, and the lake at {lake} holds {tables} tables \
         (`lakehouse lake tables`): name one with --table"
    )]
    VersionOfMany { lake: String, tables: usize },
    #[error(
        "the warehouse cannot tell which of its events the table {0} holds, beside the lake's other tables \
         (only a project's table, projects/<project_id>, stands for a share it can tell): leave out --table \
         to read every table"
    )]
    NoShare(TablePath),
}

impl From<RowError> for SyncError {
    fn from(error: RowError) -> Self {
        match error {
            RowError::Arrow(error) => Self::Arrow(error),
            RowError::Invalid(reason) => Self::Row(reason),
        }
    }
}

/// The warehouse library's errors as the command has always reported them: a database error and
/// a row that cannot be read back keep their own variants.
impl From<WarehouseError> for SyncError {
    fn from(error: WarehouseError) -> Self {
        match error {
            WarehouseError::Database(error) => Self::Database(error),
            WarehouseError::Row(row) => Self::Row(row.0),
            error => Self::Warehouse(error),
        }
    }
}

impl SyncError {
    /// Worth running the same command again: a store was unreachable or a transaction was
    /// refused (e.g. a serialization failure), rather than the input or the data being wrong.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Database(error) => matches!(
                error,
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Database(_)
            ),
            Self::Lake(_) | Self::Delta(_) | Self::Query(_) => true,
            _ => false,
        }
    }
}

pub type Result<T, E = SyncError> = std::result::Result<T, E>;
