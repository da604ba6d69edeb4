//! Link libtorch's CUDA library even though no symbol of it is referenced directly, and
//! set an rpath to torch's lib folder so `target/*/tsal` runs without `LD_LIBRARY_PATH`.
//!
//! Without `--no-as-needed` the linker drops `libtorch_cuda.so` and `tch::Cuda::is_available()`
//! is false on a GPU machine (tch-rs issues #907, #964, #980).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    // torch-sys (`links = "tch"`) exports its lib folder to direct dependents.
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("LIBTORCH").map(|p| PathBuf::from(p).join("lib")))
        .expect("libtorch not found: run scripts/setup.sh (it installs PyTorch 2.11.0 into .venv)");
    // Resolve the .venv/libtorch link so the rpath names the real folder.
    let lib = lib.canonicalize().unwrap_or(lib);
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    } else {
        println!("cargo:warning=libtorch_cuda.so not in {}: this build is CPU-only", lib.display());
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}
