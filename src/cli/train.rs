//! `tsal train`: the flags of the reference `exps/main.py` (`lib/config_utils/args.py`), with
//! their original snake_case spelling and kebab-case aliases. Where the reference had no default, the value of
//! its documented invocation (README / `scripts/dual_model.sh`) is the default.
use super::flags;
use crate::config::run::{
    AugmentConfig, Consistency, DataConfig, HeatmapShape, Loaded, PseudoSource, RunConfig,
    RunSection, TargetConfig, TsalConfig,
};
use crate::config::{ModelConfig, OptConfig, TrackerConfig};
use crate::data::augment::VideoDraws;
use crate::device::PrecisionChoice;
use crate::run::folder::{ResumeMode, RunDir};
use crate::train::landmark_log::LandmarkLog;
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

/// `--pseudo_source`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PseudoSourceArg {
    Student,
    Teacher,
}

impl From<PseudoSourceArg> for PseudoSource {
    fn from(m: PseudoSourceArg) -> Self {
        match m {
            PseudoSourceArg::Student => PseudoSource::Student,
            PseudoSourceArg::Teacher => PseudoSource::Teacher,
        }
    }
}

/// `--video_draws`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoDrawsArg {
    Shared,
    Independent,
    Anchored,
}

impl From<VideoDrawsArg> for VideoDraws {
    fn from(m: VideoDrawsArg) -> Self {
        match m {
            VideoDrawsArg::Shared => VideoDraws::Shared,
            VideoDrawsArg::Independent => VideoDraws::Independent,
            VideoDrawsArg::Anchored => VideoDraws::Anchored,
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
/// every non-empty string true, `--Rma_model False` included).
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, found `{s}`")),
    }
}

/// Two invocations, printed at the end of `tsal train --help`.
pub const EXAMPLES: &str = "\
Examples:
  # The reference invocation (its scripts/dual_model.sh), with tsal's lists and the VGG16 file:
  tsal train --train_lists lists/300VW/300VW.train.lst \\
    --eval_vlists lists/300VW/300VW.test-3.lst562 \\
    --eval_ilists lists/300W/300w.test.common.DET lists/300W/300w.test.challenge.DET \\
    --num_pts 68 --model_config configs/Detector.config --opt_config configs/SGD.config \\
    --pre_crop_expand 0.2 --sigma 6 --batch_size 8 --crop_perturb_max 30 --rotate_max 20 \\
    --scale_prob 1.0 --scale_min 0.9 --scale_max 1.1 --scale_eval 1 --heatmap_type gaussian \\
    --pretrained vgg16-397923af.pth --save_path snapshots/Dualmodel_SIC_MFDS_lambda0.8

  # A GPU run on real 300W + unlabelled 300VW, ARFlow's trackers, 300W evaluated each epoch:
  tsal train --device cuda --save_path runs/tsal-300w \\
    --train_lists /data/lists/300W/300w.train.GTB /data/lists/300VW/300VW.train.lst.none \\
    --eval_ilists /data/lists/300W/300w.test.common.GTB /data/lists/300W/300w.test.challenge.GTB \\
    --pretrained weights/vgg16-397923af.pth \\
    --tracker_weights flowweight/MFEM.tar flowweight/MFEM_student.tar \\
    --batch_size 8 --clip_frames 10 --cache_images

