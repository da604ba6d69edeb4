//! He initialisation is a function of the seed. Alone in its test binary: libtorch's generator
//! is global, and other tests drawing from it in parallel would interleave their draws.
#[test]
fn he_initialisation_is_the_same_for_the_same_seed() {
    // Each VarStore's variable map has its own hash order: the draws must not follow it.
    let cfg = tsal::config::ModelConfig::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/tiny/Detector.config"
    )))
    .unwrap();
    assert_eq!(cfg.init, tsal::config::model::InitScheme::He);
    let build = || {
        tch::manual_seed(11);
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let spec = tsal::models::DetectorSpec::new(&cfg, 68).unwrap();
        tsal::models::Detector::with_pretrained(&vs, spec, None).unwrap();
        vs
    };
    for _ in 0..3 {
        let (a, b) = (build().variables(), build().variables());
        for (name, t) in &a {
            let same = t.equal(&b[name]);
            assert!(same, "{name} differs between two builds with seed 11");
        }
    }
}
