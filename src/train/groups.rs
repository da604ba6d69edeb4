//! Parameter groups of the detector: which variables train with which learning-rate multiplier
//! and weight decay.
//!
//! The CPM part follows the reference's `specify_parameter` (`lib/models/cpm_vgg16.py:294-305`):
//! weights at the base LR with weight decay, biases at twice the LR without decay, and the CPM
//! stages at 4× (weights) / 8× (biases), so the randomly initialised stages learn faster than
//! the ImageNet trunk. The reference left the CenterNet branch (`layer3_forhm`, `layer4_forhm`,
//! `deconv_layers_forhm`, `hm`, `hmhp_offset`) and every BatchNorm out of all its optimisers
//! (`specify_parameter` returns none of them), so they never trained. We fix that: the branch's
//! convolutions are treated like the layers right after the trunk (`CPM_feature`: weights ×1
//! with decay, biases ×2 without), and normalisation parameters train at ×1 without decay (the
//! usual convention: decaying a BatchNorm scale only shrinks what the next layer undoes).
use super::abbreviate;
use crate::config::optim::{GroupLr, OptConfig};
use anyhow::{ensure, Result};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use tch::{nn, Tensor};

/// LR multipliers of the reference's groups (`specify_parameter`,
/// `lib/models/cpm_vgg16.py:294-305`).
pub const TRUNK_WEIGHT_LR: f64 = 1.0;
pub const TRUNK_BIAS_LR: f64 = 2.0;
pub const FEATURE_WEIGHT_LR: f64 = 1.0;
pub const FEATURE_BIAS_LR: f64 = 2.0;
pub const STAGE_WEIGHT_LR: f64 = 4.0;
pub const STAGE_BIAS_LR: f64 = 8.0;
/// LR multipliers of the groups the reference lacked (ours, see the module doc).
pub const CENTERNET_WEIGHT_LR: f64 = 1.0;
pub const CENTERNET_BIAS_LR: f64 = 2.0;
pub const NORM_LR: f64 = 1.0;

/// Top-level modules of the CenterNet branch (`VGG16_base`, `lib/models/cpm_vgg16.py:166-340`).
const CENTERNET: [&str; 5] =
    ["layer3_forhm", "layer4_forhm", "deconv_layers_forhm", "hm", "hmhp_offset"];

/// Tensors that share a learning-rate multiplier and a weight decay.
#[derive(Debug)]
pub struct ParamGroup {
    /// Readable name (`trunk.weight`, `stages.0.bias`, `bn`, …).
    pub name: String,
    /// The group's LR is the base LR times this.
    pub lr_mult: f64,
    /// L2 weight decay added to the gradient (PyTorch's `weight_decay`).
    pub weight_decay: f64,
    /// Variable name (as in the VarStore) and the variable itself (shares its storage).
    pub params: Vec<(String, Tensor)>,
}

impl ParamGroup {
    /// Number of scalar parameters in the group.
    pub fn numel(&self) -> usize {
        self.params.iter().map(|(_, t)| t.numel()).sum()
    }
}

/// Where one variable goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    TrunkWeight,
    TrunkBias,
    FeatureWeight,
    FeatureBias,
    /// CPM stage `index`; derived order puts each stage's weights before its biases.
    Stage {
        index: usize,
        bias: bool,
    },
    CenterNetWeight,
    CenterNetBias,
    Norm,
}

impl Slot {
    /// (name, LR multiplier, weight decay) of the slot's group.
    fn group(self, decay: f64) -> (String, f64, f64) {
        match self {
            Slot::TrunkWeight => ("trunk.weight".into(), TRUNK_WEIGHT_LR, decay),
            Slot::TrunkBias => ("trunk.bias".into(), TRUNK_BIAS_LR, 0.0),
            Slot::FeatureWeight => ("CPM_feature.weight".into(), FEATURE_WEIGHT_LR, decay),
            Slot::FeatureBias => ("CPM_feature.bias".into(), FEATURE_BIAS_LR, 0.0),
            Slot::Stage { index, bias: false } => {
                (format!("stages.{index}.weight"), STAGE_WEIGHT_LR, decay)
            }
            Slot::Stage { index, bias: true } => {
                (format!("stages.{index}.bias"), STAGE_BIAS_LR, 0.0)
            }
            Slot::CenterNetWeight => ("centernet.weight".into(), CENTERNET_WEIGHT_LR, decay),
            Slot::CenterNetBias => ("centernet.bias".into(), CENTERNET_BIAS_LR, 0.0),
            Slot::Norm => ("bn".into(), NORM_LR, 0.0),
        }
    }
}

/// The slot of variable `name`, judged by its top-level module and by its module's weight:
/// 4-D = a (transposed) convolution, 1-D = a normalisation layer. `None` when no rule fits.
fn classify(name: &str, all: &HashMap<String, Tensor>) -> Option<Slot> {
    let (module, leaf) = name.rsplit_once('.')?;
    let is_weight = match leaf {
        "weight" => true,
        "bias" => false,
        _ => return None,
    };
    let module_dim = all.get(&format!("{module}.weight"))?.dim();
    let conv = module_dim == 4;
    let norm = module_dim == 1;
    let mut parts = name.split('.');
    let top = parts.next()?;
    let pick = |w: Slot, b: Slot| if is_weight { w } else { b };
    match top {
        "features" | "CPM_feature" | "stages" if norm => Some(Slot::Norm),
        "features" if conv => Some(pick(Slot::TrunkWeight, Slot::TrunkBias)),
        "CPM_feature" if conv => Some(pick(Slot::FeatureWeight, Slot::FeatureBias)),
        "stages" if conv => {
            let index: usize = parts.next()?.parse().ok()?;
            Some(Slot::Stage { index, bias: !is_weight })
        }
        t if CENTERNET.contains(&t) && norm => Some(Slot::Norm),
        t if CENTERNET.contains(&t) && conv => {
            Some(pick(Slot::CenterNetWeight, Slot::CenterNetBias))
        }
        _ => None,
    }
}

