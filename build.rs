//! Link libtorch's CUDA library even though no symbol of it is referenced directly, and
//! set an rpath to torch's lib folder so `target/*/tsal` runs without `LD_LIBRARY_PATH`.
//!
//! Without `--no-as-needed` the linker drops `libtorch_cuda.so` and `tch::Cuda::is_available()`
//! is false on a GPU machine (tch-rs issues #907, #964, #980).
//!
//! Also: find the SeetaFace model inside the `rustface` package and hand its path to the
//! compiler as `TSAL_FACE_MODEL`, which `src/demo/face.rs` embeds.
//!
//! How the model is found: `Cargo.lock` names the exact `rustface` version, and cargo unpacks
//! every package a build compiles into `$CARGO_HOME/registry/src/<registry>/<name>-<version>/`
//! before any build script runs. So the lookup needs only the one package this build uses, no
//! network and no other package. (`cargo metadata`, used before, wants every package of the lock
//! file, Windows-only ones included, which a Linux build never downloads: it failed on every
//! machine whose cargo cache another project had not filled. `--filter-platform` is not enough
//! either: it still wants the dev-dependencies a plain `cargo build` does not download.)
//! `cargo metadata` remains the fallback for vendored sources, where the registry folder is empty.
use std::path::{Path, PathBuf};
use std::process::Command;

const MODEL: &str = "model/seeta_fd_frontal_v1.0.bin";
/// Bytes of `seeta_fd_frontal_v1.0.bin` as rustface 0.1.7 ships it: a truncated unpack is
/// refused here rather than embedded.
const MODEL_BYTES: u64 = 1_209_904;

/// The `rustface` version `Cargo.lock` resolved.
fn locked_version(manifest_dir: &Path) -> Option<String> {
    let lock = std::fs::read_to_string(manifest_dir.join("Cargo.lock")).ok()?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"rustface\"" {
            let v = lines.next()?.trim().strip_prefix("version = \"")?.strip_suffix('"')?;
            return Some(v.to_string());
        }
    }
    None
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

/// `$CARGO_HOME/registry/src/*/rustface-<version>/model/…`, the unpacked package.
fn from_registry(version: &str) -> Option<PathBuf> {
    let src = cargo_home()?.join("registry").join("src");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&src)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join(format!("rustface-{version}")).join(MODEL))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Vendored or otherwise relocated sources: ask cargo, for this target only.
fn from_metadata(manifest_dir: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = std::env::var("TARGET").unwrap_or_default();
    let out = Command::new(cargo)
        .current_dir(manifest_dir)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .args(["--filter-platform", &target])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // `"manifest_path":"/…/rustface-0.1.7/Cargo.toml"`: the one package path with that name.
    text.split('"')
        .find(|s| {
            Path::new(s).file_name().is_some_and(|f| f == "Cargo.toml")
                && Path::new(s)
                    .parent()
                    .and_then(Path::file_name)
                    .is_some_and(|d| d.to_string_lossy().starts_with("rustface-"))
        })
        .map(|m| Path::new(m).parent().expect("a manifest has a folder").join(MODEL))
        .ok_or_else(|| "cargo metadata lists no rustface package".to_string())
}

/// The model file of the `rustface` package this build resolved.
fn face_model() -> PathBuf {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let version = locked_version(&dir);
    let model = match version.as_deref().and_then(from_registry) {
        Some(m) => m,
        None => from_metadata(&dir).unwrap_or_else(|e| {
            panic!(
                "the SeetaFace model of the rustface package ({}) is not in {}/registry/src, and {e}",
                version.as_deref().unwrap_or("no version in Cargo.lock"),
                cargo_home().map_or("$CARGO_HOME".into(), |h| h.display().to_string()),
            )
        }),
    };
    let bytes = std::fs::metadata(&model).map(|m| m.len()).unwrap_or(0);
    assert!(
        version.as_deref() != Some("0.1.7") || bytes == MODEL_BYTES,
        "{}: the SeetaFace model has {bytes} bytes, rustface 0.1.7 ships {MODEL_BYTES}",
        model.display()
    );
    model
}

fn main() {
    let model = face_model();
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-env-changed=CARGO_HOME");
    println!("cargo:rerun-if-changed={}", model.display());
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
