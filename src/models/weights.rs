//! Weight files: reading named tensors (safetensors, or PyTorch `torch.save` files such as
//! torchvision's `vgg16-397923af.pth`, in the zip or the legacy format, read by
//! [`crate::formats::torch_pickle`]) and loading them into a VarStore **by name**, with every name and
//! shape checked. Nested checkpoints (`{'epoch': …, 'state_dict': {...}}`, as ARFlow's `.tar`)
//! are read directly, from their `state_dict`, `model` or `model_state_dict` entry.
use crate::formats::torch_pickle;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{nn, Tensor};

/// Named tensors of a weight file, `module.` prefixes (DataParallel) stripped. The content
/// decides the format, not the extension: a `torch.save` file (zip or legacy pickle) is read by
/// [`torch_pickle::read`], anything else as safetensors. Reading a nested checkpoint's state
/// dict, or leaving out non-tensor entries, is said on stderr.
pub fn read(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    if path.is_dir() {
        bail!("{}: is a folder, not a weight file", path.display());
    }
    if !path.is_file() {
        bail!("{}: weight file not found", path.display());
    }
    let tensors = if torch_pickle::sniff_file(path)?.is_some() {
        let sd = torch_pickle::read(path)?;
        if let Some(entry) = &sd.nested_in {
            eprintln!(
                "{}: a nested checkpoint; reading the {} tensors of its `{entry}` entry",
                path.display(),
                sd.tensors.len()
            );
        }
        if !sd.skipped.is_empty() {
            eprintln!(
                "{}: left out {} non-tensor entr{}: {}",
                path.display(),
                sd.skipped.len(),
                if sd.skipped.len() == 1 { "y" } else { "ies" },
                abbreviate(&sd.skipped)
            );
        }
        sd.tensors
    } else {
        Tensor::read_safetensors(path).map_err(|e| {
            // tch's message names the file again; keep its reason only.
            let why = e.to_string().replace(&format!(" {}", path.display()), "");
            anyhow::anyhow!(
                "{}: not a weight file tsal can read (safetensors, or a PyTorch state dict \
                 saved with torch.save): {}",
                path.display(),
                crate::guard::first_line(&why)
            )
        })?
    };
    if tensors.is_empty() {
        bail!("{}: the file holds no tensors", path.display());
    }
    Ok(tensors
        .into_iter()
        .map(|(k, t)| (k.strip_prefix("module.").map(str::to_string).unwrap_or(k), t))
        .collect())
}

/// What a load matched.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub loaded: Vec<String>,
    /// Store variables (within the scope) the file lacks.
    pub missing: Vec<String>,
    /// File tensors (within the scope) the store lacks.
    pub unexpected: Vec<String>,
}

