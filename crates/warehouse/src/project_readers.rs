//! Each project's rows readable only by its own readers (DESIGN.md §7, "Each project's rows to its
//! own readers"). Every table of the schema with a `project_id` column (the raw events, the queue
//! and every derived table; not `api_keys`, which no reader gets at all) has row-level security,
//! and one permissive policy per role that reads it, named as the role: the shared reader and the
//! writer see every row (`USING (true)`), a project reader the rows of its projects
//! (`project_id = ANY ('{...}')`). A role with no policy sees no row, so a role nobody thought of
//! fails closed. The owner (the stream-processor, which migrates, copies and folds) is not
//! subject to row security: the tables do not `FORCE` it.
//!
//! Which projects each project reader reads is kept in `project_readers` (migration 0010), which
//! only the owner reads; the policies are made from it by [`grant_project`] and [`revoke_project`]
//! (`lakehouse warehouse grant-project|revoke-project`), and again for a table a later migration
//! adds by [`isolate`], which [`crate::grants::grant`] runs after every migration.

use serde::Serialize;
use sqlx::PgConnection;

use crate::roles::{Roles, lock};

/// Tables with a `project_id` that are not project data: no project reader is granted them and
/// they have no row security (`api_keys` is the key reader's alone, this table the owner's).
const NOT_PROJECT_DATA: [&str; 2] = ["api_keys", "project_readers"];

/// The longest project id accepted (the events carry whatever their key's project is; this only
/// keeps a mistyped argument from becoming a policy).
const MAX_PROJECT_ID: usize = 200;

/// Why a project reader was not granted or revoked.
#[derive(Debug, thiserror::Error)]
pub enum ProjectReaderError {
    #[error(
        "{0:?} is not a plain role name: 1 to 63 lower-case letters, digits and underscores, not starting with a digit"
    )]
    RoleName(String),
    #[error("{0:?} is not a project id: 1 to {MAX_PROJECT_ID} characters, none of them control characters")]
    ProjectId(String),
    /// The role would see every project anyway, or is one whose rows must stay whole.
    #[error("{role} {why}, so it cannot be a project reader: name a role of its own")]
    Shared { role: String, why: String },
    #[error(
        "role {role} does not exist and this login may not create roles: have an administrator run `CREATE ROLE {role} NOLOGIN` (or give this login CREATEROLE), then run this again"
    )]
    CannotCreateRole { role: String },
    /// Tables with project data where row security is off: a project reader would see every
    /// project there.
    #[error(
        "row-level security is off on {tables:?} (TimescaleDB hypertables: their chunks do not inherit policies and compression refuses them), so a project reader would read every project there; project readers need a warehouse on plain PostgreSQL"
    )]
    NotIsolated { tables: Vec<String> },
    #[error("PostgreSQL: {0}")]
    Database(#[from] sqlx::Error),
}

impl ProjectReaderError {
    /// Whether the command refused what it was asked (a name, a role or a warehouse it will not
    /// make a project reader of), rather than failed.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Self::Database(_))
    }
}

/// A project reader after a grant or a revoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectReader {
    pub role: String,
    /// Every project the role reads now (empty after its last is revoked).
    pub projects: Vec<String>,
    /// Whether this grant made the role (`NOLOGIN`).
    pub created_role: bool,
    /// The tables its policy is on (every table with project data).
    pub tables: Vec<String>,
}

/// What [`isolate`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// Tables with project data and row security on.
    pub tables: Vec<String>,
    /// Tables with project data that cannot have it (TimescaleDB hypertables).
    pub exposed: Vec<String>,
}

