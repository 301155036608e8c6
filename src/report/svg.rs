//! A small line-chart drawer: inline SVG, no script, no charting crate. One chart is a plot
//! area with a left (and optionally a right) linear value axis, an x axis with given or computed
//! ticks, lines that break where a value is missing, shaded named bands (the run's stages), a
//! title and a legend. Every text is escaped.
//!
//! Long series are thinned per pixel column to the column's lowest and highest value, so a
//! day-long run stays a small file and spikes stay visible.

use std::fmt::Write as _;

use super::view::esc;

pub const WIDTH: f64 = 1100.0;
pub const HEIGHT: f64 = 320.0;
const TOP: f64 = 58.0;
const BOTTOM: f64 = 46.0;
const LEFT: f64 = 76.0;
const RIGHT_WITH_AXIS: f64 = 76.0;
const RIGHT_PLAIN: f64 = 40.0;
/// Approximate width of one character of the 11 px labels, to fit stage names in their band.
const CHAR_PX: f64 = 6.4;

/// Which value axis a series is drawn against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    Left,
    Right,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub axis: Axis,
    /// (x, y); `None` breaks the line.
    pub points: Vec<(f64, Option<f64>)>,
    pub dashed: bool,
}

impl Series {
    pub fn new(name: &str, color: &'static str, points: Vec<(f64, Option<f64>)>) -> Series {
        Series { name: name.to_string(), color, axis: Axis::Left, points, dashed: false }
    }

    pub fn right(mut self) -> Series {
        self.axis = Axis::Right;
        self
    }

    pub fn dashed(mut self) -> Series {
        self.dashed = true;
        self
    }
}

/// A named span of x (a stage), shaded and labelled on the chart.
#[derive(Clone, Debug)]
pub struct Band {
    pub start: f64,
    pub end: f64,
    pub label: String,
}

#[derive(Clone, Debug)]
pub struct Chart {
    /// The `id` of the `<svg>` element.
    pub id: String,
    pub title: String,
    pub x_label: String,
    pub x_range: (f64, f64),
    /// Tick positions and labels; `None`: round numbers over `x_range`.
    pub x_ticks: Option<Vec<(f64, String)>>,
    pub y_label: String,
    /// Label of the right value axis; it is drawn when a series uses it.
    pub y2_label: String,
    pub series: Vec<Series>,
    pub bands: Vec<Band>,
}

/// A round tick step for an axis from 0 to `max`, about `n` ticks: 1, 2, 2.5 or 5 × 10^k.
pub fn nice_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let f = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * mag
}

/// Decimals needed to write multiples of `step` exactly (at most 4).
fn decimals(step: f64) -> usize {
    (0..4).find(|d| ((step * 10f64.powi(*d as i32)).round() - step * 10f64.powi(*d as i32)).abs() < 1e-6).unwrap_or(4)
}

/// A value-axis label: `750`, `2.5`, `12k`, `1.5M`.
pub fn tick_label(v: f64, step: f64) -> String {
    if v.abs() >= 1e6 && step >= 1e5 {
        format!("{:.*}M", decimals(step / 1e6), v / 1e6)
    } else if v.abs() >= 1e4 && step >= 1e3 {
        format!("{:.*}k", decimals(step / 1e3), v / 1e3)
    } else {
        format!("{:.*}", decimals(step), v)
    }
}

/// Ticks for a time axis of `max` seconds: round steps (1 s … 1 h); labels in seconds up to
/// five minutes, else minutes:seconds (or hours:minutes:seconds).
pub fn time_ticks(max: f64) -> Vec<(f64, String)> {
    const STEPS: [f64; 16] = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0];
    let max = max.max(0.1);
    let step = STEPS.iter().copied().find(|s| max / s <= 10.0).unwrap_or_else(|| (max / 10.0 / 3600.0).ceil() * 3600.0);
    let n = (max / step + 1e-9).floor() as u64;
    (0..=n)
        .map(|i| {
            let t = i as f64 * step;
            let label = if max <= 300.0 {
                format!("{}s", tick_label(t, step))
            } else if t < 3600.0 || max < 3600.0 {
                format!("{}:{:02}", (t / 60.0).floor(), (t % 60.0).round())
            } else {
                format!("{}:{:02}:{:02}", (t / 3600.0).floor(), (t % 3600.0 / 60.0).floor(), (t % 60.0).round())
            };
            (t, label)
        })
        .collect()
}

