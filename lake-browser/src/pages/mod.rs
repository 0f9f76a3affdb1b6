//! One module per page; each handler reads what it shows through `crates/lake`.

pub mod diff;
pub mod history;
pub mod login;
pub mod overview;
pub mod restore;
pub mod sql;
pub mod tables;
