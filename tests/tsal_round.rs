//! One TSAL round on a tiny configuration (CPU, 64×64 crops): every term finite, gradients
//! exactly where the round means them to go, every role updated, the recursive average
//! applied; in both consistency modes.
mod common;
use common::{s, synth, tsal_ok, TINY};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};
use tsal::config::run::{Consistency, RunConfig};
use tsal::data::batch::Batch;
use tsal::data::clip::{self, ClipKind};
use tsal::data::loader::HostBatch;
use tsal::data::sample::ClipBuilder;
use tsal::run::snapshot::Role;
use tsal::train::laps::Laps;
use tsal::train::roles::{DetectorRole, TrackerRole};
use tsal::train::round::{self, Averaging, Pairs};
use tsal::train::trainer::training_lines;

/// The resolved configuration of a tiny TSAL run on `data` (what `tsal train` would use): the
/// labelled stills and the unlabelled videos.
fn config(data: &Path, extra: &[&str]) -> RunConfig {
    config_videos(data, extra, false)
}

/// [`config`], the videos from their labelled list under `--shadow_lists` when `shadow`.
fn config_videos(data: &Path, extra: &[&str], shadow: bool) -> RunConfig {
    let lists = data.join("lists");
    let mut args = vec!["train"];
    args.extend(TINY);
    args.extend([
        "--clip_frames",
        "3",
        "--rand_seed",
        "3",
        "--save_path",
        "unused",
        "--print_config",
    ]);
    args.extend(extra);
    let stills = lists.join("300W/300w.train.GTB");
    let (labelled, none) =
        (lists.join("300VW/300VW.train.lst"), lists.join("300VW/300VW.train.lst.none"));
    args.extend(["--train_lists", s(&stills)]);
    match shadow {
        true => args.extend(["--shadow_lists", s(&labelled)]),
        false => args.push(s(&none)),
    }
    serde_json::from_str(&tsal_ok(&args)).unwrap()
}

/// One batch of one labelled view clip and two unlabelled video clips.
fn batch(cfg: &RunConfig) -> Batch {
    let (lines, unlabelled) = training_lines(cfg).unwrap();
    assert!(unlabelled > 0);
    let (clips, _) = clip::group(&lines, cfg.data.clip_frames);
    let views = clips.iter().find(|c| c.kind == ClipKind::Views).unwrap();
    let videos: Vec<_> = clips.iter().filter(|c| c.kind == ClipKind::Video).take(2).collect();
    assert_eq!(videos.len(), 2);
    let lc = cfg.loader_config();
    let builder = ClipBuilder { entries: &lines, aug: &lc.aug, targets: &lc.targets, cache: None };
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
    let samples = [views, videos[0], videos[1]]
        .iter()
        .map(|c| builder.build(c, Some(&mut rng)).unwrap())
        .collect();
    let hb = HostBatch { clips: vec![0, 1, 2], samples };
    let (w, h) = (cfg.crop.width as i64, cfg.crop.height as i64);
    Batch::from_host(&hb, w, h, cfg.data.num_pts as i64, Device::Cpu).unwrap()
}

fn data() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    synth(
        &d.path().join("data"),
        &["--images", "6", "--videos", "4", "--frames", "8", "--no-avi", "--seed", "2"],
    );
    d
}

fn roles(cfg: &RunConfig) -> (Vec<DetectorRole>, Vec<TrackerRole>) {
    // libtorch's generator is one for the process: seeding and drawing under one lock gives
    // every call the same weights whatever the other tests of this file do meanwhile.
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(cfg.run.rand_seed as i64);
    let dets = vec![
        DetectorRole::new(cfg, Role::Teacher, Device::Cpu).unwrap(),
        DetectorRole::new(cfg, Role::Student, Device::Cpu).unwrap(),
    ];
    let trackers = vec![
        TrackerRole::new(cfg, Role::Teacher, Device::Cpu).unwrap(),
        TrackerRole::new(cfg, Role::Student, Device::Cpu).unwrap(),
    ];
    (dets, trackers)
}

/// Sum of |grad| over the trainable variables of a store (0 when none has a gradient).
fn grad_mass(vs: &tch::nn::VarStore) -> f64 {
    vs.trainable_variables()
        .iter()
        .map(|v| {
            let g = v.grad();
            if g.defined() {
                g.abs().sum(Kind::Double).double_value(&[])
            } else {
                0.0
            }
        })
        .sum()
}

