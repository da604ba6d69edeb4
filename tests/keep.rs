//! The snapshot keep policy (`--keep N`) on hand cases.
use tsal::run::keep::prune;

const ALL: [u64; 4] = [100, 200, 300, 400];

#[test]
fn keeps_the_newest_and_the_best() {
    assert_eq!(prune(&ALL, Some(100), Some(2)), vec![200]);
    assert_eq!(prune(&ALL, Some(200), Some(2)), vec![100]);
    assert_eq!(prune(&ALL, Some(300), Some(1)), vec![100, 200]);
    // Order and duplicates of the input do not matter; the answer is ascending.
    assert_eq!(prune(&[400, 100, 300, 200, 100], Some(100), Some(2)), vec![200]);
}

#[test]
fn without_a_best() {
    assert_eq!(prune(&ALL, None, Some(2)), vec![100, 200]);
    assert_eq!(prune(&ALL, None, Some(3)), vec![100]);
    assert_eq!(prune(&ALL, None, Some(4)), Vec::<u64>::new());
    assert_eq!(prune(&ALL, None, Some(10)), Vec::<u64>::new());
    // A best that is not among the snapshots changes nothing.
    assert_eq!(prune(&ALL, Some(250), Some(2)), vec![100, 200]);
}

#[test]
fn keep_none_keeps_everything() {
    assert_eq!(prune(&ALL, None, None), Vec::<u64>::new());
    assert_eq!(prune(&ALL, Some(100), None), Vec::<u64>::new());
}

#[test]
fn best_is_the_newest() {
    assert_eq!(prune(&ALL, Some(400), Some(1)), vec![100, 200, 300]);
    assert_eq!(prune(&ALL, Some(400), Some(2)), vec![100, 200]);
}

#[test]
fn single_and_no_snapshot() {
    assert_eq!(prune(&[700], None, Some(1)), Vec::<u64>::new());
    assert_eq!(prune(&[700], Some(700), Some(1)), Vec::<u64>::new());
    assert_eq!(prune(&[], Some(700), Some(1)), Vec::<u64>::new());
}

#[test]
fn keep_zero_is_treated_as_one_and_never_deletes_the_newest() {
    assert_eq!(prune(&ALL, None, Some(0)), vec![100, 200, 300]);
    assert_eq!(prune(&ALL, Some(100), Some(0)), vec![200, 300]);
    assert_eq!(prune(&[700], None, Some(0)), Vec::<u64>::new());
}