  # The same settings again, from a run's saved configuration, into another folder:
  tsal train --config runs/tsal-300w/config.json --save_path runs/tsal-300w-b --rand_seed 2";

#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct TrainArgs {
    /// List files concatenated into the training data (SBR format; `None` = unlabelled).
    #[arg(long = "train_lists", visible_alias = "train-lists", num_args = 1.., help_heading = "Data")]
    pub train_lists: Vec<PathBuf>,
    /// More training lists, whose annotations are *shadow labels*: hidden from every loss (the
    /// lines train as unlabelled video or images), read only to measure what the round does on
    /// them (`metrics.jsonl`: `pairs.video` / `pairs.views`). E.g. the labelled 300VW list in
    /// place of its `.none` copy.
    #[arg(long = "shadow_lists", visible_alias = "shadow-lists", num_args = 1.., help_heading = "Data")]
    pub shadow_lists: Vec<PathBuf>,
    #[command(flatten, next_help_heading = "Data")]
    #[serde(flatten)]
    pub pts: flags::Points,
    /// Clips (of F frames each) per batch.
    #[arg(
        long = "batch_size",
        visible_alias = "batch-size",
        default_value_t = 2,
        help_heading = "Data"
    )]
    pub batch_size: usize,
    /// Data-loading threads.
    #[arg(long, default_value_t = 8, help_heading = "Data")]
    pub workers: usize,
    /// Frames per training clip, F: views of a still image, or consecutive frames of a video
    /// (the reference repeated each 300W line 10 times and cut videos into 10-frame pieces).
    #[arg(
        long = "clip_frames",
        visible_alias = "clip-frames",
        default_value_t = 10,
        help_heading = "Data"
    )]
    pub clip_frames: usize,
    /// Frames between a video clip's frames, K: a clip takes frames f, f + K, f + 2K, …, so
    /// its frames move K times as far as consecutive ones (each video becomes K interleaved
    /// sequences and every frame is still used once). Views of still images are unaffected.
    #[arg(
        long = "clip_stride",
        visible_alias = "clip-stride",
        default_value_t = 1,
        help_heading = "Data"
    )]
    pub clip_stride: usize,
    /// Keep decoded training images in memory between epochs (only what crops can reach, at
    /// the resolution they need; docs/training.md says how much memory this takes).
    #[arg(long = "cache_images", visible_alias = "cache-images", help_heading = "Data")]
    pub cache_images: bool,
    /// Memory budget of --cache_images in MiB; frames beyond it are read from disk each time.
    #[arg(
        long = "cache_mb",
        visible_alias = "cache-mb",
        default_value_t = 8192,
        help_heading = "Data"
    )]
    pub cache_mb: usize,
    /// Leave out training clips whose image or annotation cannot be read (each is reported
    /// with its list line and counted) instead of stopping.
    #[arg(long = "skip_bad", visible_alias = "skip-bad", help_heading = "Data")]
    pub skip_bad: bool,
    /// Dataset name (the reference stored it; only flipping used it).
    #[arg(
        long = "data_indicator",
        visible_alias = "data-indicator",
        default_value = "300W-68",
        help_heading = "Data"
    )]
    pub data_indicator: String,
    #[command(flatten, next_help_heading = "Data")]
    #[serde(flatten)]
    pub maps: flags::PathMaps,
    #[command(flatten, next_help_heading = "Augmentation and targets")]
    #[serde(flatten)]
    pub crop: flags::Crop,
    /// Heatmap sigma in input pixels (multiplied by --scale_eval).
    #[arg(long, default_value_t = TargetConfig::REFERENCE.sigma, help_heading = "Augmentation and targets")]
    pub sigma: f64,
    /// Maximum crop-centre jitter in input pixels.
    #[arg(long = "crop_perturb_max", visible_alias = "crop-perturb-max", default_value_t = AugmentConfig::REFERENCE.crop_perturb_max as u32, help_heading = "Augmentation and targets")]
    pub crop_perturb_max: u32,
    /// Maximum rotation in degrees (0 = none).
    #[arg(long = "rotate_max", visible_alias = "rotate-max", default_value_t = AugmentConfig::REFERENCE.rotate_max as u32, help_heading = "Augmentation and targets")]
    pub rotate_max: u32,
    /// Probability of the random scale augmentation.
    #[arg(long = "scale_prob", visible_alias = "scale-prob", default_value_t = AugmentConfig::REFERENCE.scale_prob, help_heading = "Augmentation and targets")]
    pub scale_prob: f64,
    /// Smallest random scale.
    #[arg(long = "scale_min", visible_alias = "scale-min", default_value_t = AugmentConfig::REFERENCE.scale_min, help_heading = "Augmentation and targets")]
    pub scale_min: f64,
    /// Largest random scale.
    #[arg(long = "scale_max", visible_alias = "scale-max", default_value_t = AugmentConfig::REFERENCE.scale_max, help_heading = "Augmentation and targets")]
    pub scale_max: f64,
    /// Evaluation scale; must equal (scale_min + scale_max) / 2; multiplies sigma.
    #[arg(long = "scale_eval", visible_alias = "scale-eval", default_value_t = AugmentConfig::REFERENCE.scale_eval, help_heading = "Augmentation and targets")]
    pub scale_eval: f64,
    /// How the frames of a training video clip draw the augmentation: one draw for all
    /// (shared, the reference), a draw each (independent), or the first frame unaugmented and
    /// each later frame its own draw (anchored). With independent or anchored draws the round
    /// aligns frame j+1 into frame j's crop by the known affine before the trackers, and
    /// carries their landmarks and heatmaps into frame j+1's crop by it: the pseudo-label
    /// crosses an augmentation the detector sees differently. Needs --consistency heatmap.
    #[arg(long = "video_draws", visible_alias = "video-draws", value_enum, default_value_t = VideoDrawsArg::Shared, help_heading = "Augmentation and targets")]
    pub video_draws: VideoDrawsArg,
    /// Heatmap shape.
    #[arg(long = "heatmap_type", visible_alias = "heatmap-type", value_enum, default_value_t = HeatmapType::Gaussian, help_heading = "Augmentation and targets")]
    pub heatmap_type: HeatmapType,
    /// Heatmap target values below this become 0 (the reference's 0.01; 0 keeps the
    /// whole bump, which removes the cut-off's up-to-0.12-px bias of the decoded target).
    #[arg(long = "heatmap_cutoff", visible_alias = "heatmap-cutoff", default_value_t = TargetConfig::REFERENCE.heatmap_cutoff, help_heading = "Augmentation and targets")]
    pub heatmap_cutoff: f64,
    /// Horizontal flip augmentation (not supported, as in the reference: must stay off).
    #[arg(
        long = "arg_flip",
        visible_alias = "arg-flip",
        help_heading = "Augmentation and targets"
    )]
    pub arg_flip: bool,
    #[command(flatten, next_help_heading = "Model and initialisation")]
    #[serde(flatten)]
    pub detector: flags::DetectorConfig,
    /// Random seed (random in 1..=100000 when absent, and recorded).
    #[arg(
        long = "rand_seed",
        visible_alias = "rand-seed",
        help_heading = "Model and initialisation"
    )]
    pub rand_seed: Option<u64>,
    /// ImageNet VGG16 weights for the detector trunk: torchvision's `vgg16-397923af.pth` (any
    /// torch.save state_dict) or a safetensors file. Needed when the model config says
    /// `pretrained`.
    #[arg(long, value_name = "FILE", help_heading = "Model and initialisation")]
    pub pretrained: Option<PathBuf>,
    /// Start the trunk from scratch although the model config says `pretrained`.
    #[arg(
        long = "no_pretrained",
        visible_alias = "no-pretrained",
        conflicts_with = "pretrained",
        help_heading = "Model and initialisation"
    )]
    pub no_pretrained: bool,
    #[command(flatten, next_help_heading = "Optimisation and schedule")]
    #[serde(flatten)]
    pub opt: flags::OptimizerConfig,
    /// Log every this many iterations.
    #[arg(
        long = "print_freq",
        visible_alias = "print-freq",
        default_value_t = 100,
        help_heading = "Optimisation and schedule"
    )]
    pub print_freq: usize,
    /// Epochs to train (overrides the optimiser config's `epochs`; the LR schedule keeps its
    /// milestones).
    #[arg(long, help_heading = "Optimisation and schedule")]
    pub epochs: Option<usize>,
    /// Stop after this many iterations in all (smoke runs); a snapshot is written there.
    #[arg(
        long = "max_iters",
        visible_alias = "max-iters",
        help_heading = "Optimisation and schedule"
    )]
    pub max_iters: Option<u64>,
    #[command(flatten, next_help_heading = "The TSAL round")]
    #[serde(flatten)]
    pub tracker: flags::TrackerConfig,
    /// Train the teacher alone on the labelled lines (the supervised baseline); unlabelled
    /// lines are counted and left out.
    #[arg(
        long = "supervised_only",
        visible_alias = "supervised-only",
        help_heading = "The TSAL round"
    )]
    pub supervised_only: bool,
    /// Recursive average filtering after every iteration: teacher ← λ·teacher + (1 − λ)·student,
    /// and the same between their trackers (1 keeps the teacher's own weights).
    #[arg(long, default_value_t = crate::config::run::DEFAULT_LAMBDA, allow_negative_numbers = true, help_heading = "The TSAL round")]
    pub lambda: f64,
    /// Weight of the tracked landmarks in the student's pseudo-label; the centre + offset
    /// read-out gets 1 − μ (the reference's 0.5).
    #[arg(long, default_value_t = crate::config::run::DEFAULT_MU, allow_negative_numbers = true, help_heading = "The TSAL round")]
    pub mu: f64,
    /// Where the trackers' detection consistency is measured: `heatmap` carries the real
    /// frames' heatmaps by the flow (no detector pass); `image` runs the frozen detector on the
    /// warped frames, as the reference did.
    #[arg(long, value_enum, default_value_t = ConsistencyMode::Heatmap, help_heading = "The TSAL round")]
    pub consistency: ConsistencyMode,
    /// Initial tracker (PWC-Lite) weights: one file for both trackers, or the teacher's then
    /// the student's (ARFlow checkpoints, see flowweight/README.md). Without it the trackers
    /// start from scratch (with a warning).
    #[arg(long = "tracker_weights", visible_alias = "tracker-weights", num_args = 1..=2, value_name = "FILE", help_heading = "The TSAL round")]
    pub tracker_weights: Vec<PathBuf>,
    /// Weight of the unsupervised terms (teacher's tracked heatmaps, student's fused
    /// landmarks) when the ramp is at 1.
    #[arg(
        long = "unsup_weight",
        visible_alias = "unsup-weight",
        default_value_t = 1.0,
        allow_negative_numbers = true,
        help_heading = "The TSAL round"
    )]
    pub unsup_weight: f64,
    /// Weight of the trackers' end-point error (input pixels) against the exact flow between
    /// two augmented views of a still image, known from their crops (0: the trackers learn from
    /// the census, smoothness and detection consistency alone).
    #[arg(
        long = "flow_supervision",
        visible_alias = "flow-supervision",
        default_value_t = 0.0,
        allow_negative_numbers = true,
        help_heading = "The TSAL round"
    )]
    pub flow_supervision: f64,
    /// Replace both trackers by zero flow: the tracked landmarks and heatmaps are frame j's
    /// unmoved, and the trackers neither run nor learn (the ablation that isolates tracking).
    #[arg(long = "zero_flow", visible_alias = "zero-flow", help_heading = "The TSAL round")]
    pub zero_flow: bool,
    /// Whose outputs make the student's fused pseudo-label on frame j+1: its own detections on
    /// frame j carried by its own tracker, fused with its centre + offset read-outs (student,
    /// the reference code), or the teacher's (teacher: the recursive average, usually the
    /// better detector, as the target of a mean teacher).
    #[arg(long = "pseudo_source", visible_alias = "pseudo-source", value_enum, default_value_t = PseudoSourceArg::Student, help_heading = "The TSAL round")]
    pub pseudo_source: PseudoSourceArg,
    /// Write a CSV row per landmark of every video pair whose two frames are annotated (shadow
    /// labels), every iteration: the pseudo-label's and the detectors' errors on frame j+1 and
    /// what a gate on the label could read (the source's heatmap peak, the tracker's
    /// forward–backward distance, the label's distance to each detector). Diagnostics only;
    /// replaced if it exists.
    #[arg(
        long = "landmark_log",
        visible_alias = "landmark-log",
        value_name = "FILE",
        conflicts_with = "supervised_only",
        help_heading = "The TSAL round"
    )]
    pub landmark_log: Option<PathBuf>,
    /// Folder for logs, reports and snapshots (the run folder).
    #[arg(
        long = "save_path",
        visible_alias = "save-path",
        required_unless_present = "config",
        help_heading = "Run folder and snapshots"
    )]
    pub save_path: Option<PathBuf>,
    /// Also write a snapshot every this many iterations within an epoch (one is always
    /// written at the end of each epoch).
    #[arg(
        long = "snapshot_every",
        visible_alias = "snapshot-every",
        help_heading = "Run folder and snapshots"
    )]
    pub snapshot_every: Option<u64>,
    /// Keep only the last K snapshots plus the best one (default: keep all).
    #[arg(long, help_heading = "Run folder and snapshots")]
    pub keep: Option<usize>,
    /// Continue the run in --save_path (the default when it holds one).
    #[arg(long, conflicts_with = "no_resume", help_heading = "Run folder and snapshots")]
    pub resume: bool,
    /// Start from scratch even when --save_path holds a run; with --force that run is
    /// replaced, otherwise this is refused.
    #[arg(
        long = "no_resume",
        visible_alias = "no-resume",
        help_heading = "Run folder and snapshots"
    )]
    pub no_resume: bool,
    /// With --no_resume: replace the run in --save_path.
    #[arg(long, requires = "no_resume", help_heading = "Run folder and snapshots")]
    pub force: bool,
    /// Print the resolved run configuration as JSON and exit.
    #[arg(
        long = "print_config",
        visible_alias = "print-config",
        help_heading = "Run folder and snapshots"
    )]
    pub print_config: bool,
    /// Start from a saved run configuration (a run's config.json, or what --print_config
    /// printed); flags given beside it override its values.
    #[arg(long, value_name = "CONFIG_JSON", help_heading = "Run folder and snapshots")]
    pub config: Option<PathBuf>,
    /// Video lists evaluated each epoch (each reported on its own).
    #[arg(long = "eval_vlists", visible_alias = "eval-vlists", num_args = 1.., help_heading = "Evaluation")]
    pub eval_vlists: Vec<PathBuf>,
    /// Image lists evaluated each epoch (each reported on its own).
    #[arg(long = "eval_ilists", visible_alias = "eval-ilists", num_args = 1.., help_heading = "Evaluation")]
    pub eval_ilists: Vec<PathBuf>,
    /// Evaluate --load_test_model once on the eval lists and exit.
    #[arg(long = "eval_once", visible_alias = "eval-once", help_heading = "Evaluation")]
    pub eval_once: bool,
    /// Snapshot evaluated by --eval_once.
    #[arg(
        long = "load_test_model",
        visible_alias = "load-test-model",
        help_heading = "Evaluation"
    )]
    pub load_test_model: Option<PathBuf>,
    #[command(flatten, next_help_heading = "Device")]
    #[serde(flatten)]
    pub device: flags::Device,
    /// The arithmetic of the detectors' and trackers' forwards: bf16 (libtorch's autocast;
    /// weights, optimiser state and losses stay fp32), fp32, or auto (bf16 on CUDA and on a CPU
    /// with native bf16 arithmetic, fp32 elsewhere; `tsal doctor` says which).
    #[arg(long, value_enum, default_value = "fp32", help_heading = "Device")]
    pub precision: PrecisionChoice,
    // Flags of the reference (`lib/config_utils/args.py`) that it parsed and never used.
    /// (reference, unused) error bar.
    #[arg(
        long = "error_bar",
        visible_alias = "error-bar",
        hide_short_help = true,
        help_heading = "Flags of the reference it never used (accepted, ignored)"
    )]
    pub error_bar: Option<f64>,
    /// (reference, unused) PCA head.
    #[arg(long, value_parser = parse_bool, hide_short_help = true, help_heading = "Flags of the reference it never used (accepted, ignored)")]
    pub usepca: Option<bool>,
    /// (reference, unused) focal loss switch.
    #[arg(long, value_parser = parse_bool, hide_short_help = true, help_heading = "Flags of the reference it never used (accepted, ignored)")]
    pub usefocalloss: Option<bool>,
    /// (reference, unused) pyramid input.
    #[arg(long = "pyramid_input", visible_alias = "pyramid-input", value_parser = parse_bool, hide_short_help = true, help_heading = "Flags of the reference it never used (accepted, ignored)")]
    pub pyramid_input: Option<bool>,
    /// Train the student as well (the reference always did; false is not supported).
    #[arg(long = "Rma_model", visible_alias = "rma-model", value_parser = parse_bool, hide_short_help = true, help_heading = "Flags of the reference it never used (accepted, ignored)")]
    pub rma_model: Option<bool>,
    /// The flags given on the command line (clap's ids), which override --config.
    #[arg(skip)]
    #[serde(skip)]
    pub given: Vec<String>,
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
        if self.eval_once && self.load_test_model.is_none() {
            bail!("--eval_once needs --load_test_model SNAPSHOT");
        }
        let cfg = match &self.config {
            None => self.settings()?,
            Some(path) => {
                let mut base = RunConfig::read_strict(path)
                    .with_context(|| format!("--config {}", path.display()))?;
                self.override_given(&mut base)?;
                base
            }
        };
        if !self.eval_once && cfg.data.train_lists.is_empty() {
            bail!("--train_lists: at least one training list is needed (or --eval_once)");
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Every setting from its flag (or the flag's default).
    fn settings(&self) -> Result<RunConfig> {
        let opt = self.opt_config()?;
        let epochs = self.epochs.unwrap_or(opt.config.epochs);
        let cfg = RunConfig {
            data: DataConfig {
                train_lists: self.train_lists.clone(),
                shadow_lists: self.shadow_lists.clone(),
                eval_ilists: self.eval_ilists.clone(),
                eval_vlists: self.eval_vlists.clone(),
                path_map: self.maps.path_map.clone(),
                num_pts: self.pts.num_pts,
                data_indicator: self.data_indicator.clone(),
                clip_frames: self.clip_frames,
                clip_stride: self.clip_stride,
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
                video_draws: self.video_draws.into(),
            },
            targets: TargetConfig {
                sigma: self.sigma,
                heatmap_type: self.heatmap_shape(),
                heatmap_cutoff: self.heatmap_cutoff,
            },
            model: self.model_config()?,
            opt,
            tracker: self.tracker_config()?,
            pretrained: self.pretrained.clone(),
            no_pretrained: self.no_pretrained,
            run: RunSection {
                save_path: self.save_path.clone().unwrap_or_default(),
                rand_seed: self.rand_seed.unwrap_or_else(|| rand::random_range(1..=100_000)),
                print_freq: self.print_freq,
                epochs,
                max_iters: self.max_iters,
                snapshot_every: self.snapshot_every,
                keep: self.keep,
                device: self.device.choice(),
                precision: self.precision,
                supervised_only: self.supervised_only,
            },
            tsal: TsalConfig {
                lambda: self.lambda,
                mu: self.mu,
                consistency: self.consistency.into(),
                tracker_weights: self.tracker_weights.clone(),
                unsup_weight: self.unsup_weight,
                flow_supervision: self.flow_supervision,
                zero_flow: self.zero_flow,
                pseudo_source: self.pseudo_source.into(),
            },
        };
        Ok(cfg)
    }

    /// Replace the settings of `base` that a flag given on the command line names (config files
    /// named by a flag are read again).
    fn override_given(&self, base: &mut RunConfig) -> Result<()> {
        for id in &self.given {
            if !self.apply(id, base)? && !NOT_SETTINGS.contains(&id.as_str()) {
                bail!("--{id}: no setting of a run configuration (an internal error)");
            }
        }
        Ok(())
    }

    /// Set the setting of flag `id` in `cfg` from this command's value; false for a flag that
    /// is not part of a run configuration. [`Self::settings`] gives every flag's value at
    /// once; this is the same, flag by flag (a test holds the two together).
    fn apply(&self, id: &str, cfg: &mut RunConfig) -> Result<bool> {
        let (d, a, t) = (&mut cfg.data, &mut cfg.augment, &mut cfg.targets);
        match id {
            "train_lists" => d.train_lists = self.train_lists.clone(),
            "shadow_lists" => d.shadow_lists = self.shadow_lists.clone(),
            "eval_ilists" => d.eval_ilists = self.eval_ilists.clone(),
            "eval_vlists" => d.eval_vlists = self.eval_vlists.clone(),
            "path_map" => d.path_map = self.maps.path_map.clone(),
            "num_pts" => d.num_pts = self.pts.num_pts,
            "data_indicator" => d.data_indicator = self.data_indicator.clone(),
            "clip_frames" => d.clip_frames = self.clip_frames,
            "clip_stride" => d.clip_stride = self.clip_stride,
            "batch_size" => d.batch_size = self.batch_size,
            "workers" => d.workers = self.workers,
            "cache_images" | "cache_mb" => {
                let on = self.cache_images || (d.cache_mb.is_some() && id == "cache_mb");
                d.cache_mb = on.then_some(self.cache_mb);
            }
            "skip_bad" => d.skip_bad = self.skip_bad,
            "pre_crop_expand" => cfg.crop.expand = self.crop.pre_crop_expand,
            "crop_width" => cfg.crop.width = self.crop.crop_width,
            "crop_height" => cfg.crop.height = self.crop.crop_height,
            "scale_prob" => a.scale_prob = self.scale_prob,
            "scale_min" => a.scale_min = self.scale_min,
            "scale_max" => a.scale_max = self.scale_max,
            "scale_eval" => a.scale_eval = self.scale_eval,
            "rotate_max" => a.rotate_max = self.rotate_max as f64,
            "crop_perturb_max" => a.crop_perturb_max = self.crop_perturb_max as f64,
            "video_draws" => a.video_draws = self.video_draws.into(),
            "sigma" => t.sigma = self.sigma,
            "heatmap_type" => t.heatmap_type = self.heatmap_shape(),
            "heatmap_cutoff" => t.heatmap_cutoff = self.heatmap_cutoff,
            "model_config" => cfg.model = self.model_config()?,
            "opt_config" => {
                cfg.opt = self.opt_config()?;
                cfg.run.epochs = self.epochs.unwrap_or(cfg.opt.config.epochs);
            }
            "tracker_config" => cfg.tracker = self.tracker_config()?,
            "pretrained" | "no_pretrained" => {
                cfg.pretrained = self.pretrained.clone();
                cfg.no_pretrained = self.no_pretrained;
            }
            "save_path" => cfg.run.save_path = self.save_path.clone().unwrap_or_default(),
            "rand_seed" => cfg.run.rand_seed = self.rand_seed.unwrap_or(cfg.run.rand_seed),
            "print_freq" => cfg.run.print_freq = self.print_freq,
            "epochs" => cfg.run.epochs = self.epochs.unwrap_or(cfg.opt.config.epochs),
            "max_iters" => cfg.run.max_iters = self.max_iters,
            "snapshot_every" => cfg.run.snapshot_every = self.snapshot_every,
            "keep" => cfg.run.keep = self.keep,
            "device" | "cpu" => cfg.run.device = self.device.choice(),
            "precision" => cfg.run.precision = self.precision,
            "supervised_only" => cfg.run.supervised_only = self.supervised_only,
            "lambda" => cfg.tsal.lambda = self.lambda,
            "mu" => cfg.tsal.mu = self.mu,
            "consistency" => cfg.tsal.consistency = self.consistency.into(),
            "tracker_weights" => cfg.tsal.tracker_weights = self.tracker_weights.clone(),
            "unsup_weight" => cfg.tsal.unsup_weight = self.unsup_weight,
            "flow_supervision" => cfg.tsal.flow_supervision = self.flow_supervision,
            "zero_flow" => cfg.tsal.zero_flow = self.zero_flow,
            "pseudo_source" => cfg.tsal.pseudo_source = self.pseudo_source.into(),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn heatmap_shape(&self) -> HeatmapShape {
        match self.heatmap_type {
            HeatmapType::Gaussian => HeatmapShape::Gaussian,
            HeatmapType::Laplacian => HeatmapShape::Laplacian,
        }
    }

    fn model_config(&self) -> Result<Loaded<ModelConfig>> {
        let path = &self.detector.model_config;
        let config = ModelConfig::load(path).context("--model_config")?;
        Ok(Loaded { path: path.clone(), config })
    }

    fn opt_config(&self) -> Result<Loaded<OptConfig>> {
        let path = &self.opt.opt_config;
        Ok(Loaded { path: path.clone(), config: OptConfig::load(path).context("--opt_config")? })
    }

    fn tracker_config(&self) -> Result<Loaded<TrackerConfig>> {
        let path = &self.tracker.tracker_config;
        let config = TrackerConfig::load(path).context("--tracker_config")?;
        Ok(Loaded { path: path.clone(), config })
    }
}

/// Flags of `tsal train` that are not settings of a run: what to do with it (resume, print,
/// evaluate once), where its configuration comes from, and the reference's flags it ignores.
pub const NOT_SETTINGS: [&str; 15] = [
    "eval_once",
    "landmark_log",
    "load_test_model",
    "arg_flip",
    "resume",
    "no_resume",
    "force",
    "print_config",
    "config",
    "error_bar",
    "usepca",
    "usefocalloss",
    "pyramid_input",
    "rma_model",
    "help",
];

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
            tta: 1,
            tta_seed: 1,
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
            out: Some(cfg.run.save_path.join("eval-once")),
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
    let mut prep = trainer::prepare(&cfg)?;
    // Created before the run folder, so that a path that cannot be written leaves nothing.
    prep.landmark_log = args.landmark_log.as_deref().map(LandmarkLog::create).transpose()?;
    if let Some(path) = &args.landmark_log {
        if !prep.lines.iter().any(|e| e.video().is_some() && e.annotation.is_some()) {
            eprintln!(
                "tsal: warning: --landmark_log {}: no training line is an annotated video frame, \
                 so it will hold its header only (--shadow_lists gives unlabelled videos their \
                 annotations for the diagnostics)",
                path.display()
            );
        }
    }
    let mut cfg = cfg;
    let mode =
        if args.no_resume { ResumeMode::Fresh { force: args.force } } else { ResumeMode::Resume };
    let seed_given = args.rand_seed.is_some() || args.config.is_some();
    let (run, resumed) = RunDir::open(&mut cfg, mode, seed_given)?;
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
