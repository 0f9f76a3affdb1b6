//! The operations people run on the table, one a module, with one calling convention: an
//! operation that commits takes the table (`DeltaTable`, owned) and its options as a struct by
//! reference, and returns what it did with the version it made; one that reads takes `&DeltaTable`.
//! `backup` alone takes locations: it copies the store's objects, not a version of the table.
//! Each records who ran it through the options' `user_metadata` when it commits.

pub(crate) mod backup;
#[cfg(feature = "query")]
pub(crate) mod diff;
#[cfg(feature = "query")]
pub(crate) mod executor;
#[cfg(feature = "query")]
pub(crate) mod gdpr;
pub(crate) mod history;
#[cfg(feature = "query")]
pub(crate) mod optimize;
#[cfg(feature = "query")]
pub(crate) mod read_only;
pub(crate) mod restore;
pub(crate) mod tables;
pub(crate) mod vacuum;
#[cfg(feature = "query")]
pub(crate) mod verify;
pub(crate) mod versions;
