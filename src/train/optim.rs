//! The optimiser: SGD (momentum, Nesterov) and Adam over parameter groups, with its whole state
//! as named tensors so a run can be saved and resumed exactly (tch's libtorch optimisers keep
//! their state out of reach).
//!
//! Semantics are those of `torch.optim.SGD(lr, momentum, dampening=0, weight_decay, nesterov)`
//! and `torch.optim.Adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay, amsgrad=False)` with
//! per-group LR and weight decay (the reference's `lib/optimizer/opt_utils.py:9-37`), step for
//! step: the same update order, the same lazily initialised momentum buffer (= the first
//! decayed gradient), per-parameter step counts, parameters without a gradient skipped, and
//! `zero_grad` setting gradients to none.
//!
//! tch 0.24 does not expose libtorch's fused multi-tensor kernels (`_foreach_*`, `_fused_sgd_`,
//! `_fused_adam_` are excluded by its generator), so each parameter costs a handful of
//! element-wise kernels, as in PyTorch's `foreach=False` path (its default on the CPU), and
//! fewer of them: SGD with Nesterov momentum and decay four (PyTorch five), Adam six or seven
//! (PyTorch seven or eight). Where PyTorch passes a scalar factor that tch cannot
//! (`add(…, alpha)`, `addcmul(…, value)`, `addcdiv(…, value)`), the factor is a 0-d tensor
//! operand of `addcmul` / `addcdiv`, and Adam folds its step size into the denominator; each
//! such change rounds differently from PyTorch by at most a few ulp of the update
//! (tests/optim.rs: ≤ 3e-7 after five steps).
use super::abbreviate;
use super::groups::ParamGroup;
use crate::config::optim::{OptConfig, OptimizerKind};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, HashSet};
use tch::{COptimizer, Device, Kind, Tensor};

/// Adam's moment decay rates and denominator epsilon: PyTorch's defaults, which the reference
/// used (`lib/optimizer/opt_utils.py:9-37`: `Adam(lr, amsgrad=False)`).
pub const ADAM_BETAS: (f64, f64) = (0.9, 0.999);
pub const ADAM_EPS: f64 = 1e-8;

/// The update rule and its hyper-parameters.
#[derive(Clone, Copy, Debug)]
enum Method {
    Sgd { momentum: f64, nesterov: bool },
    Adam { beta1: f64, beta2: f64, eps: f64 },
}

impl Method {
    /// Prefixes of the per-parameter state tensors, in the order of [`Param::state`].
    fn buffers(self) -> &'static [&'static str] {
        match self {
            Method::Sgd { momentum: 0.0, .. } => &[],
            Method::Sgd { .. } => &["momentum_buffer"],
            Method::Adam { .. } => &["exp_avg", "exp_avg_sq"],
        }
    }
}

/// One parameter and its state.
#[derive(Debug)]
struct Param {
    name: String,
    tensor: Tensor,
    /// Updates this parameter received (PyTorch's per-parameter `state[p]["step"]`).
    step: i64,
    /// One tensor per [`Method::buffers`] entry, shaped like the parameter, on its device.
    state: Vec<Tensor>,
}

#[derive(Debug)]
struct Group {
    name: String,
    lr_mult: f64,
    weight_decay: f64,
    params: Vec<Param>,
}

/// SGD or Adam over parameter groups, owning its state as tensors on the parameters' device.
#[derive(Debug)]
pub struct Optimizer {
    method: Method,
    base_lr: f64,
    groups: Vec<Group>,
    /// Calls of [`Optimizer::step`].
    steps: i64,
    /// A libtorch optimiser that is never stepped: only its `zero_grad`, which sets gradients
    /// to none like PyTorch's (tch's `Tensor::zero_grad` can only fill them with zeros).
    grad_clearer: COptimizer,
}

