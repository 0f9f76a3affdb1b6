//! The overview of a version (the latest, or any by number or time): where the table is, how
//! fresh it is (its newest `received_at` and its commit, with their ages), its rows, files, bytes,
//! small files and last checkpoint, rows per day and events per type as charts, the partitions
//! and the schema.

use axum::extract::Query;
use lakehouse_lake::{events_per_type, table_stats, version_changes};
use maud::{Markup, html};

use crate::chart;
use crate::chosen::ChosenTable;
use crate::error::PageError;
use crate::layout::{Nav, age, bytes, count, page, time};
use crate::selection::{Params, as_of, open};

/// Days shown in the rows-per-day chart (the table below lists them all).
const CHART_DAYS: usize = 90;

pub async fn overview(chosen: ChosenTable, Query(params): Query<Params>) -> Result<Markup, PageError> {
    let at = as_of(&params)?;
    let opened = open(&chosen, &at).await?;
    let table = &opened.table;
    let (stats, types, commit) = tokio::try_join!(
        table_stats(table),
        events_per_type(table),
        version_changes(table, opened.version, 1),
    )?;
    let commit = commit.into_iter().next().unwrap_or_default();
    let now = chrono::Utc::now();
    let version = opened.version;
    let per_day: Vec<(String, u64)> = stats
        .partitions
        .iter()
        .map(|p| (p.event_date.clone(), p.rows))
        .collect();
    let location = chosen
        .location
        .events_url()
        .map_or_else(|_| chosen.location.uri.clone(), |url| url.to_string());
    let body = html! {
        h1 { "Overview" }
        p.where { "The table " code #table-name { (chosen.name) } " at " code #location { (location) } }
        section.selection {
            p {
                "Version " strong #version { (version) } " of " (opened.latest)
                @if version == opened.latest { " (the latest)" }
                ", committed by " code { (commit.operation) }
            }
            form method="get" action="/" {
                (chosen.field())
                label { "Version " input type="number" name="version" min="0" max=(opened.latest) value=(version); }
                label { "or as of " input type="text" name="as_of" placeholder="2026-11-22T08:00:00Z"; }
                button type="submit" { "Show" }
            }
            @if version < opened.latest {
                p.note {
                    "An older version. "
                    a #since href=(chosen.href("/diff", &[("from", version.to_string()), ("to", opened.latest.to_string())])) {
                        "What changed since"
                    }
                    " · "
                    a href=(chosen.href("/restore", &[("version", version.to_string())])) { "Preview a restore to it" }
                }
            }
        }
        p.freshness #freshness {
            @match stats.newest_received_at {
                Some(at) => {
                    "Newest event received " time #newest-received datetime=(at.to_rfc3339()) { (time(Some(at))) }
                    " (" span #received-age { (age(at, now)) } ")"
                }
                None => span #newest-received { "No events yet" },
            }
            " · " @if version == opened.latest { "last commit " } @else { "this version committed " }
            @match commit.timestamp {
                Some(at) => {
                    time #commit-time datetime=(at.to_rfc3339()) { (time(Some(at))) }
                    " (" span #commit-age { (age(at, now)) } ")"
                }
                None => "at an unknown time",
            }
        }
        dl.cards {
            div { dt { "Rows" } dd #rows { (count(stats.rows)) } }
            div { dt { "Data files" } dd #files { (count(stats.files as u64)) } }
            div { dt { "Size" } dd #bytes { (bytes(stats.bytes)) } }
            div { dt { "Small files (< " (bytes(lakehouse_lake::SMALL_FILE_BYTES)) ")" } dd #small-files { (count(stats.small_files as u64)) } }
            div { dt { "Partitions" } dd { (count(stats.partitions.len() as u64)) } }
            div { dt { "Last checkpoint" } dd { (stats.last_checkpoint.map_or_else(|| "none yet".to_string(), |v| format!("version {v}"))) } }
        }
        @if stats.files_without_row_count > 0 {
            p.note { (stats.files_without_row_count) " files carry no row count; rows counts them as empty." }
        }
        div.charts {
            (chart::columns("Rows per day (event_date)", &per_day, CHART_DAYS))
            (chart::bars("Events per type", &types))
        }
        h2 { "Partitions" }
        table #partitions {
            thead { tr { th { "event_date" } th.n { "rows" } th.n { "files" } th.n { "small files" } th.n { "size" } th {} } }
            tbody {
                @for partition in &stats.partitions {
                    tr {
                        td { (partition.event_date) }
                        td.n { (count(partition.rows)) }
                        td.n { (count(partition.files as u64)) }
                        td.n { (count(partition.small_files as u64)) }
                        td.n { (bytes(partition.bytes)) }
                        td {
                            a href=(chosen.href("/sql", &[
                                ("q", format!("SELECT event_type, count(*) AS events FROM events WHERE event_date = '{}' GROUP BY event_type ORDER BY events DESC", partition.event_date)),
                                ("version", version.to_string()),
                            ])) { "query" }
                        }
                    }
                }
            }
        }
        h2 { "Schema" }
        p { "Partitioned by " code { (stats.partition_columns.join(", ")) } "." }
        table #schema {
            thead { tr { th { "column" } th { "type" } th { "nullable" } } }
            tbody {
                @for column in &stats.schema {
                    tr { td { code { (column.name) } } td { (column.data_type) } td { @if column.nullable { "yes" } @else { "no" } } }
                }
            }
        }
    };
    Ok(page(
        &format!("Version {version} of {}", chosen.name),
        Nav::Overview,
        Some(chosen.name.as_str()),
        body,
    ))
}
