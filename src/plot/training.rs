//! `curves.png` of a run folder, and the combined plot of several runs (`tsal plot`): two
//! panels side by side, drawn from `metrics.jsonl` records.
//!
//! - Left: every loss term of every role against global iterations, log y axis. Values that
//!   a log axis cannot show (NaN, infinite, ≤ 0) leave a gap, and the panel counts them.
//! - Right: per-list NME in % against the 0-based epoch (the `NNN` of `reports/epoch-NNN/`),
//!   one point per evaluation joined by lines; the y axis turns logarithmic when the largest
//!   NME is over 20 times the smallest (the first epochs of a run sit in the hundreds), and
//!   otherwise runs from 0 to the largest NME plus 8 %.
//!
//! Colours name a series (a role and a loss term, or a role and a list) and stay the same
//! across runs; with several runs each run has its own line style (solid, dashed, dotted,
//! dash-dot, cycled) and its label prefixes its legend entries. Legends sit under each panel,
//! two columns, so they never hide a curve; the image grows taller with them. Text uses the
//! same 8×8 bitmap font as `ced.png` ([`super::canvas`]).
use super::canvas::{dot, put, stroke, text, to_rgb, write_png, OKABE_ITO};
use crate::run::metrics::{self, Record};
use anyhow::{Context, Result};
use image::RgbImage;
use std::collections::BTreeMap;
use std::path::Path;
use tiny_skia::{Color, Pixmap};

/// The image width in pixels (two panels of 800).
pub const WIDTH: u32 = 2 * PANEL_W;
const PANEL_W: u32 = 800;
const LEFT: u32 = 90;
const RIGHT: u32 = 30;
const PLOT_TOP: u32 = 70;
const PLOT_BOTTOM: u32 = 470;
/// Legend rows start this far down; each row is [`ROW`] pixels.
const LEGEND_TOP: u32 = PLOT_BOTTOM + 56;
const ROW: u32 = 14;
const COLUMNS: usize = 2;

/// The loss panel's plot area `[x0, y0, x1, y1]` in pixels (curves stay inside it).
pub const LOSS_AREA: [u32; 4] = [LEFT, PLOT_TOP, PANEL_W - RIGHT, PLOT_BOTTOM];
/// The NME panel's plot area `[x0, y0, x1, y1]` in pixels.
pub const NME_AREA: [u32; 4] = [PANEL_W + LEFT, PLOT_TOP, 2 * PANEL_W - RIGHT, PLOT_BOTTOM];

/// Series colours, in the order series are given them (the first six: the colour-blind-safe
/// Okabe–Ito colours of `ced.png`; then Paul Tol's muted scheme), cycled.
pub const PALETTE: [[u8; 3]; 12] = [
    OKABE_ITO[0],
    OKABE_ITO[1],
    OKABE_ITO[2],
    OKABE_ITO[3],
    OKABE_ITO[4],
    OKABE_ITO[5],
    [136, 34, 85],
    [68, 170, 153],
    [153, 153, 51],
    [51, 34, 136],
    [170, 68, 153],
    [0, 0, 0],
];

/// Dash patterns of runs 1, 2, 3, … (pixels on, off; `[]` = solid), cycled.
const DASHES: [&[f32]; 4] = [&[], &[9.0, 5.0], &[2.0, 4.0], &[10.0, 4.0, 2.0, 4.0]];

const BLACK: [u8; 3] = [0, 0, 0];
const GRID: [u8; 3] = [225, 225, 225];
const MINOR_GRID: [u8; 3] = [242, 242, 242];
const GREY: [u8; 3] = [110, 110, 110];

/// The image height for `legend_rows` rows of legend under the taller panel (at least one).
pub fn height(legend_rows: usize) -> u32 {
    LEGEND_TOP + legend_rows.max(1) as u32 * ROW + 12
}

/// One line of a panel: its legend label, colour index, run (line style) and `(x, y)` points
/// in file order (y may be NaN: a gap).
struct Series {
    label: String,
    colour: usize,
    run: usize,
    points: Vec<(f64, f64)>,
}

