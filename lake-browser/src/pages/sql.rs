//! The SQL console: one read-only query over the chosen table (as `events`) at the latest version, a chosen version or
//! as of a time, run by the state's query executor (anything else is refused with its reason, and
//! so is a query over its time or memory, or beyond the slots); results as a table up to the row
//! limit, charted when they have the shape of a chart, or downloaded as CSV or JSON lines. Links
//! put an example query in the box (`?example=NAME`) without running it.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use lakehouse_lake::{MIB, OutputFormat, QueryAnswer, render};
use maud::{Markup, html};

use crate::chosen::ChosenTable;
use crate::error::PageError;
use crate::examples::{EXAMPLES, example};
use crate::layout::{Nav, count, page};
use crate::result_chart;
use crate::selection::{Params, as_of, open, param};
use crate::state::AppState;

pub async fn console(
    State(state): State<AppState>,
    chosen: ChosenTable,
    Query(params): Query<Params>,
) -> Response {
    let sql = param(&params, "q").map(str::to_string);
    let picked = param(&params, "example").map(|name| {
        example(name).ok_or_else(|| {
            let names: Vec<&str> = EXAMPLES.iter().map(|example| example.name).collect();
            PageError::BadRequest(format!(
                "there is no example {name:?}: there are {}",
                names.join(", ")
            ))
        })
    });
    let outcome = match (&sql, picked) {
        (Some(sql), _) => run(&state, &chosen, &params, sql, state.settings.page_rows)
            .await
            .map(|answer| (Some(answer), None)),
        (None, Some(picked)) => picked.map(|example| (None, Some(example))),
        (None, None) => Ok((None, None)),
    };
    let status = outcome.as_ref().err().map_or(StatusCode::OK, PageError::status);
    let shown = match (&sql, &outcome) {
        (Some(sql), _) => sql.as_str(),
        (None, Ok((_, Some(example)))) => example.sql,
        _ => EXAMPLES[0].sql,
    };
    let at: Vec<(&str, String)> = ["version", "as_of"]
        .into_iter()
        .filter_map(|key| param(&params, key).map(|value| (key, value.to_string())))
        .collect();
    let limits = state.queries.options();
    let body = html! {
        h1 { "SQL" }
        form.console method="get" action="/sql" {
            (chosen.field())
            textarea name="q" rows="6" spellcheck="false" { (shown) }
            div {
                label { "Version " input type="number" name="version" min="0" value=[param(&params, "version")]; }
                label { "or as of " input type="text" name="as_of" placeholder="2026-11-22T08:00:00Z" value=[param(&params, "as_of")]; }
                button type="submit" { "Run" }
            }
        }
        p.examples #examples {
            "Examples: "
            @for (index, example) in EXAMPLES.iter().enumerate() {
                @if index > 0 { " · " }
                a href=(chosen.href("/sql", &[[("example", example.name.to_string())].as_slice(), &at].concat())) { (example.title) }
            }
        }
        p.hint {
            "One read-only query over " code { "events" } " (the table " code { (chosen.name) } "; SELECT, WITH, VALUES, EXPLAIN, DESCRIBE); at most "
            (count(state.settings.page_rows as u64)) " rows shown; stopped "
            @if let Some(timeout) = limits.timeout { "after " (timeout.as_secs()) " s or " }
            "beyond " (limits.memory_limit_bytes / MIB) " MiB of memory."
        }
        @match &outcome {
            Err(error) => p.error #error { (error.to_string()) },
            Ok((Some((version, answer)), _)) => (results(&chosen, &params, shown, *version, answer, state.settings.download_rows)),
            Ok((None, _)) => {},
        }
    };
    let title = format!("SQL over {}", chosen.name);
    (status, page(&title, Nav::Sql, Some(chosen.name.as_str()), body)).into_response()
}

/// The same query, its rows as CSV or JSON lines (`format=csv|json`) up to the download limit.
pub async fn download(
    State(state): State<AppState>,
    chosen: ChosenTable,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    let sql = param(&params, "q").ok_or_else(|| PageError::BadRequest("q (the query) is missing".into()))?;
    let (format, content_type, extension) = match param(&params, "format").unwrap_or("csv") {
        "csv" => (OutputFormat::Csv, "text/csv; charset=utf-8", "csv"),
        "json" => (OutputFormat::Json, "application/x-ndjson; charset=utf-8", "jsonl"),
        other => {
            return Err(PageError::BadRequest(format!(
                "format must be csv or json, not {other:?}"
            )));
        }
    };
    let (version, answer) = run(&state, &chosen, &params, sql, state.settings.download_rows).await?;
    let text = render(&answer.batches, format)?;
    let mut response = ([(header::CONTENT_TYPE, content_type)], text).into_response();
    // The table's folder (`projects/shop`, its values encoded to letters, digits, `-` and `_`)
    // names the file, so no name a stranger sent reaches the header.
    let file = chosen.path.to_string().replace('/', "-");
    let disposition = format!("attachment; filename=\"{file}-v{version}.{extension}\"");
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        "x-rows-truncated",
        HeaderValue::from_static(if answer.truncated { "true" } else { "false" }),
    );
    Ok(response)
}

/// Runs `sql` at the selected version within `max_rows`, on the query executor (which refuses it
/// when its slots are taken, and stops it at its timeout or memory limit).
async fn run(
    state: &AppState,
    chosen: &ChosenTable,
    params: &Params,
    sql: &str,
    max_rows: usize,
) -> Result<(u64, QueryAnswer), PageError> {
    let opened = open(chosen, &as_of(params)?).await?;
    let answer = state
        .queries
        .run(&opened.table, sql, Some(max_rows))
        .await
        .map_err(PageError::from_query)?;
    Ok((opened.version, answer))
}

fn results(
    chosen: &ChosenTable,
    params: &Params,
    sql: &str,
    version: u64,
    answer: &QueryAnswer,
    download_rows: usize,
) -> Markup {
    let download = |format: &str| {
        let mut pairs = vec![("q", sql.to_string()), ("format", format.to_string())];
        for key in ["version", "as_of"] {
            if let Some(value) = param(params, key) {
                pairs.push((key, value.to_string()));
            }
        }
        chosen.href("/sql/download", &pairs)
    };
    html! {
        p.summary #summary {
            span #row-count { (count(answer.rows as u64)) } " rows at version " span #at-version { (version) }
            @if answer.truncated { " (the row limit; downloads hold up to " (count(download_rows as u64)) ")" }
            " · download "
            a #csv href=(download("csv")) { "CSV" } " "
            a #json href=(download("json")) { "JSON" }
        }
        @if let Some(charts) = result_chart::charts(&answer.schema, &answer.batches) { (charts) }
        div.scroll {
            table #results {
                thead { tr { @for field in answer.schema.fields() { th { (field.name()) } } } }
                tbody {
                    @for batch in &answer.batches {
                        @for row in 0..batch.num_rows() {
                            tr { @for cell in cells(batch, row) {
                                @match cell {
                                    Some(text) => td { (text) },
                                    None => td.null { "NULL" },
                                }
                            } }
                        }
                    }
                }
            }
        }
    }
}

/// The row's values as text (`None` for a null).
fn cells(batch: &RecordBatch, row: usize) -> Vec<Option<String>> {
    let options = FormatOptions::default();
    batch
        .columns()
        .iter()
        .map(|column| {
            if column.is_null(row) {
                return None;
            }
            Some(
                ArrayFormatter::try_new(column.as_ref(), &options)
                    .map_or_else(|error| format!("({error})"), |f| f.value(row).to_string()),
            )
        })
        .collect()
}
