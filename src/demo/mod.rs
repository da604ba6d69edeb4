//! `tsal demo`: landmarks on a video, in the order a frame flows: [`video`] decodes it,
//! [`follow`] decides where the face is (or [`face`] finds it), the detectors place the
//! landmarks ([`crate::eval::predict`]), [`track`] optionally fuses them with the previous
//! frame's carried by the tracker, [`draw`] marks them, [`video`] encodes the frame and
//! [`record`] writes the landmarks file; [`truth`] scores them against a clip's ground truth.
//! [`landmarker`] is the per-frame landmarks stage; [`run`] joins the stages in threads.
pub mod draw;
pub mod face;
pub mod follow;
pub mod landmarker;
pub mod record;
pub mod run;
pub mod track;
pub mod truth;
pub mod video;
