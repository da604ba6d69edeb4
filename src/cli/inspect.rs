//! `tsal inspect`: parameter counts and output shapes of a model configuration, or the tensors
//! of a weight file.
use crate::config::{limits, ModelConfig, TrackerConfig};
use crate::models::{weights, Detector, DetectorSpec, PwcLite};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tch::{nn, Device, Kind, Tensor};

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// A detector config (typed JSON, e.g. configs/Detector.config) or a tracker config
    /// (ARFlow JSON, e.g. configs/MFDS.json).
    pub config: Option<PathBuf>,
    /// List the tensors of a weight file (safetensors or a PyTorch state_dict) instead.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    #[command(flatten)]
    pub pts: super::flags::Points,
    /// Square input size in pixels (a multiple of 32 for the detector, 64 for the tracker).
    #[arg(long, default_value_t = 256)]
    pub size: i64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row {
    module: String,
    params: i64,
    /// Output shape for a batch of one.
    output: Vec<i64>,
}

#[derive(Serialize)]
struct Report {
    model: String,
    input: Vec<i64>,
    modules: Vec<Row>,
    total_params: i64,
}

pub fn run(a: &InspectArgs) -> Result<ExitCode> {
    match (&a.config, &a.weights) {
        (_, Some(w)) => inspect_weights(w, a.json),
        (Some(c), None) => {
            let is_tracker = c.extension().is_some_and(|e| e == "json");
            let report =
                if is_tracker { tracker_report(c, a.size)? } else { detector_report(c, a)? };
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => {
            bail!("give a model config (e.g. configs/Detector.config) or --weights FILE")
        }
    }
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

fn detector_report(path: &Path, a: &InspectArgs) -> Result<Report> {
    limits::side("--size", a.size, limits::Consumer::Detector)?;
    limits::count("--num_pts", a.pts.num_pts as i64, limits::MAX_POINTS)?;
    let cfg = ModelConfig::load(path)?;
    let spec =
        DetectorSpec::new(&cfg, a.pts.num_pts).with_context(|| path.display().to_string())?;
    let vs = nn::VarStore::new(Device::Cpu);
    let det = Detector::new(&vs.root(), spec);
    let params = params_by_module(&vs);
    let x = Tensor::f_zeros([1, 3, a.size, a.size], (Kind::Float, Device::Cpu))?;
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
    .with_context(|| format!("the detector's forward pass at --size {}", a.size))?;
    let total = params.values().sum();
    Ok(Report {
        model: format!("{} ({})", cfg.arch, path.display()),
        input: x.size(),
        modules,
        total_params: total,
    })
}

fn tracker_report(path: &Path, size: i64) -> Result<Report> {
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

fn print_report(r: &Report) {
    println!("{}  input {}", r.model, fmt_shape(&r.input));
    let w = r.modules.iter().map(|m| m.module.len()).max().unwrap_or(6).max(6);
    println!("{:<w$}  {:>12}  output", "module", "params");
    for m in &r.modules {
        println!("{:<w$}  {:>12}  {}", m.module, group(m.params), fmt_shape(&m.output));
    }
    println!("{:<w$}  {:>12}", "total", group(r.total_params));
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
struct TensorRow {
    name: String,
    shape: Vec<i64>,
    dtype: String,
    numel: i64,
}

fn inspect_weights(path: &PathBuf, json: bool) -> Result<ExitCode> {
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
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"file": path, "tensors": rows, "total": total})
            )?
        );
    } else {
        let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
        println!("{:<w$}  {:<8} {:>12}  shape", "name", "dtype", "numel");
        for r in &rows {
            println!(
                "{:<w$}  {:<8} {:>12}  {}",
                r.name,
                r.dtype,
                group(r.numel),
                fmt_shape(&r.shape)
            );
        }
        println!("{} tensors, {} values", rows.len(), group(total));
    }
    Ok(ExitCode::SUCCESS)
}
