//! The compute device and the facts `tsal doctor` reports.
use serde::Serialize;

/// What this process sees of libtorch, CUDA and the CPU.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceFacts {
    pub tsal_version: String,
    /// libtorch version tch was built against (tch 0.24 ↔ 2.11.0).
    pub libtorch_version: String,
    pub cuda_available: bool,
    pub cuda_device_count: i64,
    /// Device names, from `nvidia-smi` when present (libtorch's C API does not expose them).
    pub cuda_device_names: Vec<String>,
    pub cudnn_available: bool,
    pub cpu_threads: i32,
    pub cpu_cores: usize,
}

/// The libtorch version this build expects (torch-sys 0.24's `TORCH_VERSION`).
pub const LIBTORCH_VERSION: &str = "2.11.0";

/// Collect the facts; this is also the first call into libtorch, so a libtorch that cannot
/// load fails here (at process start, through the dynamic linker).
pub fn facts() -> DeviceFacts {
    let cuda_available = tch::Cuda::is_available();
    let count = tch::Cuda::device_count();
    DeviceFacts {
        tsal_version: env!("CARGO_PKG_VERSION").to_string(),
        libtorch_version: LIBTORCH_VERSION.to_string(),
        cuda_available,
        cuda_device_count: count,
        cuda_device_names: if count > 0 { gpu_names() } else { Vec::new() },
        cudnn_available: tch::Cuda::cudnn_is_available(),
        cpu_threads: tch::get_num_threads(),
        cpu_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

fn gpu_names() -> Vec<String> {
    std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name", "--format=csv,noheader"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(|l| l.trim().to_string()).collect())
        .unwrap_or_default()
}

/// The device to run on: CUDA device 0 when available unless `cpu` is forced.
pub fn choose(cpu: bool) -> tch::Device {
    if cpu {
        tch::Device::Cpu
    } else {
        tch::Device::cuda_if_available()
    }
}
