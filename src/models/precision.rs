//! Mixed precision: fp32, or bf16 through libtorch's own autocast (the mechanism of PyTorch's
//! `torch.autocast`), switched on around a network's forward. Under it, convolutions and
//! matrix products run in bf16 on bf16 copies of the fp32 weights; the gradients reach the
//! fp32 weights through the recorded casts, so weights, optimiser state and losses stay fp32
//! (callers cast the outputs back to fp32 before any loss).
//!
//! tch 0.24 exposes only the CUDA switch with its default dtype (fp16), so the device-generic
//! switch of libtorch 2.11 (`at::autocast::set_autocast_enabled(DeviceType, bool)` and
//! `set_autocast_dtype`) is called by its C++ symbol. Both take one-byte enums by value
//! (`c10::DeviceType`, `c10::ScalarType`), which the C calling convention passes the same way.
use tch::Device;

pub use crate::device::{check, cpu_bf16, native_bf16_flag, Precision};

mod ffi {
    extern "C" {
        #[link_name = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb"]
        pub fn set_autocast_enabled(device: i8, enabled: bool);
        #[link_name = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE"]
        pub fn is_autocast_enabled(device: i8) -> bool;
        #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
        pub fn set_autocast_dtype(device: i8, dtype: i8);
        #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
        pub fn get_autocast_dtype(device: i8) -> i8;
        #[link_name = "_ZN2at8autocast17increment_nestingEv"]
        pub fn increment_nesting() -> i32;
        #[link_name = "_ZN2at8autocast17decrement_nestingEv"]
        pub fn decrement_nesting() -> i32;
        #[link_name = "_ZN2at8autocast11clear_cacheEv"]
        pub fn clear_cache();
    }
}

/// `c10::DeviceType` values.
const DEVICE_CPU: i8 = 0;
const DEVICE_CUDA: i8 = 1;
/// `c10::ScalarType::BFloat16`.
const SCALAR_BF16: i8 = 15;

fn device_type(device: Device) -> i8 {
    if device.is_cuda() {
        DEVICE_CUDA
    } else {
        DEVICE_CPU
    }
}

/// Run `f` with the forwards in `precision` on `device`: nothing changes for fp32; for bf16,
/// libtorch's autocast is on for `device` while `f` runs and restored after it (nested scopes
/// keep the outer state; the cache of bf16 weight copies is dropped when the outermost ends).
pub fn autocast<R>(device: Device, precision: Precision, f: impl FnOnce() -> R) -> R {
    if precision == Precision::Fp32 {
        return f();
    }
    struct Restore {
        device: i8,
        enabled: bool,
        dtype: i8,
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: plain setters of libtorch's thread-local autocast state.
            unsafe {
                ffi::set_autocast_enabled(self.device, self.enabled);
                ffi::set_autocast_dtype(self.device, self.dtype);
                if ffi::decrement_nesting() == 0 {
                    ffi::clear_cache();
                }
            }
        }
    }
    let d = device_type(device);
    // SAFETY: as above; the previous state is restored by `Restore`, also on a panic.
    let _restore = unsafe {
        let r = Restore {
            device: d,
            enabled: ffi::is_autocast_enabled(d),
            dtype: ffi::get_autocast_dtype(d),
        };
        ffi::increment_nesting();
        ffi::set_autocast_dtype(d, SCALAR_BF16);
        ffi::set_autocast_enabled(d, true);
        r
    };
    f()
}

/// Whether libtorch's autocast is on for `device` now (for tests and checks).
pub fn autocast_enabled(device: Device) -> bool {
    // SAFETY: a getter of libtorch's thread-local autocast state.
    unsafe { ffi::is_autocast_enabled(device_type(device)) }
}
