//! Faces in the image formats public landmark sets ship (PNG and JPEG as 300W does, PPM, PGM,
//! BMP, TIFF, WebP): `tsal lists check` accepts each, and the training loader reads the same
//! pixels as from the PNG (the grey PGM: the PNG's luma).
mod common;
use common::{s, stderr, stdout, synth, tsal};
use tsal::data::cache::Frame;
use tsal::formats::list;

#[test]
fn a_face_in_each_format_passes_lists_check_and_loads_with_its_pixels() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    synth(&data, &["--images", "3", "--videos", "1", "--frames", "2", "--no-avi", "--seed", "3"]);
    let gtb = data.join("lists/300W/300w.train.GTB");
    let first = std::fs::read_to_string(&gtb).unwrap().lines().next().unwrap().to_string();
    let entry = list::parse_lines(&first, &gtb, &[]).remove(0).unwrap().unwrap();
    let png = image::open(&entry.image).unwrap().to_rgb8();
    let luma = image::DynamicImage::ImageRgb8(png.clone()).to_luma8();
    // One copy of the face per format, each listed with the face's own annotation and box.
    let fields: Vec<&str> = first.split_whitespace().collect();
    let mut lines = String::new();
    let formats = ["ppm", "pgm", "bmp", "tiff", "webp"];
    for ext in formats {
        let file = d.path().join(format!("face.{ext}"));
        if ext == "pgm" {
            luma.save(&file).unwrap();
        } else {
            png.save(&file).unwrap();
        }
        let annotation = s(&entry.annotation.clone().unwrap()).to_string();
        lines += &format!("{} {annotation} {}\n", s(&file), fields[2..].join(" "));
    }
    let lst = d.path().join("formats.lst");
    std::fs::write(&lst, &lines).unwrap();

    let o = tsal(&["lists", "check", "--json", s(&lst)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rep = if report.is_array() { report[0].clone() } else { report.clone() };
    assert_eq!(rep["labelled"], formats.len(), "{report}");
    assert_eq!(rep["images"], formats.len(), "{report}");
    assert_eq!(rep["problems"].as_array().map(Vec::len), Some(0), "{report}");

    for (line, ext) in list::parse_lines(&lines, &lst, &[]).into_iter().zip(formats) {
        let e = line.unwrap().unwrap();
        let f = Frame::load(&e, 68, None).unwrap_or_else(|err| panic!("{ext}: {err:#}"));
        assert_eq!(f.points.as_ref().map(|p| p.len()), Some(68), "{ext}");
        let got = &f.region.pixels;
        assert_eq!(got.dimensions(), png.dimensions(), "{ext}");
        if ext == "pgm" {
            let grey = got.pixels().zip(luma.pixels()).all(|(a, b)| a.0 == [b.0[0]; 3]);
            assert!(grey, "pgm: the loader's pixels are not the PNG's luma");
        } else {
            let same = got.pixels().zip(png.pixels()).filter(|(a, b)| a != b).count();
            assert_eq!(same, 0, "{ext}: {same} pixels differ from the PNG");
        }
    }
}
