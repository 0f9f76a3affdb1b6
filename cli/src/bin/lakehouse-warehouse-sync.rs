//! `lakehouse-warehouse-sync`, the old home of the warehouse's tools: names the `lakehouse`
//! command that replaced what was asked and exits 2.

use std::process::ExitCode;

/// The old subcommands and where they went.
const MOVED: lakehouse_telemetry::Moves = &[
    ("reconcile", "lakehouse warehouse reconcile"),
    ("rebuild", "lakehouse warehouse rebuild"),
    ("erase-user", "lakehouse user erase"),
    ("export-user", "lakehouse user export"),
    ("dlq", "lakehouse dlq"),
];

fn main() -> ExitCode {
    let old: Vec<String> = std::env::args().skip(1).collect();
    lakehouse_telemetry::refuse_moved("lakehouse-warehouse-sync", &old, MOVED)
}
