//! The diff of two versions as rows per day and event type added and removed: what a bad deploy
//! wrote, or (from the latest to an older version) what a restore would undo.

use std::collections::BTreeMap;

use axum::extract::Query;
use lakehouse_lake::{AsOf, Diff, diff};
use maud::{Markup, html};

use crate::chart;
use crate::chosen::ChosenTable;
use crate::error::PageError;
use crate::layout::{Nav, count, page};
use crate::selection::{Params, open, version_param};

pub async fn diff_page(chosen: ChosenTable, Query(params): Query<Params>) -> Result<Markup, PageError> {
    let to = version_param(&params, "to")?;
    let from = version_param(&params, "from")?;
    let newer = open(
        &chosen,
        &AsOf {
            version: to,
            as_of: None,
        },
    )
    .await?;
    let from = from.unwrap_or(newer.version.saturating_sub(1));
    let older = open(
        &chosen,
        &AsOf {
            version: Some(from),
            as_of: None,
        },
    )
    .await?;
    let change = diff(&older.table, &newer.table).await?;
    let body = html! {
        h1 { "Diff" }
        form.selection method="get" action="/diff" {
            (chosen.field())
            label { "From version " input type="number" name="from" min="0" max=(newer.latest) value=(change.from_version); }
            label { "to version " input type="number" name="to" min="0" max=(newer.latest) value=(change.to_version); }
            button type="submit" { "Compare" }
        }
        (diff_view(&change))
    };
    Ok(page(
        &format!(
            "Diff {} → {} of {}",
            change.from_version, change.to_version, chosen.name
        ),
        Nav::Diff,
        Some(chosen.name.as_str()),
        body,
    ))
}

/// A diff's summary, its chart per day and its table per day and event type.
pub fn diff_view(change: &Diff) -> Markup {
    let mut per_day: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for row in &change.rows {
        let day = per_day.entry(row.event_date.as_str()).or_default();
        day.0 += row.added;
        day.1 += row.removed;
    }
    let points: Vec<(String, u64, u64)> = per_day
        .into_iter()
        .map(|(day, (added, removed))| (day.to_string(), added, removed))
        .collect();
    html! {
        p.summary #summary {
            "From version " (change.from_version) " to version " (change.to_version) ": "
            span.added #rows-added { "+" (count(change.rows_added())) } " rows, "
            span.removed #rows-removed { "−" (count(change.rows_removed())) } " rows; "
            (change.files_added) " data files added, " (change.files_removed) " removed."
        }
        @if change.rows.is_empty() {
            p.note { "No rows differ" @if change.files_added + change.files_removed > 0 { " (the files were rewritten without changing rows)" } "." }
        } @else {
            (chart::up_and_down("Rows added (up) and removed (down) per day", &points))
            table #diff {
                thead { tr { th { "event_date" } th { "event_type" } th.n { "added" } th.n { "removed" } th.n { "net" } } }
                tbody {
                    @for row in &change.rows {
                        tr {
                            td { (row.event_date) }
                            td { (row.event_type) }
                            td.n.added { (count(row.added)) }
                            td.n.removed { (count(row.removed)) }
                            td.n { (net(row.added, row.removed)) }
                        }
                    }
                }
            }
        }
    }
}

fn net(added: u64, removed: u64) -> String {
    if added >= removed {
        format!("+{}", count(added - removed))
    } else {
        format!("−{}", count(removed - added))
    }
}
