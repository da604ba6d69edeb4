//! `tsal bench train`: frames per second of supervised training steps, teacher and student
//! stepping on every batch as `tsal train` does, fed by the real loader (the share of wall time
//! spent waiting for data is reported); the step alone on one batch repeated; with `--breakdown`
//! that step phase by phase; with `--peer` the same step in PyTorch eager
//! (`scripts/peer_train.py`) and the ratio of the two.
use super::flags;
use crate::config::limits::{self, Consumer};
use crate::config::model::InitScheme;
use crate::config::optim::{OptimizerKind, Reduction};
use crate::config::run::Consistency;
use crate::config::{ModelConfig, OptConfig};
use crate::data::batch::Batch;
use crate::data::{clip, loader};
use crate::device::DeviceChoice;
use crate::formats::list;
use crate::models::{Detector, DetectorSpec};
use crate::run::snapshot::Role;
use crate::train::groups::training_groups;
use crate::train::optim::Optimizer;
use crate::train::roles::{DetectorRole, TrackerRole};
use crate::train::round;
use crate::train::step::{supervised_step, supervised_terms};
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Device};

#[derive(clap::Args, Debug)]
pub struct TrainBench {
    /// Training lists (their labelled lines, as `tsal train` uses them), e.g.
    /// quickstart/data/lists/300W/300w.train.GTB.
    #[arg(long, num_args = 1.., required = true)]
    pub lists: Vec<PathBuf>,
    #[command(flatten)]
    pub detector: flags::DetectorConfig,
    #[command(flatten)]
    pub opt: flags::OptimizerConfig,
    #[command(flatten)]
    pub pts: flags::Points,
    /// Square crop (network input) side in pixels.
    #[arg(long, default_value_t = flags::CROP_SIDE)]
    pub size: u32,
    /// Clips per batch.
    #[arg(long = "batch_size", visible_alias = "batch-size", default_value_t = 2)]
    pub batch_size: usize,
    /// Frames per clip (the reference: 10).
    #[arg(long = "clip_frames", visible_alias = "clip-frames", default_value_t = 10)]
    pub clip_frames: usize,
    /// Loader threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Timed iterations per measurement (after `--warmup` untimed ones).
    #[arg(long, default_value_t = 10)]
    pub iters: usize,
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// auto (CUDA device 0 when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto", value_parser = clap::value_parser!(DeviceChoice))]
    pub device: DeviceChoice,
    /// Also time the full TSAL round (teacher, student and both trackers, `train::round`) on
    /// the same batch; unlabelled lines of `--lists` are then used too. Needs clips of at
    /// least 2 frames.
    #[arg(long)]
    pub round: bool,
    #[command(flatten)]
    pub tracker: flags::TrackerConfig,
    /// Detection consistency of the timed round (see `tsal train --help`).
    #[arg(long, value_enum, default_value_t = super::train::ConsistencyMode::Heatmap)]
    pub consistency: super::train::ConsistencyMode,
    /// Step the teacher alone (the supervised baseline).
    #[arg(long = "supervised_only", visible_alias = "supervised-only")]
    pub supervised_only: bool,
    /// Also time each phase of the step alone (forward, loss, backward, optimiser), here and in
    /// the peer.
    #[arg(long)]
    pub breakdown: bool,
    /// Also run the same step in PyTorch eager (`--peer_script` with `--peer_python`) and
    /// report the ratio.
    #[arg(long)]
    pub peer: bool,
    /// Python with torch for `--peer` (on a GPU machine e.g. /opt/torch/.venv/bin/python).
    #[arg(long = "peer_python", visible_alias = "peer-python", default_value = ".venv/bin/python")]
    pub peer_python: PathBuf,
    /// The peer script.
    #[arg(
        long = "peer_script",
        visible_alias = "peer-script",
        default_value = "scripts/peer_train.py"
    )]
    pub peer_script: PathBuf,
    /// Seeds the initial weights and the loader.
    #[arg(long = "rand_seed", visible_alias = "rand-seed", default_value_t = 1)]
    pub rand_seed: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Seconds per iteration of each phase of a step, summed over the roles.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Phases {
    /// Forward pass in train mode.
    pub forward_s: f64,
    /// The loss terms and reading their values back (one sync).
    pub loss_s: f64,
    /// zero_grad and backward.
    pub backward_s: f64,
    /// The optimiser step.
    pub optimizer_s: f64,
}

