//! `tsal bench train`: frames per second of supervised training steps, teacher and student
//! stepping on every batch as `tsal train` does, fed by the real loader (the share of wall time
//! spent waiting for data is reported); the step alone on one batch repeated; with
//! `breakdown` that step phase by phase; with `round` the full TSAL round on the same batch;
//! with a [`peer::Peer`] the same step in PyTorch eager and the ratio of the two.
use super::peer::{self, Peer, PeerGroup, PeerReport};
use super::timing::{step_time, sync, Phases, StepTime};
use crate::config::limits::{self, Consumer};
use crate::config::optim::OptimizerKind;
use crate::config::run::Consistency;
use crate::config::{ModelConfig, OptConfig};
use crate::data::batch::Batch;
use crate::data::{clip, loader};
use crate::device::DeviceChoice;
use crate::formats::list;
use crate::models::precision::{self, Precision};
use crate::models::{Detector, DetectorSpec};
use crate::run::snapshot::Role;
use crate::train::groups::training_groups;
use crate::train::laps::Laps;
use crate::train::optim::Optimizer;
use crate::train::roles::{DetectorRole, TrackerRole};
use crate::train::round;
use crate::train::step::{supervised_step, supervised_terms};
use anyhow::{ensure, Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Device};

/// What to measure (the flags of `tsal bench train`).
pub struct TrainSettings {
    /// Training lists (their labelled lines; with `round` every line).
    pub lists: Vec<PathBuf>,
    pub model_config: PathBuf,
    pub opt_config: PathBuf,
    pub tracker_config: PathBuf,
    pub num_pts: usize,
    /// Square crop side.
    pub size: u32,
    /// Clips per batch.
    pub batch_size: usize,
    pub clip_frames: usize,
    pub workers: usize,
    pub iters: usize,
    pub warmup: usize,
    pub device: DeviceChoice,
    /// Also time the full TSAL round on the same batch.
    pub round: bool,
    /// The round's detection consistency.
    pub consistency: Consistency,
    /// Step the teacher alone.
    pub supervised_only: bool,
    /// Also time each phase of the step alone.
    pub breakdown: bool,
    /// Also run the same step in PyTorch eager.
    pub peer: Option<Peer>,
    pub rand_seed: u64,
    /// The arithmetic of every role's forwards.
    pub precision: Precision,
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

#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub device: String,
    pub precision: Precision,
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
    /// With `breakdown`: seconds per round of each of its phases, from a second pass of `iters`
    /// rounds timed phase by phase.
    pub round_phases: Option<Vec<Phase>>,
    /// With `breakdown`, where the two tracker steps ran at once on their own threads: each
    /// thread's phases (`tracker_teacher: tracker forwards`, …), within the round's phase
    /// `tracker steps (both at once)` and overlapping one another.
    pub round_thread_phases: Option<Vec<Phase>>,
    /// The round against the supervised steps of the same roles, measured alternately (one
    /// supervised step of every role, one round, `iters` times), so that a machine whose speed
    /// drifts weighs on both alike.
    pub round_vs_supervised: Option<Alternated>,
    pub consistency: Option<&'static str>,
    pub peer: Option<PeerReport>,
    /// The optimiser's momentum, Nesterov and weight decay (printed beside the LR).
    #[serde(skip)]
    opt: (f64, bool, f64),
    /// tsal's step-alone frames/s over the peer's (from the means).
    pub ratio: Option<f64>,
    /// The same from the median iterations.
    pub ratio_median: Option<f64>,
}

/// A freshly initialised role, built as [`DetectorRole::new`] builds one without a pretrained
/// trunk, and its parameter groups for the peer.
fn build_role(
    model: &ModelConfig,
    opt: &OptConfig,
    num_pts: usize,
    role: Role,
    device: Device,
    precision: Precision,
) -> Result<(DetectorRole, Vec<PeerGroup>)> {
    let vs = nn::VarStore::new(device);
    let det = Detector::with_pretrained(&vs, DetectorSpec::new(model, num_pts)?, None)?;
    crate::models::layout::vars_channels_last(&vs);
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
    Ok((DetectorRole { role, vs, det, opt, precision }, peer))
}

/// Labelled frames of a host batch (the reference's `annotated_num`).
fn labelled(hb: &loader::HostBatch) -> i64 {
    hb.samples.iter().flat_map(|s| &s.labelled).filter(|&&l| l).count() as i64
}

