//! Image decoding shared by the list checker and the loader: the format is taken from the
//! file's content, not its extension.
use image::{DynamicImage, ImageError, ImageReader};
use std::path::Path;

pub fn decode(path: &Path) -> Result<DynamicImage, ImageError> {
    ImageReader::open(path)?.with_guessed_format()?.decode()
}
