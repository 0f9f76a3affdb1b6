//! Bar charts as inline SVG, drawn on the server: columns over time (rows per day), horizontal
//! bars (events per type), both also for any numbers (a query's result, negatives below a zero
//! line), and columns up and down (rows added and removed per day). Labels are escaped like every
//! other value; a hover shows each bar's exact number, and columns, which have no axis, name
//! their highest in the caption.

use std::cmp::Ordering;

use maud::{Markup, html};

use crate::layout::{count, number};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LABEL_ROOM: f64 = 20.0;
/// About the width of a `YYYY-MM-DD` label: one that would not fit at the right edge is left out.
const LABEL_WIDTH: f64 = 66.0;
/// Characters of a label under a column; longer ones are cut (the hover has them whole).
const COLUMN_LABEL_CHARS: usize = 10;
/// Room left of horizontal bars for their labels, and characters of a label that fit in it.
const BAR_LABELS: f64 = 170.0;
const BAR_LABEL_CHARS: usize = 26;

/// One bar: its label, its size, and its number as written.
struct Point<'a> {
    label: &'a str,
    value: f64,
    text: String,
}

fn counts(points: &[(String, u64)]) -> Vec<Point<'_>> {
    points
        .iter()
        .map(|(label, n)| Point {
            label,
            value: *n as f64,
            text: count(*n),
        })
        .collect()
}

/// Values that are not finite (a null, NaN) get no bar and leave the scale alone.
fn values(points: &[(String, f64)]) -> Vec<Point<'_>> {
    points
        .iter()
        .map(|(label, value)| Point {
            label,
            value: *value,
            text: if value.is_finite() {
                number(*value)
            } else {
                "–".into()
            },
        })
        .collect()
}

/// Columns of counts, one per label, left to right (at most `max` of the last ones).
pub fn columns(caption: &str, points: &[(String, u64)], max: usize) -> Markup {
    let shown = &points[points.len().saturating_sub(max)..];
    let note = (shown.len() < points.len()).then(|| format!(" (the last {})", shown.len()));
    draw_columns(caption, &counts(shown), note.as_deref())
}

/// Horizontal bars of counts, one per label, top to bottom.
pub fn bars(caption: &str, points: &[(String, u64)]) -> Markup {
    draw_bars(caption, &counts(points), None)
}

/// Columns of any numbers, one per label, left to right; `note` follows the caption.
pub fn value_columns(caption: &str, points: &[(String, f64)], note: Option<&str>) -> Markup {
    draw_columns(caption, &values(points), note)
}

/// Horizontal bars of any numbers, one per label, top to bottom; `note` follows the caption.
pub fn value_bars(caption: &str, points: &[(String, f64)], note: Option<&str>) -> Markup {
    draw_bars(caption, &values(points), note)
}

/// Where zero and the ends of the values fall: a share of the chart's room for each value, with
/// zero at the bottom (or left) unless some value is negative.
struct Scale {
    low: f64,
    span: f64,
}

impl Scale {
    fn new(points: &[Point<'_>]) -> Self {
        let finite = || points.iter().map(|p| p.value).filter(|v| v.is_finite());
        let low = finite().fold(0.0, f64::min);
        let high = finite().fold(0.0, f64::max);
        let span = if high - low > 0.0 { high - low } else { 1.0 };
        Self { low, span }
    }

    /// How far along `room` a value lies from the low end.
    fn at(&self, value: f64, room: f64) -> f64 {
        (value - self.low) / self.span * room
    }
}

fn draw_columns(caption: &str, points: &[Point<'_>], note: Option<&str>) -> Markup {
    let scale = Scale::new(points);
    let layout = Layout::new(points.len());
    let zero = HEIGHT - scale.at(0.0, HEIGHT);
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + LABEL_ROOM)) role="img" aria-label=(caption) {
                @if scale.low < 0.0 { line x1="0" x2=(fmt(WIDTH)) y1=(fmt(zero)) y2=(fmt(zero)) {} }
                @for (index, point) in points.iter().enumerate() {
                    @if point.value.is_finite() {
                        @let top = HEIGHT - scale.at(point.value, HEIGHT);
                        rect.bar x=(fmt(layout.x(index))) y=(fmt(top.min(zero))) width=(fmt(layout.bar)) height=(fmt((zero - top).abs())) {
                            title { (point.label) ": " (point.text) }
                        }
                    }
                    (layout.label(index, point.label))
                }
            }
            figcaption {
                (caption) @if let Some(note) = note { (note) }
                @if let Some(highest) = extreme(points, Ordering::Greater) { " · highest " (highest.text) }
                @if let Some(lowest) = extreme(points, Ordering::Less).filter(|p| p.value < 0.0) { " · lowest " (lowest.text) }
            }
        }
    }
}

/// The highest (`Greater`) or lowest (`Less`) column, whose number in the caption gives the
/// columns a scale without an axis.
fn extreme<'p>(points: &'p [Point<'_>], which: Ordering) -> Option<&'p Point<'p>> {
    points
        .iter()
        .filter(|point| point.value.is_finite())
        .max_by(|a, b| {
            let order = a.value.total_cmp(&b.value);
            if which == Ordering::Less {
                order.reverse()
            } else {
                order
            }
        })
}