fn zero_all(dets: &mut [DetectorRole], trackers: &mut [TrackerRole]) {
    dets.iter_mut().for_each(|d| d.opt.zero_grad());
    trackers.iter_mut().for_each(|t| t.opt.zero_grad());
}

fn masses(dets: &[DetectorRole], trackers: &[TrackerRole]) -> [f64; 4] {
    [
        grad_mass(&dets[0].vs),
        grad_mass(&dets[1].vs),
        grad_mass(&trackers[0].vs),
        grad_mass(&trackers[1].vs),
    ]
}

fn copy(vs: &tch::nn::VarStore) -> BTreeMap<String, Tensor> {
    vs.variables().into_iter().map(|(k, v)| (k, v.detach().copy())).collect()
}

fn max_change(vs: &tch::nn::VarStore, before: &BTreeMap<String, Tensor>) -> f64 {
    vs.variables()
        .iter()
        .map(|(k, v)| (v - &before[k]).abs().max().double_value(&[]))
        .fold(0.0, f64::max)
}

fn gradients_go_where_intended(mode: &str) {
    let d = data();
    let cfg = config(&d.path().join("data"), &["--consistency", mode]);
    assert_eq!(
        cfg.tsal.consistency,
        if mode == "image" { Consistency::Image } else { Consistency::Heatmap }
    );
    let b = batch(&cfg);
    let labelled = b.labelled_host.iter().filter(|&&l| l).count() as i64;
    assert_eq!(labelled, 3, "the view clip's three frames are labelled, the videos' are not");
    let pairs = Pairs::new(&b, false).unwrap();
    assert_eq!(pairs.count, 6, "two pairs per clip of three frames");
    assert_eq!(pairs.n_unlabelled, 4, "the video clips' pairs get the unsupervised terms");
    let (mut dets, mut trackers) = roles(&cfg);
    let ramp = 0.7;
    let settings = round::Settings::of(&cfg);
    let outs: Vec<_> = dets.iter().map(|d| d.det.forward_t(&b.images, true)).collect();

    // A tracker's loss reaches that tracker only (its detector is frozen; the real frames'
    // heatmaps are targets).
    let mut tracked = Vec::new();
    for k in 0..2 {
        zero_all(&mut dets, &mut trackers);
        let (d, tr) = (&mut dets[k], &trackers[k]);
        let t =
            round::tracker_loss(d, tr, &outs[k], &pairs, settings, ramp, &mut Laps::off()).unwrap();
        for x in [&t.census, &t.smooth, &t.consistency, &t.total] {
            assert!(x.double_value(&[]).is_finite());
        }
        assert!(t.census.double_value(&[]) > 0.0 && t.consistency.double_value(&[]) > 0.0);
        let want = t.census.double_value(&[])
            + t.smooth.double_value(&[])
            + ramp * t.consistency.double_value(&[]);
        assert!((t.total.double_value(&[]) - want).abs() < 1e-5 * want.abs().max(1.0));
        t.total.backward();
        let m = masses(&dets, &trackers);
        for (i, &x) in m.iter().enumerate() {
            assert_eq!(x > 0.0, i == 2 + k, "{mode} tracker {k}: gradient masses {m:?}");
        }
        // The consistency term alone also reaches the tracker (through the flow).
        zero_all(&mut dets, &mut trackers);
        let t2 = round::tracker_loss(
            &mut dets[k],
            &trackers[k],
            &outs[k],
            &pairs,
            settings,
            ramp,
            &mut Laps::off(),
        )
        .unwrap();
        t2.consistency.backward();
        assert!(grad_mass(&trackers[k].vs) > 0.0, "{mode}: consistency has no gradient");
        assert_eq!(grad_mass(&dets[k].vs), 0.0);
        tracked.push(t.tracked);
    }

    // A detector's loss reaches that detector only; its unsupervised term is non-zero and
    // reaches it too.
    for k in 0..2 {
        let role = [Role::Teacher, Role::Student][k];
        zero_all(&mut dets, &mut trackers);
        let outs: Vec<_> = dets.iter().map(|d| d.det.forward_t(&b.images, true)).collect();
        let t = round::detector_loss(
            role,
            &outs[k],
            &tracked[k],
            (&outs[k], &tracked[k]),
            &b,
            &pairs,
            labelled,
            settings,
            ramp,
            &mut Laps::off(),
        );
        for x in [&t.supervised.total, &t.sic, &t.unsup, &t.total] {
            assert!(x.double_value(&[]).is_finite());
        }
        assert!(t.unsup.double_value(&[]) > 0.0, "{mode} {role:?}: no unsupervised signal");
        assert_eq!(t.pseudo_label.is_some(), role == Role::Student);
        t.total.backward();
        let m = masses(&dets, &trackers);
        for (i, &x) in m.iter().enumerate() {
            assert_eq!(x > 0.0, i == k, "{mode} {role:?}: gradient masses {m:?}");
        }
        zero_all(&mut dets, &mut trackers);
        let outs: Vec<_> = dets.iter().map(|d| d.det.forward_t(&b.images, true)).collect();
        let t = round::detector_loss(
            role,
            &outs[k],
            &tracked[k],
            (&outs[k], &tracked[k]),
            &b,
            &pairs,
            labelled,
            settings,
            ramp,
            &mut Laps::off(),
        );
        t.unsup.backward();
        assert!(grad_mass(&dets[k].vs) > 0.0, "{mode} {role:?}: unsup has no gradient");
        // The pseudo-label lies in input pixels: inside the crop, not on the 8× smaller grid.
        if let Some(f) = &t.pseudo_label {
            assert_eq!(f.size(), [6, 68, 2]);
            let mean = f.mean(Kind::Double).double_value(&[]);
            // Grid coordinates stay below 64 / 8 = 8; an untrained detector's labels fall
            // anywhere in the crop (means of 11.7–30 px seen across layouts and thread counts).
            assert!(mean > 8.0 && mean < 56.0, "pseudo-label mean {mean} px in a 64² crop");
        }
    }

    // The whole round: every role moves, the averaging pulls the teacher toward the student.
    zero_all(&mut dets, &mut trackers);
    let before: Vec<_> =
        dets.iter().map(|d| copy(&d.vs)).chain(trackers.iter().map(|t| copy(&t.vs))).collect();
    let mut avg = Averaging::new(&dets, &trackers).unwrap();
    let stats = round::round(&mut dets, &mut trackers, &mut avg, &b, labelled, settings, ramp, 1)
        .unwrap()
        .by_role();
    for (role, terms) in &stats {
        for (name, v) in terms {
            assert!(v.is_finite(), "{role} {name} = {v}");
        }
    }
    for role in ["teacher", "student"] {
        for t in round::DETECTOR_TERMS {
            assert!(stats[role].contains_key(t), "{role} lacks {t}");
        }
    }
    for role in ["tracker_teacher", "tracker_student"] {
        for t in round::TRACKER_TERMS {
            assert!(stats[role].contains_key(t), "{role} lacks {t}");
        }
    }
    // Views of one still image under two transforms: the annotation moves between them, and
    // every diagnostic is measured on them; the unlabelled videos' pairs have only their flow.
    let views = &stats["pairs.views"];
    assert_eq!((views["pairs"], views["annotated"]), (2.0, 2.0));
    assert!(views["static_px"] > 0.0);
    for t in ["track_px_teacher", "track_px_student", "pseudo_px", "det_px_teacher"] {
        assert!(views[t] > 0.0, "pairs.views {t}");
    }
    let video = &stats["pairs.video"];
    assert_eq!((video["pairs"], video["annotated"]), (4.0, 0.0));
    assert!(video.contains_key("flow_px_teacher") && !video.contains_key("static_px"));
    assert_eq!(stats["round"]["ramp"], ramp);
    assert_eq!(stats["round"]["lambda"], cfg.tsal.lambda);
    assert_eq!(stats["round"]["mu"], cfg.tsal.mu);
    let stores = [&dets[0].vs, &dets[1].vs, &trackers[0].vs, &trackers[1].vs];
    for (i, vs) in stores.iter().enumerate() {
        assert!(max_change(vs, &before[i]) > 0.0, "{mode}: role {i} did not move");
    }
}