impl Optimizer {
    /// An optimiser for `cfg.optimizer` over `groups`, at base LR `cfg.lr`. The groups' own
    /// weight decays apply (`cfg.decay` is what [`super::groups::detector_groups`] puts in the
    /// weight groups). For SGD with momentum 0 there is no momentum buffer and `nesterov` has
    /// no effect (PyTorch refuses that combination; its update would be plain SGD).
    ///
    /// Panics when two parameters share a name: names key the saved state (a programming error;
    /// [`super::groups::detector_groups`] never does it).
    pub fn new(cfg: &OptConfig, groups: Vec<ParamGroup>) -> Self {
        let method = match cfg.optimizer {
            OptimizerKind::Sgd => Method::Sgd { momentum: cfg.momentum, nesterov: cfg.nesterov },
            OptimizerKind::Adam => {
                Method::Adam { beta1: ADAM_BETAS.0, beta2: ADAM_BETAS.1, eps: ADAM_EPS }
            }
        };
        let mut grad_clearer = COptimizer::sgd(0.0, 0.0, 0.0, 0.0, false)
            .expect("libtorch SGD with constant hyper-parameters");
        let mut seen = HashSet::new();
        let groups = groups
            .into_iter()
            .map(|g| {
                let params = g
                    .params
                    .into_iter()
                    .map(|(name, tensor)| {
                        assert!(seen.insert(name.clone()), "parameter `{name}` in two groups");
                        grad_clearer
                            .add_parameters(&tensor, 0)
                            .expect("adding a parameter to a libtorch optimiser");
                        let state = method
                            .buffers()
                            .iter()
                            .map(|_| tch::no_grad(|| tensor.zeros_like()))
                            .collect();
                        Param { name, tensor, step: 0, state }
                    })
                    .collect();
                Group { name: g.name, lr_mult: g.lr_mult, weight_decay: g.weight_decay, params }
            })
            .collect();
        Self { method, base_lr: cfg.lr, groups, steps: 0, grad_clearer }
    }

    /// Each group's LR = base × its multiplier. Call it every epoch with the schedule's value.
    pub fn set_base_lr(&mut self, base: f64) {
        self.base_lr = base;
    }

    /// The current base LR.
    pub fn base_lr(&self) -> f64 {
        self.base_lr
    }

    /// Calls of [`Self::step`] so far (restored by [`Self::load_state`]).
    pub fn steps(&self) -> i64 {
        self.steps
    }

    /// (group name, LR) in group order.
    pub fn group_lrs(&self) -> Vec<(String, f64)> {
        self.groups.iter().map(|g| (g.name.clone(), self.base_lr * g.lr_mult)).collect()
    }

