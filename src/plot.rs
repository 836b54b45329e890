//! Plots of what the commands measure, drawn with plotters as SVG (issue
//! 28, point 2): the benchmark's throughput–latency curve, the testnet's
//! timeline per chain, the simulator's distributions over seeds. SVG text
//! is left to the viewer's fonts, so no font is loaded here.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

/// What went wrong drawing a plot (the file, the drawing backend).
#[derive(Debug, thiserror::Error)]
#[error("plot {path}: {reason}")]
pub struct PlotError {
    path: String,
    reason: String,
}

fn fail(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> PlotError + '_ {
    move |e| PlotError {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Line colours, one per series, cycling.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The top of an axis holding `max`, with a little room.
fn headroom(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.1
    } else {
        1.0
    }
}

/// One measured point of a throughput–latency curve.
#[derive(Debug, Clone, Copy)]
pub struct RatePoint {
    pub committed_tps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One curve: a protocol, payload or certificate kind over offered rates.
#[derive(Debug, Clone)]
pub struct RateCurve {
    pub label: String,
    pub points: Vec<RatePoint>,
}

/// p50 (solid, dots) and p99 (thin, crosses) latency against committed
/// rate, one colour per curve, the verification ceiling as a vertical line.
pub fn throughput_latency(
    path: &Path,
    title: &str,
    curves: &[RateCurve],
    ceiling_tps: Option<f64>,
) -> Result<(), PlotError> {
    let err = fail(path);
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let points = curves.iter().flat_map(|c| c.points.iter());
    let x_max = points
        .clone()
        .map(|p| p.committed_tps)
        .chain(ceiling_tps)
        .fold(0.0, f64::max);
    let y_max = points.map(|p| p.p99_ms.max(p.p50_ms)).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..headroom(x_max), 0.0..headroom(y_max))
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("committed transactions per second")
        .y_desc("latency (ms)")
        .draw()
        .map_err(|e| err(&e))?;
    for (i, c) in curves.iter().enumerate() {
        let col = colour(i);
        let mut pts = c.points.clone();
        pts.sort_by(|a, b| a.committed_tps.total_cmp(&b.committed_tps));
        let p50: Vec<(f64, f64)> = pts.iter().map(|p| (p.committed_tps, p.p50_ms)).collect();
        let p99: Vec<(f64, f64)> = pts.iter().map(|p| (p.committed_tps, p.p99_ms)).collect();
        chart
            .draw_series(LineSeries::new(p50.clone(), col.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(format!("{} p50", c.label))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
        chart
            .draw_series(p50.iter().map(|&p| Circle::new(p, 4, col.filled())))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(LineSeries::new(p99.clone(), col.mix(0.6).stroke_width(1)))
            .map_err(|e| err(&e))?
            .label(format!("{} p99", c.label))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.mix(0.6)));
        chart
            .draw_series(p99.iter().map(|&p| Cross::new(p, 4, col.mix(0.6))))
            .map_err(|e| err(&e))?;
    }
    if let Some(x) = ceiling_tps {
        let top = headroom(y_max);
        chart
            .draw_series(LineSeries::new(
                vec![(x, 0.0), (x, top)],
                RED.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(format!("verification ceiling {x:.0} tx/s"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperMiddle)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// One chain's timeline: per sample (seconds since the start) its commit
/// rate and commit latency; the times of view changes and epoch starts.
#[derive(Debug, Clone, Default)]
pub struct ChainTimeline {
    pub chain: String,
    /// (seconds, committed tx/s over the interval).
    pub rate: Vec<(f64, f64)>,
    /// (seconds, consensus commit latency p50 over the interval, ms).
    pub latency_ms: Vec<(f64, f64)>,
    pub view_changes: Vec<f64>,
    pub epoch_starts: Vec<f64>,
}

/// A row per chain: commit rate (left) and commit latency (right) over
/// time; view changes as red ticks, epoch starts as purple lines.
pub fn timeline(path: &Path, title: &str, chains: &[ChainTimeline]) -> Result<(), PlotError> {
    let err = fail(path);
    let rows = chains.len().max(1);
    let root = SVGBackend::new(path, (1100, 40 + 260 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(
            &format!("{title} (red ticks: view changes; purple lines: epoch starts)"),
            ("sans-serif", 20),
        )
        .map_err(|e| err(&e))?;
    let t_max = chains
        .iter()
        .flat_map(|c| c.rate.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    for (c, row) in chains.iter().zip(root.split_evenly((rows, 1))) {
        let (left, right) = row.split_horizontally(550);
        panel(&left, c, &c.rate, t_max, "committed tx/s", colour(0)).map_err(|e| err(&e))?;
        panel(
            &right,
            c,
            &c.latency_ms,
            t_max,
            "commit latency p50 (ms)",
            colour(1),
        )
        .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

type PanelResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Epoch starts on a timeline: apart from the grid's greys.
const EPOCH_COLOUR: RGBColor = RGBColor(148, 103, 189);

fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    c: &ChainTimeline,
    series: &[(f64, f64)],
    t_max: f64,
    what: &str,
    col: RGBColor,
) -> PanelResult {
    let y_top = headroom(series.iter().map(|p| p.1).fold(0.0, f64::max));
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{}: {what}", c.chain), ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(34)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..t_max, 0.0..y_top)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for &t in &c.epoch_starts {
        chart.draw_series(LineSeries::new(
            vec![(t, 0.0), (t, y_top)],
            EPOCH_COLOUR.stroke_width(2),
        ))?;
    }
    for &t in &c.view_changes {
        chart.draw_series(LineSeries::new(
            vec![(t, 0.0), (t, y_top * 0.08)],
            RED.stroke_width(2),
        ))?;
    }
    chart.draw_series(LineSeries::new(series.to_vec(), col.stroke_width(2)))?;
    Ok(())
}

/// Two histograms over a simulator run: commit latency (virtual ms from
/// proposal to the first honest commit, every block of every seed) and
/// view changes per seed.
pub fn sim_histograms(
    path: &Path,
    title: &str,
    latencies_ms: &[u32],
    view_changes: &[u64],
) -> Result<(), PlotError> {
    let err = fail(path);
    let root = SVGBackend::new(path, (1100, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(550);
    // Latency: 40 buckets up to the 99th percentile, the rest in the last.
    let mut sorted = latencies_ms.to_vec();
    sorted.sort_unstable();
    let p99 = sorted
        .get(sorted.len().saturating_mul(99) / 100)
        .copied()
        .unwrap_or(1)
        .max(1);
    let width = p99.div_ceil(40).max(1);
    let buckets: Vec<u32> = latencies_ms.iter().map(|&v| (v / width).min(40)).collect();
    histogram(
        &left,
        &buckets,
        41,
        &format!(
            "commit latency (virtual ms, buckets of {width} ms; last: ≥ {} ms)",
            40 * width
        ),
        width,
        "blocks",
    )
    .map_err(|e| err(&e))?;
    let changes: Vec<u32> = view_changes
        .iter()
        .map(|&v| u32::try_from(v).unwrap_or(u32::MAX))
        .collect();
    let top = changes.iter().copied().max().unwrap_or(0).saturating_add(1);
    histogram(&right, &changes, top, "view changes per seed", 1, "seeds").map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

fn histogram(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    keys: &[u32],
    buckets: u32,
    what: &str,
    scale: u32,
    unit: &str,
) -> PanelResult {
    let mut counts = vec![0u32; buckets.max(1) as usize];
    for &k in keys {
        if let Some(c) = counts.get_mut(k as usize) {
            *c = c.saturating_add(1);
        }
    }
    let y_top = headroom(f64::from(counts.iter().copied().max().unwrap_or(0)));
    let mut chart = ChartBuilder::on(area)
        .caption(what, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(34)
        .y_label_area_size(56)
        .build_cartesian_2d((0u32..buckets.max(1)).into_segmented(), 0u32..y_top as u32)?;
    chart
        .configure_mesh()
        .y_desc(unit)
        .x_label_formatter(&|v| match v {
            SegmentValue::Exact(k) | SegmentValue::CenterOf(k) => (k * scale).to_string(),
            SegmentValue::Last => String::new(),
        })
        .draw()?;
    chart.draw_series(
        Histogram::vertical(&chart)
            .style(colour(0).filled())
            .margin(1)
            .data(keys.iter().map(|&k| (k, 1u32))),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svg(path: &Path) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(80)]);
        text
    }

    #[test]
    fn each_plot_is_an_svg_with_its_labels() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("curve.svg");
        let curves = vec![RateCurve {
            label: "hotstuff".into(),
            points: vec![
                RatePoint {
                    committed_tps: 1000.0,
                    p50_ms: 20.0,
                    p99_ms: 45.0,
                },
                RatePoint {
                    committed_tps: 4000.0,
                    p50_ms: 35.0,
                    p99_ms: 90.0,
                },
            ],
        }];
        throughput_latency(&p, "consensus", &curves, Some(12_000.0)).unwrap();
        let t = svg(&p);
        assert!(t.contains("hotstuff p50") && t.contains("verification ceiling 12000"));
        assert!(t.contains("<polyline"), "lines drawn");

        let p = dir.path().join("timeline.svg");
        let chain = ChainTimeline {
            chain: "global".into(),
            rate: vec![(0.5, 100.0), (1.0, 900.0), (1.5, 1000.0)],
            latency_ms: vec![(0.5, 30.0), (1.0, 25.0), (1.5, 28.0)],
            view_changes: vec![1.2],
            epoch_starts: vec![0.9],
        };
        timeline(&p, "testnet", &[chain]).unwrap();
        let t = svg(&p);
        assert!(t.contains("global: committed tx/s") && t.contains("commit latency p50"));

        let p = dir.path().join("sim.svg");
        sim_histograms(&p, "sim", &[5, 7, 7, 9, 120, 3], &[0, 1, 1, 4]).unwrap();
        let t = svg(&p);
        assert!(t.contains("view changes per seed") && t.contains("<rect"));
    }
}
