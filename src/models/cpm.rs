//! `CPM_feature` and the CPM `stages` (reference `lib/models/cpm_vgg16.py`, `VGG16_base`): stage 1
//! reads the 128-channel feature; every later stage reads `cat(feature, previous stage's
//! heatmaps)`. Outputs `num_pts + 1` heatmaps (the last one is background) at the trunk's stride,
//! no final activation.
use super::layers::{conv, Conv};
use tch::{nn, Tensor};

/// `CPM_feature`: conv3 C→256, ReLU, conv3 256→128, ReLU (reference widths).
pub struct CpmFeature {
    c1: Conv,
    c2: Conv,
}

impl CpmFeature {
    pub fn new(p: &nn::Path, c_in: i64, mid: i64, out: i64) -> Self {
        Self { c1: conv(p / 0, c_in, mid, 3, 1), c2: conv(p / 2, mid, out, 3, 1) }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.apply(&self.c1).relu_().apply(&self.c2).relu_()
    }
}

/// One stage: a chain of convs with ReLU after every one but the last. Indices step by 2
/// (conv, ReLU) like the reference's Sequential.
pub struct CpmStage {
    convs: Vec<Conv>,
}

impl CpmStage {
    /// Stage 1 on the F-channel feature: conv3 F→w, 3× conv3 w→w, conv1 w→4w, conv1 4w→P
    /// (reference F = w = 128).
    pub fn first(p: &nn::Path, feat: i64, w: i64, points: i64) -> Self {
        let mut spec: Vec<(i64, i64, i64)> = vec![(feat, w, 3)];
        spec.extend([(w, w, 3); 3]);
        spec.push((w, 4 * w, 1));
        spec.push((4 * w, points, 1));
        Self::from_spec(p, &spec)
    }

    /// Stages 2…: conv7 (F+P)→w, 2× conv7 w→w, 4× conv3 w→w, conv1 w→w, conv1 w→P.
    pub fn later(p: &nn::Path, feat: i64, w: i64, points: i64) -> Self {
        let mut spec = vec![(feat + points, w, 7), (w, w, 7), (w, w, 7)];
        spec.extend([(w, w, 3); 4]);
        spec.push((w, w, 1));
        spec.push((w, points, 1));
        Self::from_spec(p, &spec)
    }

    fn from_spec(p: &nn::Path, spec: &[(i64, i64, i64)]) -> Self {
        let convs =
            spec.iter().enumerate().map(|(i, &(a, b, k))| conv(p / (2 * i), a, b, k, 1)).collect();
        Self { convs }
    }

    /// The Sequential index of the stage's output convolution (the heatmaps).
    pub fn output_index(&self) -> usize {
        2 * (self.convs.len() - 1)
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let last = self.convs.len() - 1;
        let mut x = x.shallow_clone();
        for (i, c) in self.convs.iter().enumerate() {
            x = x.apply(c);
            if i < last {
                x = x.relu_();
            }
        }
        x
    }
}
