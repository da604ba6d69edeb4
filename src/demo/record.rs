//! The demo's landmarks file: one record per frame, frames without a face included (flagged,
//! with no points). `.json`: an object with the video's facts and a `frames` array; `.csv`: a
//! header and one row per face (one row with `face` 0 for a frame without), each role's
//! confidence and points in its own columns. Written
//! under a temporary name and renamed into place at the end, so an interrupted or failed demo
//! leaves no half-written file under the asked name.
use super::follow::BoxSource;
use super::video::VideoInfo;
use crate::fsutil::StagedFile;
use anyhow::{bail, Context, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// One detector's result on a frame.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RoleResult {
    pub points: Vec<[f64; 2]>,
    /// Mean over the points of the last stage's heatmap peak (0 to ~1).
    pub confidence: f64,
}

/// One face of a frame.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FaceRecord {
    /// The face box the crop was taken from, `[x1, y1, x2, y2]`.
    #[serde(rename = "box")]
    pub bbox: [f64; 4],
    /// How the box was found: given, detected or followed.
    pub source: BoxSource,
    /// Role name → its points and confidence.
    pub roles: std::collections::BTreeMap<String, RoleResult>,
}

/// One frame's record: its faces (none when no face was found).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Record {
    pub frame: u64,
    /// Seconds from the start (frame / frame rate).
    pub time: f64,
    pub face: bool,
    pub faces: Vec<FaceRecord>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

pub struct Writer {
    out: Option<BufWriter<std::fs::File>>,
    format: Format,
    file: StagedFile,
    roles: Vec<String>,
    num_pts: usize,
    first: bool,
}

impl Writer {
    /// Start `target` (`.json` or `.csv`) for a video `info` read from `video`, predicted by
    /// `roles` with `num_pts` points each.
    pub fn create(
        target: &Path,
        video: &Path,
        info: &VideoInfo,
        roles: &[&str],
        num_pts: usize,
    ) -> Result<Self> {
        let ext = target.extension().map(|e| e.to_string_lossy().to_lowercase());
        let format = match ext.as_deref() {
            Some("json") => Format::Json,
            Some("csv") => Format::Csv,
            _ => bail!("--landmarks {}: write .json or .csv", target.display()),
        };
        let staged = StagedFile::new(target);
        let file = std::fs::File::create(staged.path())
            .with_context(|| format!("--landmarks {}: cannot write", target.display()))?;
        let mut w = Self {
            out: Some(BufWriter::new(file)),
            format,
            file: staged,
            roles: roles.iter().map(|s| s.to_string()).collect(),
            num_pts,
            first: true,
        };
        let head = match format {
            Format::Json => {
                let facts = serde_json::json!({
                    "video": video.display().to_string(),
                    "width": info.width,
                    "height": info.height,
                    "fps": info.rate.to_string(),
                    "num_pts": num_pts,
                    "roles": roles,
                    "pixels": "0-based pixel centres of the displayed frame",
                });
                let s = serde_json::to_string(&facts)?;
                // The facts object, left open for the frames array.
                format!("{},\"frames\":[\n", &s[..s.len() - 1])
            }
            Format::Csv => {
                let mut cols =
                    vec!["frame", "time", "face", "index", "source", "x1", "y1", "x2", "y2"]
                        .into_iter()
                        .map(String::from)
                        .collect::<Vec<_>>();
                for r in roles {
                    cols.push(format!("{r}_confidence"));
                    for i in 0..num_pts {
                        cols.push(format!("{r}_x{i}"));
                        cols.push(format!("{r}_y{i}"));
                    }
                }
                cols.join(",") + "\n"
            }
        };
        w.write_str(&head)?;
        Ok(w)
    }

    fn write_str(&mut self, s: &str) -> Result<()> {
        let out = self.out.as_mut().expect("open until finish");
        out.write_all(s.as_bytes())
            .with_context(|| format!("--landmarks {}: cannot write", self.file.target().display()))
    }

    pub fn write(&mut self, r: &Record) -> Result<()> {
        let line = match self.format {
            Format::Json => {
                let sep = if self.first { "" } else { ",\n" };
                format!("{sep}{}", serde_json::to_string(r)?)
            }
            Format::Csv => {
                let head = |face: bool| {
                    vec![r.frame.to_string(), format!("{:.6}", r.time), (face as u8).to_string()]
                };
                if r.faces.is_empty() {
                    let mut cells = head(false);
                    cells.push(String::new());
                    cells.push(BoxSource::None.name().to_string());
                    let empty = 4 + self.roles.len() * (1 + 2 * self.num_pts);
                    cells.extend(std::iter::repeat_n(String::new(), empty));
                    cells.join(",") + "\n"
                } else {
                    let mut rows = String::new();
                    for (k, f) in r.faces.iter().enumerate() {
                        let mut cells = head(true);
                        cells.push(k.to_string());
                        cells.push(f.source.name().to_string());
                        cells.extend(f.bbox.iter().map(|v| format!("{v:.2}")));
                        for role in &self.roles {
                            match f.roles.get(role) {
                                Some(x) => {
                                    cells.push(format!("{:.4}", x.confidence));
                                    cells.extend(x.points.iter().flat_map(|p| {
                                        [format!("{:.2}", p[0]), format!("{:.2}", p[1])]
                                    }));
                                }
                                None => cells.extend(std::iter::repeat_n(
                                    String::new(),
                                    1 + 2 * self.num_pts,
                                )),
                            }
                        }
                        rows += &(cells.join(",") + "\n");
                    }
                    rows
                }
            }
        };
        self.first = false;
        self.write_str(&line)
    }

    /// Close the file and rename it into place.
    pub fn finish(mut self) -> Result<PathBuf> {
        if self.format == Format::Json {
            self.write_str("\n]}\n")?;
        }
        let out = self.out.take().expect("open until finish");
        let written = out.into_inner().map_err(|e| e.into_error()).with_context(|| {
            format!("--landmarks {}: cannot write", self.file.target().display())
        })?;
        written.sync_all().ok();
        self.file.commit("--landmarks")
    }
}
