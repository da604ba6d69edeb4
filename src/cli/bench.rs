//! `tsal bench model`: forward and forward+backward time per image of the detector and the
//! tracker, and of the tracker's correlation alone, with FLOP rates from counted MACs;
//! `tsal bench data`: the training loader's throughput. `tsal bench train` lives in
//! `bench_train.rs`.
use crate::codec::heatmap::REFERENCE_CUTOFF;
use crate::config::{ModelConfig, TrackerConfig};
use crate::models::layers::count_macs;
use crate::models::ops::correlation;
use crate::models::{Detector, DetectorSpec, PwcLite};
use anyhow::{ensure, Context, Result};
use rand::SeedableRng;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

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
    Train(Box<super::bench_train::TrainBench>),
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
    /// Run on the CPU even when CUDA is available.
    #[arg(long)]
    pub cpu: bool,
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
    #[arg(long, default_value_t = 10)]
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
    /// Targets below this value become 0 (the reference: 0.01, spec §4.5).
    #[arg(long = "heatmap_cutoff", visible_alias = "heatmap-cutoff", default_value_t = REFERENCE_CUTOFF)]
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

fn bench_data(a: &DataBench) -> Result<ExitCode> {
    use crate::data::{cache::ImageCache, clip, loader, sample};
    use crate::formats::list;
    use std::sync::Arc;
    crate::config::limits::side(
        "--size",
        a.size as i64,
        crate::config::limits::Consumer::Detector,
    )?;
    ensure!(
        a.frames > 0 && a.batch_size > 0 && a.batches > 0,
        "--frames, --batch_size and --batches must be positive"
    );
    let mut entries = Vec::new();
    for l in &a.lists {
        entries.extend(list::read(l, &[])?);
    }
    let (clips, stats) = clip::group(&entries, a.frames);
    ensure!(!clips.is_empty(), "the lists hold no clips");
    let mut cfg = reference_loader(a.size, 68, a.batch_size, a.workers, a.rand_seed);
    cfg.targets.cutoff = a.heatmap_cutoff;
    cfg.cache_bytes = a.cache_images.then_some(a.cache_mb << 20);
    let (entries, clips) = (Arc::new(entries), Arc::new(clips));
    let loader = loader::Loader::new(entries.clone(), clips.clone(), cfg.clone());
    let mut report = DataReport {
        clips: clips.len(),
        view_clips: stats.view_clips,
        video_clips: stats.video_clips,
        clips_per_batch: a.batch_size,
        frames_per_clip: a.frames,
        size: a.size,
        workers: a.workers,
        cache_fill_s: None,
        cache: None,
        samples: 0,
        seconds: 0.0,
        samples_per_s: 0.0,
        breakdown: Vec::new(),
    };
    let mut epoch = 0;
    if a.cache_images {
        let t0 = Instant::now();
        for b in loader.epoch(epoch) {
            b?;
        }
        epoch += 1;
        report.cache_fill_s = Some(t0.elapsed().as_secs_f64());
        report.cache = loader.cache_stats();
    }
    let t0 = Instant::now();
    let mut n = 0;
    while n < a.batches {
        for b in loader.epoch(epoch) {
            let b = b?;
            if n == 0 {
                if let Some(p) = &a.debug_png {
                    let img = crate::data::debug::render_clip(&b.samples[0], a.size, a.size, 68);
                    img.save(p).with_context(|| format!("--debug_png {}", p.display()))?;
                }
            }
            report.samples += b.samples.iter().map(|s| s.frames).sum::<usize>();
            n += 1;
            if n == a.batches {
                break;
            }
        }
        epoch += 1;
    }
    report.seconds = t0.elapsed().as_secs_f64();
    report.samples_per_s = report.samples as f64 / report.seconds;
    if a.breakdown {
        // One thread, the clips of the first batches of a fresh epoch, step by step: first
        // reading the images from disk (and filling a cache), then from that cache.
        let cache = cfg.cache_bytes.map(ImageCache::new);
        let order = loader::epoch_order(clips.len(), a.rand_seed, 0);
        let take = (a.batches * a.batch_size).min(clips.len());
        let mut passes = vec![("disk", sample::PhaseTimes::default())];
        if cache.is_some() {
            passes.push(("cache", sample::PhaseTimes::default()));
        }
        for (_, times) in passes.iter_mut() {
            for (j, &c) in order[..take].iter().enumerate() {
                let seed = loader::stream_seed(a.rand_seed, 0, j as u64);
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                let builder = sample::ClipBuilder {
                    entries: &entries,
                    aug: &cfg.aug,
                    targets: &cfg.targets,
                    cache: cache.as_ref(),
                };
                builder.build_timed(&clips[c], Some(&mut rng), times)?;
            }
        }
        for (images, t) in passes {
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3 / t.frames.max(1) as f64;
            let mut row = Breakdown {
                images,
                read_ms: ms(t.read),
                warp_ms: ms(t.warp),
                normalise_ms: ms(t.normalise),
                heatmaps_ms: ms(t.heatmaps),
                centroid_ms: ms(t.centroid),
                total_ms: 0.0,
            };
            row.total_ms =
                row.read_ms + row.warp_ms + row.normalise_ms + row.heatmaps_ms + row.centroid_ms;
            report.breakdown.push(row);
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print(a.cache_mb);
    }
    Ok(ExitCode::SUCCESS)
}

/// The training loader's settings for `tsal train`'s default flags at a square crop of `size`:
/// the reference invocation's augmentation and σ 6 with the reference cut-off (spec §2, §4.5),
/// no image cache, `clips_per_batch` clips per batch, `workers` threads, seed `seed`.
pub(super) fn reference_loader(
    size: u32,
    num_pts: usize,
    clips_per_batch: usize,
    workers: usize,
    seed: u64,
) -> crate::data::loader::LoaderConfig {
    use crate::data::{augment::AugParams, crop::CropSpec, sample::TargetParams};
    crate::data::loader::LoaderConfig {
        workers,
        seed,
        clips_per_batch,
        aug: AugParams {
            crop: CropSpec { expand: super::flags::PRE_CROP_EXPAND, width: size, height: size },
            scale_prob: 1.0,
            scale_min: 0.9,
            scale_max: 1.1,
            rotate_max: 20.0,
            crop_perturb_max: 30.0,
        },
        targets: TargetParams {
            num_pts,
            sigma: 6.0,
            shape: crate::codec::heatmap::Shape::Gaussian,
            cutoff: REFERENCE_CUTOFF,
        },
        cache_bytes: None,
        skip_bad: false,
    }
}

#[derive(Serialize)]
struct DataReport {
    clips: usize,
    view_clips: usize,
    video_clips: usize,
    clips_per_batch: usize,
    frames_per_clip: usize,
    size: u32,
    workers: usize,
    /// Seconds of the untimed epoch that filled the cache.
    cache_fill_s: Option<f64>,
    cache: Option<crate::data::cache::CacheStats>,
    samples: usize,
    seconds: f64,
    samples_per_s: f64,
    breakdown: Vec<Breakdown>,
}

/// Milliseconds per sample of each step on one thread.
#[derive(Serialize)]
struct Breakdown {
    images: &'static str,
    read_ms: f64,
    warp_ms: f64,
    normalise_ms: f64,
    heatmaps_ms: f64,
    centroid_ms: f64,
    total_ms: f64,
}

impl DataReport {
    fn print(&self, cache_mb: usize) {
        println!(
            "{} clips ({} views, {} video); batches of {} clips × {} frames at {}², {} workers",
            self.clips,
            self.view_clips,
            self.video_clips,
            self.clips_per_batch,
            self.frames_per_clip,
            self.size,
            self.workers
        );
        if let (Some(c), Some(s)) = (&self.cache, self.cache_fill_s) {
            println!(
                "cache filled by one epoch in {s:.2} s: {} frames, {:.1} MiB ({:.0} KiB per \
                 frame), {} requests not admitted (budget {cache_mb} MiB)",
                c.frames,
                c.bytes as f64 / (1 << 20) as f64,
                c.bytes as f64 / 1024.0 / c.frames.max(1) as f64,
                c.refused
            );
        }
        println!(
            "{} samples in {:.2} s: {:.0} samples/s (images {}; 69 heatmaps + centroid targets \
             each)",
            self.samples,
            self.seconds,
            self.samples_per_s,
            if self.cache.is_some() { "from the cache" } else { "decoded from disk" }
        );
        if !self.breakdown.is_empty() {
            println!("time per sample on one thread (ms):");
            println!(
                "{:<8} {:>7} {:>7} {:>9} {:>9} {:>9} {:>7} {:>9}",
                "images", "read", "warp", "normalise", "heatmaps", "centroid", "total", "samples/s"
            );
            for r in &self.breakdown {
                println!(
                    "{:<8} {:>7.3} {:>7.3} {:>9.3} {:>9.3} {:>9.3} {:>7.3} {:>9.0}",
                    r.images,
                    r.read_ms,
                    r.warp_ms,
                    r.normalise_ms,
                    r.heatmaps_ms,
                    r.centroid_ms,
                    r.total_ms,
                    1e3 / r.total_ms
                );
            }
        }
    }
}

#[derive(Serialize)]
struct Row {
    model: &'static str,
    pass: &'static str,
    batch: i64,
    size: i64,
    ms_per_iter: f64,
    images_per_s: f64,
    gflop_per_image: f64,
    tflop_per_s: f64,
}

pub fn run(a: &BenchArgs) -> Result<ExitCode> {
    match &a.what {
        BenchWhat::Model(m) => bench_model(m),
        BenchWhat::Data(d) => bench_data(d),
        BenchWhat::Train(t) => super::bench_train::run(t),
    }
}

/// Mean seconds per call of `f` over `iters` calls after `warmup`, synchronising CUDA.
fn time(device: Device, warmup: usize, iters: usize, mut f: impl FnMut()) -> f64 {
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    for _ in 0..warmup {
        f();
    }
    sync();
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    sync();
    t.elapsed().as_secs_f64() / iters as f64
}

fn bench_model(a: &ModelBench) -> Result<ExitCode> {
    use crate::config::limits;
    crate::heap::keep_freed_memory();
    limits::side("--size", a.size, limits::Consumer::Tracker)?;
    limits::count("--batch_size", a.batch_size, 4096)?;
    limits::count("--iters", a.iters as i64, 1_000_000)?;
    let device = crate::device::choose(a.cpu);
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    let (b, s) = (a.batch_size, a.size);
    let row = |model, pass, secs: f64, macs_per_image: f64, passes: f64| Row {
        model,
        pass,
        batch: b,
        size: s,
        ms_per_iter: secs * 1e3,
        images_per_s: b as f64 / secs,
        // A MAC is 2 FLOPs; backward costs about twice the forward.
        gflop_per_image: 2.0 * macs_per_image * passes / 1e9,
        tflop_per_s: 2.0 * macs_per_image * passes * b as f64 / secs / 1e12,
    };
    let mut rows = Vec::new();
    let x = Tensor::randn([b, 3, s, s], (Kind::Float, device));

    // Detector.
    let cfg = ModelConfig::load(&a.detector.model_config)?;
    let vs = nn::VarStore::new(device);
    let det = Detector::new(&vs.root(), DetectorSpec::new(&cfg, a.pts.num_pts)?);
    let macs = tch::no_grad(|| count_macs(|| det.forward_t(&x, false)).1) as f64 / b as f64;
    let fwd = time(device, a.warmup, a.iters, || {
        tch::no_grad(|| det.forward_t(&x, false));
    });
    rows.push(row("detector", "forward", fwd, macs, 1.0));
    let train = time(device, a.warmup, a.iters, || {
        let o = det.forward_t(&x, true);
        let loss = o.stages.iter().map(|t| t.square().mean(Kind::Float)).sum::<Tensor>()
            + o.centre.mean(Kind::Float)
            + o.offsets.square().mean(Kind::Float);
        loss.backward();
        for v in vs.trainable_variables() {
            let _ = v.grad().zero_();
        }
    });
    rows.push(row("detector", "fwd+bwd", train, macs, 3.0));
    drop((det, vs));

    // Tracker (both directions, as in training).
    let tcfg = TrackerConfig::load(&a.tracker.tracker_config)?;
    let vs = nn::VarStore::new(device);
    let trk = PwcLite::new(&vs.root(), &tcfg)?;
    let y = Tensor::randn([b, 3, s, s], (Kind::Float, device));
    let macs = tch::no_grad(|| count_macs(|| trk.forward(&x, &y, true)).1) as f64 / b as f64;
    let fwd = time(device, a.warmup, a.iters, || {
        tch::no_grad(|| trk.forward(&x, &y, true));
    });
    rows.push(row("tracker", "forward", fwd, macs, 1.0));
    let train = time(device, a.warmup, a.iters, || {
        let o = trk.forward(&x, &y, true);
        let loss =
            o.forward.iter().chain(&o.backward).map(|f| f.abs().mean(Kind::Float)).sum::<Tensor>();
        loss.backward();
        for v in vs.trainable_variables() {
            let _ = v.grad().zero_();
        }
    });
    rows.push(row("tracker", "fwd+bwd", train, macs, 3.0));

    // The correlation alone at its finest level (32 channels at input/4).
    let (c1, c2) = (
        Tensor::randn([b, 32, s / 4, s / 4], (Kind::Float, device)),
        Tensor::randn([b, 32, s / 4, s / 4], (Kind::Float, device)),
    );
    let macs = (81 * 32 * (s / 4) * (s / 4)) as f64;
    let corr = time(device, a.warmup, a.iters, || {
        let _ = tch::no_grad(|| correlation(&c1, &c2, 4));
    });
    rows.push(row("correlation", "forward", corr, macs, 1.0));

    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"device": format!("{device:?}"), "rows": rows})
            )?
        );
    } else {
        println!("device {device:?}, batch {b}, {s}×{s}, {} timed iterations", a.iters);
        println!(
            "{:<12} {:<8} {:>10} {:>10} {:>10} {:>9}",
            "model", "pass", "ms/iter", "img/s", "GFLOP/img", "TFLOP/s"
        );
        for r in &rows {
            println!(
                "{:<12} {:<8} {:>10.2} {:>10.1} {:>10.2} {:>9.3}",
                r.model, r.pass, r.ms_per_iter, r.images_per_s, r.gflop_per_image, r.tflop_per_s
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
