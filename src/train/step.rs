//! One supervised update of a detector role (the supervised terms of the reference's
//! `basic_train_Rma_model`, `lib/procedure/basic_main.py`): forward in train mode, the heatmap,
//! centre and offset losses weighted 1 / 1 / 0.1, backward, one optimiser step. A non-finite
//! loss stops before the step, naming the term.
use super::roles::DetectorRole;
use crate::config::OptConfig;
use crate::data::batch::Batch;
use crate::losses::{self, focal, heatmap, offset};
use crate::models::DetectorOutput;
use anyhow::{bail, Result};
use tch::Tensor;

/// The supervised loss terms of one batch, 0-d tensors on the device (`total` carries the
/// gradient).
pub struct Terms {
    pub heatmap: Tensor,
    pub focal: Tensor,
    pub offset: Tensor,
    pub total: Tensor,
}

/// Term names in the order of [`Terms::values`] (the metrics file and the log use them).
pub const TERMS: [&str; 4] = ["heatmap", "focal", "offset", "total"];

impl Terms {
    /// The terms as numbers (one device sync).
    pub fn values(&self) -> Result<[f64; 4]> {
        let v = host_values(&[&self.heatmap, &self.focal, &self.offset, &self.total])?;
        Ok([v[0], v[1], v[2], v[3]])
    }
}

/// 0-d loss tensors as numbers, in order (one device sync).
pub fn host_values(terms: &[&Tensor]) -> Result<Vec<f64>> {
    let all: Vec<Tensor> = terms.iter().map(|t| t.detach().to_kind(tch::Kind::Double)).collect();
    Ok(Vec::<f64>::try_from(Tensor::stack(&all, 0).to_device(tch::Device::Cpu))?)
}

/// An error naming the first non-finite value of `values` (terms `names` of `role`), so that
/// training stops before an update is applied from it.
pub fn refuse_non_finite(names: &[&str], values: &[f64], role: &str, iter: u64) -> Result<()> {
    if let Some(k) = values.iter().position(|x| !x.is_finite()) {
        bail!(
            "the {} loss of the {role} became {} at iteration {iter}; training stopped before \
             that update (lower the LR in --opt_config?)",
            names[k],
            values[k]
        );
    }
    Ok(())
}

/// The supervised terms of `out` against the targets of `b`; `labelled` is the number of
/// labelled frames in the batch (the reference's `annotated_num`).
pub fn supervised_terms(out: &DetectorOutput, b: &Batch, labelled: i64, opt: &OptConfig) -> Terms {
    let hm = heatmap::stage_mse(
        &out.stages,
        &b.heatmaps,
        &b.heatmap_mask,
        labelled,
        opt.criterion,
        opt.lossnorm,
    );
    let fo = focal::centre_focal(&out.centre, &b.centre, &b.centre_valid);
    let of =
        offset::offset_l1(&out.offsets, &b.centre_ind, &b.offsets, &b.offset_mask, &b.centre_valid);
    let total = &hm * losses::HEATMAP_WEIGHT
        + &fo * losses::CENTRE_FOCAL_WEIGHT
        + &of * losses::OFFSET_WEIGHT;
    Terms { heatmap: hm, focal: fo, offset: of, total }
}

/// One supervised step of role `r` on batch `b` at global iteration `iter` (1-based, for
/// messages): the loss values, after the update. A non-finite term leaves the weights as they
/// were and is an error naming the term, the role and the iteration.
pub fn supervised_step(
    r: &mut DetectorRole,
    b: &Batch,
    labelled: i64,
    opt: &OptConfig,
    iter: u64,
) -> Result<[f64; 4]> {
    let out = r.forward(&b.images, true);
    let terms = supervised_terms(&out, b, labelled, opt);
    let v = terms.values()?;
    refuse_non_finite(&TERMS, &v, r.role.name(), iter)?;
    r.opt.zero_grad();
    terms.total.backward();
    r.opt.step();
    Ok(v)
}