#[test]
fn gradients_go_where_intended_with_heatmap_consistency() {
    gradients_go_where_intended("heatmap");
}

#[test]
fn gradients_go_where_intended_with_image_consistency() {
    gradients_go_where_intended("image");
}

/// Fresh roles after one round on `b` (ramp 0.5).
fn one_round(cfg: &RunConfig, b: &Batch) -> (Vec<DetectorRole>, Vec<TrackerRole>) {
    let labelled = b.labelled_host.iter().filter(|&&l| l).count() as i64;
    let (mut dets, mut trackers) = roles(cfg);
    let mut avg = Averaging::new(&dets, &trackers).unwrap();
    let settings = round::Settings::of(cfg);
    round::round(&mut dets, &mut trackers, &mut avg, b, labelled, settings, 0.5, 1).unwrap();
    (dets, trackers)
}

#[test]
fn the_recursive_average_ties_the_stores_by_the_formula_after_the_steps() {
    // λ = 0 copies the student into the teacher (and tracker into tracker) after the steps.
    let d = data();
    let cfg = config(&d.path().join("data"), &["--lambda", "0"]);
    let b = batch(&cfg);
    let (dets, trackers) = one_round(&cfg, &b);
    for (a, b) in [(&dets[0].vs, &dets[1].vs), (&trackers[0].vs, &trackers[1].vs)] {
        let (va, vb) = (a.variables(), b.variables());
        let names: Vec<String> = a
            .trainable_variables()
            .iter()
            .map(|t| va.iter().find(|(_, v)| v.data_ptr() == t.data_ptr()).unwrap().0.clone())
            .collect();
        assert!(!names.is_empty());
        for n in names {
            let diff = (&va[&n] - &vb[&n]).abs().max().double_value(&[]);
            assert_eq!(diff, 0.0, "{n} differs after λ = 0");
        }
    }
    // λ = 1 leaves the teacher as its own step left it: it differs from the student.
    let cfg = config(&d.path().join("data"), &["--lambda", "1"]);
    let (dets, _) = one_round(&cfg, &b);
    let (va, vb) = (dets[0].vs.variables(), dets[1].vs.variables());
    let diff = (&va["features.0.weight"] - &vb["features.0.weight"]).abs().max().double_value(&[]);
    assert!(diff > 0.0);
}

