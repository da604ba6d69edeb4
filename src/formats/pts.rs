//! Landmark annotation files.
//!
//! Two formats (reference `lib/datasets/dataset_utils.py:36-102`):
//! * [`PtsFormat::Ibug`], the `.pts` of 300W/300VW: `version: 1`, `n_points: N`, `{`, N lines
//!   `x y`, `}`. Every point is visible. The reference parser calls it "v0".
//! * [`PtsFormat::Sbr`], SBR's point file ("v1", also AFLW): lines `idx x y True|False`, `idx`
//!   1-based; points not listed stay at (0, 0) and invisible.
//!
//! Coordinates are original-image pixels, 0-based, as the files give them.
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// One face's landmarks in original-image pixels with a visibility flag per point.
#[derive(Clone, Debug, PartialEq)]
pub struct Landmarks {
    /// `(x, y)` per point, original-image pixels.
    pub xy: Vec<[f64; 2]>,
    /// Whether each point is annotated and counts (in the loss, in NME).
    pub visible: Vec<bool>,
}

impl Landmarks {
    /// All points visible.
    pub fn all_visible(xy: Vec<[f64; 2]>) -> Self {
        let visible = vec![true; xy.len()];
        Self { xy, visible }
    }

    pub fn len(&self) -> usize {
        self.xy.len()
    }

    pub fn is_empty(&self) -> bool {
        self.xy.is_empty()
    }

    /// Tight box `[x1, y1, x2, y2]` around the visible points; `None` when none is visible.
    pub fn bbox(&self) -> Option<[f64; 4]> {
        let mut it = self.xy.iter().zip(&self.visible).filter(|(_, v)| **v).map(|(p, _)| *p);
        let first = it.next()?;
        Some(it.fold([first[0], first[1], first[0], first[1]], |b, p| {
            [b[0].min(p[0]), b[1].min(p[1]), b[2].max(p[0]), b[3].max(p[1])]
        }))
    }
}

/// Which annotation format a file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PtsFormat {
    /// 300W / 300VW `.pts` (`version: 1` header).
    Ibug,
    /// SBR point file (`idx x y True|False`).
    Sbr,
}

/// Read an annotation file, detecting its format from the first line. For SBR files,
/// `num_pts` fixes the point count (otherwise the largest index).
pub fn read(path: &Path, num_pts: Option<usize>) -> Result<Landmarks> {
    let text = super::text::read(path, "annotation")?;
    parse(&text, &path.display().to_string(), num_pts)
}

/// Parse annotation text; `name` is used in error messages (`name:line: reason`).
pub fn parse(text: &str, name: &str, num_pts: Option<usize>) -> Result<Landmarks> {
    parse_with(text, name, num_pts, Coords::Finite)
}

/// Read a **prediction** file: like [`read`], but a coordinate may be `nan` or `inf` (a method
/// that gave up on a face); scoring treats such a face as having no prediction, as it does for
/// the same value in a JSON or CSV file.
pub fn read_prediction(path: &Path, num_pts: Option<usize>) -> Result<Landmarks> {
    let text = super::text::read(path, "prediction")?;
    parse_with(&text, &path.display().to_string(), num_pts, Coords::Any)
}

/// Which coordinate values a file may hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Coords {
    Finite,
    Any,
}

fn parse_with(text: &str, name: &str, num_pts: Option<usize>, c: Coords) -> Result<Landmarks> {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if first.trim_start().starts_with("version") {
        parse_ibug(text, name, c)
    } else {
        parse_sbr(text, name, num_pts, c)
    }
}

