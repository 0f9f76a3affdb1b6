//! `lakehouse lake ...`: each runs one operation of the lake library and prints its result — a
//! listing as `--output` says, the result of a change as JSON (for people, scripts and CronJobs
//! alike). The administrative ones (restore, vacuum, optimize, backup) are [`Audited`]: recorded
//! in the audit log, and the commits they make carry the record in their `userMetadata`.

use deltalake::DeltaTable;
use lakehouse_audit::{ActorArgs, Audited};
use lakehouse_lake::{
    AsOf, LakeError, LakeLocation, OptimizeOptions, OutputFormat, QueryExecutor, QueryOptions, QueryRefused,
    RestoreOptions, TablePath, VacuumOptions, backup, diff, history, open_at, optimize, render, restore,
    tables, vacuum, verify,
};
use lakehouse_lake_args::AsOfArgs;
use lakehouse_progress::report;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{audit_log, print};
use crate::args::{AuditDatabase, BackupArgs, LakeCommand, OptimizeArgs, Output, SomeTables, VacuumArgs};
use crate::exit::Refused;
use crate::listings::TableRow;
use crate::output;
use lakehouse_lake_args::LakeArgs;

/// Runs one `lakehouse lake` command.
pub async fn execute(actor: &ActorArgs, command: &LakeCommand) -> anyhow::Result<()> {
    match command {
        LakeCommand::Query {
            sql,
            lake,
            table,
            at,
            output,
            limits,
        } => {
            query(
                &table.location(lake),
                sql,
                &(*at).into(),
                output.output,
                limits.into(),
            )
            .await
        }
        LakeCommand::Tables { lake, output } => {
            let found: Vec<TableRow> = tables(&lake.into())
                .await?
                .into_iter()
                .map(|table| TableRow { table })
                .collect();
            print(&output::render(&found, output.output)?);
            Ok(())
        }
        LakeCommand::History {
            lake,
            table,
            limit,
            output,
        } => {
            let table = open_at(&table.location(lake), &AsOf::default()).await?;
            print(&output::render(&history(&table, *limit).await?, output.output)?);
            Ok(())
        }
        LakeCommand::Diff {
            lake,
            table,
            from_version,
            to_version,
            output,
        } => {
            let lake = table.location(lake);
            let version = |version| AsOf { version, as_of: None };
            let from = open_at(&lake, &version(Some(*from_version))).await?;
            let to = open_at(&lake, &version(*to_version)).await?;
            print(&output::render(&diff(&from, &to).await?.rows, output.output)?);
            Ok(())
        }
        LakeCommand::Verify { lake, table, at } => {
            let root = LakeLocation::from(lake);
            let paths = table.paths(&root).await?;
            check(&root, &paths, table.all_tables, &(*at).into()).await
        }
        LakeCommand::Restore {
            lake,
            table,
            at,
            dry_run,
            audit,
        } => {
            let audited = Audited::start(
                audit_log(audit.database_url.as_ref())?,
                actor,
                "lake.restore",
                json!({"version": at.version, "as_of": at.as_of, "dry_run": dry_run}),
            );
            restore_to(audited, &table.location(lake), at, *dry_run).await
        }
        LakeCommand::Vacuum(args) => vacuum_files(actor, args).await,
        LakeCommand::Optimize(args) => compact(actor, args).await,
        LakeCommand::Backup(args) => back_up(actor, args).await,
    }
}

/// `query`: read-only, anything but a query is refused before it runs (DESIGN.md §8.3). It runs
/// on the executor's threads within its limits; a signal stops it, and the executor's threads are
/// not waited on (dropping it shuts them down in the background).
async fn query(
    lake: &LakeLocation,
    sql: &str,
    at: &AsOf,
    output: Output,
    limits: QueryOptions,
) -> anyhow::Result<()> {
    let table = open_at(lake, at).await?;
    let executor = QueryExecutor::new(limits)?;
    let interrupted = CancellationToken::new();
    tokio::spawn(lakehouse_telemetry::shutdown_on_signal(interrupted.clone()));
    let answer = tokio::select! {
        answer = executor.run(&table, sql, None) => answer.map_err(refused_or_failed)?,
        () = interrupted.cancelled() => anyhow::bail!("interrupted: the query was stopped"),
    };
    let format = match output {
        Output::Table => OutputFormat::Table,
        Output::Json => OutputFormat::Json,
        Output::Csv => OutputFormat::Csv,
    };
    print(&render(&answer.batches, format)?);
    Ok(())
}

/// A query refused (not read-only) or stopped at a limit is a refusal (exit status 2); a limit
/// comes with the flag that raises it.
fn refused_or_failed(error: LakeError) -> anyhow::Error {
    let hint = match error.operation::<QueryRefused>() {
        Some(QueryRefused::Timeout(_)) => "; give it longer with --timeout-secs",
        Some(QueryRefused::MemoryLimit(_)) => "; give it more with --memory-limit-mib",
        Some(_) => "",
        None => return error.into(),
    };
    Refused(format!("{error}{hint}")).into()
}

/// A change's result, for one table (`--table`) or for each (`--all-tables`).
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
enum Changed<T> {
    One(T),
    Each(Vec<OfTable<T>>),
}

/// A result and the table it is of.
#[derive(Debug, serde::Serialize)]
struct OfTable<T> {
    table: TablePath,
    #[serde(flatten)]
    result: T,
}

