//! The frame every page shares (title, navigation, the style sheet; no script anywhere) and how
//! numbers, sizes and times are written. Pages are `maud` templates, which escape every value
//! they interpolate: event titles, URLs and properties are written by strangers.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

/// The style sheet, served at [`STYLE_PATH`].
pub const STYLE: &str = include_str!("style.css");
pub const STYLE_PATH: &str = "/static/style.css";

/// Which entry of the navigation is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    History,
    Diff,
    Sql,
    Restore,
    None,
}

const ENTRIES: [(Nav, &str, &str); 5] = [
    (Nav::Overview, "/", "Overview"),
    (Nav::History, "/history", "History"),
    (Nav::Diff, "/diff", "Diff"),
    (Nav::Sql, "/sql", "SQL"),
    (Nav::Restore, "/restore", "Restore"),
];

/// A whole page.
pub fn page(title: &str, current: Nav, body: Markup) -> Markup {
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
                        @for (entry, href, label) in ENTRIES {
                            a href=(href) class=[(entry == current).then_some("current")] { (label) }
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
    }

    #[test]
    fn the_frame_loads_no_script() {
        let html = page("t", Nav::Sql, html! { p { "<b>" } }).into_string();
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;b&gt;"), "{html}");
        assert!(
            html.contains(r#"<a href="/sql" class="current">SQL</a>"#),
            "{html}"
        );
    }
}
