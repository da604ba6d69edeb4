//! Weight files: safetensors round trip, strict name/shape checks, clear errors, and
//! torchvision's VGG16 state_dict loading into the trunk.
use std::path::{Path, PathBuf};
use tch::{nn, Device, Kind, Tensor};
use tsal::config::ModelConfig;
use tsal::models::{weights, Detector, DetectorSpec};

fn tiny(num_pts: usize) -> (nn::VarStore, Detector) {
    let cfg = ModelConfig::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny/Detector.config"),
    )
    .unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let d = Detector::new(&vs.root(), DetectorSpec::new(&cfg, num_pts).unwrap());
    (vs, d)
}

fn err_of<T: std::fmt::Debug>(r: anyhow::Result<T>) -> String {
    format!("{:#}", r.expect_err("expected an error"))
}

#[test]
fn safetensors_round_trip_reproduces_outputs() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("det.safetensors");
    tch::manual_seed(1);
    let (vs_a, a) = tiny(68);
    weights::save(&vs_a, &file).unwrap();
    tch::manual_seed(2);
    let (vs_b, b) = tiny(68);
    let x = Tensor::randn([1, 3, 64, 64], (Kind::Float, Device::Cpu));
    let before = f64::try_from(
        (a.forward_t(&x, false).stages[1].shallow_clone()
            - b.forward_t(&x, false).stages[1].shallow_clone())
        .abs()
        .max(),
    )
    .unwrap();
    assert!(before > 0.0, "two seeds should differ");
    let rep = weights::load_strict(&vs_b, &file).unwrap();
    assert_eq!(rep.loaded.len(), vs_a.variables().len());
    assert!(rep.missing.is_empty() && rep.unexpected.is_empty());
    let oa = a.forward_t(&x, false);
    let ob = b.forward_t(&x, false);
    for (s, t) in oa.stages.iter().zip(&ob.stages) {
        assert_eq!(f64::try_from((s - t).abs().max()).unwrap(), 0.0);
    }
    assert_eq!(f64::try_from((oa.offsets - ob.offsets).abs().max()).unwrap(), 0.0);
}

#[test]
fn wrong_shapes_missing_and_foreign_files_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("det68.safetensors");
    let (vs68, _) = tiny(68);
    weights::save(&vs68, &file).unwrap();
    // A 19-point model cannot take 68-point heads.
    let (vs19, _) = tiny(19);
    let e = err_of(weights::load_strict(&vs19, &file));
    assert!(
        e.contains("det68.safetensors")
            && e.contains("shape mismatch")
            && e.contains("hmhp_offset.2.weight"),
        "{e}"
    );
    // A file missing one tensor, with one extra.
    let mut vars: Vec<(String, Tensor)> =
        vs68.variables().into_iter().filter(|(k, _)| k != "stages.0.0.bias").collect();
    vars.push(("extra.weight".into(), Tensor::zeros([2], (Kind::Float, Device::Cpu))));
    let partial = d.path().join("partial.safetensors");
    Tensor::write_safetensors(&vars, &partial).unwrap();
    let e = err_of(weights::load_strict(&vs68, &partial));
    assert!(
        e.contains("1 missing tensor(s) [stages.0.0.bias]")
            && e.contains("1 unexpected tensor(s) [extra.weight]"),
        "{e}"
    );
    // Not a checkpoint at all.
    let junk = d.path().join("junk.safetensors");
    std::fs::write(&junk, b"this is not a checkpoint").unwrap();
    let e = err_of(weights::load_strict(&vs68, &junk));
    assert!(e.contains("junk.safetensors") && e.contains("not a weight file"), "{e}");
    let e = err_of(weights::load_strict(&vs68, &d.path().join("absent.pth")));
    assert!(e.contains("absent.pth: weight file not found"), "{e}");
}

fn venv_python() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    p.is_file().then_some(p)
}

