//! The training optimiser, its parameter groups and the LR schedule: parity with torch.optim
//! (tests/optim_parity.py, via the project's .venv), exact resume through a safetensors file,
//! the detector's groups against the reference's `specify_parameter`
//! (`lib/models/cpm_vgg16.py:294-305`), and MultiStepLR.
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{nn, Device, Kind, Tensor};
use tsal::config::optim::{OptimizerKind, Reduction};
use tsal::config::{ModelConfig, OptConfig};
use tsal::models::{Detector, DetectorSpec};
use tsal::train::groups::{detector_groups, training_groups, ParamGroup};
use tsal::train::optim::Optimizer;
use tsal::train::schedule::multistep;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The project's Python with torch; a clear failure (not a skip) when absent.
fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    let ok = p.is_file()
        && Command::new(&p).args(["-c", "import torch"]).status().is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} with torch is required for the PyTorch parity test (run scripts/setup.sh)",
        p.display()
    );
    p
}

fn opt_cfg(optimizer: OptimizerKind, lr: f64, nesterov: bool) -> OptConfig {
    OptConfig {
        optimizer,
        lr,
        momentum: 0.9,
        decay: 5e-4,
        nesterov,
        criterion: Reduction::Sum,
        lossnorm: true,
        epochs: 10,
        schedule: vec![],
        gamma: 0.5,
        group_lr: Default::default(),
    }
}

/// Toy parameters: (name, shape, group).
const TOY: [(&str, &[i64], usize); 5] = [
    ("a.weight", &[3, 4], 0),
    ("a.bias", &[4], 1),
    ("b.weight", &[2, 3, 3], 0),
    ("b.bias", &[5], 1),
    ("c.weight", &[6], 0),
];
/// Group 0: ×1 with decay; group 1: ×2 without (the detector's weight/bias pattern).
const TOY_GROUPS: [(&str, f64, f64); 2] = [("weight", 1.0, 0.01), ("bias", 2.0, 0.0)];

/// A VarStore with the toy parameters, N(0, 1) from `seed`.
fn toy_store(seed: i64) -> nn::VarStore {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    for (name, shape, _) in TOY {
        let (m, leaf) = name.split_once('.').unwrap();
        let _ = vs.root().sub(m).randn_standard(leaf, shape);
    }
    vs
}

fn toy_groups(vs: &nn::VarStore) -> Vec<ParamGroup> {
    let vars = vs.variables();
    TOY_GROUPS
        .iter()
        .enumerate()
        .map(|(gi, &(name, lr_mult, weight_decay))| ParamGroup {
            name: name.into(),
            lr_mult,
            weight_decay,
            params: TOY
                .iter()
                .filter(|t| t.2 == gi)
                .map(|t| (t.0.to_string(), vars[t.0].shallow_clone()))
                .collect(),
        })
        .collect()
}

/// Gradients of step `k`: N(0, 1) from a per-step seed; `a.bias` has none at step 0 and
/// `b.bias` none at step 3 (they must be skipped, as PyTorch skips `grad is None`).
fn toy_grads(k: usize) -> Vec<(&'static str, Tensor)> {
    tch::manual_seed(1000 + k as i64);
    TOY.iter()
        .filter(|t| !matches!((k, t.0), (0, "a.bias") | (3, "b.bias")))
        .map(|t| (t.0, Tensor::randn(t.1, (Kind::Float, Device::Cpu))))
        .collect()
}

/// Give every listed parameter exactly `grad` (d/dp Σ p·g = g) and no other a gradient.
fn set_grads(opt: &mut Optimizer, vs: &nn::VarStore, grads: &[(&str, Tensor)]) {
    opt.zero_grad();
    let vars = vs.variables();
    let loss = grads
        .iter()
        .map(|(n, g)| (&vars[*n] * g).sum(Kind::Float))
        .fold(Tensor::zeros([], (Kind::Float, Device::Cpu)), |a, b| a + b);
    loss.backward();
}

/// Run steps `range` with base LRs `lrs[k]`.
fn run_steps(opt: &mut Optimizer, vs: &nn::VarStore, lrs: &[f64], range: std::ops::Range<usize>) {
    for k in range {
        opt.set_base_lr(lrs[k]);
        set_grads(opt, vs, &toy_grads(k));
        opt.step();
    }
}

