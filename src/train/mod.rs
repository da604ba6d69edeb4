//! Training (`tsal train`) and what it leaves in a run folder: `metrics.jsonl` (`metrics`), the
//! snapshot keep policy (`keep`) and `curves.png` (`curves`).
pub mod curves;
pub mod keep;
pub mod metrics;
