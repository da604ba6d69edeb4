//! The 300VW tree (`300VW/NNN/{vid.avi, extraction/000001.png…, annot/000001.pts…}`) and its
//! lists (`lists/300VW/300VW.<split>.lst…`). Each video is one person moving smoothly in front
//! of a static background.
use super::background::background;
use super::degrade::{encode_png, jpeg_artefacts, Photo};
use super::render::Style;
use super::scene::{camera, RenderOptions, Scene, MAX_PITCH, MAX_ROLL, MAX_YAW};
use super::template::{gauss, Expression, Identity, Pose};
use super::{rng_for, Stream, SynthOptions};
use crate::formats::pts::{self, PtsFormat};
use crate::fsutil::write_atomic;
use crate::interrupt;
use crate::parallel;
use crate::prep::vw300_lists::{split_ids, SPLITS};
use anyhow::{bail, Context, Result};
use rand::Rng;
use std::f64::consts::TAU;
use std::path::Path;
use std::process::Command;
use tiny_skia::Pixmap;

/// Frame size of the synthetic videos.
pub const FRAME_W: u32 = 640;
pub const FRAME_H: u32 = 360;
/// Frame rate written into `vid.avi`.
pub const FPS: u32 = 25;

/// Split index (into [`SPLITS`]) of each of `n` videos: the first half (rounded up, but
/// leaving at least one video for each test split when `n` >= 4) train, the rest dealt out
/// over test-1, test-2, test-3 in turn.
pub fn assign_splits(n: usize) -> Vec<usize> {
    let train = if n >= 4 { n.div_ceil(2).min(n - 3) } else { 1.min(n) };
    assign_train_test(train, n - train)
}

/// Split index of each of `train` training videos then `test` test videos dealt over test-1,
/// test-2, test-3 in turn.
pub fn assign_train_test(train: usize, test: usize) -> Vec<usize> {
    (0..train).map(|_| 0).chain((0..test).map(|i| 1 + i % 3)).collect()
}

/// Folder names of the videos of `splits` (from [`assign_splits`]): each split's videos take
/// the ids of that split in the 300VW protocol, in order (train 001, 002, …; test-1 114, 124,
/// …), so `tsal lists 300vw` finds every synthetic video in its split.
pub fn video_ids(splits: &[usize]) -> Result<Vec<String>> {
    let mut used = [0usize; 4];
    splits
        .iter()
        .map(|&s| {
            let ids = split_ids(s);
            let id = ids.get(used[s]).with_context(|| {
                format!(
                    "300VW has {} {} videos; fewer synthetic videos are needed",
                    ids.len(),
                    SPLITS[s]
                )
            })?;
            used[s] += 1;
            Ok(id.to_string())
        })
        .collect()
}

/// Frame file stem of frame `f` (0-based): `000001`, …
pub fn frame_stem(f: usize) -> String {
    format!("{:06}", f + 1)
}

/// A slowly varying signal: a base plus a few sinusoids of random phase.
#[derive(Clone, Debug)]
pub struct Wave {
    base: f64,
    terms: Vec<(f64, f64, f64)>,
}

impl Wave {
    /// `amp` is the total amplitude, periods are drawn from `periods` (frames).
    pub fn random(rng: &mut impl Rng, base: f64, amp: f64, periods: (f64, f64)) -> Self {
        let n = 3;
        let weights: Vec<f64> = (0..n).map(|_| rng.random_range(0.2..1.0)).collect();
        let total: f64 = weights.iter().sum();
        let terms = weights
            .iter()
            .map(|w| {
                (
                    amp * w / total,
                    rng.random_range(periods.0..periods.1),
                    rng.random_range(0.0..TAU),
                )
            })
            .collect();
        Self { base, terms }
    }

    pub fn at(&self, t: f64) -> f64 {
        self.base + self.terms.iter().map(|(a, p, ph)| a * (TAU * t / p + ph).sin()).sum::<f64>()
    }
}

/// One video's person, place and motion.
pub struct Video {
    pub identity: Identity,
    pub style: Style,
    pub background: Pixmap,
    pub photo: Photo,
    pub jpeg_quality: u8,
    yaw: Wave,
    pitch: Wave,
    roll: Wave,
    x: Wave,
    y: Wave,
    size: Wave,
    shake: [Wave; 2],
    talk: Wave,
    talk_env: Wave,
    smile: Wave,
    brows: Wave,
    gaze: [Wave; 2],
    /// Blink start frames and durations.
    blinks: Vec<(f64, f64)>,
    /// The waves' time runs this many times as fast (`--motion`); blinks keep their pace.
    speed: f64,
}