fn write_f32(path: &Path, t: &Tensor) {
    let v: Vec<f32> = Vec::try_from(t.detach().flatten(0, -1)).unwrap();
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_f32(path: &Path, shape: &[i64]) -> Tensor {
    let bytes = std::fs::read(path).unwrap();
    let v: Vec<f32> =
        bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Tensor::from_slice(&v).reshape(shape)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

struct Case {
    name: &'static str,
    kind: OptimizerKind,
    nesterov: bool,
    lrs: Vec<f64>,
}

/// Schedules checked against MultiStepLR: (base, milestones, gamma, epochs).
const SCHEDULES: [(f64, &[usize], f64, usize); 3] =
    [(5e-5, &[3, 5, 8], 0.5, 12), (0.1, &[0, 2, 2, 6], 0.1, 9), (1e-3, &[], 0.5, 4)];

#[test]
fn optimizer_and_schedule_match_pytorch() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let changing = vec![0.1, 0.1, 0.05, 0.05, 0.025];
    let cases = [
        Case { name: "sgd_nesterov", kind: OptimizerKind::Sgd, nesterov: true, lrs: vec![0.1; 5] },
        Case {
            name: "sgd_nesterov_lr_changes",
            kind: OptimizerKind::Sgd,
            nesterov: true,
            lrs: changing.clone(),
        },
        Case {
            name: "sgd_momentum_lr_changes",
            kind: OptimizerKind::Sgd,
            nesterov: false,
            lrs: changing.clone(),
        },
        Case { name: "adam", kind: OptimizerKind::Adam, nesterov: false, lrs: vec![0.01; 5] },
        Case {
            name: "adam_lr_changes",
            kind: OptimizerKind::Adam,
            nesterov: false,
            lrs: changing.iter().map(|l| l / 10.0).collect(),
        },
    ];
    // Same initial parameters and gradients for every case, written once.
    let init = toy_store(7);
    let mut params = serde_json::Map::new();
    std::fs::create_dir(dir.path().join("init")).unwrap();
    for (name, shape, _) in TOY {
        let file = format!("init/{name}.f32");
        write_f32(&dir.path().join(&file), &init.variables()[name]);
        params.insert(name.into(), serde_json::json!({ "shape": shape, "file": file }));
    }
    let mut grad_files = Vec::new();
    for k in 0..5 {
        std::fs::create_dir(dir.path().join(format!("step{k}"))).unwrap();
        let mut m = serde_json::Map::new();
        for (name, g) in toy_grads(k) {
            let file = format!("step{k}/{name}.f32");
            write_f32(&dir.path().join(&file), &g);
            m.insert(name.into(), file.into());
        }
        grad_files.push(m);
    }
    let groups_json: Vec<_> = TOY_GROUPS
        .iter()
        .enumerate()
        .map(|(gi, &(_, lr_mult, wd))| {
            let names: Vec<_> = TOY.iter().filter(|t| t.2 == gi).map(|t| t.0).collect();
            serde_json::json!({ "lr_mult": lr_mult, "weight_decay": wd, "params": names })
        })
        .collect();
    let cases_json: Vec<_> = cases
        .iter()
        .map(|c| {
            let steps: Vec<_> = c
                .lrs
                .iter()
                .zip(&grad_files)
                .map(|(lr, g)| serde_json::json!({ "base_lr": lr, "grads": g }))
                .collect();
            serde_json::json!({
                "optimizer": if c.kind == OptimizerKind::Sgd { "sgd" } else { "adam" },
                "momentum": 0.9,
                "nesterov": c.nesterov,
                "groups": groups_json,
                "params": params,
                "steps": steps,
                "out": format!("out_{}", c.name),
            })
        })
        .collect();
    let schedules_json: Vec<_> = SCHEDULES
        .iter()
        .map(|&(base, milestones, gamma, epochs)| {
            serde_json::json!({ "base": base, "milestones": milestones, "gamma": gamma, "epochs": epochs })
        })
        .collect();
    let spec = serde_json::json!({ "cases": cases_json, "schedules": schedules_json });
    std::fs::write(dir.path().join("spec.json"), spec.to_string()).unwrap();

    let o = Command::new(&py)
        .arg(root().join("tests/optim_parity.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success() && text.contains("optim parity: done"), "parity script:\n{text}");

    for c in &cases {
        let vs = toy_store(7);
        let mut opt = Optimizer::new(&opt_cfg(c.kind, c.lrs[0], c.nesterov), toy_groups(&vs));
        run_steps(&mut opt, &vs, &c.lrs, 0..5);
        let vars = vs.variables();
        let mut worst = 0.0f64;
        for (name, shape, _) in TOY {
            let theirs = read_f32(&dir.path().join(format!("out_{}/{name}.f32", c.name)), shape);
            let ours = &vars[name];
            // The test means something only if the steps moved every parameter.
            let moved = max_abs_diff(ours, &init.variables()[name]);
            assert!(moved > 1e-2, "{}: {name} moved only {moved:e}", c.name);
            worst = worst.max(max_abs_diff(ours, &theirs));
        }
        eprintln!("{}: max |tsal - torch| = {worst:e}", c.name);
        assert!(worst <= 1e-6, "{}: max |tsal - torch| = {worst:e} > 1e-6", c.name);
    }

    let text = std::fs::read_to_string(dir.path().join("schedules_out.json")).unwrap();
    let torch_lrs: Vec<Vec<f64>> = serde_json::from_str(&text).unwrap();
    for (&(base, milestones, gamma, epochs), theirs) in SCHEDULES.iter().zip(&torch_lrs) {
        let ours: Vec<f64> = (0..epochs).map(|e| multistep(base, milestones, gamma, e)).collect();
        assert_eq!(&ours, theirs, "multistep({base}, {milestones:?}, {gamma}) vs MultiStepLR");
    }
}

/// 3 steps, state through a safetensors file into a new optimiser over a copy of the
/// parameters, 2 more steps: bit-identical to 5 uninterrupted steps.
fn check_exact_resume(kind: OptimizerKind) {
    let lrs = [0.1, 0.1, 0.05, 0.05, 0.025];
    let cfg = opt_cfg(kind, lrs[0], true);

    let straight = toy_store(3);
    let mut opt = Optimizer::new(&cfg, toy_groups(&straight));
    run_steps(&mut opt, &straight, &lrs, 0..5);

    let first = toy_store(3);
    let mut opt1 = Optimizer::new(&cfg, toy_groups(&first));
    run_steps(&mut opt1, &first, &lrs, 0..3);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("opt.safetensors");
    Tensor::write_safetensors(&opt1.state(), &file).unwrap();
    drop(opt1);
    let saved: BTreeMap<String, Tensor> =
        Tensor::read_safetensors(&file).unwrap().into_iter().collect();

    let resumed = toy_store(99); // different values, overwritten from `first` (the weights file)
    tch::no_grad(|| {
        for (name, mut v) in resumed.variables() {
            v.copy_(&first.variables()[&name]);
        }
    });
    let mut opt2 = Optimizer::new(&cfg, toy_groups(&resumed));
    opt2.load_state(&saved).unwrap();
    assert_eq!(opt2.steps(), 3);
    run_steps(&mut opt2, &resumed, &lrs, 3..5);

    for (name, v) in straight.variables() {
        assert!(v.equal(&resumed.variables()[&name]), "{kind:?}: {name} differs after resume");
    }
    let a = opt.state();
    let b = opt2.state();
    assert_eq!(a.len(), b.len());
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(ta.equal(tb), "{kind:?}: state {na} differs after resume");
    }
}

#[test]
fn resume_is_bit_exact_sgd() {
    check_exact_resume(OptimizerKind::Sgd);
}

#[test]
fn resume_is_bit_exact_adam() {
    check_exact_resume(OptimizerKind::Adam);
}

#[test]
fn state_names_and_load_errors() {
    let vs = toy_store(5);
    let sgd = Optimizer::new(&opt_cfg(OptimizerKind::Sgd, 0.1, true), toy_groups(&vs));
    let names: Vec<String> = sgd.state().into_iter().map(|(n, _)| n).collect();
    // `step` + per parameter `step/NAME` and `momentum_buffer/NAME`.
    assert_eq!(names.len(), 1 + 2 * TOY.len());
    assert_eq!(names[0], "step");
    assert!(names.contains(&"momentum_buffer/b.weight".to_string()));
    assert!(names.contains(&"step/a.bias".to_string()));

    let mut adam = Optimizer::new(&opt_cfg(OptimizerKind::Adam, 0.01, false), toy_groups(&vs));
    run_steps(&mut adam, &vs, &[0.01; 2], 0..2);
    let state: BTreeMap<String, Tensor> = adam.state().into_iter().collect();
    assert_eq!(state.len(), 1 + 3 * TOY.len());
    assert_eq!(state["step"].int64_value(&[]), 2);
    // a.bias had no gradient at step 0: one update only.
    assert_eq!(state["step/a.bias"].int64_value(&[]), 1);
    assert_eq!(state["step/a.weight"].int64_value(&[]), 2);
    assert_eq!(state["exp_avg_sq/b.weight"].size(), vec![2, 3, 3]);
    let fresh = || Optimizer::new(&opt_cfg(OptimizerKind::Adam, 0.01, false), toy_groups(&vs));
    let copy = |s: &BTreeMap<String, Tensor>| -> BTreeMap<String, Tensor> {
        s.iter().map(|(k, v)| (k.clone(), v.copy())).collect()
    };

    let mut missing = copy(&state);
    missing.remove("exp_avg/a.weight");
    let mut o = fresh();
    let e = format!("{:#}", o.load_state(&missing).unwrap_err());
    assert!(e.contains("missing") && e.contains("exp_avg/a.weight"), "{e}");
    assert_eq!(o.steps(), 0, "a failed load changes nothing");

    let mut shaped = copy(&state);
    shaped.insert("exp_avg_sq/b.bias".into(), Tensor::zeros([7], (Kind::Float, Device::Cpu)));
    let e = format!("{:#}", fresh().load_state(&shaped).unwrap_err());
    assert!(e.contains("mis-shaped") && e.contains("exp_avg_sq/b.bias"), "{e}");

    let mut extra = copy(&state);
    extra.insert("exp_avg/zz.weight".into(), Tensor::zeros([1], (Kind::Float, Device::Cpu)));
    let e = format!("{:#}", fresh().load_state(&extra).unwrap_err());
    assert!(e.contains("unexpected") && e.contains("exp_avg/zz.weight"), "{e}");

    let mut float_step = copy(&state);
    float_step.insert("step/c.weight".into(), Tensor::from(2.0f32));
    let e = format!("{:#}", fresh().load_state(&float_step).unwrap_err());
    assert!(e.contains("step/c.weight"), "{e}");

    // SGD state into Adam: every Adam buffer missing, every momentum buffer unexpected.
    let sgd_state: BTreeMap<String, Tensor> = sgd.state().into_iter().collect();
    let e = format!("{:#}", fresh().load_state(&sgd_state).unwrap_err());
    assert!(e.contains("10 missing") && e.contains("5 unexpected"), "{e}");

    fresh().load_state(&state).unwrap();
}

#[test]
fn zero_grad_sets_gradients_to_none() {
    let vs = toy_store(1);
    let mut opt = Optimizer::new(&opt_cfg(OptimizerKind::Sgd, 0.1, true), toy_groups(&vs));
    set_grads(&mut opt, &vs, &toy_grads(1));
    assert!(vs.variables()["a.weight"].grad().defined());
    opt.zero_grad();
    for (name, v) in vs.variables() {
        assert!(!v.grad().defined(), "{name} still has a gradient");
    }
    // A step without gradients changes nothing and counts no parameter update.
    let before: Vec<Tensor> = TOY.iter().map(|t| vs.variables()[t.0].copy()).collect();
    opt.step();
    for (t, b) in TOY.iter().zip(&before) {
        assert!(vs.variables()[t.0].equal(b));
    }
    let state: BTreeMap<String, Tensor> = opt.state().into_iter().collect();
    assert_eq!(state["step"].int64_value(&[]), 1);
    assert_eq!(state["step/a.weight"].int64_value(&[]), 0);
}

fn tiny_detector() -> nn::VarStore {
    let cfg = ModelConfig::load(&root().join("configs/tiny/Detector.config")).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let _det = Detector::new(&vs.root(), DetectorSpec::new(&cfg, 68).unwrap());
    vs
}

fn group_of<'a>(groups: &'a [ParamGroup], var: &str) -> &'a str {
    let hits: Vec<&str> = groups
        .iter()
        .filter(|g| g.params.iter().any(|(n, _)| n == var))
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(hits.len(), 1, "{var} in groups {hits:?}");
    hits[0]
}

