//! `tsal synth` (placeholder until the synthetic-data generator lands).
use anyhow::Result;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// Output folder.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Replace an existing output folder.
    #[arg(long)]
    pub force: bool,
}

pub fn run(_args: &SynthArgs) -> Result<ExitCode> {
    Ok(super::not_yet("synth", "issue #2"))
}