/// Teacher first, then student, then any other role by name.
fn role_rank(role: &str) -> u8 {
    match role {
        "teacher" => 0,
        "student" => 1,
        _ => 2,
    }
}

/// A legend label: `run: what` when several runs share the plot.
fn legend(runs: &[(String, Vec<Record>)], run: usize, what: String) -> String {
    if runs.len() > 1 {
        format!("{}: {what}", runs[run].0)
    } else {
        what
    }
}

/// Per series key (role, loss term or list), its `(x, y)` points in file order.
type ByKey = BTreeMap<(String, String), Vec<(f64, f64)>>;

/// The series of every run, each key given its colour by its rank in `keys` (sorted, all runs).
fn series(
    runs: &[(String, Vec<Record>)],
    per_run: Vec<ByKey>,
    keys: &[(String, String)],
) -> Vec<Series> {
    let mut out = Vec::new();
    for (run, mut m) in per_run.into_iter().enumerate() {
        for (colour, key) in keys.iter().enumerate() {
            if let Some(points) = m.remove(key) {
                let label = legend(runs, run, format!("{} {}", key.0, key.1));
                out.push(Series { label, colour, run, points });
            }
        }
    }
    out
}

/// Sorted, deduplicated keys of all runs.
fn keys_by<K: Ord>(
    per_run: &[ByKey],
    rank: impl Fn(&(String, String)) -> K,
) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = per_run.iter().flat_map(|m| m.keys().cloned()).collect();
    keys.sort_by_key(|k| (rank(k), k.clone()));
    keys.dedup();
    keys
}

/// Loss series: key (role, term), ordered teacher first, "total" first within a role.
fn loss_series(runs: &[(String, Vec<Record>)]) -> Vec<Series> {
    let mut per_run = Vec::new();
    for (_, records) in runs {
        let mut m = ByKey::new();
        for r in records {
            if let Record::Iter { iter, losses, .. } = r {
                for (role, terms) in losses {
                    for (term, v) in terms {
                        m.entry((role.clone(), term.clone())).or_default().push((*iter as f64, *v));
                    }
                }
            }
        }
        per_run.push(m);
    }
    let keys = keys_by(&per_run, |(role, term)| (role_rank(role), role.clone(), term != "total"));
    series(runs, per_run, &keys)
}

/// NME series: key (role, list), teacher first, lists in order of first appearance; y in %.
fn nme_series(runs: &[(String, Vec<Record>)]) -> Vec<Series> {
    let mut lists: Vec<String> = Vec::new();
    let mut per_run = Vec::new();
    for (_, records) in runs {
        let mut m = ByKey::new();
        for r in records {
            if let Record::Epoch { epoch, lists: l, .. } = r {
                for lm in l {
                    if !lists.contains(&lm.list) {
                        lists.push(lm.list.clone());
                    }
                    m.entry((lm.role.clone(), lm.list.clone()))
                        .or_default()
                        .push((*epoch as f64, 100.0 * lm.nme));
                }
            }
        }
        per_run.push(m);
    }
    let keys = keys_by(&per_run, |(role, list)| {
        (role_rank(role), role.clone(), lists.iter().position(|x| x == list))
    });
    series(runs, per_run, &keys)
}

/// A linear or logarithmic axis mapping data values onto pixels `p0..p1`.
#[derive(Clone, Copy)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    p0: f32,
    p1: f32,
}

impl Axis {
    /// The pixel of `v`, clamped to the axis; `None` where the axis cannot show it.
    fn pos(&self, v: f64) -> Option<f32> {
        if !v.is_finite() || (self.log && v <= 0.0) {
            return None;
        }
        let f = |x: f64| if self.log { x.log10() } else { x };
        let t = ((f(v) - f(self.lo)) / (f(self.hi) - f(self.lo))).clamp(0.0, 1.0);
        Some(self.p0 + (self.p1 - self.p0) * t as f32)
    }

