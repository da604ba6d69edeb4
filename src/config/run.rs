//! The resolved configuration of a run (plain data that serialises and
//! deserialises, imports no clap): every flag of `tsal train` in its section, with the
//! contents of the config files it names, and the seed actually used. It is printed by
//! `--print_config` and saved as the run's `config.json`; reading that file back gives the same
//! value. [`RunConfig::validate`] holds every constraint between settings in one place. It
//! sits above the pipeline it configures: it names `data` types, `data` never names it.
use super::limits::{self, Consumer};
use super::{ModelConfig, OptConfig, TrackerConfig};
use crate::data::augment::VideoDraws;
use crate::data::crop::CropSpec;
use crate::data::loader::LoaderConfig;
use crate::device::{DeviceChoice, PrecisionChoice};
use crate::formats::list::PathMap;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub data: DataConfig,
    /// The deterministic crop (training draws its augmentation after it; evaluation uses it
    /// alone).
    pub crop: CropSpec,
    pub augment: AugmentConfig,
    pub targets: TargetConfig,
    pub model: Loaded<ModelConfig>,
    pub opt: Loaded<OptConfig>,
    pub tracker: Loaded<TrackerConfig>,
    /// ImageNet VGG16 weights for the trunk (`--pretrained`), or none.
    pub pretrained: Option<PathBuf>,
    /// Start the trunk from scratch although the model config says `pretrained`.
    pub no_pretrained: bool,
    pub run: RunSection,
    /// The TSAL round (unused with `run.supervised_only`).
    #[serde(default)]
    pub tsal: TsalConfig,
}

/// Where the trackers' detection consistency is measured (`--consistency`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// The frozen detector runs on the frames the tracker warped, and its heatmaps are compared
    /// with those of the real frames (the reference's way, full resolution only).
    Image,
    /// The real frames' heatmaps are carried by the flow and compared with the other frame's
    /// (no detector pass).
    Heatmap,
}

impl Consistency {
    /// The flag's value (`image`, `heatmap`).
    pub fn name(self) -> &'static str {
        match self {
            Consistency::Image => "image",
            Consistency::Heatmap => "heatmap",
        }
    }
}

/// Whose outputs the student's fused pseudo-label is made of (`--pseudo_source`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PseudoSource {
    /// The student's own detections and tracker (the reference code, `net_Rma` on `T_Rma`).
    #[default]
    Student,
    /// The teacher's detections and tracker (the recursive average of the student, as a mean
    /// teacher's target).
    Teacher,
}

impl PseudoSource {
    /// The flag's value (`student`, `teacher`).
    pub fn name(self) -> &'static str {
        match self {
            PseudoSource::Student => "student",
            PseudoSource::Teacher => "teacher",
        }
    }
}

/// The settings of the TSAL round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TsalConfig {
    /// Recursive average filtering: `teacher ← λ·teacher + (1 − λ)·student` after every
    /// iteration, and the same between the trackers.
    pub lambda: f64,
    /// Weight of the tracked landmarks in the student's fused pseudo-label (the rest goes to
    /// the centre + offset read-out).
    pub mu: f64,
    pub consistency: Consistency,
    /// Initial tracker weights: none (from scratch), one file for both trackers, or the
    /// teacher's tracker then the student's.
    pub tracker_weights: Vec<PathBuf>,
    /// Weight of the unsupervised terms at full ramp (the ramp multiplies it).
    pub unsup_weight: f64,
    /// Weight of the trackers' end-point error against the exact flow between the augmented
    /// views of a still image (0: none).
    #[serde(default)]
    pub flow_supervision: f64,
    /// The trackers replaced by zero flow (points stay where they are; the trackers neither
    /// run nor learn): the ablation that isolates tracking.
    #[serde(default)]
    pub zero_flow: bool,
    /// Whose detections and tracked landmarks make the student's pseudo-label.
    #[serde(default)]
    pub pseudo_source: PseudoSource,
}

