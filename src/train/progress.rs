//! What a run says while it trains: the human log (`seed-<seed>-time-<…>.log`, the reference's
//! name, every line also on stdout) and, when stdout is a terminal, an indicatif bar with the
//! loss and frames/s; plain lines otherwise.
use super::stats::IterStats;
use crate::run::metrics::{PerRole, Record};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

pub struct Progress {
    log: File,
    pub log_path: PathBuf,
    bar: Option<ProgressBar>,
}

/// `seed-<seed>-time-<%d-%b-at-%H-%M-%S>.log`, UTC (the reference's logger, `lib/log_utils/logger.py`).
pub fn log_name(seed: u64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (_, month, day, h, m, sec) = crate::fsutil::utc_fields(secs);
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "seed-{seed}-time-{day:02}-{}-at-{:02}-{:02}-{:02}.log",
        MONTHS[(month - 1) as usize],
        h,
        m,
        sec
    )
}

/// A bar over `total` iterations, at `done`, with the elapsed time, the time left and a short
/// status; none when stdout is not a terminal (plain lines then).
pub fn iteration_bar(total: u64, done: u64) -> Option<ProgressBar> {
    std::io::stdout().is_terminal().then(|| {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} it [{elapsed_precise} < {eta_precise}] {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.set_position(done);
        b
    })
}

impl Progress {
    /// Open a new log in `dir`; a bar over `total` iterations when stdout is a terminal.
    pub fn new(dir: &Path, seed: u64, done: u64, total: u64) -> Result<Self> {
        let log_path = dir.join(log_name(seed));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open the log {}", log_path.display()))?;
        let bar = iteration_bar(total, done);
        Ok(Self { log, log_path, bar })
    }

    /// One line in the log and on stdout (above the bar).
    pub fn line(&mut self, s: &str) {
        let _ = writeln!(self.log, "{s}");
        let _ = self.log.flush();
        match &self.bar {
            Some(b) => b.println(s),
            None => println!("{s}"),
        }
    }

    /// A line for the log file only (an error that stderr reports anyway).
    pub fn log_only(&mut self, s: &str) {
        let _ = writeln!(self.log, "{s}");
        let _ = self.log.flush();
    }

    /// Move the bar to iteration `iter` with a short status.
    pub fn tick(&self, iter: u64, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_position(iter);
            b.set_message(msg.to_string());
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// What the iterations since the last record did. Time counts from asking for a batch to the
/// end of the steps, so evaluation and snapshots between epochs do not lower frames/s.
#[derive(Default)]
pub struct Window {
    /// Role, term, sum, and the steps that reported it (a diagnostic can be missing from a
    /// step without an annotated pair), in log order ([`IterStats::slots`]).
    sums: Vec<(&'static str, &'static str, f64, u64)>,
    pub frames: u64,
    /// Seconds waiting for batches, and in all.
    pub wait: f64,
    pub busy: f64,
}

impl Window {
    pub fn add(&mut self, stats: &IterStats) {
        for (i, (role, term, v)) in stats.slots().into_iter().enumerate() {
            if self.sums.get(i).is_none_or(|s| (s.0, s.1) != (role, term)) {
                self.sums.insert(i, (role, term, 0.0, 0));
            }
            if let Some(v) = v {
                self.sums[i].2 += v;
                self.sums[i].3 += 1;
            }
        }
    }

    pub fn frames_per_s(&self) -> f64 {
        self.frames as f64 / self.busy.max(1e-9)
    }

    /// Role → term → mean over the steps that reported it, in log order.
    fn means(&self) -> Vec<(&'static str, Vec<(&'static str, f64)>)> {
        let mut out: Vec<(&'static str, Vec<(&'static str, f64)>)> = Vec::new();
        for &(role, term, sum, n) in self.sums.iter().filter(|s| s.3 > 0) {
            if out.last().is_none_or(|(r, _)| *r != role) {
                out.push((role, Vec::new()));
            }
            out.last_mut().expect("pushed").1.push((term, sum / n as f64));
        }
        out
    }

    /// The `metrics.jsonl` record of the window: the mean terms, `lr` (role → group → LR),
    /// the pair diagnostics (role `pairs.<kind>` → `pairs` → kind), frames/s and the wait for
    /// data.
    pub fn record(&self, epoch: usize, iter: u64, lr: PerRole, elapsed_s: f64) -> Record {
        let (mut losses, mut pairs) = (PerRole::new(), PerRole::new());
        for (role, terms) in self.means() {
            let terms = terms.into_iter().map(|(t, v)| (t.to_string(), v)).collect();
            match role.strip_prefix("pairs.") {
                Some(kind) => pairs.insert(kind.to_string(), terms),
                None => losses.insert(role.to_string(), terms),
            };
        }
        Record::Iter {
            epoch,
            iter,
            losses,
            lr,
            pairs,
            frames_per_s: self.frames_per_s(),
            data_wait_s: self.wait,
            elapsed_s,
        }
    }

    /// The log line of the window: every role's mean terms, the base LR (`base_lr`, that of
    /// the trunk weights), frames/s and the wait for data.
    pub fn line(&self, epoch: usize, epochs: usize, iter: u64, end: u64, base_lr: f64) -> String {
        let mut s = format!("epoch {}/{epochs} iter {iter}/{end}", epoch + 1);
        for (role, terms) in self.means() {
            s += &format!(" | {role}");
            for (t, v) in terms {
                s += &format!(" {t} {}", short(v));
            }
        }
        s += &format!(" | LR {:e}", tidy(base_lr));
        s + &format!(" | {:.1} frames/s, data wait {:.2} s", self.frames_per_s(), self.wait)
    }

    /// The bar's status: the detectors' mean total loss and frames/s.
    pub fn bar_message(&self) -> String {
        let mut s = String::new();
        for &(role, term, sum, n) in &self.sums {
            if term == "total" && n > 0 && matches!(role, "teacher" | "student") {
                s += &format!("{role} {:.4} ", sum / n as f64);
            }
        }
        s + &format!("{:.1} frames/s", self.frames_per_s())
    }
}

/// A loss value in 4 decimals, or 3 significant digits when smaller than that shows.
fn short(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

/// `x` rounded to 10 significant digits, so that a decayed LR prints as `9e-5`, not as the
/// `8.999999999999999e-5` that 1e-3 × 0.3 × 0.3 is in binary.
pub fn tidy(x: f64) -> f64 {
    format!("{x:.9e}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    #[test]
    fn decayed_learning_rates_print_short() {
        assert_eq!(format!("{:e}", super::tidy(1e-3 * 0.3 * 0.3)), "9e-5");
        assert_eq!(format!("{:e}", super::tidy(5e-5)), "5e-5");
        assert_eq!(format!("{:e}", super::tidy(1.234_567_891_2e-7)), "1.234567891e-7");
    }
}
