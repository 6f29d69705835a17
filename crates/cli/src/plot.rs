//! `--plot FILE`: the pause histogram and the MMU curve, as one SVG.
//!
//! Left panel: log₂-bucketed histograms on log–log axes (duration in µs,
//! count), one line per source — the collector's own stop-the-world pauses
//! and, beside them, latency measured from outside (each `msgbuf` store per
//! variant, the heartbeat's gaps). Right panel: MMU against window length
//! (log x, 0–1 y), from the collector's pauses and from the heartbeat.
//!
//! Only plotters' SVG backend is built: it needs no font or image system
//! libraries (text is laid out with plotters' built-in metrics and drawn by
//! the SVG viewer). A `.png` name is refused with a message saying so.

use crate::latency::Bucket;
use crate::report::{GcSummary, MmuPoint};
use plotters::prelude::*;
use std::path::Path;

/// What a figure shows.
#[derive(Clone, Debug, Default)]
pub struct PlotData {
    pub title: String,
    /// `(label, buckets)` per histogram line.
    pub histograms: Vec<(String, Vec<Bucket>)>,
    /// `(label, curve)` per MMU line.
    pub mmu: Vec<(String, Vec<MmuPoint>)>,
}

impl PlotData {
    /// The collector's pauses and MMU alone.
    pub fn from_gc(title: &str, gc: &GcSummary) -> Self {
        PlotData {
            title: title.to_string(),
            histograms: vec![(
                "tricolor STW pauses (collector)".into(),
                gc.pauses.buckets.clone(),
            )],
            mmu: vec![("tricolor, from STW pauses".into(), gc.mmu_curve.clone())],
        }
    }
}

/// Line colours, distinguishable on white (Tableau 10's first six).
const COLOURS: [RGBColor; 6] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0x76, 0xb7, 0xb2),
];

/// A line's colour, by what it measures, so that one source has one colour
/// in both panels: the collector's own figures, tricolor seen from outside,
/// and each baseline.
fn colour(label: &str) -> RGBAColor {
    let i = if label.contains("STW") {
        1
    } else if label.starts_with("tricolor") {
        3
    } else if label.starts_with("box-mimalloc") {
        0
    } else if label.starts_with("box-system") {
        2
    } else if label.starts_with("box-jemalloc") {
        4
    } else {
        5
    };
    COLOURS[i].to_rgba()
}

fn err<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> String + '_ {
    move |e| format!("cannot draw {}: {e}", path.display())
}

/// Whether `path` names a file this module can write (checked before a
/// run, so a bad name costs nothing).
pub fn check_path(path: &Path) -> Result<(), String> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if ext.as_deref() != Some("svg") {
        return Err(format!(
            "--plot {}: only SVG is supported (PNG would need font and image libraries); \
             use a name ending in .svg",
            path.display()
        ));
    }
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(format!(
            "--plot {}: the directory {} does not exist",
            path.display(),
            dir.display()
        )),
        _ => Ok(()),
    }
}

/// Write the figure to `path` (SVG).
pub fn draw(path: &Path, d: &PlotData) -> Result<(), String> {
    check_path(path)?;
    let e = err(path);
    let root = SVGBackend::new(path, (1280, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(&e)?;
    let root = root.titled(&d.title, ("sans-serif", 22)).map_err(&e)?;
    let (left, right) = root.split_horizontally(640);

    // Histograms.
    let pts: Vec<Vec<(f64, f64)>> = d
        .histograms
        .iter()
        .map(|(_, b)| {
            b.iter()
                .filter(|b| b.count > 0 && b.upper_us > 0.0)
                .map(|b| (b.upper_us, b.count as f64))
                .collect()
        })
        .collect();
    let all = pts.iter().flatten();
    let xmax = all.clone().map(|p| p.0).fold(10.0, f64::max) * 2.0;
    let xmin = all.clone().map(|p| p.0).fold(xmax, f64::min).min(1.0) / 2.0;
    let ymax = all.map(|p| p.1).fold(10.0, f64::max) * 3.0;
    let mut ch = ChartBuilder::on(&left)
        .caption(
            "pauses (collector) and latency (outside)",
            ("sans-serif", 16),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d((xmin..xmax).log_scale(), (0.8f64..ymax).log_scale())
        .map_err(&e)?;
    ch.configure_mesh()
        .x_desc("duration, µs (log2 buckets)")
        .y_desc("count")
        .draw()
        .map_err(&e)?;
    for ((label, _), p) in d.histograms.iter().zip(&pts) {
        let color = colour(label);
        ch.draw_series(LineSeries::new(p.iter().copied(), color.stroke_width(2)))
            .map_err(&e)?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        ch.draw_series(p.iter().map(|&q| Circle::new(q, 3, color.filled())))
            .map_err(&e)?;
    }
    ch.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(&e)?;

    // MMU curves.
    let wmax = d
        .mmu
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.window_ms))
        .fold(10.0, f64::max)
        * 1.5;
    let mut ch = ChartBuilder::on(&right)
        .caption("minimum mutator utilisation", ("sans-serif", 16))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d((0.08f64..wmax).log_scale(), 0.0f64..1.05)
        .map_err(&e)?;
    ch.configure_mesh()
        .x_desc("window, ms")
        .y_desc("MMU")
        .draw()
        .map_err(&e)?;
    for (label, curve) in &d.mmu {
        let color = colour(label);
        let p: Vec<(f64, f64)> = curve.iter().map(|q| (q.window_ms, q.mmu)).collect();
        ch.draw_series(LineSeries::new(p.iter().copied(), color.stroke_width(2)))
            .map_err(&e)?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        ch.draw_series(p.iter().map(|&q| Circle::new(q, 3, color.filled())))
            .map_err(&e)?;
    }
    ch.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(&e)?;
    root.present().map_err(&e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_svg_and_refuses_png() {
        let dir = std::env::temp_dir().join(format!("tricolor-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = PlotData {
            title: "test".into(),
            histograms: vec![(
                "pauses".into(),
                vec![
                    Bucket {
                        upper_us: 1024.0,
                        count: 3,
                    },
                    Bucket {
                        upper_us: 2048.0,
                        count: 1,
                    },
                ],
            )],
            mmu: vec![(
                "mmu".into(),
                vec![
                    MmuPoint {
                        window_ms: 1.0,
                        mmu: 0.0,
                    },
                    MmuPoint {
                        window_ms: 100.0,
                        mmu: 0.9,
                    },
                ],
            )],
        };
        let svg = dir.join("p.svg");
        draw(&svg, &d).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..40.min(text.len())]);
        assert!(text.contains("minimum mutator utilisation"));
        assert!(draw(&dir.join("p.png"), &d).is_err());
        assert!(check_path(&dir.join("nowhere/p.svg")).is_err());
        draw(&dir.join("empty.svg"), &PlotData::default()).unwrap();
        std::fs::remove_dir_all(&dir).ok();
    }
}
