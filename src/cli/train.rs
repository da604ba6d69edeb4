//! `tsal train`: the flags of the reference `exps/main.py` (spec §2), with their original
//! snake_case spelling and kebab-case aliases. Where the reference had no default, the value of
//! its documented invocation (README / `scripts/dual_model.sh`) is the default.
use super::flags;
use crate::config::run::{
    AugmentConfig, Consistency, DataConfig, HeatmapShape, Loaded, RunConfig, RunSection,
    TargetConfig, TsalConfig,
};
use crate::config::{ModelConfig, OptConfig, TrackerConfig};
use crate::run::folder::{ResumeMode, RunDir};
use crate::train::trainer;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsistencyMode {
    Image,
    Heatmap,
}

impl From<ConsistencyMode> for Consistency {
    fn from(m: ConsistencyMode) -> Self {
        match m {
            ConsistencyMode::Image => Consistency::Image,
            ConsistencyMode::Heatmap => Consistency::Heatmap,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HeatmapType {
    Gaussian,
    Laplacian,
}

/// Parse Python-style booleans the way a user means them (the reference's `type=bool` made
/// every non-empty string true, `--Rma_model False` included; spec §2).
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, found `{s}`")),
    }
}

#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct TrainArgs {
    /// List files concatenated into the training data (SBR format; `None` = unlabelled).
    #[arg(long = "train_lists", visible_alias = "train-lists", num_args = 1..)]
    pub train_lists: Vec<PathBuf>,
    /// Video lists evaluated each epoch (each reported on its own).
    #[arg(long = "eval_vlists", visible_alias = "eval-vlists", num_args = 1..)]
    pub eval_vlists: Vec<PathBuf>,
    /// Image lists evaluated each epoch (each reported on its own).
    #[arg(long = "eval_ilists", visible_alias = "eval-ilists", num_args = 1..)]
    pub eval_ilists: Vec<PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub pts: flags::Points,
    #[command(flatten)]
    #[serde(flatten)]
    pub detector: flags::DetectorConfig,
    #[command(flatten)]
    #[serde(flatten)]
    pub opt: flags::OptimizerConfig,
    #[command(flatten)]
    #[serde(flatten)]
    pub tracker: flags::TrackerConfig,
    /// Folder for logs, reports and snapshots.
    #[arg(long = "save_path", visible_alias = "save-path", required = true)]
    pub save_path: PathBuf,
    #[command(flatten)]
    #[serde(flatten)]
    pub crop: flags::Crop,
    /// Heatmap sigma in input pixels (multiplied by --scale_eval).
    #[arg(long, default_value_t = TargetConfig::REFERENCE.sigma)]
    pub sigma: f64,
    /// Clips (of F frames each) per batch.
    #[arg(long = "batch_size", visible_alias = "batch-size", default_value_t = 2)]
    pub batch_size: usize,
    /// Maximum crop-centre jitter in input pixels.
    #[arg(long = "crop_perturb_max", visible_alias = "crop-perturb-max", default_value_t = AugmentConfig::REFERENCE.crop_perturb_max as u32)]
    pub crop_perturb_max: u32,
    /// Maximum rotation in degrees (0 = none).
    #[arg(long = "rotate_max", visible_alias = "rotate-max", default_value_t = AugmentConfig::REFERENCE.rotate_max as u32)]
    pub rotate_max: u32,
    /// Probability of the random scale augmentation.
    #[arg(long = "scale_prob", visible_alias = "scale-prob", default_value_t = AugmentConfig::REFERENCE.scale_prob)]
    pub scale_prob: f64,
    /// Smallest random scale.
    #[arg(long = "scale_min", visible_alias = "scale-min", default_value_t = AugmentConfig::REFERENCE.scale_min)]
    pub scale_min: f64,
    /// Largest random scale.
    #[arg(long = "scale_max", visible_alias = "scale-max", default_value_t = AugmentConfig::REFERENCE.scale_max)]
    pub scale_max: f64,
    /// Evaluation scale; must equal (scale_min + scale_max) / 2; multiplies sigma.
    #[arg(long = "scale_eval", visible_alias = "scale-eval", default_value_t = AugmentConfig::REFERENCE.scale_eval)]
    pub scale_eval: f64,
    /// Heatmap shape.
    #[arg(long = "heatmap_type", visible_alias = "heatmap-type", value_enum, default_value_t = HeatmapType::Gaussian)]
    pub heatmap_type: HeatmapType,
    /// Data-loading threads.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Frames per training clip, F: views of a still image, or consecutive frames of a video
    /// (the reference repeated each 300W line 10 times and cut videos into 10-frame pieces).
    #[arg(long = "clip_frames", visible_alias = "clip-frames", default_value_t = 10)]
    pub clip_frames: usize,
    /// Keep decoded training images in memory between epochs (only what crops can reach, at
    /// the resolution they need; see the README for the memory this takes).
    #[arg(long = "cache_images", visible_alias = "cache-images")]
    pub cache_images: bool,
    /// Memory budget of --cache_images in MiB; frames beyond it are read from disk each time.
    #[arg(long = "cache_mb", visible_alias = "cache-mb", default_value_t = 8192)]
    pub cache_mb: usize,
    /// Leave out training clips whose image or annotation cannot be read (each is reported
    /// with its list line and counted) instead of stopping.
    #[arg(long = "skip_bad", visible_alias = "skip-bad")]
    pub skip_bad: bool,
    /// Heatmap target values below this become 0 (the reference's 0.01, spec §4.5; 0 keeps the
    /// whole bump, which removes the cut-off's up-to-0.12-px bias of the decoded target).
    #[arg(long = "heatmap_cutoff", visible_alias = "heatmap-cutoff", default_value_t = TargetConfig::REFERENCE.heatmap_cutoff)]
    pub heatmap_cutoff: f64,
    /// Random seed (random in 1..=100000 when absent, and recorded).
    #[arg(long = "rand_seed", visible_alias = "rand-seed")]
    pub rand_seed: Option<u64>,
    /// Log every this many iterations.
    #[arg(long = "print_freq", visible_alias = "print-freq", default_value_t = 100)]
    pub print_freq: usize,
    /// Evaluate --load_test_model once on the eval lists and exit.
    #[arg(long = "eval_once", visible_alias = "eval-once")]
    pub eval_once: bool,
    /// Snapshot evaluated by --eval_once.
    #[arg(long = "load_test_model", visible_alias = "load-test-model")]
    pub load_test_model: Option<PathBuf>,
    /// Dataset name (the reference stored it; only flipping used it).
    #[arg(long = "data_indicator", visible_alias = "data-indicator", default_value = "300W-68")]
    pub data_indicator: String,
    /// Horizontal flip augmentation (not supported, as in the reference: must stay off).
    #[arg(long = "arg_flip", visible_alias = "arg-flip")]
    pub arg_flip: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub maps: flags::PathMaps,
    /// ImageNet VGG16 weights for the detector trunk: torchvision's `vgg16-397923af.pth` (any
    /// torch.save state_dict) or a safetensors file. Needed when the model config says
    /// `pretrained`.
    #[arg(long, value_name = "FILE")]
    pub pretrained: Option<PathBuf>,
    /// Start the trunk from scratch although the model config says `pretrained`.
    #[arg(long = "no_pretrained", visible_alias = "no-pretrained", conflicts_with = "pretrained")]
    pub no_pretrained: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub device: flags::Device,
    /// Epochs to train (overrides the optimiser config's `epochs`; the LR schedule keeps its
    /// milestones).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop after this many iterations in all (smoke runs); a snapshot is written there.
    #[arg(long = "max_iters", visible_alias = "max-iters")]
    pub max_iters: Option<u64>,
    /// Also write a snapshot every this many iterations within an epoch (one is always
    /// written at the end of each epoch).
    #[arg(long = "snapshot_every", visible_alias = "snapshot-every")]
    pub snapshot_every: Option<u64>,
    /// Keep only the last K snapshots plus the best one (default: keep all).
    #[arg(long)]
    pub keep: Option<usize>,
    /// Train the teacher alone on the labelled lines (the supervised baseline); unlabelled
    /// lines are counted and left out.
    #[arg(long = "supervised_only", visible_alias = "supervised-only")]
    pub supervised_only: bool,
    /// Recursive average filtering after every iteration: teacher ← λ·teacher + (1 − λ)·student,
    /// and the same between their trackers (1 keeps the teacher's own weights).
    #[arg(long, default_value_t = crate::config::run::DEFAULT_LAMBDA, allow_negative_numbers = true)]
    pub lambda: f64,
    /// Weight of the tracked landmarks in the student's pseudo-label; the centre + offset
    /// read-out gets 1 − μ (the reference's 0.5).
    #[arg(long, default_value_t = crate::config::run::DEFAULT_MU, allow_negative_numbers = true)]
    pub mu: f64,
    /// Where the trackers' detection consistency is measured: `heatmap` carries the real
    /// frames' heatmaps by the flow (no detector pass); `image` runs the frozen detector on the
    /// warped frames, as the reference did.
    #[arg(long, value_enum, default_value_t = ConsistencyMode::Heatmap)]
    pub consistency: ConsistencyMode,
    /// Initial tracker (PWC-Lite) weights: one file for both trackers, or the teacher's then
    /// the student's (ARFlow checkpoints, see flowweight/README.md). Without it the trackers
    /// start from scratch (with a warning).
    #[arg(long = "tracker_weights", visible_alias = "tracker-weights", num_args = 1..=2, value_name = "FILE")]
    pub tracker_weights: Vec<PathBuf>,
    /// Weight of the unsupervised terms (teacher's tracked heatmaps, student's fused
    /// landmarks) when the ramp is at 1.
    #[arg(
        long = "unsup_weight",
        visible_alias = "unsup-weight",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    pub unsup_weight: f64,
    /// Continue the run in --save_path (the default when it holds one).
    #[arg(long, conflicts_with = "no_resume")]
    pub resume: bool,
    /// Start from scratch even when --save_path holds a run; with --force that run is
    /// replaced, otherwise this is refused.
    #[arg(long = "no_resume", visible_alias = "no-resume")]
    pub no_resume: bool,
    /// With --no_resume: replace the run in --save_path.
    #[arg(long, requires = "no_resume")]
    pub force: bool,
    /// Print the resolved run configuration as JSON and exit.
    #[arg(long = "print_config", visible_alias = "print-config")]
    pub print_config: bool,

