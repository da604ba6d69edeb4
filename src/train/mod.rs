//! training: optimiser, parameter groups, schedules, … Everything that changes weights lives
//! here; `models` only builds networks.
//!
//! tch's optimisers keep their state inside libtorch where it cannot be saved, so training owns
//! its optimiser step ([`optim::Optimizer`]) with the state as plain tensors.
pub mod groups;
pub mod optim;
pub mod schedule;

/// The first six `names`, then how many more (for error messages that may name hundreds).
pub(crate) fn abbreviate(names: &[String]) -> String {
    const SHOW: usize = 6;
    let mut s = names.iter().take(SHOW).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > SHOW {
        s += &format!(", and {} more", names.len() - SHOW);
    }
    s
}
