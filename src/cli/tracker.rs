//! `tsal tracker eval` and `tsal tracker pretrain`: a tracker on its own ([`crate::tracker`]).
use super::flags;
use crate::config::run::Loaded;
use crate::config::TrackerConfig;
use crate::data::augment::{AugParams, CropSpec};
use crate::data::sample::TargetParams;
use crate::formats::list::{self, ListEntry};
use crate::models::weights;
use crate::run::snapshot::Role;
use crate::tracker::eval::{self, KindScore};
use crate::tracker::pairs;
use crate::tracker::pretrain::{self, Step};
use crate::tracker::synthetic::{self, Motion};
use crate::train::roles::TrackerRole;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

/// Printed at the end of `tsal tracker --help`.
pub const EXAMPLES: &str = "\
Examples:
  # Pretrain the small tracker on the training images and procedural textures, then measure it
  # on held-out faces and on video frames 4 apart:
  tsal tracker pretrain --out weights/tracker-small.safetensors \\
    --tracker_config configs/small/MFDS.json --lists data/lists/300W/300w.train.GTB
  tsal tracker eval --weights weights/tracker-small.safetensors \\
    --tracker_config configs/small/MFDS.json --stride 4 \\
    --lists data/lists/300W/300w.test.common.GTB data/lists/300VW/300VW.test-1.lst

  # Train with it (both trackers start from it):
  tsal train --tracker_weights weights/tracker-small.safetensors --tracker_config \\
    configs/small/MFDS.json ...";

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct TrackerArgs {
    #[command(subcommand)]
    pub command: TrackerCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum TrackerCommand {
    /// Measure a tracker on annotated frame pairs: for augmented views of still images and for
    /// video frames --stride apart, how far frame 1's landmarks carried by its flow land from
    /// frame 2's (track_px), against not moving them at all (static_px).
    Eval(EvalArgs),
    /// Pretrain a tracker on frame pairs with exact flow, made from any images (and procedural
    /// textures) by random affine motion, smooth deformation and occluding layers; no labels
    /// needed. Writes weights `tsal train --tracker_weights` loads.
    Pretrain(PretrainArgs),
}

/// The size and device flags both commands take.
#[derive(clap::Args, Debug)]
pub struct Common {
    #[command(flatten)]
    pub tracker: flags::TrackerConfig,
    /// Crop side in pixels (a multiple of 64: PWC-Lite's pyramid halves it six times).
    #[arg(long, default_value_t = 128)]
    pub size: u32,
    #[command(flatten)]
    pub device: flags::Device,
    /// Seed of the random draws (views' augmentation; pretraining pairs and initialisation).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Tracker weights: a safetensors file (`tracker pretrain`'s, a snapshot's
    /// `tracker_teacher.safetensors`) or ARFlow's `.tar`. Without it, an untrained tracker.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Lists whose annotated lines make the pairs (still images → views, videos → frame pairs).
    #[arg(long, num_args = 1.., required = true)]
    pub lists: Vec<PathBuf>,
    #[command(flatten)]
    pub common: Common,
    /// Video pairs are frames t and t + K.
    #[arg(long, default_value_t = 1)]
    pub stride: usize,
    /// At most this many pairs of each kind, spread evenly over the lists.
    #[arg(long = "max_pairs", visible_alias = "max-pairs", default_value_t = 300)]
    pub max_pairs: usize,
    #[command(flatten)]
    pub pts: flags::Points,
    #[command(flatten)]
    pub maps: flags::PathMaps,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct PretrainArgs {
    /// The weight file to write (safetensors, ARFlow's variable names).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace an existing --out.
    #[arg(long)]
    pub force: bool,
    /// Lists whose images (annotated or not) the pairs are cut from; without them, procedural
    /// textures only.
    #[arg(long, num_args = 1..)]
    pub lists: Vec<PathBuf>,
    #[command(flatten)]
    pub common: Common,
    /// Training iterations (6000 of 8 pairs at 128²: ~19 min for configs/small/MFDS.json on a
    /// 2-core CPU; held-out views then tracked to 20 % of their motion, docs/tracker.md).
    #[arg(long, default_value_t = 6000)]
    pub iters: u64,
    /// Pairs per iteration.
    #[arg(long = "batch_size", visible_alias = "batch-size", default_value_t = 8)]
    pub batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Odds that a pair (or an occluding layer) shows a procedural texture instead of an image.
    #[arg(long, default_value_t = 0.3)]
    pub textures: f64,
    /// Images read from the lists, at most (spread evenly over them).
    #[arg(long = "max_images", visible_alias = "max-images", default_value_t = 400)]
    pub max_images: usize,
    #[command(flatten)]
    pub maps: flags::PathMaps,
}

pub fn run(a: &TrackerArgs) -> Result<ExitCode> {
    match &a.command {
        TrackerCommand::Eval(e) => run_eval(e),
        TrackerCommand::Pretrain(p) => run_pretrain(p),
    }
}

fn check_size(size: u32) -> Result<()> {
    if size < 64 || !size.is_multiple_of(64) || size > 1024 {
        bail!("--size {size}: PWC-Lite needs a multiple of 64, from 64 to 1024");
    }
    Ok(())
}

fn tracker_config(c: &Common) -> Result<Loaded<TrackerConfig>> {
    let path = c.tracker.tracker_config.clone();
    let config = TrackerConfig::load(&path)
        .with_context(|| format!("--tracker_config {}", path.display()))?;
    Ok(Loaded { path, config })
}

fn read_lists(lists: &[PathBuf], maps: &flags::PathMaps) -> Result<Vec<ListEntry>> {
    let mut out = Vec::new();
    for l in lists {
        out.extend(
            list::read(l, &maps.path_map).with_context(|| format!("--lists {}", l.display()))?,
        );
    }
    Ok(out)
}

/// The views' augmentation at crop side `size`: the reference's, its centre jitter scaled.
pub fn views_augmentation(size: u32) -> AugParams {
    crate::config::run::reference_augmentation(CropSpec {
        expand: CropSpec::REFERENCE.expand,
        width: size,
        height: size,
    })
}

/// What `tsal tracker eval` reports.
#[derive(Serialize)]
struct EvalReport {
    tracker_config: PathBuf,
    weights: Option<PathBuf>,
    size: u32,
    stride: usize,
    views: Option<KindScore>,
    video: Option<KindScore>,
}

fn run_eval(a: &EvalArgs) -> Result<ExitCode> {
    check_size(a.common.size)?;
    if a.max_pairs == 0 || a.stride == 0 {
        bail!("--max_pairs and --stride must be at least 1");
    }
    let device = a.common.device.resolve()?;
    let config = tracker_config(&a.common)?;
    let entries = read_lists(&a.lists, &a.maps)?;
    let specs = pairs::pairs(&entries, a.stride, a.max_pairs);
    if specs.is_empty() {
        bail!(
            "--lists: no annotated pair (an annotated still image, or two annotated frames {} \
             apart in one video)",
            a.stride
        );
    }
    // Measuring only: the optimiser is never used.
    let opt = pretrain::adam(1e-4);
    let tr = TrackerRole::build(&config, &opt, None, Role::Teacher, device)?;
    match &a.weights {
        Some(f) => {
            weights::load_strict(&tr.vs, f)
                .with_context(|| format!("--weights {}", f.display()))?;
        }
        None => eprintln!("warning: no --weights: measuring an untrained tracker"),
    }
    let aug = views_augmentation(a.common.size);
    let targets = TargetParams {
        num_pts: a.pts.num_pts,
        sigma: 1.0,
        shape: crate::codec::heatmap::Shape::Gaussian,
        cutoff: -1.0,
    };
    let settings = eval::Settings {
        aug: &aug,
        targets: &targets,
        seed: a.common.seed,
        chunk: 16,
        threads: crate::parallel::default_threads(),
        device,
    };
    let bar = (!a.json).then(|| crate::parallel::progress(specs.len(), "pairs"));
    let flow =
        |im1: &tch::Tensor, im2: &tch::Tensor| tr.net.forward(im1, im2, false).forward.remove(0);
    let tick = |done: usize| {
        if let Some(b) = &bar {
            b.set_position(done as u64);
        }
    };
    let [video, views] = eval::evaluate(&flow, &entries, &specs, &settings, &tick)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = EvalReport {
        tracker_config: config.path.clone(),
        weights: a.weights.clone(),
        size: a.common.size,
        stride: a.stride,
        views,
        video,
    };
    super::emit(&report, a.json, |r| {
        let w = r.weights.as_ref().map_or("untrained".to_string(), |w| w.display().to_string());
        println!(
            "tracker {} ({w}), {}×{} crops, video frames {} apart",
            r.tracker_config.display(),
            r.size,
            r.size,
            r.stride
        );
        for (name, k) in [("views", &r.views), ("video", &r.video)] {
            match k {
                Some(k) => println!(
                    "{name}: {} pairs, static {:.3} px, tracked {:.3} px ({:.1} % of static)",
                    k.pairs,
                    k.static_px,
                    k.track_px,
                    100.0 * k.ratio
                ),
                None => println!("{name}: no pair"),
            }
        }
    })
}

fn run_pretrain(a: &PretrainArgs) -> Result<ExitCode> {
    check_size(a.common.size)?;
    if a.out.exists() && !a.force {
        bail!("--out {}: exists (--force replaces it)", a.out.display());
    }
    if !(0.0..=1.0).contains(&a.textures) {
        bail!("--textures {}: odds between 0 and 1", a.textures);
    }
    if a.iters == 0 || a.batch_size == 0 {
        bail!("--iters and --batch_size must be at least 1");
    }
    if !(a.lr > 0.0 && a.lr.is_finite()) {
        bail!("--lr {}: a positive learning rate", a.lr);
    }
    let device = a.common.device.resolve()?;
    let config = tracker_config(&a.common)?;
    let entries = read_lists(&a.lists, &a.maps)?;
    if !a.lists.is_empty() && entries.is_empty() {
        bail!("--lists: no line");
    }
    let threads = crate::parallel::default_threads();
    let worlds = synthetic::load_worlds(&entries, a.common.size, a.max_images, threads)?;
    let textures = if worlds.is_empty() { 1.0 } else { a.textures };
    let settings = pretrain::Settings {
        size: a.common.size as i64,
        iters: a.iters,
        batch: a.batch_size,
        lr: a.lr,
        p_texture: textures,
        motion: Motion::DEFAULT,
        seed: a.common.seed,
        device,
    };
    println!(
        "pretraining {} on {} image(s) and procedural textures (odds {textures}), {}×{} crops, \
         {} iterations of {} pairs",
        config.path.display(),
        worlds.len(),
        a.common.size,
        a.common.size,
        a.iters,
        a.batch_size
    );
    let bar = crate::train::progress::iteration_bar(a.iters, 0);
    let every = (a.iters / 10).max(1);
    let (mut sum_epe, mut sum_motion, mut n) = (0.0, 0.0, 0u64);
    let mut each = |s: &Step| -> Result<()> {
        crate::interrupt::check()?;
        sum_epe += s.epe;
        sum_motion += s.motion;
        n += 1;
        if let Some(b) = &bar {
            b.set_position(s.iter);
            b.set_message(format!("EPE {:.3} px (motion {:.2} px)", s.epe, s.motion));
        }
        if s.iter.is_multiple_of(every) || s.iter == a.iters {
            let line = format!(
                "iter {}/{}: end-point error {:.3} px over motion {:.3} px (mean of the last {n})",
                s.iter,
                a.iters,
                sum_epe / n as f64,
                sum_motion / n as f64
            );
            match &bar {
                Some(b) => b.println(line),
                None => println!("{line}"),
            }
            (sum_epe, sum_motion, n) = (0.0, 0.0, 0);
        }
        Ok(())
    };
    let tr = match pretrain::pretrain(&config, &worlds, &settings, &mut each) {
        Ok(tr) => tr,
        Err(e) if crate::interrupt::is_interrupted(&e) => {
            bar.iter().for_each(|b| b.finish_and_clear());
            bail!("interrupted: nothing written ({} untouched)", a.out.display());
        }
        Err(e) => return Err(e),
    };
    bar.iter().for_each(|b| b.finish_and_clear());
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out: cannot create {}", dir.display()))?;
    }
    weights::save(&tr.vs, &a.out)?;
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
