//! `docs/bench-getuser.png`: getUser throughput and client CPU per call against calls in
//! flight, one line per client, drawn with plotters' bitmap backend.

use std::path::Path;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::results::Results;

const FONT_FILES: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a system TrueType font as plotters' `sans-serif` (the `ab_glyph` backend
/// has no font of its own). Debian's `fonts-dejavu-core` provides one.
fn register_font() -> anyhow::Result<()> {
    let path = FONT_FILES
        .iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no TrueType font found (install fonts-dejavu-core); looked at {FONT_FILES:?}"
            )
        })?;
    let bytes: &'static [u8] = Box::leak(std::fs::read(path)?.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{path} is not a usable font"))
}

const CLIENTS: [(&str, RGBColor); 4] = [
    ("ours", RGBColor(0xd6, 0x27, 0x28)),
    ("hyper", RGBColor(0x1f, 0x77, 0xb4)),
    ("node-keepalive", RGBColor(0x2c, 0xa0, 0x2c)),
    ("node-default", RGBColor(0x9c, 0x9c, 0x9c)),
];

/// Draws the chart to `path` (PNG).
pub fn draw(results: &Results, path: &Path) -> anyhow::Result<()> {
    register_font()?;
    let root = BitMapBackend::new(path, (1400, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(50);
    title.titled(
        &format!(
            "getUser, valid token, memory store — sandbox on core 0, each client on core 1 ({} cores, load {} → {})",
            results.machine.cores, results.machine.load_before, results.machine.load_after
        ),
        ("sans-serif", 20),
    )?;
    let (left, right) = body.split_horizontally(700);
    panel(&left, results, "calls/s", false, |r| r.calls_per_sec())?;
    // CPU per call spans two orders of magnitude between clients: log scale.
    panel(&right, results, "client CPU µs per call", true, |r| {
        r.cpu_us_per_call()
    })?;
    root.present()?;
    Ok(())
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    results: &Results,
    y_label: &str,
    log_y: bool,
    value: fn(&crate::measure::ClientReport) -> f64,
) -> anyhow::Result<()> {
    let max_x = results
        .getuser
        .iter()
        .map(|r| r.concurrency)
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let max_y = results
        .getuser
        .iter()
        .map(value)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.3;
    let min_y = results
        .getuser
        .iter()
        .map(value)
        .filter(|v| *v > 0.0)
        .fold(f64::MAX, f64::min)
        .min(max_y)
        / 1.5;
    let x_range = (1.0..max_x * 1.2).log_scale();
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .caption(format!("{y_label} vs calls in flight"), ("sans-serif", 18));
    if log_y {
        let chart = builder.build_cartesian_2d(x_range, (min_y..max_y).log_scale())?;
        draw_lines(chart, results, y_label, value)
    } else {
        let chart = builder.build_cartesian_2d(x_range, 0.0..max_y)?;
        draw_lines(chart, results, y_label, value)
    }
}

fn draw_lines<'a, X, Y>(
    mut chart: ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    results: &Results,
    y_label: &str,
    value: fn(&crate::measure::ClientReport) -> f64,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc("calls in flight (log scale)")
        .y_desc(y_label)
        .label_style(("sans-serif", 14))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for (client, color) in CLIENTS {
        let points: Vec<(f64, f64)> = results
            .getuser
            .iter()
            .filter(|r| r.client == client)
            .map(|r| (r.concurrency as f64, value(r)))
            .collect();
        if points.is_empty() {
            continue;
        }
        let style = ShapeStyle::from(&color).stroke_width(3);
        chart
            .draw_series(LineSeries::new(points.clone(), style))?
            .label(client)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 4, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}
