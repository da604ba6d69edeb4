//! Channels-last (`models::layout`): the strides it makes, and a detector and a tracker whose
//! weights and inputs are channels-last compute what the contiguous ones compute (forward and
//! weight gradients) to float rounding; snapshots written from it are NCHW and load back.
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};
use tsal::config::{ModelConfig, TrackerConfig};
use tsal::models::layout::{channels_last, is_channels_last, vars_channels_last};
use tsal::models::{weights, Detector, DetectorSpec, PwcLite};

fn rng() -> std::sync::MutexGuard<'static, ()> {
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

fn root(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn max_abs(t: &Tensor) -> f64 {
    f64::try_from(t.abs().max()).unwrap()
}

/// Largest difference relative to the largest magnitude.
fn rel(a: &Tensor, b: &Tensor) -> f64 {
    max_abs(&(a - b)) / max_abs(a).max(1e-30)
}

#[test]
fn strides_sizes_and_values() {
    let _rng = rng();
    let x = Tensor::randn([2, 5, 3, 4], (Kind::Float, Device::Cpu));
    assert!(!is_channels_last(&x));
    let c = channels_last(&x);
    assert_eq!(c.size(), x.size());
    assert_eq!(c.stride(), vec![60, 1, 20, 5]);
    assert!(is_channels_last(&c));
    assert_eq!(max_abs(&(&c - &x)), 0.0);
    // Already channels-last, or not 4-D: the same storage back.
    assert_eq!(channels_last(&c).data_ptr(), c.data_ptr());
    let v = Tensor::randn([7], (Kind::Float, Device::Cpu));
    assert_eq!(channels_last(&v).data_ptr(), v.data_ptr());
    // contiguous() (what the snapshot writers call) is NCHW again.
    assert_eq!(c.contiguous().stride(), vec![60, 12, 4, 1]);
}

/// Errors of a forward and its weight gradients against the same computation in f64.
struct Errors {
    forward: f64,
    gradients: f64,
}

/// The same weights three times: fp32 contiguous, fp32 channels-last, f64 contiguous (the
/// reference). Returns the errors of the two fp32 layouts against f64.
fn compare<M>(
    build: impl Fn(&nn::VarStore) -> M,
    f: impl Fn(&M, &Tensor) -> Vec<Tensor>,
    x: &Tensor,
) -> (Errors, Errors) {
    let a = nn::VarStore::new(Device::Cpu);
    let ma = build(&a);
    let mut b = nn::VarStore::new(Device::Cpu);
    let mb = build(&b);
    b.copy(&a).unwrap();
    vars_channels_last(&b);
    let converted = b.variables().values().filter(|t| is_channels_last(t)).count();
    assert!(converted > 10, "the convolution kernels are channels-last ({converted})");
    let mut c = nn::VarStore::new(Device::Cpu);
    let mc = build(&c);
    c.copy(&a).unwrap();
    c.double();
    let run = |vs: &nn::VarStore, m: &M, x: &Tensor| {
        let outs: Vec<Tensor> = f(m, x);
        let loss: Tensor =
            outs.iter().map(|o| (o * o.ones_like().cumsum(1, o.kind())).mean(o.kind())).sum();
        loss.backward();
        let grads: std::collections::HashMap<String, Tensor> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.grad().defined())
            .map(|(k, t)| (k, t.grad().to_kind(Kind::Double)))
            .collect();
        (outs.iter().map(|o| o.to_kind(Kind::Double)).collect::<Vec<_>>(), grads)
    };
    let (oc, gc) = run(&c, &mc, &x.to_kind(Kind::Double));
    assert!(gc.len() > 10, "{} gradients", gc.len());
    // Each parameter's gradient error against the largest gradient of all: a gradient that is
    // zero in exact arithmetic (a convolution bias under batch normalisation) is rounding noise,
    // and against itself it would be all error.
    let top = gc.values().map(max_abs).fold(0.0, f64::max);
    let errors = |(o, g): (Vec<Tensor>, std::collections::HashMap<String, Tensor>)| {
        assert_eq!(g.len(), gc.len());
        Errors {
            forward: oc.iter().zip(&o).map(|(p, q)| rel(p, q)).fold(0.0, f64::max),
            gradients: gc.iter().map(|(k, r)| max_abs(&(r - &g[k])) / top).fold(0.0, f64::max),
        }
    };
    (errors(run(&a, &ma, x)), errors(run(&b, &mb, &channels_last(x))))
}

