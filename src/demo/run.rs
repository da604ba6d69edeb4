//! The demo pipeline: three threads joined by bounded queues, so memory stays flat whatever the
//! video's length.
//!
//! 1. **decode**: FFmpeg's raw frames (or a folder's images);
//! 2. **landmarks** (this thread): the face box (`--box`, the face detector, or the previous
//!    frame's landmarks), the crop as in training, each detector's landmarks, `--track`'s
//!    fusion with the tracker-carried landmarks;
//! 3. **encode**: landmarks drawn on the frame, FFmpeg's encoder, the landmarks file.
//!
//! On a detection (or a `--box`) frame the detector's box is only a first guess in another
//! convention than the training lists' landmark-bounds box: the landmarks found in it give the
//! box the crop is cut from again (one more forward pass on those frames only).
use super::draw::{self, Layer};
use super::face::FaceFinder;
use super::follow::{box_of, size, BoxSource, Followed, Policy, Redetect};
use super::record::{FaceRecord, Record, RoleResult, Writer};
use super::track::Tracker;
use super::truth::{self, Measures, Score};
use super::video::{Rate, Sink, Source, VideoInfo};
use crate::data::augment::Affine;
use crate::data::crop::{crop, CropSpec};
use crate::eval::predict::predict_scored;
use crate::models::Detector;
use crate::run::snapshot::Role;
use anyhow::{anyhow, bail, Result};
use image::RgbImage;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Instant;
use tch::{nn, Device, Tensor};

pub struct Options {
    /// The snapshot folder (a run's pointer already followed).
    pub snapshot: PathBuf,
    pub roles: Vec<Role>,
    pub video: PathBuf,
    pub out: Option<PathBuf>,
    pub landmarks: Option<PathBuf>,
    pub bbox: Option<[f64; 4]>,
    pub track: bool,
    pub mu: f64,
    pub policy: Policy,
    pub all_faces: bool,
    pub min_face: u32,
    /// Frame rate of a folder of images.
    pub fps: Rate,
    pub device: Device,
    pub truth: Option<PathBuf>,
    /// Soft-argmax radius override.
    pub radius: Option<i64>,
}

/// One detector of the demo (and its tracker with `--track`).
struct Model {
    role: Role,
    _vs: nn::VarStore,
    det: Detector,
    tracker: Option<Tracker>,
}

/// Seconds spent per stage, and the frame rates they make.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Stages {
    pub decode: f64,
    pub detect: f64,
    pub landmarks: f64,
    pub track: f64,
    pub encode: f64,
    /// From the first frame decoded to the last one written (model loading is `startup`).
    pub wall: f64,
    /// Loading the models, opening the video and the outputs.
    pub startup: f64,
}

#[derive(Debug, serde::Serialize)]
pub struct Summary {
    pub video: PathBuf,
    pub info: VideoInfo,
    pub roles: Vec<String>,
    pub frames: u64,
    pub frames_with_face: u64,
    /// Detector runs, by reason (`no-face` includes the first frame's).
    pub detector_runs: BTreeMap<String, u64>,
    pub seconds: Stages,
    /// Frames per second of each stage alone (frames / its seconds; detect over the frames it
    /// ran on) and overall (frames / wall time).
    pub fps: Stages,
    pub truth: Option<BTreeMap<String, Measures>>,
    pub out: Option<PathBuf>,
    pub landmarks: Option<PathBuf>,
}

/// The first face of a frame: the lead role's points and confidence, the box, how it was found.
type Lead = (Vec<[f64; 2]>, f64, [f64; 4], BoxSource);

/// What the encoder gets per frame.
struct Job {
    img: RgbImage,
    record: Record,
}

fn colour(role: Role) -> [u8; 3] {
    match role {
        Role::Teacher => draw::TEACHER,
        Role::Student => draw::STUDENT,
    }
}

/// The colour of a role by the name its record carries.
fn colour_of(name: &str) -> [u8; 3] {
    colour(if name == Role::Teacher.name() { Role::Teacher } else { Role::Student })
}

/// A frame cut with a face box: the normalised crop `[1, 3, H, W]` on the device, and the
/// crop → frame map.
struct Cut {
    x: Tensor,
    to_original: Affine,
}

