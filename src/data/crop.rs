//! Crop geometry, apart from augmentation: a face box expanded by `expand` on each side and
//! resized to `width × height` (the reference's PreCrop + TrainScale2WH). Evaluation and the
//! demo use exactly this deterministic crop; training composes its random draws after it
//! ([`super::augment::crop_matrix`]). [`crop`] cuts one in-memory image and returns the
//! normalised pixels with the crop → original-image map that takes predictions back.
use super::augment::{warp_image, Affine};
use image::RgbImage;

/// The crop: expansion ratio per side, and the crop size in pixels.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CropSpec {
    /// `pre_crop_expand`: the box grows by this fraction of its size on each side.
    pub expand: f64,
    pub width: u32,
    pub height: u32,
}

impl CropSpec {
    /// The reference's crop: 256×256, the face box expanded by 0.2 on each side (the defaults
    /// of `--crop_width`, `--crop_height` and `--pre_crop_expand` in the reference
    /// `lib/config_utils/args.py`).
    pub const REFERENCE: CropSpec = CropSpec { expand: 0.2, width: 256, height: 256 };

    /// Original-image pixels → crop pixels: the expanded box's edges go to the crop's edges,
    /// `x ↦ (x − X1)·W / W_box`.
    pub fn matrix(&self, bbox: [f64; 4]) -> Affine {
        let (w, h) = (bbox[2] - bbox[0], bbox[3] - bbox[1]);
        let (x1, y1) = (bbox[0] - w * self.expand, bbox[1] - h * self.expand);
        let grow = 1.0 + 2.0 * self.expand;
        Affine::translate(-x1, -y1)
            .then(&Affine::scale(self.width as f64 / (w * grow), self.height as f64 / (h * grow)))
    }

    /// Pixels in one crop.
    pub fn pixels(&self) -> usize {
        self.width as usize * self.height as usize
    }
}

/// ImageNet normalisation (the reference's `Normalize`, `exps/main.py:60-79`).
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

fn channel(values: [f32; 3], device: tch::Device) -> tch::Tensor {
    tch::Tensor::from_slice(&values).view([1, 3, 1, 1]).to_device(device)
}

/// Normalised detector input `[N, 3, H, W]` → RGB in [0, 1] (what the trackers see).
pub fn to_unit(x: &tch::Tensor) -> tch::Tensor {
    x * channel(STD, x.device()) + channel(MEAN, x.device())
}

/// RGB in [0, 1] `[N, 3, H, W]` → normalised detector input.
pub fn from_unit(x: &tch::Tensor) -> tch::Tensor {
    (x - channel(MEAN, x.device())) / channel(STD, x.device())
}

/// `(v/255 − mean)/std` for every byte value and channel.
pub fn normalise_table() -> [[f32; 256]; 3] {
    let mut t = [[0f32; 256]; 3];
    for (c, row) in t.iter_mut().enumerate() {
        for (v, x) in row.iter_mut().enumerate() {
            *x = (v as f32 / 255.0 - MEAN[c]) / STD[c];
        }
    }
    t
}

/// Append `img` to `out` as normalised `[3, H, W]` planes.
pub fn normalise_into(img: &RgbImage, table: &[[f32; 256]; 3], out: &mut Vec<f32>) {
    let plane = (img.width() * img.height()) as usize;
    let base = out.len();
    out.resize(base + 3 * plane, 0.0);
    let (r, rest) = out[base..].split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (k, px) in img.as_raw().chunks_exact(3).enumerate() {
        r[k] = table[0][px[0] as usize];
        g[k] = table[1][px[1] as usize];
        b[k] = table[2][px[2] as usize];
    }
}

/// One face cropped for the detector.
#[derive(Clone, Debug, PartialEq)]
pub struct Cropped {
    /// `[3, height, width]`, ImageNet-normalised.
    pub pixels: Vec<f32>,
    /// Crop pixels → original-image pixels.
    pub to_original: Affine,
}

/// Crop face box `bbox` (original-image pixels) out of `image` with `spec`: one resampling
/// (antialiased when shrinking), the mean colour outside the image.
pub fn crop(image: &RgbImage, bbox: [f64; 4], spec: &CropSpec) -> Cropped {
    let m = spec.matrix(bbox);
    let img = warp_image(image, &m, spec.width, spec.height);
    let mut pixels = Vec::with_capacity(3 * spec.pixels());
    normalise_into(&img, &normalise_table(), &mut pixels);
    Cropped { pixels, to_original: m.inverse() }
}
