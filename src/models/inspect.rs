//! What a model configuration builds (parameter counts and output shapes per module, from one
//! forward pass on zeros) and what a weight file holds (names, dtypes, shapes): the reports of
//! `tsal inspect`, printed as tables or serialised to JSON.
use super::{weights, Detector, DetectorSpec, PwcLite};
use crate::config::{limits, ModelConfig, TrackerConfig};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{nn, Device, Kind, Tensor};

#[derive(Serialize)]
pub struct Row {
    module: String,
    params: i64,
    /// Output shape for a batch of one.
    output: Vec<i64>,
}

#[derive(Serialize)]
pub struct Report {
    model: String,
    input: Vec<i64>,
    modules: Vec<Row>,
    total_params: i64,
}

/// Parameter counts by module: `stages.N` per stage, otherwise the first name component.
/// BatchNorm running statistics are buffers and not counted.
fn params_by_module(vs: &nn::VarStore) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for (name, t) in vs.variables() {
        if name.ends_with("running_mean") || name.ends_with("running_var") {
            continue;
        }
        let parts: Vec<&str> = name.split('.').collect();
        let key = if parts[0] == "stages" {
            format!("stages.{}", parts[1])
        } else {
            parts[0].to_string()
        };
        *m.entry(key).or_insert(0) += t.numel() as i64;
    }
    m
}

/// The detector that config `path` builds for `num_pts` points, at a square input of `size`.
pub fn detector(path: &Path, num_pts: usize, size: i64) -> Result<Report> {
    limits::side("--size", size, limits::Consumer::Detector)?;
    limits::count("--num_pts", num_pts as i64, limits::MAX_POINTS)?;
    let cfg = ModelConfig::load(path)?;
    let spec = DetectorSpec::new(&cfg, num_pts).with_context(|| path.display().to_string())?;
    let vs = nn::VarStore::new(Device::Cpu);
    let det = Detector::new(&vs.root(), spec);
    let params = params_by_module(&vs);
    let x = Tensor::f_zeros([1, 3, size, size], (Kind::Float, Device::Cpu))?;
    let mut modules = Vec::new();
    let _g = tch::no_grad_guard();
    crate::guard::catch(|| {
        det.forward_traced(&x, false, &mut |name, t| {
            modules.push(Row {
                module: name.to_string(),
                params: params.get(name).copied().unwrap_or(0),
                output: t.size(),
            })
        })
    })
    .with_context(|| format!("the detector's forward pass at --size {}", size))?;
    let total = params.values().sum();
    Ok(Report {
        model: format!("{} ({})", cfg.arch, path.display()),
        input: x.size(),
        modules,
        total_params: total,
    })
}

/// The tracker that config `path` builds, at a square input of `size`.
pub fn tracker(path: &Path, size: i64) -> Result<Report> {
    limits::side("--size", size, limits::Consumer::Tracker)?;
    let cfg = TrackerConfig::load(path)?;
    let vs = nn::VarStore::new(Device::Cpu);
    let t = PwcLite::new(&vs.root(), &cfg)?;
    let params = params_by_module(&vs);
    let x = Tensor::f_zeros([1, 3, size, size], (Kind::Float, Device::Cpu))?;
    let _g = tch::no_grad_guard();
    let out = crate::guard::catch(|| t.forward(&x, &x, false))
        .with_context(|| format!("the tracker's forward pass at --size {size}"))?;
    let mut modules: Vec<Row> = params
        .iter()
        .map(|(k, &n)| Row { module: k.clone(), params: n, output: Vec::new() })
        .collect();
    for (i, f) in out.forward.iter().enumerate() {
        modules.push(Row { module: format!("flow[{i}] (forward)"), params: 0, output: f.size() });
    }
    Ok(Report {
        model: format!("pwclite ({})", path.display()),
        input: vec![1, 6, size, size],
        modules,
        total_params: params.values().sum(),
    })
}

fn fmt_shape(s: &[i64]) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        format!("[{}]", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
    }
}

impl Report {
    pub fn print(&self) {
        let r = self;
        println!("{}  input {}", r.model, fmt_shape(&r.input));
        let w = r.modules.iter().map(|m| m.module.len()).max().unwrap_or(6).max(6);
        println!("{:<w$}  {:>12}  output", "module", "params");
        for m in &r.modules {
            println!("{:<w$}  {:>12}  {}", m.module, group(m.params), fmt_shape(&m.output));
        }
        println!("{:<w$}  {:>12}", "total", group(r.total_params));
    }
}

/// 7635264 → "7,635,264".
fn group(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Serialize)]
pub struct TensorRow {
    name: String,
    shape: Vec<i64>,
    dtype: String,
    numel: i64,
}

/// The tensors of weight file `path`.
#[derive(Serialize)]
pub struct WeightsReport {
    file: PathBuf,
    tensors: Vec<TensorRow>,
    total: i64,
}

/// The tensors of weight file `path` (safetensors or a PyTorch state dict).
pub fn weights_file(path: &Path) -> Result<WeightsReport> {
    let tensors = weights::read(path)?;
    let rows: Vec<TensorRow> = tensors
        .iter()
        .map(|(k, t)| TensorRow {
            name: k.clone(),
            shape: t.size(),
            dtype: format!("{:?}", t.kind()),
            numel: t.numel() as i64,
        })
        .collect();
    let total: i64 = rows.iter().map(|r| r.numel).sum();
    Ok(WeightsReport { file: path.to_path_buf(), tensors: rows, total })
}

impl WeightsReport {
    pub fn print(&self) {
        let rows = &self.tensors;
        let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
        println!("{:<w$}  {:<8} {:>12}  shape", "name", "dtype", "numel");
        for r in rows {
            println!(
                "{:<w$}  {:<8} {:>12}  {}",
                r.name,
                r.dtype,
                group(r.numel),
                fmt_shape(&r.shape)
            );
        }
        println!("{} tensors, {} values", rows.len(), group(self.total));
    }
}