/// The two tracker steps at once (each on its own thread with one intra-op thread, what the
/// round does on a CPU) compute what they compute in turn on this thread: the same terms and
/// the same gradients, up to the rounding of a different thread count.
#[test]
fn the_trackers_at_once_step_as_they_do_in_turn() {
    let d = data();
    let cfg = config(&d.path().join("data"), &[]);
    let b = batch(&cfg);
    let settings = round::Settings::of(&cfg);
    let pairs = Pairs::new(&b, false).unwrap();
    let mut runs = Vec::new();
    let (first_dets, first_trackers) = roles(&cfg);
    for threads in [None, Some(1)] {
        // The same weights both times (other tests draw from the generator meanwhile).
        let (mut dets, mut trackers) = roles(&cfg);
        for (to, from) in dets.iter_mut().zip(&first_dets) {
            to.vs.copy(&from.vs).unwrap();
        }
        for (to, from) in trackers.iter_mut().zip(&first_trackers) {
            to.vs.copy(&from.vs).unwrap();
        }
        let outs: Vec<_> = dets.iter().map(|d| d.forward(&b.images, true)).collect();
        let (stats, tracked) = round::tracker_steps(
            &mut dets,
            &mut trackers,
            &outs,
            &pairs,
            settings,
            0.5,
            1,
            threads,
            &mut Laps::off(),
        )
        .unwrap();
        // The gradients the steps took (Adam's first step moves a weight by ±LR whatever the
        // gradient's size, so the weights would magnify rounding in near-zero gradients).
        let grads: Vec<BTreeMap<String, Tensor>> = trackers
            .iter()
            .map(|t| t.vs.variables().into_iter().map(|(k, v)| (k, v.grad().copy())).collect())
            .collect();
        runs.push((stats, tracked, grads));
    }
    let (a, b) = (&runs[0], &runs[1]);
    for k in 0..2 {
        let (x, y) = (&a.0[k], &b.0[k]);
        for (name, u, v) in [
            ("census", x.census, y.census),
            ("smooth", x.smooth, y.smooth),
            ("consistency", x.consistency, y.consistency),
            ("total", x.total, y.total),
        ] {
            assert!(u > 0.0, "tracker {k}: {name} {u}");
            assert!(
                (u - v).abs() <= 1e-5 * u.abs(),
                "tracker {k}: {name} {u} in turn, {v} at once"
            );
        }
        let flow = (&a.1[k].forward - &b.1[k].forward).abs().max().double_value(&[]);
        let scale = a.1[k].forward.abs().max().double_value(&[]);
        assert!(scale > 0.0 && flow <= 1e-5 * scale, "tracker {k}: flows differ by {flow}");
        // The gradients as one vector each: the norm of their difference against theirs (2.8e-5
        // and 1.1e-5 with the weights `roles` draws). The occlusion masks are thresholds, so
        // float rounding in a flow can flip a pixel's mask: with other weights (drawn while
        // other tests drew too) up to 1.5e-3 was seen.
        let norm = |f: &dyn Fn(&String, &Tensor) -> Tensor| {
            a.2[k]
                .iter()
                .map(|(name, g)| f(name, g).square().sum(Kind::Double).double_value(&[]))
                .sum::<f64>()
                .sqrt()
        };
        let scale = norm(&|_, g| g.shallow_clone());
        let diff = norm(&|name, g| g - &b.2[k][name]);
        assert!(
            scale > 0.0 && diff <= 1e-3 * scale,
            "tracker {k}: gradients differ by {diff} of {scale} (norms)"
        );
        eprintln!("tracker {k}: gradients differ by {:e} of their norm", diff / scale);
    }
}

