//! `tsal eval`: score predictions on list files under one protocol. Predictions of any method
//! (`--predictions`: a folder of `.pts` files mirroring the images, or a JSON / CSV map) are
//! scored now; predicting with a snapshot (`--model`) lands with the rest of issue #5.
use crate::data::list::{self, PathMap};
use crate::eval::nme::Normaliser;
use crate::eval::report::{self, ListReport};
use crate::eval::{predictions, score};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Lists to evaluate, each reported on its own.
    #[arg(long, num_args = 1..)]
    pub lists: Vec<PathBuf>,
    /// Image lists (the reference's spelling; added to --lists).
    #[arg(long = "eval_ilists", visible_alias = "eval-ilists", num_args = 1..)]
    pub eval_ilists: Vec<PathBuf>,
    /// Video lists (the reference's spelling; added to --lists).
    #[arg(long = "eval_vlists", visible_alias = "eval-vlists", num_args = 1..)]
    pub eval_vlists: Vec<PathBuf>,
    /// Predictions to score: a folder of `.pts` files mirroring the images under the list's
    /// common image folder, a `.json` map `{"KEY": [[x, y], …]}` or a `.csv` with rows
    /// `KEY,x1,y1,…` (KEY = the image path under that folder, `/`-separated).
    #[arg(long, value_name = "DIR_OR_FILE", conflicts_with = "model")]
    pub predictions: Option<PathBuf>,
    /// A snapshot to predict with [not yet implemented].
    #[arg(long, value_name = "SNAPSHOT")]
    pub model: Option<PathBuf>,
    /// Normaliser (default: inter-ocular for 68 points, face-size for 19, box otherwise).
    #[arg(long, value_enum)]
    pub normaliser: Option<Normaliser>,
    /// Landmarks per face.
    #[arg(long = "num_pts", visible_alias = "num-pts", default_value_t = 68)]
    pub num_pts: usize,
    /// Output folder (default: next to the predictions, `<name>-eval`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Rewrite list path prefixes, OLD=NEW (repeatable).
    #[arg(long = "path_map", visible_alias = "path-map", value_name = "OLD=NEW")]
    pub path_map: Vec<PathMap>,
}

pub fn run(a: &EvalArgs) -> Result<ExitCode> {
    if a.model.is_some() {
        return Ok(super::not_yet("eval --model", "the rest of issue #5 (prediction)"));
    }
    let Some(source) = &a.predictions else {
        bail!("--predictions DIR_OR_FILE or --model SNAPSHOT: nothing to evaluate");
    };
    let lists: Vec<PathBuf> =
        a.lists.iter().chain(&a.eval_ilists).chain(&a.eval_vlists).cloned().collect();
    if lists.is_empty() {
        bail!("--lists: give at least one list to evaluate");
    }
    let norm = a.normaliser.unwrap_or(Normaliser::default_for(a.num_pts));
    let mut reports = Vec::new();
    for l in &lists {
        let entries = list::read(l, &a.path_map)?;
        let preds = predictions::read(source, &entries, a.num_pts)
            .with_context(|| format!("predictions for {}", l.display()))?;
        let score = score::score_list(&entries, &preds, norm, a.num_pts)?;
        reports.push(ListReport { list: l.clone(), score });
    }
    let out = a.out.clone().unwrap_or_else(|| {
        let name = source.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        source.with_file_name(format!("{name}-eval"))
    });
    let title = format!("Evaluation of {}", source.display());
    let meta = serde_json::json!({
        "predictions": source,
        "normaliser": norm,
        "normaliser_name": norm.name(),
        "num_pts": a.num_pts,
        "tsal": env!("CARGO_PKG_VERSION"),
    });
    report::write(&out, &title, meta, &reports)?;
    print!("{}", report::markdown(&title, &reports));
    eprintln!("wrote {}/report.md, report.json, per_image.csv", out.display());
    Ok(ExitCode::SUCCESS)
}