impl Video {
    /// A random video of `frames` frames; `hard` gives larger motion and worse pictures;
    /// `speed` scales the time of its motion (1: the default pace).
    pub fn random(rng: &mut impl Rng, frames: usize, hard: bool, speed: f64) -> Result<Self> {
        let identity = Identity::random(rng);
        let style = Style::random(rng);
        let background = background(rng, FRAME_W, FRAME_H)?;
        let mut photo = Photo::random(rng, hard);
        photo.blur = photo.blur.min(1.2);
        // Video frames carry JPEG artefacts instead of much sensor noise (and stay smaller).
        photo.noise = photo.noise.min(2.0);
        let k = if hard { 1.6 } else { 1.0 };
        let slow = (60.0, 240.0);
        let face = rng.random_range(110.0..190.0);
        let mut blinks = Vec::new();
        let mut t = rng.random_range(-20.0..40.0);
        while t < frames as f64 {
            let dur = rng.random_range(5.0..9.0);
            blinks.push((t, dur));
            t += rng.random_range(40.0..120.0);
        }
        let b_yaw = gauss(rng, 0.0, 10.0);
        let b_pitch = gauss(rng, 0.0, 5.0);
        let b_roll = gauss(rng, 0.0, 5.0);
        let b_x = FRAME_W as f64 / 2.0 + gauss(rng, 0.0, 40.0);
        let b_y = FRAME_H as f64 / 2.0 + gauss(rng, 0.0, 15.0);
        let b_talk = rng.random_range(-0.4..0.4);
        let b_smile = rng.random_range(-0.1..0.5);
        let b_brows = rng.random_range(-0.3..0.3);
        Ok(Self {
            jpeg_quality: rng.random_range(if hard { 50..=85 } else { 75..=95 }),
            yaw: Wave::random(rng, b_yaw, 18.0 * k, slow),
            pitch: Wave::random(rng, b_pitch, 7.0 * k, slow),
            roll: Wave::random(rng, b_roll, 7.0 * k, slow),
            x: Wave::random(rng, b_x, 40.0 * k, slow),
            y: Wave::random(rng, b_y, 20.0 * k, slow),
            size: Wave::random(rng, face, face * 0.1, slow),
            shake: [
                Wave::random(rng, 0.0, 0.8 * k, (3.0, 9.0)),
                Wave::random(rng, 0.0, 0.8 * k, (3.0, 9.0)),
            ],
            talk: Wave::random(rng, 0.0, 1.0, (6.0, 18.0)),
            talk_env: Wave::random(rng, b_talk, 0.5, slow),
            smile: Wave::random(rng, b_smile, 0.4, slow),
            brows: Wave::random(rng, b_brows, 0.5, slow),
            gaze: [Wave::random(rng, 0.0, 0.6, slow), Wave::random(rng, 0.0, 0.3, slow)],
            blinks,
            speed,
            identity,
            style,
            background,
            photo,
        })
    }

    fn blink(&self, t: f64) -> f64 {
        self.blinks
            .iter()
            .map(
                |&(s, d)| {
                    if t > s && t < s + d {
                        (std::f64::consts::PI * (t - s) / d).sin()
                    } else {
                        0.0
                    }
                },
            )
            .fold(0.0, f64::max)
    }

    /// The scene of frame `f` (0-based).
    pub fn scene(&self, f: usize) -> Scene {
        // Blinks keep their pace; the rest moves `speed` times as fast along the same path (the
        // same random draws whatever the speed).
        let t = f as f64 * self.speed;
        let pose = Pose {
            yaw: self.yaw.at(t).clamp(-MAX_YAW, MAX_YAW).to_radians(),
            pitch: self.pitch.at(t).clamp(-MAX_PITCH, MAX_PITCH).to_radians(),
            roll: self.roll.at(t).clamp(-MAX_ROLL, MAX_ROLL).to_radians(),
        };
        let talking = self.talk_env.at(t).clamp(0.0, 1.0);
        let b = self.blink(f as f64);
        let expression = Expression {
            mouth_open: (self.talk.at(t).max(0.0) * talking * 0.7).clamp(0.0, 1.0),
            smile: self.smile.at(t).clamp(-0.3, 1.0),
            blink: [b, b],
            brow_raise: self.brows.at(t).clamp(-1.0, 1.0),
            gaze: [self.gaze[0].at(t).clamp(-1.0, 1.0), self.gaze[1].at(t).clamp(-1.0, 1.0)],
        };
        let centre = [self.x.at(t) + self.shake[0].at(t), self.y.at(t) + self.shake[1].at(t)];
        let mut photo = self.photo.clone();
        photo.noise_seed = self.photo.noise_seed.wrapping_add(f as u64);
        Scene {
            width: FRAME_W,
            height: FRAME_H,
            identity: self.identity.clone(),
            style: self.style.clone(),
            expression,
            camera: camera(centre, self.size.at(t), pose),
            occluders: Vec::new(),
            photo,
        }
    }
}