/// `--shadow_lists`: the videos' annotations reach the diagnostics and nothing else. The same
/// clips from the labelled list as shadow labels and from its `.none` copy give the same loss
/// targets, bit for bit, and the same round from the same weights gives the same terms and the
/// same weights after it; only the shadow run measures its video pairs.
#[test]
fn shadow_labels_reach_no_loss() {
    let d = data();
    let data = d.path().join("data");
    let cfg_none = config_videos(&data, &[], false);
    let cfg_shadow = config_videos(&data, &[], true);
    let (none, shadow) = (batch(&cfg_none), batch(&cfg_shadow));
    let targets = |b: &Batch| {
        [&b.images, &b.heatmaps, &b.heatmap_mask, &b.centre, &b.offsets, &b.offset_mask]
            .map(|t| t.shallow_clone())
            .into_iter()
            .chain([b.centre_ind.to_kind(Kind::Double), b.centre_valid.to_kind(Kind::Double)])
            .chain([b.labelled.to_kind(Kind::Double)])
            .collect::<Vec<_>>()
    };
    for (i, (a, b)) in targets(&none).iter().zip(targets(&shadow)).enumerate() {
        assert!(a.equal(&b), "target {i} differs with shadow labels");
    }
    assert_eq!(none.labelled_host, shadow.labelled_host);
    // The shadow labels are there: on every video frame, with landmarks inside the crop.
    let video_rows = Tensor::from_slice(&[3i64, 4, 5, 6, 7, 8]);
    assert_eq!(shadow.annotated_host, vec![true; 9]);
    assert_eq!(none.annotated_host, [vec![true; 3], vec![false; 6]].concat());
    let shadow_pts = shadow.points.index_select(0, &video_rows);
    assert!(shadow_pts.abs().sum(Kind::Double).double_value(&[]) > 0.0);
    assert_eq!(
        none.points.index_select(0, &video_rows).abs().sum(Kind::Double).double_value(&[]),
        0.0
    );

    let labelled = none.labelled_host.iter().filter(|&&l| l).count() as i64;
    let settings = round::Settings::of(&cfg_none);
    let run = |b: &Batch| {
        let (mut dets, mut trackers) = roles(&cfg_none);
        let mut avg = Averaging::new(&dets, &trackers).unwrap();
        let stats = round::round(&mut dets, &mut trackers, &mut avg, b, labelled, settings, 0.7, 1)
            .unwrap();
        let weights: Vec<_> =
            dets.iter().map(|d| copy(&d.vs)).chain(trackers.iter().map(|t| copy(&t.vs))).collect();
        (stats, weights)
    };
    let (s_none, w_none) = run(&none);
    let (s_shadow, w_shadow) = run(&shadow);
    assert_eq!(s_none.teacher, s_shadow.teacher);
    assert_eq!(s_none.student, s_shadow.student);
    assert_eq!(s_none.trackers, s_shadow.trackers);
    for (a, b) in w_none.iter().zip(&w_shadow) {
        for (k, v) in a {
            assert!(v.equal(&b[k]), "{k} differs after a round with shadow labels");
        }
    }
    let [video_none, _] = s_none.pairs.unwrap();
    let [video, views] = s_shadow.pairs.unwrap();
    assert_eq!((video_none.annotated, video.annotated, video.pairs), (0.0, 4.0, 4.0));
    assert_eq!(video_none.static_px, None);
    // Consecutive frames under one transform move little; views of a still move a lot.
    let still = video.static_px.unwrap();
    assert!(still > 0.0 && still < views.static_px.unwrap(), "{video:?} {views:?}");
    assert!(video.pseudo_px.unwrap() > 0.0 && video.det_px[1].unwrap() > 0.0);
}

