//! What a run says while it trains: the human log (`seed-<seed>-time-<…>.log`, the reference's
//! name, every line also on stdout) and, when stdout is a terminal, an indicatif bar with the
//! loss and frames/s; plain lines otherwise.
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

/// `seed-<seed>-time-<%d-%b-at-%H-%M-%S>.log`, UTC (the reference's logger, spec §6.9).
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

impl Progress {
    /// Open a new log in `dir`; a bar over `total` iterations when stdout is a terminal.
    pub fn new(dir: &Path, seed: u64, done: u64, total: u64) -> Result<Self> {
        let log_path = dir.join(log_name(seed));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open the log {}", log_path.display()))?;
        let bar = std::io::stdout().is_terminal().then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} it [{elapsed_precise} < {eta_precise}] {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.set_position(done);
            b
        });
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
