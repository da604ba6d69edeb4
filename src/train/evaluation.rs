//! The evaluation after each epoch: every detector on the eval lists with the function `tsal
//! eval` runs ([`crate::eval::evaluate`]), written to `reports/epoch-NNN/ROLE/`, one log line
//! per role, and the per-list metrics for `metrics.jsonl`.
use super::progress::Progress;
use super::roles::DetectorRole;
use crate::config::run::RunConfig;
use crate::eval::evaluate::{self, EvalList, Scoring};
use crate::eval::nme::Normaliser;
use crate::eval::predict::{PredictOptions, EVAL_BATCH};
use crate::eval::report;
use crate::eval::score::Missing;
use crate::fsutil::StagedDir;
use crate::run::metrics::ListMetrics;
use crate::run::RunDir;
use anyhow::Result;
use std::collections::BTreeMap;
use tch::Device;

/// Per-list metrics of every role, and each role's mean NME.
pub type EpochEval = (Vec<ListMetrics>, BTreeMap<String, f64>);

/// Evaluate every role on the eval lists into `reports/epoch-NNN/ROLE/`; per-list metrics and
/// the mean NME per role (fractions, as the reports), or `None` without eval lists.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_epoch(
    cfg: &RunConfig,
    run: &RunDir,
    roles: &[DetectorRole],
    lists: &[EvalList],
    epoch: usize,
    iter: u64,
    device: Device,
    log: &mut Progress,
) -> Result<Option<EpochEval>> {
    if lists.is_empty() {
        return Ok(None);
    }
    let opts = PredictOptions {
        crop: cfg.crop,
        num_pts: cfg.data.num_pts,
        radius: cfg.model.config.argmax as i64,
        batch_size: EVAL_BATCH,
        workers: cfg.data.workers.max(1),
        device,
        tta: None,
    };
    let norm = Normaliser::default_for(cfg.data.num_pts);
    let scoring = Scoring { normaliser: norm, missing: Missing::Skip };
    let mut out = Vec::new();
    let mut means = BTreeMap::new();
    for r in roles {
        let e = evaluate::evaluate(&r.det, lists, &opts, scoring)?;
        let dir = run.report_dir(epoch + 1).join(r.role.name());
        let staged = StagedDir::with_kind(&dir, true, report::KIND)?;
        let title =
            format!("{} detector after epoch {} ({iter} iterations)", r.role.name(), epoch + 1);
        let meta = serde_json::json!({
            "run": run.root, "role": r.role.name(), "epoch": epoch + 1, "iter": iter,
            "crop": [cfg.crop.width, cfg.crop.height], "pre_crop_expand": cfg.crop.expand,
            "soft_argmax_radius": cfg.model.config.argmax, "normaliser": format!("{norm:?}"),
        });
        e.write(staged.path(), lists, &title, &[], meta)?;
        staged.commit()?;
        let mut sum = 0.0;
        let mut line = format!("epoch {} {} NME:", epoch + 1, r.role.name());
        for rep in &e.reports {
            let s = &rep.score.summary;
            let m = ListMetrics {
                role: r.role.name().to_string(),
                list: rep.list.display().to_string(),
                nme: s.nme_mean,
                auc_08: s.at[0][1],
                fr_08: s.at[0][2],
                auc_10: s.at[1][1],
                fr_10: s.at[1][2],
                scored: s.faces,
            };
            let name =
                rep.list.file_name().map_or(String::new(), |n| n.to_string_lossy().to_string());
            line += &format!(" {name} {:.2}%", 100.0 * m.nme);
            sum += m.nme;
            out.push(m);
        }
        let mean = sum / e.reports.len().max(1) as f64;
        line += &format!(" (mean {:.2}%, {:.0} frames/s)", 100.0 * mean, e.frames_per_second());
        log.line(&line);
        means.insert(r.role.name().to_string(), mean);
    }
    Ok(Some((out, means)))
}
