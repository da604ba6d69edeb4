//! Frames in and out through FFmpeg processes: `ffprobe` reads a video's size, frame rate,
//! rotation and frame count; an `ffmpeg` decoder streams raw RGB frames from any format it
//! reads; another encodes raw RGB frames into the output. One frame is in memory per stage,
//! whatever the video's length. A folder of images is a video too (sorted by name, at
//! `--fps`).
//!
//! Rotation: FFmpeg applies a rotation tag while decoding, so frames arrive as the video is
//! displayed, the landmarks are in displayed pixels, and the output is written upright, which
//! plays the same way.
use crate::fsutil::StagedFile;
use anyhow::{anyhow, bail, ensure, Context, Result};
use image::RgbImage;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A frame rate as FFmpeg writes it (`30000/1001`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rate {
    pub num: u32,
    pub den: u32,
}

impl Rate {
    pub fn parse(s: &str) -> Option<Self> {
        let (n, d) = s.trim().split_once('/').unwrap_or((s.trim(), "1"));
        let (num, den) = (n.parse().ok()?, d.parse().ok()?);
        (num > 0 && den > 0).then_some(Self { num, den })
    }

    pub fn fps(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

/// What a video is, as displayed.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    pub rate: Rate,
    /// The container's frame count when it states one.
    pub frames: Option<u64>,
    /// Degrees the stored frames are turned for display (0, 90, 180, 270).
    pub rotation: i32,
}

/// `ffprobe` facts of the first video stream of `path`.
pub fn probe(path: &Path) -> Result<VideoInfo> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg("stream=width,height,r_frame_rate,avg_frame_rate,nb_frames:stream_tags=rotate:stream_side_data=rotation")
        .args(["-of", "json"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow!("cannot run ffprobe ({e}): install FFmpeg (apt-get install ffmpeg)"))?;
    let name = path.display();
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().last().unwrap_or("unreadable").trim();
        bail!("{name}: not a video FFmpeg can read ({why})");
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).with_context(|| format!("{name}: ffprobe output"))?;
    let Some(s) = v["streams"].get(0) else {
        bail!("{name}: no video stream (not a video?)");
    };
    let dim = |k: &str| s[k].as_u64().filter(|&x| x > 0 && x <= 1 << 15).map(|x| x as u32);
    let (Some(w), Some(h)) = (dim("width"), dim("height")) else {
        bail!("{name}: the video stream has no size");
    };
    let rate = ["avg_frame_rate", "r_frame_rate"]
        .iter()
        .find_map(|k| s[*k].as_str().and_then(Rate::parse))
        .ok_or_else(|| anyhow!("{name}: the video stream has no frame rate"))?;
    let frames = s["nb_frames"].as_str().and_then(|x| x.parse().ok());
    let side = s["side_data_list"]
        .as_array()
        .and_then(|l| l.iter().find_map(|d| d["rotation"].as_f64()))
        .map(|r| -r as i32);
    let tag = s["tags"]["rotate"].as_str().and_then(|r| r.parse::<i32>().ok());
    let rotation = side.or(tag).unwrap_or(0).rem_euclid(360);
    let (width, height) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
    Ok(VideoInfo { width, height, rate, frames, rotation })
}

/// The last line FFmpeg wrote on stderr, read by a thread from the start so that a process
/// that writes much (a damaged file: one complaint per frame) never blocks on a full pipe.
#[derive(Clone, Default)]
pub struct StderrTail(std::sync::Arc<std::sync::Mutex<String>>);

impl StderrTail {
    fn drain(child: &mut Child) -> Self {
        let tail = Self::default();
        if let Some(mut err) = child.stderr.take() {
            let keep = tail.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut t = keep.0.lock().unwrap_or_else(|e| e.into_inner());
                    t.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if t.len() > 8192 {
                        let cut = t.len() - 4096;
                        let cut = (cut..t.len()).find(|&i| t.is_char_boundary(i)).unwrap_or(0);
                        t.drain(..cut);
                    }
                }
            });
        }
        tail
    }

    /// `": LAST LINE"`, or nothing.
    fn last_line(&self) -> String {
        // Give the reader a moment to take what the exited process wrote last.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        t.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| format!(": {}", l.trim()))
            .unwrap_or_default()
    }
}

