//! Test helpers for the real components that `scripts/stack up` starts. Tests read where the stack
//! is from the settings `scripts/stack env` prints (the environment overrides each), and make
//! their own topic, database and lake prefix, so that tests run in parallel without touching each
//! other or the pipeline's own data.
//!
//! Nothing here depends on a service crate: each service's tests use this crate, and the
//! warehouse oracle is SQL, not the stream-processor's code.

pub mod browser;
pub mod child;
pub mod dashboards;
pub mod database;
pub mod faults;
pub mod grafana_sql;
pub mod logs;
pub mod oracle;
pub mod repo;
pub mod restart;
pub mod service;
pub mod stack;
pub mod topic;
pub mod wait;
pub mod warehouse;
pub mod watermarks;
pub mod workload;

pub use browser::Browser;
pub use child::{
    Running, SESSION_TIMEOUT, binary, random_between, run_to_end, short_session_flag, spawn_service,
    spawn_service_logging_to, terminate,
};
pub use database::TempDatabase;
pub use faults::{Frozen, Part};
pub use oracle::{derived_mismatches, derived_mismatches_in, empty_derived_tables};
pub use stack::Stack;
pub use topic::{
    END_MARKER, TestTopic, consume, produce, produce_batched, produce_raw, produce_raw_to, produce_unbatched,
    read_to_end, reader,
};
pub use wait::{try_wait_until, wait_until};
pub use warehouse::{assert_exactly_once, rows_and_offsets, stored_offsets, wait_for_rows};
pub use watermarks::{high_watermarks, message_count};
pub use workload::{reference_event, sample_event};

/// `prefix` made unique to this test run.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}
