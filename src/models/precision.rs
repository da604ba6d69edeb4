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
use anyhow::{bail, Result};
use tch::Device;

/// The arithmetic of the networks' forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in fp32.
    Fp32,
    /// Forwards under bf16 autocast; weights, optimiser state and losses in fp32.
    Bf16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }
}

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

/// Where a CPU's bf16 arithmetic is native: the `flags` line of `/proc/cpuinfo` (Linux) names
/// `avx512_bf16` or `amx_bf16`. `None` when neither is there.
pub fn native_bf16_flag(cpuinfo: &str) -> Option<&'static str> {
    let flags: Vec<&str> = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .flat_map(|l| l.split_once(':').map(|(_, v)| v).unwrap_or("").split_whitespace())
        .collect();
    ["amx_bf16", "avx512_bf16"].into_iter().find(|f| flags.contains(f))
}

/// This machine's CPU bf16 support, from `/proc/cpuinfo` (`None` elsewhere or without it).
pub fn cpu_bf16() -> Option<&'static str> {
    std::fs::read_to_string("/proc/cpuinfo").ok().as_deref().and_then(native_bf16_flag)
}

/// Refuse bf16 where it would be emulated: on a CPU without native bf16 arithmetic, libtorch
/// still runs bf16 autocast, but slower than fp32. CUDA devices are taken as able (every GPU
/// of PyTorch 2.11's CUDA 13 build has bf16 arithmetic).
pub fn check(device: Device, precision: Precision, cpu_flag: Option<&str>) -> Result<()> {
    if precision == Precision::Bf16 && !device.is_cuda() && cpu_flag.is_none() {
        bail!(
            "--precision bf16: this CPU has no native bf16 arithmetic (neither avx512_bf16 nor \
             amx_bf16 in /proc/cpuinfo), so bf16 would run emulated, slower than fp32; use \
             --precision fp32"
        );
    }
    Ok(())
}