/// `--zero_flow`: the trackers neither run nor learn (their weights are as they were), the
/// tracked points are frame j's unmoved (track_px = static_px on both pair kinds, no flow),
/// and the detectors still train on the pseudo-labels this gives.
#[test]
fn zero_flow_leaves_the_points_where_they_are() {
    let d = data();
    let cfg = config_videos(&d.path().join("data"), &["--zero_flow", "--lambda", "1"], true);
    assert!(cfg.tsal.zero_flow);
    let b = batch(&cfg);
    let labelled = b.labelled_host.iter().filter(|&&l| l).count() as i64;
    let (mut dets, mut trackers) = roles(&cfg);
    let before: Vec<_> = trackers.iter().map(|t| copy(&t.vs)).collect();
    let det_before = copy(&dets[1].vs);
    let mut avg = Averaging::new(&dets, &trackers).unwrap();
    let settings = round::Settings::of(&cfg);
    let stats =
        round::round(&mut dets, &mut trackers, &mut avg, &b, labelled, settings, 0.7, 1).unwrap();
    for (t, w) in trackers.iter().zip(&before) {
        assert_eq!(max_change(&t.vs, w), 0.0, "{} moved under --zero_flow", t.name());
    }
    assert!(max_change(&dets[1].vs, &det_before) > 0.0);
    let [tt, ts] = stats.trackers.unwrap();
    assert_eq!((tt.total, ts.total, tt.census), (0.0, 0.0, 0.0));
    let student = stats.student.unwrap();
    assert!(student.unsup.unwrap() > 0.0, "{student:?}");
    for kind in stats.pairs.unwrap() {
        assert!(kind.pairs > 0.0);
        assert_eq!(kind.track_px, [kind.static_px; 2], "{kind:?}");
        assert_eq!(kind.flow_px, [Some(0.0); 2], "{kind:?}");
    }
}

/// `--pseudo_source teacher`: the student's pseudo-label is made of the teacher's outputs. The
/// teacher's own step does not depend on it (same weights after the round, bit for bit); the
/// student's does; and when the teacher and the student are one detector (the student's
/// weights copied from the teacher's), either source gives the same pseudo-label.
#[test]
fn the_pseudo_label_comes_from_the_chosen_detector() {
    let d = data();
    let data = d.path().join("data");
    let cfg_s = config_videos(&data, &["--lambda", "1"], true);
    let cfg_t = config_videos(&data, &["--lambda", "1", "--pseudo_source", "teacher"], true);
    let b = batch(&cfg_s);
    let labelled = b.labelled_host.iter().filter(|&&l| l).count() as i64;
    let run = |cfg: &RunConfig, same: bool| {
        let (mut dets, mut trackers) = roles(cfg);
        if same {
            let teacher = copy(&dets[0].vs);
            tch::no_grad(|| {
                for (k, v) in dets[1].vs.variables() {
                    v.shallow_clone().copy_(&teacher[&k]);
                }
            });
            let t = copy(&trackers[0].vs);
            tch::no_grad(|| {
                for (k, v) in trackers[1].vs.variables() {
                    v.shallow_clone().copy_(&t[&k]);
                }
            });
        }
        let mut avg = Averaging::new(&dets, &trackers).unwrap();
        let settings = round::Settings::of(cfg);
        let stats =
            round::round(&mut dets, &mut trackers, &mut avg, &b, labelled, settings, 0.7, 1)
                .unwrap();
        (stats, copy(&dets[0].vs), copy(&dets[1].vs))
    };
    let (s_s, teacher_s, student_s) = run(&cfg_s, false);
    let (s_t, teacher_t, student_t) = run(&cfg_t, false);
    for (k, v) in &teacher_s {
        assert!(v.equal(&teacher_t[k]), "the teacher's {k} depends on the pseudo-label's source");
    }
    let moved = student_s.iter().filter(|(k, v)| !v.equal(&student_t[*k])).count();
    assert!(moved > 0, "the student did not notice the teacher's pseudo-label");
    let pseudo = |s: &tsal::train::stats::IterStats| s.pairs.unwrap()[0].pseudo_px.unwrap();
    assert_ne!(pseudo(&s_s), pseudo(&s_t));
    // One detector in both roles: the same pseudo-label whichever the source.
    let (a, _, _) = run(&cfg_s, true);
    let (c, _, _) = run(&cfg_t, true);
    assert_eq!(pseudo(&a), pseudo(&c));
    assert_eq!(a.student, c.student);
}