    /// Labelled ticks, and unlabelled minor grid values (log axes over few decades).
    fn ticks(&self, integer: bool) -> (Vec<(f64, String)>, Vec<f64>) {
        if self.log {
            let (k0, k1) = (self.lo.log10().round() as i32, self.hi.log10().round() as i32);
            let every = ((k1 - k0) as f64 / 8.0).ceil().max(1.0) as i32;
            let major = (k0..=k1).step_by(every as usize).map(|k| (10f64.powi(k), log_label(k)));
            let minor = if k1 - k0 <= 5 {
                (k0..k1).flat_map(|k| (2..10).map(move |m| m as f64 * 10f64.powi(k))).collect()
            } else {
                Vec::new()
            };
            return (major.collect(), minor);
        }
        let raw = (self.hi - self.lo) / 6.0;
        let mag = 10f64.powf(raw.log10().floor());
        let mut step =
            [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(mag);
        if integer {
            step = step.max(1.0);
        }
        let (a, b) =
            ((self.lo / step - 1e-9).ceil() as i64, (self.hi / step + 1e-9).floor() as i64);
        ((a..=b).map(|i| (i as f64 * step, lin_label(i as f64 * step, step))).collect(), Vec::new())
    }
}

/// `10^k` as a tick label: plain from 0.001 to 10000, `1e-5` style beyond.
fn log_label(k: i32) -> String {
    match k {
        -3..=-1 => format!("{:.*}", (-k) as usize, 10f64.powi(k)),
        0..=4 => format!("{}", 10i64.pow(k as u32)),
        _ => format!("1e{k}"),
    }
}

/// `v` with as many decimals as `step` needs; thousands as `k` from 100000 on.
fn lin_label(v: f64, step: f64) -> String {
    if v.abs() >= 1e5 && step >= 1000.0 {
        return format!("{}k", lin_label(v / 1000.0, step / 1000.0));
    }
    let decimals = if step >= 1.0 { 0 } else { (-step.log10() - 1e-9).ceil() as usize };
    format!("{:.*}", decimals, v + 0.0)
}

/// Positive finite range of `values` widened to whole decades.
fn log_range(lo: f64, hi: f64) -> (f64, f64) {
    let a = (lo.log10() + 1e-9).floor();
    let b = (hi.log10() - 1e-9).ceil().max(a + 1.0);
    (10f64.powf(a), 10f64.powf(b))
}

/// One panel, laid out.
struct Panel {
    area: [f32; 4],
    title: &'static str,
    y_label: String,
    x_label: &'static str,
    empty: &'static str,
    series: Vec<Series>,
    x: Axis,
    y: Axis,
    integer_x: bool,
    /// Draw a marker on every point (evaluations are few), not only on isolated ones.
    markers: bool,
    /// Points the y axis cannot show.
    hidden: usize,
}

impl Panel {
    fn new(area: [u32; 4], series: Vec<Series>, losses: bool) -> Self {
        let area = area.map(|v| v as f32);
        let xs = || series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let ys = || series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
        let positive = || ys().filter(|y| y.is_finite() && *y > 0.0);
        let (ymin, ymax) =
            (positive().fold(f64::INFINITY, f64::min), positive().fold(0.0, f64::max));
        let (xmin, xmax) = (xs().fold(f64::INFINITY, f64::min), xs().fold(0.0, f64::max));
        let log = losses || (ymin.is_finite() && ymax / ymin > 20.0);
        let (ylo, yhi) = if !ymin.is_finite() {
            if log {
                (0.1, 10.0)
            } else {
                (0.0, 1.0)
            }
        } else if log {
            log_range(ymin, ymax)
        } else {
            (0.0, ymax * 1.08)
        };
        let (xlo, xhi) = if losses {
            (0.0, xmax.max(1.0))
        } else if xmin.is_finite() {
            (xmin - 0.5, xmax + 0.5)
        } else {
            (-0.5, 0.5)
        };
        let hidden = ys().filter(|y| !y.is_finite() || (log && *y <= 0.0)).count();
        let y_label = match (losses, log) {
            (true, _) => "loss (log scale)".to_string(),
            (false, true) => "NME (%, log scale)".to_string(),
            (false, false) => "NME (%)".to_string(),
        };
        Panel {
            area,
            title: if losses { "training losses" } else { "NME on the evaluation lists" },
            y_label,
            x_label: if losses { "iteration (global)" } else { "epoch (0-based)" },
            empty: if losses { "no losses logged yet" } else { "no evaluation yet" },
            x: Axis { lo: xlo, hi: xhi, log: false, p0: area[0], p1: area[2] },
            y: Axis { lo: ylo, hi: yhi, log, p0: area[3], p1: area[1] },
            series,
            integer_x: !losses,
            markers: !losses,
            hidden,
        }
    }

