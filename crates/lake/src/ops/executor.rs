//! Where the SQL that people type runs (the lake browser's console, the CLI's `query`): on a tokio
//! runtime of the executor's own, never on the threads that serve pages and probes; at most
//! `concurrency` queries at once; each within a memory limit (spilling to a temporary directory
//! where DataFusion can) and stopped from outside at its timeout; all of them stopped at shutdown.
//!
//! A DataFusion operator may compute for long without returning to the scheduler: a cross join
//! emits one batch per row of its build side from a single probe batch, polling nothing that
//! yields. Such a query keeps its thread, and a task that never yields cannot be aborted. Two
//! things make it stoppable. Every operator of its physical plan is wrapped in DataFusion's
//! `CooperativeExec`, which spends a unit of the task's tokio budget per batch and yields once the
//! budget is spent, so an aborted query is dropped within a budget's worth of batches (its slot
//! and thread are free again). And the caller never waits on the query's task past the timeout or
//! the shutdown, so the answer (the refusal) is given on time even if an operator held its thread
//! longer. At shutdown the runtime is shut down in the background, without waiting on its threads.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use deltalake::DeltaTable;
use deltalake::datafusion::common::tree_node::{Transformed, TreeNode};
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use deltalake::datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use deltalake::datafusion::physical_plan::coop::CooperativeExec;
use deltalake::datafusion::physical_plan::{ExecutionPlan, execute_stream};
use deltalake::datafusion::sql::parser::Statement;
use futures::StreamExt;
use lakehouse_telemetry::metrics::QUERIES_RUNNING;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::LakeError;
use crate::ops::read_only::{QueryAnswer, QueryRefused, read_only_plan, read_only_statement};
use crate::table::query::session_in;

/// A query still running after this long is stopped, unless told otherwise.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// The memory (in MiB) one query may hold unless told otherwise; it may spill as much again to
/// disk. Two queries at once fit the chart's 1 GiB memory limit and 256 MiB `/tmp`.
pub const DEFAULT_QUERY_MEMORY_LIMIT_MIB: usize = 100;
/// Bytes in a MiB, the unit of the memory limit's settings.
pub const MIB: usize = 1 << 20;

/// DataFusion reports a spill that outgrew its room on disk only in an I/O error's text.
const SPILL_LIMIT_MESSAGE: &str = "spilling process has exceeded";

/// How the executor runs queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryOptions {
    /// Queries that run at once, and the worker threads of the executor's runtime; another is
    /// refused as busy.
    pub concurrency: usize,
    /// A query still running after this long is stopped and refused.
    pub timeout: Option<Duration>,
    /// The memory one query may hold; it may spill as much again to disk. A query that needs
    /// more is stopped and refused.
    pub memory_limit_bytes: usize,
}

impl Default for QueryOptions {
    fn default() -> Self {
        Self {
            concurrency: 1,
            timeout: Some(DEFAULT_QUERY_TIMEOUT),
            memory_limit_bytes: DEFAULT_QUERY_MEMORY_LIMIT_MIB * MIB,
        }
    }
}

/// Runs read-only queries on a runtime of its own, within [`QueryOptions`].
#[derive(Debug)]
pub struct QueryExecutor {
    options: QueryOptions,
    handle: Handle,
    /// Taken, and shut down in the background, at [`QueryExecutor::shutdown`].
    runtime: Mutex<Option<Runtime>>,
    /// One permit per query that may run; the query's task holds it until the task has ended.
    slots: Arc<Semaphore>,
    closed: CancellationToken,
}

impl QueryExecutor {
    /// Starts the executor's runtime (`concurrency` worker threads named `query`, at least one).
    pub fn new(options: QueryOptions) -> std::io::Result<Self> {
        let options = QueryOptions {
            concurrency: options.concurrency.max(1),
            ..options
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.concurrency)
            .thread_name("query")
            .enable_all()
            .build()?;
        Ok(Self {
            options,
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
            slots: Arc::new(Semaphore::new(options.concurrency)),
            closed: CancellationToken::new(),
        })
    }

    pub fn options(&self) -> &QueryOptions {
        &self.options
    }

    /// Queries running now (their tasks not yet ended).
    pub fn running(&self) -> usize {
        self.options.concurrency - self.slots.available_permits()
    }

