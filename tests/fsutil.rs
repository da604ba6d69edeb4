//! Output that appears whole or not at all, and never at the cost of a user's files.
mod common;
use common::dead_pid;
use std::path::Path;
use tsal::fsutil::{
    check_target, exchange, write_atomic, Existing, Kind, Marker, StagedDir, MARKER,
};

/// Names in folder `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A committed output at `target` holding `file` = `text`.
fn write_output(target: &Path, replace: bool, file: &str, text: &str) {
    let s = StagedDir::new(target, replace).unwrap();
    std::fs::write(s.path().join(file), text).unwrap();
    s.commit().unwrap();
}

#[test]
fn staged_dir_vanishes_unless_committed() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("out");
    {
        let s = StagedDir::new(&target, false).unwrap();
        std::fs::write(s.path().join("half.txt"), "x").unwrap();
        // dropped: a failure half-way
    }
    assert!(!target.exists());
    assert_eq!(names(d.path()), Vec::<String>::new(), "no staging folder left");
    write_output(&target, false, "a.txt", "1");
    assert_eq!(std::fs::read_to_string(target.join("a.txt")).unwrap(), "1");
    // An existing, non-empty output is refused without replace, replaced with it.
    assert!(StagedDir::new(&target, false).is_err());
    write_output(&target, true, "b.txt", "2");
    assert!(!target.join("a.txt").exists() && target.join("b.txt").exists());
    assert_eq!(names(d.path()), ["out"]);
}

#[test]
fn committed_output_carries_the_marker() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("out");
    let kind = Kind { name: "tsal test", legacy: None };
    let s = StagedDir::with_kind(&target, false, kind).unwrap();
    assert!(s.path().join(MARKER).is_file(), "the marker is written at the start");
    s.commit().unwrap();
    let m = Marker::read(&target).unwrap();
    assert_eq!(m.written_by, "tsal test");
    assert_eq!(m.pid, std::process::id());
    assert_eq!(m.tsal, env!("CARGO_PKG_VERSION"));
    assert!(m.created.ends_with('Z') && m.created.len() == 20, "{}", m.created);
}

#[test]
fn a_file_at_the_target_is_refused_and_left_alone() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("out");
    std::fs::write(&target, "precious").unwrap();
    for replace in [false, true] {
        let err = format!("{:#}", StagedDir::new(&target, replace).err().unwrap());
        assert!(err.contains("not a folder") && err.contains(&*target.to_string_lossy()), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        assert_eq!(names(d.path()), ["out"], "nothing staged, nothing moved aside");
    }
}

#[cfg(unix)]
#[test]
fn a_link_at_the_target_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let real = d.path().join("real");
    write_output(&real, false, "a.txt", "1");
    let link = d.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let err = format!("{:#}", StagedDir::new(&link, true).err().unwrap());
    assert!(err.contains("symbolic link"), "{err}");
    assert!(real.join("a.txt").is_file() && link.join("a.txt").is_file());
}

#[test]
fn a_foreign_folder_is_refused_even_with_replace() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("data");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("mine.txt"), "user data").unwrap();
    for replace in [false, true] {
        let err = format!("{:#}", StagedDir::new(&target, replace).err().unwrap());
        assert!(err.contains(MARKER) && err.contains(&*target.to_string_lossy()), "{err}");
        assert_eq!(err.contains("--force does not replace"), replace, "{err}");
    }
    assert_eq!(std::fs::read_to_string(target.join("mine.txt")).unwrap(), "user data");
    assert_eq!(names(d.path()), ["data"]);
}

#[test]
fn a_marked_folder_is_replaced_by_exchange() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("out");
    write_output(&target, false, "old.txt", "old");
    assert!(matches!(check_target(&target, true, &Kind::OUTPUT).unwrap(), Existing::Ours(_)));
    let s = StagedDir::new(&target, true).unwrap();
    std::fs::write(s.path().join("new.txt"), "new").unwrap();
    // Until the commit, the old output is untouched.
    assert_eq!(std::fs::read_to_string(target.join("old.txt")).unwrap(), "old");
    assert_eq!(s.commit().unwrap(), target);
    assert_eq!(std::fs::read_to_string(target.join("new.txt")).unwrap(), "new");
    assert!(!target.join("old.txt").exists());
    assert_eq!(names(d.path()), ["out"], "no partial or aside folder left");
    assert_eq!(names(&target), [MARKER, "new.txt"]);
}

