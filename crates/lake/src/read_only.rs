//! SQL that people type (the CLI's `query`, the lake browser's console): one read-only query over
//! the table registered as `events`, refused with a clear message when it is anything else, and
//! run within an optional row limit and timeout.
//!
//! DataFusion would run any statement it accepts: `COPY ... TO` writes files, `CREATE EXTERNAL
//! TABLE` reads any file the process may read, `SET` changes the session. Two checks stand
//! between the text and the engine: the parsed statement must be a query (or `EXPLAIN` /
//! `DESCRIBE` of one), and its logical plan may hold no DDL, DML or statement node (DataFusion's
//! own `SQLOptions` check, which also sees inside subqueries).

use std::time::Duration;

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::sql::parser::{DFParser, Statement};
use deltalake::datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use deltalake::datafusion::sql::sqlparser::dialect::GenericDialect;
use futures::StreamExt;

use crate::error::{LakeError, fold_into_lake_error};
use crate::query::session;

/// Bounds on one query's answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryLimits {
    /// At most this many rows are kept; the rest are not read (`truncated` says so).
    pub max_rows: Option<usize>,
    /// The query is stopped, and refused, when it runs longer.
    pub timeout: Option<Duration>,
}

/// A query's answer within its limits.
#[derive(Debug, Clone)]
pub struct QueryAnswer {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: usize,
    /// More rows were there than `max_rows`.
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
}

fold_into_lake_error!(QueryRefused);

/// Runs `sql`, which must be one read-only query, against the table (as of its loaded version)
/// registered as `events`.
pub async fn read_only_query(
    table: &DeltaTable,
    sql: &str,
    limits: QueryLimits,
) -> Result<QueryAnswer, LakeError> {
    let statement = read_only_statement(sql)?;
    let table = table.clone();
    // The query runs as a task of its own: an operator that computes without yielding (a large
    // cross join) keeps its worker thread until it yields, but the caller gets its answer, or the
    // timeout, on time. The task is aborted when the caller stops waiting.
    let mut task = AbortOnDrop(tokio::spawn(async move {
        let context = session(&table).await?;
        let plan = context.state().statement_to_plan(statement).await?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|error| QueryRefused::NotReadOnly(error.strip_backtrace()))?;
        let frame = context.execute_logical_plan(plan).await?;
        let schema = frame.schema().inner().clone();
        let mut stream = frame.execute_stream().await?;
        let mut answer = QueryAnswer {
            schema,
            batches: Vec::new(),
            rows: 0,
            truncated: false,
        };
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let room = limits.max_rows.map_or(usize::MAX, |max| max - answer.rows);
            if batch.num_rows() > room {
                answer.batches.push(batch.slice(0, room));
                answer.rows += room;
                answer.truncated = true;
                break;
            }
            answer.rows += batch.num_rows();
            answer.batches.push(batch);
        }
        Ok::<_, LakeError>(answer)
    }));
    let joined = match limits.timeout {
        None => (&mut task.0).await,
        Some(timeout) => tokio::time::timeout(timeout, &mut task.0)
            .await
            .map_err(|_| QueryRefused::Timeout(timeout))?,
    };
    joined.map_err(|error| LakeError::Operation(Box::new(error)))?
}

/// Aborts the task when dropped (the caller stopped waiting for it).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The one statement of `sql`, if it is read-only; a refusal naming what it is otherwise.
fn read_only_statement(sql: &str) -> Result<Statement, LakeError> {
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