    /// One line per group like the reference log: name, number of tensors and parameters, LR,
    /// weight decay.
    pub fn describe(&self) -> Vec<String> {
        self.groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let n: usize = g.params.iter().map(|p| p.tensor.numel()).sum();
                format!(
                    "group {i} {}: {} tensors, {n} parameters, lr {:.3e} (x{}), weight decay {:.1e}",
                    g.name,
                    g.params.len(),
                    self.base_lr * g.lr_mult,
                    g.lr_mult,
                    g.weight_decay
                )
            })
            .collect()
    }

    /// Set every parameter's gradient to none (PyTorch's `zero_grad(set_to_none=True)`), so a
    /// parameter the next backward pass does not reach is skipped by [`Self::step`].
    pub fn zero_grad(&mut self) {
        // libtorch's Optimizer::zero_grad only detaches and resets defined gradients.
        self.grad_clearer.zero_grad().expect("libtorch zero_grad");
    }

    /// One update from the current `.grad()` of every parameter (under no_grad); parameters
    /// without a gradient are skipped and keep their state and step count.
    pub fn step(&mut self) {
        let method = self.method;
        let base = self.base_lr;
        let mut k = Scalars::default();
        tch::no_grad(|| {
            for g in &mut self.groups {
                let lr = base * g.lr_mult;
                for p in &mut g.params {
                    let grad = p.tensor.grad();
                    if !grad.defined() {
                        continue;
                    }
                    let wd = g.weight_decay;
                    match method {
                        Method::Sgd { momentum, nesterov } => {
                            sgd_update(p, &grad, lr, wd, momentum, nesterov, &mut k)
                        }
                        Method::Adam { beta1, beta2, eps } => {
                            adam_update(p, &grad, lr, wd, (beta1, beta2), eps, &mut k)
                        }
                    }
                }
            }
        });
        self.steps += 1;
    }

    /// The whole state as named tensors, copied to the CPU (contiguous, independent of later
    /// steps), ready for a safetensors file: `step` (i64 scalar, calls of `step()`), and per
    /// parameter `step/NAME` (i64 scalar, its update count) plus `momentum_buffer/NAME` (SGD
    /// with momentum) or `exp_avg/NAME` and `exp_avg_sq/NAME` (Adam), shaped like the
    /// parameter. Parameter order, group by group.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let cpu = |t: &Tensor| {
            let mut out = Tensor::empty(t.size(), (t.kind(), Device::Cpu));
            tch::no_grad(|| out.copy_(t));
            out
        };
        let mut out = vec![("step".to_string(), Tensor::from(self.steps))];
        for p in self.groups.iter().flat_map(|g| &g.params) {
            out.push((format!("step/{}", p.name), Tensor::from(p.step)));
            for (prefix, t) in self.method.buffers().iter().zip(&p.state) {
                out.push((format!("{prefix}/{}", p.name), cpu(t)));
            }
        }
        out
    }

    /// Restore what [`Self::state`] returned (from any device). A missing, extra or mis-shaped
    /// (or mis-typed) entry is an error naming it; on error nothing is changed.
    pub fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        let kind_name = match self.method {
            Method::Sgd { .. } => "SGD",
            Method::Adam { .. } => "Adam",
        };
        let scalar = |name: &str, t: &Tensor| -> std::result::Result<i64, String> {
            if t.kind() != Kind::Int64 || t.dim() != 0 {
                return Err(format!(
                    "{name} (expected an int64 scalar, found {:?} {:?})",
                    t.kind(),
                    t.size()
                ));
            }
            let v = t.int64_value(&[]);
            if v < 0 {
                return Err(format!("{name} (negative step count {v})"));
            }
            Ok(v)
        };
        let mut expected = HashSet::new();
        let mut missing = Vec::new();
        let mut bad = Vec::new();
        let mut check = |name: String, like: Option<&Tensor>| {
            match (state.get(&name), like) {
                (None, _) => missing.push(name.clone()),
                (Some(t), None) => {
                    if let Err(e) = scalar(&name, t) {
                        bad.push(e)
                    }
                }
                (Some(t), Some(p)) => {
                    if t.size() != p.size() || t.kind() != p.kind() {
                        bad.push(format!(
                            "{name} (expected {:?} {:?}, found {:?} {:?})",
                            p.kind(),
                            p.size(),
                            t.kind(),
                            t.size()
                        ))
                    }
                }
            }
            expected.insert(name);
        };
        check("step".to_string(), None);
        for p in self.groups.iter().flat_map(|g| &g.params) {
            check(format!("step/{}", p.name), None);
            for prefix in self.method.buffers() {
                check(format!("{prefix}/{}", p.name), Some(&p.tensor));
            }
        }
        let extra: Vec<String> = state.keys().filter(|k| !expected.contains(*k)).cloned().collect();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("{} missing: {}", missing.len(), abbreviate(&missing)));
        }
        if !bad.is_empty() {
            problems.push(format!("{} mis-shaped: {}", bad.len(), abbreviate(&bad)));
        }
        if !extra.is_empty() {
            problems.push(format!("{} unexpected: {}", extra.len(), abbreviate(&extra)));
        }
        if !problems.is_empty() {
            let n: usize = self.groups.iter().map(|g| g.params.len()).sum();
            bail!(
                "optimizer state does not fit this {kind_name} optimizer over {n} parameters: {}",
                problems.join("; ")
            );
        }
        // Validated: now copy (scalar() cannot fail any more).
        let get = |name: &str| &state[name];
        self.steps = get("step").int64_value(&[]);
        let buffers = self.method.buffers();
        tch::no_grad(|| {
            for p in self.groups.iter_mut().flat_map(|g| &mut g.params) {
                p.step = get(&format!("step/{}", p.name)).int64_value(&[]);
                for (prefix, t) in buffers.iter().zip(&mut p.state) {
                    t.copy_(get(&format!("{prefix}/{}", p.name)));
                }
            }
        });
        Ok(())
    }
}

/// The scalar factors of one [`Optimizer::step`] as 0-d tensors (`addcmul`'s second factor,
/// `addcdiv`'s divisor, where PyTorch passes an `alpha` or `value` that tch cannot), each made
/// once per step, kind and device, and shared by every parameter that needs it.
#[derive(Default)]
struct Scalars(Vec<(u64, Kind, Device, Tensor)>);

