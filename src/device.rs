//! The compute device, the arithmetic of its forwards, and the facts `tsal doctor` reports.
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
    /// What `tsal train --precision auto` picks on the default device (`--device auto`).
    pub auto_precision: Precision,
}

/// The libtorch version this build expects (torch-sys 0.24's `TORCH_VERSION`).
pub const LIBTORCH_VERSION: &str = "2.11.0";

/// Collect the facts; this is also the first call into libtorch, so a libtorch that cannot
/// load fails here (at process start, through the dynamic linker).
pub fn facts() -> DeviceFacts {
    let cuda_available = tch::Cuda::is_available();
    let count = tch::Cuda::device_count();
    let bf16 = cpu_bf16();
    DeviceFacts {
        tsal_version: env!("CARGO_PKG_VERSION").to_string(),
        libtorch_version: LIBTORCH_VERSION.to_string(),
        cuda_available,
        cuda_device_count: count,
        cuda_device_names: if count > 0 { gpu_names() } else { Vec::new() },
        cudnn_available: tch::Cuda::cudnn_is_available(),
        cpu_threads: tch::get_num_threads(),
        cpu_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_bf16: bf16.map(str::to_string),
        auto_precision: PrecisionChoice::Auto
            .resolve(if cuda_available { tch::Device::Cuda(0) } else { tch::Device::Cpu }, bf16)
            .unwrap_or(Precision::Fp32),
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

/// The arithmetic of the networks' forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
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
pub fn check(
    device: tch::Device,
    precision: Precision,
    cpu_flag: Option<&str>,
) -> anyhow::Result<()> {
    if precision == Precision::Bf16 && !device.is_cuda() && cpu_flag.is_none() {
        anyhow::bail!(
            "--precision bf16: this CPU has no native bf16 arithmetic (neither avx512_bf16 nor \
             amx_bf16 in /proc/cpuinfo), so bf16 would run emulated, slower than fp32; use \
             --precision fp32"
        );
    }
    Ok(())
}

/// `--precision` of `tsal train`: `auto`, `fp32` or `bf16`, stored in a run's configuration as
/// written (a configuration from before the key existed trained in fp32, and reads so).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionChoice {
    /// bf16 where its arithmetic is native (CUDA; a CPU with avx512_bf16 or amx_bf16), else
    /// fp32.
    Auto,
    #[default]
    Fp32,
    Bf16,
}

impl PrecisionChoice {
    /// The precision on `device` (`cpu_flag`: this CPU's native bf16 flag, [`cpu_bf16`]);
    /// `bf16` where it would run emulated is an error.
    pub fn resolve(self, device: tch::Device, cpu_flag: Option<&str>) -> anyhow::Result<Precision> {
        let p = match self {
            Self::Fp32 => Precision::Fp32,
            Self::Bf16 => Precision::Bf16,
            Self::Auto if device.is_cuda() || cpu_flag.is_some() => Precision::Bf16,
            Self::Auto => Precision::Fp32,
        };
        check(device, p, cpu_flag)?;
        Ok(p)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
        }
    }
}

/// libtorch's intra-op threads (its OpenMP team size) for the calling thread only, set to `n`.
/// `tch::set_num_threads` would also change the count that every thread started later takes;
/// OpenMP's own `omp_set_num_threads` is per thread. libtorch sets a thread's count on the
/// thread's first parallel operation, so that is triggered first (else it would undo this).
/// Changes nothing where the OpenMP runtime libtorch loaded is not found
/// ([`intra_op_threads_limitable`]).
pub fn limit_intra_op_threads(n: usize) {
    let Some(set) = omp_set_num_threads() else { return };
    let _ = tch::get_num_threads();
    // SAFETY: the symbol is OpenMP's `void omp_set_num_threads(int)`.
    unsafe { set(n.clamp(1, i32::MAX as usize) as libc::c_int) };
}

/// Whether [`limit_intra_op_threads`] can work here.
pub fn intra_op_threads_limitable() -> bool {
    omp_set_num_threads().is_some()
}

/// OpenMP's `omp_set_num_threads` as loaded with libtorch (libgomp), if any.
fn omp_set_num_threads() -> Option<unsafe extern "C" fn(libc::c_int)> {
    static SYMBOL: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: dlsym with a NUL-terminated name; RTLD_DEFAULT searches what is loaded.
    let addr = *SYMBOL.get_or_init(|| unsafe {
        libc::dlsym(libc::RTLD_DEFAULT, c"omp_set_num_threads".as_ptr())
    } as usize);
    // SAFETY: a non-null address of that symbol is the function.
    (addr != 0)
        .then(|| unsafe { std::mem::transmute::<usize, unsafe extern "C" fn(libc::c_int)>(addr) })
}
