//! Configuration: the reference's typed-JSON `.config` files, the tracker's JSON, and the
//! resolved run configuration.
pub mod keys;
pub mod limits;
pub mod model;
pub mod optim;
pub mod run;
pub mod tracker;
pub mod typed_json;

pub use model::ModelConfig;
pub use optim::OptConfig;
pub use run::RunConfig;
pub use tracker::TrackerConfig;
pub use typed_json::{TypedConfig, Value};
