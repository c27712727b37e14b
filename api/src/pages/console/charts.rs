//! Charts as SVG drawn by the server: the geometry here, the markup in
//! `templates/console/charts.html`. Every bar carries its number as text and every series its
//! own fill pattern, so a chart reads without colour; the page lists the same numbers as a table.
//!
//! The browser lays out the text, so no font engine is needed here (a plotting crate such as
//! plotters measures text with font-kit and the system's fonts, or a bundled font, only to
//! place labels a browser places anyway).

/// The fills bars take in turn: solid, hatched, dotted, cross-hatched (defined once per page).
pub const PATTERNS: [&str; 4] = ["solid", "hatch", "dots", "cross"];

/// A column per day (or per any ordered label).
pub struct ColumnChart {
    /// The element id (also names its title).
    pub id: &'static str,
    /// What it shows, as its accessible name.
    pub title: String,
    /// Width and height of the drawing.
    pub width: u32,
    /// Height of the drawing.
    pub height: u32,
    /// The columns.
    pub columns: Vec<Column>,
    /// Value lines across the plot, with their numbers.
    pub ticks: Vec<Tick>,
    /// Labels under some columns.
    pub labels: Vec<AxisLabel>,
    /// Where the plot starts and ends across, and its baseline.
    pub left: f64,
    /// Where the plot ends across.
    pub right: f64,
    /// The baseline (value 0).
    pub baseline: f64,
}

/// One column.
pub struct Column {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
    /// Its centre, for its number.
    pub centre: f64,
    /// The number.
    pub value: i64,
    /// What it is (a day).
    pub label: String,
    /// Whether its number is written over it (not for zeros).
    pub show_value: bool,
}

/// A value line.
pub struct Tick {
    /// Where it is.
    pub y: f64,
    /// Its number.
    pub text: String,
}

/// A label under the plot.
pub struct AxisLabel {
    /// Its centre.
    pub x: f64,
    /// Its text.
    pub text: String,
}

/// Horizontal bars, each with its label and number (a funnel, counts by status).
pub struct BarChart {
    /// The element id.
    pub id: &'static str,
    /// What it shows.
    pub title: String,
    /// Width of the drawing.
    pub width: u32,
    /// Height of the drawing.
    pub height: u32,
    /// The bars.
    pub bars: Vec<Bar>,
    /// Where bars start.
    pub left: f64,
}

/// One bar.
pub struct Bar {
    /// Top edge.
    pub y: f64,
    /// Length.
    pub width: f64,
    /// Thickness.
    pub height: f64,
    /// Where its label and number sit vertically.
    pub text_y: f64,
    /// Where its number starts.
    pub value_x: f64,
    /// What it is.
    pub label: String,
    /// The number.
    pub value: i64,
    /// Its fill pattern (one of [`PATTERNS`]).
    pub pattern: &'static str,
}

