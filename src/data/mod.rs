//! Landmark data on disk: annotation files, list files, and their validation.
pub mod aflw_lists;
pub mod augment;
pub mod batch;
pub mod cache;
pub mod check;
pub mod clip;
pub mod debug;
pub mod image_io;
pub mod list;
pub mod loader;
pub mod matfile;
pub mod pts;
pub mod sample;
pub mod text;
pub mod vw300_lists;
pub mod w300_lists;
