//! The epoch loop, as a [`Trainer`]: set-up (roles, resume, loader, the log's account of the
//! run), one iteration (the TSAL round, or the teacher's supervised step), the end of an epoch
//! (the LR schedule, evaluation of both roles on the eval lists with the function `tsal eval`
//! runs, a snapshot, retention, curves) and the stops (the end, `--max_iters`, Ctrl-C), each
//! with a snapshot to continue from. A run continues exactly where its last snapshot stood
//! (the reference's loop is `exps/main.py:264-322`; its evaluation did not run as committed).
use super::evaluation::evaluate_epoch;
use super::landmark_log::LandmarkLog;
use super::progress::{tidy, Progress, Window};
use super::roles::{parts, parts_mut, DetectorRole, TrackerRole};
use super::round::{self, round, Averaging};
use super::schedule::{self, multistep};
use super::stats::IterStats;
use super::step::supervised_step;
use crate::config::run::RunConfig;
use crate::data::augment::VideoDraws;
use crate::data::batch::Batch;
use crate::data::clip::{self, GroupStats};
use crate::data::loader::{HostBatch, Loader};
use crate::device::Precision;
use crate::eval::evaluate::{self, EvalList};
use crate::formats::list::{self, ListEntry};
use crate::interrupt::{self, Interrupted};
use crate::run::checkpoint::{self, TrainState};
use crate::run::folder::{self, Pointer, RunDir};
use crate::run::metrics::{self, MetricsWriter, Record};
use crate::run::snapshot::Role;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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

