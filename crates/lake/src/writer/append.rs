//! Committing an append without the table's file list (DESIGN.md §8.2). delta-rs 1.1 commits on
//! a snapshot that holds every live file with its statistics and rebuilds that list after each
//! commit, so a writer's memory and commit time would grow with the files the table holds. An
//! append reads nothing of the table: its commit is its own `add` and `txn` actions, which this
//! module writes as the log entry of the version after the one the writer built it on, through
//! the table's log store with put-if-absent (the call delta-rs makes, so the guarantee
//! [`crate::table::probe`] checks holds for it too).
//!
//! When another commit took that version, the append is checked against it as Delta checks a
//! blind append: a commit that stored offsets of one of its partitions (a `txn` of one of its
//! app ids), or changed the table's metadata or protocol, conflicts, and the writer retries on
//! the reloaded table; any other (appends of other partitions, compactions, erasures) does not,
//! and the append takes the next version.
//!
//! Only tables whose protocol asks nothing of an append beyond its actions (writer version 2 at
//! most: what the writer creates) on stores that take the log entry's bytes (put-if-absent) are
//! committed this way; [`can_append`] says which, and the writer commits the others through
//! delta-rs.

use std::collections::{BTreeSet, HashMap};

use deltalake::DeltaTableError;
use deltalake::kernel::transaction::{CommitConflictError, CommitData, TransactionError};
use deltalake::kernel::{Action, Add, Protocol, Transaction};
use deltalake::logstore::{CommitOrBytes, LogStore, get_actions};
use deltalake::protocol::DeltaOperation;
use uuid::Uuid;

use crate::error::LakeError;

/// The log store that writes a log entry's bytes with put-if-absent (delta-rs's name for it).
const PUT_IF_ABSENT_LOG_STORE: &str = "DefaultLogStore";

/// The highest writer version whose features (`appendOnly`, `invariants`) ask nothing of an
/// append's log entry.
const PLAIN_WRITER_VERSION: i32 = 2;

/// True when appends to a table of `protocol` in `log_store` can be committed by [`append`].
pub(crate) fn can_append(log_store: &dyn LogStore, protocol: &Protocol) -> bool {
    log_store.name() == PUT_IF_ABSENT_LOG_STORE && protocol.min_writer_version() <= PLAIN_WRITER_VERSION
}

/// What the append conflicts with, in a commit another writer made first.
fn conflict(actions: &[Action], app_ids: &BTreeSet<String>) -> Option<CommitConflictError> {
    actions.iter().find_map(|action| match action {
        Action::Txn(txn) if app_ids.contains(&txn.app_id) => Some(CommitConflictError::ConcurrentTransaction),
        Action::Metadata(_) => Some(CommitConflictError::MetadataChanged),
        Action::Protocol(protocol) => Some(CommitConflictError::ProtocolChanged(format!(
            "writer version {}",
            protocol.min_writer_version()
        ))),
        _ => None,
    })
}

/// Commits `adds` and `transactions` as one version after `base`, the version the writer built
/// them on (it knows the stored offsets as of it), passing over at most `attempts` commits of
/// others that do not conflict; returns the version written.
pub(crate) async fn append(
    log_store: &dyn LogStore,
    base: u64,
    adds: Vec<Add>,
    transactions: Vec<Transaction>,
    operation: DeltaOperation,
    attempts: usize,
) -> Result<u64, LakeError> {
    let app_ids: BTreeSet<String> = transactions.iter().map(|txn| txn.app_id.clone()).collect();
    let actions = adds.into_iter().map(Action::Add).collect();
    let bytes = CommitData::new(actions, operation, HashMap::new(), transactions)
        .get_bytes()
        .map_err(DeltaTableError::from)?;
    let operation_id = Uuid::new_v4();
    let mut version = base + 1;
    for _ in 0..attempts {
        match log_store
            .write_commit_entry(version, CommitOrBytes::LogBytes(bytes.clone()), operation_id)
            .await
        {
            Ok(()) => return Ok(version),
            Err(TransactionError::VersionAlreadyExists(_)) => {
                let theirs = log_store.read_commit_entry(version).await?.ok_or_else(|| {
                    DeltaTableError::Generic(format!("version {version} exists but cannot be read"))
                })?;
                let actions = get_actions(version, &theirs)?;
                if let Some(conflict) = conflict(&actions, &app_ids) {
                    return Err(DeltaTableError::from(TransactionError::CommitConflict(conflict)).into());
                }
                version += 1;
            }
            Err(error) => return Err(DeltaTableError::from(error).into()),
        }
    }
    Err(DeltaTableError::from(TransactionError::MaxCommitAttempts(attempts as i32)).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The actions of a log entry another writer committed, as the log holds them.
    fn theirs(lines: &[&str]) -> Vec<Action> {
        get_actions(7, &bytes::Bytes::from(lines.join("\n"))).unwrap()
    }

    fn ours() -> BTreeSet<String> {
        BTreeSet::from(["g-t-0".to_string(), "g-t-1".to_string()])
    }

    const DATA: &str = r#"{"add":{"path":"a.parquet","partitionValues":{},"size":1,"modificationTime":0,"dataChange":true}}"#;

    #[test]
    fn data_and_offsets_of_other_partitions_do_not_conflict() {
        let commit = theirs(&[DATA, r#"{"txn":{"appId":"g-t-2","version":10}}"#]);
        assert_eq!(commit.len(), 2);
        assert!(conflict(&commit, &ours()).is_none());
    }

    #[test]
    fn offsets_of_one_of_its_partitions_conflict() {
        let commit = theirs(&[DATA, r#"{"txn":{"appId":"g-t-1","version":10}}"#]);
        assert!(matches!(
            conflict(&commit, &ours()),
            Some(CommitConflictError::ConcurrentTransaction)
        ));
    }

    #[test]
    fn a_schema_or_protocol_change_conflicts() {
        let metadata = r#"{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[]}","partitionColumns":[],"configuration":{},"createdTime":0}}"#;
        assert!(matches!(
            conflict(&theirs(&[metadata]), &ours()),
            Some(CommitConflictError::MetadataChanged)
        ));
        let protocol = r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":3}}"#;
        assert!(matches!(
            conflict(&theirs(&[protocol]), &ours()),
            Some(CommitConflictError::ProtocolChanged(_))
        ));
    }
}
