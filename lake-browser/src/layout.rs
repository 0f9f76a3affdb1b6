//! The frame every page shares (title, navigation, the style sheet; no script anywhere) and how
//! numbers, sizes and times are written. Pages are `maud` templates, which escape every value
//! they interpolate: event titles, URLs and properties are written by strangers.

use chrono::{DateTime, Utc};
use lakehouse_lake::TablePath;
use maud::{DOCTYPE, Markup, html};

/// The style sheet, served at [`STYLE_PATH`].
pub const STYLE: &str = include_str!("style.css");
pub const STYLE_PATH: &str = "/static/style.css";

/// The query parameter that names the table a page shows (DESIGN.md §15).
pub const TABLE_PARAM: &str = "table";

/// Which entry of the navigation is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Tables,
    Overview,
    History,
    Diff,
    Sql,
    Restore,
    None,
}

/// The pages of one table, each opened on the table the current page shows.
const ENTRIES: [(Nav, &str, &str); 5] = [
    (Nav::Overview, "/", "Overview"),
    (Nav::History, "/history", "History"),
    (Nav::Diff, "/diff", "Diff"),
    (Nav::Sql, "/sql", "SQL"),
    (Nav::Restore, "/restore", "Restore"),
];

/// A whole page; `table` names the table it shows, which its navigation stays on (`None` for a
/// page of no one table).
pub fn page(title: &str, current: Nav, table: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · lake browser" }
                link rel="stylesheet" href=(STYLE_PATH);
            }
            body {
                header {
                    nav {
                        span.brand { "lake browser" }
                        a href="/tables" class=[(current == Nav::Tables).then_some("current")] { "Tables" }
                        @if let Some(table) = table {
                            span.table #table { (table) }
                        }
                        @for (entry, href, label) in ENTRIES {
                            a href=(on_table(table, href, &[]))
                                class=[(entry == current).then_some("current")] { (label) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// `1 234 567`, grouped by thousands with narrow no-break spaces.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() * 2);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(digit);
    }
    out
}

/// Any number as a chart writes it: whole ones grouped like [`count`] (`-1 234`), others with at
/// most two decimals (`12.5`, `0.33`).
pub fn number(value: f64) -> String {
    let rounded = (value.abs() * 100.0).round() / 100.0;
    let sign = if value < 0.0 && rounded > 0.0 { "-" } else { "" };
    if rounded.fract() == 0.0 && rounded < 1e15 {
        return format!("{sign}{}", count(rounded as u64));
    }
    let text = format!("{rounded:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole = whole.parse().map_or_else(|_| whole.to_string(), count);
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// How long before `now` something happened, to the unit that matters: `42 s ago`, `7 min ago`,
/// `5 h 12 min ago`, `3 days ago`; a time after `now` (another machine's clock) says so.
pub fn age(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    let span = match seconds.unsigned_abs() {
        s if s < 90 => format!("{s} s"),
        s if s < 90 * 60 => format!("{} min", s / 60),
        s if s < 48 * 3600 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} days", s / 86_400),
    };
    if seconds < 0 {
        format!("{span} ahead of this clock")
    } else {
        format!("{span} ago")
    }
}

/// `12.3 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `2026-11-23 08:00:01 UTC`, or a dash.
pub fn time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "–".into(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// A link to `page` with `pairs` as its query, on the table named `table`: the `table` parameter
/// first, left out for the lake's own table (`events`, every page's default) and for none.
pub fn on_table(table: Option<&str>, page: &str, pairs: &[(&str, String)]) -> String {
    let own = TablePath::events().name();
    let mut all = Vec::with_capacity(pairs.len() + 1);
    if let Some(table) = table.filter(|table| Some(*table) != own.as_deref()) {
        all.push((TABLE_PARAM, table.to_string()));
    }
    all.extend(pairs.iter().cloned());
    if all.is_empty() {
        page.to_string()
    } else {
        format!("{page}?{}", query_string(&all))
    }
}

/// A query string from pairs, each value encoded (for links that carry SQL or times).
pub fn query_string(pairs: &[(&str, String)]) -> String {
    let mut encoder = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        encoder.append_pair(key, value);
    }
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_sizes_read_easily() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1\u{202f}000");
        assert_eq!(count(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(number(1_234.0), "1\u{202f}234");
        assert_eq!(number(-1_234.5), "-1\u{202f}234.5");
        assert_eq!(number(0.333), "0.33");
        assert_eq!(number(2.999), "3");
        assert_eq!(number(-0.004), "0");
    }

    #[test]
    fn ages_use_the_unit_that_matters() {
        let now = Utc::now();
        let ago = |seconds: i64| age(now - chrono::Duration::seconds(seconds), now);
        assert_eq!(ago(0), "0 s ago");
        assert_eq!(ago(89), "89 s ago");
        assert_eq!(ago(90), "1 min ago");
        assert_eq!(ago(3 * 3600 + 12 * 60 + 5), "3 h 12 min ago");
        assert_eq!(ago(47 * 3600), "47 h 0 min ago");
        assert_eq!(ago(36 * 86_400 + 5), "36 days ago");
        assert_eq!(ago(-5), "5 s ahead of this clock");
    }

    #[test]
    fn the_frame_loads_no_script() {
        let html = page("t", Nav::Sql, None, html! { p { "<b>" } }).into_string();
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;b&gt;"), "{html}");
        assert!(
            html.contains(r#"<a href="/sql" class="current">SQL</a>"#),
            "{html}"
        );
    }
}