impl Scalars {
    /// `v` as a 0-d tensor of `like`'s kind on its device.
    fn get(&mut self, v: f64, like: &Tensor) -> Tensor {
        let key = (v.to_bits(), like.kind(), like.device());
        if let Some((.., t)) = self.0.iter().find(|(b, k, d, _)| (*b, *k, *d) == key) {
            return t.shallow_clone();
        }
        let t = Tensor::full([], v, (key.1, key.2));
        self.0.push((key.0, key.1, key.2, t.shallow_clone()));
        t
    }
}

/// PyTorch `_single_tensor_sgd` with dampening 0 for one parameter: `d = g + wd·p`;
/// `buf = d` on the first update, else `buf = m·buf + d`; `d = d + m·buf` (Nesterov) or
/// `d = buf`; `p -= lr·d`. One kernel per line (PyTorch: `m·buf + d` takes two), each with
/// PyTorch's roundings except where PyTorch fuses a multiply-add (`add(…, alpha)`): there the
/// product is rounded first (≤ 1 ulp of that term).
fn sgd_update(
    p: &mut Param,
    grad: &Tensor,
    lr: f64,
    wd: f64,
    momentum: f64,
    nesterov: bool,
    k: &mut Scalars,
) {
    // `d` is a fresh tensor when decayed; otherwise it is the gradient, which stays unmodified.
    let own = wd != 0.0;
    let mut d = if own { grad.addcmul(&p.tensor, &k.get(wd, grad)) } else { grad.shallow_clone() };
    if momentum != 0.0 {
        let m = k.get(momentum, grad);
        if p.step == 0 {
            p.state[0].copy_(&d);
        } else {
            // buf ← d + buf·m in place (an output that is exactly an input is allowed).
            let _ = d.addcmul_out(&p.state[0], &p.state[0], &m);
        }
        let buf = &p.state[0];
        d = match (nesterov, own) {
            (true, true) => d.addcmul_(buf, &m),
            (true, false) => d.addcmul(buf, &m),
            (false, _) => buf.shallow_clone(),
        };
    }
    let _ = p.tensor.addcmul_(&d, &k.get(-lr, grad));
    p.step += 1;
}

/// PyTorch `_single_tensor_adam` (amsgrad off, L2 decay) for one parameter: `t += 1`;
/// `d = g + wd·p`; `m = lerp(m, d, 1−β1)`; `v = β2·v + (1−β2)·d²`;
/// `p -= lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + eps)`.
///
/// Six kernels (seven with decay; PyTorch: seven and eight): `v` is updated as
/// `lerp(v, d², 1−β2)`, and the step size is folded into the denominator,
/// `p += m / (√v / c + e)` with `c = −lr/(1−β1ᵗ)·√(1−β2ᵗ)` and `e = −eps·(1−β1ᵗ)/lr`. Equal to
/// PyTorch's formula; the roundings differ by a few ulp of `v` and of the update.
fn adam_update(
    p: &mut Param,
    grad: &Tensor,
    lr: f64,
    wd: f64,
    (beta1, beta2): (f64, f64),
    eps: f64,
    k: &mut Scalars,
) {
    p.step += 1;
    let d =
        if wd != 0.0 { grad.addcmul(&p.tensor, &k.get(wd, grad)) } else { grad.shallow_clone() };
    let (exp_avg, rest) = p.state.split_at_mut(1);
    let (exp_avg, exp_avg_sq) = (&mut exp_avg[0], &mut rest[0]);
    let _ = exp_avg.lerp_(&d, 1.0 - beta1);
    let _ = exp_avg_sq.lerp_(&d.square(), 1.0 - beta2);
    // Bias corrections in f64 from the step count, as PyTorch does with `step.item()`.
    let t = p.step as f64;
    let bias_correction1 = 1.0 - beta1.powf(t);
    let bias_correction2 = 1.0 - beta2.powf(t);
    let step_size = lr / bias_correction1;
    let c = -step_size * bias_correction2.sqrt();
    let e = -eps / step_size;
    // denom ← e + √v / c, in place in the fresh √v.
    let denom = exp_avg_sq.sqrt();
    let _ = k.get(e, grad).addcdiv_out(&denom, &denom, &k.get(c, grad));
    let _ = p.tensor.addcdiv_(exp_avg, &denom);
}
