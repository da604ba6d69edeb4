//! Which snapshots of a run to delete (`--keep N`): a pure function of the snapshots present,
//! the best one, and how many of the newest to keep ([`prune`]), and its application to a run
//! folder ([`delete_unkept`]).
use super::checkpoint;
use super::folder::RunDir;
use anyhow::{Context, Result};

/// Delete the snapshots of `run` that keeping the newest `keep` and the `best` (an iteration)
/// does not keep; the last snapshot is never deleted.
pub fn delete_unkept(run: &RunDir, keep: usize, best: Option<u64>) -> Result<()> {
    let found = checkpoint::snapshots(run)?;
    let ids: Vec<u64> = found.iter().map(|(_, st)| st.iter).collect();
    for gone in prune(&ids, best, Some(keep)) {
        for (p, _) in found.iter().filter(|(_, st)| st.iter == gone) {
            std::fs::remove_dir_all(p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    Ok(())
}

/// The snapshots to delete, ascending, so that the newest `keep` (by iteration) and `best`
/// remain. Snapshots are named by the global iteration they were taken at; order and
/// duplicates in `snapshots` do not matter.
///
/// - `keep: None` keeps everything (returns nothing).
/// - `keep: Some(0)` is refused by the CLI; this function treats it as `Some(1)`, so the newest
///   snapshot is never deleted whatever the input.
/// - `best` not among `snapshots` changes nothing.
pub fn prune(snapshots: &[u64], best: Option<u64>, keep: Option<usize>) -> Vec<u64> {
    let Some(keep) = keep else {
        return Vec::new();
    };
    let keep = keep.max(1);
    let mut all = snapshots.to_vec();
    all.sort_unstable();
    all.dedup();
    let newest_kept = all.len().saturating_sub(keep);
    all.truncate(newest_kept);
    all.retain(|&s| Some(s) != best);
    all
}
