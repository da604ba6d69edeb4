//! Networks. `models` knows nothing of data loading or training.
pub mod centernet;
pub mod cpm;
pub mod detector;
pub mod inspect;
pub mod layers;
pub mod layout;
pub mod ops;
pub mod precision;
pub mod pwclite;
pub mod vgg_trunk;
pub mod weights;

pub use detector::{Detector, DetectorOutput, DetectorSpec};
pub use pwclite::{PwcLite, TrackerOutput};