/// The highest finite value of the series on `axis`.
fn axis_max(series: &[Series], axis: Axis) -> Option<f64> {
    series.iter().filter(|s| s.axis == axis).flat_map(|s| s.points.iter().filter_map(|p| p.1)).filter(|y| y.is_finite()).reduce(f64::max)
}

/// Thins a run of points to each pixel column's lowest and highest value (in x order).
fn thin(points: &[(f64, f64)], px: impl Fn(f64) -> f64, columns: usize) -> Vec<(f64, f64)> {
    if points.len() <= columns * 2 {
        return points.to_vec();
    }
    let mut out = Vec::with_capacity(columns * 2);
    let mut i = 0;
    while i < points.len() {
        let col = px(points[i].0).floor();
        let mut j = i;
        let (mut lo, mut hi) = (i, i);
        while j < points.len() && px(points[j].0).floor() == col {
            if points[j].1 < points[lo].1 {
                lo = j;
            }
            if points[j].1 > points[hi].1 {
                hi = j;
            }
            j += 1;
        }
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push(points[a]);
        if b != a {
            out.push(points[b]);
        }
        i = j;
    }
    out
}

impl Chart {
    pub fn to_svg(&self) -> String {
        let has_right = self.series.iter().any(|s| s.axis == Axis::Right);
        let right = if has_right { RIGHT_WITH_AXIS } else { RIGHT_PLAIN };
        let (x0, x1) = (LEFT, WIDTH - right);
        let (y0, y1) = (HEIGHT - BOTTOM, TOP); // y0: bottom of the plot
        let (xmin, mut xmax) = self.x_range;
        if xmax <= xmin {
            xmax = xmin + 1.0;
        }
        let sx = |x: f64| x0 + (x.clamp(xmin, xmax) - xmin) / (xmax - xmin) * (x1 - x0);
        let scale = |axis: Axis| {
            // 8 % headroom keeps the lines off the stage names at the top of the plot.
            let max = axis_max(&self.series, axis).filter(|m| *m > 0.0).map_or(1.0, |m| m * 1.08);
            let step = nice_step(max, 5.0);
            (step, (max / step).ceil().max(1.0) * step)
        };
        let (lstep, lmax) = scale(Axis::Left);
        let (rstep, rmax) = scale(Axis::Right);
        let sy = |y: f64, axis: Axis| {
            let top = if axis == Axis::Left { lmax } else { rmax };
            y0 - (y.clamp(0.0, top) / top) * (y0 - y1)
        };

        let mut o = String::new();
        let _ = writeln!(
            o,
            r#"<svg id="{}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}">"#,
            esc(&self.id),
            esc(&self.title)
        );
        let _ = writeln!(o, r##"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##);
        let _ = writeln!(o, r##"<text x="{LEFT}" y="20" font-size="15" font-weight="bold" fill="#111827">{}</text>"##, esc(&self.title));

        // Stage bands, behind everything else.
        for (i, b) in self.bands.iter().enumerate() {
            let (bx0, bx1) = (sx(b.start), sx(b.end.max(b.start)));
            if i % 2 == 0 {
                let _ = writeln!(
                    o,
                    r##"<rect class="stage-band" x="{bx0:.1}" y="{y1:.1}" width="{:.1}" height="{:.1}" fill="#eef2f7"/>"##,
                    (bx1 - bx0).max(0.0),
                    y0 - y1
                );
            }
        }

        // Grid and value axes.
        let mut v = 0.0;
        while v <= lmax + lstep * 1e-6 {
            let y = sy(v, Axis::Left);
            let _ = writeln!(o, r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#e5e7eb"/>"##);
            let _ = writeln!(
                o,
                r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#374151">{}</text>"##,
                x0 - 6.0,
                y + 4.0,
                tick_label(v, lstep)
            );
            v += lstep;
        }
        if has_right {
            let mut v = 0.0;
            while v <= rmax + rstep * 1e-6 {
                let y = sy(v, Axis::Right);
                let _ = writeln!(
                    o,
                    r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#374151">{}</text>"##,
                    x1 + 6.0,
                    y + 4.0,
                    tick_label(v, rstep)
                );
                v += rstep;
            }
            let _ = writeln!(
                o,
                r##"<text transform="translate({:.1},{:.1}) rotate(90)" font-size="12" text-anchor="middle" fill="#374151">{}</text>"##,
                WIDTH - 12.0,
                (y0 + y1) / 2.0,
                esc(&self.y2_label)
            );
        }
        let _ = writeln!(
            o,
            r##"<text transform="translate(16,{:.1}) rotate(-90)" font-size="12" text-anchor="middle" fill="#374151">{}</text>"##,
            (y0 + y1) / 2.0,
            esc(&self.y_label)
        );

        // X axis.
        let ticks = self.x_ticks.clone().unwrap_or_else(|| {
            let step = nice_step(xmax - xmin, 8.0);
            let mut t = (xmin / step).ceil() * step;
            let mut v = Vec::new();
            while t <= xmax + step * 1e-6 && v.len() < 50 {
                v.push((t, tick_label(t, step)));
                t += step;
            }
            v
        });
        for (t, label) in ticks.iter().filter(|(t, _)| *t >= xmin - 1e-9 && *t <= xmax + 1e-9) {
            let x = sx(*t);
            let _ = writeln!(o, r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{:.1}" stroke="#6b7280"/>"##, y0 + 5.0);
            let _ = writeln!(
                o,
                r##"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#374151">{}</text>"##,
                y0 + 18.0,
                esc(label)
            );
        }
        let _ = writeln!(
            o,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="#374151">{}</text>"##,
            (x0 + x1) / 2.0,
            HEIGHT - 6.0,
            esc(&self.x_label)
        );
        let _ = writeln!(o, r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#6b7280"/>"##);
        let _ = writeln!(o, r##"<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#6b7280"/>"##);

        // Stage boundaries and names, over the grid.
        for b in &self.bands {
            let (bx0, bx1) = (sx(b.start), sx(b.end.max(b.start)));
            let _ = writeln!(
                o,
                r##"<line class="stage-boundary" x1="{bx0:.1}" y1="{y1}" x2="{bx0:.1}" y2="{y0}" stroke="#9ca3af" stroke-dasharray="4 3"/>"##
            );
            let room = ((bx1 - bx0 - 6.0) / CHAR_PX).floor().max(0.0) as usize;
            let full = b.label.chars().count();
            let shown: String = if full <= room {
                b.label.clone()
            } else if room >= 2 {
                b.label.chars().take(room - 1).chain(['…']).collect()
            } else {
                String::new()
            };
            let _ = writeln!(
                o,
                r##"<text class="stage-label" x="{:.1}" y="{:.1}" font-size="11" fill="#4b5563"><title>{}</title>{}</text>"##,
                bx0 + 4.0,
                y1 + 13.0,
                esc(&b.label),
                esc(&shown)
            );
        }

        // Series.
        let columns = (x1 - x0) as usize;
        for s in &self.series {
            let _ = writeln!(o, r#"<g class="series" data-series="{}">"#, esc(&s.name));
            let mut segment: Vec<(f64, f64)> = Vec::new();
            let mut segments = Vec::new();
            for p in &s.points {
                match p.1.filter(|y| y.is_finite()) {
                    Some(y) => segment.push((p.0, y)),
                    None => segments.push(std::mem::take(&mut segment)),
                }
            }
            segments.push(segment);
            let dash = if s.dashed { r#" stroke-dasharray="6 4""# } else { "" };
            for seg in segments.iter().filter(|s| !s.is_empty()) {
                let seg = thin(seg, sx, columns);
                if let [(x, y)] = seg.as_slice() {
                    let _ = writeln!(o, r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"/>"#, sx(*x), sy(*y, s.axis), s.color);
                    continue;
                }
                let mut d = String::with_capacity(seg.len() * 14);
                for (i, (x, y)) in seg.iter().enumerate() {
                    let _ = write!(d, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, sx(*x), sy(*y, s.axis));
                }
                let _ = writeln!(o, r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.8" stroke-linejoin="round"{dash}/>"#, s.color);
            }
            let _ = writeln!(o, "</g>");
        }

        // Legend, under the title.
        let mut lx = LEFT;
        for s in &self.series {
            let name = if s.axis == Axis::Right && has_right { format!("{} (right axis)", s.name) } else { s.name.clone() };
            let dash = if s.dashed { r#" stroke-dasharray="6 4""# } else { "" };
            let _ = writeln!(
                o,
                r##"<line x1="{lx:.1}" y1="38" x2="{:.1}" y2="38" stroke="{}" stroke-width="3"{dash}/><text x="{:.1}" y="42" font-size="12" fill="#111827">{}</text>"##,
                lx + 18.0,
                s.color,
                lx + 23.0,
                esc(&name)
            );
            lx += 23.0 + name.chars().count() as f64 * 7.0 + 18.0;
        }
        o.push_str("</svg>\n");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>) -> Chart {
        Chart {
            id: "c".into(),
            title: "T <1>".into(),
            x_label: "time".into(),
            x_range: (0.0, 10.0),
            x_ticks: None,
            y_label: "ms".into(),
            y2_label: "errors/s".into(),
            series,
            bands: vec![Band { start: 0.0, end: 5.0, label: "warm<up>".into() }, Band { start: 5.0, end: 10.0, label: "b".into() }],
        }
    }

    #[test]
    fn steps_and_labels_are_round() {
        assert_eq!(nice_step(10.0, 5.0), 2.0);
        assert_eq!(nice_step(12.0, 5.0), 2.5);
        assert_eq!(nice_step(0.03, 5.0), 0.01);
        assert_eq!(nice_step(9000.0, 5.0), 2000.0);
        assert_eq!(tick_label(2.5, 2.5), "2.5");
        assert_eq!(tick_label(20000.0, 5000.0), "20k");
        assert_eq!(tick_label(1_500_000.0, 500_000.0), "1.5M");
        assert_eq!(tick_label(0.02, 0.01), "0.02");
        let t = time_ticks(60.0);
        assert_eq!(t.first().unwrap().1, "0s");
        assert_eq!(t.last().unwrap(), &(60.0, "60s".to_string()));
        let t = time_ticks(1200.0);
        assert!(t.iter().any(|(x, l)| *x == 600.0 && l == "10:00"), "{t:?}");
        let t = time_ticks(7300.0);
        assert!(t.iter().any(|(x, l)| *x == 3600.0 && l == "1:00:00"), "{t:?}");
        assert!(t.len() <= 11);
    }

    #[test]
    fn draws_series_with_gaps_bands_and_escaped_text() {
        let pts = vec![(1.0, Some(1.0)), (2.0, Some(3.0)), (3.0, None), (4.0, Some(2.0)), (5.0, Some(2.5))];
        let svg = chart(vec![Series::new("p99", "#d00", pts), Series::new("errors/s", "#f00", vec![(1.0, Some(4.0))]).right()]).to_svg();
        assert!(svg.starts_with(r#"<svg id="c""#), "{svg}");
        assert!(svg.ends_with("</svg>\n"));
        assert!(svg.contains(r#"data-series="p99""#) && svg.contains(r#"data-series="errors/s""#));
        // the missing value splits the p99 line into two paths; the lone error point is a dot
        let p99 = svg.split(r#"data-series="p99""#).nth(1).unwrap().split("</g>").next().unwrap();
        assert_eq!(p99.matches("<path").count(), 2, "{p99}");
        assert!(svg.contains("<circle"));
        assert!(svg.contains("(right axis)"));
        assert!(svg.contains("T &lt;1&gt;") && svg.contains("warm&lt;up&gt;") && !svg.contains("<up>"));
        assert_eq!(svg.matches(r#"class="stage-boundary""#).count(), 2);
    }

    #[test]
    fn long_series_are_thinned_but_keep_spikes() {
        let pts: Vec<(f64, Option<f64>)> =
            (0..100_000).map(|i| (i as f64 / 10_000.0, Some(if i == 55_555 { 100.0 } else { 1.0 }))).collect();
        let svg = chart(vec![Series::new("max", "#000", pts)]).to_svg();
        assert!(svg.len() < 100_000, "{} bytes", svg.len());
        // the spike (100 on a 0..125 axis: 108 with headroom, in steps of 25) is kept
        let y = HEIGHT - BOTTOM - 100.0 / 125.0 * (HEIGHT - BOTTOM - TOP);
        assert!(svg.contains(&format!(",{y:.1}")), "spike kept at {y:.1}");
    }
}