#[test]
fn torchvision_vgg16_state_dict_loads_into_the_trunk() {
    let Some(py) = venv_python() else {
        eprintln!("skipped: .venv/bin/python not found (run scripts/setup.sh)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("vgg16-like.pth");
    // A state_dict with torchvision VGG16's names and shapes (features 0…28, classifier).
    let script = r#"
import sys, torch
torch.manual_seed(0)
cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']
sd, c, i = {}, 3, 0
for v in cfg:
    if v == 'M':
        i += 1
        continue
    sd[f'features.{i}.weight'] = torch.randn(v, c, 3, 3) * 0.01
    sd[f'features.{i}.bias'] = torch.randn(v)
    c, i = v, i + 2
sd['classifier.6.weight'] = torch.randn(10, 16)
torch.save(sd, sys.argv[1])
"#;
    let st = std::process::Command::new(py)
        .args(["-W", "ignore", "-c", script])
        .arg(&file)
        .status()
        .unwrap();
    assert!(st.success());
    let vs = nn::VarStore::new(Device::Cpu);
    let _det = Detector::new(&vs.root(), DetectorSpec::reference(68));
    let stages_before = vs.variables()["stages.0.0.weight"].copy();
    let rep = weights::load_vgg16_trunk(&vs, &file).unwrap();
    assert_eq!(rep.loaded.len(), 20, "conv1_1…conv4_3 weights and biases");
    let file_t = weights::read(&file).unwrap();
    let v = vs.variables();
    for k in ["features.0.weight", "features.21.weight", "features.21.bias"] {
        assert_eq!(f64::try_from((&v[k] - &file_t[k]).abs().max()).unwrap(), 0.0, "{k}");
    }
    assert!(v["stages.0.0.weight"].equal(&stages_before), "only the trunk is touched");
}

#[test]
fn arflow_style_nested_checkpoint_converts_and_loads_by_name() {
    let Some(py) = venv_python() else {
        eprintln!("skipped: .venv/bin/python not found (run scripts/setup.sh)");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = tsal::config::TrackerConfig::load(&root.join("configs/MFDS.json")).unwrap();
    tch::manual_seed(5);
    let vs = nn::VarStore::new(Device::Cpu);
    let _t = tsal::models::PwcLite::new(&vs.root(), &cfg).unwrap();
    let d = tempfile::tempdir().unwrap();
    let flat = d.path().join("flat.safetensors");
    weights::save(&vs, &flat).unwrap();
    // Wrap it as ARFlow does: {'epoch': N, 'state_dict': {'module.' + name: tensor}}.
    let tar = d.path().join("pwclite_ar.tar");
    let wrap = "import sys, torch\nfrom safetensors.torch import load_file\n\
                sd = {'module.' + k: v for k, v in load_file(sys.argv[1]).items()}\n\
                torch.save({'epoch': 7, 'state_dict': sd}, sys.argv[2])\n";
    let st = std::process::Command::new(&py)
        .args(["-W", "ignore", "-c", wrap])
        .arg(&flat)
        .arg(&tar)
        .status()
        .unwrap();
    assert!(st.success());
    let out = d.path().join("MFEM.safetensors");
    let o = std::process::Command::new(&py)
        .args(["-W", "ignore"])
        .arg(root.join("flowweight/convert.py"))
        .arg(&tar)
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("60 tensors, 2236660 values"));
    tch::manual_seed(6);
    let vs2 = nn::VarStore::new(Device::Cpu);
    let _t2 = tsal::models::PwcLite::new(&vs2.root(), &cfg).unwrap();
    let rep = weights::load_strict(&vs2, &out).unwrap();
    assert_eq!(rep.loaded.len(), 60);
    let (a, b) = (vs.variables(), vs2.variables());
    for (k, t) in &a {
        assert!(t.equal(&b[k]), "{k} differs after conversion");
    }
    // Something that is not a checkpoint: one clear line, non-zero exit.
    let junk = d.path().join("junk.tar");
    std::fs::write(&junk, b"junk").unwrap();
    let o = std::process::Command::new(&py)
        .args(["-W", "ignore"])
        .arg(root.join("flowweight/convert.py"))
        .arg(&junk)
        .arg(d.path().join("x.safetensors"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read as a PyTorch checkpoint"));
    assert!(!d.path().join("x.safetensors").exists());
}

#[test]
fn pretrained_trunk_with_wrong_shapes_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let (vs_tiny, _) = tiny(68);
    let file = d.path().join("tiny-trunk.safetensors");
    weights::save(&vs_tiny, &file).unwrap();
    // A tiny trunk file into the reference trunk.
    let vs = nn::VarStore::new(Device::Cpu);
    let e = err_of(
        Detector::with_pretrained(&vs, DetectorSpec::reference(68), Some(&file)).map(|_| ()),
    );
    assert!(
        e.contains("--pretrained")
            && e.contains("shape mismatch")
            && e.contains("features.0.weight"),
        "{e}"
    );
    // Into a tiny trunk it loads, and only the trunk's 20 tensors are taken.
    let cfg = ModelConfig::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny/Detector.config"),
    )
    .unwrap();
    let vs2 = nn::VarStore::new(Device::Cpu);
    let _det =
        Detector::with_pretrained(&vs2, DetectorSpec::new(&cfg, 68).unwrap(), Some(&file)).unwrap();
    let (a, b) = (vs_tiny.variables(), vs2.variables());
    assert!(a["features.19.weight"].equal(&b["features.19.weight"]));
    assert!(!a["stages.0.0.weight"].equal(&b["stages.0.0.weight"]));
}