/// `--video_draws anchored`: a video clip's first frame is the evaluation crop and the others
/// have their own draws; the round aligns frame j+1 into frame j's crop by the known affine.
/// On the synthetic videos (slow motion) the aligned frame is close to frame j and the affine
/// alone carries the annotated points to within the motion, while the raw crops are far apart;
/// with zero flow the tracked points are the affine's; a whole round trains every role.
#[test]
fn own_video_draws_are_aligned_by_the_known_affine() {
    let d = data();
    let data = d.path().join("data");
    // A shift at most 6 px of 64 (the experiment's 7): the central half of crop j stays inside
    // crop j+1 (the reference's 30 px would take it outside).
    let small = ["--crop_perturb_max", "6"];
    let cfg = config_videos(
        &data,
        &[&small[..], &["--video_draws", "anchored", "--zero_flow"]].concat(),
        true,
    );
    assert_eq!(cfg.augment.video_draws, tsal::data::augment::VideoDraws::Anchored);
    let b = batch(&cfg);
    let pairs = Pairs::new(&b, true).unwrap();
    let plain = Pairs::new(&b, false).unwrap();
    // Rows: clip 0 views (pairs 0, 1), clips 1 and 2 video (pairs 2..6).
    let video = Tensor::from_slice(&[2i64, 3, 4, 5]);
    let views = Tensor::from_slice(&[0i64, 1]);
    let mean_abs = |a: &Tensor, c: &Tensor, rows: &Tensor| {
        // The central half of the crop: away from what the alignment resamples from outside.
        let (a, c) = (a.index_select(0, rows), c.index_select(0, rows));
        let cut = |t: &Tensor| t.narrow(2, 16, 32).narrow(3, 16, 32);
        (cut(&a) - cut(&c)).abs().mean(Kind::Double).double_value(&[])
    };
    let aligned = mean_abs(&pairs.im2, &pairs.im1, &video);
    let raw = mean_abs(&plain.im2, &plain.im1, &video);
    // Resampled once more, the aligned frame is as close to frame j as with one shared draw.
    let shared = Pairs::new(&batch(&config_videos(&data, &small, true)), false).unwrap();
    let same = mean_abs(&shared.im2, &shared.im1, &video);
    assert!(
        aligned < 2.0 * same && aligned < 0.3 * raw,
        "aligned {aligned}, raw {raw}, shared {same}"
    );
    // View pairs are left as they are.
    assert!(pairs.im2.index_select(0, &views).equal(&plain.im2.index_select(0, &views)));
    assert_eq!(pairs.tracker_frames.size()[0], 9 + 4);
    // The affine carries frame j's annotated points to frame j+1's within the face's motion.
    let al = pairs.align.as_ref().unwrap();
    let moved = al.points_into_second(&pairs.truth.first);
    let err = |p: &Tensor| {
        (p.index_select(0, &video) - pairs.truth.second.index_select(0, &video))
            .square()
            .sum_dim_intlist([2i64].as_slice(), false, Kind::Float)
            .sqrt()
            .mean(Kind::Double)
            .double_value(&[])
    };
    let (by_affine, unmoved) = (err(&moved), err(&pairs.truth.first));
    assert!(by_affine < 1.5 && unmoved > 3.0 * by_affine, "{by_affine} vs {unmoved}");

    let labelled = b.labelled_host.iter().filter(|&&l| l).count() as i64;
    let settings = round::Settings::of(&cfg);
    assert!(settings.align_video);
    let (mut dets, mut trackers) = roles(&cfg);
    let mut avg = Averaging::new(&dets, &trackers).unwrap();
    let stats =
        round::round(&mut dets, &mut trackers, &mut avg, &b, labelled, settings, 0.7, 1).unwrap();
    let [video_pairs, view_pairs] = stats.pairs.unwrap();
    // "Not moving" on aligned pairs is the affine alone: the motion, as with shared draws.
    let still = video_pairs.static_px.unwrap();
    assert!((still - by_affine).abs() < 1e-3, "{still} vs {by_affine}");
    assert_eq!(video_pairs.track_px, [Some(still); 2]);
    assert!(view_pairs.static_px.unwrap() > 3.0 * still);
    assert!(stats.student.unwrap().unsup.unwrap() > 0.0);
    assert!(stats.teacher.unsup.unwrap() > 0.0);

    // With trackers: they run on the aligned pairs and learn; every term finite.
    let cfg = config_videos(&data, &["--video_draws", "anchored"], true);
    let (mut dets, mut trackers) = roles(&cfg);
    let before = copy(&trackers[1].vs);
    let mut avg = Averaging::new(&dets, &trackers).unwrap();
    let stats = round::round(
        &mut dets,
        &mut trackers,
        &mut avg,
        &b,
        labelled,
        round::Settings::of(&cfg),
        0.7,
        1,
    )
    .unwrap();
    assert!(max_change(&trackers[1].vs, &before) > 0.0);
    let [tt, _] = stats.trackers.unwrap();
    assert!(tt.census > 0.0 && tt.consistency > 0.0, "{tt:?}");
    assert!(stats.pairs.unwrap()[0].track_px[0].unwrap().is_finite());
}