/// Steps on one pre-built batch, repeated: every role steps once per iteration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepTime {
    pub iters: usize,
    /// Mean over the timed iterations.
    pub seconds_per_iter: f64,
    /// Frames of the batch per second of iterations (from the mean).
    pub frames_per_s: f64,
    /// The median iteration: what the step costs when other processes take the cores during
    /// some iterations (a shared machine).
    pub median_seconds_per_iter: f64,
    /// With `--breakdown`: the phases, from a second pass of `iters` iterations.
    pub phases: Option<Phases>,
}

/// Steps fed by the loader: the wait for each batch (building it on the host and moving it to
/// the device) is timed.
#[derive(Clone, Debug, Serialize)]
pub struct PipelineTime {
    pub iters: usize,
    pub frames: usize,
    pub seconds: f64,
    pub frames_per_s: f64,
    pub wait_s: f64,
    /// `wait_s / seconds`.
    pub wait_fraction: f64,
}

/// What `scripts/peer_train.py` prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerReport {
    pub torch: String,
    pub threads: i64,
    pub device: String,
    pub step: StepTime,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub device: String,
    /// libtorch's intra-op threads (`tch::get_num_threads()`); the peer is given the same.
    pub threads: i32,
    /// Whether freed tensor memory stays in the heap ([`crate::heap::keep_freed_memory`]; the
    /// peer runs with the C library's defaults).
    pub keep_freed_memory: bool,
    pub model_config: PathBuf,
    pub stages: usize,
    pub width_div: usize,
    pub num_pts: usize,
    /// Trainable parameters of one role.
    pub parameters: usize,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub roles: Vec<&'static str>,
    pub size: u32,
    pub clips_per_batch: usize,
    pub frames_per_clip: usize,
    /// Frames of the pre-built batch (the last batch of an epoch may be smaller).
    pub frames_per_batch: usize,
    pub workers: usize,
    pub warmup: usize,
    pub pipeline: PipelineTime,
    pub step: StepTime,
    /// The full TSAL round alone on the same batch (`--round`), and its consistency mode.
    pub round: Option<StepTime>,
    pub consistency: Option<&'static str>,
    pub peer: Option<PeerReport>,
    /// tsal's step-alone frames/s over the peer's (from the means).
    pub ratio: Option<f64>,
    /// The same from the median iterations.
    pub ratio_median: Option<f64>,
}

/// One parameter group as the peer needs it: the PyTorch `state_dict` names of its tensors.
#[derive(Serialize)]
struct PeerGroup {
    name: String,
    lr_mult: f64,
    weight_decay: f64,
    params: Vec<String>,
}