/// `value` rounded to a tenth of a pixel: short, stable markup.
fn px(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// The smallest "round" number (1, 2 or 5 times a power of ten) at or above `max`.
fn round_up(max: i64) -> i64 {
    let max = max.max(1);
    let mut step = 1_i64;
    loop {
        for factor in [1, 2, 5] {
            if step.saturating_mul(factor) >= max {
                return step.saturating_mul(factor);
            }
        }
        step = step.saturating_mul(10);
    }
}

impl ColumnChart {
    /// Columns for `points` (label, value), in order; every `label_every`-th label, counted
    /// back from the last, is written under the plot.
    pub fn new(
        id: &'static str,
        title: String,
        points: &[(String, i64)],
        label_every: usize,
    ) -> Self {
        let (width, height) = (720_u32, 240_u32);
        let (left, right, top, baseline) = (48.0, f64::from(width) - 8.0, 16.0, 212.0);
        let max = round_up(points.iter().map(|(_, value)| *value).max().unwrap_or(0));
        let scale = (baseline - top) / max as f64;
        let slot = (right - left) / points.len().max(1) as f64;
        let columns = points
            .iter()
            .enumerate()
            .map(|(index, (label, value))| {
                let x = left + slot * index as f64;
                let height = (*value).max(0) as f64 * scale;
                Column {
                    x: px(x + slot * 0.1),
                    y: px(baseline - height),
                    width: px(slot * 0.8),
                    height: px(height),
                    centre: px(x + slot / 2.0),
                    value: *value,
                    label: label.clone(),
                    show_value: *value != 0,
                }
            })
            .collect::<Vec<_>>();
        let ticks = [0, max / 2, max]
            .into_iter()
            .map(|value| Tick {
                y: px(baseline - value as f64 * scale),
                text: value.to_string(),
            })
            .collect();
        let last = columns.len().saturating_sub(1);
        let labels = columns
            .iter()
            .enumerate()
            // Counted back from the last, so that the latest is always labelled and no two
            // labels crowd each other.
            .filter(|(index, _)| (last - index) % label_every.max(1) == 0)
            .map(|(_, column)| AxisLabel {
                x: column.centre,
                text: column.label.clone(),
            })
            .collect();
        Self {
            id,
            title,
            width,
            height,
            columns,
            ticks,
            labels,
            left,
            right,
            baseline,
        }
    }
}

impl BarChart {
    /// A bar per `(label, value)`, longest for the largest value, each with its own pattern.
    pub fn new(id: &'static str, title: String, rows: &[(String, i64)]) -> Self {
        let width = 720_u32;
        let (left, right, row, thickness) = (180.0, f64::from(width) - 64.0, 32.0, 22.0);
        let max = rows
            .iter()
            .map(|(_, value)| *value)
            .max()
            .unwrap_or(0)
            .max(1);
        let bars = rows
            .iter()
            .enumerate()
            .map(|(index, (label, value))| {
                let y = 8.0 + row * index as f64;
                let length = (*value).max(0) as f64 / max as f64 * (right - left);
                Bar {
                    y: px(y),
                    width: px(length),
                    height: thickness,
                    text_y: px(y + thickness / 2.0),
                    value_x: px(left + length + 6.0),
                    label: label.clone(),
                    value: *value,
                    pattern: PATTERNS[index % PATTERNS.len()],
                }
            })
            .collect::<Vec<_>>();
        Self {
            id,
            title,
            width,
            height: (16.0 + row * bars.len() as f64) as u32,
            bars,
            left,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_ends_on_a_round_number_at_or_above_the_largest_value() {
        assert_eq!(round_up(0), 1);
        assert_eq!(round_up(1), 1);
        assert_eq!(round_up(3), 5);
        assert_eq!(round_up(7), 10);
        assert_eq!(round_up(11), 20);
        assert_eq!(round_up(480), 500);
        assert_eq!(round_up(501), 1000);
    }

    #[test]
    fn columns_stand_on_the_baseline_in_proportion_and_zeros_carry_no_number() {
        let points = [
            ("a".to_owned(), 10),
            ("b".to_owned(), 5),
            ("c".to_owned(), 0),
        ];
        let chart = ColumnChart::new("c", "t".into(), &points, 2);
        let [a, b, c] = &chart.columns[..] else {
            panic!("three columns")
        };
        assert_eq!(a.y + a.height, chart.baseline);
        assert!((a.height - 2.0 * b.height).abs() < 0.2);
        assert_eq!(c.height, 0.0);
        assert!(a.show_value && !c.show_value);
        // Every second label, counted back from the last.
        let labels: Vec<_> = chart.labels.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(labels, ["a", "c"]);
    }

    #[test]
    fn bars_take_turns_with_the_patterns_and_the_largest_fills_the_width() {
        let rows: Vec<_> = (0..5).map(|i| (format!("r{i}"), i64::from(i))).collect();
        let chart = BarChart::new("b", "t".into(), &rows);
        let patterns: Vec<_> = chart.bars.iter().map(|bar| bar.pattern).collect();
        assert_eq!(patterns, ["solid", "hatch", "dots", "cross", "solid"]);
        assert_eq!(chart.bars[0].width, 0.0);
        assert_eq!(chart.bars[4].width, 720.0 - 64.0 - 180.0);
    }
}
