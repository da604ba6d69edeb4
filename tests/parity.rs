//! PyTorch parity: tests/parity.py builds the models in PyTorch as the reference defines them,
//! loads tsal's safetensors with `load_state_dict(strict=True)` and compares outputs to 1e-4.
//! Skipped, with a message, when the project's .venv is absent.
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{nn, Device, Kind, Tensor};
use tsal::config::{ModelConfig, TrackerConfig};
use tsal::models::{weights, Detector, DetectorSpec, PwcLite};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> Option<PathBuf> {
    let p = root().join(".venv/bin/python");
    let ok = p.is_file()
        && Command::new(&p)
            .args(["-c", "import torch, safetensors"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: .venv with torch and safetensors not found (run scripts/setup.sh)");
    }
    ok.then_some(p)
}

fn run_parity(py: &Path, args: &[&str]) {
    let o = Command::new(py)
        .arg("-W")
        .arg("ignore")
        .arg(root().join("tests/parity.py"))
        .args(args)
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    eprintln!("{text}");
    assert!(o.status.success(), "parity failed:\n{text}");
    assert!(text.contains("parity: ok"));
}

#[test]
fn detector_matches_pytorch() {
    let Some(py) = python() else { return };
    tch::manual_seed(11);
    let cfg = ModelConfig::load(&root().join("configs/tiny/Detector.config")).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let det = Detector::new(&vs.root(), DetectorSpec::new(&cfg, 68).unwrap());
    // Weights scaled to keep activations alive through the deep stack (the N(0, 0.01) init
    // leaves the outputs nearly constant), non-trivial BatchNorm statistics and biases, so every
    // tensor's name and role is exercised.
    tch::no_grad(|| {
        for (k, mut v) in vs.variables() {
            let s = v.size();
            let new = if k.ends_with("running_var") {
                Tensor::rand_like(&v) + 0.5
            } else if s.len() == 4 {
                let fan_in = if k.starts_with("deconv") {
                    s[0] * s[2] * s[3] / 4
                } else {
                    s[1] * s[2] * s[3]
                };
                Tensor::randn_like(&v) * (2.0 / fan_in as f64).sqrt()
            } else {
                Tensor::randn_like(&v) * 0.1 + if k.ends_with("bn1.weight") { 1.0 } else { 0.0 }
            };
            v.copy_(&new);
        }
    });
    let d = tempfile::tempdir().unwrap();
    let wfile = d.path().join("det.safetensors");
    weights::save(&vs, &wfile).unwrap();
    let x = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
    let o = tch::no_grad(|| det.forward_t(&x, false));
    for t in o.stages.iter().chain([&o.centre, &o.offsets]) {
        assert!(f64::try_from(t.std(true)).unwrap() > 1e-6, "a constant output proves nothing");
    }
    let mut io: Vec<(String, Tensor)> = vec![("input".into(), x)];
    for (i, s) in o.stages.iter().enumerate() {
        io.push((format!("stage{i}"), s.contiguous()));
    }
    io.push(("centre".into(), o.centre.contiguous()));
    io.push(("offsets".into(), o.offsets.contiguous()));
    let iofile = d.path().join("io.safetensors");
    Tensor::write_safetensors(&io, &iofile).unwrap();
    let stages = cfg.stages.to_string();
    run_parity(
        &py,
        &["detector", wfile.to_str().unwrap(), iofile.to_str().unwrap(), "8", &stages, "68"],
    );
}

#[test]
fn tracker_matches_pytorch() {
    let Some(py) = python() else { return };
    tch::manual_seed(12);
    let cfg = TrackerConfig::load(&root().join("configs/MFDS.json")).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let t = PwcLite::new(&vs.root(), &cfg).unwrap();
    // Larger weights than the N(0, 0.01) init so the flows are far from zero.
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            v.copy_(&(Tensor::randn_like(&v) * 0.05));
        }
    });
    let d = tempfile::tempdir().unwrap();
    let wfile = d.path().join("pwc.safetensors");
    weights::save(&vs, &wfile).unwrap();
    let a = Tensor::randn([1, 3, 64, 128], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([1, 3, 64, 128], (Kind::Float, Device::Cpu));
    let o = tch::no_grad(|| t.forward(&a, &b, true));
    let mags = f64::try_from(o.forward[0].abs().mean(Kind::Float)).unwrap();
    assert!(mags > 1e-3, "flows too small to compare meaningfully: {mags}");
    let mut io: Vec<(String, Tensor)> = vec![("img1".into(), a), ("img2".into(), b)];
    for (i, f) in o.forward.iter().enumerate() {
        io.push((format!("fw{i}"), f.contiguous()));
    }
    for (i, f) in o.backward.iter().enumerate() {
        io.push((format!("bw{i}"), f.contiguous()));
    }
    let iofile = d.path().join("io.safetensors");
    Tensor::write_safetensors(&io, &iofile).unwrap();
    run_parity(&py, &["tracker", wfile.to_str().unwrap(), iofile.to_str().unwrap()]);
}
