//! Every version, newest first, a page at a time: when, which operation, rows and files added and
//! removed, and the Kafka offsets its commit stored; each links to its overview, its diff with
//! the version before, SQL at it and a restore preview.

use axum::extract::Query;
use lakehouse_lake::{AsOf, version_changes};
use maud::{Markup, html};

use crate::chosen::ChosenTable;
use crate::error::PageError;
use crate::layout::{Nav, bytes, count, page, time};
use crate::selection::{Params, open, version_param};

/// Versions per page unless `limit` says otherwise, and the most it may say.
const PAGE: u64 = 50;
const MAX_PAGE: u64 = 500;

pub async fn history(chosen: ChosenTable, Query(params): Query<Params>) -> Result<Markup, PageError> {
    let opened = open(&chosen, &AsOf::default()).await?;
    let latest = opened.latest;
    let newest = version_param(&params, "from")?.unwrap_or(latest);
    if newest > latest {
        return Err(PageError::NotFound(format!(
            "there is no version {newest}: the latest is {latest}"
        )));
    }
    let limit = version_param(&params, "limit")?
        .unwrap_or(PAGE)
        .clamp(1, MAX_PAGE);
    let changes = version_changes(&opened.table, newest, limit as usize).await?;
    let oldest = changes.last().map_or(0, |change| change.version);
    let link = |from: u64| {
        chosen.href(
            "/history",
            &[("from", from.to_string()), ("limit", limit.to_string())],
        )
    };
    let body = html! {
        h1 { "History" }
        p { "Versions " (oldest) " to " (newest) " of " (latest + 1) ", newest first. Rows removed by a commit are the rows of the files it removed; an " code { "OPTIMIZE" } " moves rows without changing any." }
        table #history {
            thead {
                tr {
                    th { "version" } th { "committed" } th { "operation" }
                    th.n { "rows added" } th.n { "rows removed" } th.n { "files +/−" } th.n { "bytes +/−" }
                    th { "Kafka offsets (txn)" } th {}
                }
            }
            tbody {
                @for change in &changes {
                    @let v = change.version.to_string();
                    tr id={"v" (change.version)} class=[(!change.data_change).then_some("no-data-change")] {
                        td { a.version href=(chosen.href("/", &[("version", v.clone())])) { (change.version) } }
                        td { (time(change.timestamp)) }
                        td { code { (change.operation) } }
                        td.n { (count(change.rows_added)) }
                        td.n { (change.rows_removed.map_or_else(|| "?".to_string(), count)) }
                        td.n { "+" (change.files_added) " −" (change.files_removed) }
                        td.n { "+" (bytes(change.bytes_added)) " −" (bytes(change.bytes_removed)) }
                        td {
                            @if !change.offsets.is_empty() {
                                ul.offsets {
                                    @for (app, offset) in &change.offsets {
                                        li { code { (app) } " → " (offset) }
                                    }
                                }
                            }
                        }
                        td.links {
                            @if change.version > 0 {
                                a href=(chosen.href("/diff", &[("from", (change.version - 1).to_string()), ("to", v.clone())])) { "diff" }
                                " "
                            }
                            a href=(chosen.href("/sql", &[("version", v.clone())])) { "SQL" }
                            " "
                            a href=(chosen.href("/restore", &[("version", v.clone())])) { "restore…" }
                        }
                    }
                }
            }
        }
        nav.pages {
            @if newest < latest { a #newer href=(link((newest + limit).min(latest))) { "← newer" } }
            @if oldest > 0 { a #older href=(link(oldest - 1)) { "older →" } }
        }
    };
    Ok(page(
        &format!("History of {}", chosen.name),
        Nav::History,
        Some(chosen.name.as_str()),
        body,
    ))
}
