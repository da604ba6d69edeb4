//! `metrics.jsonl` of a run folder: one JSON object per line, appended and flushed as training
//! goes ([`MetricsWriter`]), read back whole ([`read`]), and cut back to a snapshot's iteration
//! when a run resumes ([`truncate_after`]).
//!
//! Lines are tagged by `"kind"`: `"iter"` every `--print_freq` iterations, `"epoch"` after each
//! epoch's evaluation. Unknown fields are ignored when read, so older readers take newer files.
//!
//! Non-finite numbers: JSON has no NaN or infinity, and serde_json writes them as `null`. Every
//! number here reads `null` back as NaN, so a diverged loss is logged (and plotted as a gap)
//! instead of failing the run; an infinity therefore reads back as NaN too.
//!
//! A run killed mid-write (kill -9, power loss) can leave a last line cut short: [`read`]
//! ignores an unterminated last line that does not parse, and [`MetricsWriter::open`] removes
//! it before appending, so the next record starts on a line of its own.
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The file name inside a run folder.
pub const FILE_NAME: &str = "metrics.jsonl";

/// Per role (`teacher`, `student`), per name (a loss term or a parameter group), one number.
pub type PerRole = BTreeMap<String, BTreeMap<String, f64>>;

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    /// Every `--print_freq` iterations.
    Iter {
        /// The epoch, 0-based (the `NNN` of `reports/epoch-NNN/`).
        epoch: usize,
        /// Global iterations done so far, over all epochs.
        iter: u64,
        /// Role (`teacher` | `student`) → loss term (e.g. `heatmap`, `focal`, `offset`,
        /// `total`) → value (unitless; NaN when it diverged).
        #[serde(deserialize_with = "per_role")]
        losses: PerRole,
        /// Role → parameter group → learning rate.
        #[serde(deserialize_with = "per_role")]
        lr: PerRole,
        /// TSAL round: pair kind (`video`, `views`) → diagnostic (`pairs`, `annotated`,
        /// `static_px`, `track_px_teacher`, …, in input pixels) → mean over the iterations that
        /// measured it ([`crate::train::stats::PairStats`]). Absent for supervised training.
        #[serde(default, deserialize_with = "per_role", skip_serializing_if = "PerRole::is_empty")]
        pairs: PerRole,
        /// Training frames per second over the last `--print_freq` iterations.
        #[serde(deserialize_with = "number")]
        frames_per_s: f64,
        /// Seconds spent waiting for the data loader over the same iterations.
        #[serde(deserialize_with = "number")]
        data_wait_s: f64,
        /// Seconds since the run (or its first segment, across resumes) started.
        #[serde(deserialize_with = "number")]
        elapsed_s: f64,
    },
    /// After each epoch's evaluation.
    Epoch {
        /// The epoch, 0-based.
        epoch: usize,
        /// Global iterations done when the epoch ended.
        iter: u64,
        /// One entry per (role, evaluation list).
        lists: Vec<ListMetrics>,
        /// Role → mean NME over the lists (a fraction, like [`ListMetrics::nme`]).
        #[serde(deserialize_with = "per_name")]
        mean_nme: BTreeMap<String, f64>,
        /// Seconds since the run started.
        #[serde(deserialize_with = "number")]
        elapsed_s: f64,
    },
}

impl Record {
    /// Global iterations done when the record was written.
    pub fn iter(&self) -> u64 {
        match self {
            Record::Iter { iter, .. } | Record::Epoch { iter, .. } => *iter,
        }
    }

    /// The 0-based epoch.
    pub fn epoch(&self) -> usize {
        match self {
            Record::Iter { epoch, .. } | Record::Epoch { epoch, .. } => *epoch,
        }
    }
}

/// The evaluation of one role on one list. Errors are fractions of the normaliser, as in
/// [`crate::eval::curves::Summary`] (0.035 = 3.5 %); the plot shows them in %.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListMetrics {
    /// `teacher` | `student`.
    pub role: String,
    /// The list's name as the run reports it.
    pub list: String,
    /// Mean NME, a fraction.
    #[serde(deserialize_with = "number")]
    pub nme: f64,
    /// Area under the CED up to NME 0.08, in [0, 1].
    #[serde(deserialize_with = "number")]
    pub auc_08: f64,
    /// Failure rate at NME 0.08 (fraction of faces above it), in [0, 1].
    #[serde(deserialize_with = "number")]
    pub fr_08: f64,
    /// Area under the CED up to NME 0.10.
    #[serde(deserialize_with = "number")]
    pub auc_10: f64,
    /// Failure rate at NME 0.10.
    #[serde(deserialize_with = "number")]
    pub fr_10: f64,
    /// Faces scored.
    pub scored: usize,
}