/// An audited change of the latest version of each table of `paths` under `lake`, one after the
/// other: `change` gets the table and the audit note its commit carries, and runs as the progress
/// phase `phase`. With `each`, the result names its table; a failure stops the rest.
async fn change_tables<T, F, Fut>(
    audited: Audited,
    lake: &LakeLocation,
    paths: &[TablePath],
    each: bool,
    phase: &str,
    change: F,
) -> anyhow::Result<()>
where
    T: serde::Serialize + std::fmt::Debug,
    F: Fn(DeltaTable, String) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let note = audited.commit_note();
    let outcome = async {
        let mut results = Vec::new();
        for path in paths {
            let table = open_at(&path.location(lake), &AsOf::default()).await?;
            let phase = if each {
                format!("{phase} {path}")
            } else {
                phase.to_string()
            };
            let changed = report(&phase, change(table, note.clone())).await?;
            tracing::info!(?changed, table = %path, "{phase}");
            results.push(OfTable {
                table: path.clone(),
                result: changed,
            });
        }
        anyhow::Ok(match (each, results.pop()) {
            (false, Some(one)) if results.is_empty() => Changed::One(one.result),
            (_, last) => Changed::Each(results.into_iter().chain(last).collect()),
        })
    }
    .await;
    audited.conclude(outcome).await
}

async fn restore_to(
    audited: Audited,
    lake: &LakeLocation,
    at: &AsOfArgs,
    dry_run: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        at.version.is_some() || at.as_of.is_some(),
        Refused("restore needs --version or --as-of".into())
    );
    let paths = [TablePath::events()];
    change_tables(
        audited,
        lake,
        &paths,
        false,
        "restore",
        |table, note| async move {
            let target = open_at(lake, &(*at).into()).await?;
            let options = RestoreOptions {
                dry_run,
                user_metadata: Some(note),
            };
            Ok(restore(table, &target, &options).await?)
        },
    )
    .await
}

/// `vacuum` or `optimize` (`command`), audited as `lake.<command>` with `arguments` and the tables
/// chosen, over those tables.
async fn maintain<T, F, Fut>(
    actor: &ActorArgs,
    audit: &AuditDatabase,
    lake: &LakeArgs,
    chosen: &SomeTables,
    command: &str,
    mut arguments: serde_json::Value,
    change: F,
) -> anyhow::Result<()>
where
    T: serde::Serialize + std::fmt::Debug,
    F: Fn(DeltaTable, String) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    arguments["table"] = json!(chosen.one.table);
    arguments["all_tables"] = json!(chosen.all_tables);
    let log = audit_log(audit.database_url.as_ref())?;
    let audited = Audited::start(log, actor, &format!("lake.{command}"), arguments);
    let lake = LakeLocation::from(lake);
    let paths = chosen.paths(&lake).await?;
    change_tables(audited, &lake, &paths, chosen.all_tables, command, change).await
}

async fn vacuum_files(actor: &ActorArgs, args: &VacuumArgs) -> anyhow::Result<()> {
    let arguments = json!({"retention_hours": args.retention_hours, "dry_run": args.dry_run});
    maintain(
        actor,
        &args.audit,
        &args.lake,
        &args.table,
        "vacuum",
        arguments,
        |table, note| async move {
            let options = VacuumOptions {
                user_metadata: Some(note),
                ..args.into()
            };
            Ok(vacuum(table, &options).await?)
        },
    )
    .await
}

async fn compact(actor: &ActorArgs, args: &OptimizeArgs) -> anyhow::Result<()> {
    let arguments = json!({"target_size": args.target_size, "zorder": args.zorder});
    maintain(
        actor,
        &args.audit,
        &args.lake,
        &args.table,
        "optimize",
        arguments,
        |table, note| async move {
            let options = OptimizeOptions {
                user_metadata: Some(note),
                ..args.into()
            };
            Ok(optimize(table, &options).await?)
        },
    )
    .await
}

/// `verify`: prints what it found in each table of `paths` (one JSON document, or with `each` one
/// per table), and fails when it found a problem in any.
async fn check(lake: &LakeLocation, paths: &[TablePath], each: bool, at: &AsOf) -> anyhow::Result<()> {
    let mut problems = 0;
    for path in paths {
        let table = open_at(&path.location(lake), at).await?;
        let phase = if each {
            format!("verify {path}")
        } else {
            "verify".into()
        };
        let verified = report(&phase, verify(&table)).await?;
        let found = verified.problems();
        for problem in &found {
            tracing::error!(problem = %problem, table = %path, "verify");
        }
        problems += found.len();
        if each {
            print(&serde_json::to_string(&OfTable {
                table: path.clone(),
                result: &verified,
            })?);
        } else {
            print(&serde_json::to_string_pretty(&verified)?);
        }
    }
    anyhow::ensure!(problems == 0, "verify found {problems} problem(s)");
    Ok(())
}

/// `backup`: the copy, then with `--verify` the copy checked as `verify` does.
async fn back_up(actor: &ActorArgs, args: &BackupArgs) -> anyhow::Result<()> {
    let lake = &args.table.location(&args.lake);
    // The copy of a routed table is at the same folder under the copy's root.
    let to = args
        .table
        .table
        .location(&args.location(&LakeLocation::from(&args.lake)));
    let audited = Audited::start(
        audit_log(args.audit.database_url.as_ref())?,
        actor,
        "lake.backup",
        json!({"from": lake.uri, "to": to.uri, "verify": args.verify}),
    );
    let outcome = async {
        let backed_up = report("backup", backup(lake, &to)).await?;
        let problems = if args.verify {
            let copy = open_at(&to, &AsOf::default()).await?;
            report("verify the copy", verify(&copy)).await?.problems()
        } else {
            Vec::new()
        };
        anyhow::ensure!(
            problems.is_empty(),
            "the copy at {} has {} problem(s): {problems:?}",
            to.uri,
            problems.len()
        );
        anyhow::Ok(backed_up)
    }
    .await;
    audited.conclude(outcome).await
}
