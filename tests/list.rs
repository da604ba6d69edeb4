//! SBR list parsing: 6 and 7 columns, `None`, bad lines, path maps, relative paths.
use std::path::{Path, PathBuf};
use tsal::formats::list::{self, PathMap};

fn err_of<T: std::fmt::Debug>(r: anyhow::Result<T>) -> String {
    format!("{:#}", r.expect_err("expected an error"))
}

#[test]
fn six_and_seven_columns_and_none() {
    let text = "/d/a.jpg /d/a.pts 10.5 20 110.25 140\n\n\
                /d/b.jpg None 1 2 3 4\n\
                /d/c.jpg /d/c.pts 0 0 50 60 54.7723\n";
    let e = list::parse(text, Path::new("/lists/l.txt"), &[]).unwrap();
    assert_eq!(e.len(), 3);
    assert_eq!(e[0].image, PathBuf::from("/d/a.jpg"));
    assert_eq!(e[0].annotation.as_deref(), Some(Path::new("/d/a.pts")));
    assert_eq!(e[0].bbox, [10.5, 20.0, 110.25, 140.0]);
    assert_eq!(e[0].face_size, None);
    assert!(!e[1].is_labelled());
    assert_eq!(e[1].origin.line, 3, "blank lines still count for line numbers");
    assert_eq!(e[2].face_size, Some(54.7723));
    assert_eq!(e[2].origin.to_string(), "/lists/l.txt:4");
}

#[test]
fn none_in_any_case_is_unlabelled() {
    let e = list::parse("a.jpg none 1 2 3 4\nb.jpg NONE 1 2 3 4\n", Path::new("l"), &[]).unwrap();
    assert!(e.iter().all(|x| !x.is_labelled()));
}

#[test]
fn bad_line_names_file_and_line() {
    let text = "a.jpg a.pts 1 2 3 4\n".repeat(16) + "a.jpg a.pts 1 2 3\n";
    let e = err_of(list::parse(&text, Path::new("list.txt"), &[]));
    assert_eq!(e, "list.txt:17: expected 6 or 7 fields, found 5");
    let e = err_of(list::parse("a.jpg a.pts 1 2 x 4\n", Path::new("list.txt"), &[]));
    assert!(e.starts_with("list.txt:1:") && e.contains("x2"), "{e}");
    let e = err_of(list::parse("a.jpg a.pts 5 2 3 4\n", Path::new("list.txt"), &[]));
    assert!(e.starts_with("list.txt:1:") && e.contains("empty face box"), "{e}");
    let e = err_of(list::parse("a.jpg a.pts 1 2 3 4 0\n", Path::new("list.txt"), &[]));
    assert!(e.starts_with("list.txt:1:") && e.contains("face_size"), "{e}");
    // The line-by-line parser reports every bad line.
    let all =
        list::parse_lines("a b 1 2 3\nok.jpg None 1 2 3 4\nx y 1 2 3 4 5 6\n", Path::new("l"), &[]);
    let errs: Vec<usize> =
        all.iter().enumerate().filter(|(_, r)| r.is_err()).map(|(i, _)| i + 1).collect();
    assert_eq!(errs, vec![1, 3]);
}

#[test]
fn path_map_rewrites_prefixes() {
    let maps: Vec<PathMap> = vec![
        "/data1/mry/datasets/landmark-datasets=/home/u/datasets".parse().unwrap(),
        "/data1=/mnt".parse().unwrap(),
    ];
    let text = "/data1/mry/datasets/landmark-datasets/300W/ibug/a.jpg \
                /data1/mry/datasets/landmark-datasets/300W/ibug/a.pts 1 2 3 4\n\
                /data1/other/b.jpg None 1 2 3 4\n/keep/c.jpg None 1 2 3 4\n";
    let e = list::parse(text, Path::new("/x/l.lst"), &maps).unwrap();
    assert_eq!(e[0].image, PathBuf::from("/home/u/datasets/300W/ibug/a.jpg"));
    assert_eq!(e[0].annotation.as_deref(), Some(Path::new("/home/u/datasets/300W/ibug/a.pts")));
    assert_eq!(e[1].image, PathBuf::from("/mnt/other/b.jpg"), "first matching map wins, in order");
    assert_eq!(e[2].image, PathBuf::from("/keep/c.jpg"));
    assert!("no-equals".parse::<PathMap>().is_err());
    assert!("=x".parse::<PathMap>().is_err());
}

#[test]
fn relative_paths_resolve_against_the_list_folder() {
    let e = list::parse("../300W/a.jpg ../300W/a.pts 1 2 3 4\n", Path::new("/d/lists/l.GTB"), &[])
        .unwrap();
    assert_eq!(e[0].image, PathBuf::from("/d/lists/../300W/a.jpg"));
}

