//! Image decoding shared by the list checker and the loader: the format is taken from the
//! file's content, not its extension. A JPEG cut short (a copy that stopped half-way) is an
//! error: the decoder would otherwise fill the missing part with grey and say nothing.
use anyhow::{bail, Result};
use image::{DynamicImage, ImageReader};
use std::path::Path;

/// Decode the image at `path` (callers name the list line in their context).
pub fn decode(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path)?;
    if bytes.starts_with(&[0xFF, 0xD8]) {
        if let Err(why) = jpeg_complete(&bytes) {
            bail!("truncated JPEG: {why}");
        }
    }
    // The image crate's errors repeat their source in their own message: keep the message
    // only, or `{:#}` would print the decoder's complaint twice.
    let flat = |e: image::ImageError| anyhow::anyhow!("{e}");
    ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format()?.decode().map_err(flat)
}

/// Whether a JPEG's segments run to its end-of-image marker: every marker segment is whole,
/// and the entropy-coded data after each start-of-scan is followed by another marker. In
/// entropy-coded data a 0xFF byte is always followed by 0x00 (stuffing) or a restart marker
/// (0xD0–0xD7), so the first other `FF xx` is the next marker.
pub fn jpeg_complete(b: &[u8]) -> Result<(), String> {
    let n = b.len();
    let mut i = 2; // after SOI
    while i < n {
        if b[i] != 0xFF {
            i += 1; // stray byte between segments: decoders skip it, so do we
            continue;
        }
        // Fill bytes (extra 0xFF) may precede a marker.
        let mut m = i + 1;
        while m < n && b[m] == 0xFF {
            m += 1;
        }
        if m >= n {
            break;
        }
        let marker = b[m];
        match marker {
            0xD9 => return Ok(()),
            0x01 | 0xD0..=0xD7 | 0x00 => i = m + 1,
            _ => {
                if m + 2 >= n {
                    return Err(format!("the file ends inside marker 0xFF{marker:02X}"));
                }
                let len = u16::from_be_bytes([b[m + 1], b[m + 2]]) as usize;
                let end = m + 1 + len;
                if len < 2 || end > n {
                    return Err(format!(
                        "segment 0xFF{marker:02X} at byte {i} needs {len} bytes, the file ends \
                         after {}",
                        n - m - 1
                    ));
                }
                i = end;
                if marker == 0xDA {
                    // Skip the scan's entropy-coded data.
                    while i + 1 < n
                        && !(b[i] == 0xFF && b[i + 1] != 0x00 && !(0xD0..=0xD7).contains(&b[i + 1]))
                    {
                        i += 1;
                    }
                    if i + 1 >= n {
                        return Err(format!(
                            "the file ends inside the image data ({n} bytes, no end-of-image \
                             marker)"
                        ));
                    }
                }
            }
        }
    }
    Err(format!("no end-of-image marker in {n} bytes"))
}
