//! PNG charts for replies and posts, drawn with plotters into memory and encoded with `png`.
//! The font (DejaVu Sans) is embedded in the binary, so charts render the same on a server without
//! any fonts installed. Pure computation: no I/O, no clock.

use std::sync::OnceLock;

use chrono::NaiveDate;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// The font family name charts ask for; registered once from the embedded bytes.
const FONT: &str = "sans-serif";

#[derive(Debug, thiserror::Error)]
#[error("could not draw the chart: {0}")]
pub struct ChartError(String);

fn font_ready() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).is_ok()
    });
    if ok { Ok(()) } else { Err(ChartError("the embedded font did not load".into())) }
}

fn err(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

fn encode(rgb: &[u8], size: (u32, u32)) -> Result<Vec<u8>, ChartError> {
    encode_with(rgb, size, png::Compression::Default)
}

fn encode_with(rgb: &[u8], (w, h): (u32, u32), compression: png::Compression) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_compression(compression);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(rgb).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

/// One day of a cumulative chart; `None` leaves a gap (no actuals after today).
#[derive(Clone, Debug, PartialEq)]
pub struct CumulativeDay {
    pub date: NaiveDate,
    pub actual: Option<f64>,
    pub goal: Option<f64>,
    pub forecast: Option<f64>,
}

const SIZE: (u32, u32) = (800, 400);
const ACTUAL: RGBColor = RGBColor(39, 174, 96);
const GOAL: RGBColor = RGBColor(127, 140, 141);
const FORECAST: RGBColor = RGBColor(47, 128, 237);

/// Cumulative revenue by day: actual so far, the goal line and the forecast, in major units.
pub fn cumulative(title: &str, days: &[CumulativeDay]) -> Result<Vec<u8>, ChartError> {
    font_ready()?;
    let mut rgb = vec![255u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = days
            .iter()
            .flat_map(|d| [d.actual, d.goal, d.forecast])
            .flatten()
            .filter(|v| v.is_finite())
            .fold(1.0_f64, f64::max)
            * 1.1;
        let n = days.len().max(2) as i32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 22).into_font())
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .build_cartesian_2d(0..n - 1, 0.0..top)
            .map_err(err)?;
        let labels: Vec<String> = days.iter().map(|d| d.date.format("%-d %b").to_string()).collect();
        chart
            .configure_mesh()
            .x_labels(8.min(days.len()).max(2))
            .x_label_formatter(&|i| labels.get(*i as usize).cloned().unwrap_or_default())
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        let series = |pick: fn(&CumulativeDay) -> Option<f64>| -> Vec<(i32, f64)> {
            days.iter()
                .enumerate()
                .filter_map(|(i, d)| pick(d).filter(|v| v.is_finite()).map(|v| (i as i32, v)))
                .collect()
        };
        chart
            .draw_series(LineSeries::new(series(|d| d.goal), GOAL.stroke_width(2)))
            .map_err(err)?
            .label("goal")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GOAL.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(series(|d| d.forecast), FORECAST.stroke_width(2)))
            .map_err(err)?
            .label("forecast")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], FORECAST.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(series(|d| d.actual), ACTUAL.stroke_width(3)))
            .map_err(err)?
            .label("actual")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], ACTUAL.stroke_width(3)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.8))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    encode(&rgb, SIZE)
}

