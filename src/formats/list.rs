//! SBR list files (reference `lib/datasets/GeneralDataset.py:168-198`, `load_list`): one face
//! per line, `image annotation|None x1 y1 x2 y2 [face_size]`, whitespace separated.
//!
//! * `None` (any case) as annotation marks an unlabelled face.
//! * The box is the face box in original-image pixels.
//! * The optional 7th column `face_size` is AFLW's NME normaliser.
//! * Relative paths are resolved against the folder of the list file, so a dataset tree with
//!   its lists can be moved as a whole. `--path_map OLD=NEW` rewrites path prefixes first,
//!   which makes the reference's absolute `/data1/...` lists usable.
use anyhow::{bail, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a list line came from, for error messages: `file:line`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<PathBuf>,
    /// 1-based.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One line of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct ListEntry {
    pub image: PathBuf,
    /// `None` for an unlabelled face.
    pub annotation: Option<PathBuf>,
    /// Face box `[x1, y1, x2, y2]`, original-image pixels.
    pub bbox: [f64; 4],
    /// The optional 7th column (AFLW's normaliser), pixels.
    pub face_size: Option<f64>,
    pub origin: Origin,
    /// The annotation is a *shadow label* (`tsal train --shadow_lists`): read for the
    /// diagnostics only, hidden from every loss, so the line trains as unlabelled. Lists read
    /// from disk start with `false`.
    pub shadow: bool,
}

impl ListEntry {
    /// Whether the losses may use this line's annotation (it has one, not a shadow label).
    pub fn is_labelled(&self) -> bool {
        self.annotation.is_some() && !self.shadow
    }

    /// The frame number of a video frame (its numeric file stem); none for a still image.
    pub fn frame_number(&self) -> Option<u64> {
        self.video()?;
        self.image.file_stem()?.to_str()?.parse().ok()
    }

    /// Whether this line is the frame right after `prev`: the same list file and video, the
    /// next frame number.
    pub fn follows(&self, prev: &ListEntry) -> bool {
        self.origin.file == prev.origin.file
            && self.video().is_some()
            && self.video() == prev.video()
            && matches!((prev.frame_number(), self.frame_number()), (Some(x), Some(y)) if y == x + 1)
    }

    /// The video this line is a frame of: the image's folder, when frames are named by number
    /// (300VW's `NNN/extraction/000001.png`). `None` for still images.
    pub fn video(&self) -> Option<&Path> {
        let stem = self.image.file_stem()?.to_str()?;
        let numbered = !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit());
        if numbered {
            self.image.parent()
        } else {
            None
        }
    }
}

/// A `--path_map OLD=NEW` prefix rewrite.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PathMap {
    pub old: String,
    pub new: String,
}

impl std::str::FromStr for PathMap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((old, new)) if !old.is_empty() => {
                Ok(PathMap { old: old.to_string(), new: new.to_string() })
            }
            _ => Err(format!("expected OLD=NEW (a path prefix and its replacement), found `{s}`")),
        }
    }
}

/// Apply the first map whose prefix matches.
pub fn apply_maps(path: &str, maps: &[PathMap]) -> String {
    for m in maps {
        if let Some(rest) = path.strip_prefix(&m.old) {
            return format!("{}{}", m.new, rest);
        }
    }
    path.to_string()
}

/// Read and parse a list file.
pub fn read(path: &Path, maps: &[PathMap]) -> Result<Vec<ListEntry>> {
    parse(&super::text::read(path, "list")?, path, maps)
}

/// Parse list text as if read from `path` (used for messages and relative paths); stops at
/// the first bad line.
pub fn parse(text: &str, path: &Path, maps: &[PathMap]) -> Result<Vec<ListEntry>> {
    parse_lines(text, path, maps).into_iter().filter_map(|r| r.transpose()).collect()
}

/// Parse every line, keeping each line's outcome (`Ok(None)` for a blank line), so a checker
/// can report all bad lines at once.
pub fn parse_lines(text: &str, path: &Path, maps: &[PathMap]) -> Vec<Result<Option<ListEntry>>> {
    let file = Arc::new(path.to_path_buf());
    let base = path.parent().unwrap_or(Path::new(""));
    text.lines()
        .enumerate()
        .map(|(i, line)| parse_line(line, Origin { file: file.clone(), line: i + 1 }, base, maps))
        .collect()
}

/// One line; `base` is the list's folder, against which relative paths are resolved.
fn parse_line(
    line: &str,
    origin: Origin,
    base: &Path,
    maps: &[PathMap],
) -> Result<Option<ListEntry>> {
    let t = line.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let resolve = |s: &str| -> PathBuf {
        let p = PathBuf::from(apply_maps(s, maps));
        if p.is_absolute() {
            p
        } else {
            base.join(p)
        }
    };
    let f: Vec<&str> = t.split_whitespace().collect();
    if f.len() != 6 && f.len() != 7 {
        bail!("{origin}: expected 6 or 7 fields, found {}", f.len());
    }
    let num = |k: usize, what: &str| -> Result<f64> {
        match f[k].parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => bail!("{origin}: field {} ({what}) `{}` is not a finite number", k + 1, f[k]),
        }
    };
    let bbox = [num(2, "x1")?, num(3, "y1")?, num(4, "x2")?, num(5, "y2")?];
    if bbox[2] <= bbox[0] || bbox[3] <= bbox[1] {
        bail!(
            "{origin}: empty face box {} {} {} {} (needs x2 > x1 and y2 > y1)",
            f[2],
            f[3],
            f[4],
            f[5]
        );
    }
    let face_size = if f.len() == 7 {
        let v = num(6, "face_size")?;
        if v <= 0.0 {
            bail!("{origin}: face_size {v} must be positive");
        }
        Some(v)
    } else {
        None
    };
    let annotation = if f[1].eq_ignore_ascii_case("none") { None } else { Some(resolve(f[1])) };
    Ok(Some(ListEntry { image: resolve(f[0]), annotation, bbox, face_size, origin, shadow: false }))
}

/// One list line for `image`, `annotation` and `bbox`; paths are written as given. `decimals`
/// is the box precision (the reference writes 300W boxes with 4, 300VW boxes with 2). A path
/// with white space is refused: list fields are whitespace-separated, so no reader (tsal's,
/// the reference's) could split the line back.
pub fn format_line(
    image: &Path,
    annotation: Option<&Path>,
    bbox: [f64; 4],
    face_size: Option<f64>,
    decimals: usize,
) -> Result<String> {
    let field = |p: &Path| -> Result<String> {
        let s = p.display().to_string();
        if s.chars().any(char::is_whitespace) {
            bail!(
                "`{s}`: a list cannot hold a path with white space (its fields are \
                 whitespace-separated); write the lists inside the dataset folder (--out) so \
                 their relative paths avoid it, or rename the folder"
            );
        }
        Ok(s)
    };
    let mut s = String::new();
    let ann = annotation.map_or(Ok("None".to_string()), field)?;
    let _ = write!(s, "{} {ann}", field(image)?);
    for v in bbox {
        let _ = write!(s, " {v:.decimals$}");
    }
    if let Some(fs) = face_size {
        let _ = write!(s, " {fs:.decimals$}");
    }
    Ok(s)
}

/// Write a list file atomically: one line per entry, a trailing newline.
pub fn write(path: &Path, lines: &[String]) -> Result<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    crate::fsutil::write_atomic(path, text.as_bytes())
}
