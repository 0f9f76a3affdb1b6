//! Database roles: a writer role (for processes that write the warehouse without owning it, such
//! as warehouse-sync) and a read-only role (for Grafana and analysts). The roles themselves are
//! made by whoever administers the cluster (`scripts/stack`, the Terraform module, a DBA), so the
//! processor never needs `CREATEROLE`; after every migration it grants them what they need on
//! every table, so a table added by a later migration is never invisible to the dashboards.

use sqlx::PgPool;

/// The two roles' names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    pub reader: String,
    pub writer: String,
}

impl Default for Roles {
    fn default() -> Self {
        Self {
            reader: "lakehouse_reader".into(),
            writer: "lakehouse_writer".into(),
        }
    }
}

/// Tables no role may change once written, and what the writer keeps on them (the reader
/// keeps nothing: the audit log is for operators, not dashboards).
const APPEND_ONLY: [(&str, &str); 1] = [("audit_log", "SELECT, INSERT")];

/// What [`grant`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Granted {
    /// Roles that exist and now hold their privileges.
    pub granted: Vec<String>,
    /// Roles that do not exist in the cluster (nothing was granted to them).
    pub missing: Vec<String>,
}

/// Grants the reader `SELECT` and the writer `SELECT, INSERT, UPDATE, DELETE` on every table of
/// the current schema but the append-only ones (the writer may only read and insert there, the
/// reader nothing), for the roles that exist. Idempotent; serialised with an advisory lock,
/// because concurrent `GRANT`s on one table can fail with "tuple concurrently updated".
pub async fn grant(pool: &PgPool, roles: &Roles) -> Result<Granted, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('lakehouse.grants'))")
        .execute(&mut *tx)
        .await?;
    let mut done = Granted::default();
    for (role, privileges) in [
        (&roles.reader, "SELECT"),
        (&roles.writer, "SELECT, INSERT, UPDATE, DELETE"),
    ] {
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&mut *tx)
            .await?;
        if !exists {
            done.missing.push(role.clone());
            continue;
        }
        // Identifiers are quoted by the server (`%I`), never pasted in by us.
        let statements: (String, String) = sqlx::query_as(
            "SELECT format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), $1),
                    format('GRANT %s ON ALL TABLES IN SCHEMA %I TO %I', $2, current_schema(), $1)",
        )
        .bind(role)
        .bind(privileges)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(&statements.0).execute(&mut *tx).await?;
        sqlx::query(&statements.1).execute(&mut *tx).await?;
        for (table, keep) in APPEND_ONLY {
            let kept = if role == &roles.writer { keep } else { "" };
            let (revoke, regrant): (String, Option<String>) = sqlx::query_as(
                "SELECT format('REVOKE ALL ON %I FROM %I', $1, $2),
                        CASE WHEN $3 = '' THEN NULL ELSE format('GRANT %s ON %I TO %I', $3, $1, $2) END",
            )
            .bind(table)
            .bind(role)
            .bind(kept)
            .fetch_one(&mut *tx)
            .await?;
            // One statement each: a prepared statement holds one command.
            sqlx::query(&revoke).execute(&mut *tx).await?;
            if let Some(regrant) = regrant {
                sqlx::query(&regrant).execute(&mut *tx).await?;
            }
        }
        done.granted.push(role.clone());
    }
    tx.commit().await?;
    Ok(done)
}
