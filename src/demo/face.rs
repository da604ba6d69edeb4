//! Face boxes for the demo: the SeetaFace frontal cascade of the `rustface` crate, whose model
//! ships inside the crate's package and is embedded in the binary at build time (build.rs), so
//! nothing is downloaded at run time. Frames are searched at most 640 pixels wide; boxes come
//! back in frame pixels.
use image::imageops::{self, FilterType};
use image::{GrayImage, RgbImage};

/// The SeetaFace frontal model (1.2 MB, from the `rustface` package).
static MODEL: &[u8] = include_bytes!(env!("TSAL_FACE_MODEL"));

/// The longest side a frame is searched at (a 1080p frame takes ~10× longer otherwise).
pub const SEARCH_SIDE: u32 = 640;

/// A found face: `[x1, y1, x2, y2]` in frame pixels and the cascade's score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Found {
    pub bbox: [f64; 4],
    pub score: f64,
}

impl Found {
    pub fn area(&self) -> f64 {
        (self.bbox[2] - self.bbox[0]) * (self.bbox[3] - self.bbox[1])
    }

    /// The box in the training lists' convention (the 68 landmarks' bounds, which the crop
    /// expands): SeetaFace's square sits higher and is a little larger. Measured on the first
    /// frames of 33 synthetic videos where it found the face: the landmarks' box is
    /// 0.92 ± 0.09 of its side, centred 0.12 ± 0.05 of its side lower (horizontally
    /// 0.00 ± 0.03).
    pub fn landmark_box(&self) -> [f64; 4] {
        let b = self.bbox;
        let side = b[2] - b[0];
        let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0 + LOWER * side);
        let half = SIDE * side / 2.0;
        [cx - half, cy - half, cx + half, cy + half]
    }
}

/// [`Found::landmark_box`]'s side ratio and downward shift (fractions of the detector's side).
pub const SIDE: f64 = 0.92;
pub const LOWER: f64 = 0.12;

pub struct FaceFinder {
    det: Box<dyn rustface::Detector>,
    min_face: u32,
}

impl FaceFinder {
    /// A finder of faces at least `min_face` pixels wide (in the searched frame).
    pub fn new(min_face: u32) -> anyhow::Result<Self> {
        let model = rustface::read_model(std::io::Cursor::new(MODEL))
            .map_err(|e| anyhow::anyhow!("the embedded face model does not load: {e:?}"))?;
        let mut det = rustface::create_detector_with_model(model);
        // rustface's recommended settings (its README): scores above 2, 0.8 pyramid steps.
        det.set_min_face_size(min_face.max(20));
        det.set_score_thresh(2.0);
        det.set_pyramid_scale_factor(0.8);
        det.set_slide_window_step(4, 4);
        Ok(Self { det, min_face })
    }

    /// Every face of `img`, largest first.
    pub fn find(&mut self, img: &RgbImage) -> Vec<Found> {
        let (w, h) = img.dimensions();
        let scale = (SEARCH_SIDE as f64 / w.max(h) as f64).min(1.0);
        let gray: GrayImage = if scale < 1.0 {
            let (sw, sh) = ((w as f64 * scale).round() as u32, (h as f64 * scale).round() as u32);
            imageops::grayscale(&imageops::resize(img, sw.max(1), sh.max(1), FilterType::Triangle))
        } else {
            imageops::grayscale(img)
        };
        let min_face = ((self.min_face as f64) * scale).round().max(20.0) as u32;
        self.det.set_min_face_size(min_face);
        let data = rustface::ImageData::new(gray.as_raw(), gray.width(), gray.height());
        let mut faces: Vec<Found> = self
            .det
            .detect(&data)
            .iter()
            .map(|f| {
                let b = f.bbox();
                let (x, y) = (b.x() as f64 / scale, b.y() as f64 / scale);
                let (bw, bh) = (b.width() as f64 / scale, b.height() as f64 / scale);
                Found { bbox: [x, y, x + bw, y + bh], score: f.score() }
            })
            .collect();
        faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
        faces
    }
}