/// A horizontal bar chart: one bar per entry (at most 15 are drawn), best first.
pub fn bars(title: &str, entries: &[(String, f64)]) -> Result<Vec<u8>, ChartError> {
    font_ready()?;
    let shown: Vec<&(String, f64)> = entries.iter().take(15).collect();
    let height = (80 + 28 * shown.len().max(1)) as u32;
    let size = (800, height);
    let mut rgb = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = shown.iter().map(|(_, v)| *v).filter(|v| v.is_finite()).fold(1.0_f64, f64::max) * 1.15;
        let n = shown.len().max(1) as i32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 20).into_font())
            .margin(12)
            .x_label_area_size(24)
            .y_label_area_size(160)
            .build_cartesian_2d(0.0..top, (0..n - 1).into_segmented())
            .map_err(err)?;
        let names: Vec<String> = shown.iter().map(|(name, _)| name.chars().take(22).collect()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(shown.len().max(1))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get((n - 1 - *i) as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(shown.iter().enumerate().map(|(i, (_, v))| {
                let y = n - 1 - i as i32;
                let color = if i == 0 { RGBColor(241, 196, 15) } else { FORECAST };
                let mut bar = Rectangle::new(
                    [(0.0, SegmentValue::Exact(y)), (v.max(0.0), SegmentValue::Exact(y + 1))],
                    color.filled(),
                );
                bar.set_margin(4, 4, 0, 0);
                bar
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    encode(&rgb, size)
}

/// A rep's line over the team's band, one point per period: what [`band`] draws. Values in the
/// metric's own unit (points, or major currency units); `None` leaves a gap.
#[derive(Clone, Debug, PartialEq)]
pub struct BandChart {
    pub title: String,
    /// The rep's name: the line's legend entry.
    pub rep_name: String,
    /// One label per period, oldest first.
    pub labels: Vec<String>,
    pub rep: Vec<Option<f64>>,
    /// (first quartile, median, third quartile) per period.
    pub team: Vec<Option<Quartiles>>,
}

/// (first quartile, median, third quartile).
pub type Quartiles = (f64, f64, f64);

/// A drawn chart and what it shows, so that a test can check the series and labels that
/// reached the picture rather than the ones asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Drawn {
    pub png: Vec<u8>,
    /// Legend entries, in drawing order.
    pub series: Vec<String>,
    /// Labels written under the x axis, left to right.
    pub x_labels: Vec<String>,
}

/// The team's middle half (quartiles) shaded, its median dashed, and the rep's line over both.
pub const BAND: RGBColor = RGBColor(210, 225, 245);
/// The rep's line in [`band`].
pub const REP: RGBColor = RGBColor(142, 68, 173);

/// A rep's history over their team's band (see [`BandChart`]).
pub fn band(chart: &BandChart) -> Result<Drawn, ChartError> {
    font_ready()?;
    let mut rgb = vec![255u8; (SIZE.0 * SIZE.1 * 3) as usize];
    let mut series = Vec::new();
    let x_labels = std::cell::RefCell::new(Vec::<(i32, String)>::new());
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = chart
            .rep
            .iter()
            .flatten()
            .copied()
            .chain(chart.team.iter().flatten().flat_map(|(a, b, c)| [*a, *b, *c]))
            .filter(|v| v.is_finite())
            .fold(1.0_f64, f64::max)
            * 1.15;
        let n = chart.labels.len().max(2) as i32;
        let mut c = ChartBuilder::on(&root)
            .caption(&chart.title, (FONT, 22).into_font())
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.3f64..(n - 1) as f64 + 0.3, 0.0..top)
            .map_err(err)?;
        c.configure_mesh()
            .x_labels(chart.labels.len().max(2))
            .x_label_formatter(&|x| {
                let i = x.round() as i32;
                let text = if (x - i as f64).abs() < 1e-6 {
                    chart.labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                };
                if !text.is_empty() {
                    x_labels.borrow_mut().push((i, text.clone()));
                }
                text
            })
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        // The band as one polygon per run of periods that have a spread.
        let runs: Vec<Vec<(f64, Quartiles)>> = chart
            .team
            .iter()
            .enumerate()
            .fold(vec![Vec::new()], |mut runs, (i, t)| {
                match t.filter(|(a, b, c)| a.is_finite() && b.is_finite() && c.is_finite()) {
                    Some(q) => runs.last_mut().expect("one run").push((i as f64, q)),
                    None => runs.push(Vec::new()),
                }
                runs
            })
            .into_iter()
            .filter(|r| !r.is_empty())
            .collect();
        let mut first = true;
        for run in &runs {
            let mut outline: Vec<(f64, f64)> = run.iter().map(|(x, q)| (*x, q.2)).collect();
            outline.extend(run.iter().rev().map(|(x, q)| (*x, q.0)));
            if run.len() == 1 {
                let (x, q) = run[0];
                outline = vec![(x - 0.1, q.2), (x + 0.1, q.2), (x + 0.1, q.0), (x - 0.1, q.0)];
            }
            let drawn = c.draw_series(std::iter::once(Polygon::new(outline, BAND.filled()))).map_err(err)?;
            if first {
                drawn
                    .label("team middle half (quartiles)")
                    .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], BAND.filled()));
                series.push("team middle half (quartiles)".to_string());
            }
            first = false;
        }
        let median: Vec<(f64, f64)> = chart
            .team
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|q| (i as f64, q.1)).filter(|(_, v)| v.is_finite()))
            .collect();
        if !median.is_empty() {
            c.draw_series(DashedLineSeries::new(median, 6, 4, GOAL.stroke_width(2)))
                .map_err(err)?
                .label("team median")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GOAL.stroke_width(2)));
            series.push("team median".to_string());
        }
        let rep: Vec<(f64, f64)> = chart
            .rep
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i as f64, v)))
            .collect();
        if !rep.is_empty() {
            c.draw_series(LineSeries::new(rep.clone(), REP.stroke_width(3)))
                .map_err(err)?
                .label(chart.rep_name.as_str())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], REP.stroke_width(3)));
            c.draw_series(rep.iter().map(|p| Circle::new(*p, 4, REP.filled()))).map_err(err)?;
            series.push(chart.rep_name.clone());
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.8))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    // The formatter may be asked more than once per label; keep each position's first, in order.
    let mut seen = std::collections::BTreeMap::new();
    for (i, text) in x_labels.into_inner() {
        seen.entry(i).or_insert(text);
    }
    // Fast compression: this chart comes with every `/kpi rep`, whose reply has a 25 ms budget.
    Ok(Drawn { png: encode_with(&rgb, SIZE, png::Compression::Fast)?, series, x_labels: seen.into_values().collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_png(bytes: &[u8]) -> bool {
        bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a])
    }

    #[test]
    fn a_cumulative_chart_renders_as_png_with_the_embedded_font() {
        let start = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let days: Vec<CumulativeDay> = (0..30)
            .map(|i| CumulativeDay {
                date: start + chrono::Duration::days(i),
                actual: (i < 20).then_some(i as f64 * 100.0),
                goal: Some(i as f64 * 150.0),
                forecast: (i >= 19).then_some(1900.0 + (i - 19) as f64 * 120.0),
            })
            .collect();
        let png = cumulative("Revenue · November", &days).unwrap();
        assert!(is_png(&png));
        // To look at it: RALLY_CHART_DIR=/tmp cargo test --lib charts
        if let Some(dir) = std::env::var_os("RALLY_CHART_DIR") {
            std::fs::write(std::path::Path::new(&dir).join("cumulative.png"), &png).unwrap();
            let bars =
                bars("Teams by points", &[("Alpha".into(), 196.0), ("Beta".into(), 132.0), ("Gamma".into(), 40.0)])
                    .unwrap();
            std::fs::write(std::path::Path::new(&dir).join("bars.png"), bars).unwrap();
        }
        let decoded = png::Decoder::new(png.as_slice()).read_info().unwrap();
        assert_eq!((decoded.info().width, decoded.info().height), SIZE);
    }

    #[test]
    fn charts_survive_empty_and_odd_data() {
        assert!(is_png(&cumulative("empty", &[]).unwrap()));
        let odd = [CumulativeDay {
            date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            actual: Some(f64::NAN),
            goal: Some(f64::INFINITY),
            forecast: Some(-5.0),
        }];
        assert!(is_png(&cumulative("odd", &odd).unwrap()));
        assert!(is_png(&bars("none", &[]).unwrap()));
        let many: Vec<(String, f64)> =
            (0..40).map(|i| (format!("Rep {i} with a very long name indeed"), i as f64)).collect();
        assert!(is_png(&bars("many", &many).unwrap()));
    }

    /// Pixels of exactly `color` in a decoded RGB picture.
    fn pixels_of(png: &[u8], color: RGBColor) -> usize {
        let mut reader = png::Decoder::new(png).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf[..info.buffer_size()].chunks(3).filter(|p| p == &[color.0, color.1, color.2]).count()
    }

    #[test]
    fn a_band_chart_draws_the_reps_line_over_the_teams_quartiles_with_every_label() {
        let chart = BandChart {
            title: "Alice · points".into(),
            rep_name: "Alice".into(),
            labels: ["Jun 2026", "Jul 2026", "Aug 2026", "Sep 2026", "Oct 2026", "Nov 2026"].map(String::from).to_vec(),
            rep: vec![None, Some(40.0), Some(35.0), Some(30.0), Some(20.0), Some(10.0)],
            team: vec![Some((30.0, 50.0, 70.0)); 6],
        };
        let drawn = band(&chart).unwrap();
        assert!(is_png(&drawn.png));
        assert_eq!(drawn.series, ["team middle half (quartiles)", "team median", "Alice"]);
        assert_eq!(drawn.x_labels, chart.labels);
        // The band and the line are really in the picture, not just in the legend.
        assert!(pixels_of(&drawn.png, BAND) > 10_000, "the band is shaded");
        assert!(pixels_of(&drawn.png, REP) > 500, "the rep's line is drawn");
        if let Some(dir) = std::env::var_os("RALLY_CHART_DIR") {
            std::fs::write(std::path::Path::new(&dir).join("band.png"), &drawn.png).unwrap();
        }
        // No team, no rep: an empty chart without legend entries, still a picture.
        let empty = band(&BandChart { team: vec![None; 6], rep: vec![None; 6], ..chart }).unwrap();
        assert!(empty.series.is_empty());
        assert_eq!(pixels_of(&empty.png, REP), 0);
    }
}
