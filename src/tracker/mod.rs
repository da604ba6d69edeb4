//! A tracker on its own: measured on annotated frame pairs (`tsal tracker eval`), and
//! pretrained on pairs with exact flow (`tsal tracker pretrain`).
pub mod eval;
pub mod pairs;
pub mod pretrain;
pub mod synthetic;
