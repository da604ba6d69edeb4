//! `tsal synth`: generate synthetic 300W / 300VW-format data with exact ground truth.
use crate::synth::{self, Only, SynthOptions};
use anyhow::Result;
use clap::builder::TypedValueParser as _;
use std::process::ExitCode;

/// Which dataset `--only` keeps.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnlyArg {
    #[value(name = "300w")]
    W300,
    #[value(name = "300vw")]
    Vw300,
}

#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// Output folder (gets 300W/, 300VW/ and lists/).
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Replace an existing output folder that tsal wrote (never a file, nor a non-empty folder
    /// without tsal's .tsal-output marker).
    #[arg(long)]
    pub force: bool,
    /// Random seed; the same seed gives the same bytes whatever --threads is.
    #[arg(long = "rand_seed", visible_alias = "rand-seed", alias = "seed", default_value_t = 0)]
    pub seed: u64,
    /// 300W training images; the common test set gets about 18% of this, the challenge set 5%.
    #[arg(long, default_value_t = synth::DEFAULT_IMAGES, value_parser = clap::value_parser!(u64).range(3..=1_000_000).map(|v| v as usize))]
    pub images: usize,
    /// 300W common test faces (helen and lfpw test sets) [default: 17.6% of --images].
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..=1_000_000).map(|v| v as usize))]
    pub common: Option<usize>,
    /// 300W challenge test faces (ibug) [default: 5% of --images].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000).map(|v| v as usize))]
    pub challenge: Option<usize>,
    /// 300VW videos (about half train, the rest spread over test-1/2/3; with --test_videos,
    /// the training videos only, at most 50), named by the ids of the 300VW protocol for their
    /// split (train 001, 002, …; test-1 114, …).
    #[arg(long, default_value_t = synth::DEFAULT_VIDEOS, value_parser = clap::value_parser!(u64).range(0..=114).map(|v| v as usize))]
    pub videos: usize,
    /// 300VW test videos, dealt over test-1, test-2, test-3 in turn (at most 31 / 19 / 14 of
    /// them, the protocol's ids); makes --videos count the training videos alone.
    #[arg(long = "test_videos", visible_alias = "test-videos", value_parser = clap::value_parser!(u64).range(0..=64).map(|v| v as usize))]
    pub test_videos: Option<usize>,
    /// Speed of the videos' motion (head pose, position, expression): 2 goes through the same
    /// kind of motion twice as fast, so consecutive frames move about twice as far.
    #[arg(long, default_value_t = 1.0)]
    pub motion: f64,
    /// Frames per video.
    #[arg(long = "video_frames", visible_alias = "video-frames", alias = "frames", default_value_t = synth::DEFAULT_FRAMES, value_parser = clap::value_parser!(u64).range(1..=999_999).map(|v| v as usize))]
    pub frames: usize,
    /// Do not encode 300VW vid.avi files (ffmpeg not needed).
    #[arg(long = "no_avi", visible_alias = "no-avi")]
    pub no_avi: bool,
    /// Worker threads [default: available parallelism].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024).map(|v| v as usize))]
    pub threads: Option<usize>,
    /// Generate only one dataset.
    #[arg(long, value_enum)]
    pub only: Option<OnlyArg>,
}

impl SynthArgs {
    pub fn options(&self) -> SynthOptions {
        SynthOptions {
            out: self.out.clone(),
            force: self.force,
            seed: self.seed,
            images: self.images,
            common: self.common,
            challenge: self.challenge,
            videos: self.videos,
            test_videos: self.test_videos,
            motion: self.motion,
            frames: self.frames,
            avi: !self.no_avi,
            threads: self.threads.unwrap_or_else(synth::default_threads),
            only: self.only.map(|o| match o {
                OnlyArg::W300 => Only::W300,
                OnlyArg::Vw300 => Only::Vw300,
            }),
        }
    }
}

pub fn run(args: &SynthArgs) -> Result<ExitCode> {
    let opts = args.options();
    let s = synth::generate(&opts)?;
    for (subset, n) in &s.w300 {
        println!("{subset:<24} {n:>6} images");
    }
    for (split, videos, frames) in &s.vw300 {
        println!("300VW {split:<18} {videos:>6} videos {frames:>7} frames");
    }
    if !s.vw300.is_empty() && !s.avi {
        println!("(vid.avi not encoded: --no-avi)");
    }
    println!("{} list files; {:.1} s; wrote {}", s.lists, s.seconds, s.out.display());
    Ok(ExitCode::SUCCESS)
}