/// The training lines of `cfg`: every list read (path maps applied), the `--shadow_lists`
/// after the `--train_lists`, their annotations marked as shadow labels. Supervised-only
/// training keeps the labelled lines; the TSAL round keeps every line (unlabelled ones feed its
/// unsupervised terms). Returns the lines and the number of unlabelled lines read (shadow
/// labels count as unlabelled).
pub fn training_lines(cfg: &RunConfig) -> Result<(Vec<ListEntry>, usize)> {
    let mut lines = Vec::new();
    let mut labelled = 0;
    let mut unlabelled = 0;
    let lists = cfg.data.train_lists.iter().map(|l| (l, false));
    for (l, shadow) in lists.chain(cfg.data.shadow_lists.iter().map(|l| (l, true))) {
        let flag = if shadow { "--shadow_lists" } else { "--train_lists" };
        let entries =
            list::read(l, &cfg.data.path_map).with_context(|| format!("{flag} {}", l.display()))?;
        if shadow && !entries.iter().any(|e| e.annotation.is_some()) {
            bail!(
                "--shadow_lists {}: no annotated line, so no shadow label to measure with (an \
                 unlabelled list goes under --train_lists)",
                l.display()
            );
        }
        for mut e in entries {
            e.shadow = shadow;
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

/// What a run needs before it touches its folder: the device, the training lines (read and
/// grouped), the eval lists (read, every image found). Everything a user can get wrong is
/// found here, before `--save_path` is created.
pub struct Prepared {
    pub device: Device,
    /// `--precision` resolved on `device`.
    pub precision: Precision,
    pub lines: Vec<ListEntry>,
    pub unlabelled: usize,
    pub eval_lists: Vec<EvalList>,
    /// Where the TSAL round's per-landmark rows go (`--landmark_log`; none from [`prepare`]).
    pub landmark_log: Option<LandmarkLog>,
}

pub fn prepare(cfg: &RunConfig) -> Result<Prepared> {
    let device = cfg.run.device.resolve()?;
    let precision = cfg.run.precision.resolve(device, crate::device::cpu_bf16())?;
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
    Ok(Prepared { device, precision, lines, unlabelled, eval_lists, landmark_log: None })
}

/// Train the run in `run` (resumed from its last snapshot when `resumed`).
pub fn train(cfg: &RunConfig, prep: Prepared, run: &RunDir, resumed: bool) -> Result<Ended> {
    match Trainer::new(cfg, prep, run, resumed)? {
        Some(t) => t.run(),
        None => Ok(Ended::AlreadyDone),
    }
}

/// A run in progress: its roles, where it stands, its loader and its outputs.
pub struct Trainer<'a> {
    cfg: &'a RunConfig,
    run: &'a RunDir,
    device: Device,
    roles: Vec<DetectorRole>,
    trackers: Vec<TrackerRole>,
    /// The recursive average of the TSAL round (none for a supervised-only run).
    averaging: Option<Averaging>,
    state: TrainState,
    loader: Loader,
    eval_lists: Vec<EvalList>,
    /// Batches per epoch, iterations of the whole schedule, and the iteration to stop at.
    per_epoch: u64,
    planned: u64,
    end: u64,
    log: Progress,
    writer: MetricsWriter,
    landmarks: Option<LandmarkLog>,
    window: Window,
    /// When this process started training, and the seconds earlier processes trained.
    started: Instant,
    earlier_s: f64,
}

/// Why an iteration ended the loop early.
enum Halt {
    /// `--max_iters` reached.
    End,
    Interrupted(interrupt::Signal),
}

impl<'a> Trainer<'a> {
    /// Build the roles (seeded), restore them from the last snapshot when `resumed`, set up
    /// the loader and write the run's account in the log; `None` when the run is already
    /// trained to its end.
    pub fn new(
        cfg: &'a RunConfig,
        prep: Prepared,
        run: &'a RunDir,
        resumed: bool,
    ) -> Result<Option<Self>> {
        let Prepared { device, precision, lines, unlabelled, eval_lists, landmark_log } = prep;
        let (clips, groups) =
            clip::group_strided(&lines, cfg.data.clip_frames, cfg.data.clip_stride);
        let (mut roles, mut trackers) = build_roles(cfg, resumed, device)?;
        roles.iter_mut().for_each(|r| r.precision = precision);
        trackers.iter_mut().for_each(|t| t.precision = precision);
        let mut state = TrainState { epoch: 0, batch: 0, iter: 0, elapsed_s: 0.0, best: None };
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
        let averaging =
            if trackers.is_empty() { None } else { Some(Averaging::new(&roles, &trackers)?) };
        let metrics_path = run.path(folder::METRICS);
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
            return Ok(None);
        }
        let log = Progress::new(&run.root, cfg.run.rand_seed, state.iter, end)?;
        let mut t = Trainer {
            cfg,
            run,
            device,
            roles,
            trackers,
            averaging,
            earlier_s: state.elapsed_s,
            state,
            loader,
            eval_lists,
            per_epoch,
            planned,
            end,
            log,
            writer: MetricsWriter::open(&metrics_path)?,
            landmarks: landmark_log,
            window: Window::default(),
            started: Instant::now(),
        };
        t.describe(from.as_deref(), n_lines, unlabelled, &groups);
        Ok(Some(t))
    }

    /// The log's account of the run: where it starts, its data, its optimisers, its round.
    fn describe(&mut self, from: Option<&Path>, lines: usize, unlabelled: usize, g: &GroupStats) {
        let (cfg, st) = (self.cfg, &self.state);
        let log = &mut self.log;
        log.line(&format!(
            "tsal {} train: {} (seed {}, device {:?}, {}, log {})",
            env!("CARGO_PKG_VERSION"),
            self.run.root.display(),
            cfg.run.rand_seed,
            self.device,
            self.roles[0].precision.name(),
            log.log_path.display()
        ));
        log.line(&match from {
            Some(s) => format!(
                "resuming from {} (iteration {}, epoch {} batch {})",
                s.display(),
                st.iter,
                st.epoch + 1,
                st.batch
            ),
            None => "starting a new run".to_string(),
        });
        let unlabelled_use = if cfg.run.supervised_only {
            format!("{unlabelled} unlabelled lines left out (--supervised_only)")
        } else {
            format!("{unlabelled} of them unlabelled")
        };
        log.line(&format!(
            "training data: {lines} lines in {} clips of {} frames ({} views of still images, {} \
             video clips{}), {unlabelled_use}; {} batches of {} clips per epoch, {} epochs, {} \
             iterations{}",
            g.view_clips + g.video_clips,
            cfg.data.clip_frames,
            g.view_clips,
            g.video_clips,
            match cfg.data.clip_stride {
                1 => String::new(),
                k => format!(" of frames {k} apart, {} video frames in none", g.left_out),
            },
            self.per_epoch,
            cfg.data.batch_size,
            cfg.run.epochs,
            self.planned,
            cfg.run.max_iters.map_or(String::new(), |m| format!(" (stopping at --max_iters {m})"))
        ));
        for r in &self.roles {
            let kind = cfg.opt.config.optimizer;
            log.line(&format!("{} optimiser ({kind:?}), parameter groups:", r.role.name()));
            for g in r.opt.describe() {
                log.line(&format!("  {g}"));
            }
        }
        if let Some(tracker) = self.trackers.first() {
            let t = &cfg.tsal;
            let source = match t.tracker_weights.as_slice() {
                _ if t.zero_flow => "replaced by zero flow (--zero_flow)".to_string(),
                [] => "from scratch".to_string(),
                [one] => format!("from {}", one.display()),
                many => format!("from {} and {}", many[0].display(), many[1].display()),
            };
            let (up, down) = schedule::ramp_breakpoints(self.planned);
            log.line(&format!(
                "TSAL round: trackers {} ({} parameters each, {}), consistency in {} space, \
                 λ {}, μ {}, the student's pseudo-label from the {}, unsupervised weight {} × \
                 ramp (up to iteration {up}, down from {down}); video clips' frames {} apart, \
                 their augmentation {}",
                source,
                tracker.vs.variables().values().map(|v| v.numel()).sum::<usize>(),
                cfg.tracker.path.display(),
                t.consistency.name(),
                t.lambda,
                t.mu,
                t.pseudo_source.name(),
                t.unsup_weight,
                cfg.data.clip_stride,
                match cfg.augment.video_draws {
                    VideoDraws::Shared => "one draw per clip (--video_draws shared)",
                    VideoDraws::Independent =>
                        "a draw per frame, aligned (--video_draws independent)",
                    VideoDraws::Anchored => {
                        "the first frame's the evaluation crop, the others drawn, aligned \
                         (--video_draws anchored)"
                    }
                },
            ));
            if t.tracker_weights.is_empty() && from.is_none() && !t.zero_flow {
                log.line(
                    "warning: the trackers start from scratch (no --tracker_weights); their flow \
                     is poor until they have trained, and the ramp keeps their pull on the \
                     detectors small meanwhile",
                );
            }
        }
    }

    /// Seconds trained in all: earlier processes of this run, and this one.
    fn elapsed(&self) -> f64 {
        self.earlier_s + self.started.elapsed().as_secs_f64()
    }

    /// Write a snapshot where training stands; its path in the run folder.
    fn save(&mut self) -> Result<PathBuf> {
        self.state.elapsed_s = self.elapsed();
        snapshot(self.run, self.cfg, &self.roles, &self.trackers, &self.state, &mut self.log)
    }

    /// Stop here: a snapshot, then the log's last line `said(snapshot)`.
    fn stop(&mut self, said: impl FnOnce(&Path) -> String) -> Result<()> {
        let at = self.save()?;
        self.log.line(&said(&at));
        self.log.finish();
        Ok(())
    }

    /// Train to the end of the schedule, `--max_iters` or a signal.
    pub fn run(mut self) -> Result<Ended> {
        while self.state.epoch < self.cfg.run.epochs {
            let epoch = self.state.epoch;
            match self.train_epoch(epoch)? {
                Some(Halt::Interrupted(sig)) => return Err(Interrupted(sig).into()),
                Some(Halt::End) if (self.state.batch as u64) < self.per_epoch => {
                    // --max_iters within the epoch.
                    let iter = self.state.iter;
                    self.stop(|at| {
                        format!(
                            "reached --max_iters at iteration {iter}: snapshot {}",
                            at.display()
                        )
                    })?;
                    return Ok(Ended::MaxIters);
                }
                halt => {
                    self.end_epoch(epoch)?;
                    if halt.is_some() && self.end < self.planned {
                        let iter = self.state.iter;
                        self.log.line(&format!("reached --max_iters at iteration {iter}"));
                        self.log.finish();
                        return Ok(Ended::MaxIters);
                    }
                }
            }
        }
        self.log.line(&format!(
            "trained {} epochs ({} iterations) in {:.0} s",
            self.cfg.run.epochs, self.state.iter, self.state.elapsed_s
        ));
        self.log.finish();
        Ok(Ended::Finished)
    }

    /// The batches of `epoch` from where the state stands; `Some` when the loop must stop
    /// before the epoch's end (at `--max_iters` the epoch may also have just ended).
    fn train_epoch(&mut self, epoch: usize) -> Result<Option<Halt>> {
        let opt = &self.cfg.opt.config;
        let lr = multistep(opt.lr, &opt.schedule, opt.gamma, epoch);
        for r in self.roles.iter_mut() {
            r.opt.set_base_lr(lr);
        }
        for t in self.trackers.iter_mut() {
            t.opt.set_base_lr(lr);
        }
        if self.state.batch == 0 {
            let epochs = self.cfg.run.epochs;
            self.log.line(&format!("epoch {}/{epochs}: base LR {:e}", epoch + 1, tidy(lr)));
        }
        let loader = &self.loader;
        let mut batches = loader.epoch_from(epoch as u64, self.state.batch);
        loop {
            let t0 = Instant::now();
            let Some(hb) = batches.next() else { return Ok(None) };
            self.iteration(&hb?, epoch, t0)?;
            self.state.batch = batches.position();
            let iter = self.state.iter;
            if let Some(sig) = interrupt::requested().then(interrupt::signal).flatten() {
                self.stop(|at| {
                    format!(
                        "stopped by {} after iteration {iter}; snapshot {}: the same command \
                         continues",
                        sig.name(),
                        at.display()
                    )
                })?;
                return Ok(Some(Halt::Interrupted(sig)));
            }
            if iter >= self.end {
                return Ok(Some(Halt::End));
            }
            let every = self.cfg.run.snapshot_every;
            if every.is_some_and(|n| iter.is_multiple_of(n))
                && (self.state.batch as u64) < self.per_epoch
            {
                self.save()?;
            }
        }
    }

    /// One iteration on `hb` (asked for at `t0`): the round or the supervised step, then the
    /// window of the log and `metrics.jsonl`.
    fn iteration(&mut self, hb: &HostBatch, epoch: usize, t0: Instant) -> Result<()> {
        let cfg = self.cfg;
        let (w, h) = (cfg.crop.width as i64, cfg.crop.height as i64);
        let batch = Batch::from_host(hb, w, h, cfg.data.num_pts as i64, self.device)?;
        self.window.wait += t0.elapsed().as_secs_f64();
        let labelled = hb.samples.iter().flat_map(|s| &s.labelled).filter(|&&l| l).count() as i64;
        let iter = self.state.iter + 1;
        let stats = match self.averaging.as_mut() {
            Some(avg) => {
                let ramp = schedule::ramp_weight(self.state.iter, self.planned);
                let settings = round::Settings {
                    landmarks: self.landmarks.is_some(),
                    ..round::Settings::of(cfg)
                };
                let (roles, trackers) = (&mut self.roles, &mut self.trackers);
                round(roles, trackers, avg, &batch, labelled, settings, ramp, iter)?
            }
            None => {
                let opt = &cfg.opt.config;
                let v = supervised_step(&mut self.roles[0], &batch, labelled, opt, iter)?;
                IterStats::supervised(v)
            }
        };
        if let Some(log) = self.landmarks.as_mut() {
            log.append(iter, &stats.landmarks)?;
        }
        self.window.add(&stats);
        self.state.iter = iter;
        self.window.frames += (batch.clips * batch.frames) as u64;
        self.window.busy += t0.elapsed().as_secs_f64();
        if iter.is_multiple_of(cfg.run.print_freq as u64) || iter == self.end {
            let rec = self.window.record(epoch, iter, self.learning_rates(), self.elapsed());
            let base_lr = self.roles[0].opt.base_lr();
            let line = self.window.line(epoch, cfg.run.epochs, iter, self.end, base_lr);
            self.log.line(&line);
            self.writer.append(&rec)?;
            self.window = Window::default();
        }
        self.log.tick(iter, &self.window.bar_message());
        Ok(())
    }

    /// Role → parameter group → learning rate, for every role.
    fn learning_rates(&self) -> BTreeMap<String, BTreeMap<String, f64>> {
        let detectors = self.roles.iter().map(|r| (r.role.name().to_string(), &r.opt));
        let trackers = self.trackers.iter().map(|t| (t.name(), &t.opt));
        detectors.chain(trackers).map(|(n, o)| (n, o.group_lrs().into_iter().collect())).collect()
    }

    /// The epoch is trained: evaluate, snapshot its end, point `best.json`, apply `--keep`,
    /// draw the curves. A signal during the evaluation stops with a snapshot (the evaluation
    /// runs again when the run continues).
    fn end_epoch(&mut self, epoch: usize) -> Result<()> {
        let (cfg, run) = (self.cfg, self.run);
        let evaluated = match evaluate_epoch(
            cfg,
            run,
            &self.roles,
            &self.eval_lists,
            epoch,
            self.state.iter,
            self.device,
            &mut self.log,
        ) {
            Ok(v) => v,
            Err(e) if interrupt::is_interrupted(&e) => {
                self.stop(|at| {
                    format!(
                        "stopped during the evaluation of epoch {}; snapshot {} (the evaluation \
                         runs again when the same command continues)",
                        epoch + 1,
                        at.display()
                    )
                })?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.state.epoch = epoch + 1;
        self.state.batch = 0;
        self.state.elapsed_s = self.elapsed();
        let mut improved = false;
        if let Some((lists, mean)) = evaluated {
            let teacher = mean.get(Role::Teacher.name()).copied().unwrap_or(f64::NAN);
            improved = teacher.is_finite() && self.state.best.is_none_or(|(_, b)| teacher < b);
            if improved {
                self.state.best = Some((self.state.iter, teacher));
            }
            self.writer.append(&Record::Epoch {
                epoch,
                iter: self.state.iter,
                lists,
                mean_nme: mean,
                elapsed_s: self.state.elapsed_s,
            })?;
        }
        let at = self.save()?;
        if let Some((iter, nme)) = self.state.best.filter(|_| improved) {
            let epochs_done = self.state.epoch;
            let ptr = Pointer { snapshot: at, iter, epochs_done, mean_nme: Some(nme) };
            run.write_pointer(folder::BEST, &ptr)?;
        }
        if let Some(keep) = cfg.run.keep {
            crate::run::keep::delete_unkept(run, keep, self.state.best.map(|(i, _)| i))?;
        }
        if let Err(e) = crate::plot::training::write_run_curves(&run.root) {
            self.log.line(&format!("warning: could not draw {}: {e:#}", folder::CURVES));
        }
        Ok(())
    }
}

/// The roles of a run, drawn from libtorch's generator seeded once: the teacher before the
/// student, then the trackers, the teacher's first. A resumed run's snapshot replaces them
/// all, so the files a run started from are not read again (the same values are drawn either
/// way).
fn build_roles(
    cfg: &RunConfig,
    resumed: bool,
    device: Device,
) -> Result<(Vec<DetectorRole>, Vec<TrackerRole>)> {
    tch::manual_seed(cfg.run.rand_seed as i64);
    let init = if resumed { cfg.without_initial_weights() } else { cfg.clone() };
    let mut roles = vec![DetectorRole::new(&init, Role::Teacher, device)?];
    let mut trackers = Vec::new();
    if !cfg.run.supervised_only {
        roles.push(DetectorRole::new(&init, Role::Student, device)?);
        trackers.push(TrackerRole::new(&init, Role::Teacher, device)?);
        trackers.push(TrackerRole::new(&init, Role::Student, device)?);
    }
    Ok((roles, trackers))
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
) -> Result<PathBuf> {
    let rel = checkpoint::save(run, cfg, &parts(roles, trackers), state).inspect_err(|e| {
        if crate::fsutil::is_disk_full(e) {
            log.log_only(&format!("error: {}", crate::fsutil::disk_full_line(e)));
        }
    })?;
    log.line(&format!("snapshot {} (iteration {})", rel.display(), state.iter));
    Ok(rel)
}