fn draw_bars(caption: &str, points: &[Point<'_>], note: Option<&str>) -> Markup {
    const ROW: f64 = 22.0;
    let room = WIDTH - BAR_LABELS - 90.0;
    let scale = Scale::new(points);
    let zero = BAR_LABELS + scale.at(0.0, room);
    let height = ROW * points.len().max(1) as f64;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-label=(caption) {
                @for (index, point) in points.iter().enumerate() {
                    @let y = index as f64 * ROW;
                    text x="0" y=(fmt(y + 15.0)) { (cut(point.label, BAR_LABEL_CHARS)) }
                    @if point.value.is_finite() {
                        @let end = BAR_LABELS + scale.at(point.value, room);
                        rect.bar x=(fmt(end.min(zero))) y=(fmt(y + 3.0)) width=(fmt((end - zero).abs().max(1.0))) height=(fmt(ROW - 6.0)) {
                            title { (point.label) ": " (point.text) }
                        }
                        text x=(fmt(end.max(zero) + 6.0)) y=(fmt(y + 15.0)) { (point.text) }
                    }
                }
            }
            figcaption { (caption) @if let Some(note) = note { (note) } }
        }
    }
}

/// The first `chars` characters of `label`, with an ellipsis when it had more.
fn cut(label: &str, chars: usize) -> String {
    match label.char_indices().nth(chars.saturating_sub(1)) {
        Some((end, _)) if label[end..].chars().nth(1).is_some() => format!("{}…", &label[..end]),
        _ => label.to_string(),
    }
}

/// Columns up (added) and down (removed) around a middle line, one pair per label.
pub fn up_and_down(caption: &str, points: &[(String, u64, u64)]) -> Markup {
    let half = HEIGHT / 2.0;
    let top = points
        .iter()
        .map(|(_, added, removed)| (*added).max(*removed))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let layout = Layout::new(points.len());
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + LABEL_ROOM)) role="img" aria-label=(caption) {
                line x1="0" x2=(fmt(WIDTH)) y1=(fmt(half)) y2=(fmt(half)) {}
                @for (index, (label, added, removed)) in points.iter().enumerate() {
                    @let x = layout.x(index);
                    @let up = (*added as f64 / top) * half;
                    @let down = (*removed as f64 / top) * half;
                    rect.added x=(fmt(x)) y=(fmt(half - up)) width=(fmt(layout.bar)) height=(fmt(up)) {
                        title { (label) ": " (count(*added)) " added" }
                    }
                    rect.removed x=(fmt(x)) y=(fmt(half)) width=(fmt(layout.bar)) height=(fmt(down)) {
                        title { (label) ": " (count(*removed)) " removed" }
                    }
                    (layout.label(index, label))
                }
            }
            figcaption { (caption) }
        }
    }
}

/// Where columns stand across the chart, and which of them are labelled (about eight).
struct Layout {
    step: f64,
    bar: f64,
    label_every: usize,
}

impl Layout {
    fn new(columns: usize) -> Self {
        let step = WIDTH / columns.max(1) as f64;
        Self {
            step,
            bar: (step * 0.8).max(1.0),
            label_every: (columns / 8).max(1),
        }
    }

    fn x(&self, index: usize) -> f64 {
        index as f64 * self.step
    }

    /// The label under column `index` when it is one of those labelled and fits.
    fn label(&self, index: usize, label: &str) -> Markup {
        let x = self.x(index);
        html! {
            @if index.is_multiple_of(self.label_every) && x + LABEL_WIDTH <= WIDTH {
                text x=(fmt(x)) y=(fmt(HEIGHT + 14.0)) { (cut(label, COLUMN_LABEL_CHARS)) }
            }
        }
    }
}

fn fmt(value: f64) -> String {
    format!("{value:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_labels() {
        let points = vec![("page_view".to_string(), 60), ("<script>".to_string(), 30)];
        let svg = bars("events per type", &points).into_string();
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(!svg.contains("<script>"), "{svg}");
        // The largest bar spans the room; half the count, half the length.
        assert!(svg.contains(r#"width="460.0""#), "{svg}");
        assert!(svg.contains(r#"width="230.0""#), "{svg}");
    }

    #[test]
    fn columns_show_the_last_points_only() {
        let points: Vec<(String, u64)> = (1..=100).map(|d| (format!("day-{d}"), d)).collect();
        let svg = columns("rows per day", &points, 30).into_string();
        assert_eq!(svg.matches("<rect").count(), 30);
        assert!(svg.contains("day-100: 100") && !svg.contains("day-70:"), "{svg}");
        assert!(svg.contains("(the last 30) · highest 100"), "{svg}");
    }

    #[test]
    fn negative_values_hang_below_a_zero_line() {
        let points = vec![("up".to_string(), 30.0), ("down".to_string(), -10.0)];
        let svg = value_columns("change", &points, None).into_string();
        // 40 units over 180: zero at 135; up rises 135, down hangs 45 below zero.
        assert!(svg.contains(r#"y1="135.0""#), "{svg}");
        assert!(svg.contains(r#"y="0.0" width="288.0" height="135.0""#), "{svg}");
        assert!(svg.contains(r#"y="135.0" width="288.0" height="45.0""#), "{svg}");
        assert!(svg.contains("down: -10"), "{svg}");
        assert!(svg.contains("change · highest 30 · lowest -10"), "{svg}");
    }

    #[test]
    fn a_value_that_is_not_finite_gets_no_bar() {
        let points = vec![("some".to_string(), 2.5), ("null".to_string(), f64::NAN)];
        let svg = value_bars("values", &points, Some(" (note)")).into_string();
        assert_eq!(svg.matches("<rect").count(), 1, "{svg}");
        assert!(
            svg.contains("some: 2.5") && svg.contains("values (note)"),
            "{svg}"
        );
    }

    #[test]
    fn long_labels_are_cut_with_an_ellipsis() {
        assert_eq!(cut("2026-11-22", 10), "2026-11-22");
        assert_eq!(cut("a-much-longer-label", 10), "a-much-lo…");
        assert_eq!(cut("ééééééééééé", 10), "ééééééééé…");
    }
}
