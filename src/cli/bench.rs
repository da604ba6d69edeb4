//! `tsal bench model`: forward and forward+backward time per image of the detector and the
//! tracker, and of the tracker's correlation alone, with FLOP rates from counted MACs.
use crate::config::{ModelConfig, TrackerConfig};
use crate::models::layers::count_macs;
use crate::models::ops::correlation;
use crate::models::{Detector, DetectorSpec, PwcLite};
use anyhow::{ensure, Result};
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
    /// [not yet implemented: issue #4] Data-loading throughput.
    Data(super::NotYet),
}

#[derive(clap::Args, Debug)]
pub struct ModelBench {
    #[arg(
        long = "model_config",
        visible_alias = "model-config",
        default_value = "configs/Detector.config"
    )]
    pub model_config: PathBuf,
    #[arg(
        long = "tracker_config",
        visible_alias = "tracker-config",
        default_value = "configs/MFDS.json"
    )]
    pub tracker_config: PathBuf,
    #[arg(long = "num_pts", visible_alias = "num-pts", default_value_t = 68)]
    pub num_pts: usize,
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
        BenchWhat::Data(_) => Ok(super::not_yet("bench data", "issue #4 (data pipeline)")),
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
    ensure!(a.size > 0 && a.size % 64 == 0, "--size {}: needs a positive multiple of 64", a.size);
    ensure!(a.batch_size > 0 && a.iters > 0, "--batch_size and --iters must be positive");
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
    let cfg = ModelConfig::load(&a.model_config)?;
    let vs = nn::VarStore::new(device);
    let det = Detector::new(&vs.root(), DetectorSpec::new(&cfg, a.num_pts)?);
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
    let tcfg = TrackerConfig::load(&a.tracker_config)?;
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