/// A number that may be `null` (a non-finite value when written): `null` reads as NaN.
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn per_name<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
    let m = BTreeMap::<String, Option<f64>>::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect())
}

fn per_role<'de, D: Deserializer<'de>>(d: D) -> Result<PerRole, D::Error> {
    let m = BTreeMap::<String, BTreeMap<String, Option<f64>>>::deserialize(d)?;
    Ok(m.into_iter()
        .map(|(role, inner)| {
            (role, inner.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect())
        })
        .collect())
}

/// One record as its line, without the newline.
fn to_line(r: &Record) -> Result<String> {
    let line = serde_json::to_string(r).context("cannot serialise a metrics record")?;
    debug_assert!(!line.contains('\n'));
    Ok(line)
}

/// Appends records to `metrics.jsonl`, one line each, flushed as written.
pub struct MetricsWriter {
    file: File,
    path: std::path::PathBuf,
}

impl MetricsWriter {
    /// Open `path` for appending, creating it (and its folder) if missing. An unterminated last
    /// line left by a killed run is completed with a newline if it holds a whole record, and
    /// removed otherwise.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("cannot open {} for appending", path.display()))?;
        repair_tail(&mut file).with_context(|| format!("cannot repair {}", path.display()))?;
        Ok(Self { file, path: path.to_path_buf() })
    }

    /// Write `r` as one line and flush it to the operating system (no fsync: a crash of the
    /// machine may lose the last lines, which [`read`] tolerates).
    pub fn append(&mut self, r: &Record) -> Result<()> {
        let mut line = to_line(r)?;
        line.push('\n');
        // One write call per line, so a kill leaves at most the last line cut short.
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .with_context(|| format!("cannot append to {}", self.path.display()))
    }
}

/// Complete or drop an unterminated last line (see [`MetricsWriter::open`]).
fn repair_tail(file: &mut File) -> Result<()> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut bytes)?;
    if bytes.last() == Some(&b'\n') {
        return Ok(());
    }
    let start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if serde_json::from_slice::<Record>(&bytes[start..]).is_ok() {
        file.write_all(b"\n")?;
    } else {
        file.set_len(start as u64)?;
    }
    Ok(())
}

/// The records of `text` with their raw lines; `name` prefixes errors (`metrics.jsonl:17: …`).
fn parse(text: &str, name: &str) -> Result<Vec<(Record, String)>> {
    let mut out = Vec::new();
    let mut lines = text.split_inclusive('\n').enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let terminated = raw.ends_with('\n');
        let line = raw.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => out.push((r, line.to_string())),
            // The cut-short last line of a killed writer.
            Err(_) if !terminated && lines.peek().is_none() => {}
            Err(e) => bail!("{name}:{}: {e}", i + 1),
        }
    }
    Ok(out)
}

/// Every record of `path`, in file order. A last line without its newline that does not parse
/// (a writer killed mid-line) is ignored; any other bad line is an error naming its line
/// number (`metrics.jsonl:17: …`). Blank lines are skipped.
pub fn read(path: &Path) -> Result<Vec<Record>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path
        .file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    Ok(parse(&text, &name)
        .with_context(|| format!("bad metrics file {}", path.display()))?
        .into_iter()
        .map(|(r, _)| r)
        .collect())
}

/// Keep only the records with `iter <= iter` (used when a run resumes from a snapshot taken
/// at `iter`, so that what a killed run wrote after it does not repeat); kept lines are copied
/// unchanged, and a cut-short last line is dropped. The file is rewritten atomically; a missing
/// file is left missing (nothing to cut).
pub fn truncate_after(path: &Path, iter: u64) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path
        .file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let records =
        parse(&text, &name).with_context(|| format!("bad metrics file {}", path.display()))?;
    let mut kept = String::with_capacity(text.len());
    for (_, line) in records.iter().filter(|(r, _)| r.iter() <= iter) {
        kept.push_str(line);
        kept.push('\n');
    }
    crate::fsutil::write_atomic(path, kept.as_bytes())
}
