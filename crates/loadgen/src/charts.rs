//! Line charts as SVG (plotters, SVG backend only: no font or bitmap stack; text is left to the
//! viewer). Axes can be logarithmic, a log of `x + 1` (audience sizes from 0), or the tail of
//! a percentile scale (50, 90, 99, 99.9 evenly apart): values are transformed here and labels
//! show the original values.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

/// One named line.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend.
    pub name: String,
    /// (x, y) in data units.
    pub points: Vec<(f64, f64)>,
}

/// How an axis maps data to the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// As is.
    Linear,
    /// log10 (values ≤ 0 are dropped).
    Log,
    /// log10(v + 1): keeps 0 on a logarithmic axis.
    LogPlusOne,
    /// −log10(1 − p/100) for a percentile p: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3.
    PercentileTail,
}

impl Scale {
    fn forward(self, value: f64) -> Option<f64> {
        match self {
            Scale::Linear => Some(value),
            Scale::Log => (value > 0.0).then(|| value.log10()),
            Scale::LogPlusOne => (value >= 0.0).then(|| (value + 1.0).log10()),
            Scale::PercentileTail => (0.0..100.0)
                .contains(&value)
                .then(|| -(1.0 - value / 100.0).log10()),
        }
    }

    fn back(self, position: f64) -> f64 {
        match self {
            Scale::Linear => position,
            Scale::Log => 10f64.powf(position),
            Scale::LogPlusOne => 10f64.powf(position) - 1.0,
            Scale::PercentileTail => 100.0 * (1.0 - 10f64.powf(-position)),
        }
    }

    fn label(self, position: f64) -> String {
        let value = self.back(position);
        match self {
            Scale::PercentileTail => format!("p{}", trim(value, 3)),
            // Ticks sit on whole decades of v + 1: name them 0, 10, 100, 1k ….
            Scale::LogPlusOne if position.abs() < 1e-9 => "0".into(),
            Scale::LogPlusOne => human(value + 1.0),
            Scale::Linear | Scale::Log => human(value),
        }
    }

    /// The plotted range and how many labels, so that logarithmic ticks fall on whole decades
    /// (percentile tails on p90, p99, p99.9 …).
    fn axis(self, low: f64, high: f64, headroom: f64) -> (std::ops::Range<f64>, usize) {
        let span = (high - low).abs().max(0.1);
        match self {
            Scale::Linear => ((low - span * 0.05)..(high + span * headroom), 10),
            Scale::Log | Scale::LogPlusOne | Scale::PercentileTail => {
                let (first, last) = (low.floor(), (high + span * headroom).ceil());
                let decades = (last - first).max(1.0);
                (first..last, decades as usize + 1)
            }
        }
    }
}

/// An axis: its scale and its description.
#[derive(Debug, Clone, Copy)]
pub struct Axis<'a> {
    /// Scale.
    pub scale: Scale,
    /// Description under / beside the axis.
    pub label: &'a str,
}

/// Draws `series` into an SVG file at `path`.
///
/// # Errors
/// When there is nothing to draw or the file cannot be written.
pub fn line_chart(
    path: &Path,
    title: &str,
    x: Axis<'_>,
    y: Axis<'_>,
    series: &[Series],
) -> anyhow::Result<()> {
    let lines: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|s| {
            let points = s
                .points
                .iter()
                .filter_map(|(px, py)| Some((x.scale.forward(*px)?, y.scale.forward(*py)?)))
                .collect();
            (s.name.clone(), points)
        })
        .collect();
    let ((x0, x1), (y0, y1)) = bounds(&lines).ok_or_else(|| anyhow!("{title}: no data to draw"))?;
    let (x_range, x_labels) = x.scale.axis(x0, x1, 0.02);
    // Headroom above the data keeps the legend (upper left) off the lines.
    let (y_range, y_labels) = y.scale.axis(y0, y1, 0.35);
    let root = SVGBackend::new(path, (860, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x_range, y_range)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc(x.label)
        .y_desc(y.label)
        .x_labels(x_labels)
        .y_labels(y_labels)
        .x_label_formatter(&|v| x.scale.label(*v))
        .y_label_formatter(&|v| y.scale.label(*v))
        .draw()
        .map_err(draw_error)?;
    for (index, (name, points)) in lines.into_iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(draw_error)?
            .label(name)
            .legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 20, ly)], color.stroke_width(2))
            });
        chart
            .draw_series(PointSeries::of_element(
                points,
                3,
                color.filled(),
                &|c, s, st| Circle::new(c, s, st),
            ))
            .map_err(draw_error)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(draw_error)?;
    root.present().map_err(draw_error)?;
    Ok(())
}