    /// Legend rows at `COLUMNS` entries a row.
    fn legend_rows(&self) -> usize {
        self.series.len().div_ceil(COLUMNS)
    }

    /// Top left of legend entry `k` (column-major, so each role fills a column when it can).
    fn legend_at(&self, k: usize) -> (f32, f32) {
        let rows = self.legend_rows().max(1);
        let col_w = (PANEL_W - 40) as f32 / COLUMNS as f32;
        let panel_x = self.area[0] - LEFT as f32;
        (panel_x + 20.0 + (k / rows) as f32 * col_w, (LEGEND_TOP + (k % rows) as u32 * ROW) as f32)
    }

    /// Grid, axes box, curves, markers and legend samples.
    fn draw(&self, pm: &mut Pixmap) {
        let [x0, y0, x1, y1] = self.area;
        if !self.series.is_empty() {
            let (ticks, minor) = self.y.ticks(false);
            for v in minor {
                if let Some(y) = self.y.pos(v) {
                    stroke(pm, &[(x0, y), (x1, y)], MINOR_GRID, 1.0, &[]);
                }
            }
            for (v, _) in &ticks {
                if let Some(y) = self.y.pos(*v) {
                    stroke(pm, &[(x0, y), (x1, y)], GRID, 1.0, &[]);
                }
            }
            for (v, _) in self.x.ticks(self.integer_x).0 {
                if let Some(x) = self.x.pos(v) {
                    stroke(pm, &[(x, y0), (x, y1)], GRID, 1.0, &[]);
                }
            }
        }
        stroke(pm, &[(x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0)], BLACK, 1.5, &[]);
        // Last series first, so that the first (a total loss, the teacher) is drawn on top.
        for s in self.series.iter().rev() {
            let colour = PALETTE[s.colour % PALETTE.len()];
            let dash = DASHES[s.run % DASHES.len()];
            // Split at points the axes cannot show.
            let mut segments: Vec<Vec<(f32, f32)>> = vec![Vec::new()];
            for &(x, y) in &s.points {
                match (self.x.pos(x), self.y.pos(y)) {
                    (Some(px), Some(py)) => segments.last_mut().expect("one").push((px, py)),
                    _ => segments.push(Vec::new()),
                }
            }
            for seg in segments.iter().filter(|s| !s.is_empty()) {
                if seg.len() > 1 {
                    stroke(pm, seg, colour, 2.0, dash);
                }
                if seg.len() == 1 || self.markers {
                    for &(x, y) in seg {
                        dot(pm, x, y, 3.0, colour);
                    }
                }
            }
        }
        for (k, s) in self.series.iter().enumerate() {
            let (lx, ly) = self.legend_at(k);
            let colour = PALETTE[s.colour % PALETTE.len()];
            stroke(
                pm,
                &[(lx, ly + 4.0), (lx + 28.0, ly + 4.0)],
                colour,
                2.0,
                DASHES[s.run % DASHES.len()],
            );
            if self.markers {
                dot(pm, lx + 14.0, ly + 4.0, 3.0, colour);
            }
        }
    }

