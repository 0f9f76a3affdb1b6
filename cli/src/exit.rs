//! The exit status of `lakehouse` (DESIGN.md §13): 0 done; 1 failed (a store unreachable, a check
//! that found a problem, anything unexpected); 2 refused (a usage error, which clap reports, or a
//! command that would not do what was asked: a query that is not read-only or outgrew its limits,
//! a retention shorter than the restore window, a store unsafe for several writers, reconcile's
//! drift past its threshold).

use std::process::ExitCode;

use lakehouse_lake::{LakeError, QueryRefused, UnsafeStore, VacuumError};

use crate::SyncError;

/// A command that would not do what was asked, and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

pub const DONE: u8 = 0;
pub const FAILED: u8 = 1;
pub const REFUSED: u8 = 2;

/// The exit status for a command that ended with `error`.
pub fn status_of(error: &anyhow::Error) -> ExitCode {
    let refused = error.chain().any(|cause| {
        cause.downcast_ref::<Refused>().is_some()
            || matches!(cause.downcast_ref::<SyncError>(), Some(SyncError::Refused(_)))
            || cause.downcast_ref::<LakeError>().is_some_and(|lake| {
                lake.operation::<QueryRefused>().is_some()
                    || lake.operation::<VacuumError>().is_some()
                    || lake.operation::<UnsafeStore>().is_some()
            })
    });
    ExitCode::from(if refused { REFUSED } else { FAILED })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_anywhere_in_the_chain_exits_2_and_anything_else_1() {
        let refused = anyhow::Error::new(Refused("no".into())).context("restore");
        assert_eq!(status_of(&refused), ExitCode::from(REFUSED));
        let query = anyhow::Error::new(LakeError::Operation(Box::new(QueryRefused::Empty)));
        assert_eq!(status_of(&query), ExitCode::from(REFUSED));
        let tables = anyhow::Error::new(SyncError::from(crate::error::TablesRefused::NoShare(
            lakehouse_lake::TablePath::events(),
        )))
        .context("rebuild");
        assert_eq!(status_of(&tables), ExitCode::from(REFUSED));
        assert_eq!(status_of(&anyhow::anyhow!("unreachable")), ExitCode::from(FAILED));
    }
}