fn draw_error<E: std::fmt::Debug>(err: E) -> anyhow::Error {
    anyhow!("cannot draw the chart: {err:?}")
}

/// (x min, x max), (y min, y max) of the points, or `None` without points.
fn bounds(lines: &[(String, Vec<(f64, f64)>)]) -> Option<((f64, f64), (f64, f64))> {
    let mut points = lines
        .iter()
        .flat_map(|(_, points)| points.iter())
        .peekable();
    points.peek()?;
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in points {
        (x0, x1, y0, y1) = (x0.min(*x), x1.max(*x), y0.min(*y), y1.max(*y));
    }
    Some(((x0, x1), (y0, y1)))
}

/// 1234 → "1.2k", 2500000 → "2.5M", 0.25 → "0.25".
fn human(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{}M", trim(value / 1e6, 1))
    } else if magnitude >= 1e3 {
        format!("{}k", trim(value / 1e3, 1))
    } else if magnitude >= 10.0 {
        format!("{value:.0}")
    } else {
        trim(value, 2)
    }
}

fn trim(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_round_trip_to_their_labels() {
        assert_eq!(Scale::Log.label(Scale::Log.forward(1000.0).unwrap()), "1k");
        assert_eq!(Scale::LogPlusOne.forward(0.0), Some(0.0));
        assert_eq!(
            Scale::LogPlusOne.label(Scale::LogPlusOne.forward(100_000.0).unwrap()),
            "100k"
        );
        assert_eq!(
            Scale::PercentileTail.label(Scale::PercentileTail.forward(99.9).unwrap()),
            "p99.9"
        );
        assert_eq!(
            Scale::PercentileTail.forward(100.0),
            None,
            "p100 is off the scale"
        );
        assert_eq!(Scale::Log.forward(0.0), None);
    }

    #[test]
    fn logarithmic_axes_tick_on_whole_decades() {
        let (range, labels) = Scale::Log.axis(0.2, 2.6, 0.0);

        assert_eq!(range, 0.0..3.0);
        assert_eq!(labels, 4, "1, 10, 100, 1k");
        assert_eq!(Scale::LogPlusOne.label(0.0), "0");
        assert_eq!(Scale::LogPlusOne.label(2.0), "100");
    }

    #[test]
    fn numbers_are_labelled_for_people() {
        assert_eq!(human(1234.0), "1.2k");
        assert_eq!(human(2_500_000.0), "2.5M");
        assert_eq!(human(42.4), "42");
        assert_eq!(human(0.25), "0.25");
        assert_eq!(human(3.0), "3");
    }

    #[test]
    fn a_chart_is_written_as_svg() {
        let path = std::env::temp_dir().join(format!("loadgen-chart-{}.svg", std::process::id()));
        let series = vec![
            Series {
                name: "http-get".into(),
                points: vec![(1.0, 5000.0), (64.0, 40000.0)],
            },
            Series {
                name: "join".into(),
                points: vec![(1.0, 100.0), (64.0, 150.0)],
            },
        ];

        line_chart(
            &path,
            "throughput",
            Axis {
                scale: Scale::Log,
                label: "connections",
            },
            Axis {
                scale: Scale::Log,
                label: "req/s",
            },
            &series,
        )
        .unwrap();

        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
        assert!(svg.contains("http-get") && svg.contains("join"));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn nothing_to_draw_is_an_error_not_an_empty_chart() {
        let path = std::env::temp_dir().join("loadgen-never-written.svg");
        let series = vec![Series {
            name: "empty".into(),
            points: vec![(0.0, 0.0)],
        }];

        let result = line_chart(
            &path,
            "empty",
            Axis {
                scale: Scale::Log,
                label: "x",
            },
            Axis {
                scale: Scale::Log,
                label: "y",
            },
            &series,
        );

        assert!(result.is_err());
    }
}
