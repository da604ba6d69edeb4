//! `tsal demo`: a snapshot's landmarks on a video; the work is in [`crate::demo`].
use super::eval::Which;
use crate::demo::follow::Policy;
use crate::demo::run::{self, check_output, describe, parse_box, Options};
use crate::demo::video::Rate;
use crate::run::resolve::{snapshot_dir, Pick};
use crate::run::snapshot::Role;
use anyhow::{anyhow, bail, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Printed at the end of `tsal demo --help`.
pub const EXAMPLES: &str = "\
Examples:
  # Both detectors of a run on a video, smoothed by their trackers:
  tsal demo --model runs/tsal-300w --video clip.mp4 --which both --track \\
    --out clip-landmarks.mp4 --landmarks clip-landmarks.json

  # A 300VW clip with its annotation: NME and jitter of the student on every frame:
  tsal demo --model runs/tsal-300w --which student --video /data/300VW/114/vid.avi \\
    --truth /data/300VW/114/annot --landmarks 114.csv";

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// A snapshot folder, or a training run folder (its latest snapshot, or the best with
    /// --snapshot best).
    #[arg(long, value_name = "RUN_OR_SNAPSHOT", help_heading = "Input and model")]
    pub model: PathBuf,
    /// With a run folder as --model: its `last` snapshot or its `best`.
    #[arg(long, value_enum, default_value_t = Pick::Last, help_heading = "Input and model")]
    pub snapshot: Pick,
    /// The video (anything FFmpeg reads: mp4, avi, mov, webm, …) or a folder of frames
    /// (png/jpg, in name order).
    #[arg(long, value_name = "VIDEO_OR_FOLDER", help_heading = "Input and model")]
    pub video: PathBuf,
    /// Which detector draws: teacher, student, or both in two colours with a legend.
    #[arg(long, value_enum, default_value_t = Which::Student, help_heading = "Input and model")]
    pub which: Which,
    /// Frame rate of a folder of frames (a video keeps its own).
    #[arg(long, default_value = "25", help_heading = "Input and model")]
    pub fps: String,
    /// Soft-argmax radius in heatmap cells [default: the model config's `argmax`].
    #[arg(
        long = "soft_argmax_radius",
        visible_alias = "soft-argmax-radius",
        help_heading = "Input and model"
    )]
    pub soft_argmax_radius: Option<i64>,
    /// The face box of the first frame, x1,y1,x2,y2 in pixels (instead of the face detector).
    #[arg(
        long = "box",
        value_name = "X1,Y1,X2,Y2",
        help_heading = "Finding and following the face"
    )]
    pub bbox: Option<String>,
    /// Run the face detector again every N frames (0: only when the landmarks lose the face).
    #[arg(
        long = "detect_every",
        visible_alias = "detect-every",
        default_value_t = 0,
        help_heading = "Finding and following the face"
    )]
    pub detect_every: u64,
    /// Mean heatmap peak under which the landmarks are not trusted to place the next box, and
    /// the face detector runs again (the quickstart's detectors: 0.65–0.73 on a face, 0.32–0.37
    /// on a box of background).
    #[arg(
        long = "min_confidence",
        visible_alias = "min-confidence",
        default_value_t = 0.5,
        allow_negative_numbers = true,
        help_heading = "Finding and following the face"
    )]
    pub min_confidence: f64,
    /// Every face the detector finds, on every frame (no following, no --track); otherwise the
    /// largest face.
    #[arg(long = "all_faces", visible_alias = "all-faces", conflicts_with_all = ["track", "bbox"], help_heading = "Finding and following the face")]
    pub all_faces: bool,
    /// Smallest face the detector looks for, in pixels.
    #[arg(
        long = "min_face",
        visible_alias = "min-face",
        default_value_t = 40,
        help_heading = "Finding and following the face"
    )]
    pub min_face: u32,
    /// Fuse each frame's landmarks with the previous frame's carried by the detector's own
    /// tracker (TSAL snapshots): mu·carried + (1 − mu)·detected.
    #[arg(long, help_heading = "Smoothing with the tracker (--track)")]
    pub track: bool,
    /// --track's weight of the carried landmarks (training's μ).
    #[arg(long, default_value_t = crate::config::run::DEFAULT_MU, allow_negative_numbers = true, help_heading = "Smoothing with the tracker (--track)")]
    pub mu: f64,
    #[command(flatten, next_help_heading = "Device")]
    pub device: super::flags::Device,
    /// The annotated video: same size, frame count and frame rate as the input (.mp4, .mov,
    /// .mkv: H.264; .avi: Motion JPEG; .webm: VP9).
    #[arg(long, value_name = "OUT.mp4", help_heading = "Output")]
    pub out: Option<PathBuf>,
    /// The landmarks of every frame (.json or .csv): index, time, box, how it was found, the
    /// points and their confidence; frames without a face are flagged.
    #[arg(long, value_name = "OUT.json|OUT.csv", help_heading = "Output")]
    pub landmarks: Option<PathBuf>,
    /// A folder of ground-truth .pts files, one per frame in name order (300VW's annot/):
    /// report NME and jitter.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub truth: Option<PathBuf>,
    /// Print the summary as JSON on stdout.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Replace --out / --landmarks files that already exist (never the input video).
    #[arg(long, help_heading = "Output")]
    pub force: bool,
}

