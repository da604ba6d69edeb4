//! MAT-files: fixtures written by SciPy (tests/fixtures/mat/make.py) read back with their
//! values, and tsal's writer read back by tsal's reader.
use std::collections::BTreeMap;
use std::path::Path;
use tsal::formats::matfile::{self, Value};

#[test]
fn reads_scipy_compressed_cells_of_structs() {
    let vars = matfile::read(Path::new("tests/fixtures/mat/bounding_boxes.mat")).unwrap();
    let Value::Cell { dims, items } = &vars["bounding_boxes"] else { panic!("{vars:?}") };
    assert_eq!((dims.as_slice(), items.len()), (&[1usize, 2][..], 2));
    let Value::Struct { items: s, fields, .. } = &items[1] else { panic!("{:?}", items[1]) };
    assert!(fields.contains(&"bb_detector".to_string()));
    assert_eq!(s[0]["imgName"].as_str(), Some("image_002_1.jpg"));
    let det = &s[0]["bb_detector"];
    assert_eq!((0..4).map(|c| det.at(0, c).unwrap()).collect::<Vec<_>>(), [-3.0, 4.5, 50.0, 60.75]);
}

#[test]
fn reads_scipy_numeric_classes_and_char_cells_column_major() {
    let vars = matfile::read(Path::new("tests/fixtures/mat/aflw_like.mat")).unwrap();
    let data = &vars["data"];
    assert_eq!(data.as_numeric().unwrap().0, &[3, 38]);
    // data = arange(3·38).reshape(3, 38) / 4 (row-major in numpy): (r, c) = (38r + c) / 4.
    for (r, c) in [(0, 0), (1, 5), (2, 37)] {
        assert_eq!(data.at(r, c), Some((38 * r + c) as f64 / 4.0));
    }
    assert_eq!(vars["mask_new"].at(1, 5), Some(0.0));
    assert_eq!(vars["mask_new"].at(1, 6), Some(1.0));
    assert_eq!(vars["bbox"].at(2, 3), Some(66.0));
    let ra: Vec<f64> = vars["ra"].as_numeric().unwrap().1.to_vec();
    assert_eq!(ra, [3.0, 1.0, 2.0]);
    let Value::Cell { items, .. } = &vars["nameList"] else { panic!() };
    let names: Vec<&str> = items.iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(names, ["0/image00002.jpg", "2/image04000.jpg", "3/image10000.jpg"]);
    assert_eq!(vars["empty"].as_numeric().unwrap().1.len(), 0);
}

#[test]
fn writes_what_it_reads_and_refuses_what_it_cannot() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("w.mat");
    let row = |v: &[f64]| Value::Numeric { dims: vec![1, v.len()], data: v.to_vec() };
    let text = |s: &str| Value::Char { dims: vec![1, s.len()], text: s.to_string() };
    let item = |name: &str, det: &[f64]| {
        let mut m = BTreeMap::new();
        m.insert("imgName".to_string(), text(name));
        m.insert("bb_detector".to_string(), row(det));
        Value::Struct {
            dims: vec![1, 1],
            fields: vec!["imgName".into(), "bb_detector".into()],
            items: vec![m],
        }
    };
    let cell = Value::Cell {
        dims: vec![1, 2],
        items: vec![item("a.jpg", &[1.0, 2.0, 3.0, 4.0]), item("bb.png", &[5.5, 6.0, 7.0, 8.25])],
    };
    let m = Value::Numeric { dims: vec![2, 3], data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] };
    matfile::write(&path, &[("bounding_boxes", cell.clone()), ("m", m.clone())]).unwrap();
    let back = matfile::read(&path).unwrap();
    assert_eq!(back["bounding_boxes"], cell);
    assert_eq!(back["m"], m);
    assert_eq!(back["m"].at(1, 2), Some(6.0), "column-major");
    // Not a MAT-file; an HDF5 (v7.3) file.
    std::fs::write(d.path().join("x.mat"), vec![b'x'; 200]).unwrap();
    let e = format!("{:#}", matfile::read(&d.path().join("x.mat")).unwrap_err());
    assert!(e.contains("x.mat") && e.contains("Level 5"), "{e}");
    let mut h5 = b"\x89HDF\r\n\x1a\n".to_vec();
    h5.resize(512, 0);
    std::fs::write(d.path().join("h.mat"), h5).unwrap();
    let e = format!("{:#}", matfile::read(&d.path().join("h.mat")).unwrap_err());
    assert!(e.contains("v7.3"), "{e}");
}
