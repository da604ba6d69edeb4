//! Memory layout: channels-last (NHWC strides under NCHW sizes), the layout in which libtorch's
//! CPU convolutions (oneDNN) and cuDNN's bf16 kernels run without reordering every activation.
//! A convolution whose kernel is channels-last gives a channels-last output whatever its
//! input's layout (libtorch decides on input or weight), so converting a network's kernels
//! ([`vars_channels_last`]) is enough: every activation after the first convolution follows.
//! PyTorch's `model.to(memory_format=torch.channels_last)` and `x.to(memory_format=…)` do the
//! same; tch 0.24 has no memory-format argument, so the strides are made by a permute, a copy
//! and the inverse permute. Sizes, names and values are unchanged (sums may round differently);
//! anything written to disk goes through `contiguous()` and is NCHW again.
use tch::{nn, Tensor};

/// `t` (4-D) with channels-last strides; other tensors unchanged.
pub fn channels_last(t: &Tensor) -> Tensor {
    if t.dim() != 4 || is_channels_last(t) {
        return t.shallow_clone();
    }
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// Whether a 4-D tensor's strides are channels-last (channels innermost).
pub fn is_channels_last(t: &Tensor) -> bool {
    let (s, z) = (t.stride(), t.size());
    t.dim() == 4 && s[1] == 1 && s[3] == z[1] && s[2] == z[1] * z[3] && s[0] == z[1] * z[2] * z[3]
}

/// Every 4-D variable of `vs` (the convolution kernels) to channels-last, in place: the same
/// variables (shared with any optimiser built before) on new storage.
pub fn vars_channels_last(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            if v.dim() == 4 && !is_channels_last(&v) {
                let c = channels_last(&v);
                v.set_data(&c);
            }
        }
    });
}