    // Flags of the reference that it parsed and never used (spec §2): accepted, ignored.
    /// (reference, unused) error bar.
    #[arg(long = "error_bar", visible_alias = "error-bar", hide_short_help = true)]
    pub error_bar: Option<f64>,
    /// (reference, unused) PCA head.
    #[arg(long, value_parser = parse_bool, hide_short_help = true)]
    pub usepca: Option<bool>,
    /// (reference, unused) focal loss switch.
    #[arg(long, value_parser = parse_bool, hide_short_help = true)]
    pub usefocalloss: Option<bool>,
    /// (reference, unused) pyramid input.
    #[arg(long = "pyramid_input", visible_alias = "pyramid-input", value_parser = parse_bool, hide_short_help = true)]
    pub pyramid_input: Option<bool>,
    /// Train the student as well (the reference always did; false is not supported).
    #[arg(long = "Rma_model", visible_alias = "rma-model", value_parser = parse_bool, hide_short_help = true)]
    pub rma_model: Option<bool>,
}

impl TrainArgs {
    /// Resolve the flags into a [`RunConfig`]: load the configs they name, draw the seed when
    /// none was given, and check everything ([`RunConfig::validate`]).
    pub fn resolve(&self) -> Result<RunConfig> {
        if self.arg_flip {
            bail!("--arg_flip: horizontal flipping is not supported (the reference asserts it is off)");
        }
        if self.rma_model == Some(false) {
            bail!("--Rma_model false: TSAL always trains the student (the reference crashed without it)");
        }
        if !self.eval_once && self.train_lists.is_empty() {
            bail!("--train_lists: at least one training list is needed (or --eval_once)");
        }
        if self.eval_once && self.load_test_model.is_none() {
            bail!("--eval_once needs --load_test_model SNAPSHOT");
        }
        let opt = OptConfig::load(&self.opt.opt_config).context("--opt_config")?;
        let epochs = self.epochs.unwrap_or(opt.epochs);
        let cfg = RunConfig {
            data: DataConfig {
                train_lists: self.train_lists.clone(),
                eval_ilists: self.eval_ilists.clone(),
                eval_vlists: self.eval_vlists.clone(),
                path_map: self.maps.path_map.clone(),
                num_pts: self.pts.num_pts,
                data_indicator: self.data_indicator.clone(),
                clip_frames: self.clip_frames,
                batch_size: self.batch_size,
                workers: self.workers,
                cache_mb: self.cache_images.then_some(self.cache_mb),
                skip_bad: self.skip_bad,
            },
            crop: self.crop.spec(),
            augment: AugmentConfig {
                scale_prob: self.scale_prob,
                scale_min: self.scale_min,
                scale_max: self.scale_max,
                scale_eval: self.scale_eval,
                rotate_max: self.rotate_max as f64,
                crop_perturb_max: self.crop_perturb_max as f64,
            },
            targets: TargetConfig {
                sigma: self.sigma,
                heatmap_type: match self.heatmap_type {
                    HeatmapType::Gaussian => HeatmapShape::Gaussian,
                    HeatmapType::Laplacian => HeatmapShape::Laplacian,
                },
                heatmap_cutoff: self.heatmap_cutoff,
            },
            model: Loaded {
                path: self.detector.model_config.clone(),
                config: ModelConfig::load(&self.detector.model_config).context("--model_config")?,
            },
            opt: Loaded { path: self.opt.opt_config.clone(), config: opt },
            tracker: Loaded {
                path: self.tracker.tracker_config.clone(),
                config: TrackerConfig::load(&self.tracker.tracker_config)
                    .context("--tracker_config")?,
            },
            pretrained: self.pretrained.clone(),
            no_pretrained: self.no_pretrained,
            run: RunSection {
                save_path: self.save_path.clone(),
                rand_seed: self.rand_seed.unwrap_or_else(|| rand::random_range(1..=100_000)),
                print_freq: self.print_freq,
                epochs,
                max_iters: self.max_iters,
                snapshot_every: self.snapshot_every,
                keep: self.keep,
                device: self.device.choice(),
                supervised_only: self.supervised_only,
            },
            tsal: TsalConfig {
                lambda: self.lambda,
                mu: self.mu,
                consistency: self.consistency.into(),
                tracker_weights: self.tracker_weights.clone(),
                unsup_weight: self.unsup_weight,
            },
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    let cfg = args.resolve()?;
    if args.print_config {
        println!("{}", serde_json::to_string_pretty(&cfg)?);
        return Ok(ExitCode::SUCCESS);
    }
    if args.eval_once {
        // The reference's evaluation entry point: the snapshot's teacher on the eval lists.
        let eval = super::eval::EvalArgs {
            lists: Vec::new(),
            eval_ilists: args.eval_ilists.clone(),
            eval_vlists: args.eval_vlists.clone(),
            predictions: None,
            model: args.load_test_model.clone(),
            snapshot: crate::run::resolve::Pick::Last,
            soft_argmax_radius: None,
            which: super::eval::Which::Teacher,
            batch_size: crate::eval::predict::EVAL_BATCH,
            workers: Some(args.workers),
            device: args.device,
            // A snapshot written by training knows its crop; one from `snapshot init` takes
            // this command's crop flags.
            crop: match &args.load_test_model {
                Some(m) if m.join(crate::run::folder::CONFIG).is_file() => {
                    flags::CropOverride::default()
                }
                _ => flags::CropOverride {
                    pre_crop_expand: Some(args.crop.pre_crop_expand),
                    crop_width: Some(args.crop.crop_width),
                    crop_height: Some(args.crop.crop_height),
                },
            },
            normaliser: None,
            num_pts: None,
            out: Some(args.save_path.join("eval-once")),
            maps: args.maps.clone(),
            missing: crate::eval::score::Missing::Skip,
            prediction_origin: 1,
            name: None,
        };
        return super::eval::run(&eval);
    }
    // A run resumed from a snapshot takes its weights from there, not from the files it
    // started from (which may have moved since).
    let resumes = !args.no_resume && RunDir::holds_snapshot(&cfg.run.save_path);
    if !resumes {
        cfg.check_initial_weights()?;
    }
    let prep = trainer::prepare(&cfg)?;
    let mut cfg = cfg;
    let mode =
        if args.no_resume { ResumeMode::Fresh { force: args.force } } else { ResumeMode::Resume };
    let (run, resumed) = RunDir::open(&mut cfg, mode, args.rand_seed.is_some())?;
    // Ctrl-C finishes the step and writes a snapshot, which may take a while on a large model;
    // a second Ctrl-C still stops at once.
    crate::interrupt::set_grace(
        std::time::Duration::from_secs(600),
        Some(
            "stopping after this step and writing a snapshot (Ctrl-C again stops at once, \
              losing the steps since the last snapshot)"
                .to_string(),
        ),
    );
    trainer::train(&cfg, prep, &run, resumed)?;
    Ok(ExitCode::SUCCESS)
}
