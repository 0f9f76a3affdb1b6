//! Database roles: a writer role (for processes that write the warehouse without owning it, such
//! as `lakehouse`), a read-only role (for Grafana and analysts), and the api's key reader,
//! which may read `api_keys` and nothing else. The roles themselves are made by whoever
//! administers the cluster (`scripts/stack`, the Terraform module, a DBA), so the processor never
//! needs `CREATEROLE`; after every migration it grants them what they need on every table, so a
//! table added by a later migration is never invisible to the dashboards, and gives every table
//! with project data its row security and policies ([`crate::project_readers`]).

use sqlx::PgPool;

use crate::roles::lock;
pub use crate::roles::{DEFAULT_KEY_READER, DEFAULT_READER, DEFAULT_WRITER, Roles};

/// Tables the reader and writer do not get the whole of, and what each keeps on them: the audit
/// log is append-only and for operators, not dashboards; the keys' hashes are the api's alone;
/// which role reads which project is the owner's (a project reader must not learn the others).
const RESTRICTED: [Restricted; 3] = [
    Restricted {
        table: "audit_log",
        reader: "",
        writer: "SELECT, INSERT",
    },
    Restricted {
        table: "api_keys",
        reader: "",
        writer: "",
    },
    Restricted {
        table: "project_readers",
        reader: "",
        writer: "",
    },
];

/// What the reader and the writer keep on one restricted table ("" for nothing).
struct Restricted {
    table: &'static str,
    reader: &'static str,
    writer: &'static str,
}

/// What [`grant`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Granted {
    /// Roles that exist and now hold their privileges.
    pub granted: Vec<String>,
    /// Roles that do not exist in the cluster (nothing was granted to them).
    pub missing: Vec<String>,
    /// Tables with project data that cannot have row security (TimescaleDB hypertables): no
    /// project reader can be granted while there are any.
    pub without_row_security: Vec<String>,
}

/// Grants the reader `SELECT` and the writer `SELECT, INSERT, UPDATE, DELETE` on every table of
/// the current schema but the restricted ones (where each keeps what [`RESTRICTED`] says), and
/// the key reader `SELECT` on `api_keys`, for the roles that exist; then row security and the
/// missing policies on every table with project data ([`crate::project_readers`]). Idempotent;
/// serialised with an advisory lock, because concurrent `GRANT`s on one table can fail with
/// "tuple concurrently updated".
pub async fn grant(pool: &PgPool, roles: &Roles) -> Result<Granted, sqlx::Error> {
    let mut tx = pool.begin().await?;
    lock(&mut tx).await?;
    let mut done = Granted::default();
    for role in [&roles.reader, &roles.writer, &roles.key_reader] {
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&mut *tx)
            .await?;
        if !exists {
            done.missing.push(role.clone());
            continue;
        }
        // Identifiers are quoted by the server (`%I`), never pasted in by us; one statement each,
        // as a prepared statement holds one command.
        let mut statements = vec![format_sql(&mut tx, "GRANT USAGE ON SCHEMA %I TO %I", &["", role]).await?];
        if role == &roles.key_reader {
            statements.push(format_sql(&mut tx, "GRANT SELECT ON %I TO %I", &["api_keys", role]).await?);
        } else {
            let (all, kept_of): (&str, fn(&Restricted) -> &'static str) = if role == &roles.reader {
                ("SELECT", |r: &Restricted| r.reader)
            } else {
                ("SELECT, INSERT, UPDATE, DELETE", |r: &Restricted| r.writer)
            };
            statements.push(
                format_sql(
                    &mut tx,
                    &format!("GRANT {all} ON ALL TABLES IN SCHEMA %I TO %I"),
                    &["", role],
                )
                .await?,
            );
            for restricted in &RESTRICTED {
                statements
                    .push(format_sql(&mut tx, "REVOKE ALL ON %I FROM %I", &[restricted.table, role]).await?);
                let kept = kept_of(restricted);
                if !kept.is_empty() {
                    statements.push(
                        format_sql(
                            &mut tx,
                            &format!("GRANT {kept} ON %I TO %I"),
                            &[restricted.table, role],
                        )
                        .await?,
                    );
                }
            }
        }
        for statement in statements {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        done.granted.push(role.clone());
    }
    done.without_row_security = crate::project_readers::isolate(&mut tx, roles).await?.exposed;
    tx.commit().await?;
    Ok(done)
}

/// `template` with its `%I`s filled by the server from `identifiers` ("" for the current schema).
async fn format_sql(
    tx: &mut sqlx::PgTransaction<'_>,
    template: &str,
    identifiers: &[&str],
) -> Result<String, sqlx::Error> {
    let [first, second] = identifiers else {
        unreachable!("every statement here names two identifiers")
    };
    sqlx::query_scalar("SELECT format($1, CASE WHEN $2 = '' THEN current_schema() ELSE $2 END, $3)")
        .bind(template)
        .bind(first)
        .bind(second)
        .fetch_one(&mut **tx)
        .await
}
