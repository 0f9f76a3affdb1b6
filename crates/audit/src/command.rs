//! One shape for every administrative command: [`Audited::start`] says who starts what with which
//! arguments; the command does its work (a lake command writes [`Audited::commit_note`] into the
//! commits it makes); [`Audited::conclude`] stores the record of how it ended and prints its result
//! on stdout as JSON, for people, scripts and CronJobs alike. The result is printed even when its
//! record could not be stored (a key that was made must be shown), and the command then fails.

use std::fmt::Display;

use serde::Serialize;
use serde_json::Value;

use crate::action::Action;
use crate::actor::ActorArgs;
use crate::store::{AuditError, AuditLog};

/// An administrative command that started, and the log its record goes to.
#[derive(Debug)]
pub struct Audited {
    log: AuditLog,
    action: Action,
}

impl Audited {
    /// `actor` starts `action` (`<store or service>.<command>`) with `arguments` (never a secret;
    /// a user's id only through [`crate::user_arguments`]).
    pub fn start(log: AuditLog, actor: &ActorArgs, action: &str, arguments: Value) -> Self {
        Self {
            log,
            action: Action::new(actor.name(), action, arguments),
        }
    }

    /// Who does what, for the `userMetadata` of the commits the command makes.
    pub fn commit_note(&self) -> String {
        self.action.commit_note()
    }

    /// Records how the command ended (its result, or its error), prints the result as JSON, and
    /// fails when either the command or the record failed.
    pub async fn conclude<T, E>(self, outcome: Result<T, E>) -> Result<(), E>
    where
        T: Serialize,
        E: Display + From<AuditError> + From<serde_json::Error>,
    {
        let recorded = self.log.record(&self.action.finished(&outcome)).await;
        print_result(&serde_json::to_string_pretty(&outcome?)?);
        Ok(recorded?)
    }

    /// [`Self::conclude`] for a result that is not recorded as it is printed: `record` gives what
    /// the audit log keeps of it (the count of an export's rows, a new key without its secret),
    /// `show` what is printed (the rows, the key, in the format asked for).
    pub async fn conclude_as<T, E, S>(
        self,
        outcome: Result<T, E>,
        record: impl FnOnce(&T) -> Value,
        show: impl FnOnce(&T) -> Result<S, E>,
    ) -> Result<(), E>
    where
        S: Display,
        E: Display + From<AuditError>,
    {
        let kept = outcome.as_ref().map(record);
        let recorded = self.log.record(&self.action.finished(&kept)).await;
        print_result(&show(&outcome?)?);
        Ok(recorded?)
    }
}

#[expect(
    clippy::print_stdout,
    reason = "printing the result is an administrative command's job"
)]
fn print_result(result: &impl Display) {
    let text = result.to_string();
    if text.ends_with('\n') {
        print!("{text}");
    } else {
        println!("{text}");
    }
}
