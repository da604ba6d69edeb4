//! `tsal inspect`: parameter counts and output shapes of a model configuration, or the tensors
//! of a weight file ([`crate::models::inspect`]).
use super::emit;
use crate::models::inspect;
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// A detector config (typed JSON, e.g. configs/Detector.config) or a tracker config
    /// (ARFlow JSON, e.g. configs/MFDS.json).
    pub config: Option<PathBuf>,
    /// List the tensors of a weight file (safetensors or a PyTorch state_dict) instead.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    #[command(flatten)]
    pub pts: super::flags::Points,
    /// Square input size in pixels (a multiple of 32 for the detector, 64 for the tracker).
    #[arg(long, default_value_t = 256)]
    pub size: i64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &InspectArgs) -> Result<ExitCode> {
    match (&a.config, &a.weights) {
        (_, Some(w)) => emit(&inspect::weights_file(w)?, a.json, |r| r.print()),
        (Some(c), None) => {
            let is_tracker = c.extension().is_some_and(|e| e == "json");
            let report = if is_tracker {
                inspect::tracker(c, a.size)?
            } else {
                inspect::detector(c, a.pts.num_pts, a.size)?
            };
            emit(&report, a.json, |r| r.print())
        }
        (None, None) => {
            bail!("give a model config (e.g. configs/Detector.config) or --weights FILE")
        }
    }
}
