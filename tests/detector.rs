//! The detector: reference parameter counts, PyTorch names, output shapes, initialisation.
use std::collections::BTreeMap;
use tch::{nn, Device, Kind, Tensor};
use tsal::models::{Detector, DetectorSpec};

/// Trainable parameter count per top-level module (BN running statistics are buffers, not
/// parameters, as in PyTorch).
fn counts(vs: &nn::VarStore) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for (name, t) in vs.variables() {
        if name.ends_with("running_mean") || name.ends_with("running_var") {
            continue;
        }
        let top = name.split('.').next().unwrap().to_string();
        *m.entry(top).or_insert(0) += t.numel() as i64;
    }
    m
}

#[test]
fn reference_parameter_counts_for_68_points() {
    let vs = nn::VarStore::new(Device::Cpu);
    let _d = Detector::new(&vs.root(), DetectorSpec::reference(68));
    let c = counts(&vs);
    // The reference's counts (`VGG16_base`, `lib/models/cpm_vgg16.py`).
    assert_eq!(c["features"], 7_635_264);
    assert_eq!(c["CPM_feature"], 1_474_944);
    assert_eq!(c["stages"], 7_606_479);
    assert_eq!(c["layer3_forhm"], 6_606_848);
    assert_eq!(c["layer4_forhm"], 14_964_736);
    assert_eq!(c["deconv_layers_forhm"], 10_487_296);
    assert_eq!(c["hm"] + c["hmhp_offset"], 607_753);
    assert_eq!(c.len(), 8, "{:?}", c.keys().collect::<Vec<_>>());
}

#[test]
fn variable_names_are_the_reference_state_dict_names() {
    let vs = nn::VarStore::new(Device::Cpu);
    let _d = Detector::new(&vs.root(), DetectorSpec::reference(68));
    let v = vs.variables();
    let shape = |k: &str| v.get(k).unwrap_or_else(|| panic!("missing {k}")).size();
    // torchvision VGG16 indices: convs at 0 2 5 7 10 12 14 17 19 21.
    for i in [0, 2, 5, 7, 10, 12, 14, 17, 19, 21] {
        assert!(v.contains_key(&format!("features.{i}.weight")), "features.{i}");
    }
    assert_eq!(v.keys().filter(|k| k.starts_with("features.")).count(), 20);
    assert_eq!(shape("features.0.weight"), [64, 3, 3, 3]);
    assert_eq!(shape("features.21.weight"), [512, 512, 3, 3]);
    assert_eq!(shape("CPM_feature.2.weight"), [128, 256, 3, 3]);
    assert_eq!(shape("stages.0.10.weight"), [69, 512, 1, 1]);
    assert_eq!(shape("stages.1.0.weight"), [128, 197, 7, 7]);
    assert_eq!(shape("stages.2.16.bias"), [69]);
    assert_eq!(shape("layer3_forhm.0.downsample.0.weight"), [1024, 128, 1, 1]);
    assert_eq!(shape("layer3_forhm.5.bn3.running_var"), [1024]);
    assert_eq!(shape("layer4_forhm.0.conv2.weight"), [512, 512, 3, 3]);
    assert_eq!(shape("deconv_layers_forhm.0.weight"), [2048, 256, 4, 4]);
    assert_eq!(shape("deconv_layers_forhm.7.weight"), [256]);
    assert_eq!(shape("hm.0.weight"), [128, 256, 3, 3]);
    assert_eq!(shape("hmhp_offset.2.weight"), [136, 128, 1, 1]);
    // No name was silently suffixed by a collision (tch appends `__N`).
    assert!(v.keys().all(|k| !k.contains("__")), "duplicate names");
}

#[test]
fn initialisation_follows_the_reference() {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let _d = Detector::new(&vs.root(), DetectorSpec::reference(68));
    let v = vs.variables();
    let std = |k: &str| f64::try_from(v[k].std(true)).unwrap();
    let val = |k: &str| f64::try_from(v[k].mean(Kind::Float)).unwrap();
    assert!((std("features.21.weight") - 0.01).abs() < 2e-4);
    assert!((std("stages.1.0.weight") - 0.01).abs() < 2e-4);
    assert!((std("deconv_layers_forhm.0.weight") - 0.001).abs() < 2e-5);
    assert!((std("hmhp_offset.2.weight") - 0.001).abs() < 1e-4);
    assert_eq!(val("features.0.bias"), 0.0);
    assert!((val("hm.2.bias") + 2.19).abs() < 1e-6);
    assert_eq!(val("layer3_forhm.0.bn1.weight"), 1.0);
    assert_eq!(val("layer3_forhm.0.bn1.bias"), 0.0);
}

