//! Bounds on the settings users give, checked in one place for every command: a value outside
//! them is one clear error naming the flag, never a panic deep inside a warp or an allocation
//! (an unchecked 65536-pixel crop overflowed `u32` arithmetic; a NaN expansion wrote NaN
//! predictions and exited 0).
use anyhow::{bail, Result};

/// Largest crop or input side in pixels. The reference trains at 256; 2048 is far beyond any
/// landmark model's input and keeps every buffer size within `u32` and memory.
pub const MAX_SIDE: u32 = 2048;

/// Most landmarks per face a model or file may have (300W has 68, WFLW 98).
pub const MAX_POINTS: i64 = 1000;

/// What runs on a crop decides the multiple its sides need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consumer {
    /// The detector alone: heatmap stride 8 times the CenterNet branch's further ×4 (32).
    Detector,
    /// The tracker too: PWC-Lite's six-level pyramid halves the input six times (64).
    Tracker,
}

impl Consumer {
    pub fn multiple(self) -> u32 {
        match self {
            Consumer::Detector => 32,
            Consumer::Tracker => 64,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Consumer::Detector => "the detector",
            Consumer::Tracker => "the tracker (PWC-Lite's six pyramid levels)",
        }
    }
}

/// One side of a crop or input (`flag` names it in the error).
pub fn side(flag: &str, v: i64, by: Consumer) -> Result<()> {
    let m = by.multiple() as i64;
    if v < m || v > MAX_SIDE as i64 || v % m != 0 {
        bail!("{flag} {v}: {} needs a multiple of {m} from {m} to {MAX_SIDE}", by.what());
    }
    Ok(())
}

/// Crop width and height (`--crop_width`, `--crop_height`).
pub fn crop(width: u32, height: u32, by: Consumer) -> Result<()> {
    side("--crop_width", width as i64, by)?;
    side("--crop_height", height as i64, by)
}

/// `--pre_crop_expand`: the face box grows by this ratio on each side; finite, 0 to 4 (a box
/// nine times its size).
pub fn pre_crop_expand(v: f64) -> Result<()> {
    if !(v.is_finite() && (0.0..=4.0).contains(&v)) {
        bail!("--pre_crop_expand {v}: needs a number from 0 to 4 (the reference uses 0.2)");
    }
    Ok(())
}

/// A count that must be at least 1 and at most `max` (`--batch_size`, `--iters`, …).
pub fn count(flag: &str, v: i64, max: i64) -> Result<()> {
    if !(1..=max).contains(&v) {
        bail!("{flag} {v}: needs a whole number from 1 to {max}");
    }
    Ok(())
}

/// A finite positive number (`--sigma`, …).
pub fn positive(flag: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0) {
        bail!("{flag} {v}: needs a finite number above 0");
    }
    Ok(())
}