fn cut(img: &RgbImage, bbox: [f64; 4], spec: &CropSpec, device: Device) -> Cut {
    let c = crop(img, bbox, spec);
    let x = Tensor::from_slice(&c.pixels)
        .view([1, 3, spec.height as i64, spec.width as i64])
        .to_device(device);
    Cut { x, to_original: c.to_original }
}

/// Each model's landmarks and confidence on crop `c`.
fn landmarks(
    models: &[Model],
    c: &Cut,
    num_pts: usize,
    radius: i64,
) -> Result<Vec<(Vec<[f64; 2]>, f64)>> {
    models
        .iter()
        .map(|m| {
            let mut r = predict_scored(&m.det, &c.x, &[c.to_original], num_pts, radius)?;
            Ok(r.remove(0))
        })
        .collect()
}

/// Whether box `b` is within 0.8–1.25× the size of `guess` and its centre within a fifth of
/// that size.
fn agrees(b: [f64; 4], guess: [f64; 4]) -> bool {
    let (sb, sg) = (size(b), size(guess));
    let shift = ((b[0] + b[2]) / 2.0 - (guess[0] + guess[2]) / 2.0)
        .hypot((b[1] + b[3]) / 2.0 - (guess[1] + guess[3]) / 2.0);
    sg > 0.0 && (0.8..=1.25).contains(&(sb / sg)) && shift <= 0.2 * sg
}

