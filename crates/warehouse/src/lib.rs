//! The warehouse of DESIGN.md §7: PostgreSQL (with TimescaleDB where it exists) holding the raw
//! events, the tables the dashboards read and the Kafka offsets they cover. Its schema (the
//! migrations, the only place its tables are defined) and the checks that a database has it; the
//! batch load by binary `COPY`, one transaction per group of partitions; the derived tables and
//! the fold that keeps them; grants, retention and TimescaleDB; and what `lakehouse` does to
//! it: a range rebuilt from other events, a user's rows erased or read, counts per hour. It takes
//! events as plain data ([`EventRow`]) and needs no Kafka client.

pub mod api_keys;
mod copy;
pub mod counts;
mod derived;
pub mod erase;
pub mod fold;
pub mod grants;
mod load;
mod migrations;
pub mod project_readers;
pub mod range;
pub mod rebuild;
pub mod retention;
mod roles;
mod row;
mod schema;
mod share;
pub mod timescale;
mod warehouse;

pub use derived::{Bucket, DerivedTable, DerivedTables, UnknownTable};
pub use fold::fold_queue;
pub use load::{Stage, copy_events, create_staging, insert_events, insert_new_events};
pub use migrations::create_audit_log;
pub use row::{EVENT_COLUMNS, EventRow, InvalidRow, StoredEvent, column_list};
pub use schema::SchemaMismatch;
pub use share::Share;
pub use warehouse::{MAX_WRITERS, Warehouse, WarehouseError};

/// The stream-processor's consumer group unless configured otherwise: its offsets are rows of
/// this group in the warehouse.
pub const DEFAULT_GROUP_ID: &str = "lakehouse-warehouse";

/// The warehouse of the local stack (`scripts/stack`), the default wherever a database is needed.
pub const LOCAL_DATABASE_URL: &str = "postgres://lakehouse:lakehouse@127.0.0.1:5432/lakehouse";