/// Fail early, with advice, when ffmpeg cannot be run.
pub fn check_ffmpeg() -> Result<()> {
    match Command::new("ffmpeg").arg("-version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => bail!(
            "ffmpeg is needed to encode the 300VW vid.avi files but cannot be run; install it \
             (e.g. `apt-get install ffmpeg`) or pass --no-avi to write frames and annotations only"
        ),
    }
}

/// Encode `dir/extraction/%06d.png` into `dir/vid.avi` (Motion JPEG, bit-exact).
pub fn encode_avi(dir: &Path) -> Result<()> {
    let out = Command::new("ffmpeg")
        .current_dir(dir)
        .args(["-v", "error", "-nostdin", "-y", "-framerate", &FPS.to_string()])
        .args(["-i", "extraction/%06d.png", "-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p"])
        .args([
            "-threads",
            "1",
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            "-map_metadata",
            "-1",
        ])
        .arg("vid.avi")
        .output()
        .with_context(|| format!("cannot run ffmpeg in {}", dir.display()))?;
    if !out.status.success() {
        // Ctrl-C in a terminal stops ffmpeg too: report the interruption, not its failure.
        interrupt::check()?;
        bail!(
            "ffmpeg failed to encode {}: {}",
            dir.join("vid.avi").display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `(split, videos, frames)`.
pub type SplitCount = (String, usize, usize);

/// Write the 300VW tree and lists under `root`; returns `(split, videos, frames)` per split
/// with videos and the number of list files.
pub fn generate(root: &Path, opts: &SynthOptions) -> Result<(Vec<SplitCount>, usize)> {
    let splits = match opts.test_videos {
        Some(test) => assign_train_test(opts.videos, test),
        None => assign_splits(opts.videos),
    };
    let n_videos = splits.len();
    let names = video_ids(&splits)?;
    let video_id = |v: usize| names[v].clone();
    let base = root.join("300VW");
    let ids: Vec<usize> = (0..n_videos).collect();
    let videos = parallel::map(&ids, opts.threads, None, |&v| {
        let mut rng = rng_for(opts.seed, Stream::Video, v as u64);
        Video::random(&mut rng, opts.frames, split_is_hard(splits[v]), opts.motion)
    })?;
    let jobs: Vec<(usize, usize)> =
        (0..n_videos).flat_map(|v| (0..opts.frames).map(move |f| (v, f))).collect();
    let bar = parallel::progress(jobs.len(), "300VW frames");
    parallel::map(&jobs, opts.threads, Some(&bar), |&(v, f)| {
        let video = &videos[v];
        let scene = video.scene(f);
        let out = scene.render(&video.background, RenderOptions::default())?;
        let image = jpeg_artefacts(&out.image, video.jpeg_quality)?;
        let dir = base.join(video_id(v));
        let img_path = dir.join("extraction").join(format!("{}.png", frame_stem(f)));
        write_atomic(&img_path, &encode_png(&image)?)?;
        let pts_path = dir.join("annot").join(format!("{}.pts", frame_stem(f)));
        pts::write(&pts_path, &out.landmarks, PtsFormat::Ibug)?;
        Ok(())
    })?;
    bar.finish_and_clear();
    interrupt::check()?;
    if opts.avi {
        parallel::map(&ids, opts.threads, None, |&v| encode_avi(&base.join(video_id(v))))?;
    }
    interrupt::check()?;

    // The lists come from the tree on disk, by the same code as `tsal lists 300vw`.
    let built = crate::prep::vw300_lists::build(&base, &root.join("lists").join("300VW"))?;
    let counts = SPLITS
        .iter()
        .enumerate()
        .filter_map(|(s, split)| {
            let n = splits.iter().filter(|&&x| x == s).count();
            (n > 0).then(|| (split.to_string(), n, n * opts.frames))
        })
        .collect();
    Ok((counts, built.lists.len()))
}

/// Whether videos of split `split` (index into [`SPLITS`]) get larger motion and worse
/// pictures (test-3, like the real one).
pub fn split_is_hard(split: usize) -> bool {
    split == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_all_tests_from_four_videos() {
        assert_eq!(assign_splits(1), [0]);
        assert_eq!(assign_splits(3), [0, 1, 2]);
        assert_eq!(assign_splits(4), [0, 1, 2, 3]);
        assert_eq!(assign_splits(8), [0, 0, 0, 0, 1, 2, 3, 1]);
        use crate::prep::vw300_lists::sparse_keep;
        assert!((13..20).all(|i| sparse_keep(i, 30) == (i == 13)));
        assert!(!sparse_keep(3, 30) && !sparse_keep(23, 26) && sparse_keep(23, 27));
    }

    #[test]
    fn videos_take_the_ids_of_their_split_and_80_fit() {
        let ids = video_ids(&assign_splits(8)).unwrap();
        assert_eq!(ids, ["001", "002", "003", "004", "114", "203", "410", "124"]);
        assert!(video_ids(&assign_splits(80)).is_ok());
        assert!(video_ids(&[3; 15]).is_err(), "test-3 has 14 videos");
    }
}
