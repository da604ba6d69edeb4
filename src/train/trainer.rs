//! The epoch loop (spec §6.9, done as intended): supervised steps for each role on every batch,
//! the LR schedule stepped at the end of each epoch, evaluation of both roles on the eval
//! lists after each epoch ([`crate::eval::evaluate`], the function `tsal eval` runs), a
//! snapshot after each epoch (and every `--snapshot_every` iterations, at `--max_iters`, and at
//! Ctrl-C), metrics and curves. A run continues exactly where its last snapshot stood.
use super::progress::Progress;
use super::roles::{parts, parts_mut, DetectorRole, TrackerRole};
use super::round::{self, round, Averaging, Stats};
use super::schedule;
use super::schedule::multistep;
use super::step::{supervised_step, TERMS};
use crate::config::run::RunConfig;
use crate::data::batch::Batch;
use crate::data::clip;
use crate::data::loader::Loader;
use crate::eval::evaluate::{self, EvalList, Scoring};
use crate::eval::nme::Normaliser;
use crate::eval::predict::PredictOptions;
use crate::eval::report;
use crate::eval::score::Missing;
use crate::formats::list::{self, ListEntry};
use crate::fsutil::StagedDir;
use crate::interrupt::{self, Interrupted};
use crate::run::checkpoint::{self, TrainState};
use crate::run::folder::{self, Pointer, RunDir};
use crate::run::metrics::{self, ListMetrics, MetricsWriter, Record};
use crate::run::snapshot::Role;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tch::Device;

/// How a call to [`train`] ended (errors aside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every epoch trained.
    Finished,
    /// `--max_iters` reached.
    MaxIters,
    /// The run had already reached its end; nothing was trained.
    AlreadyDone,
}

/// Lines per batch when evaluating during training (`tsal eval`'s default, so the numbers are
/// the same).
pub const EVAL_BATCH: usize = 32;

/// The training lines of `cfg`: every list read (path maps applied). Supervised-only training
/// keeps the labelled lines; the TSAL round keeps every line (unlabelled ones feed its
/// unsupervised terms). Returns the lines and the number of unlabelled lines read.
pub fn training_lines(cfg: &RunConfig) -> Result<(Vec<ListEntry>, usize)> {
    let mut lines = Vec::new();
    let mut labelled = 0;
    let mut unlabelled = 0;
    for l in &cfg.data.train_lists {
        let entries = list::read(l, &cfg.data.path_map)
            .with_context(|| format!("--train_lists {}", l.display()))?;
        for e in entries {
            if e.is_labelled() {
                labelled += 1;
                lines.push(e);
            } else {
                unlabelled += 1;
                if !cfg.run.supervised_only {
                    lines.push(e);
                }
            }
        }
    }
    if labelled == 0 {
        bail!(
            "--train_lists: no labelled line in {} list(s) ({unlabelled} unlabelled): training \
             needs some annotations",
            cfg.data.train_lists.len()
        );
    }
    Ok((lines, unlabelled))
}

/// What the iterations since the last record did. Time counts from asking for a batch to the
/// end of the steps, so evaluation and snapshots between epochs do not lower frames/s.
struct Window {
    /// Role → term → (sum, steps that reported it): a diagnostic can be missing from a step
    /// (no labelled pair in the batch).
    sums: BTreeMap<String, BTreeMap<String, (f64, u64)>>,
    steps: u64,
    frames: u64,
    wait: f64,
    busy: f64,
}

impl Window {
    fn new() -> Self {
        Self { sums: BTreeMap::new(), steps: 0, frames: 0, wait: 0.0, busy: 0.0 }
    }

    fn add(&mut self, stats: &Stats) {
        for (role, terms) in stats {
            let sum = self.sums.entry(role.clone()).or_default();
            for (t, v) in terms {
                let e = sum.entry(t.clone()).or_insert((0.0, 0));
                e.0 += v;
                e.1 += 1;
            }
        }
    }

    fn frames_per_s(&self) -> f64 {
        self.frames as f64 / self.busy.max(1e-9)
    }
}

/// What a run needs before it touches its folder: the device, the training lines (read and
/// grouped), the eval lists (read, every image found). Everything a user can get wrong is
/// found here, before `--save_path` is created.
pub struct Prepared {
    pub device: Device,
    pub lines: Vec<ListEntry>,
    pub unlabelled: usize,
    pub eval_lists: Vec<EvalList>,
}

