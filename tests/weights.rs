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
    // tsal also reads the nested .tar directly (its `state_dict`, `module.` stripped).
    let vs3 = nn::VarStore::new(Device::Cpu);
    let _t3 = tsal::models::PwcLite::new(&vs3.root(), &cfg).unwrap();
    assert_eq!(weights::load_strict(&vs3, &tar).unwrap().loaded.len(), 60);
    let c = vs3.variables();
    for (k, t) in &a {
        assert!(t.equal(&c[k]), "{k} differs when read from the .tar");
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

/// Run `script` with the venv's Python and `args`; panics with its stderr on failure.
fn python(py: &Path, script: &str, args: &[&Path]) {
    let o = std::process::Command::new(py)
        .args(["-W", "ignore", "-c", script])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "python failed:\n{}", String::from_utf8_lossy(&o.stderr));
}

/// Every tensor of `got` has the name, dtype, shape and values of the one in `want`.
fn assert_same_tensors(
    file: &Path,
    got: &std::collections::BTreeMap<String, Tensor>,
    want: &std::collections::BTreeMap<String, Tensor>,
) {
    let f = file.display();
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{f}");
    for (k, w) in want {
        let g = &got[k];
        assert_eq!((g.kind(), g.size()), (w.kind(), w.size()), "{f}: {k}");
        assert!(g.equal(w), "{f}: {k} differs");
    }
}

/// A small module's state_dict (an OrderedDict with `_metadata`) plus tensors of every dtype
/// tsal reads, a view with an offset into a shared storage, an empty tensor and a scalar.
const STATE_DICT_PY: &str = r#"
import collections, copyreg, pickle, sys, types, zipfile, torch
from safetensors.torch import save_file
out = sys.argv[1]
torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
m(torch.randn(2, 3, 8, 8))  # BN statistics and num_batches_tracked move
sd = m.state_dict()
assert type(sd) is collections.OrderedDict and hasattr(sd, '_metadata')
assert sd['1.num_batches_tracked'].dtype == torch.int64
big = torch.randn(5, 6)
sd['x'] = big[:, 1:3]
assert sd['x'].storage_offset() == 1 and not sd['x'].is_contiguous()
sd['half'] = torch.randn(3, 2).half()
sd['bf16'] = torch.randn(2, 3).bfloat16()
sd['f64'] = torch.tensor(2.5, dtype=torch.float64)
sd['i32'] = torch.tensor([[-7, 8]], dtype=torch.int32)
sd['i16'] = torch.tensor([-300, 300], dtype=torch.int16)
sd['i8'] = torch.tensor([-3, 4], dtype=torch.int8)
sd['u8'] = torch.tensor([0, 255], dtype=torch.uint8)
sd['mask'] = torch.tensor([True, False, True])
sd['empty'] = torch.zeros(0, 3)
sd['module.head'] = torch.randn(2)
torch.save(sd, f'{out}/zip.pth')
torch.save(sd, f'{out}/legacy.pth', _use_new_zipfile_serialization=False)
torch.save({'epoch': 3, 'state_dict': sd}, f'{out}/nested.tar')
torch.save({'epoch': 3, 'state_dict': sd}, f'{out}/nested_legacy.tar',
           _use_new_zipfile_serialization=False)
for f in ['zip.pth', 'legacy.pth']:
    back = torch.load(f'{out}/{f}')
    assert all(torch.equal(back[k], v) for k, v in sd.items())
ref = {k[len('module.'):] if k.startswith('module.') else k: v.contiguous()
       for k, v in sd.items()}
save_file(ref, f'{out}/ref.safetensors')

# Old-style legacy pickles: torch 0.3's _rebuild_tensor with Python 2's OrderedDict([[k, v]]),
# and tensors restored by __setstate__ from (storage, offset, size, stride); a tied tensor.
old = collections.OrderedDict()
old['w'] = torch.randn(4, 3, 3, 3)
old['b'] = torch.randn(4)
old['view'] = torch.randn(4, 5)[1:, 2:4]
old['tied'] = old['b']
state = lambda t: (t._typed_storage(), t.storage_offset(), tuple(t.size()), t.stride())
def pickler(reduce):
    class P(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, collections.OrderedDict):
                return (collections.OrderedDict, ([[k, v] for k, v in obj.items()],))
            return reduce(obj) if isinstance(obj, torch.Tensor) else NotImplemented
    return types.SimpleNamespace(__name__='old_pickle', Pickler=P, dump=pickle.dump)
for name, reduce in [('v03', lambda t: (torch._utils._rebuild_tensor, state(t))),
                     ('setstate', lambda t: (copyreg.__newobj__, (torch.Tensor,), state(t)))]:
    torch.save(old, f'{out}/{name}.pth', pickle_module=pickler(reduce),
               _use_new_zipfile_serialization=False)
    back = torch.load(f'{out}/{name}.pth', weights_only=False)
    assert all(torch.equal(back[k], v) for k, v in old.items())
