//! SQL that people type (the CLI's `query`, the lake browser's console) may only read: one query
//! over the table registered as `events`, refused with a clear message when it is anything else.
//! Every refusal of such a query, here or by the query executor that runs it (busy, too slow, too
//! large, shutting down), is a [`QueryRefused`].
//!
//! DataFusion would run any statement it accepts: `COPY ... TO` writes files, `CREATE EXTERNAL
//! TABLE` reads any file the process may read, `SET` changes the session. Two checks stand
//! between the text and the engine: the parsed statement must be a query (or `EXPLAIN` /
//! `DESCRIBE` of one), and its logical plan may hold no DDL, DML or statement node (DataFusion's
//! own `SQLOptions` check, which also sees inside subqueries).

use std::time::Duration;

use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::datafusion::sql::parser::{DFParser, Statement};
use deltalake::datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::error::{LakeError, fold_into_lake_error};

/// A query's answer within its row limit.
#[derive(Debug, Clone)]
pub struct QueryAnswer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    /// More rows were there than the row limit.
    pub truncated: bool,
}

/// Why a query was not run (or not finished).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryRefused {
    #[error("the query is empty")]
    Empty,
    #[error("only one statement may be run at a time; this text holds {0}")]
    SeveralStatements(usize),
    #[error("{0} is not allowed: only read-only queries run here (SELECT, WITH, VALUES, EXPLAIN, DESCRIBE)")]
    NotReadOnly(String),
    #[error("the query did not finish within {} s and was stopped", .0.as_secs_f64())]
    Timeout(Duration),
    /// The memory pool refused an operator, or a spill outgrew its room on disk.
    #[error(
        "the query needed more than its memory limit of {} (and as much again spilled to disk) and was stopped",
        byte_size(*.0)
    )]
    MemoryLimit(usize),
    #[error("{0} queries are running already; try again when one has finished")]
    Busy(usize),
    #[error("the query was stopped: the process is shutting down")]
    ShuttingDown,
}

fold_into_lake_error!(QueryRefused);

/// `n` bytes as people read it: whole MiB when it is, bytes otherwise.
fn byte_size(n: usize) -> String {
    const MIB: usize = 1 << 20;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

/// The logical plan of `statement` in `context`, when it holds no DDL, DML or statement node.
pub(crate) async fn read_only_plan(
    context: &SessionContext,
    statement: Statement,
) -> Result<LogicalPlan, LakeError> {
    let plan = context.state().statement_to_plan(statement).await?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|error| QueryRefused::NotReadOnly(error.strip_backtrace()))?;
    Ok(plan)
}

/// The one statement of `sql`, if it is read-only; a refusal naming what it is otherwise.
pub(crate) fn read_only_statement(sql: &str) -> Result<Statement, LakeError> {
    let mut statements = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})?;
    let statement = match statements.len() {
        0 => return Err(QueryRefused::Empty.into()),
        1 => statements.pop_front().ok_or(QueryRefused::Empty)?,
        n => return Err(QueryRefused::SeveralStatements(n).into()),
    };
    check(&statement)?;
    Ok(statement)
}

fn check(statement: &Statement) -> Result<(), QueryRefused> {
    let refuse = |what: &str| Err(QueryRefused::NotReadOnly(what.into()));
    match statement {
        Statement::Statement(inner) => match inner.as_ref() {
            SqlStatement::Query(_) | SqlStatement::ExplainTable { .. } => Ok(()),
            SqlStatement::Explain { statement, .. } => match statement.as_ref() {
                SqlStatement::Query(_) => Ok(()),
                other => refuse(&format!("EXPLAIN {}", keywords(other))),
            },
            other => refuse(&keywords(other)),
        },
        Statement::Explain(explain) => check(&explain.statement).map_err(|refused| match refused {
            QueryRefused::NotReadOnly(what) => QueryRefused::NotReadOnly(format!("EXPLAIN {what}")),
            other => other,
        }),
        Statement::CopyTo(_) => refuse("COPY ... TO (it writes files)"),
        Statement::CreateExternalTable(_) => {
            refuse("CREATE EXTERNAL TABLE (it reads files outside the table)")
        }
        Statement::Reset(_) => refuse("RESET"),
    }
}

