//! Synthetic 300W / 300VW-format data with exact ground truth (`tsal synth`).
//!
//! Faces are drawn procedurally from a 3D 68-point template ([`template`]) under random pose,
//! identity and expression ([`render`], [`canvas`]) over cluttered backgrounds
//! ([`background`]), then degraded ([`degrade`]). [`w300`] writes the 300W tree and its lists,
//! [`vw300`] the 300VW tree (frames, annotations, `vid.avi`) and its lists.
//!
//! Output is deterministic: every picture takes its own random stream from
//! `(seed, kind, index)`, so the bytes do not depend on the number of threads.
use crate::fsutil::{Kind, StagedDir};
use crate::interrupt;
use anyhow::{bail, Context, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub mod background;
pub mod canvas;
pub mod degrade;
pub mod render;
pub mod scene;
pub mod template;
pub mod vw300;
pub mod w300;

pub use canvas::Part;
pub use scene::{Difficulty, RenderOptions, Rendered, Scene};

/// Which datasets to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Only {
    W300,
    Vw300,
}

/// What `tsal synth` generates.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    /// Final output folder.
    pub out: PathBuf,
    /// Replace an existing non-empty `out`.
    pub force: bool,
    pub seed: u64,
    /// 300W training images (the test subsets scale with it unless `common` / `challenge`).
    pub images: usize,
    /// 300W common test faces (helen + lfpw test sets); default 17.6 % of `images`.
    pub common: Option<usize>,
    /// 300W challenge test faces (ibug); default 5 % of `images`.
    pub challenge: Option<usize>,
    /// 300VW videos: all of them, about half for training (`test_videos` None), or the
    /// training videos only.
    pub videos: usize,
    /// 300VW test videos, dealt over test-1/2/3 in turn (None: the half of `videos`).
    pub test_videos: Option<usize>,
    /// Speed of the videos' motion (pose, position, expression), 1 the default: at 2 a video
    /// goes through the same kind of motion twice as fast.
    pub motion: f64,
    /// Frames per video.
    pub frames: usize,
    /// Encode `vid.avi` with ffmpeg.
    pub avi: bool,
    /// Worker threads (≥ 1).
    pub threads: usize,
    /// Restrict to one dataset.
    pub only: Option<Only>,
}

/// Quickstart defaults.
pub const DEFAULT_IMAGES: usize = 150;
pub const DEFAULT_VIDEOS: usize = 8;
pub const DEFAULT_FRAMES: usize = 80;

impl SynthOptions {
    /// The quickstart dataset into `out`.
    pub fn quickstart(out: impl Into<PathBuf>) -> Self {
        Self {
            out: out.into(),
            force: false,
            seed: 0,
            images: DEFAULT_IMAGES,
            common: None,
            challenge: None,
            videos: DEFAULT_VIDEOS,
            test_videos: None,
            motion: 1.0,
            frames: DEFAULT_FRAMES,
            avi: true,
            threads: default_threads(),
            only: None,
        }
    }

    pub fn want_300w(&self) -> bool {
        self.only != Some(Only::Vw300)
    }

    pub fn want_300vw(&self) -> bool {
        self.only != Some(Only::W300)
    }

    /// Reject values that cannot produce a dataset.
    pub fn validate(&self) -> Result<()> {
        if self.threads == 0 {
            bail!("--threads must be at least 1");
        }
        if self.want_300w() && self.images < w300::MIN_IMAGES {
            bail!(
                "--images must be at least {} (one per 300W training subset), got {}",
                w300::MIN_IMAGES,
                self.images
            );
        }
        if self.want_300w() && self.common.is_some_and(|n| n < 2) {
            bail!("--common must be at least 2 (one for each of helen and lfpw's test sets)");
        }
        if self.want_300w() && self.challenge == Some(0) {
            bail!("--challenge must be at least 1");
        }
        if self.want_300vw() {
            if self.videos + self.test_videos.unwrap_or(0) == 0 {
                bail!("--videos must be at least 1 (or pass --only 300w)");
            }
            if !(self.motion.is_finite() && self.motion > 0.0 && self.motion <= 100.0) {
                bail!("--motion {}: must be a speed factor in (0, 100]", self.motion);
            }
            if self.frames == 0 {
                bail!("--frames must be at least 1");
            }
        }
        if self.images > 1_000_000 || self.videos > 999 || self.frames > 999_999 {
            bail!("too large: at most 1000000 images, 999 videos (three-digit ids) and 999999 frames per video");
        }
        Ok(())
    }
}

pub use crate::parallel::default_threads;

/// What was written.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub out: PathBuf,
    /// `(subset, images)` in 300W order.
    pub w300: Vec<(String, usize)>,
    /// `(split, videos, frames)`.
    pub vw300: Vec<vw300::SplitCount>,
    /// Whether `vid.avi` files were encoded.
    pub avi: bool,
    /// List files written.
    pub lists: usize,
    pub seconds: f64,
}

/// A `tsal synth` output folder, for [`StagedDir`]: its marker names `tsal synth`, and `--force`
/// also recognises the output of a tsal from before markers by its first synthetic 300W face
/// (`300W/afw/1000000_1.pts`, a name no real 300W image has) next to `lists/`.
pub const KIND: Kind = Kind { name: "tsal synth", legacy: Some(is_unmarked_output) };

fn is_unmarked_output(dir: &Path) -> bool {
    let afw = &w300::plan(w300::MIN_IMAGES)[0];
    dir.join("lists").is_dir()
        && dir.join("300W").join(afw.dir).join(format!("{}.pts", afw.stem(0))).is_file()
}

/// Generate the datasets described by `opts` into `opts.out` (built under a staging name and
/// moved into place only when complete). A Ctrl-C / SIGTERM stops it with an
/// [`interrupt::Interrupted`] error, leaving `opts.out` as it was.
pub fn generate(opts: &SynthOptions) -> Result<Summary> {
    let t0 = Instant::now();
    opts.validate()?;
    if opts.want_300vw() && opts.avi {
        vw300::check_ffmpeg()?;
    }
    let staged = StagedDir::with_kind(&opts.out, opts.force, KIND)
        .with_context(|| format!("cannot prepare --out {}", opts.out.display()))?;
    let root = staged.path().to_path_buf();
    let mut summary = Summary { out: opts.out.clone(), avi: opts.avi, ..Summary::default() };
    if opts.want_300w() {
        let (counts, lists) = w300::generate(&root, opts)?;
        summary.w300 = counts;
        summary.lists += lists;
    }
    interrupt::check()?;
    if opts.want_300vw() {
        let (counts, lists) = vw300::generate(&root, opts)?;
        summary.vw300 = counts;
        summary.lists += lists;
    } else {
        summary.avi = false;
    }
    interrupt::check()?;
    summary.out = staged.commit()?;
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

/// Kinds of random streams, so that different things never share one.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub enum Stream {
    W300Image = 1,
    Video = 2,
    Frame = 3,
}

/// The random stream of item `index` of `kind` under `seed`.
pub fn rng_for(seed: u64, kind: Stream, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&(kind as u64).to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..].copy_from_slice(b"tsalsynt");
    ChaCha8Rng::from_seed(key)
}
