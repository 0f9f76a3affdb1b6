//! An administrative action: who starts what with which arguments, and, once it ended, its record.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// An action that started: [`Action::finished`] turns it into its record.
#[derive(Debug, Clone)]
pub struct Action {
    at: DateTime<Utc>,
    started: Instant,
    actor: String,
    action: String,
    arguments: Value,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Given by the table; `None` before the record is stored.
    pub id: Option<i64>,
    /// When the action started.
    pub at: DateTime<Utc>,
    /// How long it ran.
    pub seconds: f64,
    /// Who ran it: `--actor`, or the operating-system user.
    pub actor: String,
    /// What ran, `<store or service>.<command>` (`lake.vacuum`, `warehouse.rebuild`, ...).
    pub action: String,
    /// Its arguments as given, without secrets; a user's id only as its [`pseudonym`].
    pub arguments: Value,
    /// Whether it succeeded.
    pub ok: bool,
    /// What it printed as its result, or `{"error": "..."}`.
    pub result: Value,
}

impl Action {
    /// `actor` starts `action` with `arguments` now.
    pub fn new(actor: impl Into<String>, action: impl Into<String>, arguments: Value) -> Self {
        Self {
            at: Utc::now(),
            started: Instant::now(),
            actor: actor.into(),
            action: action.into(),
            arguments,
        }
    }

    pub fn action(&self) -> &str {
        &self.action
    }

    /// Who does what, as JSON for a Delta commit's `userMetadata`: the commit itself is the
    /// result.
    pub fn commit_note(&self) -> String {
        json!({"audit": {
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "arguments": self.arguments,
        }})
        .to_string()
    }

    /// The record of the action ending with `outcome`: its value as the result, or its error.
    pub fn finished<T: Serialize, E: std::fmt::Display>(&self, outcome: &Result<T, E>) -> AuditRecord {
        let (ok, result) = match outcome {
            Ok(value) => (
                true,
                serde_json::to_value(value).unwrap_or_else(|e| json!({"unrecorded": e.to_string()})),
            ),
            Err(error) => (false, json!({"error": format!("{error:#}")})),
        };
        AuditRecord {
            id: None,
            at: self.at,
            seconds: self.started.elapsed().as_secs_f64(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            arguments: self.arguments.clone(),
            ok,
            result,
        }
    }
}

/// What the audit log keeps of a person's identifier (a `user_id` being exported or erased): its
/// SHA-256, hex. An append-only log must not keep the identifier an erasure removed, yet the
/// record must show whose data it was to whoever knows the id.
pub fn pseudonym(identifier: &str) -> String {
    hex::encode(Sha256::digest(identifier.as_bytes()))
}

/// The arguments of an action on one user's rows: the id only as its [`pseudonym`].
pub fn user_arguments(user_id: &str, project_id: Option<&str>) -> Value {
    json!({"user_id_sha256": pseudonym(user_id), "project_id": project_id})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_keeps_the_result_or_the_error() {
        let action = Action::new("sre-1", "lake.vacuum", json!({"dry_run": true}));
        let done = action.finished(&Ok::<_, String>(json!({"files": 3})));
        assert!(done.ok);
        assert_eq!(done.result, json!({"files": 3}));
        assert_eq!(
            (done.actor.as_str(), done.action.as_str()),
            ("sre-1", "lake.vacuum")
        );
        let failed = action.finished(&Err::<(), _>("the store refused"));
        assert!(!failed.ok);
        assert_eq!(failed.result, json!({"error": "the store refused"}));
    }

    #[test]
    fn the_commit_note_says_who_did_what() {
        let action = Action::new("sre-1", "lake.restore", json!({"version": 4}));
        let note: Value = serde_json::from_str(&action.commit_note()).unwrap();
        assert_eq!(note["audit"]["actor"], "sre-1");
        assert_eq!(note["audit"]["action"], "lake.restore");
        assert_eq!(note["audit"]["arguments"]["version"], 4);
    }

    #[test]
    fn a_pseudonym_is_stable_and_hides_the_identifier() {
        let hashed = pseudonym("user-42");
        assert_eq!(hashed, pseudonym("user-42"));
        assert_ne!(hashed, pseudonym("user-43"));
        assert_eq!(hashed.len(), 64);
        assert!(!hashed.contains("user-42"));
    }
}