pub fn prepare(cfg: &RunConfig) -> Result<Prepared> {
    let device = cfg.run.device.resolve()?;
    let (lines, unlabelled) = training_lines(cfg)?;
    let workers = cfg.data.workers.max(1);
    if !cfg.data.skip_bad {
        let missing = crate::parallel::map(&lines, workers, None, |e| Ok(!e.image.is_file()))?;
        if let Some(i) = missing.iter().position(|&m| m) {
            bail!(
                "{}: image {}: file not found (--skip_bad leaves such lines out)",
                lines[i].origin,
                lines[i].image.display()
            );
        }
    }
    let eval_paths: Vec<_> =
        cfg.data.eval_ilists.iter().chain(&cfg.data.eval_vlists).cloned().collect();
    let eval_lists: Vec<EvalList> = eval_paths
        .iter()
        .map(|l| EvalList::read(l, &cfg.data.path_map, cfg.data.num_pts, workers))
        .collect::<Result<_>>()?;
    evaluate::check_images(&eval_lists, workers)?;
    Ok(Prepared { device, lines, unlabelled, eval_lists })
}

/// Train the run in `run` (resumed from its last snapshot when `resumed`).
pub fn train(cfg: &RunConfig, prep: Prepared, run: &RunDir, resumed: bool) -> Result<Ended> {
    let Prepared { device, lines, unlabelled, eval_lists } = prep;
    let (clips, groups) = clip::group(&lines, cfg.data.clip_frames);

    // Initial weights: libtorch's generator seeded once, the teacher drawn before the student.
    // Then the trackers, the teacher's first. A resumed run's snapshot replaces them all, so
    // the files a run started from are not read again (the same values are drawn either way).
    tch::manual_seed(cfg.run.rand_seed as i64);
    let init = if resumed { cfg.without_initial_weights() } else { cfg.clone() };
    let mut roles = vec![DetectorRole::new(&init, Role::Teacher, device)?];
    let mut trackers = Vec::new();
    if !cfg.run.supervised_only {
        roles.push(DetectorRole::new(&init, Role::Student, device)?);
        trackers.push(TrackerRole::new(&init, Role::Teacher, device)?);
        trackers.push(TrackerRole::new(&init, Role::Student, device)?);
    }
    let mut state = TrainState { epoch: 0, batch: 0, iter: 0, elapsed_s: 0.0, best: None };
    let metrics_path = run.path(folder::METRICS);
    let mut from = None;
    if resumed {
        if let Some(ptr) = run.read_pointer(folder::LAST)? {
            let dir = run.root.join(&ptr.snapshot);
            state = checkpoint::load(&dir, &mut parts_mut(&mut roles, &mut trackers))
                .with_context(|| format!("resuming from {}", dir.display()))?;
            from = Some(ptr.snapshot);
            checkpoint::restore_best_pointer(run, &state)?;
        }
    }
    // Paired after loading, so the pairs hold the variables training updates.
    let mut averaging =
        if trackers.is_empty() { None } else { Some(Averaging::new(&roles, &trackers)?) };
    if metrics_path.is_file() {
        // Records a killed run wrote after its last snapshot are written again.
        metrics::truncate_after(&metrics_path, state.iter)?;
    }

    let n_lines = lines.len();
    let loader = Loader::new(Arc::new(lines), Arc::new(clips), cfg.loader_config());
    let per_epoch = loader.epoch(0).len() as u64;
    let planned = per_epoch * cfg.run.epochs as u64;
    let end = cfg.run.max_iters.map_or(planned, |m| m.min(planned));
    if state.iter >= end || state.epoch >= cfg.run.epochs {
        println!(
            "{}: already trained to iteration {} of {end} (epoch {} of {}); nothing to do",
            run.root.display(),
            state.iter,
            state.epoch.min(cfg.run.epochs),
            cfg.run.epochs
        );
        return Ok(Ended::AlreadyDone);
    }

    let mut log = Progress::new(&run.root, cfg.run.rand_seed, state.iter, end)?;
    log.line(&format!(
        "tsal {} train: {} (seed {}, device {device:?}, log {})",
        env!("CARGO_PKG_VERSION"),
        run.root.display(),
        cfg.run.rand_seed,
        log.log_path.display()
    ));
    match &from {
        Some(s) => log.line(&format!(
            "resuming from {} (iteration {}, epoch {} batch {})",
            s.display(),
            state.iter,
            state.epoch + 1,
            state.batch
        )),
        None => log.line("starting a new run"),
    }
    let unlabelled_use = if cfg.run.supervised_only {
        format!("{unlabelled} unlabelled lines left out (--supervised_only)")
    } else {
        format!("{unlabelled} of them unlabelled")
    };
    log.line(&format!(
        "training data: {} lines in {} clips of {} frames ({} views of still images, {} video \
         clips), {unlabelled_use}; {} batches of {} clips per epoch, {} epochs, {} iterations{}",
        n_lines,
        groups.view_clips + groups.video_clips,
        cfg.data.clip_frames,
        groups.view_clips,
        groups.video_clips,
        per_epoch,
        cfg.data.batch_size,
        cfg.run.epochs,
        planned,
        cfg.run.max_iters.map_or(String::new(), |m| format!(" (stopping at --max_iters {m})"))
    ));
    for r in &roles {
        log.line(&format!(
            "{} optimiser ({:?}), parameter groups:",
            r.role.name(),
            cfg.opt.config.optimizer
        ));
        for g in r.opt.describe() {
            log.line(&format!("  {g}"));
        }
    }
    if !trackers.is_empty() {
        let t = &cfg.tsal;
        let source = match t.tracker_weights.as_slice() {
            [] => "from scratch".to_string(),
            [one] => format!("from {}", one.display()),
            many => format!("from {} and {}", many[0].display(), many[1].display()),
        };
        log.line(&format!(
            "TSAL round: trackers {} ({} parameters each, {}), consistency in {} space, \
             λ {}, μ {}, unsupervised weight {} × ramp (up to iteration {}, down from {})",
            source,
            trackers[0].vs.variables().values().map(|v| v.numel()).sum::<usize>(),
            cfg.tracker.path.display(),
            t.consistency.name(),
            t.lambda,
            t.mu,
            t.unsup_weight,
            schedule::ramp_breakpoints(planned).0,
            schedule::ramp_breakpoints(planned).1,
        ));
        if t.tracker_weights.is_empty() && from.is_none() {
            log.line(
                "warning: the trackers start from scratch (no --tracker_weights); their flow is \
                 poor until they have trained, and the ramp keeps their pull on the detectors \
                 small meanwhile",
            );
        }
    }

    let mut writer = MetricsWriter::open(&metrics_path)?;
    let (w, h) = (cfg.crop.width as i64, cfg.crop.height as i64);
    let num_pts = cfg.data.num_pts as i64;
    let opt = &cfg.opt.config;
    let started = Instant::now();
    // Seconds trained in earlier processes of this run, plus this one's.
    let base_elapsed = state.elapsed_s;
    let elapsed = || base_elapsed + started.elapsed().as_secs_f64();
    let mut win = Window::new();

    while state.epoch < cfg.run.epochs {
        let epoch = state.epoch;
        let lr = multistep(opt.lr, &opt.schedule, opt.gamma, epoch);
        for r in roles.iter_mut() {
            r.opt.set_base_lr(lr);
        }
        for t in trackers.iter_mut() {
            t.opt.set_base_lr(lr);
        }
        if state.batch == 0 {
            log.line(&format!("epoch {}/{}: base LR {:e}", epoch + 1, cfg.run.epochs, tidy(lr)));
        }
        let mut batches = loader.epoch_from(epoch as u64, state.batch);
        let mut stop_now = false;
        loop {
            let t0 = Instant::now();
            let Some(hb) = batches.next() else { break };
            let hb = hb?;
            let batch = Batch::from_host(&hb, w, h, num_pts, device)?;
            win.wait += t0.elapsed().as_secs_f64();
            let labelled = hb.samples.iter().flat_map(|s| &s.labelled).filter(|&&l| l).count();
            let iter = state.iter + 1;
            let stats = match averaging.as_mut() {
                Some(avg) => {
                    let ramp = schedule::ramp_weight(state.iter, planned);
                    let settings = round::Settings::of(cfg);
                    round(
                        &mut roles,
                        &mut trackers,
                        avg,
                        &batch,
                        labelled as i64,
                        settings,
                        ramp,
                        iter,
                    )?
                }
                None => {
                    let v = supervised_step(&mut roles[0], &batch, labelled as i64, opt, iter)?;
                    let terms = TERMS.iter().map(|t| t.to_string()).zip(v).collect();
                    Stats::from([(Role::Teacher.name().to_string(), terms)])
                }
            };
            win.add(&stats);
            state.iter = iter;
            state.batch = batches.position();
            win.steps += 1;
            win.frames += (batch.clips * batch.frames) as u64;
            win.busy += t0.elapsed().as_secs_f64();
            if iter.is_multiple_of(cfg.run.print_freq as u64) || iter == end {
                let rec = iter_record(&win, &roles, &trackers, epoch, iter, elapsed());
                log.line(&iter_line(&rec, cfg.run.epochs, end));
                writer.append(&rec)?;
                win = Window::new();
            }
            log.tick(iter, &bar_message(&win));
            if interrupt::requested() {
                let sig = interrupt::signal().expect("requested");
                state.elapsed_s = elapsed();
                let at = snapshot(run, cfg, &roles, &trackers, &state, &mut log)?;
                log.line(&format!(
                    "stopped by {} after iteration {iter}; snapshot {}: the same command continues",
                    sig.name(),
                    at.display()
                ));
                log.finish();
                return Err(Interrupted(sig).into());
            }
            if iter >= end {
                stop_now = true;
                break;
            }
            if cfg.run.snapshot_every.is_some_and(|n| iter.is_multiple_of(n))
                && state.batch < per_epoch as usize
            {
                state.elapsed_s = elapsed();
                snapshot(run, cfg, &roles, &trackers, &state, &mut log)?;
            }
        }
        drop(batches);
        let epoch_done = state.batch as u64 >= per_epoch;
        if !epoch_done {
            // --max_iters within the epoch.
            state.elapsed_s = elapsed();
            let at = snapshot(run, cfg, &roles, &trackers, &state, &mut log)?;
            log.line(&format!(
                "reached --max_iters at iteration {}: snapshot {}",
                state.iter,
                at.display()
            ));
            log.finish();
            return Ok(Ended::MaxIters);
        }
        // The epoch is trained: evaluate, then snapshot its end.
        let evaluated = match evaluate_epoch(
            cfg,
            run,
            &roles,
            &eval_lists,
            epoch,
            state.iter,
            device,
            &mut log,
        ) {
            Ok(v) => v,
            Err(e) if interrupt::is_interrupted(&e) => {
                state.elapsed_s = elapsed();
                let at = snapshot(run, cfg, &roles, &trackers, &state, &mut log)?;
                log.line(&format!(
                    "stopped during the evaluation of epoch {}; snapshot {} (the evaluation runs \
                     again when the same command continues)",
                    epoch + 1,
                    at.display()
                ));
                log.finish();
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        state.epoch = epoch + 1;
        state.batch = 0;
        state.elapsed_s = elapsed();
        let mut improved = false;
        if let Some((lists, mean)) = evaluated {
            let teacher = mean.get(Role::Teacher.name()).copied().unwrap_or(f64::NAN);
            improved = teacher.is_finite() && state.best.is_none_or(|(_, b)| teacher < b);
            if improved {
                state.best = Some((state.iter, teacher));
            }
            writer.append(&Record::Epoch {
                epoch,
                iter: state.iter,
                lists,
                mean_nme: mean,
                elapsed_s: state.elapsed_s,
            })?;
        }
        let at = snapshot(run, cfg, &roles, &trackers, &state, &mut log)?;
        if improved {
            let best = state.best.expect("set above");
            run.write_pointer(
                folder::BEST,
                &Pointer {
                    snapshot: at.clone(),
                    iter: state.iter,
                    epochs_done: state.epoch,
                    mean_nme: Some(best.1),
                },
            )?;
        }
        if let Some(keep) = cfg.run.keep {
            crate::run::keep::delete_unkept(run, keep, state.best.map(|(i, _)| i))?;
        }
        if let Err(e) = crate::plot::training::write_run_curves(&run.root) {
            log.line(&format!("warning: could not draw {}: {e:#}", folder::CURVES));
        }
        if stop_now && end < planned {
            log.line(&format!("reached --max_iters at iteration {}", state.iter));
            log.finish();
            return Ok(Ended::MaxIters);
        }
    }
    log.line(&format!(
        "trained {} epochs ({} iterations) in {:.0} s",
        cfg.run.epochs, state.iter, state.elapsed_s
    ));
    log.finish();
    Ok(Ended::Finished)
}

/// Write a snapshot at `state` and point `last.json` at it; its path in the run folder. A full
/// disk is also said in the log.
fn snapshot(
    run: &RunDir,
    cfg: &RunConfig,
    roles: &[DetectorRole],
    trackers: &[TrackerRole],
    state: &TrainState,
    log: &mut Progress,
) -> Result<std::path::PathBuf> {
    let rel = checkpoint::save(run, cfg, &parts(roles, trackers), state).inspect_err(|e| {
        if crate::fsutil::is_disk_full(e) {
            log.log_only(&format!("error: {}", crate::fsutil::disk_full_line(e)));
        }
    })?;
    log.line(&format!("snapshot {} (iteration {})", rel.display(), state.iter));
    Ok(rel)
}

fn iter_record(
    win: &Window,
    roles: &[DetectorRole],
    trackers: &[TrackerRole],
    epoch: usize,
    iter: u64,
    elapsed_s: f64,
) -> Record {
    let losses = win
        .sums
        .iter()
        .map(|(role, terms)| {
            let mean = terms.iter().map(|(t, (s, k))| (t.clone(), s / *k as f64)).collect();
            (role.clone(), mean)
        })
        .collect();
    let mut lr = BTreeMap::new();
    for r in roles {
        lr.insert(r.role.name().to_string(), r.opt.group_lrs().into_iter().collect());
    }
    for t in trackers {
        lr.insert(t.name(), t.opt.group_lrs().into_iter().collect());
    }
    Record::Iter {
        epoch,
        iter,
        losses,
        lr,
        frames_per_s: win.frames_per_s(),
        data_wait_s: win.wait,
        elapsed_s,
    }
}

/// Roles in log order: the detectors, the trackers, then the round's own numbers.
fn log_rank(role: &str) -> (usize, &str) {
    let rank = match role {
        "teacher" => 0,
        "student" => 1,
        r if r.starts_with("tracker_") => 2,
        round::ROUND => 4,
        _ => 3,
    };
    (rank, role)
}

fn iter_line(rec: &Record, epochs: usize, end: u64) -> String {
    let Record::Iter { epoch, iter, losses, lr, frames_per_s, data_wait_s, .. } = rec else {
        return String::new();
    };
    let mut s = format!("epoch {}/{epochs} iter {iter}/{end}", epoch + 1);
    let mut roles: Vec<&String> = losses.keys().collect();
    roles.sort_by_key(|r| log_rank(r));
    for role in roles {
        let terms = &losses[role];
        s += &format!(" | {role}");
        // Terms in the order the step reports them (total last), then any other.
        let order: &[&str] = match role.as_str() {
            "teacher" | "student" if terms.contains_key("sic") => &round::DETECTOR_TERMS,
            "teacher" | "student" => &TERMS,
            round::ROUND => &["ramp", "lambda", "mu"],
            _ => &round::TRACKER_TERMS,
        };
        for t in order.iter().copied().chain(round::DIAGNOSTICS) {
            if let Some(v) = terms.get(t) {
                s += &format!(" {t} {}", short(*v));
            }
        }
    }
    // The base LR is the trunk weights' (multiplier 1).
    if let Some(base) = lr.values().next().and_then(|g| g.get("trunk.weight")) {
        s += &format!(" | LR {:e}", tidy(*base));
    }
    s += &format!(" | {frames_per_s:.1} frames/s, data wait {data_wait_s:.2} s");
    s
}

/// A loss value in 4 decimals, or 3 significant digits when smaller than that shows.
fn short(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

fn bar_message(win: &Window) -> String {
    let mut s = String::new();
    for role in [Role::Teacher.name(), Role::Student.name()] {
        if let Some((v, k)) = win.sums.get(role).and_then(|t| t.get("total")) {
            s += &format!("{role} {:.4} ", v / *k as f64);
        }
    }
    s + &format!("{:.1} frames/s", win.frames_per_s())
}

/// Per-list metrics of every role, and each role's mean NME.
type EpochEval = (Vec<ListMetrics>, BTreeMap<String, f64>);

/// Evaluate every role on the eval lists into `reports/epoch-NNN/ROLE/`; per-list metrics and
/// the mean NME per role (fractions, as the reports), or `None` without eval lists.
#[allow(clippy::too_many_arguments)]
fn evaluate_epoch(
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

/// `x` rounded to 10 significant digits, so that a decayed LR prints as `9e-5`, not as the
/// `8.999999999999999e-5` that 1e-3 × 0.3 × 0.3 is in binary.
fn tidy(x: f64) -> f64 {
    format!("{x:.9e}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    #[test]
    fn decayed_learning_rates_print_short() {
        assert_eq!(format!("{:e}", super::tidy(1e-3 * 0.3 * 0.3)), "9e-5");
        assert_eq!(format!("{:e}", super::tidy(5e-5)), "5e-5");
        assert_eq!(format!("{:e}", super::tidy(1.234_567_891_2e-7)), "1.234567891e-7");
    }
}
