//! Output that appears whole or not at all.
use tsal::fsutil::{write_atomic, StagedDir};

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
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "no staging folder left");
    let s = StagedDir::new(&target, false).unwrap();
    std::fs::write(s.path().join("a.txt"), "1").unwrap();
    s.commit().unwrap();
    assert_eq!(std::fs::read_to_string(target.join("a.txt")).unwrap(), "1");
    // An existing, non-empty output is refused without replace, replaced with it.
    assert!(StagedDir::new(&target, false).is_err());
    let s = StagedDir::new(&target, true).unwrap();
    std::fs::write(s.path().join("b.txt"), "2").unwrap();
    s.commit().unwrap();
    assert!(!target.join("a.txt").exists() && target.join("b.txt").exists());
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
}

#[test]
fn atomic_write_leaves_no_temporary() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("sub/f.txt");
    write_atomic(&p, b"hello").unwrap();
    write_atomic(&p, b"again").unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "again");
    assert_eq!(std::fs::read_dir(d.path().join("sub")).unwrap().count(), 1);
}