/// The image files of a folder, sorted by name.
pub fn folder_frames(dir: &Path) -> Result<Vec<PathBuf>> {
    const EXT: [&str; 9] = ["png", "jpg", "jpeg", "bmp", "ppm", "pgm", "tif", "tiff", "webp"];
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read the folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| EXT.contains(&x.to_string_lossy().to_lowercase().as_str()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Where frames come from.
pub enum Source {
    Video { child: Child, out: BufReader<ChildStdout>, frame: usize, err: StderrTail },
    Folder { files: Vec<PathBuf>, next: usize },
}

impl Source {
    /// Open a video file (and its facts) or a folder of images (played at `fps`).
    pub fn open(path: &Path, fps: Rate) -> Result<(Self, VideoInfo)> {
        if path.is_dir() {
            let files = folder_frames(path)?;
            let first = files.first().ok_or_else(|| {
                anyhow!(
                    "{}: no image files (png, jpg, bmp, ppm, pgm, tiff, webp) in the folder",
                    path.display()
                )
            })?;
            let img = crate::formats::image_io::decode(first)
                .with_context(|| format!("{}", first.display()))?;
            let info = VideoInfo {
                width: img.width(),
                height: img.height(),
                rate: fps,
                frames: Some(files.len() as u64),
                rotation: 0,
            };
            return Ok((Source::Folder { files, next: 0 }, info));
        }
        ensure!(path.exists(), "{}: no such file or folder", path.display());
        let info = probe(path)?;
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(path)
            .args([
                "-map",
                "0:v:0",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-fps_mode",
                "passthrough",
                "-",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                anyhow!("cannot run ffmpeg ({e}): install FFmpeg (apt-get install ffmpeg)")
            })?;
        let out = BufReader::with_capacity(1 << 20, child.stdout.take().expect("piped stdout"));
        let err = StderrTail::drain(&mut child);
        Ok((Source::Video { child, out, frame: 0, err }, info))
    }

    /// The next frame, or `None` at the end. A folder's image of another size than the first
    /// is an error.
    pub fn next_frame(&mut self, info: &VideoInfo, name: &Path) -> Result<Option<RgbImage>> {
        match self {
            Source::Folder { files, next } => {
                let Some(p) = files.get(*next) else { return Ok(None) };
                *next += 1;
                let img = crate::formats::image_io::decode(p)
                    .with_context(|| format!("{}", p.display()))?
                    .to_rgb8();
                ensure!(
                    (img.width(), img.height()) == (info.width, info.height),
                    "{}: {}×{}, but the folder's first image is {}×{} (a video has one size)",
                    p.display(),
                    img.width(),
                    img.height(),
                    info.width,
                    info.height
                );
                Ok(Some(img))
            }
            Source::Video { child, out, frame, err } => {
                let len = info.width as usize * info.height as usize * 3;
                let mut buf = vec![0u8; len];
                let mut got = 0;
                while got < len {
                    match out.read(&mut buf[got..]) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => bail!("{}: reading decoded frames: {e}", name.display()),
                    }
                }
                if got == 0 {
                    let status = child.wait()?;
                    if !status.success() {
                        crate::interrupt::check()?; // Ctrl-C reached ffmpeg too
                        let why = err.last_line();
                        bail!(
                            "{}: ffmpeg stopped decoding after {frame} frames{why}",
                            name.display()
                        );
                    }
                    return Ok(None);
                }
                ensure!(
                    got == len,
                    "{}: frame {} is truncated ({got} of {len} bytes)",
                    name.display(),
                    *frame + 1
                );
                *frame += 1;
                Ok(Some(RgbImage::from_raw(info.width, info.height, buf).expect("sized buffer")))
            }
        }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        if let Source::Video { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An output video being written under a temporary name; [`Sink::finish`] renames it into
/// place, dropping it unfinished removes it.
pub struct Sink {
    child: Child,
    stdin: Option<ChildStdin>,
    file: StagedFile,
    size: (u32, u32),
    err: StderrTail,
}

impl Sink {
    /// Start encoding `size` frames at `rate` into `target`: H.264 (`yuv420p` when both sides
    /// are even, else `yuv444p`) for .mp4 / .mov / .mkv, Motion JPEG for .avi, VP9 for .webm.
    pub fn create(target: &Path, size: (u32, u32), rate: Rate) -> Result<Self> {
        let ext =
            target.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
        let even = size.0.is_multiple_of(2) && size.1.is_multiple_of(2);
        let codec: Vec<&str> = match ext.as_str() {
            "mp4" | "mov" | "mkv" | "m4v" => {
                let pix = if even { "yuv420p" } else { "yuv444p" };
                vec!["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", pix]
            }
            "avi" => vec!["-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj444p"],
            "webm" => {
                vec!["-c:v", "libvpx-vp9", "-deadline", "realtime", "-b:v", "0", "-crf", "30"]
            }
            _ => bail!(
                "--out {}: write .mp4, .mov, .mkv, .avi or .webm (the extension picks the format)",
                target.display()
            ),
        };
        let file = StagedFile::new(target);
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"])
            .args(["-s", &format!("{}x{}", size.0, size.1), "-framerate", &rate.to_string()])
            .args(["-i", "-"])
            .args(&codec)
            .args(["-fps_mode", "passthrough"])
            .arg(file.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                anyhow!("cannot run ffmpeg ({e}): install FFmpeg (apt-get install ffmpeg)")
            })?;
        let stdin = child.stdin.take();
        let err = StderrTail::drain(&mut child);
        Ok(Self { child, stdin, file, size, err })
    }

    pub fn write(&mut self, img: &RgbImage) -> Result<()> {
        assert_eq!((img.width(), img.height()), self.size, "a frame of another size");
        let stdin = self.stdin.as_mut().expect("open until finish");
        if let Err(e) = stdin.write_all(img.as_raw()) {
            crate::interrupt::check()?;
            let why = self.stderr_tail();
            bail!("--out {}: ffmpeg stopped encoding ({e}{why})", self.file.target().display());
        }
        Ok(())
    }

    fn stderr_tail(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.err.last_line()
    }

    /// Close the stream, wait for FFmpeg, and rename the file into place.
    pub fn finish(mut self) -> Result<PathBuf> {
        drop(self.stdin.take());
        let status = self.child.wait()?;
        if !status.success() {
            crate::interrupt::check()?;
            let why = self.stderr_tail();
            bail!("--out {}: ffmpeg failed{why}", self.file.target().display());
        }
        self.file.commit("--out")
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // Unfinished: stop FFmpeg before the staged file (a field, dropped after this) goes.
        if self.stdin.is_some() {
            drop(self.stdin.take());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_ffmpeg_writes_them() {
        assert_eq!(Rate::parse("30000/1001"), Some(Rate { num: 30000, den: 1001 }));
        assert!((Rate::parse("30000/1001").unwrap().fps() - 29.97).abs() < 1e-2);
        assert_eq!(Rate::parse("25"), Some(Rate { num: 25, den: 1 }));
        assert_eq!(Rate::parse("0/0"), None);
        assert_eq!(Rate::parse("x"), None);
    }
}
