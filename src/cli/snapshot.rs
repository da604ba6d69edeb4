//! `tsal snapshot init`: a freshly initialised snapshot (teacher and student detectors), for
//! trying `tsal eval --model` before any training, and as the starting point training writes.
use crate::config::ModelConfig;
use crate::models::{Detector, DetectorSpec};
use crate::run::snapshot::{self, Meta};
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use tch::nn;

#[derive(clap::Args, Debug)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    pub command: SnapshotCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum SnapshotCommand {
    /// Write a snapshot of two freshly initialised detectors (the reference's initialisation;
    /// the trunk from ImageNet VGG16 with --pretrained).
    Init(InitArgs),
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// The snapshot folder to create.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub detector: super::flags::DetectorConfig,
    #[command(flatten)]
    pub pts: super::flags::Points,
    /// Seed of the random initialisation (teacher: SEED, student: SEED + 1).
    #[arg(long = "rand_seed", visible_alias = "rand-seed", alias = "seed", default_value_t = 0)]
    pub seed: i64,
    /// ImageNet VGG16 weights for both trunks (torchvision's `vgg16-397923af.pth` or safetensors).
    #[arg(long, value_name = "FILE")]
    pub pretrained: Option<PathBuf>,
    /// Replace an existing folder that tsal wrote (an empty one needs no --force).
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: &SnapshotArgs) -> Result<ExitCode> {
    let SnapshotCommand::Init(a) = &a.command;
    use crate::config::limits;
    limits::count("--num_pts", a.pts.num_pts as i64, limits::MAX_POINTS)?;
    snapshot::check_out(&a.out, a.force)?;
    let cfg = ModelConfig::load(&a.detector.model_config)?;
    let spec = DetectorSpec::new(&cfg, a.pts.num_pts)?;
    let build = |seed: i64| -> Result<nn::VarStore> {
        tch::manual_seed(seed);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        Detector::with_pretrained(&vs, spec.clone(), a.pretrained.as_deref())?;
        Ok(vs)
    };
    let (teacher, student) = (build(a.seed)?, build(a.seed + 1)?);
    let pretrained = a.pretrained.as_ref().map(|p| format!(" --pretrained {}", p.display()));
    let made_by = format!("snapshot init --rand_seed {}{}", a.seed, pretrained.unwrap_or_default());
    let meta = Meta::new(a.pts.num_pts, made_by);
    snapshot::write(&a.out, &a.detector.model_config, &meta, &teacher, &student, a.force)?;
    println!("wrote {} (teacher and student detectors, {} points)", a.out.display(), a.pts.num_pts);
    Ok(ExitCode::SUCCESS)
}
