//! `tsal plot`: training curves of one or more run folders (their `metrics.jsonl`) in one PNG,
//! the same drawing `tsal train` leaves as `curves.png` after each epoch.
use crate::plot::canvas::write_png;
use crate::plot::training::{curves_png, run_label};
use crate::run::metrics;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  tsal plot runs/seed1                            rewrite runs/seed1/curves.png
  tsal plot runs/seed1 runs/seed2 --out cmp.png   both runs in one image

Left panel: every loss term of every role against global iterations (log scale). Right panel: \
NME (%) of each evaluation list and role against the 0-based epoch. With several runs, each run \
is labelled by its folder name and drawn in its own line style.")]
pub struct PlotArgs {
    /// Run folders written by `tsal train` (each holds metrics.jsonl).
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// The PNG to write. Default with one run: RUN_DIR/curves.png; required with several.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(a: &PlotArgs) -> Result<ExitCode> {
    let out = match (&a.out, a.runs.as_slice()) {
        (Some(out), _) => out.clone(),
        (None, [one]) => one.join("curves.png"),
        (None, runs) => bail!(
            "{} run folders given: say where their combined plot goes with --out FILE",
            runs.len()
        ),
    };
    for dir in &a.runs {
        if !dir.join(metrics::FILE_NAME).is_file() {
            let why = if dir.is_dir() {
                "has no metrics.jsonl (not a tsal train run folder, or nothing logged yet)"
            } else {
                "is not a folder"
            };
            bail!("{} {why}", dir.display());
        }
    }
    let labels: Vec<String> = a.runs.iter().map(|d| run_label(d)).collect();
    let mut runs = Vec::new();
    for (dir, label) in a.runs.iter().zip(&labels) {
        // Two runs of the same folder name (a/run, b/run) are labelled by their paths.
        let label = if labels.iter().filter(|l| *l == label).count() > 1 {
            dir.display().to_string()
        } else {
            label.clone()
        };
        runs.push((label, metrics::read(&dir.join(metrics::FILE_NAME))?));
    }
    let img = curves_png(&runs).context("cannot draw the curves")?;
    write_png(&out, &img)?;
    let records: usize = runs.iter().map(|r| r.1.len()).sum();
    println!("wrote {} ({} run(s), {records} records)", out.display(), runs.len());
    Ok(ExitCode::SUCCESS)
}