/// `--video_draws independent` and `anchored` need `--consistency heatmap`: one clear line.
#[test]
fn own_video_draws_refuse_image_consistency() {
    let d = data();
    let lists = d.path().join("data/lists");
    let o = common::tsal(&[
        "train",
        "--train_lists",
        s(&lists.join("300W/300w.train.GTB")),
        "--video_draws",
        "independent",
        "--consistency",
        "image",
        "--save_path",
        "unused",
        "--print_config",
    ]);
    assert!(!o.status.success());
    let err = common::stderr(&o);
    assert!(err.contains("--video_draws independent: needs --consistency heatmap"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// `--landmark_log`: a row per landmark visible in both annotated frames of every video pair
/// (none of the views), whose means are the pair diagnostics' own (`pseudo_px`, `det_px` of both
/// detectors on video pairs); the distances between the label and each detector are bounded by
/// the triangle inequality; with zero flow every landmark comes back where it started. Nothing
/// is reported unless asked.
#[test]
fn the_landmark_log_has_a_row_per_annotated_video_landmark() {
    let d = data();
    let data = d.path().join("data");
    let run = |extra: &[&str], landmarks: bool| {
        let cfg = config_videos(&data, extra, true);
        let b = batch(&cfg);
        let labelled = b.labelled_host.iter().filter(|&&l| l).count() as i64;
        let (mut dets, mut trackers) = roles(&cfg);
        let mut avg = Averaging::new(&dets, &trackers).unwrap();
        let settings = round::Settings { landmarks, ..round::Settings::of(&cfg) };
        let stats =
            round::round(&mut dets, &mut trackers, &mut avg, &b, labelled, settings, 0.7, 1)
                .unwrap();
        (stats, b)
    };
    let (stats, b) = run(&[], true);
    // The batch: one clip of views (rows 0–2), then two video clips (rows 3–5, 6–8); pairs of
    // consecutive frames, the last four of them video pairs.
    let vis = |r: i64| Vec::<bool>::try_from(b.visible.get(r)).unwrap();
    let mut expected = Vec::new();
    for (pair, (a, c)) in [(3, 4), (4, 5), (6, 7), (7, 8)].into_iter().enumerate() {
        for (k, (x, y)) in vis(a).into_iter().zip(vis(c)).enumerate() {
            if x && y {
                expected.push((pair + 2, k));
            }
        }
    }
    let rows = &stats.landmarks;
    let got: Vec<(usize, usize)> = rows.iter().map(|r| (r.pair, r.landmark)).collect();
    assert!(expected.len() > 100, "{}", expected.len());
    assert_eq!(got, expected);
    let mean = |f: fn(&tsal::train::stats::LandmarkRow) -> f64| {
        rows.iter().map(f).sum::<f64>() / rows.len() as f64
    };
    let video = stats.pairs.unwrap()[0];
    let close = |a: f64, b: f64| (a - b).abs() < 1e-3 * b.max(1.0);
    assert!(close(mean(|r| r.pseudo_px), video.pseudo_px.unwrap()), "{video:?}");
    assert!(close(mean(|r| r.det_px), video.det_px[1].unwrap()), "{video:?}");
    assert!(close(mean(|r| r.det_px_teacher), video.det_px[0].unwrap()), "{video:?}");
    for r in rows {
        for (to, det) in [(r.to_student_px, r.det_px), (r.to_teacher_px, r.det_px_teacher)] {
            assert!(to <= r.pseudo_px + det + 1e-3, "{r:?}");
            assert!((r.pseudo_px - det).abs() <= to + 1e-3, "{r:?}");
        }
        assert!(r.fb_px >= 0.0 && r.peak.is_finite(), "{r:?}");
    }
    // Untrained trackers move the points: some come back off their start.
    assert!(mean(|r| r.fb_px) > 1e-3, "{}", mean(|r| r.fb_px));
    let (zero, _) = run(&["--zero_flow"], true);
    assert_eq!(zero.landmarks.len(), rows.len());
    assert!(zero.landmarks.iter().all(|r| r.fb_px == 0.0));
    let (off, _) = run(&[], false);
    assert!(off.landmarks.is_empty());
    assert_eq!(off.pairs, stats.pairs);
}