/// Copy `tensors` into the variables of `vs` whose names start with `scope` (all when empty).
/// Shapes must match exactly. With `strict`, missing or unexpected tensors are an error that
/// lists them; otherwise they are reported. BatchNorm's `num_batches_tracked` is ignored.
pub fn load_into(
    vs: &nn::VarStore,
    tensors: &BTreeMap<String, Tensor>,
    scope: &str,
    strict: bool,
    source: &Path,
) -> Result<LoadReport> {
    let vars = vs.variables();
    let in_scope = |k: &str| k.starts_with(scope) && !k.ends_with("num_batches_tracked");
    let mut report = LoadReport::default();
    let mut bad_shapes = Vec::new();
    for (name, var) in vars.iter().filter(|(k, _)| in_scope(k)) {
        match tensors.get(name) {
            None => report.missing.push(name.clone()),
            Some(src) if src.size() != var.size() => {
                bad_shapes.push(format!("{name}: file {:?}, model {:?}", src.size(), var.size()))
            }
            Some(_) => report.loaded.push(name.clone()),
        }
    }
    report.unexpected =
        tensors.keys().filter(|k| in_scope(k) && !vars.contains_key(*k)).cloned().collect();
    report.missing.sort();
    report.loaded.sort();
    let name = source.display();
    bad_shapes.sort();
    if !bad_shapes.is_empty() {
        // The first few only: a wrong architecture mismatches hundreds (a 12 KB line before).
        bail!(
            "{name}: shape mismatch for {} tensor(s): {}",
            bad_shapes.len(),
            abbreviate(&bad_shapes)
        );
    }
    if strict && (!report.missing.is_empty() || !report.unexpected.is_empty()) {
        bail!(
            "{name}: {} missing tensor(s) [{}], {} unexpected tensor(s) [{}]",
            report.missing.len(),
            abbreviate(&report.missing),
            report.unexpected.len(),
            abbreviate(&report.unexpected)
        );
    }
    if report.loaded.is_empty() {
        bail!(
            "{name}: no tensor matches the model{}",
            if scope.is_empty() { String::new() } else { format!(" under `{scope}`") }
        );
    }
    check_finite(report.loaded.iter().map(|n| (n.as_str(), &tensors[n])), source)?;
    tch::no_grad(|| -> Result<()> {
        for n in &report.loaded {
            let mut dst = vars[n].shallow_clone();
            dst.f_copy_(&tensors[n].to_kind(dst.kind()).to_device(dst.device()))
                .with_context(|| format!("{name}: copying {n}"))?;
        }
        Ok(())
    })?;
    Ok(report)
}

/// Refuse tensors holding NaN or ±inf, naming the first few and how many values: a snapshot
/// of a run that diverged, or a damaged file, would otherwise give NaN predictions (and a
/// training run would blame its learning rate). Integer tensors cannot hold either.
pub fn check_finite<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
    source: &Path,
) -> Result<()> {
    let mut bad = Vec::new();
    for (name, t) in tensors {
        if !t.is_floating_point() {
            continue;
        }
        let n = i64::try_from(t.isfinite().logical_not().sum(tch::Kind::Int64)).unwrap_or(0);
        if n > 0 {
            bad.push(format!("{name} ({n} of {})", t.numel()));
        }
    }
    if !bad.is_empty() {
        bail!(
            "{}: non-finite values (NaN or inf) in {} tensor(s): {}; the file was written by a run \
             that diverged, or is damaged",
            source.display(),
            bad.len(),
            abbreviate(&bad)
        );
    }
    Ok(())
}

/// Load a whole model file strictly: every variable present with its shape, nothing extra.
pub fn load_strict(vs: &nn::VarStore, path: &Path) -> Result<LoadReport> {
    load_into(vs, &read(path)?, "", true, path)
}

/// Load ImageNet VGG16 weights (torchvision `features.*`) into a detector's trunk. The file's
/// `features.24/26/28` (conv5) and `classifier.*` have no place in the trunk and are skipped.
pub fn load_vgg16_trunk(vs: &nn::VarStore, path: &Path) -> Result<LoadReport> {
    let tensors = read(path)?;
    let trunk: BTreeMap<String, Tensor> = tensors
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with("features.")
                && !["24", "26", "28"].contains(&k.split('.').nth(1).unwrap_or(""))
        })
        .collect();
    load_into(vs, &trunk, "features.", true, path)
}

/// Save every variable of `vs` (contiguous, on the CPU) to a safetensors file, atomically.
pub fn save(vs: &nn::VarStore, path: &Path) -> Result<()> {
    let vars: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, t)| (k, t.detach().to_device(tch::Device::Cpu).contiguous()))
        .collect();
    let tmp = path.with_extension("safetensors.tmp");
    Tensor::write_safetensors(&vars, &tmp)
        .with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

/// The first six names, then how many more.
pub(crate) fn abbreviate(names: &[String]) -> String {
    const SHOW: usize = 6;
    let mut s = names.iter().take(SHOW).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > SHOW {
        s += &format!(", and {} more", names.len() - SHOW);
    }
    s
}