pub fn run(a: &DemoArgs) -> Result<ExitCode> {
    if a.out.is_none() && a.landmarks.is_none() {
        bail!("nothing to write: give --out OUT.mp4, --landmarks OUT.json (or .csv), or both");
    }
    if a.out.is_some() && a.out == a.landmarks {
        bail!("--out and --landmarks name the same file; give each its own");
    }
    let mut replaced = Vec::new();
    for (flag, p) in [("--out", &a.out), ("--landmarks", &a.landmarks)] {
        if let Some(p) = p {
            if check_output(flag, p, &a.video, a.force)? {
                replaced.push(p.clone());
            }
        }
    }
    if !(0.0..=1.0).contains(&a.mu) {
        bail!("--mu {}: must be in [0, 1]", a.mu);
    }
    if !a.min_confidence.is_finite() {
        bail!("--min_confidence {}: must be a number", a.min_confidence);
    }
    let fps = Rate::parse(&a.fps)
        .ok_or_else(|| anyhow!("--fps {}: expected a rate like 25 or 30000/1001", a.fps))?;
    let bbox = a.bbox.as_deref().map(parse_box).transpose()?;
    if !a.video.exists() {
        bail!("--video {}: no such file or folder", a.video.display());
    }
    let snapshot = snapshot_dir(&a.model, a.snapshot)?;
    let roles = match a.which {
        Which::Teacher => vec![Role::Teacher],
        Which::Student => vec![Role::Student],
        Which::Both => vec![Role::Teacher, Role::Student],
    };
    let o = Options {
        snapshot,
        roles,
        video: a.video.clone(),
        out: a.out.clone(),
        landmarks: a.landmarks.clone(),
        bbox,
        track: a.track,
        mu: a.mu,
        policy: Policy {
            detect_every: (a.detect_every > 0).then_some(a.detect_every),
            min_confidence: a.min_confidence,
        },
        all_faces: a.all_faces,
        min_face: a.min_face,
        fps,
        device: a.device.resolve()?,
        truth: a.truth.clone(),
        radius: a.soft_argmax_radius,
    };
    let s = run::run(&o)?;
    if let Some(n) = s.info.frames.filter(|&n| n != s.frames) {
        eprintln!(
            "tsal: warning: {}: the file states {n} frames, {} decoded (a truncated file?); \
             the outputs hold the {} decoded",
            a.video.display(),
            s.frames,
            s.frames
        );
    }
    for p in &replaced {
        eprintln!("tsal: replaced {} (--force)", p.display());
    }
    let text = if a.json { serde_json::to_string_pretty(&s)? } else { describe(&s) };
    // The outputs are in place: a closed stdout (`| head`) loses only the summary.
    let _ = writeln!(std::io::stdout(), "{text}");
    Ok(ExitCode::SUCCESS)
}
