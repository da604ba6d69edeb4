//! `tsal bench model`: forward and forward+backward time per image of the detector and the
//! tracker, and of the tracker's correlation alone, with FLOP rates from counted MACs.
use super::timing::time;
use crate::config::limits;
use crate::config::{ModelConfig, TrackerConfig};
use crate::models::layers::count_macs;
use crate::models::ops::correlation;
use crate::models::precision::{self, autocast, Precision};
use crate::models::{Detector, DetectorSpec, PwcLite};
use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;
use tch::{nn, Device, Kind, Tensor};

/// What to measure.
pub struct ModelSettings {
    pub model_config: PathBuf,
    pub tracker_config: PathBuf,
    pub num_pts: usize,
    /// Images per batch (tracker: frame pairs).
    pub batch_size: i64,
    /// Square input side (a multiple of 64).
    pub size: i64,
    pub iters: usize,
    pub warmup: usize,
    pub device: Device,
    /// The detector and the tracker are timed in each (the correlation in fp32 only).
    pub precisions: Vec<Precision>,
}

#[derive(Serialize)]
pub struct Row {
    pub model: &'static str,
    pub pass: &'static str,
    pub precision: &'static str,
    pub batch: i64,
    pub size: i64,
    pub ms_per_iter: f64,
    pub images_per_s: f64,
    pub gflop_per_image: f64,
    pub tflop_per_s: f64,
}

#[derive(Serialize)]
pub struct ModelReport {
    pub device: String,
    pub rows: Vec<Row>,
    #[serde(skip)]
    iters: usize,
}

/// Time the detector, the tracker and the correlation.
pub fn run(a: &ModelSettings) -> Result<ModelReport> {
    crate::heap::keep_freed_memory();
    limits::side("--size", a.size, limits::Consumer::Tracker)?;
    limits::count("--batch_size", a.batch_size, 4096)?;
    limits::count("--iters", a.iters as i64, 1_000_000)?;
    let device = a.device;
    for &p in &a.precisions {
        precision::check(device, p, precision::cpu_bf16())?;
    }
    if device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    let (b, s) = (a.batch_size, a.size);
    let row = |model, pass, p: Precision, secs: f64, macs_per_image: f64, passes: f64| Row {
        model,
        pass,
        precision: p.name(),
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
    crate::models::layout::vars_channels_last(&vs);
    let macs = tch::no_grad(|| count_macs(|| det.forward_t(&x, false)).1) as f64 / b as f64;
    for &p in &a.precisions {
        let fwd = time(device, a.warmup, a.iters, || {
            tch::no_grad(|| autocast(device, p, || det.forward_t(&x, false)));
        });
        rows.push(row("detector", "forward", p, fwd, macs, 1.0));
        let train = time(device, a.warmup, a.iters, || {
            let o = autocast(device, p, || det.forward_t(&x, true));
            let f = |t: &Tensor| t.to_kind(Kind::Float);
            let loss = o.stages.iter().map(|t| f(t).square().mean(Kind::Float)).sum::<Tensor>()
                + f(&o.centre).mean(Kind::Float)
                + f(&o.offsets).square().mean(Kind::Float);
            loss.backward();
            for v in vs.trainable_variables() {
                let _ = v.grad().zero_();
            }
        });
        rows.push(row("detector", "fwd+bwd", p, train, macs, 3.0));
    }
    drop((det, vs));

    // Tracker (both directions, as in training).
    let tcfg = TrackerConfig::load(&a.tracker_config)?;
    let vs = nn::VarStore::new(device);
    let trk = PwcLite::new(&vs.root(), &tcfg)?;
    crate::models::layout::vars_channels_last(&vs);
    let y = Tensor::randn([b, 3, s, s], (Kind::Float, device));
    let macs = tch::no_grad(|| count_macs(|| trk.forward(&x, &y, true)).1) as f64 / b as f64;
    for &p in &a.precisions {
        let fwd = time(device, a.warmup, a.iters, || {
            tch::no_grad(|| autocast(device, p, || trk.forward(&x, &y, true)));
        });
        rows.push(row("tracker", "forward", p, fwd, macs, 1.0));
        let train = time(device, a.warmup, a.iters, || {
            let o = autocast(device, p, || trk.forward(&x, &y, true));
            let loss = o
                .forward
                .iter()
                .chain(&o.backward)
                .map(|f| f.to_kind(Kind::Float).abs().mean(Kind::Float))
                .sum::<Tensor>();
            loss.backward();
            for v in vs.trainable_variables() {
                let _ = v.grad().zero_();
            }
        });
        rows.push(row("tracker", "fwd+bwd", p, train, macs, 3.0));
    }

    // The correlation alone at its finest level (32 channels at input/4).
    let (c1, c2) = (
        Tensor::randn([b, 32, s / 4, s / 4], (Kind::Float, device)),
        Tensor::randn([b, 32, s / 4, s / 4], (Kind::Float, device)),
    );
    let macs = (81 * 32 * (s / 4) * (s / 4)) as f64;
    let corr = time(device, a.warmup, a.iters, || {
        let _ = tch::no_grad(|| correlation(&c1, &c2, 4));
    });
    rows.push(row("correlation", "forward", Precision::Fp32, corr, macs, 1.0));

    Ok(ModelReport { device: format!("{device:?}"), rows, iters: a.iters })
}

impl ModelReport {
    pub fn print(&self) {
        let (b, s) = self.rows.first().map_or((0, 0), |r| (r.batch, r.size));
        let device = &self.device;
        println!("device {device}, batch {b}, {s}×{s}, {} timed iterations", self.iters);
        println!(
            "{:<12} {:<8} {:<9} {:>10} {:>10} {:>10} {:>9}",
            "model", "pass", "precision", "ms/iter", "img/s", "GFLOP/img", "TFLOP/s"
        );
        for r in &self.rows {
            println!(
                "{:<12} {:<8} {:<9} {:>10.2} {:>10.1} {:>10.2} {:>9.3}",
                r.model,
                r.pass,
                r.precision,
                r.ms_per_iter,
                r.images_per_s,
                r.gflop_per_image,
                r.tflop_per_s
            );
        }
    }
}
