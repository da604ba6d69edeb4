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
    /// The CPU flag that makes bf16 arithmetic native (`avx512_bf16`, `amx_bf16`), or none:
    /// `--precision bf16` on this CPU needs one.
    pub cpu_bf16: Option<String>,
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
        cpu_bf16: crate::models::precision::cpu_bf16().map(str::to_string),
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

/// Where to train: `auto` (CUDA device 0 when available, else the CPU), `cpu`, `cuda` or
/// `cuda:N`. Stored in a run's configuration as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(Self::Cuda(n)),
                _ => Err(format!("expected auto, cpu, cuda or cuda:N, found `{s}`")),
            },
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => write!(f, "auto"),
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl serde::Serialize for DeviceChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl DeviceChoice {
    /// The device, or an error when CUDA was asked for and is not there.
    pub fn resolve(self) -> anyhow::Result<tch::Device> {
        match self {
            Self::Auto => Ok(tch::Device::cuda_if_available()),
            Self::Cpu => Ok(tch::Device::Cpu),
            Self::Cuda(n) => {
                let count = tch::Cuda::device_count();
                if !tch::Cuda::is_available() || n as i64 >= count {
                    anyhow::bail!(
                        "--device cuda:{n}: this machine has {count} CUDA device(s) \
                         (see `tsal doctor`)"
                    );
                }
                Ok(tch::Device::Cuda(n))
            }
        }
    }
}
