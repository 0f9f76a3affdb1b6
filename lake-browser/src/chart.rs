//! Bar charts as inline SVG, drawn on the server: columns over time (rows per day), horizontal
//! bars (events per type) and columns up and down (rows added and removed per day). Labels are
//! escaped like every other value; a hover shows each bar's exact number.

use maud::{Markup, html};

use crate::layout::count;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LABEL_ROOM: f64 = 20.0;
/// About the width of a `YYYY-MM-DD` label: one that would not fit at the right edge is left out.
const LABEL_WIDTH: f64 = 66.0;

/// Columns, one per label, left to right (at most `max` of the last ones).
pub fn columns(caption: &str, points: &[(String, u64)], max: usize) -> Markup {
    let shown = &points[points.len().saturating_sub(max)..];
    let top = shown.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let layout = Layout::new(shown.len());
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + LABEL_ROOM)) role="img" aria-label=(caption) {
                @for (index, (label, n)) in shown.iter().enumerate() {
                    @let height = (*n as f64 / top) * HEIGHT;
                    rect.bar x=(fmt(layout.x(index))) y=(fmt(HEIGHT - height)) width=(fmt(layout.bar)) height=(fmt(height)) {
                        title { (label) ": " (count(*n)) }
                    }
                    (layout.label(index, label))
                }
            }
            figcaption { (caption) @if shown.len() < points.len() { " (the last " (shown.len()) ")" } }
        }
    }
}

/// Horizontal bars, one per label, top to bottom.
pub fn bars(caption: &str, points: &[(String, u64)]) -> Markup {
    const ROW: f64 = 22.0;
    const LABELS: f64 = 170.0;
    let top = points.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let height = ROW * points.len().max(1) as f64;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-label=(caption) {
                @for (index, (label, n)) in points.iter().enumerate() {
                    @let y = index as f64 * ROW;
                    @let length = (*n as f64 / top) * (WIDTH - LABELS - 90.0);
                    text x="0" y=(fmt(y + 15.0)) { (label) }
                    rect.bar x=(fmt(LABELS)) y=(fmt(y + 3.0)) width=(fmt(length.max(1.0))) height=(fmt(ROW - 6.0)) {
                        title { (label) ": " (count(*n)) }
                    }
                    text x=(fmt(LABELS + length + 6.0)) y=(fmt(y + 15.0)) { (count(*n)) }
                }
            }
            figcaption { (caption) }
        }
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
                text x=(fmt(x)) y=(fmt(HEIGHT + 14.0)) { (label) }
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
        assert!(svg.contains("(the last 30)"));
    }
}