#[test]
fn output_shapes_at_256_and_64() {
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let d = Detector::new(&vs.root(), DetectorSpec::reference(68));
    let _g = tch::no_grad_guard();
    for (size, batch) in [(256, 1), (64, 2)] {
        let x = Tensor::randn([batch, 3, size, size], (Kind::Float, Device::Cpu));
        let o = d.forward_t(&x, false);
        let g = size / 8;
        assert_eq!(o.stages.len(), 3);
        for s in &o.stages {
            assert_eq!(s.size(), [batch, 69, g, g]);
        }
        assert_eq!(o.centre.size(), [batch, 1, g, g]);
        assert_eq!(o.offsets.size(), [batch, 136, g, g]);
        // Fresh heads: centre logits start near the −2.19 bias.
        let m = f64::try_from(o.centre.mean(Kind::Float)).unwrap();
        assert!((m + 2.19).abs() < 0.2, "centre logits mean {m}");
    }
}

#[test]
fn tiny_config_scales_widths_and_stages() {
    let cfg = tsal::config::ModelConfig::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/tiny/Detector.config"),
    )
    .unwrap();
    let spec = DetectorSpec::new(&cfg, 68).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let d = Detector::new(&vs.root(), spec);
    let total: i64 = counts(&vs).values().sum();
    assert!(total < 1_000_000, "tiny detector has {total} parameters");
    let x = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
    let o = d.forward_t(&x, true);
    assert_eq!(o.stages.len(), cfg.stages);
    assert_eq!(o.stages.last().unwrap().size(), [2, 69, 8, 8]);
    assert_eq!(o.offsets.size(), [2, 136, 8, 8]);
    // Gradients reach the trunk through both branches.
    let loss = o.stages.iter().map(|s| s.square().sum(Kind::Float)).sum::<Tensor>()
        + o.centre.sum(Kind::Float)
        + o.offsets.square().sum(Kind::Float);
    loss.backward();
    let g = vs.variables()["features.0.weight"].grad();
    assert!(f64::try_from(g.abs().sum(Kind::Float)).unwrap() > 0.0);
}

#[test]
fn counted_macs_match_the_field_anchors() {
    let vs = nn::VarStore::new(Device::Cpu);
    let d = Detector::new(&vs.root(), DetectorSpec::reference(68));
    let _g = tch::no_grad_guard();
    let x = Tensor::zeros([1, 3, 256, 256], (Kind::Float, Device::Cpu));
    use tsal::models::layers::count_macs;
    let (t, trunk) = count_macs(|| d.trunk.forward(&x));
    let (f, feat) = count_macs(|| d.feature.forward(&t));
    let (_, total) = count_macs(|| d.forward_t(&x, false));
    // Expected: trunk 18.2, CPM_feature 1.5, stages 7.8 GMAC at 256×256 (27.5 together).
    let g = |n: u64| n as f64 / 1e9;
    assert!((g(trunk) - 18.2).abs() < 0.1, "trunk {} GMAC", g(trunk));
    assert!((g(feat) - 1.5).abs() < 0.05, "CPM_feature {} GMAC", g(feat));
    let (h0, s0) = count_macs(|| d.stages[0].forward(&f));
    let input = Tensor::cat(&[&f, &h0], 1);
    let later = count_macs(|| d.stages[1].forward(&input)).1;
    let stages = s0 + 2 * later;
    assert!((g(stages) - 7.8).abs() < 0.1, "stages {} GMAC", g(stages));
    // conv1_1 exactly: 256² outputs × 64 channels × 3·3·3.
    let conv = tsal::models::layers::conv(vs.root() / "probe", 3, 64, 3, 1);
    let (_, one) = count_macs(|| x.apply(&conv));
    assert_eq!(one, 256 * 256 * 64 * 27);
    assert!(total > trunk + feat + stages, "the CenterNet branch adds work");
}
