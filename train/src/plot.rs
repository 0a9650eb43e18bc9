//! PNG charts of a run, drawn with plotters and an embedded font (no system fonts needed).

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

const FONT: &str = "zoo-sans";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");

fn ensure_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is embedded and known to be valid; failure here would be a build defect.
        if register_font(FONT, FontStyle::Normal, FONT_BYTES).is_err() {
            panic!("embedded font failed to load");
        }
    });
}

/// One line of a chart: a label and its `(x, y)` points.
pub struct Series<'a> {
    /// Legend text.
    pub label: &'a str,
    /// Points, x increasing.
    pub points: Vec<(f64, f64)>,
    /// Join the points with a line (a scatter plot otherwise).
    pub line: bool,
}

/// Draws `series` as lines into the given drawing area, with a title and axis labels.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (title, x_label, y_label, series) =
        (panel.title, panel.x_label, panel.y_label, &panel.series);
    let categories = &panel.x_categories;
    let finite = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.1.is_finite())
    };
    let (x_min, x_max) = finite().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y_min, y_max) = finite().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if x_min > x_max {
        return Ok(()); // nothing to draw yet
    }
    let integer_x = finite().all(|p| (p.0 - p.0.round()).abs() < 1e-9);
    let x_range = if !categories.is_empty() {
        -0.5..categories.len() as f64 - 0.5
    } else if x_max > x_min {
        x_min..x_max
    } else {
        x_min - 0.5..x_max + 0.5
    };
    let pad = ((y_max - y_min) * 0.05).max(1e-6);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, y_min - pad..y_max + pad)
        .map_err(|e| anyhow!("plot: {e}"))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        // Whole-number axes (epochs, trials) label only the integer ticks.
        .x_labels(if categories.is_empty() {
            10
        } else {
            categories.len() * 2 + 1
        })
        .x_label_formatter(&|x| {
            if !categories.is_empty() {
                // A category's name at its index; nothing between.
                let i = x.round();
                return if (x - i).abs() < 1e-9 && i >= 0.0 {
                    categories.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                };
            }
            if integer_x && (x - x.round()).abs() > 1e-9 {
                String::new()
            } else if integer_x {
                format!("{x:.0}")
            } else if x.abs() < 0.01 && *x != 0.0 {
                format!("{x:.1e}")
            } else {
                format!("{x:.3}")
            }
        })
        .y_desc(y_label)
        .label_style((FONT, 13))
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|p| p.1.is_finite())
            .collect();
        let line = if s.line { points.clone() } else { Vec::new() };
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(|e| anyhow!("plot: {e}"))?
            .label(s.label)
            .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.filled()));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(|e| anyhow!("plot: {e}"))?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("plot: {e}"))?;
    Ok(())
}

/// One chart: a title, axis labels and its lines.
pub struct Panel<'a> {
    /// Title above the chart.
    pub title: &'a str,
    /// X axis label.
    pub x_label: &'a str,
    /// Y axis label.
    pub y_label: &'a str,
    /// The lines.
    pub series: Vec<Series<'a>>,
    /// Names of the x values 0, 1, 2, ... when x is a category (a choice parameter's values);
    /// empty for a numeric x axis.
    pub x_categories: Vec<String>,
}

/// Draws `panels` side by side (550x420 pixels each) and returns the PNG file's bytes.
pub fn render(panels: &[Panel]) -> Result<Vec<u8>> {
    ensure_font();
    let (width, height) = (550 * panels.len().max(1) as u32, 420);
    let mut rgb = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
        for (area, panel) in root
            .split_evenly((1, panels.len().max(1)))
            .iter()
            .zip(panels)
        {
            draw_panel(area, panel)?;
        }
        root.present().map_err(|e| anyhow!("plot: {e}"))?;
    }
    let image = image::RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| anyhow!("plot: the bitmap has the wrong size"))?;
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| anyhow!("plot: cannot encode the PNG: {e}"))?;
    Ok(png)
}

/// Draws `panels` side by side into a PNG file at `path`, written atomically.
pub fn panels(path: &Path, panels: &[Panel]) -> Result<()> {
    let png = render(panels)?;
    zoo_datasets::write_atomically(path, &png)
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}
