//! `eval::evaluate`, the library entry point for a detector in memory, gives exactly the
//! numbers `tsal eval --model` reports for the same snapshot.
mod common;
use std::path::Path;
use tsal::data::crop::CropSpec;
use tsal::eval::predict::PredictOptions;
use tsal::eval::score::Missing;
use tsal::eval::{evaluate, EvalList, Scoring};
use tsal::run::snapshot::{load_detector, Role};

fn tsal(args: &[&str]) {
    common::tsal_ok(args);
}

#[test]
fn evaluate_in_memory_equals_tsal_eval_on_the_snapshot() {
    let d = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let data = d.path().join("data");
    tsal(&[
        "synth",
        "--out",
        &s(&data),
        "--images",
        "30",
        "--videos",
        "2",
        "--frames",
        "5",
        "--no-avi",
    ]);
    let snap = d.path().join("snap");
    tsal(&[
        "snapshot",
        "init",
        "--out",
        &s(&snap),
        "--model_config",
        "configs/tiny/Detector.config",
    ]);
    let lists =
        [data.join("lists/300W/300w.test.common.GTB"), data.join("lists/300VW/300VW.test-1.lst")];
    let out = d.path().join("eval");
    let mut args = vec!["eval".to_string(), "--model".into(), s(&snap), "--out".into(), s(&out)];
    args.extend(
        ["--which", "student", "--cpu", "--crop_width", "64", "--crop_height", "64"]
            .map(String::from),
    );
    args.push("--lists".into());
    args.extend(lists.iter().map(|l| s(l)));
    tsal(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let cli: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();

    let (_vs, det, meta, cfg) = load_detector(&snap, Role::Student, tch::Device::Cpu).unwrap();
    let eval_lists: Vec<EvalList> =
        lists.iter().map(|l| EvalList::read(l, &[], 68, 2).unwrap()).collect();
    let opts = PredictOptions {
        crop: CropSpec { expand: 0.2, width: 64, height: 64 },
        num_pts: meta.num_pts,
        radius: cfg.argmax as i64,
        batch_size: 7,
        workers: 1,
        device: tch::Device::Cpu,
        tta: None,
    };
    let scoring =
        Scoring { normaliser: tsal::eval::nme::Normaliser::InterOcular, missing: Missing::Skip };
    let e = evaluate(&det, &eval_lists, &opts, scoring).unwrap();
    assert_eq!(e.reports.len(), 2);
    let lines: usize = eval_lists.iter().map(|l| l.entries.len()).sum();
    assert_eq!(e.points.len(), lines);
    for (i, r) in e.reports.iter().enumerate() {
        let c = &cli["lists"][i];
        assert_eq!(c["list"], serde_json::json!(r.list));
        let got = serde_json::to_value(&r.score.summary).unwrap();
        let want = &c["score"]["summary"];
        assert_eq!(got["at"], want["at"], "{}", r.name());
        assert_eq!(got["faces"], want["faces"], "{}", r.name());
        // To float rounding (a few ulps of the per-face NMEs: oneDNN's channels-last kernels
        // do not sum in one fixed order).
        for k in ["nme_mean", "nme_std"] {
            let (a, b) = (got[k].as_f64().unwrap(), want[k].as_f64().unwrap());
            assert!((a - b).abs() <= 1e-12 * b.abs(), "{}: {k} {a} against {b}", r.name());
        }
        assert!(r.score.summary.faces > 0);
        let nme = r.score.summary.nme_mean;
        assert!(nme > 0.0 && nme.is_finite(), "an untrained detector errs: {nme}");
    }
    // The prediction each face names is the file the CLI wrote.
    let named = e.reports[0].score.rows[0].prediction.clone().unwrap();
    assert!(out.join(&named).is_file(), "{named}");
}