/// A freshly initialised role, built as [`DetectorRole::new`] builds one without a pretrained
/// trunk, and its parameter groups for the peer.
fn build_role(
    model: &ModelConfig,
    opt: &OptConfig,
    num_pts: usize,
    role: Role,
    device: Device,
) -> Result<(DetectorRole, Vec<PeerGroup>)> {
    let vs = nn::VarStore::new(device);
    let det = Detector::with_pretrained(&vs, DetectorSpec::new(model, num_pts)?, None)?;
    let groups = training_groups(&vs, opt)?;
    let peer = groups
        .iter()
        .map(|g| PeerGroup {
            name: g.name.clone(),
            lr_mult: g.lr_mult,
            weight_decay: g.weight_decay,
            params: g.params.iter().map(|(n, _)| n.clone()).collect(),
        })
        .collect();
    let opt = Optimizer::new(opt, groups);
    Ok((DetectorRole { role, vs, det, opt }, peer))
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Labelled frames of a host batch (the reference's `annotated_num`).
fn labelled(hb: &loader::HostBatch) -> i64 {
    hb.samples.iter().flat_map(|s| &s.labelled).filter(|&&l| l).count() as i64
}

pub fn run(a: &TrainBench) -> Result<ExitCode> {
    let keep_freed_memory = crate::heap::keep_freed_memory();
    // The round runs the trackers too, whose pyramid needs a multiple of 64.
    let by = if a.round { Consumer::Tracker } else { Consumer::Detector };
    limits::side("--size", a.size as i64, by)?;
    limits::count("--batch_size", a.batch_size as i64, 100_000)?;
    limits::count("--clip_frames", a.clip_frames as i64, 1000)?;
    limits::count("--num_pts", a.pts.num_pts as i64, limits::MAX_POINTS)?;
    limits::count("--iters", a.iters as i64, 1_000_000)?;
    if a.peer {
        // Found before minutes of measuring, not after.
        ensure!(
            a.peer_script.is_file(),
            "--peer_script {}: not found (run from the repository root, or give its path)",
            a.peer_script.display()
        );
        let named = a.peer_python.components().count() > 1;
        ensure!(
            !named || a.peer_python.is_file(),
            "--peer_python {}: not found (scripts/setup.sh installs the project's .venv; on a GPU \
             machine give e.g. /opt/torch/.venv/bin/python)",
            a.peer_python.display()
        );
    }
    let device = a.device.resolve()?;
    let model = ModelConfig::load(&a.detector.model_config).context("--model_config")?;
    let opt = OptConfig::load(&a.opt.opt_config).context("--opt_config")?;

    let mut lines = Vec::new();
    for l in &a.lists {
        let entries = list::read(l, &[]).with_context(|| format!("--lists {}", l.display()))?;
        lines.extend(entries.into_iter().filter(|e| a.round || e.is_labelled()));
    }
    ensure!(
        lines.iter().any(|e| e.is_labelled()),
        "--lists: no labelled line (supervised steps need annotations)"
    );
    ensure!(
        !a.round || (a.clip_frames >= 2 && !a.supervised_only),
        "--round: the TSAL round needs --clip_frames of at least 2 and the student (no \
         --supervised_only)"
    );
    let tracker = match a.round {
        true => Some(crate::config::run::Loaded {
            path: a.tracker.tracker_config.clone(),
            config: crate::config::TrackerConfig::load(&a.tracker.tracker_config)
                .context("--tracker_config")?,
        }),
        false => None,
    };
    let (clips, _) = clip::group(&lines, a.clip_frames);
    let cfg =
        super::bench::reference_loader(a.size, a.pts.num_pts, a.batch_size, a.workers, a.rand_seed);
    let loader = loader::Loader::new(Arc::new(lines), Arc::new(clips), cfg);

    // Initial weights from libtorch's generator seeded once, the teacher first (as training).
    tch::manual_seed(a.rand_seed as i64);
    let mut which = vec![Role::Teacher];
    if !a.supervised_only {
        which.push(Role::Student);
    }
    let mut roles = Vec::new();
    let mut groups = Vec::new();
    for &r in &which {
        let (role, g) = build_role(&model, &opt, a.pts.num_pts, r, device)?;
        roles.push(role);
        groups = g;
    }

    let (pipeline, b, n_labelled) = through_loader(a, &loader, &mut roles, &opt, device)?;
    let n_frames = b.clips * b.frames;
    let times = step_alone(&mut roles, &b, n_labelled, &opt, a.warmup, a.iters, device)?;
    let phases = a.breakdown.then(|| breakdown(&mut roles, &b, n_labelled, &opt, a.iters, device));
    let round = match &tracker {
        Some(t) => {
            let tsal = crate::config::run::TsalConfig {
                consistency: a.consistency.into(),
                ..Default::default()
            };
            let settings = round::Settings {
                opt: &opt,
                tracker_loss: &t.config.loss,
                tsal: &tsal,
                num_pts: a.pts.num_pts as i64,
                radius: model.argmax as i64,
            };
            let times = round_alone(&mut roles, t, &b, n_labelled, settings, a, device)?;
            Some(step_time(times, n_frames, None))
        }
        None => None,
    };
    let step = step_time(times, n_frames, phases.transpose()?);

    let threads = tch::get_num_threads();
    let peer = if a.peer {
        let spec = serde_json::json!({
            "model": {
                "width_div": model.width_div,
                "stages": model.stages,
                "num_pts": a.pts.num_pts,
                "init": match model.init { InitScheme::Reference => "reference", InitScheme::He => "he" },
            },
            "batch": {"frames": n_frames, "size": a.size, "labelled": n_labelled},
            "criterion": match opt.criterion { Reduction::Sum => "sum", Reduction::Mean => "mean" },
            "lossnorm": opt.lossnorm,
            "optimizer": {
                "kind": match opt.optimizer { OptimizerKind::Sgd => "sgd", OptimizerKind::Adam => "adam" },
                "lr": opt.lr,
                "momentum": opt.momentum,
                "nesterov": opt.nesterov,
            },
            "groups": groups,
            "roles": roles.len(),
            "iters": a.iters,
            "warmup": a.warmup,
            "threads": threads,
            "device": match device { Device::Cuda(i) => format!("cuda:{i}"), _ => "cpu".into() },
            "breakdown": a.breakdown,
            "seed": a.rand_seed,
        });
        Some(run_peer(a, &spec)?)
    } else {
        None
    };
    let report = TrainReport {
        device: format!("{device:?}"),
        threads,
        keep_freed_memory,
        model_config: a.detector.model_config.clone(),
        stages: model.stages,
        width_div: model.width_div,
        num_pts: a.pts.num_pts,
        parameters: roles[0].vs.trainable_variables().iter().map(|t| t.numel()).sum(),
        optimizer: opt.optimizer,
        lr: opt.lr,
        roles: roles.iter().map(|r| r.role.name()).collect(),
        size: a.size,
        clips_per_batch: a.batch_size,
        frames_per_clip: a.clip_frames,
        frames_per_batch: n_frames,
        workers: a.workers,
        warmup: a.warmup,
        pipeline,
        ratio: peer.as_ref().map(|p| step.frames_per_s / p.step.frames_per_s),
        ratio_median: peer
            .as_ref()
            .map(|p| p.step.median_seconds_per_iter / step.median_seconds_per_iter),
        step,
        round,
        consistency: tracker.as_ref().map(|_| Consistency::from(a.consistency).name()),
        peer,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print(&opt);
    }
    Ok(ExitCode::SUCCESS)
}

/// The loop of `tsal train`: wait for the next batch (built on the host, moved to the device),
/// step every role on it; `--warmup` untimed batches, then `--iters` timed ones. Also returns
/// the largest batch seen and its labelled frames, for the step alone.
fn through_loader(
    a: &TrainBench,
    loader: &loader::Loader,
    roles: &mut [DetectorRole],
    opt: &OptConfig,
    device: Device,
) -> Result<(PipelineTime, Batch, i64)> {
    let (side, n_pts) = (a.size as i64, a.pts.num_pts as i64);
    let total = a.warmup + a.iters;
    let mut kept: Option<(Batch, i64)> = None;
    let (mut done, mut epoch, mut frames, mut wait) = (0, 0, 0, 0.0);
    let mut started = Instant::now();
    'epochs: loop {
        let mut batches = loader.epoch(epoch).peekable();
        ensure!(batches.peek().is_some(), "--lists: no clip to train on");
        loop {
            let t0 = Instant::now();
            let Some(hb) = batches.next() else { break };
            let hb = hb?;
            let b = Batch::from_host(&hb, side, side, n_pts, device)?;
            let waited = t0.elapsed().as_secs_f64();
            let n = labelled(&hb);
            for r in roles.iter_mut() {
                supervised_step(r, &b, n, opt, done as u64 + 1)?;
            }
            sync(device);
            done += 1;
            if done == a.warmup {
                started = Instant::now();
            } else if done > a.warmup {
                wait += waited;
                frames += b.clips * b.frames;
            }
            if kept.as_ref().is_none_or(|(k, _)| k.clips < b.clips) {
                kept = Some((b, n));
            }
            if done == total {
                break 'epochs;
            }
        }
        epoch += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (b, n) = kept.context("no batch was built")?;
    let time = PipelineTime {
        iters: a.iters,
        frames,
        seconds,
        frames_per_s: frames as f64 / seconds,
        wait_s: wait,
        wait_fraction: wait / seconds,
    };
    Ok((time, b, n))
}

/// Seconds of each of `iters` iterations of every role stepping on `b` (`labelled` frames),
/// after `warmup` untimed iterations.
fn step_alone(
    roles: &mut [DetectorRole],
    b: &Batch,
    labelled: i64,
    opt: &OptConfig,
    warmup: usize,
    iters: usize,
    device: Device,
) -> Result<Vec<f64>> {
    let mut step_all = |it: usize| -> Result<()> {
        for r in roles.iter_mut() {
            supervised_step(r, b, labelled, opt, it as u64)?;
        }
        Ok(())
    };
    for i in 0..warmup {
        step_all(i + 1)?;
    }
    sync(device);
    let mut times = Vec::with_capacity(iters);
    for i in 0..iters {
        let t = Instant::now();
        step_all(i + 1)?;
        sync(device);
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(times)
}

/// Mean and median of per-iteration `times` over batches of `frames` frames.
fn step_time(mut times: Vec<f64>, frames: usize, phases: Option<Phases>) -> StepTime {
    let iters = times.len();
    let per_iter = times.iter().sum::<f64>() / iters.max(1) as f64;
    times.sort_by(f64::total_cmp);
    let k = iters / 2;
    let median = match iters {
        0 => f64::NAN,
        n if n % 2 == 1 => times[k],
        _ => (times[k - 1] + times[k]) / 2.0,
    };
    StepTime {
        iters,
        seconds_per_iter: per_iter,
        frames_per_s: frames as f64 / per_iter,
        median_seconds_per_iter: median,
        phases,
    }
}

/// Seconds of each of `--iters` full TSAL rounds on `b` (after `--warmup` untimed ones), with
/// two trackers from `tracker` (from scratch) beside `roles` (teacher and student), the ramp
/// at 1.
fn round_alone(
    roles: &mut [DetectorRole],
    tracker: &crate::config::run::Loaded<crate::config::TrackerConfig>,
    b: &Batch,
    labelled: i64,
    settings: round::Settings,
    a: &TrainBench,
    device: Device,
) -> Result<Vec<f64>> {
    let mut trackers = Vec::new();
    for of in [Role::Teacher, Role::Student] {
        trackers.push(TrackerRole::build(tracker, settings.opt, None, of, device)?);
    }
    let mut avg = round::Averaging::new(roles, &trackers)?;
    let mut times = Vec::with_capacity(a.iters);
    for i in 0..a.warmup + a.iters {
        let t = Instant::now();
        round::round(roles, &mut trackers, &mut avg, b, labelled, settings, 1.0, i as u64 + 1)?;
        sync(device);
        if i >= a.warmup {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    Ok(times)
}

/// The phases of [`supervised_step`] timed one by one (synchronising the device between
/// them), over `iters` iterations of every role on `b`.
fn breakdown(
    roles: &mut [DetectorRole],
    b: &Batch,
    labelled: i64,
    opt: &OptConfig,
    iters: usize,
    device: Device,
) -> Result<Phases> {
    let mut p = Phases::default();
    let lap = |t: &mut Instant| {
        sync(device);
        let s = t.elapsed().as_secs_f64() / iters as f64;
        *t = Instant::now();
        s
    };
    for _ in 0..iters {
        for r in roles.iter_mut() {
            let mut t = Instant::now();
            let out = r.det.forward_t(&b.images, true);
            p.forward_s += lap(&mut t);
            let terms = supervised_terms(&out, b, labelled, opt);
            terms.values()?;
            p.loss_s += lap(&mut t);
            r.opt.zero_grad();
            terms.total.backward();
            p.backward_s += lap(&mut t);
            r.opt.step();
            p.optimizer_s += lap(&mut t);
        }
    }
    Ok(p)
}

/// Run the peer script with `spec` on its stdin; its JSON report.
fn run_peer(a: &TrainBench, spec: &serde_json::Value) -> Result<PeerReport> {
    let mut child = Command::new(&a.peer_python)
        .arg(&a.peer_script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "--peer_python {}: cannot run it (scripts/setup.sh installs the project's .venv)",
                a.peer_python.display()
            )
        })?;
    let mut stdin = child.stdin.take().context("the peer's stdin")?;
    stdin.write_all(serde_json::to_string(spec)?.as_bytes()).context("writing the peer's spec")?;
    drop(stdin);
    let out = child.wait_with_output().context("waiting for the peer")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "the PyTorch peer ({} {}) failed ({}):\n{stderr}",
        a.peer_python.display(),
        a.peer_script.display(),
        out.status
    );
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "the PyTorch peer's output is not its JSON report:\n{}{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

impl TrainReport {
    fn print(&self, opt: &OptConfig) {
        println!(
            "device {}, {} threads; {} ({} stages, widths ÷{}, {} points, {:.2} M parameters \
             per role); {:?} LR {:e} (momentum {}, nesterov {}, decay {:e}); {}",
            self.device,
            self.threads,
            self.model_config.display(),
            self.stages,
            self.width_div,
            self.num_pts,
            self.parameters as f64 / 1e6,
            self.optimizer,
            self.lr,
            opt.momentum,
            opt.nesterov,
            opt.decay,
            self.roles.join(" + ")
        );
        println!(
            "batches of {} clips × {} frames at {}², {} loader workers; {} warm-up + {} timed \
             iterations",
            self.clips_per_batch,
            self.frames_per_clip,
            self.size,
            self.workers,
            self.warmup,
            self.pipeline.iters
        );
        let p = &self.pipeline;
        println!(
            "with the loader: {:>9.2} frames/s ({} frames in {:.2} s; waited for data {:.1}% of \
             the time)",
            p.frames_per_s,
            p.frames,
            p.seconds,
            100.0 * p.wait_fraction
        );
        print_step("step alone:     ", &self.step, self.frames_per_batch);
        if let Some(peer) = &self.peer {
            print_step(
                &format!(
                    "PyTorch {} eager ({} threads, {}):",
                    peer.torch, peer.threads, peer.device
                ),
                &peer.step,
                self.frames_per_batch,
            );
        }
        if let (Some(r), Some(m)) = (self.ratio, self.ratio_median) {
            println!("tsal / PyTorch (step alone): {r:.3}× (median iterations: {m:.3}×)");
        }
        if let Some(r) = &self.round {
            print_step(
                &format!(
                    "full TSAL round ({} consistency; teacher + student + both trackers):",
                    self.consistency.unwrap_or("?")
                ),
                r,
                self.frames_per_batch,
            );
            println!(
                "  the round takes {:.2}× the time of the supervised steps of the same roles",
                r.seconds_per_iter / self.step.seconds_per_iter
            );
        }
    }
}

fn print_step(what: &str, s: &StepTime, frames: usize) {
    println!(
        "{what} {:>9.2} frames/s ({:.3} s per iteration of {frames} frames, median {:.3} s)",
        s.frames_per_s, s.seconds_per_iter, s.median_seconds_per_iter
    );
    if let Some(p) = &s.phases {
        println!(
            "  per iteration: forward {:.3} s, loss {:.3} s, backward {:.3} s, optimiser {:.3} s",
            p.forward_s, p.loss_s, p.backward_s, p.optimizer_s
        );
    }
}
