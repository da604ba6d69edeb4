//! `tsal train --landmark_log FILE`: one CSV row per landmark of every annotated video pair of
//! every TSAL iteration ([`LandmarkRow`]), for studying the pseudo-label landmark by landmark —
//! where it beats the detector, and what a gate on it could read. The file is written afresh
//! by each training process (a resumed run's holds the iterations from where it resumed) and
//! flushed every iteration.
use super::stats::LandmarkRow;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The columns, in order.
pub const HEADER: &str = "iter,pair,landmark,pseudo_px,det_px,det_px_teacher,peak,fb_px,\
                          to_teacher_px,to_student_px";

pub struct LandmarkLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl LandmarkLog {
    /// Create (or replace) `path` and write the header.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path)
            .with_context(|| format!("--landmark_log {}: cannot create it", path.display()))?;
        let mut log = Self { path: path.to_path_buf(), out: BufWriter::new(file) };
        log.write(|o| writeln!(o, "{HEADER}"))?;
        Ok(log)
    }

    /// Append iteration `iter`'s rows.
    pub fn append(&mut self, iter: u64, rows: &[LandmarkRow]) -> Result<()> {
        self.write(|o| {
            for r in rows {
                writeln!(
                    o,
                    "{iter},{},{},{:.4},{:.4},{:.4},{:.5},{:.4},{:.4},{:.4}",
                    r.pair,
                    r.landmark,
                    r.pseudo_px,
                    r.det_px,
                    r.det_px_teacher,
                    r.peak,
                    r.fb_px,
                    r.to_teacher_px,
                    r.to_student_px
                )?;
            }
            o.flush()
        })
    }

    fn write(&mut self, f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) -> Result<()> {
        f(&mut self.out)
            .with_context(|| format!("--landmark_log {}: write failed", self.path.display()))
    }
}