#[test]
fn format_line_round_trips() {
    let line = list::format_line(
        Path::new("a.jpg"),
        Some(Path::new("a.pts")),
        [1.0, 2.5, 3.25, 4.125],
        None,
        4,
    )
    .unwrap();
    assert_eq!(line, "a.jpg a.pts 1.0000 2.5000 3.2500 4.1250");
    let line =
        list::format_line(Path::new("b.png"), None, [1.0, 2.0, 3.0, 4.0], Some(2.0), 2).unwrap();
    assert_eq!(line, "b.png None 1.00 2.00 3.00 4.00 2.00");
    let e = list::parse(&line, Path::new("l"), &[]).unwrap();
    assert_eq!((e[0].bbox, e[0].face_size), ([1.0, 2.0, 3.0, 4.0], Some(2.0)));
}

#[test]
fn a_byte_order_mark_is_dropped_and_bad_bytes_name_their_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bom.lst");
    std::fs::write(&p, b"\xEF\xBB\xBFa.jpg None 1 2 3 4\nb.jpg None 1 2 3 4\n").unwrap();
    let e = list::read(&p, &[]).unwrap();
    assert_eq!(e[0].image, d.path().join("a.jpg"), "the mark is not part of the first path");
    // Latin-1 bytes on line 2: the error names the line (it named none before).
    std::fs::write(&p, b"a.jpg None 1 2 3 4\nb\xE9.jpg None 1 2 3 4\n").unwrap();
    let e = err_of(list::read(&p, &[]));
    assert_eq!(e, format!("{}:2: not UTF-8 text (byte 0xe9); save the file as UTF-8", p.display()));
}

#[test]
fn paths_with_white_space_are_refused_when_writing_lists() {
    let e = err_of(list::format_line(
        Path::new("../dir with space/a.jpg"),
        None,
        [1.0, 2.0, 3.0, 4.0],
        None,
        2,
    ));
    assert!(e.starts_with("`../dir with space/a.jpg`: a list cannot hold a path with white space"));
    let e = err_of(list::format_line(
        Path::new("a.jpg"),
        Some(Path::new("a\tb.pts")),
        [1.0, 2.0, 3.0, 4.0],
        None,
        2,
    ));
    assert!(e.contains("white space"), "{e}");
}

/// A JPEG cut in half decodes with grey fill in the image crate; the checker and the loader
/// must call it what it is.
#[test]
fn truncated_images_are_problems() {
    use tsal::formats::image_io::{decode, jpeg_complete};
    use tsal::prep::check::{check_list, CheckOptions};
    let d = tempfile::tempdir().unwrap();
    let img =
        image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 9]));
    img.save(d.path().join("whole.jpg")).unwrap();
    img.save(d.path().join("whole.png")).unwrap();
    let jpg = std::fs::read(d.path().join("whole.jpg")).unwrap();
    let png = std::fs::read(d.path().join("whole.png")).unwrap();
    assert_eq!(jpeg_complete(&jpg), Ok(()));
    // Trailing bytes after the end-of-image marker are harmless (cameras pad files).
    let mut padded = jpg.clone();
    padded.extend([0u8; 100]);
    assert_eq!(jpeg_complete(&padded), Ok(()));
    std::fs::write(d.path().join("half.jpg"), &jpg[..jpg.len() / 2]).unwrap();
    std::fs::write(d.path().join("noeoi.jpg"), &jpg[..jpg.len() - 2]).unwrap();
    std::fs::write(d.path().join("half.png"), &png[..png.len() / 2]).unwrap();
    assert!(decode(&d.path().join("whole.jpg")).is_ok());
    for f in ["half.jpg", "noeoi.jpg"] {
        let e = format!("{:#}", decode(&d.path().join(f)).unwrap_err());
        assert!(e.starts_with("truncated JPEG: "), "{f}: {e}");
    }
    assert!(decode(&d.path().join("half.png")).is_err());
    let mut text = String::new();
    for f in ["whole.jpg", "half.jpg", "noeoi.jpg", "whole.png", "half.png"] {
        text += &format!("{f} None 1 1 30 30\n");
    }
    let l = d.path().join("l.lst");
    std::fs::write(&l, text).unwrap();
    let r = check_list(&l, &[], &CheckOptions::default());
    assert_eq!(r.problems.len(), 3, "{:#?}", r.problems);
    assert!(r.problems[0].starts_with(&format!("{}:2: image", l.display())), "{}", r.problems[0]);
    assert!(r.problems[0].contains("truncated JPEG"), "{}", r.problems[0]);
    assert!(r.problems[2].contains(":5: image"), "{}", r.problems[2]);
    // The decoder's complaint is said once (the image crate repeats it in its source chain).
    for p in &r.problems {
        let why = p.split("does not decode: ").nth(1).unwrap();
        assert_eq!(p.matches(&why[..why.len().min(24)]).count(), 1, "{p}");
    }
    let o = std::fs::write(d.path().join("junk.png"), b"\x89PNG\r\n\x1a\ngarbage-garbage-garbage");
    o.unwrap();
    let e = format!("{:#}", decode(&d.path().join("junk.png")).unwrap_err());
    assert_eq!(e.matches("chunk appeared before").count(), 1, "{e}");
}