/// The leading keywords of a statement as SQL prints it (`INSERT INTO`, `DROP TABLE`, `SET`):
/// how a refusal names what it refused.
fn keywords(statement: &SqlStatement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|word| word.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .take(3)
        .collect();
    if words.is_empty() {
        "this statement".into()
    } else {
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(sql: &str) -> QueryRefused {
        match read_only_statement(sql) {
            Err(error) => error
                .operation::<QueryRefused>()
                .cloned()
                .unwrap_or_else(|| panic!("{sql:?} failed otherwise: {error}")),
            Ok(statement) => panic!("{sql:?} was accepted as {statement}"),
        }
    }

    fn refused_as(sql: &str, named: &str) {
        match refusal(sql) {
            QueryRefused::NotReadOnly(what) => assert!(what.contains(named), "{sql:?}: {what}"),
            other => panic!("{sql:?}: {other}"),
        }
    }

    #[test]
    fn queries_pass() {
        for sql in [
            "SELECT count(*) FROM events",
            "  select event_type, count(*) from events group by 1 order by 2 desc ; ",
            "WITH t AS (SELECT event_date FROM events) SELECT * FROM t",
            "VALUES (1, 2)",
            "EXPLAIN SELECT * FROM events",
            "DESCRIBE events",
            "SELECT * FROM events WHERE event_id IN (SELECT event_id FROM events LIMIT 1)",
        ] {
            read_only_statement(sql).unwrap_or_else(|e| panic!("{sql:?} refused: {e}"));
        }
    }

    #[test]
    fn copy_to_is_refused() {
        refused_as("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY");
        refused_as("COPY events TO '/tmp/x.parquet' STORED AS PARQUET", "COPY");
    }

    #[test]
    fn create_external_table_is_refused() {
        refused_as(
            "CREATE EXTERNAL TABLE passwd (line VARCHAR) STORED AS CSV LOCATION '/etc/passwd'",
            "CREATE EXTERNAL TABLE",
        );
    }

    #[test]
    fn ddl_is_refused() {
        refused_as("CREATE TABLE t AS SELECT 1", "CREATE TABLE");
        refused_as("CREATE VIEW v AS SELECT * FROM events", "CREATE VIEW");
        refused_as("DROP TABLE events", "DROP TABLE");
        refused_as("ALTER TABLE events ADD COLUMN x INT", "ALTER TABLE");
        refused_as("TRUNCATE TABLE events", "TRUNCATE");
    }

    #[test]
    fn dml_is_refused() {
        refused_as("INSERT INTO events SELECT * FROM events", "INSERT INTO");
        refused_as("DELETE FROM events", "DELETE FROM");
        refused_as("UPDATE events SET title = 'x'", "UPDATE");
        refused_as(
            "EXPLAIN INSERT INTO events SELECT * FROM events",
            "EXPLAIN INSERT",
        );
    }

    #[test]
    fn session_statements_are_refused() {
        refused_as("SET datafusion.execution.batch_size = 1", "SET");
        refused_as("RESET datafusion.execution.batch_size", "RESET");
        refused_as("BEGIN TRANSACTION", "BEGIN TRANSACTION");
    }

    #[test]
    fn several_statements_and_none_are_refused() {
        assert_eq!(
            refusal("SELECT 1; COPY (SELECT 1) TO '/tmp/x.csv'"),
            QueryRefused::SeveralStatements(2)
        );
        assert_eq!(refusal("SELECT 1; SELECT 2"), QueryRefused::SeveralStatements(2));
        assert_eq!(refusal("  ;  "), QueryRefused::Empty);
        assert_eq!(refusal(""), QueryRefused::Empty);
    }

    #[test]
    fn refusals_say_what_is_allowed() {
        let message = refusal("DROP TABLE events").to_string();
        assert!(message.contains("DROP TABLE is not allowed"), "{message}");
        assert!(message.contains("only read-only queries"), "{message}");
    }
}