/// Order names as a person would: dot-separated parts, numbers compared as numbers
/// (`features.2` before `features.10`).
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let mut pa = a.split('.');
    let mut pb = b.split('.');
    loop {
        match (pa.next(), pb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(i), Ok(j)) => i.cmp(&j),
                    _ => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// The names, in `all` (= `vs.variables()`), of the variables `vs` registers as trainable (in
/// no particular order); an error when some cannot be named.
pub fn trainable_names<'a>(
    vs: &nn::VarStore,
    all: &'a HashMap<String, Tensor>,
) -> Result<Vec<&'a String>> {
    let trainable = vs.trainable_variables();
    let ptrs: HashSet<usize> = trainable.iter().map(|t| t.data_ptr() as usize).collect();
    let names: Vec<&String> = all
        .iter()
        .filter(|(_, t)| ptrs.contains(&(t.data_ptr() as usize)))
        .map(|(k, _)| k)
        .collect();
    ensure!(
        names.len() == trainable.len() && ptrs.len() == trainable.len(),
        "cannot name the VarStore's trainable variables: {} trainable, {} distinct, {} named",
        trainable.len(),
        ptrs.len(),
        names.len()
    );
    Ok(names)
}

/// The groups a role trains with under `opt`: [`detector_groups`] with `opt.decay`, their LR
/// multipliers as `opt.group_lr` says (`uniform`: every group at the base LR).
pub fn training_groups(vs: &nn::VarStore, opt: &OptConfig) -> Result<Vec<ParamGroup>> {
    let mut groups = detector_groups(vs, opt.decay)?;
    if opt.group_lr == GroupLr::Uniform {
        groups.iter_mut().for_each(|g| g.lr_mult = 1.0);
    }
    Ok(groups)
}

/// Every trainable variable of a tracker VarStore in one group `tracker` (×1, `decay`): the
/// reference built each tracker's optimiser on all its parameters at the base LR
/// (`exps/main.py`).
pub fn tracker_groups(vs: &nn::VarStore, decay: f64) -> Result<Vec<ParamGroup>> {
    let all = vs.variables();
    let mut names = trainable_names(vs, &all)?;
    names.sort_by(|a, b| natural_cmp(a, b));
    let params = names.into_iter().map(|n| (n.clone(), all[n].shallow_clone())).collect();
    Ok(vec![ParamGroup { name: "tracker".into(), lr_mult: 1.0, weight_decay: decay, params }])
}

/// Every trainable variable of a detector VarStore (names as the PyTorch `state_dict`:
/// `features.*`, `CPM_feature.*`, `stages.{i}.*`, `layer3_forhm.*`, `layer4_forhm.*`,
/// `deconv_layers_forhm.*`, `hm.*`, `hmhp_offset.*`) in exactly one group; `decay` is
/// `OptConfig.decay`.
///
/// Groups, in order: `trunk.weight` (×1, decay), `trunk.bias` (×2, 0), `CPM_feature.weight`
/// (×1, decay), `CPM_feature.bias` (×2, 0), then per CPM stage i `stages.{i}.weight` (×4,
/// decay) and `stages.{i}.bias` (×8, 0) — these are the reference's ten for three stages —
/// then `centernet.weight` (×1, decay), `centernet.bias` (×2, 0) and `bn` (every normalisation
/// weight and bias, ×1, 0). Empty groups are left out. Within a group, variables are in natural
/// name order.
///
/// Trainable means registered as trainable in the VarStore, whether frozen at the moment or
/// not; BatchNorm running statistics are not. A trainable variable that no rule matches is an
/// error naming it: nothing is left silently untrained.
pub fn detector_groups(vs: &nn::VarStore, decay: f64) -> Result<Vec<ParamGroup>> {
    let all = vs.variables();
    let mut names = trainable_names(vs, &all)?;
    names.sort_by(|a, b| natural_cmp(a, b));

    let mut slots: BTreeMap<Slot, Vec<(String, Tensor)>> = BTreeMap::new();
    let mut unmatched = Vec::new();
    for name in names {
        match classify(name, &all) {
            Some(slot) => {
                slots.entry(slot).or_default().push((name.clone(), all[name].shallow_clone()))
            }
            None => unmatched.push(name.clone()),
        }
    }
    ensure!(
        unmatched.is_empty(),
        "{} trainable variable(s) fit no parameter group (features.*, CPM_feature.*, \
         stages.N.*, CenterNet convolutions, normalisation layers): {}",
        unmatched.len(),
        abbreviate(&unmatched)
    );
    // `Slot`'s derived order is the group order (stages by index between the fixed groups).
    Ok(slots
        .into_iter()
        .map(|(slot, params)| {
            let (name, lr_mult, weight_decay) = slot.group(decay);
            ParamGroup { name, lr_mult, weight_decay, params }
        })
        .collect())
}