pub fn run(o: &Options) -> Result<Summary> {
    let t0 = Instant::now();
    // Everything that can be wrong is found before the first frame.
    let (meta, model_cfg) = crate::run::snapshot::read_meta(&o.snapshot)?;
    let num_pts = meta.num_pts;
    // A snapshot made outside training (`tsal snapshot init`): the reference's crop.
    let spec = crate::run::resolve::trained_crop(&o.snapshot)?.unwrap_or(CropSpec::REFERENCE);
    let radius = o.radius.unwrap_or(model_cfg.argmax as i64);
    let mut models = Vec::new();
    for &role in &o.roles {
        let (vs, det, _, _) = crate::run::snapshot::load_detector(&o.snapshot, role, o.device)?;
        let tracker = if o.track {
            Some(Tracker::load(&o.snapshot, role, spec, o.mu, o.device)?)
        } else {
            None
        };
        models.push(Model { role, _vs: vs, det, tracker });
    }
    let gt = o.truth.as_deref().map(|d| truth::read(d, num_pts)).transpose()?;
    let mut finder = FaceFinder::new(o.min_face)?;
    let (mut source, info) = Source::open(&o.video, o.fps)?;
    if let Some(b) = o.bbox {
        if !(b[0] < b[2] && b[1] < b[3] && super::follow::inside(b, info.width, info.height) > 0.0)
        {
            bail!("--box {},{},{},{}: not a box inside the {}×{} frame (x1,y1,x2,y2 with x1 < x2, y1 < y2)", b[0], b[1], b[2], b[3], info.width, info.height);
        }
    }
    let role_names: Vec<String> = o.roles.iter().map(|r| r.name().to_string()).collect();
    let names: Vec<&str> = role_names.iter().map(String::as_str).collect();
    let mut sink = o
        .out
        .as_deref()
        .map(|p| Sink::create(p, (info.width, info.height), info.rate))
        .transpose()?;
    let mut writer = o
        .landmarks
        .as_deref()
        .map(|p| Writer::create(p, &o.video, &info, &names, num_pts))
        .transpose()?;
    let legend: Vec<(String, [u8; 3])> = if o.roles.len() > 1 {
        o.roles.iter().map(|r| (r.name().to_string(), colour(*r))).collect()
    } else {
        Vec::new()
    };

    let bar = std::io::stderr().is_terminal().then(|| {
        let b = match info.frames {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} frames [{elapsed_precise} < {eta_precise}] {per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });

    let mut stages = Stages { startup: t0.elapsed().as_secs_f64(), ..Stages::default() };
    let mut runs: BTreeMap<String, u64> = BTreeMap::new();
    let mut detect_frames = 0u64;
    let mut frames = 0u64;
    let mut with_face = 0u64;
    let mut scores: Vec<Score> = vec![Score::default(); models.len()];
    let video_name = o.video.clone();

    let result: Result<()> = std::thread::scope(|s| {
        let (ftx, frx): (SyncSender<Result<(RgbImage, f64)>>, Receiver<_>) = sync_channel(4);
        let info_d = info.clone();
        let decoder = s.spawn(move || loop {
            let t = Instant::now();
            let r = source.next_frame(&info_d, &video_name);
            let dt = t.elapsed().as_secs_f64();
            let stop = !matches!(r, Ok(Some(_)));
            let item = match r {
                Ok(Some(img)) => Ok((img, dt)),
                Ok(None) => break,
                Err(e) => Err(e),
            };
            if ftx.send(item).is_err() || stop {
                break;
            }
        });
        let (jtx, jrx) = sync_channel::<Job>(4);
        let legend = &legend;
        let sink_ref = &mut sink;
        let writer_ref = &mut writer;
        let encoder = s.spawn(move || -> Result<f64> {
            let mut secs = 0.0;
            for mut job in jrx {
                let t = Instant::now();
                if let Some(sink) = sink_ref.as_mut() {
                    let layers: Vec<Layer> = job
                        .record
                        .faces
                        .iter()
                        .flat_map(|f| {
                            f.roles.iter().map(|(name, r)| Layer {
                                points: &r.points,
                                bbox: Some(f.bbox),
                                colour: colour_of(name),
                            })
                        })
                        .collect();
                    let legend: Vec<(&str, [u8; 3])> =
                        legend.iter().map(|(l, c)| (l.as_str(), *c)).collect();
                    draw::draw(&mut job.img, &layers, &legend);
                    sink.write(&job.img)?;
                }
                if let Some(w) = writer_ref.as_mut() {
                    w.write(&job.record)?;
                }
                secs += t.elapsed().as_secs_f64();
            }
            Ok(secs)
        });

        let mut followed: Option<Followed> = None;
        let mut prev: Option<(RgbImage, Vec<Vec<[f64; 2]>>)> = None;
        let mut main = || -> Result<()> {
            for item in frx.iter() {
                crate::interrupt::check()?;
                let (img, dt) = item?;
                stages.decode += dt;
                let t = frames;
                let mut faces = Vec::new();
                // The boxes of this frame, and how each was found.
                let mut boxes: Vec<([f64; 4], BoxSource)> = Vec::new();
                // The face detector on this frame, timed and counted by reason.
                let mut detect = |reason: &str| {
                    let td = Instant::now();
                    let found = finder.find(&img);
                    stages.detect += td.elapsed().as_secs_f64();
                    detect_frames += 1;
                    *runs.entry(reason.to_string()).or_default() += 1;
                    found
                };
                if o.all_faces {
                    let found = detect("every-frame");
                    boxes.extend(found.iter().map(|f| (f.landmark_box(), BoxSource::Detected)));
                } else if let (0, Some(b)) = (t, o.bbox) {
                    boxes.push((b, BoxSource::Given));
                } else if let Some(why) =
                    o.policy.why_detect(followed.as_ref(), info.width, info.height)
                {
                    let found = detect(why.name());
                    match found.first() {
                        Some(f) => boxes.push((f.landmark_box(), BoxSource::Detected)),
                        // Nothing found: keep following a face that is still plausible (a
                        // scheduled or low-confidence search can miss it).
                        None => match followed {
                            Some(f)
                                if !matches!(
                                    why,
                                    Redetect::NoFace | Redetect::OffFrame | Redetect::Implausible
                                ) =>
                            {
                                boxes.push((f.bbox, BoxSource::Followed))
                            }
                            _ => {}
                        },
                    }
                } else if let Some(f) = &followed {
                    boxes.push((f.bbox, BoxSource::Followed));
                }
                let mut lead: Option<Lead> = None;
                let mut this_pts: Vec<Vec<[f64; 2]>> = Vec::new();
                for (k, (b0, src)) in boxes.iter().enumerate() {
                    let tl = Instant::now();
                    let mut bbox = *b0;
                    let mut c = cut(&img, bbox, &spec, o.device);
                    let mut res = landmarks(&models, &c, num_pts, radius)?;
                    if *src != BoxSource::Followed {
                        // Re-cut with the landmarks' box, the convention the model trained on,
                        // when it agrees with the first guess (a weak model's points huddle
                        // toward the middle and would shrink the box).
                        if let Some(b) = box_of(&res[0].0).filter(|b| agrees(*b, bbox)) {
                            bbox = b;
                            c = cut(&img, bbox, &spec, o.device);
                            res = landmarks(&models, &c, num_pts, radius)?;
                        }
                    }
                    stages.landmarks += tl.elapsed().as_secs_f64();
                    // --track: fuse with the previous frame's landmarks carried by the flow.
                    if k == 0 && !o.all_faces {
                        if let Some((pimg, ppts)) = &prev {
                            let tt = Instant::now();
                            // The previous frame cut with this frame's box, once for every role.
                            let before = cut(pimg, bbox, &spec, o.device);
                            for (i, m) in models.iter().enumerate() {
                                if let (Some(tr), Some(pp)) = (&m.tracker, ppts.get(i)) {
                                    let carried = tr.carry(&before.x, &c.x, &c.to_original, pp)?;
                                    res[i].0 = tr.fuse(&carried, &res[i].0);
                                }
                            }
                            stages.track += tt.elapsed().as_secs_f64();
                        }
                    }
                    let mut roles = BTreeMap::new();
                    for (m, (pts, conf)) in models.iter().zip(&res) {
                        roles.insert(
                            m.role.name().to_string(),
                            RoleResult { points: pts.clone(), confidence: *conf },
                        );
                    }
                    if k == 0 {
                        lead = Some((res[0].0.clone(), res[0].1, bbox, *src));
                        this_pts = res.iter().map(|r| r.0.clone()).collect();
                        if let Some(gt) = &gt {
                            for (sc, r) in scores.iter_mut().zip(&res) {
                                sc.add(t, &r.0, gt);
                            }
                        }
                    }
                    faces.push(FaceRecord { bbox, source: *src, roles });
                }
                // The face to follow into the next frame.
                followed = match lead {
                    Some((pts, conf, bbox, src)) if !o.all_faces => {
                        // A followed box keeps the size, the count and the reference size of
                        // the detection it descends from; a fresh box starts them.
                        let kept = if src == BoxSource::Followed { followed } else { None };
                        let wh = kept.map_or([bbox[2] - bbox[0], bbox[3] - bbox[1]], |f| {
                            [f.bbox[2] - f.bbox[0], f.bbox[3] - f.bbox[1]]
                        });
                        super::follow::centred(&pts, wh).map(|b| Followed {
                            bbox: b,
                            confidence: conf,
                            since_detection: kept.map_or(1, |f| f.since_detection + 1),
                            detected_size: kept.map_or(size(bbox), |f| f.detected_size),
                            landmark_size: box_of(&pts).map_or(0.0, size),
                        })
                    }
                    _ => None,
                };
                if !faces.is_empty() {
                    with_face += 1;
                }
                prev = (o.track && !this_pts.is_empty()).then(|| (img.clone(), this_pts));
                let record = Record {
                    frame: t,
                    time: t as f64 / info.rate.fps(),
                    face: !faces.is_empty(),
                    faces,
                };
                frames += 1;
                if let Some(b) = &bar {
                    b.set_position(frames);
                }
                if jtx.send(Job { img, record }).is_err() {
                    break; // the encoder stopped: its error is reported below
                }
            }
            Ok(())
        };
        let r = main();
        drop(jtx);
        drop(frx);
        let enc = encoder.join().map_err(|_| anyhow!("the encoder thread panicked"))?;
        let _ = decoder.join();
        r?;
        stages.encode = enc?;
        Ok(())
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    result?;
    if frames == 0 {
        bail!("{}: no frames (an empty video?)", o.video.display());
    }
    if with_face == 0 {
        bail!(
            "{}: no face in any of its {frames} frames (give one with --box x1,y1,x2,y2)",
            o.video.display()
        );
    }
    let out = sink.map(|s| s.finish()).transpose()?;
    let landmarks = writer.map(|w| w.finish()).transpose()?;
    stages.wall = t0.elapsed().as_secs_f64() - stages.startup;
    let rate = |secs: f64, n: u64| if secs > 0.0 { n as f64 / secs } else { f64::NAN };
    let n = frames;
    let fps = Stages {
        decode: rate(stages.decode, n),
        detect: rate(stages.detect, detect_frames),
        landmarks: rate(stages.landmarks, n),
        track: rate(stages.track, n),
        encode: rate(stages.encode, n),
        wall: rate(stages.wall, n),
        startup: f64::NAN,
    };
    let truth = gt.map(|_| {
        models.iter().zip(&scores).map(|(m, s)| (m.role.name().to_string(), s.measures())).collect()
    });
    Ok(Summary {
        video: o.video.clone(),
        info,
        roles: role_names,
        frames,
        frames_with_face: with_face,
        detector_runs: runs,
        seconds: stages,
        fps,
        truth,
        out,
        landmarks,
    })
}

/// The summary's lines for a person.
pub fn describe(s: &Summary) -> String {
    let runs: u64 = s.detector_runs.values().sum();
    let why: Vec<String> = s.detector_runs.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let mut lines = vec![
        format!(
            "{} frames ({}×{}, {} fps), {} with a face; face detector ran {} times ({})",
            s.frames,
            s.info.width,
            s.info.height,
            s.info.rate,
            s.frames_with_face,
            runs,
            why.join(", ")
        ),
        format!(
            "{:.1} fps overall ({:.1} s, after {:.1} s loading); per stage alone: decode {:.0}, detect {:.1} (on the frames it ran), landmarks {:.1}{}, encode {:.0} fps",
            s.fps.wall,
            s.seconds.wall,
            s.seconds.startup,
            s.fps.decode,
            s.fps.detect,
            s.fps.landmarks,
            if s.seconds.track > 0.0 { format!(", track {:.1}", s.fps.track) } else { String::new() },
            s.fps.encode
        ),
    ];
    if let Some(t) = &s.truth {
        for (role, m) in t {
            lines.push(format!(
                "{role}: NME {:.2} % over {} frames, jitter {:.3} % over {} frame pairs (inter-ocular)",
                m.nme, m.frames, m.jitter, m.pairs
            ));
        }
    }
    for p in s.out.iter().chain(&s.landmarks) {
        lines.push(format!("wrote {}", p.display()));
    }
    lines.join("\n")
}

/// `--box x1,y1,x2,y2`.
pub fn parse_box(s: &str) -> Result<[f64; 4]> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| anyhow!("--box {s}: expected four numbers x1,y1,x2,y2"))?;
    let b: [f64; 4] =
        v.try_into().map_err(|_| anyhow!("--box {s}: expected four numbers x1,y1,x2,y2"))?;
    if !(b.iter().all(|x| x.is_finite()) && b[0] < b[2] && b[1] < b[3]) {
        bail!("--box {s}: expected x1 < x2 and y1 < y2");
    }
    Ok(b)
}

/// Refuse outputs that cannot be written, before any work: a missing folder, a folder, the
/// input video itself (the same file, by inode, whatever the path says: even `--force` never
/// replaces it), and an existing file without `force` (which replaces it). Returns whether a
/// file is there to be replaced. Temporary files that dead tsal processes left for this output
/// are removed first.
pub fn check_output(flag: &str, p: &Path, input: &Path, force: bool) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let dir = crate::fsutil::parent_of(p);
    if !dir.is_dir() {
        bail!("{flag} {}: the folder {} does not exist", p.display(), dir.display());
    }
    if p.is_dir() {
        bail!("{flag} {}: is a folder", p.display());
    }
    if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
        crate::fsutil::clean_dead_temporaries(dir, Some(&[name]));
    }
    let Ok(meta) = std::fs::metadata(p) else { return Ok(false) };
    let same =
        std::fs::metadata(input).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino());
    if same {
        bail!(
            "{flag} {}: is the input video (--video {}); choose another output path",
            p.display(),
            input.display()
        );
    }
    if !force {
        bail!("{flag} {}: the file exists; pass --force to replace it", p.display());
    }
    Ok(true)
}
