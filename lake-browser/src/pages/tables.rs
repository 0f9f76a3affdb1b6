//! The lake's tables (DESIGN.md §8.6): `<lake>/events` and each table `LAKE_TABLES` routed events
//! to, as `lakehouse lake tables` lists them, each with links to its pages. Listing only: no
//! table is opened here, so the page stays cheap with hundreds of them.

use axum::extract::State;
use lakehouse_lake::tables as lake_tables;
use maud::{Markup, html};

use crate::chosen::ChosenTable;
use crate::error::PageError;
use crate::layout::{Nav, count, page};
use crate::state::AppState;

pub async fn tables(State(state): State<AppState>) -> Result<Markup, PageError> {
    let paths = lake_tables(&state.location).await?;
    let body = html! {
        h1 { "Tables" }
        p.where {
            (count(paths.len() as u64)) " tables in the lake at " code #lake { (state.location.uri) }
            ". A table is named as " code { "lakehouse lake --table" } " names it: a project's id or an event type as it was sent; its folder encodes it."
        }
        @if paths.is_empty() {
            p.note #no-tables { "The lake holds no table yet: the delta-writer creates each with its first event." }
        } @else {
            table #tables {
                thead { tr { th { "table" } th { "folder" } th {} } }
                tbody {
                    @for path in paths {
                        @let folder = path.to_string();
                        @match ChosenTable::listed(&state.location, path) {
                            Some(table) => tr data-table=(table.name) {
                                td { a.table href=(table.href("/", &[])) { code { (table.name) } } }
                                td { code { (folder) } }
                                td.links {
                                    a.history href=(table.href("/history", &[])) { "history" } " "
                                    a.sql href=(table.href("/sql", &[])) { "SQL" } " "
                                    a.diff href=(table.href("/diff", &[])) { "diff" } " "
                                    a.restore href=(table.href("/restore", &[])) { "restore…" }
                                }
                            },
                            None => tr {
                                td { "–" }
                                td { code { (folder) } }
                                td { "a folder the writer does not name (made by hand): not browsable" }
                            },
                        }
                    }
                }
            }
        }
    };
    Ok(page("Tables", Nav::Tables, None, body))
}
