//! The PNG figures: cumulative error distributions (`ced.png` of an evaluation, [`ced`]) and
//! training curves (`curves.png` of a run, `tsal plot`, [`training`]), drawn with the shared
//! primitives of [`canvas`]. Depends on `run::metrics` for the records it draws; nothing of
//! `train` or `eval`.
pub mod canvas;
pub mod ced;
pub mod training;