    /// Runs `sql`, which must be one read-only query, against the table (as of its loaded
    /// version) registered as `events`, keeping at most `max_rows` rows. Refused
    /// ([`QueryRefused`]) when it is not read-only, when every slot is taken, when it outlives
    /// the timeout or the memory limit, and when the executor shuts down meanwhile.
    pub async fn run(
        &self,
        table: &DeltaTable,
        sql: &str,
        max_rows: Option<usize>,
    ) -> Result<QueryAnswer, LakeError> {
        let statement = read_only_statement(sql)?;
        if self.closed.is_cancelled() {
            return Err(QueryRefused::ShuttingDown.into());
        }
        let slot = Slot::take(&self.slots).ok_or(QueryRefused::Busy(self.options.concurrency))?;
        let memory_limit = self.options.memory_limit_bytes;
        let runtime = query_runtime_env(memory_limit)?;
        let table = table.clone();
        let mut task = AbortOnDrop(self.handle.spawn(async move {
            let _slot = slot;
            execute(&table, statement, max_rows, runtime)
                .await
                .map_err(|error| refused_over_memory(error, memory_limit))
        }));
        let timeout = self.options.timeout;
        let expired = async move {
            match timeout {
                Some(timeout) => {
                    tokio::time::sleep(timeout).await;
                    timeout
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Shutdown first: the runtime shutting down fails the query's own spawned work (an
            // object-store read, say), and that failure is the shutdown's, not the query's.
            biased;
            () = self.closed.cancelled() => Err(QueryRefused::ShuttingDown.into()),
            joined = &mut task.0 => match joined {
                Ok(answer) => answer,
                Err(error) if error.is_cancelled() => Err(QueryRefused::ShuttingDown.into()),
                Err(error) => Err(LakeError::Operation(Box::new(error))),
            },
            timeout = expired => Err(QueryRefused::Timeout(timeout).into()),
        }
    }

    /// Stops every running query and refuses new ones; returns at once, whatever the query
    /// threads are doing (a thread still inside an operator ends with the process).
    pub fn shutdown(&self) {
        self.closed.cancel();
        let runtime = self.runtime.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(runtime) = runtime {
            runtime.shutdown_background();
        }
    }
}

impl Drop for QueryExecutor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A query's slot, counted in [`QUERIES_RUNNING`] while its task holds it.
struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn take(slots: &Arc<Semaphore>) -> Option<Self> {
        let permit = Arc::clone(slots).try_acquire_owned().ok()?;
        metrics::gauge!(QUERIES_RUNNING).increment(1.0);
        Some(Self { _permit: permit })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::gauge!(QUERIES_RUNNING).decrement(1.0);
    }
}

/// Aborts the task when dropped (the caller stopped waiting for it).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One query's DataFusion runtime: a memory pool of `memory_limit` bytes, and spill files in a
/// temporary directory of its own (removed with it) holding at most as much again.
fn query_runtime_env(memory_limit: usize) -> Result<Arc<RuntimeEnv>, LakeError> {
    let disk = DiskManagerBuilder::default()
        .with_mode(DiskManagerMode::OsTmpDirectory)
        .with_max_temp_directory_size(memory_limit as u64);
    Ok(RuntimeEnvBuilder::new()
        .with_memory_limit(memory_limit, 1.0)
        .with_disk_manager_builder(disk)
        .build_arc()?)
}

/// Plans and runs `statement`, keeping at most `max_rows` rows.
async fn execute(
    table: &DeltaTable,
    statement: Statement,
    max_rows: Option<usize>,
    runtime: Arc<RuntimeEnv>,
) -> Result<QueryAnswer, LakeError> {
    let context = session_in(table, runtime).await?;
    let plan = read_only_plan(&context, statement).await?;
    let frame = context.execute_logical_plan(plan).await?;
    let schema = frame.schema().inner().clone();
    let task = Arc::new(frame.task_ctx());
    let plan = yielding(frame.create_physical_plan().await?)?;
    let mut stream = execute_stream(plan, task)?;
    let mut answer = QueryAnswer {
        schema,
        batches: Vec::new(),
        rows: 0,
        truncated: false,
    };
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let room = max_rows.map_or(usize::MAX, |max| max - answer.rows);
        if batch.num_rows() > room {
            answer.batches.push(batch.slice(0, room));
            answer.rows += room;
            answer.truncated = true;
            break;
        }
        answer.rows += batch.num_rows();
        answer.batches.push(batch);
    }
    Ok(answer)
}

/// `plan` with every operator wrapped in `CooperativeExec`: each batch any operator emits spends
/// tokio budget, so the query's tasks yield, and can be dropped, between any two batches.
fn yielding(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
    plan.transform_up(|node| {
        if node.is::<CooperativeExec>() {
            return Ok(Transformed::no(node));
        }
        let wrapped: Arc<dyn ExecutionPlan> = Arc::new(CooperativeExec::new(node));
        Ok(Transformed::yes(wrapped))
    })
    .map(|transformed| transformed.data)
}

/// A query stopped by its memory pool (or its spill room) as the refusal naming the limit.
fn refused_over_memory(error: LakeError, memory_limit: usize) -> LakeError {
    match &error {
        LakeError::Query(query)
            if matches!(query.find_root(), DataFusionError::ResourcesExhausted(_))
                || query.to_string().contains(SPILL_LIMIT_MESSAGE) =>
        {
            QueryRefused::MemoryLimit(memory_limit).into()
        }
        _ => error,
    }
}
