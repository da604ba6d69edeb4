//! `tsal bench train` on the tiny config: every rate in its JSON report is present and
//! positive and the derived ones agree; with `--peer`, the PyTorch eager peer runs on the
//! project's .venv and the ratio is finite.
//!
//! The commands run with `OMP_NUM_THREADS=1`: other tests run alongside on a small machine, and
//! a 2-thread OpenMP region stalls whenever another process holds one of the cores (a tiny step
//! then takes seconds instead of milliseconds).
mod common;
use common::{command, root, s, stderr, synth};
use serde_json::Value;
use std::path::Path;

/// `tsal bench train` on `lists` (tiny config, 64², 2 clips × 2 frames, 2 timed iterations)
/// with `extra` flags; its JSON report.
fn bench(lists: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "bench",
        "train",
        "--lists",
        s(lists),
        "--model_config",
        "configs/tiny/Detector.config",
        "--opt_config",
        "configs/tiny/optimizer.config",
        "--size",
        "64",
        "--batch_size",
        "2",
        "--clip_frames",
        "2",
        "--workers",
        "1",
        "--iters",
        "2",
        "--warmup",
        "1",
        "--device",
        "cpu",
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = command().args(&args).env("OMP_NUM_THREADS", "1").output().expect("run tsal");
    assert!(o.status.success(), "tsal {args:?} failed:\n{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("the JSON report")
}

fn num(v: &Value, path: &str) -> f64 {
    let mut x = v;
    for k in path.split('.') {
        x = &x[k];
    }
    x.as_f64().unwrap_or_else(|| panic!("{path}: not a number in {v:#}"))
}

fn positive(v: &Value, path: &str) -> f64 {
    let x = num(v, path);
    assert!(x.is_finite() && x > 0.0, "{path} = {x}");
    x
}

fn data(dir: &Path) -> std::path::PathBuf {
    synth(dir, &["--images", "8", "--only", "300w"]);
    dir.join("lists/300W/300w.train.GTB")
}

#[test]
fn reports_rates_of_both_roles_and_their_phases() {
    let d = tempfile::tempdir().unwrap();
    let r = bench(&data(d.path()), &["--breakdown"]);
    assert_eq!(r["roles"], serde_json::json!(["teacher", "student"]));
    assert_eq!(num(&r, "threads"), 1.0);
    assert_eq!(num(&r, "frames_per_batch"), 4.0);
    // Tiny config: widths ÷8, two stages, 68 points.
    assert_eq!((num(&r, "stages"), num(&r, "width_div"), num(&r, "num_pts")), (2.0, 8.0, 68.0));
    assert!(positive(&r, "parameters") > 1e5);
    // 2 timed batches of 2 clips × 2 frames through the loader.
    assert_eq!(num(&r, "pipeline.frames"), 8.0);
    let fps = positive(&r, "pipeline.frames_per_s");
    assert!((fps - 8.0 / positive(&r, "pipeline.seconds")).abs() < 1e-9 * fps);
    let wait = num(&r, "pipeline.wait_fraction");
    assert!((0.0..1.0).contains(&wait), "wait fraction {wait}");
    assert!((wait - num(&r, "pipeline.wait_s") / num(&r, "pipeline.seconds")).abs() < 1e-12);
    let step = positive(&r, "step.frames_per_s");
    assert!((step - 4.0 / positive(&r, "step.seconds_per_iter")).abs() < 1e-9 * step);
    // Two iterations: their median is their mean.
    let median = positive(&r, "step.median_seconds_per_iter");
    assert!((median - num(&r, "step.seconds_per_iter")).abs() < 1e-9 * median);
    for p in ["forward_s", "loss_s", "backward_s", "optimizer_s"] {
        positive(&r, &format!("step.phases.{p}"));
    }
    assert!(r["peer"].is_null() && r["ratio"].is_null() && r["ratio_median"].is_null());
    assert_eq!(r["keep_freed_memory"], true);
}

#[test]
fn peer_runs_the_same_step_in_pytorch() {
    let py = root().join(".venv/bin/python");
    assert!(py.is_file(), "{} is required for --peer (run scripts/setup.sh)", py.display());
    let d = tempfile::tempdir().unwrap();
    let r = bench(&data(d.path()), &["--peer", "--supervised_only", "--breakdown"]);
    assert_eq!(r["roles"], serde_json::json!(["teacher"]));
    let p = &r["peer"];
    assert!(p["torch"].as_str().is_some_and(|v| v.starts_with("2.")), "{p}");
    assert_eq!(num(p, "threads"), num(&r, "threads"), "the peer runs on tsal's thread count");
    assert_eq!(p["device"], "cpu");
    let theirs = positive(p, "step.frames_per_s");
    assert!((theirs - 4.0 / positive(p, "step.seconds_per_iter")).abs() < 1e-9 * theirs);
    for k in ["forward_s", "loss_s", "backward_s", "optimizer_s"] {
        positive(p, &format!("step.phases.{k}"));
    }
    let ratio = positive(&r, "ratio");
    assert!((ratio - num(&r, "step.frames_per_s") / theirs).abs() < 1e-9 * ratio);
    let median = positive(&r, "ratio_median");
    let expected = num(p, "step.median_seconds_per_iter") / num(&r, "step.median_seconds_per_iter");
    assert!((median - expected).abs() < 1e-9 * median);
}

#[test]
fn a_missing_peer_script_is_refused_before_measuring() {
    let o = command()
        .args([
            "bench",
            "train",
            "--lists",
            "no/such.list",
            "--peer",
            "--peer_script",
            "no/such/peer.py",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("--peer_script no/such/peer.py: not found"), "{e}");
}

#[test]
fn a_round_at_a_size_the_tracker_cannot_take_is_one_line() {
    // 96 suits the detector (a multiple of 32) but not PWC-Lite's six halvings: refused before
    // any list is read, where it used to panic inside a warp.
    for (round, ok) in [(true, false), (false, true)] {
        let mut args = vec!["bench", "train", "--lists", "no/such.list", "--size", "96"];
        if round {
            args.push("--round");
        }
        let o = command().args(&args).output().unwrap();
        assert!(!o.status.success());
        let e = stderr(&o);
        assert_eq!(
            e.contains(
                "--size 96: the tracker (PWC-Lite's six pyramid levels) needs a multiple of 64"
            ),
            !ok,
            "{args:?}: {e}"
        );
        assert!(!e.contains("panicked"), "{e}");
    }
}

/// `--round --breakdown`: the round's time split into its phases (every part of a round named,
/// both detectors' and both trackers' backward passes apart), summing to about a round.
#[test]
fn the_round_is_broken_down_into_its_phases() {
    let d = tempfile::tempdir().unwrap();
    let lists = data(d.path());
    let r =
        bench(&lists, &["--round", "--breakdown", "--tracker_config", "configs/tiny/MFDS.json"]);
    let phases = r["round_phases"].as_array().unwrap_or_else(|| panic!("no phases: {r:#}"));
    let mut names: Vec<&str> = phases.iter().map(|p| p["phase"].as_str().unwrap()).collect();
    // On a CPU the two tracker steps run at once, each on its own thread: their phases are
    // listed per thread ("tracker_teacher: tracker forwards").
    let threads = r["round_thread_phases"].as_array().cloned().unwrap_or_default();
    let thread_names: Vec<String> =
        threads.iter().map(|p| p["phase"].as_str().unwrap().to_string()).collect();
    names.extend(thread_names.iter().filter_map(|n| n.split(": ").nth(1)));
    for want in [
        "detector forwards",
        "tracker forwards",
        "census + smoothness",
        "detection consistency",
        "supervised terms",
        "SIC",
        "pseudo-labels",
        "unsupervised terms",
        "tracker_teacher backward",
        "tracker_student backward",
        "teacher backward",
        "student backward",
        "optimiser steps",
        "averaging",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    let sum: f64 = phases.iter().map(|p| positive(p, "seconds")).sum();
    let round = positive(&r, "round.seconds_per_iter");
    // Rounds and supervised steps alternated: the ratio of their means, a weighted mean of the
    // per-pair ratios, so between the smallest and the largest.
    let alt = &r["round_vs_supervised"];
    let ratio = positive(alt, "ratio");
    let want = positive(alt, "round_s") / positive(alt, "supervised_s");
    assert!((ratio - want).abs() < 1e-9 * want, "{alt:#}");
    assert!(positive(alt, "pair_min") <= ratio && ratio <= positive(alt, "pair_max"), "{alt:#}");
    assert_eq!(alt["pairs"], r["step"]["iters"], "{alt:#}");
    // The same rounds, timed whole and by phase (a second pass): the same order of time.
    assert!(sum > 0.3 * round && sum < 3.0 * round, "phases {sum} s against a round of {round} s");
}