#[test]
fn tiny_detector_groups() {
    let vs = tiny_detector();
    let decay = 5e-4;
    let groups = detector_groups(&vs, decay).unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "trunk.weight",
            "trunk.bias",
            "CPM_feature.weight",
            "CPM_feature.bias",
            "stages.0.weight",
            "stages.0.bias",
            "stages.1.weight",
            "stages.1.bias",
            "centernet.weight",
            "centernet.bias",
            "bn"
        ]
    );
    assert_eq!(groups.len(), 4 + 2 * 2 + 3);
    let mults: Vec<f64> = groups.iter().map(|g| g.lr_mult).collect();
    assert_eq!(mults, [1.0, 2.0, 1.0, 2.0, 4.0, 8.0, 4.0, 8.0, 1.0, 2.0, 1.0]);
    let decays: Vec<f64> = groups.iter().map(|g| g.weight_decay).collect();
    let d = decay;
    assert_eq!(decays, [d, 0.0, d, 0.0, d, 0.0, d, 0.0, d, 0.0, 0.0]);

    // Every trainable variable in exactly one group; running statistics in none.
    let all: Vec<&String> = groups.iter().flat_map(|g| g.params.iter().map(|(n, _)| n)).collect();
    let unique: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), vs.trainable_variables().len());
    assert_eq!(unique.len(), all.len());
    assert!(!unique.iter().any(|n| n.contains("running")));
    let numel: usize = groups.iter().map(|g| g.numel()).sum();
    let trainable: usize = vs.trainable_variables().iter().map(|t| t.numel()).sum();
    assert_eq!(numel, trainable);

    assert_eq!(group_of(&groups, "layer3_forhm.0.bn1.weight"), "bn");
    assert_eq!(group_of(&groups, "layer3_forhm.0.downsample.1.bias"), "bn");
    assert_eq!(group_of(&groups, "deconv_layers_forhm.1.weight"), "bn");
    assert_eq!(group_of(&groups, "hm.2.bias"), "centernet.bias");
    assert_eq!(group_of(&groups, "hmhp_offset.0.bias"), "centernet.bias");
    assert_eq!(group_of(&groups, "deconv_layers_forhm.0.weight"), "centernet.weight");
    assert_eq!(group_of(&groups, "layer4_forhm.2.conv3.weight"), "centernet.weight");
    assert_eq!(group_of(&groups, "stages.1.0.weight"), "stages.1.weight");
    assert_eq!(group_of(&groups, "CPM_feature.2.bias"), "CPM_feature.bias");

    // Trunk convs in natural order (torchvision's `features` indices); stage sizes.
    let trunk: Vec<&str> = groups[0].params.iter().map(|(n, _)| n.as_str()).collect();
    let idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21];
    let want: Vec<String> = idx.iter().map(|i| format!("features.{i}.weight")).collect();
    assert_eq!(trunk, want);
    let counts: Vec<usize> = groups.iter().map(|g| g.params.len()).collect();
    assert_eq!(&counts[..8], &[10, 10, 2, 2, 6, 6, 9, 9]);
    // Bottlenecks: 6 + 3 blocks × 3 convs + 2 downsample convs, 3 deconvs, 2 heads × 2 convs.
    assert_eq!(counts[8], 9 * 3 + 2 + 3 + 4);
    assert_eq!(counts[9], 4);
    // BN: 9 blocks × 3 + 2 downsample + 3 deconv BNs, weight and bias each.
    assert_eq!(counts[10], 2 * (9 * 3 + 2 + 3));

    // The optimiser's view: LRs at the reference base LR, one describe line per group.
    let mut opt = Optimizer::new(&opt_cfg(OptimizerKind::Sgd, 1.0, true), groups);
    opt.set_base_lr(5e-5);
    let lrs: Vec<f64> = opt.group_lrs().into_iter().map(|(_, lr)| lr).collect();
    // The reference log's 5e-5, 1e-4, 5e-5, 1e-4, 2e-4, 4e-4, …, then ours.
    assert_eq!(lrs, [5e-5, 1e-4, 5e-5, 1e-4, 2e-4, 4e-4, 2e-4, 4e-4, 5e-5, 1e-4, 5e-5]);
    let lines = opt.describe();
    assert_eq!(lines.len(), 11);
    assert!(lines[0].contains("trunk.weight") && lines[0].contains("10 tensors"), "{}", lines[0]);
    assert!(lines[5].contains("stages.0.bias") && lines[5].contains("4.000e-4"), "{}", lines[5]);
}

