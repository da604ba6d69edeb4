//! `tsal bench model | data | train`: the flags, turned into the settings of [`crate::bench`],
//! whose reports are printed as text or JSON.
use super::emit;
use super::flags;
use super::train::ConsistencyMode;
use crate::bench::train::TrainSettings;
use crate::bench::{self, data::DataSettings, model::ModelSettings, peer::Peer};
use crate::config::run::TargetConfig;
use crate::models::precision::Precision;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(clap::Subcommand, Debug)]
pub enum BenchWhat {
    /// Detector and tracker speed (forward; forward + backward) and the correlation alone.
    Model(ModelBench),
    /// Data-loading throughput: clips built per second (decode, one resampling, targets) by
    /// the training loader over list files; optionally a PNG of an augmented clip.
    Data(DataBench),
    /// Training speed: frames/s of supervised steps (teacher and student) fed by the loader,
    /// the share of time spent waiting for data, the step alone on one batch; with `--peer`
    /// the same step in PyTorch eager and the ratio.
    Train(Box<TrainBench>),
}

#[derive(clap::Args, Debug)]
pub struct ModelBench {
    #[command(flatten)]
    pub detector: super::flags::DetectorConfig,
    #[command(flatten)]
    pub tracker: super::flags::TrackerConfig,
    #[command(flatten)]
    pub pts: super::flags::Points,
    /// Images per batch (tracker: frame pairs).
    #[arg(long = "batch_size", visible_alias = "batch-size", default_value_t = 8)]
    pub batch_size: i64,
    /// Square input size (a multiple of 64).
    #[arg(long, default_value_t = 256)]
    pub size: i64,
    /// Timed iterations per measurement (after `--warmup` untimed ones).
    #[arg(long, default_value_t = 10)]
    pub iters: usize,
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    #[command(flatten)]
    pub device: flags::Device,
    /// The arithmetic of the forwards, one or more (each timed in turn, e.g. `--precision fp32
    /// bf16`): fp32, or bf16 autocast (weights and gradients stay fp32). bf16 on a CPU needs
    /// native bf16 arithmetic (avx512_bf16 or amx_bf16; `tsal doctor` says).
    #[arg(long, value_enum, num_args = 1.., default_values_t = [Precision::Fp32])]
    pub precision: Vec<Precision>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct DataBench {
    /// Training lists (e.g. quickstart/data/lists/300W/300w.train.GTB and a 300VW list).
    #[arg(long, num_args = 1.., required = true)]
    pub lists: Vec<PathBuf>,
    /// Loader threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Clips per batch.
    #[arg(long = "batch_size", visible_alias = "batch-size", default_value_t = 2)]
    pub batch_size: usize,
    /// Frames per clip (the reference: 10).
    #[arg(
        long = "clip_frames",
        visible_alias = "clip-frames",
        alias = "frames",
        default_value_t = 10
    )]
    pub frames: usize,
    /// Batches to time.
    #[arg(long, default_value_t = 100)]
    pub batches: usize,
    /// Square crop size.
    #[arg(long, default_value_t = 256)]
    pub size: u32,
    #[arg(long = "rand_seed", visible_alias = "rand-seed", default_value_t = 1)]
    pub rand_seed: u64,
    /// Keep decoded images (the part crops can reach) in memory; the cache is filled by one
    /// untimed epoch before timing.
    #[arg(long = "cache_images", visible_alias = "cache-images")]
    pub cache_images: bool,
    /// Memory budget of the image cache, in MiB.
    #[arg(long = "cache_mb", visible_alias = "cache-mb", default_value_t = 8192)]
    pub cache_mb: usize,
    /// Targets below this value become 0 (the reference's 0.01).
    #[arg(long = "heatmap_cutoff", visible_alias = "heatmap-cutoff", default_value_t = TargetConfig::REFERENCE.heatmap_cutoff)]
    pub heatmap_cutoff: f64,
    /// Also time each step (read, warp, normalise, heatmaps, centroid) on one thread.
    #[arg(long)]
    pub breakdown: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the first clip of the first batch as a PNG (frames side by side, landmarks green,
    /// centre heatmap red, landmarks rebuilt from the centroid target blue).
    #[arg(long = "debug_png", visible_alias = "debug-png")]
    pub debug_png: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct TrainBench {
    /// Training lists (their labelled lines, as `tsal train` uses them), e.g.
    /// quickstart/data/lists/300W/300w.train.GTB.
    #[arg(long, num_args = 1.., required = true, help_heading = "Data")]
    pub lists: Vec<PathBuf>,
    #[command(flatten, next_help_heading = "Data")]
    pub pts: flags::Points,
    /// Square crop (network input) side in pixels.
    #[arg(long, default_value_t = flags::CROP_SIDE, help_heading = "Data")]
    pub size: u32,
    /// Clips per batch.
    #[arg(
        long = "batch_size",
        visible_alias = "batch-size",
        default_value_t = 2,
        help_heading = "Data"
    )]
    pub batch_size: usize,
    /// Frames per clip (the reference: 10).
    #[arg(
        long = "clip_frames",
        visible_alias = "clip-frames",
        default_value_t = 10,
        help_heading = "Data"
    )]
    pub clip_frames: usize,
    /// Loader threads.
    #[arg(long, default_value_t = 2, help_heading = "Data")]
    pub workers: usize,
    #[command(flatten, next_help_heading = "Model")]
    pub detector: flags::DetectorConfig,
    #[command(flatten, next_help_heading = "Model")]
    pub opt: flags::OptimizerConfig,
    #[command(flatten, next_help_heading = "Model")]
    pub tracker: flags::TrackerConfig,
    /// Detection consistency of the timed round (see `tsal train --help`).
    #[arg(long, value_enum, default_value_t = ConsistencyMode::Heatmap, help_heading = "Model")]
    pub consistency: ConsistencyMode,
    /// Seeds the initial weights and the loader.
    #[arg(
        long = "rand_seed",
        visible_alias = "rand-seed",
        default_value_t = 1,
        help_heading = "Model"
    )]
    pub rand_seed: u64,
    /// Timed iterations per measurement (after `--warmup` untimed ones).
    #[arg(long, default_value_t = 10, help_heading = "What to time")]
    pub iters: usize,
    #[arg(long, default_value_t = 2, help_heading = "What to time")]
    pub warmup: usize,
    /// Also time the full TSAL round (teacher, student and both trackers, `train::round`) on
    /// the same batch, and its ratio to the supervised steps with rounds and steps alternated
    /// (`--iters` of each); unlabelled lines of `--lists` are then used too. Needs clips of at
    /// least 2 frames.
    #[arg(long, help_heading = "What to time")]
    pub round: bool,
    /// Step the teacher alone (the supervised baseline).
    #[arg(
        long = "supervised_only",
        visible_alias = "supervised-only",
        help_heading = "What to time"
    )]
    pub supervised_only: bool,
    /// Also time each phase of the step alone (forward, loss, backward, optimiser), here and in
    /// the peer; with --round, each phase of the round too (forwards, each loss family, each
    /// role's backward, optimiser steps, averaging).
    #[arg(long, help_heading = "What to time")]
    pub breakdown: bool,
    /// Also run the same step in PyTorch eager (`--peer_script` with `--peer_python`) and
    /// report the ratio.
    #[arg(long, help_heading = "The PyTorch peer (--peer)")]
    pub peer: bool,
    /// Python with torch for `--peer` (on a GPU machine e.g. /opt/torch/.venv/bin/python).
    #[arg(
        long = "peer_python",
        visible_alias = "peer-python",
        default_value = ".venv/bin/python",
        help_heading = "The PyTorch peer (--peer)"
    )]
    pub peer_python: PathBuf,
    /// The peer script.
    #[arg(
        long = "peer_script",
        visible_alias = "peer-script",
        default_value = "scripts/peer_train.py",
        help_heading = "The PyTorch peer (--peer)"
    )]
    pub peer_script: PathBuf,
    #[command(flatten, next_help_heading = "Device")]
    pub device: flags::Device,
    /// The arithmetic of the detectors' and trackers' forwards: fp32, or bf16 autocast (weights,
    /// optimiser state and losses stay fp32). bf16 on a CPU needs native bf16 arithmetic
    /// (avx512_bf16 or amx_bf16; `tsal doctor` says).
    #[arg(long, value_enum, default_value_t = Precision::Fp32, help_heading = "Device")]
    pub precision: Precision,
    /// Print JSON instead of text.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