/// Build the roles, time the steps through the loader and alone (and the round, and the
/// peer, when asked).
pub fn run(a: &TrainSettings) -> Result<TrainReport> {
    let keep_freed_memory = crate::heap::keep_freed_memory();
    // The round runs the trackers too, whose pyramid needs a multiple of 64.
    let by = if a.round { Consumer::Tracker } else { Consumer::Detector };
    limits::side("--size", a.size as i64, by)?;
    for (flag, n, max) in [
        ("--batch_size", a.batch_size, 100_000),
        ("--clip_frames", a.clip_frames, 1000),
        ("--num_pts", a.num_pts, limits::MAX_POINTS as usize),
        ("--iters", a.iters, 1_000_000),
    ] {
        limits::count(flag, n as i64, max as i64)?;
    }
    if let Some(p) = &a.peer {
        // Found before minutes of measuring, not after.
        p.check()?;
        anyhow::ensure!(
            a.precision == Precision::Fp32,
            "--peer runs PyTorch's step in fp32: compare it with --precision fp32"
        );
    }
    let device = a.device.resolve()?;
    precision::check(device, a.precision, precision::cpu_bf16())?;
    let model = ModelConfig::load(&a.model_config).context("--model_config")?;
    let opt = OptConfig::load(&a.opt_config).context("--opt_config")?;

    let lines = read_lines(a)?;
    let tracker = match a.round {
        true => Some(crate::config::run::Loaded {
            path: a.tracker_config.clone(),
            config: crate::config::TrackerConfig::load(&a.tracker_config)
                .context("--tracker_config")?,
        }),
        false => None,
    };
    let (clips, _) = clip::group(&lines, a.clip_frames);
    let cfg = crate::config::run::reference_loader(
        a.size,
        a.num_pts,
        a.batch_size,
        a.workers,
        a.rand_seed,
    );
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
        let (role, g) = build_role(&model, &opt, a.num_pts, r, device, a.precision)?;
        roles.push(role);
        groups = g;
    }

    let (pipeline, b, n_labelled) = through_loader(a, &loader, &mut roles, &opt, device)?;
    let n_frames = b.clips * b.frames;
    let times = step_alone(&mut roles, &b, n_labelled, &opt, a.warmup, a.iters, device)?;
    let phases = a.breakdown.then(|| breakdown(&mut roles, &b, n_labelled, &opt, a.iters, device));
    let mut round_phases = None;
    let mut round_thread_phases = None;
    let mut round_vs_supervised = None;
    let round = match &tracker {
        Some(t) => {
            let tsal =
                crate::config::run::TsalConfig { consistency: a.consistency, ..Default::default() };
            let settings = round::Settings {
                opt: &opt,
                tracker_loss: &t.config.loss,
                tsal: &tsal,
                num_pts: a.num_pts as i64,
                radius: model.argmax as i64,
                align_video: false,
                landmarks: false,
            };
            let (times, alternated, phases) =
                round_alone(&mut roles, t, &b, n_labelled, settings, a, device)?;
            round_vs_supervised = Some(alternated);
            if let Some((own, threads)) = phases {
                round_phases = Some(own);
                round_thread_phases = (!threads.is_empty()).then_some(threads);
            }
            Some(step_time(times, n_frames, None))
        }
        None => None,
    };
    let step = step_time(times, n_frames, phases.transpose()?);

    let threads = tch::get_num_threads();
    let peer = match &a.peer {
        Some(p) => {
            let batch = peer::BatchShape { frames: n_frames, size: a.size, labelled: n_labelled };
            let spec = peer::spec(&model, &opt, a.num_pts, batch, &groups, roles.len(), a, threads);
            Some(p.run(&spec)?)
        }
        None => None,
    };
    let report = TrainReport {
        device: format!("{device:?}"),
        precision: a.precision,
        threads,
        keep_freed_memory,
        model_config: a.model_config.clone(),
        stages: model.stages,
        width_div: model.width_div,
        num_pts: a.num_pts,
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
        round_phases,
        round_thread_phases,
        round_vs_supervised,
        consistency: tracker.as_ref().map(|_| a.consistency.name()),
        peer,
        opt: (opt.momentum, opt.nesterov, opt.decay),
    };
    Ok(report)
}

/// The lines of the lists the steps train on: the labelled ones (every one for the round),
/// checked for what the steps need.
fn read_lines(a: &TrainSettings) -> Result<Vec<list::ListEntry>> {
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
    Ok(lines)
}

/// The loop of `tsal train`: wait for the next batch (built on the host, moved to the device),
/// step every role on it; `--warmup` untimed batches, then `--iters` timed ones. Also returns
/// the largest batch seen and its labelled frames, for the step alone.
fn through_loader(
    a: &TrainSettings,
    loader: &loader::Loader,
    roles: &mut [DetectorRole],
    opt: &OptConfig,
    device: Device,
) -> Result<(PipelineTime, Batch, i64)> {
    let (side, n_pts) = (a.size as i64, a.num_pts as i64);
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

/// Rounds and supervised steps timed alternately on the same batch.
#[derive(Clone, Debug, Serialize)]
pub struct Alternated {
    pub pairs: usize,
    /// Mean seconds of a supervised step of every role, and of a round.
    pub supervised_s: f64,
    pub round_s: f64,
    /// `round_s / supervised_s`.
    pub ratio: f64,
    /// The smallest and largest ratio of one round to the supervised step just before it.
    pub pair_min: f64,
    pub pair_max: f64,
}

/// One phase of a round and its seconds per round.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    pub phase: String,
    pub seconds: f64,
}

