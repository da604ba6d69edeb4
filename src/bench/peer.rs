//! The PyTorch peer of `tsal bench train`: the same supervised step in PyTorch eager
//! (`scripts/peer_train.py`, given a JSON description of the model, batch, optimiser and
//! parameter groups on its stdin), whose report the benchmark sets beside its own.
use super::timing::StepTime;
use super::train::TrainSettings;
use crate::config::model::InitScheme;
use crate::config::optim::{OptimizerKind, Reduction};
use crate::config::{ModelConfig, OptConfig};
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use tch::Device;

/// The Python with torch and the peer script.
pub struct Peer {
    pub python: PathBuf,
    pub script: PathBuf,
}

/// What `scripts/peer_train.py` prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerReport {
    pub torch: String,
    pub threads: i64,
    pub device: String,
    pub step: StepTime,
}

/// One parameter group as the peer needs it: the PyTorch `state_dict` names of its tensors.
#[derive(Serialize)]
pub struct PeerGroup {
    pub name: String,
    pub lr_mult: f64,
    pub weight_decay: f64,
    pub params: Vec<String>,
}

/// The batch the peer steps on: its frames, side and labelled frames.
pub struct BatchShape {
    pub frames: usize,
    pub size: u32,
    pub labelled: i64,
}

/// The peer's input: the model, the batch, the loss, the optimiser and its groups, the roles
/// stepping, the iterations and threads, the device, and the seed.
#[allow(clippy::too_many_arguments)]
pub fn spec(
    model: &ModelConfig,
    opt: &OptConfig,
    num_pts: usize,
    batch: BatchShape,
    groups: &[PeerGroup],
    roles: usize,
    a: &TrainSettings,
    threads: i32,
) -> serde_json::Value {
    serde_json::json!({
        "model": {
            "width_div": model.width_div,
            "stages": model.stages,
            "num_pts": num_pts,
            "init": match model.init { InitScheme::Reference => "reference", InitScheme::He => "he" },
        },
        "batch": {"frames": batch.frames, "size": batch.size, "labelled": batch.labelled},
        "criterion": match opt.criterion { Reduction::Sum => "sum", Reduction::Mean => "mean" },
        "lossnorm": opt.lossnorm,
        "optimizer": {
            "kind": match opt.optimizer { OptimizerKind::Sgd => "sgd", OptimizerKind::Adam => "adam" },
            "lr": opt.lr,
            "momentum": opt.momentum,
            "nesterov": opt.nesterov,
        },
        "groups": groups,
        "roles": roles,
        "iters": a.iters,
        "warmup": a.warmup,
        "threads": threads,
        "device": match a.device.resolve() { Ok(Device::Cuda(i)) => format!("cuda:{i}"), _ => "cpu".into() },
        "breakdown": a.breakdown,
        "seed": a.rand_seed,
    })
}

/// Run the peer script with `spec` on its stdin; its JSON report.
impl Peer {
    /// Both files exist, so a missing one is found before minutes of measuring.
    pub fn check(&self) -> Result<()> {
        ensure!(
            self.script.is_file(),
            "--peer_script {}: not found (run from the repository root, or give its path)",
            self.script.display()
        );
        let named = self.python.components().count() > 1;
        ensure!(
            !named || self.python.is_file(),
            "--peer_python {}: not found (scripts/setup.sh installs the project's .venv; on a GPU \
             machine give e.g. /opt/torch/.venv/bin/python)",
            self.python.display()
        );
        Ok(())
    }

    pub fn run(&self, spec: &serde_json::Value) -> Result<PeerReport> {
        let mut child = Command::new(&self.python)
            .arg(&self.script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                "--peer_python {}: cannot run it (scripts/setup.sh installs the project's .venv)",
                self.python.display()
            )
            })?;
        let mut stdin = child.stdin.take().context("the peer's stdin")?;
        stdin
            .write_all(serde_json::to_string(spec)?.as_bytes())
            .context("writing the peer's spec")?;
        drop(stdin);
        let out = child.wait_with_output().context("waiting for the peer")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.success(),
            "the PyTorch peer ({} {}) failed ({}):\n{stderr}",
            self.python.display(),
            self.script.display(),
            out.status
        );
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "the PyTorch peer's output is not its JSON report:\n{}{stderr}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}