pub fn run(a: &BenchArgs) -> Result<ExitCode> {
    match &a.what {
        BenchWhat::Model(m) => {
            crate::heap::keep_freed_memory();
            let s = ModelSettings {
                model_config: m.detector.model_config.clone(),
                tracker_config: m.tracker.tracker_config.clone(),
                num_pts: m.pts.num_pts,
                batch_size: m.batch_size,
                size: m.size,
                iters: m.iters,
                warmup: m.warmup,
                device: m.device.resolve()?,
                precisions: m.precision.clone(),
            };
            emit(&bench::model::run(&s)?, m.json, |r| r.print())
        }
        BenchWhat::Data(d) => {
            let s = DataSettings {
                lists: d.lists.clone(),
                workers: d.workers,
                batch_size: d.batch_size,
                frames: d.frames,
                batches: d.batches,
                size: d.size,
                rand_seed: d.rand_seed,
                cache_images: d.cache_images,
                cache_mb: d.cache_mb,
                heatmap_cutoff: d.heatmap_cutoff,
                breakdown: d.breakdown,
                debug_png: d.debug_png.clone(),
            };
            emit(&bench::data::run(&s)?, d.json, |r| r.print(d.cache_mb))
        }
        BenchWhat::Train(t) => {
            let s = TrainSettings {
                lists: t.lists.clone(),
                model_config: t.detector.model_config.clone(),
                opt_config: t.opt.opt_config.clone(),
                tracker_config: t.tracker.tracker_config.clone(),
                num_pts: t.pts.num_pts,
                size: t.size,
                batch_size: t.batch_size,
                clip_frames: t.clip_frames,
                workers: t.workers,
                iters: t.iters,
                warmup: t.warmup,
                device: t.device.choice(),
                round: t.round,
                consistency: t.consistency.into(),
                supervised_only: t.supervised_only,
                breakdown: t.breakdown,
                peer: t
                    .peer
                    .then(|| Peer { python: t.peer_python.clone(), script: t.peer_script.clone() }),
                rand_seed: t.rand_seed,
                precision: t.precision,
            };
            emit(&bench::train::run(&s)?, t.json, |r| r.print())
        }
    }
}