/// The round's own phases and those of the threads it started ([`TrainReport`]'s
/// `round_phases`, `round_thread_phases`).
type RoundPhases = (Vec<Phase>, Vec<Phase>);

/// Seconds of each of `--iters` full TSAL rounds on `b` (after `--warmup` untimed ones), with
/// two trackers from `tracker` (from scratch) beside `roles` (teacher and student), the ramp
/// at 1; each round follows a supervised step of every role, timed too ([`Alternated`]).
fn round_alone(
    roles: &mut [DetectorRole],
    tracker: &crate::config::run::Loaded<crate::config::TrackerConfig>,
    b: &Batch,
    labelled: i64,
    settings: round::Settings,
    a: &TrainSettings,
    device: Device,
) -> Result<(Vec<f64>, Alternated, Option<RoundPhases>)> {
    let mut trackers = Vec::new();
    for of in [Role::Teacher, Role::Student] {
        let mut t = TrackerRole::build(tracker, settings.opt, None, of, device)?;
        t.precision = a.precision;
        trackers.push(t);
    }
    let mut avg = round::Averaging::new(roles, &trackers)?;
    for i in 0..a.warmup {
        round::round(roles, &mut trackers, &mut avg, b, labelled, settings, 1.0, i as u64 + 1)?;
    }
    sync(device);
    // Alternately: a supervised step of every role, then a round (whose times are the round's).
    let (mut sup, mut rounds) = (Vec::with_capacity(a.iters), Vec::with_capacity(a.iters));
    for i in 0..a.iters {
        let it = (a.warmup + i) as u64 + 1;
        let t = Instant::now();
        for r in roles.iter_mut() {
            supervised_step(r, b, labelled, settings.opt, it)?;
        }
        sync(device);
        sup.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        round::round(roles, &mut trackers, &mut avg, b, labelled, settings, 1.0, it)?;
        sync(device);
        rounds.push(t.elapsed().as_secs_f64());
    }
    let per_pair: Vec<f64> = rounds.iter().zip(&sup).map(|(r, s)| r / s).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let alternated = Alternated {
        pairs: a.iters,
        supervised_s: mean(&sup),
        round_s: mean(&rounds),
        ratio: mean(&rounds) / mean(&sup),
        pair_min: per_pair.iter().copied().fold(f64::INFINITY, f64::min),
        pair_max: per_pair.iter().copied().fold(0.0, f64::max),
    };
    if !a.breakdown {
        return Ok((rounds, alternated, None));
    }
    let mut laps = Laps::on(device);
    for i in 0..a.iters {
        let it = (a.warmup + a.iters + i) as u64 + 1;
        round::round_timed(
            roles,
            &mut trackers,
            &mut avg,
            b,
            labelled,
            settings,
            1.0,
            it,
            &mut laps,
        )?;
    }
    let per_round = |(phase, s): (String, f64)| Phase { phase, seconds: s / a.iters as f64 };
    let own = laps.phases.into_iter().map(per_round).collect();
    Ok((rounds, alternated, Some((own, laps.within.into_iter().map(per_round).collect()))))
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
            let out = r.forward(&b.images, true);
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

impl TrainReport {
    pub fn print(&self) {
        let (momentum, nesterov, decay) = self.opt;
        println!(
            "device {}, {} threads, {}; {} ({} stages, widths ÷{}, {} points, {:.2} M parameters \
             per role); {:?} LR {:e} (momentum {}, nesterov {}, decay {:e}); {}",
            self.device,
            self.threads,
            self.precision.name(),
            self.model_config.display(),
            self.stages,
            self.width_div,
            self.num_pts,
            self.parameters as f64 / 1e6,
            self.optimizer,
            self.lr,
            momentum,
            nesterov,
            decay,
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
            if let Some(x) = &self.round_vs_supervised {
                println!(
                    "  the round takes {:.2}× the time of the supervised steps of the same roles \
                     ({} of each alternated, {:.3} s against {:.3} s; one round against the \
                     step before it: {:.2}–{:.2}×)",
                    x.ratio, x.pairs, x.round_s, x.supervised_s, x.pair_min, x.pair_max
                );
            }
            if let Some(phases) = &self.round_phases {
                let sum: f64 = phases.iter().map(|p| p.seconds).sum();
                println!("  per round, phase by phase ({sum:.3} s in all):");
                for p in phases {
                    let share = 100.0 * p.seconds / sum;
                    println!("    {:<32} {:>8.4} s {share:>5.1} %", p.phase, p.seconds);
                }
            }
            if let Some(phases) = &self.round_thread_phases {
                println!(
                    "  within \"tracker steps (both at once)\", each tracker on its own thread:"
                );
                for p in phases {
                    println!("    {:<48} {:>8.4} s", p.phase, p.seconds);
                }
            }
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