    /// Titles, tick labels, messages and legend labels.
    fn label(&self, img: &mut RgbImage) {
        let [x0, y0, x1, y1] = self.area.map(|v| v as i64);
        text(img, self.title, x0, 16, 2, BLACK);
        text(img, &self.y_label, x0 - 40, y0 - 16, 1, BLACK);
        let xl = self.x_label;
        text(img, xl, (x0 + x1) / 2 - 4 * xl.len() as i64, y1 + 30, 1, BLACK);
        if self.series.is_empty() {
            let m = self.empty;
            text(img, m, (x0 + x1) / 2 - 8 * m.len() as i64, (y0 + y1) / 2 - 8, 2, GREY);
            return;
        }
        if self.hidden > 0 {
            let what = if self.y.log { "NaN, infinite or <= 0" } else { "NaN or infinite" };
            let note = format!("{} values {what} not shown", self.hidden);
            text(img, &note, x1 - 8 * note.len() as i64, y0 - 16, 1, GREY);
        }
        for (v, t) in self.y.ticks(false).0 {
            if let Some(y) = self.y.pos(v) {
                text(img, &t, x0 - 8 - 8 * t.len() as i64, y as i64 - 4, 1, BLACK);
            }
        }
        for (v, t) in self.x.ticks(self.integer_x).0 {
            if let Some(x) = self.x.pos(v) {
                text(img, &t, x as i64 - 4 * t.len() as i64, y1 + 8, 1, BLACK);
            }
        }
        let col_w = (PANEL_W as usize - 40) / COLUMNS;
        let max_chars = (col_w - 36 - 8) / 8;
        for (k, s) in self.series.iter().enumerate() {
            let (lx, ly) = self.legend_at(k);
            text(img, &shorten(&s.label, max_chars), lx as i64 + 36, ly as i64, 1, BLACK);
        }
    }
}

/// ASCII `s` of at most `max` characters, cut in the middle (list paths end in their name).
fn shorten(s: &str, max: usize) -> String {
    let s: Vec<char> =
        s.chars().map(|c| if c.is_ascii() && !c.is_control() { c } else { '?' }).collect();
    if s.len() <= max {
        return s.into_iter().collect();
    }
    let head = (max - 3) / 3;
    let tail = max - 3 - head;
    s[..head].iter().chain(['.', '.', '.'].iter()).chain(s[s.len() - tail..].iter()).collect()
}

/// Draw the losses (left) and the per-list NME (right) of `runs` (label, records). Labels
/// prefix the legend entries when there are several runs. Runs without records, or without
/// evaluations yet, give panels that say so.
pub fn curves_png(runs: &[(String, Vec<Record>)]) -> Result<RgbImage> {
    let panels = [
        Panel::new(LOSS_AREA, loss_series(runs), true),
        Panel::new(NME_AREA, nme_series(runs), false),
    ];
    let h = height(panels.iter().map(Panel::legend_rows).max().unwrap_or(0));
    let mut pm = Pixmap::new(WIDTH, h).context("cannot allocate the plot")?;
    pm.fill(Color::WHITE);
    for p in &panels {
        p.draw(&mut pm);
    }
    let mut img = to_rgb(&pm);
    // A thin rule between the panels.
    for y in 8..h as i64 - 8 {
        put(&mut img, PANEL_W as i64, y, GRID);
    }
    for p in &panels {
        p.label(&mut img);
    }
    Ok(img)
}

/// The label of a run: its folder's name (that of the current folder for `.`).
pub fn run_label(run_dir: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    name(run_dir)
        .or_else(|| run_dir.canonicalize().ok().as_deref().and_then(name))
        .unwrap_or_else(|| run_dir.display().to_string())
}

/// Read `run_dir/metrics.jsonl` and write `run_dir/curves.png` atomically.
pub fn write_run_curves(run_dir: &Path) -> Result<()> {
    let records = metrics::read(&run_dir.join(metrics::FILE_NAME))?;
    let img = curves_png(&[(run_label(run_dir), records)])?;
    write_png(&run_dir.join("curves.png"), &img)
}
