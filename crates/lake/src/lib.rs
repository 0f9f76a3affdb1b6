//! The lake of DESIGN.md §8: the Delta table `<lake>/events` that the delta-writer appends to
//! exactly once, and everything done with it afterwards — time travel, SQL (read-only when people
//! type it), history and each commit's changes, statistics, the diff of two versions, restore,
//! vacuum, optimize, a user's rows (GDPR), verify, backup; the columns a newer contract adds
//! (evolve). Laid out by role: `table` (the table's format, log and reading, which everything
//! uses), `writer` (the writer's internals) and `ops` (the operations people run, one a module).
//! Operations return [`LakeError`], into which each module's own typed error folds.
//!
//! What reads the table with SQL (DataFusion) is behind the `query` feature: the writer and the
//! operations that only read and write the log and whole files build without it.

mod error;
mod ops;
mod table;
mod writer;

pub use error::LakeError;
pub use ops::backup::{BackedUp, BackupError, backup};
#[cfg(feature = "query")]
pub use ops::diff::{Diff, DiffRow, diff};
#[cfg(feature = "query")]
pub use ops::executor::{
    DEFAULT_QUERY_MEMORY_LIMIT_MIB, DEFAULT_QUERY_TIMEOUT, MIB, QueryExecutor, QueryOptions,
};
#[cfg(feature = "query")]
pub use ops::gdpr::{EraseOptions, Erased, User, delete_user, export_user};
pub use ops::history::{Commit, history};
#[cfg(feature = "query")]
pub use ops::optimize::{DEFAULT_CLAIM_WAIT, OptimizeOptions, optimize};
#[cfg(feature = "query")]
pub use ops::read_only::{QueryAnswer, QueryRefused};
pub use ops::restore::{RESTORE_WINDOW_HOURS, RestoreOptions, Restored, restore};
pub use ops::tables::{has_table, tables};
pub use ops::vacuum::{VacuumError, VacuumOptions, Vacuumed, vacuum};
#[cfg(feature = "query")]
pub use ops::verify::{BadFile, Verified, verify};
pub use ops::versions::{VersionChanges, version_changes};
pub use table::checkpoint::{Checkpoint, LogSize, last_checkpoint, log_size};
pub use table::claim::ClaimHeld;
pub use table::conflict::CONFLICT_RETRIES;
pub use table::create::{DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_LOG_RETENTION_HOURS, open_or_create};
pub use table::decode::{RowError, to_records};
pub use table::encode::to_record_batch;
pub use table::evolve::{SchemaError, add_missing_columns};
pub use table::location::{
    DEFAULT_AWS_REGION, DEFAULT_LAKE_URI, EVENTS_TABLE, LakeLocation, LocationError, open_table, table_url,
};
pub use table::log::{LogEntry, LogError, event_ids_in_file, first_appearances, log_entry};
pub use table::probe::{ConditionalPut, UnsafeStore, conditional_put, ensure_safe_commits};
#[cfg(feature = "query")]
pub use table::query::{OutputFormat, event_id_counts, query, render, session};
pub use table::rewrite::{DEFAULT_TARGET_SIZE, Optimized};
pub use table::routing::{Field, Routing, RoutingError, Rule, TableName, TablePath};
pub use table::schema::{PARTITION_COLUMN, events_schema};
#[cfg(feature = "query")]
pub use table::stats::events_per_type;
pub use table::stats::{
    Column, PartitionStats, SMALL_FILE_BYTES, TableStats, newest_received_at, table_stats,
};
pub use table::time_travel::{AsOf, NoTable, open_at};
pub use writer::compaction::CompactionOptions;
pub use writer::dedup::{DEDUP_MAX_IDS, DEDUP_WINDOW_HOURS, DedupOptions};
pub use writer::routed::{IDLE, RoutedWriter};
pub use writer::{DEFAULT_GROUP_ID, EventsWriter, Stage, WriterOptions};
