//! The binary links libtorch_cuda (so CUDA is found on GPU machines) and finds libtorch by
//! its rpath, without LD_LIBRARY_PATH.
use std::process::Command;

#[test]
fn binary_needs_libtorch_cuda_and_runs_without_ld_library_path() {
    let bin = env!("CARGO_BIN_EXE_tsal");
    let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/libtorch/lib");
    let ldd = Command::new("ldd").arg(bin).env_remove("LD_LIBRARY_PATH").output().expect("ldd");
    let text = String::from_utf8_lossy(&ldd.stdout);
    assert!(!text.contains("not found"), "unresolved libraries:\n{text}");
    if lib.join("libtorch_cuda.so").exists() {
        assert!(text.contains("libtorch_cuda.so =>"), "libtorch_cuda.so not linked:\n{text}");
    }
    let o = Command::new(bin).arg("doctor").env_remove("LD_LIBRARY_PATH").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("libtorch    2.11.0"));
}