fn parse_ibug(text: &str, name: &str, c: Coords) -> Result<Landmarks> {
    // Lines numbered from 1; trailing blank lines are ignored.
    let lines: Vec<&str> = text.lines().collect();
    let end = lines.iter().rposition(|l| !l.trim().is_empty()).map_or(0, |i| i + 1);
    let lines = &lines[..end];
    let header = |i: usize, key: &str| -> Result<&str> {
        let l =
            lines.get(i).with_context(|| format!("{name}:{}: file ends before `{key}`", i + 1))?;
        let (k, v) = l.split_once(':').with_context(|| {
            format!("{name}:{}: expected `{key}: <value>`, found `{}`", i + 1, l.trim())
        })?;
        if k.trim() != key {
            bail!("{name}:{}: expected `{key}: <value>`, found `{}`", i + 1, l.trim());
        }
        Ok(v.trim())
    };
    let version = header(0, "version")?;
    if version.parse::<f64>().ok() != Some(1.0) {
        bail!("{name}:1: unsupported .pts version `{version}` (expected 1)");
    }
    let n_raw = header(1, "n_points")?;
    let n: usize = n_raw
        .parse()
        .with_context(|| format!("{name}:2: n_points `{n_raw}` is not a whole number"))?;
    match lines.get(2).map(|l| l.trim()) {
        Some("{") => {}
        Some(other) => bail!("{name}:3: expected `{{`, found `{other}`"),
        None => bail!("{name}: truncated after the header (no `{{`)"),
    }
    let mut xy = Vec::with_capacity(n);
    let mut closed = false;
    for (i, line) in lines.iter().enumerate().skip(3) {
        let t = line.trim();
        if t == "}" {
            if i + 1 != lines.len() {
                bail!("{name}:{}: text after the closing `}}`", i + 2);
            }
            closed = true;
            break;
        }
        let nums: Vec<&str> = t.split_whitespace().collect();
        if nums.len() != 2 {
            bail!("{name}:{}: expected `x y`, found `{t}`", i + 1);
        }
        let x = parse_coord(nums[0], name, i + 1, c)?;
        let y = parse_coord(nums[1], name, i + 1, c)?;
        xy.push([x, y]);
    }
    if !closed {
        bail!("{name}: truncated: no closing `}}` after {} of {n} points", xy.len());
    }
    if xy.len() != n {
        bail!("{name}: n_points is {n} but {} point lines were found", xy.len());
    }
    Ok(Landmarks::all_visible(xy))
}

fn parse_sbr(text: &str, name: &str, num_pts: Option<usize>, c: Coords) -> Result<Landmarks> {
    let mut found: Vec<(usize, [f64; 2], bool, usize)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        if f.len() != 4 {
            bail!("{name}:{}: expected `idx x y True|False`, found `{t}`", i + 1);
        }
        let idx: usize = f[0].parse().ok().filter(|&k| k >= 1).with_context(|| {
            format!("{name}:{}: point index `{}` is not a number >= 1", i + 1, f[0])
        })?;
        let x = parse_coord(f[1], name, i + 1, c)?;
        let y = parse_coord(f[2], name, i + 1, c)?;
        let vis = match f[3] {
            "True" | "true" | "1" => true,
            "False" | "false" | "0" => false,
            other => bail!("{name}:{}: visibility must be True or False, found `{other}`", i + 1),
        };
        found.push((idx, [x, y], vis, i + 1));
    }
    if found.is_empty() {
        bail!("{name}: no points (neither a `version: 1` .pts nor SBR `idx x y True|False` lines)");
    }
    let n = num_pts.unwrap_or_else(|| found.iter().map(|p| p.0).max().unwrap_or(0));
    let mut lm = Landmarks { xy: vec![[0.0, 0.0]; n], visible: vec![false; n] };
    let mut seen = vec![false; n];
    for (idx, p, vis, line) in found {
        if idx > n {
            bail!("{name}:{line}: point index {idx} exceeds the {n} points expected");
        }
        if std::mem::replace(&mut seen[idx - 1], true) {
            bail!("{name}:{line}: point {idx} is listed twice");
        }
        lm.xy[idx - 1] = p;
        lm.visible[idx - 1] = vis;
    }
    Ok(lm)
}

fn parse_coord(s: &str, name: &str, line: usize, c: Coords) -> Result<f64> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() || c == Coords::Any => Ok(v),
        _ => bail!("{name}:{line}: `{s}` is not a finite number"),
    }
}

/// Render landmarks in `format`. 300W `.pts` cannot carry visibility: invisible points are
/// written like the others (as 300W does for occluded points), so use SBR where it matters.
pub fn format(lm: &Landmarks, format: PtsFormat) -> String {
    let mut s = String::new();
    match format {
        PtsFormat::Ibug => {
            let _ = write!(s, "version: 1\nn_points: {}\n{{\n", lm.len());
            for p in &lm.xy {
                let _ = writeln!(s, "{:.3} {:.3}", p[0], p[1]);
            }
            s.push_str("}\n");
        }
        PtsFormat::Sbr => {
            for (i, (p, v)) in lm.xy.iter().zip(&lm.visible).enumerate() {
                let vis = if *v { "True" } else { "False" };
                let _ = writeln!(s, "{} {:.3} {:.3} {vis}", i + 1, p[0], p[1]);
            }
        }
    }
    s
}

/// Write landmarks to `path` atomically.
pub fn write(path: &Path, lm: &Landmarks, fmt: PtsFormat) -> Result<()> {
    crate::fsutil::write_atomic(path, format(lm, fmt).as_bytes())
}