save_file({k: v.contiguous().clone() for k, v in old.items()}, f'{out}/old_ref.safetensors')

# A big-endian zip checkpoint (byteorder `big`, every storage byte-swapped), float32 only.
be = {'w': torch.randn(3, 4), 'v': torch.randn(5)[1:]}
torch.save(be, f'{out}/le.pt')
with zipfile.ZipFile(f'{out}/le.pt') as src, zipfile.ZipFile(f'{out}/be.pt', 'w') as dst:
    for e in src.infolist():
        data = src.read(e)
        if e.filename.endswith('/byteorder'):
            data = b'big'
        elif '/data/' in e.filename:
            data = b''.join(data[i:i + 4][::-1] for i in range(0, len(data), 4))
        dst.writestr(e.filename, data)
back = torch.load(f'{out}/be.pt')
assert all(torch.equal(back[k], v) for k, v in be.items())
save_file({k: v.contiguous() for k, v in be.items()}, f'{out}/be_ref.safetensors')
"#;

#[test]
fn torch_save_files_of_both_formats_read_exactly() {
    let Some(py) = venv_python() else {
        eprintln!("skipped: .venv/bin/python not found (run scripts/setup.sh)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    python(&py, STATE_DICT_PY, &[d.path()]);
    let want = weights::read(&d.path().join("ref.safetensors")).unwrap();
    assert_eq!(want.len(), 18);
    assert_eq!(want["1.num_batches_tracked"].kind(), Kind::Int64);
    assert_eq!(want["half"].kind(), Kind::Half);
    for f in ["zip.pth", "legacy.pth", "nested.tar", "nested_legacy.tar"] {
        let file = d.path().join(f);
        assert_same_tensors(&file, &weights::read(&file).unwrap(), &want);
    }
    let old = weights::read(&d.path().join("old_ref.safetensors")).unwrap();
    for f in ["v03.pth", "setstate.pth"] {
        let file = d.path().join(f);
        assert_same_tensors(&file, &weights::read(&file).unwrap(), &old);
    }
    let be = weights::read(&d.path().join("be_ref.safetensors")).unwrap();
    let file = d.path().join("be.pt");
    assert_same_tensors(&file, &weights::read(&file).unwrap(), &be);
    // The format is read from the content, whatever the extension.
    let renamed = d.path().join("weights.ckpt");
    std::fs::copy(d.path().join("legacy.pth"), &renamed).unwrap();
    assert_same_tensors(&renamed, &weights::read(&renamed).unwrap(), &want);
}

/// A torchvision-layout VGG16 `features.*` state_dict (OrderedDict) with the tiny trunk's
/// widths (width_div 8), conv5 and a classifier tensor included, in both formats.
const TINY_VGG_PY: &str = r#"
import collections, sys, torch
from safetensors.torch import save_file
out = sys.argv[1]
torch.manual_seed(3)
cfg = [8, 8, 'M', 16, 16, 'M', 32, 32, 32, 'M', 64, 64, 64, 'M', 64, 64, 64, 'M']
sd, c, i = collections.OrderedDict(), 3, 0
for v in cfg:
    if v == 'M':
        i += 1
        continue
    sd[f'features.{i}.weight'] = torch.randn(v, c, 3, 3)
    sd[f'features.{i}.bias'] = torch.randn(v)
    c, i = v, i + 2
sd['classifier.6.weight'] = torch.randn(10, 16)
torch.save(sd, f'{out}/vgg_zip.pth')
torch.save(sd, f'{out}/vgg_legacy.pth', _use_new_zipfile_serialization=False)
save_file(dict(sd), f'{out}/vgg_ref.safetensors')
"#;

#[test]
fn snapshot_init_pretrained_takes_the_trunk_from_zip_and_legacy_files() {
    let Some(py) = venv_python() else {
        eprintln!("skipped: .venv/bin/python not found (run scripts/setup.sh)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    python(&py, TINY_VGG_PY, &[d.path()]);
    let want = weights::read(&d.path().join("vgg_ref.safetensors")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["vgg_zip.pth", "vgg_legacy.pth"] {
        let out = d.path().join(format!("snap_{f}"));
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_tsal"))
            .current_dir(root)
            .args(["snapshot", "init", "--out"])
            .arg(&out)
            .args(["--model_config", "configs/tiny/Detector.config", "--pretrained"])
            .arg(d.path().join(f))
            .output()
            .unwrap();
        assert!(o.status.success(), "{f}: {}", String::from_utf8_lossy(&o.stderr));
        for role in ["teacher", "student"] {
            let got = weights::read(&out.join(format!("detector_{role}.safetensors"))).unwrap();
            assert!(got["features.0.weight"].equal(&want["features.0.weight"]), "{f} {role}");
            // Every trunk tensor (conv1_1 … conv4_3) came from the file.
            let trunk: Vec<&String> = got.keys().filter(|k| k.starts_with("features.")).collect();
            assert_eq!(trunk.len(), 20, "{f}");
            for k in trunk {
                assert!(got[k].equal(&want[k]), "{f} {role}: {k}");
            }
        }
    }
}

/// `e` is one line that names `file` and says `says`, with no libtorch backtrace.
fn assert_one_clear_line(e: &str, file: &str, says: &str) {
    assert!(e.contains(file), "names the file: {e}");
    assert!(e.contains(says), "expected `{says}` in: {e}");
    assert!(!e.contains('\n') && !e.contains("Exception raised from"), "one line: {e}");
}

#[test]
fn broken_and_foreign_torch_files_are_single_line_errors() {
    let Some(py) = venv_python() else {
        eprintln!("skipped: .venv/bin/python not found (run scripts/setup.sh)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let script = r#"
import pickle, sys, torch
out = sys.argv[1]
sd = torch.nn.Linear(64, 64).state_dict()
torch.save(sd, f'{out}/full_zip.pth')
torch.save(sd, f'{out}/full_legacy.pth', _use_new_zipfile_serialization=False)
for f in ['zip', 'legacy']:
    data = open(f'{out}/full_{f}.pth', 'rb').read()
    open(f'{out}/cut_{f}.pth', 'wb').write(data[:len(data) // 2])
class Settings:
    pass
torch.save(Settings(), f'{out}/object.pth')
torch.save(Settings(), f'{out}/object_legacy.pth', _use_new_zipfile_serialization=False)
torch.save({'epoch': 3, 'lr': 0.1}, f'{out}/no_tensors.pth')
pickle.dump([1, 2, 3], open(f'{out}/plain_pickle.pth', 'wb'))
import tarfile
with tarfile.open(f'{out}/tar.pth', 'w', format=tarfile.PAX_FORMAT) as t:
    t.add(f'{out}/full_zip.pth', arcname='storages')
"#;
    python(&py, script, &[d.path()]);
    // Random bytes (neither zip, pickle nor safetensors).
    let mut x: u32 = 12345;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            (x >> 24) as u8
        })
        .collect();
    assert!(noise[0] != 0x80 && !noise.starts_with(b"PK"));
    std::fs::write(d.path().join("noise.pth"), &noise).unwrap();
    let cases = [
        ("cut_zip.pth", "a zip archive whose directory cannot be read"),
        ("cut_legacy.pth", "the file ends early, at byte"),
        ("object.pth", "holding an object of class __main__.Settings, not a state dict"),
        ("object_legacy.pth", "holding an object of class __main__.Settings, not a state dict"),
        ("no_tensors.pth", "holding a dict without tensors (keys: epoch, lr)"),
        ("plain_pickle.pth", "a Python pickle of a list, not written by torch.save"),
        ("noise.pth", "not a weight file tsal can read"),
        ("tar.pth", "a tar archive (the layout of the earliest PyTorch releases)"),
    ];
    for (f, says) in cases {
        let e = err_of(weights::read(&d.path().join(f)));
        assert_one_clear_line(&e, f, says);
    }
    // The intact files load; the CLI prints the truncated one's error as one line.
    assert_eq!(weights::read(&d.path().join("full_legacy.pth")).unwrap().len(), 2);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tsal"))
        .args(["inspect", "--weights"])
        .arg(d.path().join("cut_legacy.pth"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert_one_clear_line(stderr.trim_end(), "cut_legacy.pth", "download or save it again");
}

/// Weights of another width mismatch almost every tensor: the error lists a few and counts
/// the rest, instead of one line of every shape (12 KB for the reference model).
#[test]
fn a_shape_mismatch_error_names_a_few_and_counts_the_rest() {
    let d = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny/Detector.config"),
    )
    .unwrap();
    let wider = d.path().join("wider.config");
    std::fs::write(
        &wider,
        text.replace("\"width_div\" : [\"int\",  8]", "\"width_div\" : [\"int\",  4]"),
    )
    .unwrap();
    let cfg = ModelConfig::load(&wider).unwrap();
    assert_eq!(cfg.width_div, 4, "the edit took");
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = Detector::new(&vs.root(), DetectorSpec::new(&cfg, 68).unwrap());
    let file = d.path().join("wide.safetensors");
    weights::save(&vs, &file).unwrap();
    let (tiny_vs, _) = tiny(68);
    let e = err_of(weights::load_strict(&tiny_vs, &file));
    let n: usize =
        e.split("shape mismatch for ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(n > 20, "{e}");
    assert!(e.contains(&format!(", and {} more", n - 6)), "{e}");
    assert!(e.len() < 600 && !e.contains('\n'), "{} chars: {e}", e.len());
}
