//! The table as every part of the lake knows it: where it is, its schema and how rows are encoded
//! into Parquet and decoded back, its log (commits, checkpoints, the compaction claim, the
//! `userMetadata` of a commit), how it is created and evolved, how a commit that lost a race is
//! retried, and how it is read (time travel, a SQL session, statistics). The writer
//! ([`crate::writer`]) and the operations ([`crate::ops`]) are built on these; nothing here uses
//! either.

pub(crate) mod checkpoint;
pub(crate) mod claim;
pub(crate) mod conflict;
pub(crate) mod create;
pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod evolve;
pub(crate) mod file_stats;
pub(crate) mod location;
pub(crate) mod log;
pub(crate) mod probe;
#[cfg(feature = "query")]
pub(crate) mod query;
pub(crate) mod rewrite;
pub(crate) mod routing;
pub(crate) mod schema;
pub(crate) mod stats;
pub(crate) mod time_travel;
pub(crate) mod user_metadata;
