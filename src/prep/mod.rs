//! Dataset preparation: `tsal lists 300w / 300vw / aflw` build SBR lists from raw dataset
//! trees, and `tsal lists check` validates any list (`check`).
pub mod aflw_lists;
pub mod check;
pub mod vw300_lists;
pub mod w300_lists;
