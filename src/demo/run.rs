//! The demo pipeline: three threads joined by bounded queues, so memory stays flat whatever the
//! video's length.
//!
//! 1. **decode** ([`decode`]): FFmpeg's raw frames (or a folder's images);
//! 2. **landmarks** (this thread, [`super::landmarker`]): the face box (`--box`, the face
//!    detector, or the previous frame's landmarks), the crop as in training, each detector's
//!    landmarks, `--track`'s fusion with the tracker-carried landmarks;
//! 3. **encode** ([`encode`]): landmarks drawn on the frame, FFmpeg's encoder, the landmarks
//!    file.
use super::draw::{self, Layer};
use super::follow::Policy;
use super::landmarker::Landmarker;
use super::record::{Record, Writer};
use super::truth::Measures;
use super::video::{Rate, Sink, Source, VideoInfo};
use crate::run::snapshot::Role;
use anyhow::{anyhow, bail, Result};
use image::RgbImage;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Instant;
use tch::Device;

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

pub fn run(o: &Options) -> Result<Summary> {
    let t0 = Instant::now();
    // Everything that can be wrong is found before the first frame.
    let (mut source, info) = Source::open(&o.video, o.fps)?;
    let mut lm = Landmarker::new(o, (info.width, info.height), info.rate.fps())?;
    if let Some(b) = o.bbox {
        if !(b[0] < b[2] && b[1] < b[3] && super::follow::inside(b, info.width, info.height) > 0.0)
        {
            bail!("--box {},{},{},{}: not a box inside the {}×{} frame (x1,y1,x2,y2 with x1 < x2, y1 < y2)", b[0], b[1], b[2], b[3], info.width, info.height);
        }
    }
    let role_names: Vec<String> = o.roles.iter().map(|r| r.name().to_string()).collect();
    let names: Vec<&str> = role_names.iter().map(String::as_str).collect();
    let mut outputs = Outputs {
        sink: o
            .out
            .as_deref()
            .map(|p| Sink::create(p, (info.width, info.height), info.rate))
            .transpose()?,
        writer: o
            .landmarks
            .as_deref()
            .map(|p| Writer::create(p, &o.video, &info, &names, lm.num_pts()))
            .transpose()?,
        legend: if o.roles.len() > 1 {
            o.roles.iter().map(|r| (r.name().to_string(), colour(*r))).collect()
        } else {
            Vec::new()
        },
    };
    let bar = progress_bar(&info);
    let startup = t0.elapsed().as_secs_f64();
    let mut decode_s = 0.0;
    let mut encode_s = 0.0;
    let mut frames = 0u64;
    let result: Result<()> = std::thread::scope(|s| {
        let (ftx, frx) = sync_channel(4);
        let (info_d, video) = (info.clone(), o.video.clone());
        let decoder = s.spawn(move || decode(&mut source, &info_d, &video, ftx));
        let (jtx, jrx) = sync_channel::<Job>(4);
        let outs = &mut outputs;
        let encoder = s.spawn(move || encode(jrx, outs));
        let mut main = || -> Result<()> {
            for item in frx.iter() {
                crate::interrupt::check()?;
                let (img, dt) = item?;
                decode_s += dt;
                let record = lm.frame(&img, frames)?;
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
        encode_s = enc?;
        Ok(())
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    result?;
    if frames == 0 {
        bail!("{}: no frames (an empty video?)", o.video.display());
    }
    if lm.with_face == 0 {
        bail!(
            "{}: no face in any of its {frames} frames (give one with --box x1,y1,x2,y2)",
            o.video.display()
        );
    }
    let out = outputs.sink.map(|s| s.finish()).transpose()?;
    let landmarks = outputs.writer.map(|w| w.finish()).transpose()?;
    let stages = Stages {
        decode: decode_s,
        encode: encode_s,
        wall: t0.elapsed().as_secs_f64() - startup,
        startup,
        ..lm.stages
    };
    let rate = |secs: f64, n: u64| if secs > 0.0 { n as f64 / secs } else { f64::NAN };
    let fps = Stages {
        decode: rate(stages.decode, frames),
        detect: rate(stages.detect, lm.detect_frames),
        landmarks: rate(stages.landmarks, frames),
        track: rate(stages.track, frames),
        encode: rate(stages.encode, frames),
        wall: rate(stages.wall, frames),
        startup: f64::NAN,
    };
    let truth = o.truth.as_ref().map(|_| {
        let per_model = lm.models.iter().zip(&lm.scores);
        per_model.map(|(m, s)| (m.role.name().to_string(), s.measures())).collect()
    });
    Ok(Summary {
        video: o.video.clone(),
        info,
        roles: role_names,
        frames,
        frames_with_face: lm.with_face,
        detector_runs: lm.runs,
        seconds: stages,
        fps,
        truth,
        out,
        landmarks,
    })
}

/// The outputs the encoder writes: the video, the landmarks file, and the legend drawn with
/// several roles.
struct Outputs {
    sink: Option<Sink>,
    writer: Option<Writer>,
    legend: Vec<(String, [u8; 3])>,
}

/// The decode stage: frames (and the seconds each took) into `tx` until the video ends, an
/// error (sent on) or the receiver stops.
fn decode(
    source: &mut Source,
    info: &VideoInfo,
    video: &Path,
    tx: SyncSender<Result<(RgbImage, f64)>>,
) {
    loop {
        let t = Instant::now();
        let r = source.next_frame(info, video);
        let dt = t.elapsed().as_secs_f64();
        let stop = !matches!(r, Ok(Some(_)));
        let item = match r {
            Ok(Some(img)) => Ok((img, dt)),
            Ok(None) => break,
            Err(e) => Err(e),
        };
        if tx.send(item).is_err() || stop {
            break;
        }
    }
}

/// The encode stage: every job's landmarks drawn on its frame into the video, and its record
/// into the landmarks file; the seconds it took.
fn encode(jobs: Receiver<Job>, outs: &mut Outputs) -> Result<f64> {
    let mut secs = 0.0;
    for mut job in jobs {
        let t = Instant::now();
        if let Some(sink) = outs.sink.as_mut() {
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
                outs.legend.iter().map(|(l, c)| (l.as_str(), *c)).collect();
            draw::draw(&mut job.img, &layers, &legend);
            sink.write(&job.img)?;
        }
        if let Some(w) = outs.writer.as_mut() {
            w.write(&job.record)?;
        }
        secs += t.elapsed().as_secs_f64();
    }
    Ok(secs)
}

/// A bar over the video's frames on a terminal's stderr.
fn progress_bar(info: &VideoInfo) -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
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
