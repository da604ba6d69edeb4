//! Everything stored in a run folder, and the one place `train`, `eval` and `demo` open runs.
//!
//! * [`folder`]: the run folder (`--save_path`): layout, the lock, `config.json`, the
//!   `last.json` / `best.json` pointers, opening a new run or continuing one.
//! * [`snapshot`]: a snapshot folder's detectors (what `tsal eval` and `tsal demo` load).
//! * [`checkpoint`]: what training adds to a snapshot to continue from it: optimiser states and
//!   where training stood.
//! * [`keep`]: which snapshots `--keep N` deletes.
//! * [`metrics`]: `metrics.jsonl`, written as training goes and read back by plots.
//! * [`resolve`]: `--model RUN_OR_SNAPSHOT` → the snapshot folder, and the run configuration
//!   the snapshot carries.
//!
//! Depends on `config`, `models` and the file primitives; never on `train`, `eval` or `demo`.
pub mod checkpoint;
pub mod folder;
pub mod keep;
pub mod metrics;
pub mod resolve;
pub mod snapshot;

pub use folder::RunDir;
pub use snapshot::Role;
