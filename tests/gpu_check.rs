//! `scripts/gpu-check.sh`, the one call prepared for a GPU machine, run on its `--device cpu`
//! dry path: every step at toy sizes, every figure in the JSON it writes (and, with `--pack`,
//! the logs in one archive beside it). So the script cannot rot between the sessions that have
//! a GPU.
mod common;
use common::{root, venv_python};
use serde_json::Value;
use std::process::Command;

fn script() -> Command {
    let mut c = Command::new("bash");
    c.arg(root().join("scripts/gpu-check.sh"))
        .current_dir(root())
        .env("TSAL_BIN", env!("CARGO_BIN_EXE_tsal"))
        .env("TSAL_PYTHON", venv_python());
    if std::env::var_os("OMP_NUM_THREADS").is_none() {
        c.env("OMP_NUM_THREADS", "1");
    }
    c
}

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut x = v;
    for k in path {
        x = &x[*k];
    }
    x.as_f64().unwrap_or_else(|| panic!("{path:?} is not a number: {x}"))
}

#[test]
fn the_dry_path_runs_every_step_and_reports_every_figure() {
    let out = tempfile::tempdir().unwrap();
    let o = script().args(["--device", "cpu", "--pack"]).env("OUT", out.path()).output().unwrap();
    let (so, se) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "gpu-check --device cpu failed:\n{so}\n{se}");
    // --pack: two files, the JSON and one archive holding every log and part.
    let mut names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["gpu-check-logs.tgz", "gpu-check.json"]);
    let listed =
        Command::new("tar").arg("tzf").arg(out.path().join("gpu-check-logs.tgz")).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    for f in ["logs/smoke.log", "parts/doctor.out", "parts/bench_round.out", "parts/smoke.seconds"]
    {
        assert!(listed.lines().any(|l| l.trim_end_matches('/') == f), "{f} not in:\n{listed}");
    }
    let text = std::fs::read_to_string(out.path().join("gpu-check.json")).unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["device"], "cpu");
    assert_eq!(r["failed"].as_array().unwrap().len(), 0);
    assert_eq!(r["doctor"]["cuda_available"], false);
    for s in ["doctor", "synth", "bench_model", "bench_peer", "bench_round", "smoke"] {
        assert!(num(&r, &["steps", s, "seconds"]) > 0.0, "step {s} not timed");
    }
    // bench model: detector and tracker, forward and forward + backward, in fp32 and (this
    // CPU has native bf16, as `tsal doctor` says) bf16.
    let rows = r["bench_model"]["rows"].as_array().unwrap();
    let precisions =
        if r["doctor"]["cpu_bf16"].is_null() { vec!["fp32"] } else { vec!["fp32", "bf16"] };
    for p in precisions {
        for (model, pass) in [
            ("detector", "forward"),
            ("detector", "fwd+bwd"),
            ("tracker", "forward"),
            ("tracker", "fwd+bwd"),
        ] {
            let row = rows
                .iter()
                .find(|x| x["model"] == model && x["pass"] == pass && x["precision"] == p);
            let row = row.unwrap_or_else(|| panic!("no {model} {pass} {p} row"));
            assert!(num(row, &["images_per_s"]) > 0.0);
        }
    }
    // The peer ran (PyTorch eager, the same step) and the ratio is theirs over ours.
    let peer = &r["bench_peer"];
    let ratio = num(peer, &["ratio"]);
    let want = num(peer, &["step", "frames_per_s"]) / num(peer, &["peer", "step", "frames_per_s"]);
    assert!((ratio / want - 1.0).abs() < 1e-6, "ratio {ratio} vs {want}");
    // The round, with its phases.
    assert!(num(&r, &["bench_round", "round", "frames_per_s"]) > 0.0);
    assert!(!r["bench_round"]["round_phases"].as_array().unwrap().is_empty());
    // The smoke run: 2 epochs of 9 iterations (18 clips of 2 frames, 2 per batch), each
    // evaluated on both lists by both roles, every NME a real number.
    let epochs = r["smoke"]["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2, "{epochs:?}");
    for (e, want_iter) in epochs.iter().zip([9, 18]) {
        assert_eq!(e["iter"], want_iter);
        let nme = e["nme"].as_object().unwrap();
        assert_eq!(nme.len(), 4, "{nme:?}");
        assert!(nme.contains_key("teacher 300w.test.common.GTB"), "{nme:?}");
        assert!(nme.values().all(|v| v.as_f64().is_some_and(|x| x.is_finite() && x > 0.0)));
    }
    // The reference schedule at the measured round rate: 150 × (31,480 + 95,470) frames.
    let sched = &r["reference_schedule"];
    assert_eq!(num(sched, &["frames"]), 19_042_500.0);
    let hours = 19_042_500.0 / num(&r, &["bench_round", "round", "frames_per_s"]) / 3600.0;
    assert!((num(sched, &["hours"]) / hours - 1.0).abs() < 1e-9);
    assert!(so.contains("the reference schedule (150 epochs"), "{so}");
}

#[test]
fn bad_arguments_get_one_clear_line() {
    for (args, want) in [
        (vec!["--device", "gpu"], "--device `gpu`: expected cuda or cpu"),
        (vec!["--devcie", "cpu"], "unknown argument `--devcie`"),
        (vec!["--device"], "--device needs cuda or cpu"),
    ] {
        let o = script().args(&args).output().unwrap();
        let se = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {se}");
        assert!(se.contains(want), "{args:?}: {se}");
    }
}