/// An optimiser config from its typed-JSON text.
fn opt_from(text: &str) -> anyhow::Result<OptConfig> {
    OptConfig::from_typed(&tsal::config::TypedConfig::parse(text, Path::new("opt.config"))?)
}

#[test]
fn group_lr_uniform_puts_every_group_at_the_base_lr() {
    let vs = tiny_detector();
    let base = r#"{"optimizer": ["str", "Adam"], "LR": ["float", 1e-3], "epochs": ["int", 2]"#;
    let reference = opt_from(&format!("{base}}}")).unwrap();
    let uniform = opt_from(&format!(r#"{base}, "group_lr": ["str", "uniform"]}}"#)).unwrap();
    assert_eq!(reference.group_lr, tsal::config::optim::GroupLr::Reference);
    let mults = |cfg: &OptConfig| -> Vec<f64> {
        training_groups(&vs, cfg).unwrap().iter().map(|g| g.lr_mult).collect()
    };
    assert_eq!(mults(&reference), [1.0, 2.0, 1.0, 2.0, 4.0, 8.0, 4.0, 8.0, 1.0, 2.0, 1.0]);
    assert_eq!(mults(&uniform), [1.0; 11]);
    // Same groups, same decays: only the multipliers change.
    let names = |cfg: &OptConfig| -> Vec<(String, f64)> {
        training_groups(&vs, cfg).unwrap().into_iter().map(|g| (g.name, g.weight_decay)).collect()
    };
    assert_eq!(names(&reference), names(&uniform));
    let e = format!(
        "{:#}",
        opt_from(&format!(r#"{base}, "group_lr": ["str", "flat"]}}"#)).unwrap_err()
    );
    assert!(
        e.contains("opt.config: key `group_lr`: expected reference or uniform, found `flat`"),
        "{e}"
    );
}

#[test]
fn unmatched_variable_is_an_error() {
    let vs = tiny_detector();
    let _ = vs.root().sub("extra_head").zeros("weight", &[3]);
    let e = format!("{:#}", detector_groups(&vs, 5e-4).unwrap_err());
    assert!(e.contains("extra_head.weight") && e.contains("1 trainable"), "{e}");
}

#[test]
fn reference_detector_groups() {
    let vs = nn::VarStore::new(Device::Cpu);
    let _det = Detector::new(&vs.root(), DetectorSpec::reference(68));
    let groups = detector_groups(&vs, 5e-4).unwrap();
    assert_eq!(groups.len(), 13);
    let n = |r: std::ops::Range<usize>| groups[r].iter().map(|g| g.numel()).sum::<usize>();
    // The reference's counts (`lib/models/cpm_vgg16.py`): trunk 7,635,264; CPM_feature 1,474,944;
    // stages 7,606,479; together 16,716,687 (the reference's only optimised parameters).
    assert_eq!(n(0..2), 7_635_264);
    assert_eq!(n(2..4), 1_474_944);
    assert_eq!(n(4..10), 7_606_479);
    assert_eq!(n(0..10), 16_716_687);
    let trainable: usize = vs.trainable_variables().iter().map(|t| t.numel()).sum();
    assert_eq!(n(0..13), trainable);
}

#[test]
fn multistep_hand_numbers() {
    let m = [90, 110, 130];
    let base = 5e-5;
    assert_eq!(multistep(base, &m, 0.5, 0), base);
    assert_eq!(multistep(base, &m, 0.5, 89), base);
    assert_eq!(multistep(base, &m, 0.5, 90), base / 2.0);
    assert_eq!(multistep(base, &m, 0.5, 109), base / 2.0);
    assert_eq!(multistep(base, &m, 0.5, 110), base / 4.0);
    assert_eq!(multistep(base, &m, 0.5, 130), base / 8.0);
    assert_eq!(multistep(base, &m, 0.5, 149), base / 8.0);
    assert_eq!(multistep(base, &[], 0.5, 149), base);
}
