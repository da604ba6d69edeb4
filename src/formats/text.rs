//! Text files users bring (lists, annotations): UTF-8, a leading byte-order mark dropped (an
//! editor on Windows adds one, and it would otherwise become part of the first path), and a
//! file that is not UTF-8 named with the line of its first bad byte.
use anyhow::{Context, Result};
use std::path::Path;

/// Read `path` as text; `what` names the file's kind in errors (`list`, `annotation`).
pub fn read(path: &Path, what: &str) -> Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("{}: cannot read {what}", path.display()))?;
    decode(bytes, path)
}

/// `bytes` as text, as [`read`] does.
pub fn decode(mut bytes: Vec<u8>, path: &Path) -> Result<String> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
        anyhow::anyhow!(
            "{}:{line}: not UTF-8 text (byte 0x{:02x}); save the file as UTF-8",
            path.display(),
            e.as_bytes()[at]
        )
    })
}
