//! Flag groups shared by several subcommands (`#[command(flatten)]`): each flag, its help and
//! its default are written once here, so `train`, `eval`, `bench`, `inspect`, `snapshot` and
//! `lists` cannot drift apart. The reference's snake_case spelling stays the flag's name, with
//! a kebab-case alias.
use crate::data::crop::CropSpec;
use crate::device::DeviceChoice;
use crate::formats::list::PathMap;
use serde::Serialize;
use std::path::PathBuf;

/// The reference detector configuration.
pub const DETECTOR_CONFIG: &str = "configs/Detector.config";
/// ARFlow's PWC-Lite Sintel configuration (the reference hard-coded a path to it).
pub const TRACKER_CONFIG: &str = "configs/MFDS.json";
/// The reference optimiser configuration.
pub const OPT_CONFIG: &str = "configs/SGD.config";
/// 300W's 68 landmarks.
pub const NUM_PTS: usize = 68;
/// The reference's crop: 256×256, the box expanded by 0.2 per side.
pub const CROP_SIDE: u32 = CropSpec::REFERENCE.width;
pub const PRE_CROP_EXPAND: f64 = CropSpec::REFERENCE.expand;

#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct Points {
    /// Landmarks per face (the detector outputs num_pts + 1 heatmaps).
    #[arg(long = "num_pts", visible_alias = "num-pts", default_value_t = NUM_PTS)]
    pub num_pts: usize,
}

#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct DetectorConfig {
    /// Detector configuration (typed JSON, reference format).
    #[arg(long = "model_config", visible_alias = "model-config", default_value = DETECTOR_CONFIG)]
    pub model_config: PathBuf,
}

#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct OptimizerConfig {
    /// Optimiser configuration (typed JSON, reference format).
    #[arg(long = "opt_config", visible_alias = "opt-config", default_value = OPT_CONFIG)]
    pub opt_config: PathBuf,
}

#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct TrackerConfig {
    /// Tracker (PWC-Lite) configuration, ARFlow JSON.
    #[arg(long = "tracker_config", visible_alias = "tracker-config", default_value = TRACKER_CONFIG)]
    pub tracker_config: PathBuf,
}

#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct Crop {
    /// Expand the face box by this ratio on each side before cropping (PreCrop).
    #[arg(long = "pre_crop_expand", visible_alias = "pre-crop-expand", default_value_t = PRE_CROP_EXPAND)]
    pub pre_crop_expand: f64,
    /// Crop (network input) width in pixels.
    #[arg(long = "crop_width", visible_alias = "crop-width", default_value_t = CROP_SIDE)]
    pub crop_width: u32,
    /// Crop (network input) height in pixels.
    #[arg(long = "crop_height", visible_alias = "crop-height", default_value_t = CROP_SIDE)]
    pub crop_height: u32,
}

impl Crop {
    pub fn spec(&self) -> CropSpec {
        CropSpec { expand: self.pre_crop_expand, width: self.crop_width, height: self.crop_height }
    }
}

/// The crop flags where a snapshot may already know them (`tsal eval --model`): absent flags
/// take the snapshot's run configuration, else the defaults above; a flag that contradicts
/// the snapshot is an error.
#[derive(clap::Args, Debug, Clone, Default, Serialize)]
pub struct CropOverride {
    /// Expand the face box by this ratio on each side before cropping (PreCrop) [default: the
    /// snapshot's run, else 0.2].
    #[arg(long = "pre_crop_expand", visible_alias = "pre-crop-expand")]
    pub pre_crop_expand: Option<f64>,
    /// Crop (network input) width in pixels [default: the snapshot's run, else 256].
    #[arg(long = "crop_width", visible_alias = "crop-width")]
    pub crop_width: Option<u32>,
    /// Crop (network input) height in pixels [default: the snapshot's run, else 256].
    #[arg(long = "crop_height", visible_alias = "crop-height")]
    pub crop_height: Option<u32>,
}

impl CropOverride {
    /// The crop: each given flag, else `known`'s value (a snapshot's run), else the default.
    /// A given flag that differs from `known` is an error naming both.
    pub fn resolve(&self, known: Option<CropSpec>, source: &str) -> anyhow::Result<CropSpec> {
        let base = known.unwrap_or(CropSpec::REFERENCE);
        if let Some(k) = known {
            let clash = |flag: &str, given: String, have: String| {
                anyhow::anyhow!(
                    "{flag} {given}: {source} was trained with {have}; leave the flag out (the \
                     snapshot knows its crop)"
                )
            };
            if let Some(v) = self.pre_crop_expand.filter(|v| *v != k.expand) {
                return Err(clash("--pre_crop_expand", v.to_string(), k.expand.to_string()));
            }
            if let Some(v) = self.crop_width.filter(|v| *v != k.width) {
                return Err(clash("--crop_width", v.to_string(), k.width.to_string()));
            }
            if let Some(v) = self.crop_height.filter(|v| *v != k.height) {
                return Err(clash("--crop_height", v.to_string(), k.height.to_string()));
            }
        }
        Ok(CropSpec {
            expand: self.pre_crop_expand.unwrap_or(base.expand),
            width: self.crop_width.unwrap_or(base.width),
            height: self.crop_height.unwrap_or(base.height),
        })
    }
}

/// `--device`, with `--cpu` kept (hidden) for commands written before every subcommand took
/// `--device`.
#[derive(clap::Args, Debug, Clone, Copy, Serialize)]
pub struct Device {
    /// Where to run: auto (CUDA device 0 when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto", value_parser = clap::value_parser!(DeviceChoice))]
    pub device: DeviceChoice,
    /// The same as --device cpu.
    #[arg(long, hide = true, conflicts_with = "device")]
    #[serde(skip)]
    pub cpu: bool,
}

impl Device {
    /// The device asked for (`--cpu` meaning `--device cpu`).
    pub fn choice(&self) -> DeviceChoice {
        if self.cpu {
            DeviceChoice::Cpu
        } else {
            self.device
        }
    }

    /// The device itself; an unavailable CUDA device is an error.
    pub fn resolve(&self) -> anyhow::Result<tch::Device> {
        self.choice().resolve()
    }
}

#[derive(clap::Args, Debug, Clone, Serialize)]
pub struct PathMaps {
    /// Rewrite list path prefixes, OLD=NEW (repeatable; the first match wins), e.g. for the
    /// reference's /data1/... lists.
    #[arg(long = "path_map", visible_alias = "path-map", value_name = "OLD=NEW")]
    pub path_map: Vec<PathMap>,
}
