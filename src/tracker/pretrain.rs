//! `tsal tracker pretrain`: a PWC-Lite trained on pairs with exact flow ([`super::synthetic`])
//! by the end-point error, before any TSAL round. A tracker from scratch in the round learns
//! only from the census and smoothness terms and settles near zero flow; one pretrained here
//! starts out tracking. The weights keep ARFlow's names, so `tsal train --tracker_weights FILE`
//! loads them.
//!
//! Adam, its learning rate ÷10 for the last quarter of the iterations. The loss per pair, in
//! both directions: the end-point error of the full-resolution flow, plus
//! half that of the flow at 1/2 and a quarter at 1/4 (the truth averaged down and divided by the
//! factor; pixels whose flow leaves the frame left out), which speeds up the coarse levels.
use super::synthetic::{self, Motion, World};
use crate::config::optim::{GroupLr, OptimizerKind, Reduction};
use crate::config::run::Loaded;
use crate::config::{OptConfig, TrackerConfig};
use crate::losses::exact_flow::{epe, lands_inside};
use crate::run::snapshot::Role;
use crate::train::roles::TrackerRole;
use anyhow::{ensure, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// Weights of the end-point error at full resolution, 1/2 and 1/4.
pub const SCALE_WEIGHTS: [f64; 3] = [1.0, 0.5, 0.25];

/// What a pretraining run does.
#[derive(Clone, Debug)]
pub struct Settings {
    pub size: i64,
    pub iters: u64,
    pub batch: usize,
    pub lr: f64,
    /// Odds that a pair (or a layer) shows a procedural texture rather than an image.
    pub p_texture: f64,
    pub motion: Motion,
    pub seed: u64,
    pub device: Device,
}

/// The loss of flows `flows` (finest first, each in its own resolution's pixels) against the
/// exact full-resolution flow `truth`, and its full-resolution term (the end-point error).
pub fn multiscale_epe(flows: &[Tensor], truth: &Tensor) -> (Tensor, Tensor) {
    let n = truth.size()[0];
    let weight = Tensor::ones([n], (Kind::Float, truth.device()));
    let inside = lands_inside(truth);
    let full = epe(&flows[0], truth, &inside, &weight);
    let mut total = &full * SCALE_WEIGHTS[0];
    for (l, (&w, f)) in SCALE_WEIGHTS.iter().zip(flows).enumerate().skip(1) {
        let k = 1i64 << l;
        let pool = |x: &Tensor| x.avg_pool2d([k, k], [k, k], [0, 0], false, true, None);
        let mask = pool(&inside).ge(0.999).to_kind(Kind::Float);
        total += epe(f, &(pool(truth) / k as f64), &mask, &weight) * w;
    }
    (total, full)
}

/// The learning rate drops to `LR_DECAY` of itself for the last quarter of the iterations.
pub const LR_DECAY: f64 = 0.1;

/// The first iteration at the decayed learning rate.
pub fn decay_at(iters: u64) -> u64 {
    iters - iters / 4 + 1
}

/// Adam at `lr`, no decay: the optimiser of pretraining.
pub fn adam(lr: f64) -> OptConfig {
    OptConfig {
        optimizer: OptimizerKind::Adam,
        lr,
        momentum: 0.9,
        decay: 0.0,
        nesterov: false,
        criterion: Reduction::Sum,
        lossnorm: true,
        epochs: 1,
        schedule: Vec::new(),
        gamma: 1.0,
        group_lr: GroupLr::Uniform,
    }
}

/// One iteration's figures.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub iter: u64,
    /// The loss, and the full-resolution end-point error (both directions' mean), pixels.
    pub loss: f64,
    pub epe: f64,
    /// The mean magnitude of the exact flow, pixels (what the error compares with).
    pub motion: f64,
}

/// Train a fresh tracker of `config` on pairs from `worlds`; `each` sees every iteration and
/// may stop the run by returning an error (an interruption).
pub fn pretrain(
    config: &Loaded<TrackerConfig>,
    worlds: &[World],
    s: &Settings,
    each: &mut dyn FnMut(&Step) -> Result<()>,
) -> Result<TrackerRole> {
    ensure!(s.size >= 64 && s.size % 64 == 0, "--size {}: PWC-Lite needs a multiple of 64", s.size);
    tch::manual_seed(s.seed as i64);
    let mut tr = TrackerRole::build(config, &adam(s.lr), None, Role::Teacher, s.device)?;
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    for iter in 1..=s.iters {
        if iter == decay_at(s.iters) {
            tr.opt.set_base_lr(s.lr * LR_DECAY);
        }
        let b =
            synthetic::batch(&mut rng, worlds, s.p_texture, s.size, &s.motion, s.batch, s.device);
        let out = tr.net.forward(&b.im1, &b.im2, true);
        let (fw, fw_full) = multiscale_epe(&out.forward, &b.forward);
        let (bw, bw_full) = multiscale_epe(&out.backward, &b.backward);
        let loss = (fw + bw) / 2.0;
        let full = ((fw_full + bw_full) / 2.0).detach();
        let motion = b
            .forward
            .square()
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            .sqrt()
            .mean(Kind::Float);
        let v = Vec::<f64>::try_from(
            Tensor::stack(&[loss.detach(), full, motion], 0).to_kind(Kind::Double),
        )?;
        ensure!(v[0].is_finite(), "iteration {iter}: the loss is not finite ({})", v[0]);
        tr.opt.zero_grad();
        loss.backward();
        tr.opt.step();
        each(&Step { iter, loss: v[0], epe: v[1], motion: v[2] })?;
    }
    Ok(tr)
}
