//! The audit log of DESIGN.md §10: every administrative action (api keys, the lake's restore,
//! vacuum, optimize and a user's export or erasure, the warehouse's rebuild, either sink's
//! reset-offsets, DLQ replays) leaves one record — when, who, what, with which arguments (never a
//! secret) and how it ended — in the warehouse's append-only `audit_log` table and as a JSON log
//! line. The lake's operations carry the same record in their commit's `userMetadata`
//! ([`Action::commit_note`]), so the lake's history tells who changed it even without the warehouse.

mod action;
mod actor;
mod command;
mod store;

pub use action::{Action, AuditRecord, pseudonym, user_arguments};
pub use actor::{ActorArgs, os_user};
pub use command::Audited;
pub use store::{AuditError, AuditLog, Filter, list};
