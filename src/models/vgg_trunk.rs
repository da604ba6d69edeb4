//! The VGG16 trunk, conv1_1 … conv4_3 with ReLUs and three 2×2 max-pools (stride 8), named like
//! torchvision's `features.N` so `vgg16-397923af.pth` loads by name (reference
//! `lib/models/cpm_vgg16.py`, `VGG16_base`).
use super::layers::{conv, Conv};
use tch::{nn, Tensor};

/// One slot of torchvision's `features` Sequential.
enum Slot {
    /// 3×3 conv + ReLU (the ReLU takes the next index).
    Conv(Conv),
    /// 2×2 max-pool, stride 2.
    Pool,
}

pub struct VggTrunk {
    slots: Vec<Slot>,
    pub out_channels: i64,
}

impl VggTrunk {
    /// `widths` = channels of the four blocks (reference 64, 128, 256, 512).
    pub fn new(p: &nn::Path, widths: [i64; 4]) -> Self {
        // Blocks of conv3 layers (2, 2, 3, 3), a pool after each of the first three.
        let blocks = [(widths[0], 2), (widths[1], 2), (widths[2], 3), (widths[3], 3)];
        let mut slots = Vec::new();
        let mut index = 0;
        let mut c_in = 3;
        for (b, &(c, n)) in blocks.iter().enumerate() {
            for _ in 0..n {
                slots.push(Slot::Conv(conv(p / index, c_in, c, 3, 1)));
                index += 2; // conv, relu
                c_in = c;
            }
            if b < 3 {
                slots.push(Slot::Pool);
                index += 1;
            }
        }
        Self { slots, out_channels: c_in }
    }

    /// `[N, 3, H, W]` normalised image → `[N, C, H/8, W/8]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let mut x = x.shallow_clone();
        for s in &self.slots {
            x = match s {
                Slot::Conv(c) => x.apply(c).relu_(),
                Slot::Pool => x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false),
            };
        }
        x
    }
}
