//! Output that appears whole or not at all: files written through a temporary name and
//! renamed into place, directories built under a staging name and renamed when complete.
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot rename {} to {}", tmp.display(), path.display())
    })
}

/// A directory under construction. Everything is written below [`StagedDir::path`]; `commit`
/// renames it to its final name, and dropping it uncommitted removes it, so a failed run
/// leaves nothing behind.
pub struct StagedDir {
    staging: PathBuf,
    target: PathBuf,
    replace: bool,
    committed: bool,
}

impl StagedDir {
    /// Start building `target`. Refuses an existing non-empty `target` unless `replace`
    /// (the old one is then swapped out only at `commit`).
    pub fn new(target: &Path, replace: bool) -> Result<Self> {
        if target.exists() && !replace && !is_empty_dir(target) {
            bail!(
                "{} already exists and is not empty (pass --force to replace it)",
                target.display()
            );
        }
        let parent =
            target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let name =
            target.file_name().with_context(|| format!("bad output path {}", target.display()))?;
        let staging =
            parent.join(format!(".{}.partial-{}", name.to_string_lossy(), std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).ok();
        }
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("cannot create {}", staging.display()))?;
        Ok(Self { staging, target: target.to_path_buf(), replace, committed: false })
    }

    /// Where to write while building.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The final location.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Move the finished directory into place (replacing the old one when allowed).
    pub fn commit(mut self) -> Result<PathBuf> {
        if self.target.exists() {
            if !self.replace && !is_empty_dir(&self.target) {
                bail!("{} appeared while building; not replacing it", self.target.display());
            }
            let old = self.staging.with_extension("old");
            std::fs::rename(&self.target, &old)
                .with_context(|| format!("cannot move old {} aside", self.target.display()))?;
            std::fs::remove_dir_all(&old)
                .with_context(|| format!("cannot remove {}", old.display()))?;
        }
        std::fs::rename(&self.staging, &self.target).with_context(|| {
            format!("cannot rename {} to {}", self.staging.display(), self.target.display())
        })?;
        self.committed = true;
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).map(|mut d| d.next().is_none()).unwrap_or(false)
}

/// `path` relative to `base` (both taken as given, made absolute against the current folder),
/// with `..` steps where needed. Used to write lists whose paths stay valid when a dataset
/// tree is moved as a whole.
pub fn relative_path(path: &Path, base: &Path) -> PathBuf {
    let abs = |p: &Path| -> Vec<std::ffi::OsString> {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        let mut out: Vec<std::ffi::OsString> = Vec::new();
        for c in p.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    out.pop();
                }
                c => out.push(c.as_os_str().to_os_string()),
            }
        }
        out
    };
    let (p, b) = (abs(path), abs(base));
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &p[common..] {
        rel.push(c);
    }
    rel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/b/c.jpg"), Path::new("/a/lists")),
            Path::new("../b/c.jpg")
        );
        assert_eq!(relative_path(Path::new("/a/b/c.jpg"), Path::new("/a/b")), Path::new("c.jpg"));
        assert_eq!(relative_path(Path::new("/x/./y/../z"), Path::new("/x")), Path::new("z"));
    }
}
