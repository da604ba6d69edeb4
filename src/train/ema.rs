//! Recursive average filtering (the "second update" that ends each iteration of the reference's
//! `basic_train_Rma_model`, `lib/procedure/basic_main.py`; the paper's "the teacher absorbs the
//! student"): after both optimiser steps of an iteration, `teacher ← λ·teacher + (1 − λ)·student`
//! for every trainable variable, matched by name, and the same between the two trackers.
//!
//! The reference code ran two such steps per iteration in opposite directions
//! (`student ← 0.6·student + 0.4·teacher`, then `teacher ← 0.6·teacher + 0.4·student`), which
//! contracts the two roles toward each other by 0.36 per iteration and leaves no "radical"
//! student; we keep the one direction the paper describes.
//!
//! **BatchNorm running statistics are not averaged** (as the reference, which filtered
//! parameters only): every role runs train-mode forward passes each iteration, which update its
//! own running mean and variance from its own activations; averaging them in would blend in
//! statistics of activations the averaged weights never produce.
use super::groups::trainable_names;
use anyhow::{ensure, Result};
use std::collections::HashMap;
use tch::{nn, Tensor};

/// The trainable variables of `dst` paired with those of `src` of the same name, in name
/// order. Errors name the first variable present in one store only or shaped differently.
pub fn pair_by_name(dst: &nn::VarStore, src: &nn::VarStore) -> Result<Vec<(Tensor, Tensor)>> {
    let trainable = |vs: &nn::VarStore| -> Result<HashMap<String, Tensor>> {
        let all = vs.variables();
        let names = trainable_names(vs, &all)?;
        Ok(names.into_iter().map(|n| (n.clone(), all[n].shallow_clone())).collect())
    };
    let (d, mut s) = (trainable(dst)?, trainable(src)?);
    let mut names: Vec<&String> = d.keys().collect();
    names.sort();
    let mut pairs = Vec::with_capacity(names.len());
    for name in names {
        let Some(from) = s.remove(name) else {
            anyhow::bail!("recursive average: `{name}` is trainable in one store only")
        };
        let to = &d[name];
        ensure!(
            to.size() == from.size() && to.kind() == from.kind() && to.device() == from.device(),
            "recursive average: `{name}` is {:?} {:?} on {:?} in one store and {:?} {:?} on {:?} \
             in the other",
            to.size(),
            to.kind(),
            to.device(),
            from.size(),
            from.kind(),
            from.device()
        );
        pairs.push((to.shallow_clone(), from));
    }
    if let Some(name) = s.keys().min() {
        anyhow::bail!("recursive average: `{name}` is trainable in one store only");
    }
    Ok(pairs)
}

/// `dst ← λ·dst + (1 − λ)·src` in place for each pair ([`pair_by_name`]), without recording
/// gradients: one `lerp_` kernel per tensor (`dst + (1 − λ)·(src − dst)`; tch 0.24 has no
/// multi-tensor `_foreach_lerp_`). `λ` must lie in [0, 1]: 1 keeps `dst`, 0 copies `src`.
pub fn average_into(pairs: &mut [(Tensor, Tensor)], lambda: f64) {
    assert!((0.0..=1.0).contains(&lambda), "recursive average: λ {lambda} outside [0, 1]");
    if lambda == 1.0 {
        return;
    }
    tch::no_grad(|| {
        for (dst, src) in pairs.iter_mut() {
            let _ = dst.lerp_(src, 1.0 - lambda);
        }
    });
}
