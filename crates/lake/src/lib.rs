//! The lake of DESIGN.md §8: the Delta table `<lake>/events` that the delta-writer appends to
//! exactly once, and everything done with it afterwards — time travel, SQL (read-only when people
//! type it), history and each commit's changes, statistics, the diff of two versions, restore,
//! vacuum, optimize, a user's rows (GDPR), verify; the columns a newer contract adds (evolve). One operation per module; operations return
//! [`LakeError`], into which each module's own typed error folds.

mod append;
mod backup;
mod checkpoint;
mod claim;
mod compaction;
mod conflict;
mod create;
mod dedup;
mod diff;
mod error;
mod evolve;
mod executor;
mod file_stats;
mod gdpr;
mod history;
mod location;
mod log;
mod offsets;
mod optimize;
mod probe;
pub mod progress;
mod query;
mod read_only;
mod restore;
mod schema;
mod staging;
mod stats;
mod time_travel;
mod user_metadata;
mod vacuum;
mod verify;
mod versions;
mod windows;
mod writer;

pub use backup::{BackedUp, BackupError, backup};
pub use checkpoint::{Checkpoint, LogSize, last_checkpoint, log_size};
pub use claim::ClaimHeld;
pub use compaction::CompactionOptions;
pub use conflict::CONFLICT_RETRIES;
pub use create::{DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_LOG_RETENTION_HOURS, open_or_create};
pub use dedup::{DEDUP_MAX_IDS, DEDUP_WINDOW_HOURS, DedupOptions};
pub use diff::{Diff, DiffRow, diff};
pub use error::LakeError;
pub use evolve::{SchemaError, add_missing_columns};
pub use executor::{DEFAULT_QUERY_MEMORY_LIMIT_MIB, DEFAULT_QUERY_TIMEOUT, MIB, QueryExecutor, QueryOptions};
pub use gdpr::{EraseOptions, Erased, User, delete_user, export_user};
pub use history::{Commit, history};
pub use location::{
    DEFAULT_AWS_REGION, DEFAULT_LAKE_URI, EVENTS_TABLE, LakeLocation, LocationError, open_table, table_url,
};
pub use log::{LogEntry, LogError, event_ids_in_file, first_appearances, log_entry};
pub use optimize::{DEFAULT_CLAIM_WAIT, DEFAULT_TARGET_SIZE, OptimizeOptions, Optimized, optimize};
pub use probe::{ConditionalPut, UnsafeStore, conditional_put, ensure_safe_commits};
pub use query::{OutputFormat, event_id_counts, query, render, session};
pub use read_only::{QueryAnswer, QueryRefused};
pub use restore::{RESTORE_WINDOW_HOURS, RestoreOptions, Restored, restore};
pub use schema::{PARTITION_COLUMN, RowError, events_schema, to_record_batch, to_records};
pub use stats::{
    Column, PartitionStats, SMALL_FILE_BYTES, TableStats, events_per_type, newest_received_at, table_stats,
};
pub use time_travel::{AsOf, NoTable, open_at};
pub use vacuum::{VacuumError, VacuumOptions, Vacuumed, vacuum};
pub use verify::{BadFile, Verified, verify};
pub use versions::{VersionChanges, version_changes};
pub use writer::{EventsWriter, Stage, WriterOptions};