impl Default for TsalConfig {
    fn default() -> Self {
        Self {
            lambda: DEFAULT_LAMBDA,
            mu: DEFAULT_MU,
            consistency: Consistency::Heatmap,
            tracker_weights: Vec::new(),
            unsup_weight: 1.0,
            flow_supervision: 0.0,
            zero_flow: false,
            pseudo_source: PseudoSource::Student,
        }
    }
}

fn one() -> usize {
    1
}

/// The default λ of the recursive average (chosen by the README's experiment; the reference
/// code's 0.6 ran in both directions, its run names say 0.7 / 0.8 / 0.999).
pub const DEFAULT_LAMBDA: f64 = 0.8;

/// The fusion weight of the tracked landmarks in the student's pseudo-label by default: the
/// reference's `mu_weight` in `basic_train_Rma_model`, 0.5.
pub const DEFAULT_MU: f64 = 0.5;

/// A config file and what it held when the run was resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Loaded<T> {
    pub path: PathBuf,
    pub config: T,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    pub train_lists: Vec<PathBuf>,
    /// Training lists whose annotations are shadow labels: the lines train as unlabelled, and
    /// their landmarks serve the diagnostics only (`metrics.jsonl`'s `pairs`).
    #[serde(default)]
    pub shadow_lists: Vec<PathBuf>,
    pub eval_ilists: Vec<PathBuf>,
    pub eval_vlists: Vec<PathBuf>,
    pub path_map: Vec<PathMap>,
    pub num_pts: usize,
    /// The reference's dataset name (stored; only its flipping used it).
    pub data_indicator: String,
    /// Frames per training clip.
    pub clip_frames: usize,
    /// A video clip's frames are this many frames apart (1: consecutive).
    #[serde(default = "one")]
    pub clip_stride: usize,
    /// Clips per batch.
    pub batch_size: usize,
    pub workers: usize,
    /// Image cache budget in MiB (`--cache_images --cache_mb`), none without the cache.
    pub cache_mb: Option<usize>,
    pub skip_bad: bool,
}

/// The random part of the augmentation (reference `exps/main.py:60-75`,
/// `lib/xvision/transforms.py`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    pub scale_prob: f64,
    pub scale_min: f64,
    pub scale_max: f64,
    /// Must be (scale_min + scale_max) / 2 (the reference asserts it); multiplies σ.
    pub scale_eval: f64,
    /// Degrees.
    pub rotate_max: f64,
    /// Crop pixels.
    pub crop_perturb_max: f64,
    /// How a video clip's frames draw the above (`--video_draws`).
    #[serde(default)]
    pub video_draws: VideoDraws,
}

