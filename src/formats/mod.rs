//! The files users bring, read and written exactly, with no training logic: annotation files
//! (`pts`), SBR list files (`list`), MAT-files (`matfile`), images (`image_io`), PyTorch
//! checkpoints (`torch_pickle`: state dicts in the zip or legacy pickle layout), and the text
//! rules they share (`text`).
pub mod image_io;
pub mod list;
pub mod matfile;
pub mod pts;
pub mod text;
pub mod torch_pickle;
