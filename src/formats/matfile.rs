//! MATLAB Level 5 MAT-files: the 300W detector boxes (`Bounding_Boxes/*.mat`) and
//! AFLW's `AFLWinfo_release.mat` are in this format. Reads numeric, logical, char, cell and
//! struct arrays, compressed (`miCOMPRESSED`, zlib) or not, in either byte order; writes
//! uncompressed little-endian files (synthetic `Bounding_Boxes`). v7.3 files are HDF5 and are
//! refused with that explanation. Layout per MathWorks' "MAT-File Format" (R2015b), chapter 1.
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// A MATLAB value. Arrays are column-major, as MATLAB stores them.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Any numeric or logical class, converted to f64.
    Numeric {
        dims: Vec<usize>,
        data: Vec<f64>,
    },
    Char {
        dims: Vec<usize>,
        text: String,
    },
    Cell {
        dims: Vec<usize>,
        items: Vec<Value>,
    },
    /// `items[k]` holds the fields of element k.
    Struct {
        dims: Vec<usize>,
        fields: Vec<String>,
        items: Vec<BTreeMap<String, Value>>,
    },
    /// Classes tsal does not read (sparse, objects, function handles).
    Other {
        class: u8,
    },
}

impl Value {
    pub fn as_numeric(&self) -> Option<(&[usize], &[f64])> {
        match self {
            Value::Numeric { dims, data } => Some((dims, data)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Char { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Element `(r, c)` of a 2-D numeric array.
    pub fn at(&self, r: usize, c: usize) -> Option<f64> {
        let (dims, data) = self.as_numeric()?;
        let rows = *dims.first()?;
        (r < rows).then(|| data.get(c * rows + r).copied()).flatten()
    }
}

// Data types (page 1-10 of the format description).
const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MI_UTF8: u32 = 16;
const MI_UTF16: u32 = 17;
const MI_UTF32: u32 = 18;

// Array classes.
const MX_CELL: u8 = 1;
const MX_STRUCT: u8 = 2;
const MX_CHAR: u8 = 4;

/// Read the named variables of `path`.
pub fn read(path: &Path) -> Result<BTreeMap<String, Value>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    parse(&bytes).with_context(|| format!("{}: not a readable MAT-file", path.display()))
}

/// Parse the bytes of a MAT-file.
pub fn parse(bytes: &[u8]) -> Result<BTreeMap<String, Value>> {
    ensure!(bytes.len() >= 128, "shorter than the 128-byte header");
    if bytes.starts_with(b"\x89HDF") || bytes[..116].windows(11).any(|w| w == b"MATLAB 7.3 ") {
        bail!("a v7.3 (HDF5) MAT-file; save it with `save -v7` in MATLAB or Octave");
    }
    let big = match &bytes[126..128] {
        b"IM" => false,
        b"MI" => true,
        _ => bail!("no Level 5 MAT-file header (v4 files are not supported)"),
    };
    let mut r = Reader { b: &bytes[128..], pos: 0, big };
    let mut vars = BTreeMap::new();
    while r.pos + 8 <= r.b.len() {
        let (ty, data) = r.element()?;
        let (name, value) = match ty {
            MI_COMPRESSED => {
                let mut raw = Vec::new();
                flate2::read::ZlibDecoder::new(data)
                    .read_to_end(&mut raw)
                    .context("a compressed variable does not inflate")?;
                let mut inner = Reader { b: &raw, pos: 0, big };
                let (ty, data) = inner.element()?;
                ensure!(ty == MI_MATRIX, "compressed element of type {ty}, expected a matrix");
                Reader { b: data, pos: 0, big }.matrix()?
            }
            MI_MATRIX => Reader { b: data, pos: 0, big }.matrix()?,
            _ => continue,
        };
        vars.insert(name, value);
    }
    Ok(vars)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    big: bool,
}

impl<'a> Reader<'a> {
    fn u32_at(&self, at: usize) -> Result<u32> {
        let s: [u8; 4] = self.b.get(at..at + 4).context("truncated")?.try_into()?;
        Ok(if self.big { u32::from_be_bytes(s) } else { u32::from_le_bytes(s) })
    }

    /// The next data element: its type and its data, the position moved past its padding.
    fn element(&mut self) -> Result<(u32, &'a [u8])> {
        let first = self.u32_at(self.pos)?;
        // Small data element: size in the upper half of the first word, data in the second.
        if first >> 16 != 0 {
            let (ty, n) = (first & 0xFFFF, (first >> 16) as usize);
            ensure!(n <= 4, "small element of {n} bytes");
            let data = &self.b[self.pos + 4..self.pos + 4 + n];
            self.pos += 8;
            return Ok((ty, data));
        }
        let n = self.u32_at(self.pos + 4)? as usize;
        let start = self.pos + 8;
        let data = self.b.get(start..start + n).context("truncated element")?;
        // Compressed elements are not padded; all others end on an 8-byte boundary.
        self.pos = if first == MI_COMPRESSED { start + n } else { start + n.div_ceil(8) * 8 };
        Ok((first, data))
    }

    /// Numbers of an element of any numeric type.
    fn numbers(&self, ty: u32, d: &[u8]) -> Result<Vec<f64>> {
        let big = self.big;
        macro_rules! conv {
            ($t:ty, $n:expr) => {
                d.chunks_exact($n)
                    .map(|c| {
                        let a: [u8; $n] = c.try_into().expect("chunk size");
                        (if big { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }) as f64
                    })
                    .collect()
            };
        }
        Ok(match ty {
            MI_INT8 => d.iter().map(|&v| v as i8 as f64).collect(),
            MI_UINT8 | MI_UTF8 => d.iter().map(|&v| v as f64).collect(),
            MI_INT16 => conv!(i16, 2),
            MI_UINT16 | MI_UTF16 => conv!(u16, 2),
            MI_INT32 => conv!(i32, 4),
            MI_UINT32 | MI_UTF32 => conv!(u32, 4),
            MI_SINGLE => conv!(f32, 4),
            MI_DOUBLE => conv!(f64, 8),
            MI_INT64 => conv!(i64, 8),
            MI_UINT64 => conv!(u64, 8),
            _ => bail!("numeric data of type {ty}"),
        })
    }

    /// A `miMATRIX` body: `(name, value)`.
    fn matrix(&mut self) -> Result<(String, Value)> {
        if self.b.is_empty() {
            return Ok((String::new(), Value::Numeric { dims: vec![0, 0], data: Vec::new() }));
        }
        let (_, flags) = self.element()?;
        let flags0 = Reader { b: flags, pos: 0, big: self.big }.u32_at(0)?;
        let class = (flags0 & 0xFF) as u8;
        let complex = flags0 & 0x0800 != 0;
        let (ty, d) = self.element()?;
        let dims: Vec<usize> = self.numbers(ty, d)?.into_iter().map(|v| v as usize).collect();
        let (_, name) = self.element()?;
        let name = String::from_utf8_lossy(name).to_string();
        let count: usize = dims.iter().product();
        let value = match class {
            MX_CELL => {
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    let (ty, d) = self.element()?;
                    ensure!(ty == MI_MATRIX, "cell element of type {ty}");
                    items.push(Reader { b: d, pos: 0, big: self.big }.matrix()?.1);
                }
                Value::Cell { dims, items }
            }
            MX_STRUCT => {
                let (ty, d) = self.element()?;
                let len = *self.numbers(ty, d)?.first().context("no field name length")? as usize;
                ensure!(len > 0, "field name length 0");
                let (_, names) = self.element()?;
                let fields: Vec<String> = names
                    .chunks(len)
                    .map(|c| {
                        let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
                        String::from_utf8_lossy(&c[..end]).to_string()
                    })
                    .collect();
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    let mut m = BTreeMap::new();
                    for f in &fields {
                        let (ty, d) = self.element()?;
                        ensure!(ty == MI_MATRIX, "struct field of type {ty}");
                        m.insert(f.clone(), Reader { b: d, pos: 0, big: self.big }.matrix()?.1);
                    }
                    items.push(m);
                }
                Value::Struct { dims, fields, items }
            }
            MX_CHAR => {
                let (ty, d) =
                    if self.pos < self.b.len() { self.element()? } else { (MI_UINT16, &[][..]) };
                let codes = self.numbers(ty, d)?;
                let text: String = if ty == MI_UTF8 {
                    String::from_utf8_lossy(d).to_string()
                } else {
                    // Column-major characters: for a 1×n row this is the string in order.
                    let rows = dims.first().copied().unwrap_or(1).max(1);
                    let cols = codes.len() / rows;
                    (0..rows)
                        .flat_map(|r| (0..cols).map(move |c| c * rows + r))
                        .filter_map(|k| char::from_u32(codes[k] as u32))
                        .collect()
                };
                Value::Char { dims, text }
            }
            6..=15 => {
                let (ty, d) = self.element()?;
                let data = self.numbers(ty, d)?;
                if complex {
                    self.element()?; // the imaginary part is dropped
                }
                ensure!(data.len() == count, "{} numbers for dims {dims:?}", data.len());
                Value::Numeric { dims, data }
            }
            c => Value::Other { class: c },
        };
        Ok((name, value))
    }
}

/// Write `vars` as an uncompressed little-endian Level 5 MAT-file. Supports what the synthetic
/// data needs: double arrays, char rows, cells and structs.
pub fn write(path: &Path, vars: &[(&str, Value)]) -> Result<()> {
    let mut out = Vec::with_capacity(4096);
    let mut header =
        format!("MATLAB 5.0 MAT-file, written by tsal {}", env!("CARGO_PKG_VERSION")).into_bytes();
    header.resize(116, b' ');
    out.extend(header);
    out.extend([0u8; 8]); // no subsystem data
    out.extend(0x0100u16.to_le_bytes());
    out.extend(b"IM");
    for (name, v) in vars {
        let body = matrix_body(name, v)?;
        element(&mut out, MI_MATRIX, &body);
    }
    crate::fsutil::write_atomic(path, &out)
}

fn element(out: &mut Vec<u8>, ty: u32, data: &[u8]) {
    out.extend(ty.to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(data);
    out.resize(out.len().div_ceil(8) * 8, 0);
}

fn matrix_body(name: &str, v: &Value) -> Result<Vec<u8>> {
    let mut b = Vec::new();
    let (class, dims): (u8, &[usize]) = match v {
        Value::Numeric { dims, .. } => (6, dims),
        Value::Char { dims, .. } => (MX_CHAR, dims),
        Value::Cell { dims, .. } => (MX_CELL, dims),
        Value::Struct { dims, .. } => (MX_STRUCT, dims),
        Value::Other { .. } => bail!("cannot write variable {name}: unsupported class"),
    };
    let flags: Vec<u8> = [class as u32, 0].iter().flat_map(|v| v.to_le_bytes()).collect();
    element(&mut b, MI_UINT32, &flags);
    let d: Vec<u8> = dims.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect();
    element(&mut b, MI_INT32, &d);
    element(&mut b, MI_INT8, name.as_bytes());
    match v {
        Value::Numeric { data, .. } => {
            let d: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            element(&mut b, MI_DOUBLE, &d);
        }
        Value::Char { text, .. } => {
            let d: Vec<u8> = text.encode_utf16().flat_map(|c| c.to_le_bytes()).collect();
            element(&mut b, MI_UINT16, &d);
        }
        Value::Cell { items, .. } => {
            for it in items {
                element(&mut b, MI_MATRIX, &matrix_body("", it)?);
            }
        }
        Value::Struct { fields, items, .. } => {
            let len = fields.iter().map(|f| f.len() + 1).max().unwrap_or(1).max(1);
            element(&mut b, MI_INT32, &(len as i32).to_le_bytes());
            let names: Vec<u8> = fields
                .iter()
                .flat_map(|f| {
                    let mut v = f.as_bytes().to_vec();
                    v.resize(len, 0);
                    v
                })
                .collect();
            element(&mut b, MI_INT8, &names);
            for m in items {
                for f in fields {
                    let fv = m.get(f).with_context(|| format!("struct {name} lacks field {f}"))?;
                    element(&mut b, MI_MATRIX, &matrix_body("", fv)?);
                }
            }
        }
        Value::Other { .. } => unreachable!("refused above"),
    }
    Ok(b)
}