impl AugmentConfig {
    /// The reference invocation's augmentation (`scripts/dual_model.sh` and the defaults of
    /// `lib/config_utils/args.py`): scale 0.9–1.1 always, rotation up to 20°, crop centre
    /// jitter up to 30 px.
    pub const REFERENCE: AugmentConfig = AugmentConfig {
        scale_prob: 1.0,
        scale_min: 0.9,
        scale_max: 1.1,
        scale_eval: 1.0,
        rotate_max: 20.0,
        crop_perturb_max: 30.0,
        video_draws: VideoDraws::Shared,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeatmapShape {
    Gaussian,
    Laplacian,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetConfig {
    /// σ in input pixels, before × `scale_eval`.
    pub sigma: f64,
    pub heatmap_type: HeatmapShape,
    /// Target values below this become 0 (the reference's 0.01).
    pub heatmap_cutoff: f64,
}

impl TargetConfig {
    /// The reference's targets: Gaussian heatmaps of σ 6 input pixels, cut off below 0.01
    /// (`lib/pts_utils/generation.py`, `generate_label_map`).
    pub const REFERENCE: TargetConfig = TargetConfig {
        sigma: 6.0,
        heatmap_type: HeatmapShape::Gaussian,
        heatmap_cutoff: crate::codec::heatmap::REFERENCE_CUTOFF,
    };
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSection {
    pub save_path: PathBuf,
    /// The seed in use (drawn in 1..=100000 when none was given, and recorded here).
    pub rand_seed: u64,
    pub print_freq: usize,
    /// Epochs to train (`--epochs`, else the optimiser config's `epochs`).
    pub epochs: usize,
    /// Stop after this many iterations in all (smoke runs), with a snapshot.
    pub max_iters: Option<u64>,
    /// Also snapshot every this many iterations within an epoch.
    pub snapshot_every: Option<u64>,
    /// Keep the last K snapshots plus the best (all when absent).
    pub keep: Option<usize>,
    pub device: DeviceChoice,
    /// The arithmetic of the networks' forwards (`--precision`; fp32 in configurations
    /// written before the key existed).
    #[serde(default)]
    pub precision: PrecisionChoice,
    /// Train the teacher alone on labelled data (the supervised baseline).
    pub supervised_only: bool,
}

impl RunSection {
    /// Settings a resumed run may change: they do not change what is computed (`epochs` and
    /// `max_iters` only move the end; `device` and `precision` move it to other hardware or
    /// arithmetic).
    pub const FREE_ON_RESUME: &'static [&'static str] = &[
        "run.epochs",
        "run.max_iters",
        "run.snapshot_every",
        "run.keep",
        "run.print_freq",
        "run.device",
        "run.precision",
        "data.workers",
        "data.cache_mb",
        "pretrained",
        "no_pretrained",
    ];
}

impl RunConfig {
    /// Every constraint on the settings, each error naming its flag.
    pub fn validate(&self) -> Result<()> {
        let (a, d) = (&self.augment, &self.data);
        let ok_scales = a.scale_min > 0.0 && a.scale_min <= a.scale_max && a.scale_max <= 10.0;
        if !ok_scales {
            bail!(
                "--scale_min {} / --scale_max {}: need 0 < min <= max <= 10",
                a.scale_min,
                a.scale_max
            );
        }
        let mid = (a.scale_min + a.scale_max) / 2.0;
        let matches_mid = (a.scale_eval - mid).abs() <= 1e-9; // false for NaN
        if !matches_mid {
            bail!(
                "--scale_eval {} must equal (scale_min + scale_max) / 2 = {mid} (as the \
                 reference asserts)",
                a.scale_eval
            );
        }
        if !(0.0..=1.0).contains(&a.scale_prob) {
            bail!("--scale_prob {}: must be a probability in [0, 1]", a.scale_prob);
        }
        if !(a.rotate_max.is_finite() && (0.0..=180.0).contains(&a.rotate_max)) {
            bail!("--rotate_max {}: needs degrees from 0 to 180", a.rotate_max);
        }
        if !(a.crop_perturb_max.is_finite() && a.crop_perturb_max >= 0.0) {
            bail!("--crop_perturb_max {}: needs a number of pixels >= 0", a.crop_perturb_max);
        }
        limits::positive("--sigma", self.targets.sigma)?;
        if !(0.0..1.0).contains(&self.targets.heatmap_cutoff) {
            bail!("--heatmap_cutoff {}: must be in [0, 1)", self.targets.heatmap_cutoff);
        }
        limits::pre_crop_expand(self.crop.expand)?;
        // The trackers run on every training crop.
        limits::crop(self.crop.width, self.crop.height, Consumer::Tracker)?;
        limits::count("--clip_frames", d.clip_frames as i64, 1000)?;
        limits::count("--clip_stride", d.clip_stride as i64, 1000)?;
        limits::count("--batch_size", d.batch_size as i64, 100_000)?;
        limits::count("--num_pts", d.num_pts as i64, limits::MAX_POINTS)?;
        let r = &self.run;
        limits::count("--epochs", r.epochs as i64, 1_000_000)?;
        if r.max_iters == Some(0) {
            bail!("--max_iters 0: must be at least 1");
        }
        if r.snapshot_every == Some(0) {
            bail!("--snapshot_every 0: must be at least 1");
        }
        if r.keep == Some(0) {
            bail!("--keep 0: keep at least the last snapshot (omit --keep to keep all)");
        }
        if r.print_freq == 0 {
            bail!("--print_freq 0: must be at least 1");
        }
        let t = &self.tsal;
        if !(0.0..=1.0).contains(&t.lambda) {
            bail!("--lambda {}: must be in [0, 1] (1 keeps the teacher as it is)", t.lambda);
        }
        if !(0.0..=1.0).contains(&t.mu) {
            bail!("--mu {}: must be in [0, 1]", t.mu);
        }
        if !(t.flow_supervision.is_finite() && t.flow_supervision >= 0.0) {
            bail!("--flow_supervision {}: must be a number >= 0", t.flow_supervision);
        }
        if !(t.unsup_weight.is_finite() && t.unsup_weight >= 0.0) {
            bail!("--unsup_weight {}: must be a number >= 0", t.unsup_weight);
        }
        if a.video_draws != VideoDraws::Shared && t.consistency != Consistency::Heatmap {
            bail!(
                "--video_draws {}: needs --consistency heatmap (the trackers see frame j+1 aligned \
                 into frame j's crop; the carried frames of `image` would be in the wrong crop)",
                a.video_draws.name()
            );
        }
        if t.zero_flow && t.consistency != Consistency::Heatmap {
            bail!("--zero_flow: needs --consistency heatmap (no tracker runs to warp frames)");
        }
        if t.tracker_weights.len() > 2 {
            bail!(
                "--tracker_weights: one file (both trackers) or two (the teacher's, then the \
                 student's), found {}",
                t.tracker_weights.len()
            );
        }
        if !r.supervised_only && d.clip_frames < 2 {
            bail!(
                "--clip_frames {}: the TSAL round tracks between consecutive frames of a clip \
                 and needs at least 2 (or train the baseline with --supervised_only)",
                d.clip_frames
            );
        }
        Ok(())
    }

    /// The initial weight files (`--pretrained`, `--tracker_weights`) are files: checked
    /// before a run starts from them (a resumed run takes its weights from its snapshot).
    pub fn check_initial_weights(&self) -> Result<()> {
        let pretrained = self.pretrained.iter().map(|p| ("--pretrained", p));
        let trackers = self.tsal.tracker_weights.iter().map(|p| ("--tracker_weights", p));
        for (flag, p) in pretrained.chain(trackers) {
            if p.is_dir() {
                bail!(
                    "{flag} {}: is a folder, not a weight file; pass the file in it",
                    p.display()
                );
            }
            if !p.is_file() {
                bail!("{flag} {}: file not found", p.display());
            }
        }
        self.trunk_weights().map(|_| ())
    }

    /// The same run with no initial weights to load: what a run resumed from a snapshot builds
    /// before the snapshot's weights replace everything.
    pub fn without_initial_weights(&self) -> RunConfig {
        let mut cfg = self.clone();
        cfg.pretrained = None;
        cfg.no_pretrained = true;
        cfg.tsal.tracker_weights.clear();
        cfg
    }

    /// The VGG16 file for the trunk, or `None` to start from scratch. A model config that says
    /// `pretrained` without `--pretrained FILE` is an error unless `--no_pretrained` is given:
    /// tsal never downloads, and never silently skips.
    pub fn trunk_weights(&self) -> Result<Option<&Path>> {
        if self.model.config.pretrained && self.pretrained.is_none() && !self.no_pretrained {
            bail!(
                "{} says `pretrained`: pass --pretrained vgg16-397923af.pth (torchvision's \
                 ImageNet VGG16; tsal never downloads) or --no_pretrained",
                self.model.path.display()
            );
        }
        Ok(if self.no_pretrained { None } else { self.pretrained.as_deref() })
    }
}

impl RunConfig {
    /// The training loader's settings: the crop and augmentation, targets with σ in input
    /// pixels × `scale_eval` (the reference's `sigma * scale_eval`), the seed.
    pub fn loader_config(&self) -> LoaderConfig {
        let d = &self.data;
        LoaderConfig {
            workers: d.workers,
            seed: self.run.rand_seed,
            clips_per_batch: d.batch_size,
            aug: augment_params(&self.augment, self.crop),
            targets: target_params(&self.targets, &self.augment, d.num_pts),
            cache_bytes: d.cache_mb.map(|mb| mb.saturating_mul(1 << 20)),
            skip_bad: d.skip_bad,
        }
    }
}

impl RunConfig {
    /// A saved run configuration (what `--print_config` prints, a run's `config.json`) read
    /// strictly: every key must be known, so a misspelt one is an error naming it, not a
    /// setting silently left at its saved value.
    pub fn read_strict(path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path).context("cannot read")?;
        let given: serde_json::Value = serde_json::from_str(&text).context("not JSON")?;
        let cfg: RunConfig =
            serde_json::from_value(given.clone()).context("not a tsal run configuration")?;
        if let Some(key) = unknown_key(&given, &serde_json::to_value(&cfg)?, "") {
            bail!("unknown key `{key}` (tsal train --print_config shows every key)");
        }
        Ok(cfg)
    }
}

/// The first key path of `given` that `known` lacks, e.g. `targets.sigmaa`.
fn unknown_key(given: &serde_json::Value, known: &serde_json::Value, at: &str) -> Option<String> {
    let (serde_json::Value::Object(g), serde_json::Value::Object(k)) = (given, known) else {
        return None;
    };
    g.iter().find_map(|(key, v)| {
        let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
        match k.get(key) {
            None => Some(path),
            Some(kv) => unknown_key(v, kv, &path),
        }
    })
}

/// The loader's settings for `tsal train`'s defaults at a square crop of `size` (the reference's
/// augmentation and targets, no image cache): `clips_per_batch` clips per batch, `workers`
/// threads, seed `seed`. The benchmarks use it.
pub fn reference_loader(
    size: u32,
    num_pts: usize,
    clips_per_batch: usize,
    workers: usize,
    seed: u64,
) -> LoaderConfig {
    let crop = CropSpec { width: size, height: size, ..CropSpec::REFERENCE };
    let (a, t) = (&AugmentConfig::REFERENCE, &TargetConfig::REFERENCE);
    LoaderConfig {
        workers,
        seed,
        clips_per_batch,
        aug: augment_params(a, crop),
        targets: target_params(t, a, num_pts),
        cache_bytes: None,
        skip_bad: false,
    }
}

/// The loader's augmentation: `a`'s random part after the deterministic `crop`.
/// The reference's augmentation at `crop` (scale 0.9–1.1, ±20°), its centre jitter scaled from
/// 30 px at a 256-pixel crop to this crop's width: what augmented views of a face are drawn with
/// outside training (`tsal tracker eval`'s views, `tsal eval --tta`).
pub fn reference_augmentation(crop: CropSpec) -> crate::data::augment::AugParams {
    let r = AugmentConfig::REFERENCE;
    let a = AugmentConfig { crop_perturb_max: r.crop_perturb_max * crop.width as f64 / 256.0, ..r };
    augment_params(&a, crop)
}

pub fn augment_params(a: &AugmentConfig, crop: CropSpec) -> crate::data::augment::AugParams {
    crate::data::augment::AugParams {
        crop,
        scale_prob: a.scale_prob,
        scale_min: a.scale_min,
        scale_max: a.scale_max,
        rotate_max: a.rotate_max,
        crop_perturb_max: a.crop_perturb_max,
        video_draws: a.video_draws,
    }
}

fn target_params(
    t: &TargetConfig,
    a: &AugmentConfig,
    num_pts: usize,
) -> crate::data::sample::TargetParams {
    use crate::codec::heatmap::Shape;
    crate::data::sample::TargetParams {
        num_pts,
        sigma: t.sigma * a.scale_eval,
        shape: match t.heatmap_type {
            HeatmapShape::Gaussian => Shape::Gaussian,
            HeatmapShape::Laplacian => Shape::Laplacian,
        },
        cutoff: t.heatmap_cutoff,
    }
}