/// The atomic swap `commit` uses on Linux (ext4, tmpfs, btrfs, xfs support it).
#[cfg(target_os = "linux")]
#[test]
fn exchange_swaps_two_folders() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    std::fs::write(a.join("from_a"), "").unwrap();
    std::fs::write(b.join("from_b"), "").unwrap();
    exchange(&a, &b).unwrap();
    assert_eq!(names(&a), ["from_b"]);
    assert_eq!(names(&b), ["from_a"]);
    assert!(exchange(&a, &d.path().join("missing")).is_err());
}

#[test]
fn an_empty_folder_is_accepted_with_or_without_replace() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("out");
    for replace in [false, true] {
        std::fs::create_dir(&target).unwrap();
        assert_eq!(check_target(&target, replace, &Kind::OUTPUT).unwrap(), Existing::EmptyDir);
        write_output(&target, replace, "a.txt", "1");
        assert!(target.join("a.txt").is_file());
        assert_eq!(names(d.path()), ["out"]);
        std::fs::remove_dir_all(&target).unwrap();
    }
}

#[test]
fn an_unmarked_output_of_an_earlier_tsal_is_recognised_by_the_kind() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("snap");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("meta.json"), "{}").unwrap();
    let kind = Kind { name: "tsal snapshot", legacy: Some(|p| p.join("meta.json").is_file()) };
    assert!(StagedDir::new(&target, true).is_err(), "without a recogniser: foreign");
    let s = StagedDir::with_kind(&target, true, kind).unwrap();
    s.commit().unwrap();
    assert_eq!(names(&target), [MARKER]);
}

#[test]
fn leftovers_of_a_dead_process_are_cleaned_and_a_live_ones_kept() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("out");
    let dead = dead_pid();
    let stale = d.path().join(format!(".out.partial-{dead}-0"));
    let stale_old_style = d.path().join(format!(".out.partial-{dead}"));
    let live = d.path().join(format!(".out.partial-{}-999", std::process::id()));
    let other_target = d.path().join(format!(".other.partial-{dead}-0"));
    for p in [&stale, &stale_old_style, &live, &other_target] {
        std::fs::create_dir(p).unwrap();
        std::fs::write(p.join("f"), "x").unwrap();
    }
    // A partial whose marker names another host may belong to a live process there.
    let remote = d.path().join(format!(".out.partial-{dead}-1"));
    std::fs::create_dir(&remote).unwrap();
    let m = Marker { host: "some-other-host".into(), pid: dead, ..Marker::default() };
    std::fs::write(remote.join(MARKER), serde_json::to_string(&m).unwrap()).unwrap();

    let s = StagedDir::new(&target, false).unwrap();
    assert!(!stale.exists() && !stale_old_style.exists(), "the dead process's partials go");
    assert!(live.join("f").exists(), "a live process's partial stays");
    assert!(remote.exists(), "another host's partial stays");
    assert!(other_target.exists(), "another target's partial stays");
    s.commit().unwrap();
    std::fs::remove_dir_all(&live).unwrap();
    std::fs::remove_dir_all(&remote).unwrap();
    std::fs::remove_dir_all(&other_target).unwrap();
    assert_eq!(names(d.path()), ["out"]);
}

#[test]
fn an_old_output_moved_aside_by_a_dead_process_is_put_back() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("out");
    let dead = dead_pid();
    // Killed between moving the old output aside and renaming the new one in.
    let aside = d.path().join(format!(".out.old-{dead}-0"));
    let partial = d.path().join(format!(".out.partial-{dead}-1"));
    write_output(&target, false, "old.txt", "old");
    std::fs::rename(&target, &aside).unwrap();
    std::fs::create_dir(&partial).unwrap();
    let s = StagedDir::new(&target, true).unwrap();
    assert_eq!(std::fs::read_to_string(target.join("old.txt")).unwrap(), "old");
    assert!(!aside.exists() && !partial.exists());
    drop(s);
    assert_eq!(names(d.path()), ["out"]);
    // With the target in place, a dead process's aside folder is removed.
    std::fs::create_dir(&aside).unwrap();
    StagedDir::new(&d.path().join("out"), true).unwrap();
    assert!(!aside.exists() && target.join("old.txt").exists());
}

#[test]
fn atomic_write_leaves_no_temporary() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("sub/f.txt");
    write_atomic(&p, b"hello").unwrap();
    write_atomic(&p, b"again").unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "again");
    assert_eq!(names(&d.path().join("sub")), ["f.txt"]);
}