/// Lets `role` read the rows of `project_id` (and of the projects it was granted before), and
/// nothing else: makes the role (`NOLOGIN`) if it does not exist, records the grant, puts its
/// policy on every table with project data and grants it `SELECT` there. Idempotent. Refuses a
/// role that would read every project anyway (the shared roles, their members, the owner's
/// members, superusers and `BYPASSRLS` roles) and a warehouse where some table with project data
/// cannot have row security.
pub async fn grant_project(
    connection: &mut PgConnection,
    roles: &Roles,
    role: &str,
    project_id: &str,
) -> Result<ProjectReader, ProjectReaderError> {
    validate_role(role)?;
    validate_project(project_id)?;
    let mut tx = sqlx::Connection::begin(connection).await?;
    lock(&mut tx).await?;
    let created_role = if role_exists(&mut tx, role).await? {
        refuse_shared(&mut tx, roles, role).await?;
        false
    } else {
        create_role(&mut tx, role).await?;
        true
    };
    let isolation = isolate(&mut tx, roles).await?;
    if !isolation.exposed.is_empty() {
        return Err(ProjectReaderError::NotIsolated {
            tables: isolation.exposed,
        });
    }
    sqlx::query("INSERT INTO project_readers (role, project_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(role)
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
    let projects = projects_of(&mut tx, role).await?;
    replace_policies(&mut tx, role, &projects, &isolation.tables).await?;
    tx.commit().await?;
    Ok(ProjectReader {
        role: role.into(),
        projects,
        created_role,
        tables: isolation.tables,
    })
}

/// Stops `role` reading `project_id`: its policies then name the projects it keeps; with none
/// left, they are dropped and its `SELECT` revoked. The role itself stays (logins may be members
/// of it). Idempotent: a role that never read the project is left as it is.
pub async fn revoke_project(
    connection: &mut PgConnection,
    roles: &Roles,
    role: &str,
    project_id: &str,
) -> Result<ProjectReader, ProjectReaderError> {
    validate_role(role)?;
    validate_project(project_id)?;
    let mut tx = sqlx::Connection::begin(connection).await?;
    lock(&mut tx).await?;
    let isolation = isolate(&mut tx, roles).await?;
    sqlx::query("DELETE FROM project_readers WHERE role = $1 AND project_id = $2")
        .bind(role)
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
    let projects = projects_of(&mut tx, role).await?;
    if role_exists(&mut tx, role).await? {
        replace_policies(&mut tx, role, &projects, &isolation.tables).await?;
    }
    tx.commit().await?;
    Ok(ProjectReader {
        role: role.into(),
        projects,
        created_role: false,
        tables: isolation.tables,
    })
}

/// Turns row security on for every table with project data that lacks it (but hypertables), and
/// gives each the policies it is missing: the shared reader's and the writer's, and each recorded
/// project reader's (with its `SELECT`), so that a table a migration adds is isolated like the
/// others. Changes nothing where all is in place, so that a processor's start takes no lock
/// stronger than the grants'. Runs in the caller's transaction, under the grants' lock.
pub(crate) async fn isolate(tx: &mut PgConnection, roles: &Roles) -> Result<Isolation, sqlx::Error> {
    let hypertables = crate::timescale::hypertables(&mut *tx).await?;
    let candidates: Vec<(String, bool)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> ALL ($1)
           AND EXISTS (SELECT FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = 'project_id' AND NOT a.attisdropped)
         ORDER BY 1",
    )
    .bind(&NOT_PROJECT_DATA[..])
    .fetch_all(&mut *tx)
    .await?;
    let mut isolation = Isolation::default();
    for (table, row_security) in candidates {
        if hypertables.contains(&table) {
            isolation.exposed.push(table);
            continue;
        }
        if !row_security {
            execute(tx, "ALTER TABLE %I ENABLE ROW LEVEL SECURITY", &[&table]).await?;
        }
        isolation.tables.push(table);
    }

    // The shared roles read (and the writer writes) every row. The policies are created before
    // the transaction commits the row security they open, so no reader sees an empty table.
    for (role, policy) in [
        (
            &roles.reader,
            "CREATE POLICY %I ON %I FOR SELECT TO %I USING (true)",
        ),
        (
            &roles.writer,
            "CREATE POLICY %I ON %I FOR ALL TO %I USING (true) WITH CHECK (true)",
        ),
    ] {
        if !role_exists(tx, role).await? {
            continue;
        }
        for table in &isolation.tables {
            if !has_policy(tx, table, role).await? {
                execute(tx, policy, &[role, table, role]).await?;
            }
        }
    }

    let readers: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT role::text FROM project_readers
         WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = role) ORDER BY 1",
    )
    .fetch_all(&mut *tx)
    .await?;
    for reader in readers {
        let projects = projects_of(tx, &reader).await?;
        let mut missing = Vec::new();
        for table in &isolation.tables {
            if !has_policy(tx, table, &reader).await? {
                missing.push(table.clone());
            }
        }
        if !missing.is_empty() {
            replace_policies(tx, &reader, &projects, &missing).await?;
        }
    }
    Ok(isolation)
}

/// Makes `role`'s policy on each of `tables` name exactly `projects`, with `SELECT` on them and
/// `USAGE` on the schema; with no project, drops its policies and revokes what it was granted.
async fn replace_policies(
    tx: &mut PgConnection,
    role: &str,
    projects: &[String],
    tables: &[String],
) -> Result<(), sqlx::Error> {
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut *tx)
        .await?;
    // The array's text form, made by the server, then quoted by `format`'s %L.
    let literal: String = sqlx::query_scalar("SELECT $1::text[]::text")
        .bind(projects)
        .fetch_one(&mut *tx)
        .await?;
    for table in tables {
        execute(tx, "DROP POLICY IF EXISTS %I ON %I", &[role, table]).await?;
        if projects.is_empty() {
            execute(tx, "REVOKE ALL ON %I FROM %I", &[table, role]).await?;
        } else {
            execute(
                tx,
                "CREATE POLICY %I ON %I FOR SELECT TO %I USING (project_id = ANY (%L::text[]))",
                &[role, table, role, &literal],
            )
            .await?;
            execute(tx, "GRANT SELECT ON %I TO %I", &[table, role]).await?;
        }
    }
    if !projects.is_empty() {
        execute(tx, "GRANT USAGE ON SCHEMA %I TO %I", &[&schema, role]).await?;
    }
    Ok(())
}