/// Channels-last is as close to f64 as the contiguous layout is (within 3× its error and a
/// margin of `floor`): the layouts differ only in the order of float sums.
fn as_close(what: &str, nchw: Errors, nhwc: Errors, floor: f64) {
    eprintln!(
        "{what}: forward {:.2e} (NCHW) {:.2e} (channels-last), gradients {:.2e} {:.2e}",
        nchw.forward, nhwc.forward, nchw.gradients, nhwc.gradients
    );
    assert!(nhwc.forward <= 3.0 * nchw.forward + floor, "{what}: forward");
    assert!(nhwc.gradients <= 3.0 * nchw.gradients + floor, "{what}: gradients");
}

#[test]
fn a_channels_last_detector_computes_the_same_forward_and_gradients() {
    let _rng = rng();
    tch::manual_seed(3);
    let cfg = ModelConfig::load(&root("configs/tiny/Detector.config")).unwrap();
    let x = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
    let (nchw, nhwc) = compare(
        |vs| Detector::new(&vs.root(), DetectorSpec::new(&cfg, 68).unwrap()),
        |d, x| {
            let o = d.forward_t(x, true);
            let mut v = o.stages;
            v.push(o.centre);
            v.push(o.offsets);
            v
        },
        &x,
    );
    as_close("detector", nchw, nhwc, 1e-5);
}

#[test]
fn a_channels_last_tracker_computes_the_same_flows_and_gradients() {
    let _rng = rng();
    tch::manual_seed(4);
    let cfg = TrackerConfig::load(&root("configs/tiny/MFDS.json")).unwrap();
    let frames = Tensor::rand([3, 3, 64, 64], (Kind::Float, Device::Cpu));
    let first = Tensor::from_slice(&[0i64, 1]);
    let second = Tensor::from_slice(&[1i64, 2]);
    let (nchw, nhwc) = compare(
        |vs| {
            let t = PwcLite::new(&vs.root(), &cfg).unwrap();
            tsal::models::layers::he_init(vs, &[]);
            t
        },
        |t, x| {
            let o = t.forward_pairs(x, &first, &second, true);
            o.forward.into_iter().chain(o.backward).collect()
        },
        &frames,
    );
    as_close("tracker", nchw, nhwc, 1e-5);
}

#[test]
fn weights_written_from_channels_last_are_nchw_and_load_back() {
    let _rng = rng();
    let cfg = ModelConfig::load(&root("configs/tiny/Detector.config")).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let _d = Detector::new(&vs.root(), DetectorSpec::new(&cfg, 68).unwrap());
    vars_channels_last(&vs);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("w.safetensors");
    weights::save(&vs, &f).unwrap();
    let read = Tensor::read_safetensors(&f).unwrap();
    let vars = vs.variables();
    for (k, t) in &read {
        assert!(t.is_contiguous(), "{k} written NCHW");
        assert_eq!(max_abs(&(t - &vars[k])), 0.0, "{k}");
    }
    let back = nn::VarStore::new(Device::Cpu);
    let _d2 = Detector::new(&back.root(), DetectorSpec::new(&cfg, 68).unwrap());
    vars_channels_last(&back);
    weights::load_strict(&back, &f).unwrap();
    for (k, t) in back.variables() {
        assert_eq!(max_abs(&(&t - &vars[&k])), 0.0, "{k} loaded back");
    }
}
