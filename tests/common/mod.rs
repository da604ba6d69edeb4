//! Helpers shared by the integration tests: run the `tsal` binary from the repository root,
//! make synthetic data, list files.
#![allow(dead_code)] // each test file uses some of these
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (tests run `tsal` from there, so `configs/…` paths resolve).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A `tsal` command in the repository root.
///
/// One intra-op thread per process (unless the environment says otherwise): the test harness
/// runs a binary's tests in parallel, and several libtorch processes whose OpenMP threads
/// spin-wait for each other on two cores ran ~7× slower than one after the other.
pub fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tsal"));
    c.current_dir(root());
    if std::env::var_os("OMP_NUM_THREADS").is_none() {
        c.env("OMP_NUM_THREADS", "1");
    }
    c
}

/// The tiny TSAL configuration of the tests: detector and trackers widths ÷8, 64² crops.
pub const TINY: [&str; 10] = [
    "--model_config",
    "configs/tiny/Detector.config",
    "--opt_config",
    "configs/tiny/optimizer.config",
    "--tracker_config",
    "configs/tiny/MFDS.json",
    "--crop_width",
    "64",
    "--crop_height",
    "64",
];

/// Run `tsal ARGS…` to completion.
pub fn tsal(args: &[&str]) -> Output {
    command().args(args).output().expect("run tsal")
}

/// Run `tsal ARGS…`, which must succeed; its stdout.
pub fn tsal_ok(args: &[&str]) -> String {
    let o = tsal(args);
    assert!(o.status.success(), "tsal {args:?} failed:\n{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `tsal synth --out DIR EXTRA…`, which must succeed.
pub fn synth(dir: &Path, extra: &[&str]) {
    let mut args = vec!["synth", "--out", s(dir)];
    args.extend_from_slice(extra);
    tsal_ok(&args);
}

/// A path as `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

/// Every file below `dir`, sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The `.venv` Python with torch 2.11 (scripts/setup.sh makes it); a test that needs it fails
/// without it rather than skipping.
pub fn venv_python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(p.is_file(), "{} not found: run scripts/setup.sh", p.display());
    p
}

/// The pid of a process that has exited and been reaped: a stand-in for one killed with its
/// files half written.
pub fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}