/// Refuses a role that would read every project whatever its policy says, or whose rows must stay
/// whole: the shared roles and their members, members of the owner (who bypass row security), and
/// superusers and `BYPASSRLS` roles.
async fn refuse_shared(tx: &mut PgConnection, roles: &Roles, role: &str) -> Result<(), ProjectReaderError> {
    let refuse = |why: String| {
        Err(ProjectReaderError::Shared {
            role: role.into(),
            why,
        })
    };
    for shared in [&roles.reader, &roles.writer, &roles.key_reader] {
        if role == shared {
            return refuse(format!("is the shared role {shared}"));
        }
        let member: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $2) AND pg_has_role($1, $2, 'MEMBER')",
        )
        .bind(role)
        .bind(shared)
        .fetch_one(&mut *tx)
        .await?;
        if member {
            return refuse(format!("is a member of the shared role {shared}"));
        }
    }
    let (bypasses, owner): (bool, bool) = sqlx::query_as(
        "SELECT rolsuper OR rolbypassrls, pg_has_role($1, current_user, 'MEMBER')
         FROM pg_roles WHERE rolname = $1",
    )
    .bind(role)
    .fetch_one(&mut *tx)
    .await?;
    if bypasses {
        return refuse("is a superuser or may bypass row security".into());
    }
    if owner {
        return refuse("is (a member of) the tables' owner, which row security does not apply to".into());
    }
    Ok(())
}

/// `CREATE ROLE role NOLOGIN`; a login refused it (no `CREATEROLE`) is told who may.
async fn create_role(tx: &mut PgConnection, role: &str) -> Result<(), ProjectReaderError> {
    match execute(tx, "CREATE ROLE %I NOLOGIN", &[role]).await {
        Ok(()) => Ok(()),
        Err(error) if error.as_database_error().and_then(|e| e.code()).as_deref() == Some("42501") => {
            Err(ProjectReaderError::CannotCreateRole { role: role.into() })
        }
        Err(error) => Err(error.into()),
    }
}

async fn role_exists(tx: &mut PgConnection, role: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)")
        .bind(role)
        .fetch_one(tx)
        .await
}

async fn has_policy(tx: &mut PgConnection, table: &str, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM pg_policies
                        WHERE schemaname = current_schema() AND tablename = $1 AND policyname = $2)",
    )
    .bind(table)
    .bind(name)
    .fetch_one(tx)
    .await
}

async fn projects_of(tx: &mut PgConnection, role: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT project_id FROM project_readers WHERE role = $1 ORDER BY 1")
        .bind(role)
        .fetch_all(tx)
        .await
}

/// Runs `template` with its `%I`s and `%L`s filled by the server's `format` from `arguments`:
/// identifiers and literals are quoted by PostgreSQL, never pasted in by us.
async fn execute(tx: &mut PgConnection, template: &str, arguments: &[&str]) -> Result<(), sqlx::Error> {
    let statement: String = sqlx::query_scalar("SELECT format($1, VARIADIC $2::text[])")
        .bind(template)
        .bind(arguments)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(&statement).execute(tx).await?;
    Ok(())
}

/// A plain, unquoted PostgreSQL identifier: what an operator types and a policy can be named.
fn validate_role(role: &str) -> Result<(), ProjectReaderError> {
    let plain = (1..=63).contains(&role.len())
        && role.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !role.starts_with("pg_");
    if plain {
        Ok(())
    } else {
        Err(ProjectReaderError::RoleName(role.into()))
    }
}

fn validate_project(project_id: &str) -> Result<(), ProjectReaderError> {
    let valid = (1..=MAX_PROJECT_ID).contains(&project_id.chars().count())
        && !project_id.chars().any(char::is_control);
    if valid {
        Ok(())
    } else {
        Err(ProjectReaderError::ProjectId(project_id.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_identifiers_are_roles() {
        for good in ["grafana_shop", "_r", "reader2", &"a".repeat(63)] {
            assert!(validate_role(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Grafana",
            "2shop",
            "shop-reader",
            "a b",
            "x\"; DROP TABLE events; --",
            "pg_monitor",
            &"a".repeat(64),
        ] {
            let error = validate_role(bad).expect_err(bad);
            assert!(error.is_refusal(), "{bad}");
        }
    }

    #[test]
    fn project_ids_are_any_short_printable_text() {
        assert!(validate_project("shop").is_ok());
        assert!(validate_project("o'brien.example").is_ok());
        for bad in ["", "a\nb", &"p".repeat(MAX_PROJECT_ID + 1)] {
            assert!(validate_project(bad).is_err(), "{bad:?}");
        }
    }
}
