//! Link libtorch's CUDA library even though no symbol of it is referenced directly, and
//! set an rpath to torch's lib folder so `target/*/tsal` runs without `LD_LIBRARY_PATH`.
//!
//! Without `--no-as-needed` the linker drops `libtorch_cuda.so` and `tch::Cuda::is_available()`
//! is false on a GPU machine (tch-rs issues #907, #964, #980).
//!
//! Also: find the SeetaFace model inside the `rustface` package (cargo metadata) and hand its
//! path to the compiler as `TSAL_FACE_MODEL`, which `src/demo/face.rs` embeds.
use std::path::{Path, PathBuf};
use std::process::Command;

/// The model file of the `rustface` package this build resolved (its package ships
/// `model/seeta_fd_frontal_v1.0.bin`).
fn face_model() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = Command::new(cargo)
        .current_dir(&dir)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    // `"manifest_path":"/…/rustface-0.1.7/Cargo.toml"`: the one package path with that name.
    let manifest = text
        .split('"')
        .find(|s| {
            Path::new(s).file_name().is_some_and(|f| f == "Cargo.toml")
                && Path::new(s)
                    .parent()
                    .and_then(Path::file_name)
                    .is_some_and(|d| d.to_string_lossy().starts_with("rustface-"))
        })
        .expect("the rustface package in cargo metadata");
    let model = Path::new(manifest).with_file_name("model").join("seeta_fd_frontal_v1.0.bin");
    assert!(model.is_file(), "{}: the SeetaFace model is missing", model.display());
    model
}

fn main() {
    let model = face_model();
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rustc-env=TSAL_FACE_MODEL={}", model.display());
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
