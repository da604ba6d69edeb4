//! Reading the state dicts that PyTorch's `torch.save` writes, without Python.
//!
//! Two layouts exist, both built around a pickle whose *persistent ids* stand for tensor
//! storages whose raw bytes lie elsewhere in the file:
//!
//! * **Zip** (torch ≥ 1.6, the default): a zip archive whose entries are stored uncompressed
//!   under one folder (`archive/`, or the file's stem): `data.pkl` (the pickle), `data/<key>`
//!   (one raw storage per key), `byteorder` (`little` or `big`; absent means little), plus
//!   `version` and friends. A persistent id is `('storage', storage_type, key, location, numel)`,
//!   `numel` counted in elements of `storage_type` (`torch.FloatStorage`, …, or
//!   `torch.UntypedStorage`, whose elements are bytes).
//! * **Legacy** (torch < 1.6, or `_use_new_zipfile_serialization=False`; torchvision's
//!   `vgg16-397923af.pth`, ARFlow's `.tar` checkpoints): five things in a row, the first four
//!   pickles: the magic number `0x1950a86a20f9469cfc6c`, the protocol version `1001`, a
//!   `sys_info` dict, the object itself with persistent ids
//!   `('storage', storage_type, key, location, numel, view_metadata)`, and the sorted list of
//!   storage keys; then, for each key in that order, its element count (8 bytes, little
//!   endian) and its raw bytes (always little endian). `view_metadata` is `None`, or
//!   `(view_key, offset, numel)` for a storage that is a slice of the keyed one.
//!
//! The tar layout of the earliest PyTorch releases is recognised and refused.
//!
//! Inside the pickle, a tensor is `torch._utils._rebuild_tensor_v2(storage, storage_offset,
//! size, stride, requires_grad, backward_hooks[, metadata])` (`_rebuild_tensor` before torch
//! 0.4, `_rebuild_tensor_v3` with an explicit dtype for untyped storages), possibly wrapped in
//! `_rebuild_parameter`; a state dict is a `collections.OrderedDict`, whose `_metadata`
//! attribute arrives through `BUILD` and is ignored. The unpickler here implements the opcodes
//! of protocols 2–5 that such files use; classes and functions it does not know become opaque
//! values, and only a tensor that cannot be built is an error. Storage offsets, sizes and
//! strides count elements of the tensor's dtype; each tensor is copied out of its storage
//! bytes (checked against the storage's length) and made contiguous.
use anyhow::{anyhow, bail, Context, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;
use tch::{Kind, Tensor};

/// The layouts of `torch.save` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A zip archive (torch ≥ 1.6).
    Zip,
    /// A sequence of pickles followed by the raw storages (torch < 1.6).
    Legacy,
    /// The tar layout of the earliest PyTorch releases (not readable here).
    Tar,
}

impl Format {
    /// What a file of this format is, for messages ("a PyTorch zip checkpoint").
    pub fn describe(self) -> &'static str {
        match self {
            Format::Zip => "a PyTorch zip checkpoint",
            Format::Legacy => "a legacy PyTorch pickle",
            Format::Tar => "a tar archive",
        }
    }
}

/// The format a file's first bytes (at least 262 for tar) announce, if any. A legacy pickle is
/// only recognised by its `PROTO` opcode here; [`read`] checks the magic number.
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(Format::Zip)
    } else if head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        Some(Format::Legacy)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(Format::Tar)
    } else {
        None
    }
}

/// [`sniff`] on the first bytes of the file at `path`.
pub fn sniff_file(path: &Path) -> Result<Option<Format>> {
    let mut head = Vec::with_capacity(512);
    File::open(path)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(sniff(&head))
}

/// The tensors of a `torch.save` file holding a state dict.
#[derive(Debug)]
pub struct StateDict {
    pub format: Format,
    /// `None` when the file's top-level object is the state dict; for a nested checkpoint such
    /// as `{'epoch': 3, 'state_dict': {...}}`, the entry it came from (`state_dict`, `model` or
    /// `model_state_dict`).
    pub nested_in: Option<String>,
    /// Names and tensors in file order (contiguous, on the CPU).
    pub tensors: Vec<(String, Tensor)>,
    /// Entries of the state dict that are not tensors, left out.
    pub skipped: Vec<String>,
}

/// Entries of a top-level dict that may hold a nested checkpoint's state dict, in this order.
pub const NESTED_KEYS: [&str; 3] = ["state_dict", "model", "model_state_dict"];

/// Read the state dict of a `torch.save` file, in either format. Every error is one line
/// that names the file, says what it is, and what to do.
pub fn read(path: &Path) -> Result<StateDict> {
    let name = path.display();
    let format = sniff_file(path)?.ok_or_else(|| {
        anyhow!(
            "{name}: not a PyTorch file (neither a torch.save zip archive nor a pickle); \
             pass a state dict saved with torch.save, or a .safetensors file"
        )
    })?;
    match format {
        Format::Zip => read_zip(path),
        Format::Legacy => read_legacy(path),
        Format::Tar => bail!(
            "{name}: {} (the layout of the earliest PyTorch releases), which tsal cannot \
             read; re-save it with PyTorch: torch.save(torch.load(OLD, weights_only=False), NEW)",
            Format::Tar.describe()
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Dtypes

/// An element type of storages and tensors, by its storage class and `torch.<dtype>` names.
#[derive(Debug)]
struct DType {
    /// `torch.<storage>Storage`, without `Storage`.
    storage: &'static str,
    /// `torch.<names>` naming the dtype.
    names: &'static [&'static str],
    size: usize,
    /// `None`: known to PyTorch, but not built into tensors here.
    kind: Option<Kind>,
}

const DTYPES: &[DType] = &[
    DType { storage: "Float", names: &["float32", "float"], size: 4, kind: Some(Kind::Float) },
    DType { storage: "Double", names: &["float64", "double"], size: 8, kind: Some(Kind::Double) },
    DType { storage: "Half", names: &["float16", "half"], size: 2, kind: Some(Kind::Half) },
    DType { storage: "BFloat16", names: &["bfloat16"], size: 2, kind: Some(Kind::BFloat16) },
    DType { storage: "Long", names: &["int64", "long"], size: 8, kind: Some(Kind::Int64) },
    DType { storage: "Int", names: &["int32", "int"], size: 4, kind: Some(Kind::Int) },
    DType { storage: "Short", names: &["int16", "short"], size: 2, kind: Some(Kind::Int16) },
    DType { storage: "Char", names: &["int8"], size: 1, kind: Some(Kind::Int8) },
    DType { storage: "Byte", names: &["uint8"], size: 1, kind: Some(Kind::Uint8) },
    DType { storage: "Bool", names: &["bool"], size: 1, kind: Some(Kind::Bool) },
    DType { storage: "Untyped", names: &[], size: 1, kind: Some(Kind::Uint8) },
    DType {
        storage: "ComplexFloat",
        names: &["complex64", "cfloat"],
        size: 8,
        kind: Some(Kind::ComplexFloat),
    },
    DType {
        storage: "ComplexDouble",
        names: &["complex128", "cdouble"],
        size: 16,
        kind: Some(Kind::ComplexDouble),
    },
    DType { storage: "ComplexHalf", names: &["complex32", "chalf"], size: 4, kind: None },
    DType { storage: "QInt8", names: &["qint8"], size: 1, kind: None },
    DType { storage: "QUInt8", names: &["quint8"], size: 1, kind: None },
    DType { storage: "QInt32", names: &["qint32"], size: 4, kind: None },
    DType { storage: "QUInt4x2", names: &["quint4x2"], size: 1, kind: None },
    DType { storage: "QUInt2x4", names: &["quint2x4"], size: 1, kind: None },
    DType { storage: "UInt16", names: &["uint16"], size: 2, kind: None },
    DType { storage: "UInt32", names: &["uint32"], size: 4, kind: None },
    DType { storage: "UInt64", names: &["uint64"], size: 8, kind: None },
    DType { storage: "Float8_e5m2", names: &["float8_e5m2"], size: 1, kind: None },
    DType { storage: "Float8_e4m3fn", names: &["float8_e4m3fn"], size: 1, kind: None },
];

/// The dtype of a storage class such as `torch.FloatStorage` or `torch.cuda.HalfStorage`.
fn storage_dtype(class: &str) -> Option<&'static DType> {
    let short = class.rsplit('.').next()?.strip_suffix("Storage")?;
    DTYPES.iter().find(|d| d.storage == short)
}

/// The dtype of a `torch.<name>` dtype object such as `torch.float32`.
fn named_dtype(global: &str) -> Option<&'static DType> {
    let short = global.strip_prefix("torch.")?;
    DTYPES.iter().find(|d| d.names.contains(&short))
}

// ---------------------------------------------------------------------------------------------
// Values

/// What persistent id a storage came from; tensors refer to it.
#[derive(Debug)]
struct StorageRef {
    /// The key of the root storage (`data/<key>` in a zip file).
    key: String,
    /// The storage class, for messages.
    class: String,
    dtype: Option<&'static DType>,
    /// Elements of `dtype` in the root storage.
    numel: i64,
    /// Where a legacy storage view starts in its root, in bytes.
    view_offset: u64,
}

/// A tensor as the pickle describes it; built by [`build_tensor`] once its bytes are there.
#[derive(Debug)]
struct TensorRef {
    storage: Rc<StorageRef>,
    dtype: Option<&'static DType>,
    /// The tensor's dtype as written, for messages.
    dtype_name: String,
    offset: i64,
    size: Vec<i64>,
    stride: Vec<i64>,
}

/// A value of the pickle machine. Lists and dicts are shared (the memo refers to them too).
#[derive(Debug, Clone)]
enum Value {
    None,
    Bool(bool),
    Int(i128),
    Float,
    Str(Rc<str>),
    Bytes,
    Tuple(Rc<[Value]>),
    List(Rc<RefCell<Vec<Value>>>),
    /// Also `collections.OrderedDict`. Entries in insertion order; a repeated key is one
    /// entry per assignment, the last one counting.
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// A class or function named by `GLOBAL`: `module.name`.
    Global(Rc<str>),
    /// What calling a global tsal does not know gave: only the global's name is kept, in an
    /// `Rc` of its own per object (its identity matters to [`Unpickler::build`]).
    Object(Rc<str>),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
    /// A tensor of a kind tsal does not build (quantized, sparse, nested, …): the
    /// `torch._utils._rebuild_*` function that makes it.
    OtherTensor(Rc<str>),
}

impl Value {
    fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => i64::try_from(*i).ok(),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a tuple or list.
    fn items(&self) -> Option<Vec<Value>> {
        match self {
            Value::Tuple(t) => Some(t.to_vec()),
            Value::List(l) => Some(l.borrow().clone()),
            _ => None,
        }
    }

    fn int_list(&self) -> Option<Vec<i64>> {
        self.items()?.iter().map(Value::as_int).collect()
    }

    /// "a dict", "an object of class foo.Bar", … for messages.
    fn describe(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "a bool".into(),
            Value::Int(_) => "an int".into(),
            Value::Float => "a float".into(),
            Value::Str(_) => "a string".into(),
            Value::Bytes => "a bytes object".into(),
            Value::Tuple(_) => "a tuple".into(),
            Value::List(_) => "a list".into(),
            Value::Dict(_) => "a dict".into(),
            Value::Global(g) => format!("the class or function {g}"),
            Value::Object(c) => format!("an object of class {c}"),
            Value::Storage(_) => "a bare storage".into(),
            Value::Tensor(_) | Value::OtherTensor(_) => "a single tensor".into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Input

/// A byte source that knows its position and how much is left, so that a truncated file is
/// reported as such and a damaged length never allocates more than the file holds.
struct Input<R> {
    r: R,
    pos: u64,
    len: u64,
}

impl<R: BufRead> Input<R> {
    fn truncated(&self) -> anyhow::Error {
        anyhow!("the file ends early, at byte {} (truncated?)", self.len)
    }

    fn bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        if n > self.len.saturating_sub(self.pos) {
            return Err(self.truncated());
        }
        let mut buf = vec![0; n as usize];
        self.r.read_exact(&mut buf).map_err(|_| self.truncated())?;
        self.pos += n;
        Ok(buf)
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        if n > self.len.saturating_sub(self.pos) {
            return Err(self.truncated());
        }
        let skipped = std::io::copy(&mut (&mut self.r).take(n), &mut std::io::sink())?;
        if skipped != n {
            return Err(self.truncated());
        }
        self.pos += n;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut buf = [0; N];
        self.r.read_exact(&mut buf).map_err(|_| self.truncated())?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A text line of the old opcodes, without its `\n`.
    fn line(&mut self) -> Result<String> {
        let mut buf = Vec::new();
        (&mut self.r).take(1 << 16).read_until(b'\n', &mut buf)?;
        self.pos += buf.len() as u64;
        if buf.pop() != Some(b'\n') {
            return Err(self.truncated());
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// The pickle machine

/// Turns a persistent id into the value it stands for.
type PersistentLoad<'a> = dyn FnMut(&Value) -> Result<Value> + 'a;

struct Unpickler<'a, 'b, R> {
    input: &'a mut Input<R>,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    persistent: &'a mut PersistentLoad<'b>,
}

/// Unpickle one object from `input`.
fn unpickle<R: BufRead>(input: &mut Input<R>, persistent: &mut PersistentLoad) -> Result<Value> {
    let mut u =
        Unpickler { input, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new(), persistent };
    u.run()
}

impl<R: BufRead> Unpickler<'_, '_, R> {
    fn pop(&mut self) -> Result<Value> {
        self.stack.pop().ok_or_else(|| anyhow!("pickle stack underflow (damaged pickle)"))
    }

    fn top(&mut self) -> Result<&mut Value> {
        self.stack.last_mut().ok_or_else(|| anyhow!("pickle stack underflow (damaged pickle)"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let m = self.marks.pop().ok_or_else(|| anyhow!("pickle mark missing (damaged pickle)"))?;
        if m > self.stack.len() {
            bail!("pickle mark beyond the stack (damaged pickle)");
        }
        Ok(self.stack.split_off(m))
    }

    fn string(&mut self, n: u64) -> Result<Value> {
        let b = self.input.bytes(n)?;
        Ok(Value::Str(String::from_utf8_lossy(&b).into()))
    }

    fn memo_get(&mut self, i: u64) -> Result<()> {
        let v = self
            .memo
            .get(&i)
            .cloned()
            .ok_or_else(|| anyhow!("pickle memo entry {i} missing (damaged pickle)"))?;
        self.stack.push(v);
        Ok(())
    }

    fn memo_put(&mut self, i: u64) -> Result<()> {
        let v = self.top()?.clone();
        self.memo.insert(i, v);
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<()> {
        if !items.len().is_multiple_of(2) {
            bail!("odd number of dict items (damaged pickle)");
        }
        if let Value::Dict(d) = self.top()? {
            let mut it = items.into_iter();
            let mut d = d.borrow_mut();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                d.push((k, v));
            }
        }
        Ok(())
    }

    /// `BUILD`: the state of an old-style tensor object (`torch.FloatTensor`, `Variable`)
    /// makes it a tensor, as its `__setstate__` did; other state (an OrderedDict's
    /// `_metadata`, an opaque object's attributes) matters to nothing tsal reads.
    fn build(&mut self, state: Value) -> Result<()> {
        let Value::Object(class) = self.top()? else { return Ok(()) };
        let tensor_class = class.starts_with("torch.")
            && (class.ends_with("Tensor") || class.ends_with(".Variable"))
            || &**class == "torch.nn.parameter.Parameter";
        let items = state.items().unwrap_or_default();
        let tensor = match items.as_slice() {
            _ if !tensor_class => return Ok(()),
            [Value::Storage(_), _, _, _] => Value::Tensor(Rc::new(tensor_ref(&items, None)?)),
            [t @ Value::Tensor(_), ..] => t.clone(),
            _ => return Ok(()),
        };
        // The memo may hold the object already: make it the tensor there too.
        let old = class.clone();
        for v in self.memo.values_mut() {
            if matches!(v, Value::Object(o) if Rc::ptr_eq(o, &old)) {
                *v = tensor.clone();
            }
        }
        *self.top()? = tensor;
        Ok(())
    }

    fn run(&mut self) -> Result<Value> {
        loop {
            let at = self.input.pos;
            let op = self.input.u8()?;
            match op {
                0x80 => {
                    let proto = self.input.u8()?;
                    if proto > 5 {
                        bail!("pickle protocol {proto} is newer than 5");
                    }
                }
                0x95 => {
                    self.input.u64()?; // FRAME: a length hint
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.stack.push(v);
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.input.array()?);
                    self.stack.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = self.input.u8()?;
                    self.stack.push(Value::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.input.array()?);
                    self.stack.push(Value::Int(v.into()));
                }
                0x8a | 0x8b => {
                    let n =
                        if op == 0x8a { self.input.u8()? as u64 } else { self.input.u32()? as u64 };
                    let b = self.input.bytes(n)?;
                    self.stack.push(long(&b));
                }
                b'I' | b'L' => {
                    let line = self.input.line()?;
                    let text = line.trim_end_matches('L');
                    self.stack.push(match text {
                        "00" if op == b'I' => Value::Bool(false),
                        "01" if op == b'I' => Value::Bool(true),
                        _ => Value::Int(
                            text.parse().map_err(|_| anyhow!("bad integer {text:?} in pickle"))?,
                        ),
                    });
                }
                b'G' => {
                    self.input.array::<8>()?;
                    self.stack.push(Value::Float);
                }
                b'F' => {
                    self.input.line()?;
                    self.stack.push(Value::Float);
                }
                b'X' | b'T' => {
                    let n = self.input.u32()? as u64;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                0x8c | b'U' => {
                    let n = self.input.u8()? as u64;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let n = self.input.u64()?;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                b'V' => {
                    let line = self.input.line()?;
                    self.stack.push(Value::Str(line.into()));
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => self.input.u32()? as u64,
                        b'C' => self.input.u8()? as u64,
                        _ => self.input.u64()?,
                    };
                    self.input.skip(n)?;
                    self.stack.push(Value::Bytes);
                }
                b')' => self.stack.push(Value::Tuple(Rc::new([]))),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items.into()));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        bail!("pickle stack underflow (damaged pickle)");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items.into()));
                }
                b']' => self.stack.push(Value::List(Default::default())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(Rc::new(RefCell::new(items))));
                }
                b'a' => {
                    let v = self.pop()?;
                    if let Value::List(l) = self.top()? {
                        l.borrow_mut().push(v);
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    if let Value::List(l) = self.top()? {
                        l.borrow_mut().extend(items);
                    }
                }
                b'}' => self.stack.push(Value::Dict(Default::default())),
                b'd' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Dict(Default::default()));
                    self.set_items(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                0x8f => self.stack.push(Value::Object("builtins.set".into())),
                0x90 => {
                    self.pop_mark()?; // ADDITEMS to a set
                }
                0x91 => {
                    self.pop_mark()?;
                    self.stack.push(Value::Object("builtins.frozenset".into()));
                }
                b'q' => {
                    let i = self.input.u8()? as u64;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.input.u32()? as u64;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = self.memo.len() as u64;
                    self.memo_put(i)?;
                }
                b'p' => {
                    let line = self.input.line()?;
                    let i = line.parse().map_err(|_| anyhow!("bad memo index {line:?}"))?;
                    self.memo_put(i)?;
                }
                b'h' => {
                    let i = self.input.u8()? as u64;
                    self.memo_get(i)?;
                }
                b'j' => {
                    let i = self.input.u32()? as u64;
                    self.memo_get(i)?;
                }
                b'g' => {
                    let line = self.input.line()?;
                    let i = line.parse().map_err(|_| anyhow!("bad memo index {line:?}"))?;
                    self.memo_get(i)?;
                }
                b'c' => {
                    let module = self.input.line()?;
                    let name = self.input.line()?;
                    self.stack.push(Value::Global(format!("{module}.{name}").into()));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module.as_str(), name.as_str()) {
                        (Some(m), Some(n)) => {
                            self.stack.push(Value::Global(format!("{m}.{n}").into()))
                        }
                        _ => bail!("STACK_GLOBAL without two strings (damaged pickle)"),
                    }
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = call(&callable, &args)?;
                    self.stack.push(v);
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = call(&callable, &args)?;
                    self.stack.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    self.build(state)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = (self.persistent)(&pid)?;
                    self.stack.push(v);
                }
                b'P' => {
                    let line = self.input.line()?;
                    let v = (self.persistent)(&Value::Str(line.into()))?;
                    self.stack.push(v);
                }
                _ => bail!("pickle opcode 0x{op:02x} at byte {at} is not one tsal reads"),
            }
        }
    }
}

/// A little-endian two's complement integer of `LONG1`/`LONG4`.
fn long(b: &[u8]) -> Value {
    if b.len() > 16 {
        return Value::Object("builtins.int".into());
    }
    let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) { 0xff } else { 0 };
    let mut buf = [fill; 16];
    buf[..b.len()].copy_from_slice(b);
    Value::Int(i128::from_le_bytes(buf))
}

/// `REDUCE`/`NEWOBJ`: what calling `callable` with `args` gives, as far as tsal cares.
fn call(callable: &Value, args: &Value) -> Result<Value> {
    let Value::Global(name) = callable else {
        return Ok(Value::Object("(unknown)".into()));
    };
    let args = args.items().unwrap_or_default();
    Ok(match &**name {
        "collections.OrderedDict" | "builtins.dict" | "__builtin__.dict" => {
            // Python 2 pickled an OrderedDict as OrderedDict([[key, value], ...]).
            let mut entries = Vec::new();
            for pair in args.first().and_then(Value::items).unwrap_or_default() {
                if let Some([k, v]) = pair.items().as_deref() {
                    entries.push((k.clone(), v.clone()));
                }
            }
            Value::Dict(Rc::new(RefCell::new(entries)))
        }
        "torch._utils._rebuild_tensor" | "torch._utils._rebuild_tensor_v2" => {
            Value::Tensor(Rc::new(tensor_ref(&args, None)?))
        }
        "torch._utils._rebuild_tensor_v3" => {
            let dtype = match args.get(6) {
                Some(Value::Global(g)) => g.to_string(),
                _ => bail!("_rebuild_tensor_v3 without a dtype (damaged pickle)"),
            };
            Value::Tensor(Rc::new(tensor_ref(&args, Some(dtype))?))
        }
        "torch._utils._rebuild_parameter"
        | "torch._utils._rebuild_parameter_with_state"
        | "torch.nn.parameter.Parameter" => match args.first() {
            Some(t @ Value::Tensor(_)) => t.clone(),
            _ => Value::Object(Rc::from(&**name)),
        },
        "torch._tensor._rebuild_from_type" | "torch._tensor._rebuild_from_type_v2" => {
            match (args.first(), args.get(2)) {
                (Some(f), Some(a)) => call(f, a)?,
                _ => Value::Object(Rc::from(&**name)),
            }
        }
        "torch.Size" => args.first().cloned().unwrap_or(Value::Tuple(Rc::new([]))),
        "copy_reg._reconstructor" | "copyreg._reconstructor" => match args.first() {
            Some(class) => call(class, &Value::Tuple(Rc::new([])))?,
            None => Value::Object(Rc::from(&**name)),
        },
        n if n.starts_with("torch._utils._rebuild_") => Value::OtherTensor(name.clone()),
        _ => Value::Object(Rc::from(&**name)),
    })
}

/// The tensor described by `_rebuild_tensor*`'s arguments `(storage, storage_offset, size,
/// stride, …)`; `dtype` is `_rebuild_tensor_v3`'s (`torch.float32`, …).
fn tensor_ref(args: &[Value], dtype: Option<String>) -> Result<TensorRef> {
    let bad = || anyhow!("a tensor with malformed arguments (damaged pickle)");
    let storage = match args.first() {
        Some(Value::Storage(s)) => s.clone(),
        Some(other) => bail!("a tensor whose storage is {} (damaged pickle)", other.describe()),
        None => return Err(bad()),
    };
    let offset = args.get(1).and_then(Value::as_int).ok_or_else(bad)?;
    let size = args.get(2).and_then(Value::int_list).ok_or_else(bad)?;
    let stride = args.get(3).and_then(Value::int_list).ok_or_else(bad)?;
    let (dtype, dtype_name) = match dtype {
        Some(d) => (named_dtype(&d), d),
        None => (storage.dtype, storage.class.clone()),
    };
    Ok(TensorRef { storage, dtype, dtype_name, offset, size, stride })
}

/// A storage's persistent id, `('storage', storage_type, key, location, numel[,
/// view_metadata])`, as a [`Value::Storage`]; a legacy `('module', class, …)` id as its class.
fn storage_of(pid: &Value) -> Result<Value> {
    let items = pid.items().unwrap_or_default();
    match items.first().and_then(Value::as_str) {
        Some("storage") if items.len() >= 5 => {
            let class = match &items[1] {
                Value::Global(g) => g.to_string(),
                other => bail!("a storage whose type is {} (damaged pickle)", other.describe()),
            };
            let key = match &items[2] {
                Value::Str(s) => s.to_string(),
                Value::Int(i) => i.to_string(),
                _ => bail!("a storage with a malformed key (damaged pickle)"),
            };
            let numel = items[4]
                .as_int()
                .filter(|n| *n >= 0)
                .ok_or_else(|| anyhow!("storage {key} has no element count (damaged pickle)"))?;
            let dtype = storage_dtype(&class);
            let view_offset = match items.get(5).and_then(Value::items).as_deref() {
                Some([_, offset, _]) => {
                    let offset = offset.as_int().filter(|o| *o >= 0).ok_or_else(|| {
                        anyhow!("storage {key} has a malformed view (damaged pickle)")
                    })?;
                    offset as u64 * dtype.map_or(1, |d| d.size) as u64
                }
                _ => 0,
            };
            Ok(Value::Storage(Rc::new(StorageRef { key, class, dtype, numel, view_offset })))
        }
        Some("module") if items.len() >= 2 => Ok(items[1].clone()),
        _ => bail!("a persistent id that is not a PyTorch storage (damaged or foreign pickle)"),
    }
}

// ---------------------------------------------------------------------------------------------
// Finding the state dict and building its tensors

/// The state dict found in a file's top-level object.
#[derive(Default)]
struct Found {
    tensors: Vec<(String, Rc<TensorRef>)>,
    /// Tensors of kinds tsal does not build, with the function that makes them.
    others: Vec<(String, Rc<str>)>,
    skipped: Vec<String>,
    nested_in: Option<String>,
}

impl Found {
    fn has_tensors(&self) -> bool {
        !self.tensors.is_empty() || !self.others.is_empty()
    }

    /// An error naming the first tensor tsal cannot build, if any.
    fn check_others(&self, name: &std::path::Display, what: &str) -> Result<()> {
        match self.others.first() {
            Some((tensor, how)) => bail!(
                "{name}: {what} whose tensor `{tensor}` is not a plain dense tensor (made by \
                 {how}), which tsal does not read; make it dense and unquantized in Python \
                 first (.to_dense(), .dequantize())"
            ),
            None => Ok(()),
        }
    }
}

/// The tensors and other entries of a dict.
fn split_dict(d: &[(Value, Value)]) -> Found {
    let mut found = Found::default();
    for (k, v) in d {
        let key = match k {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            other => other.describe(),
        };
        match v {
            Value::Tensor(t) => found.tensors.push((key, t.clone())),
            Value::OtherTensor(how) => found.others.push((key, how.clone())),
            _ => found.skipped.push(key),
        }
    }
    found
}

/// The state dict in `top`: a dict of tensors, or a dict without tensors whose
/// [`NESTED_KEYS`] entry is one. The error says what `top` is instead.
fn find_state_dict(top: &Value) -> std::result::Result<Found, String> {
    let Value::Dict(d) = top else {
        return Err(format!("holding {}, not a state dict of tensors", top.describe()));
    };
    let d = d.borrow();
    let top_level = split_dict(&d);
    if top_level.has_tensors() {
        return Ok(top_level);
    }
    for key in NESTED_KEYS {
        let entry = d.iter().rev().find(|(k, _)| k.as_str() == Some(key));
        if let Some((_, Value::Dict(inner))) = entry {
            let found = split_dict(&inner.borrow());
            if found.has_tensors() {
                return Ok(Found { nested_in: Some(key.to_string()), ..found });
            }
        }
    }
    let skipped = top_level.skipped;
    if d.is_empty() {
        return Err("holding an empty dict, not a state dict of tensors".into());
    }
    let mut keys: Vec<String> = skipped.iter().take(8).cloned().collect();
    if skipped.len() > 8 {
        keys.push("…".into());
    }
    Err(format!(
        "holding a dict without tensors (keys: {}) and without a `state_dict`, `model` or \
         `model_state_dict` entry of tensors",
        keys.join(", ")
    ))
}

/// One line for a tch error: libtorch's messages carry a C++ backtrace after the first line.
fn first_line(e: tch::TchError) -> anyhow::Error {
    let s = e.to_string();
    anyhow!("{}", s.lines().next().unwrap_or("libtorch error").trim())
}

/// Why a tensor cannot be built: its dtype, or a view outside its storage.
enum BuildError {
    Unsupported(String),
    Damaged(anyhow::Error),
}

/// Copy tensor `t` out of the bytes of its root storage (`bytes`, little endian unless
/// `big_endian`).
fn build_tensor(
    t: &TensorRef,
    bytes: &[u8],
    big_endian: bool,
) -> std::result::Result<Tensor, BuildError> {
    let unsupported = || BuildError::Unsupported(t.dtype_name.clone());
    let d = t.dtype.ok_or_else(unsupported)?;
    let kind = d.kind.ok_or_else(unsupported)?;
    let damaged = |msg: String| BuildError::Damaged(anyhow!(msg));
    let view = || format!("offset {}, size {:?}, stride {:?}", t.offset, t.size, t.stride);
    if t.size.len() != t.stride.len() || t.size.iter().chain(&t.stride).any(|&x| x < 0) {
        return Err(damaged(format!("a malformed view ({})", view())));
    }
    let torch_err = |e: tch::TchError| BuildError::Damaged(first_line(e));
    if t.size.contains(&0) {
        return Tensor::f_from_data_size(&[], &t.size, kind).map_err(torch_err);
    }
    // Bytes from the first to the last element the view touches, if no number overflows.
    let es = d.size as i64;
    let range = t
        .size
        .iter()
        .zip(&t.stride)
        .try_fold(1i64, |extent, (&n, &s)| (n - 1).checked_mul(s)?.checked_add(extent));
    let range = range.and_then(|extent| {
        let start = (t.storage.view_offset as i64).checked_add(t.offset.checked_mul(es)?)?;
        Some((extent, start, start.checked_add(extent.checked_mul(es)?)?))
    });
    let (extent, start, end) = match range {
        Some((extent, start, end)) if start >= 0 && end <= bytes.len() as i64 => {
            (extent, start as usize, end as usize)
        }
        _ => {
            return Err(damaged(format!(
                "a view ({}) reaching past the {} bytes of storage {}",
                view(),
                bytes.len(),
                t.storage.key
            )))
        }
    };
    let slice = &bytes[start..end];
    let flat = if big_endian && es > 1 {
        let mut v = slice.to_vec();
        v.chunks_exact_mut(d.size).for_each(|c| c.reverse());
        Tensor::f_from_data_size(&v, &[extent], kind)
    } else {
        Tensor::f_from_data_size(slice, &[extent], kind)
    }
    .map_err(torch_err)?;
    flat.f_as_strided(&t.size, &t.stride, 0).and_then(|v| v.f_contiguous()).map_err(torch_err)
}

/// Build the found tensors whose storage key is `key` from that storage's `bytes` into `out`.
/// Errors are whole lines naming the file (`name`, `what` it is).
fn build_for_key(
    found: &Found,
    key: &str,
    bytes: &[u8],
    big_endian: bool,
    out: &mut [Option<Tensor>],
    (name, what): (&std::path::Display, &str),
) -> Result<()> {
    for ((tensor, t), slot) in found.tensors.iter().zip(out.iter_mut()) {
        if t.storage.key != key {
            continue;
        }
        *slot = Some(build_tensor(t, bytes, big_endian).map_err(|e| match e {
            BuildError::Unsupported(dtype) => anyhow!(
                "{name}: {what} whose tensor `{tensor}` has dtype {dtype}, which tsal does not \
                 read; convert it in Python first (e.g. to float32)"
            ),
            BuildError::Damaged(e) => anyhow!(
                "{name}: {what} whose tensor `{tensor}` cannot be built: {e:#}; the file is \
                 damaged: download or save it again"
            ),
        })?);
    }
    Ok(())
}

fn finish(format: Format, found: Found, built: Vec<Option<Tensor>>) -> Result<StateDict> {
    let tensors = found
        .tensors
        .into_iter()
        .zip(built)
        .map(|((name, t), b)| {
            b.map(|b| (name.clone(), b))
                .ok_or_else(|| anyhow!("tensor `{name}`: its storage {} is missing", t.storage.key))
        })
        .collect::<Result<_>>()?;
    Ok(StateDict { format, nested_in: found.nested_in, tensors, skipped: found.skipped })
}

const SAVE_HINT: &str = "in Python, save the weights with torch.save(model.state_dict(), FILE)";

// ---------------------------------------------------------------------------------------------
// Zip format

fn read_zip(path: &Path) -> Result<StateDict> {
    let name = path.display();
    let what = Format::Zip.describe();
    let file = File::open(path).with_context(|| format!("{name}: cannot open"))?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
        anyhow!(
            "{name}: a zip archive whose directory cannot be read ({e}); the file is \
             probably truncated or damaged: download or save it again"
        )
    })?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let pkl = names
        .iter()
        .filter(|n| n.ends_with("data.pkl"))
        .filter_map(|n| n.strip_suffix("data.pkl"))
        .find(|prefix| prefix.is_empty() || prefix.find('/') == Some(prefix.len() - 1))
        .map(str::to_string);
    let Some(prefix) = pkl else {
        bail!(
            "{name}: a zip archive without a data.pkl, so not written by torch.save; pass a \
             state dict saved with torch.save, or a .safetensors file"
        );
    };
    let mut read_entry = |entry: &str| -> Result<Vec<u8>> {
        let mut f = zip.by_name(entry)?;
        if f.size() > file_len {
            bail!("entry {entry} claims {} bytes, more than the file holds", f.size());
        }
        let mut buf = Vec::with_capacity(f.size() as usize);
        f.read_to_end(&mut buf)?;
        Ok(buf)
    };
    let damaged = |e: anyhow::Error| {
        anyhow!("{name}: {what} that cannot be read: {e:#}; download or save it again")
    };
    let big_endian = if names.contains(&format!("{prefix}byteorder")) {
        read_entry(&format!("{prefix}byteorder")).map_err(damaged)? == b"big"
    } else {
        false
    };
    let pickle = read_entry(&format!("{prefix}data.pkl")).map_err(damaged)?;
    let mut input = Input { len: pickle.len() as u64, r: &pickle[..], pos: 0 };
    let top = unpickle(&mut input, &mut storage_of).map_err(|e| {
        anyhow!("{name}: {what} whose data.pkl cannot be read: {e:#}; download or save it again")
    })?;
    let found = find_state_dict(&top).map_err(|problem| {
        if names.iter().any(|n| n.starts_with(&format!("{prefix}code/"))) {
            anyhow!(
                "{name}: a TorchScript archive (torch.jit.save) {problem}; {SAVE_HINT} \
                 instead"
            )
        } else {
            anyhow!("{name}: {what} {problem}; {SAVE_HINT}")
        }
    })?;
    found.check_others(&name, what)?;
    let mut keys: Vec<&str> = found.tensors.iter().map(|(_, t)| t.storage.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut built: Vec<Option<Tensor>> = found.tensors.iter().map(|_| None).collect();
    for key in keys {
        let bytes = read_entry(&format!("{prefix}data/{key}"))
            .with_context(|| format!("storage {key}"))
            .map_err(damaged)?;
        build_for_key(&found, key, &bytes, big_endian, &mut built, (&name, what))?;
    }
    finish(Format::Zip, found, built)
}

// ---------------------------------------------------------------------------------------------
// Legacy format

const MAGIC_NUMBER: i128 = 0x1950a86a20f9469cfc6c;
const PROTOCOL_VERSION: i128 = 1001;

fn read_legacy(path: &Path) -> Result<StateDict> {
    let name = path.display();
    let what = Format::Legacy.describe();
    let file = File::open(path).with_context(|| format!("{name}: cannot open"))?;
    let len = file.metadata().with_context(|| format!("{name}: cannot open"))?.len();
    let mut input = Input { r: BufReader::with_capacity(1 << 20, file), pos: 0, len };
    let damaged = |e: anyhow::Error| {
        anyhow!("{name}: {what} that cannot be read: {e:#}; download or save it again")
    };
    let magic = unpickle(&mut input, &mut |_| bail!("a persistent id in the magic number"));
    match magic {
        Ok(Value::Int(MAGIC_NUMBER)) => {}
        Ok(other) => bail!(
            "{name}: a Python pickle of {}, not written by torch.save (no PyTorch magic \
             number); {SAVE_HINT}",
            other.describe()
        ),
        Err(e) => bail!(
            "{name}: neither a PyTorch file nor a readable Python pickle ({e:#}); pass a \
             state dict saved with torch.save, or a .safetensors file"
        ),
    }
    let no_pid = &mut |_: &Value| bail!("a persistent id in the file header");
    match unpickle(&mut input, no_pid).map_err(damaged)? {
        Value::Int(PROTOCOL_VERSION) => {}
        other => bail!(
            "{name}: {what} with protocol version {} instead of 1001; re-save it with a \
             current PyTorch",
            other.as_int().map_or_else(|| other.describe(), |v| v.to_string())
        ),
    }
    // sys_info (type sizes, byte order) matters not: storages are always little endian.
    unpickle(&mut input, no_pid).map_err(damaged)?;
    // Root storages by key, with the dtype and size of their first appearance, as torch keeps
    // them.
    let mut storages: HashMap<String, Rc<StorageRef>> = HashMap::new();
    let top = unpickle(&mut input, &mut |pid| {
        let v = storage_of(pid)?;
        if let Value::Storage(s) = &v {
            storages.entry(s.key.clone()).or_insert_with(|| s.clone());
        }
        Ok(v)
    })
    .map_err(damaged)?;
    let found = find_state_dict(&top)
        .map_err(|problem| anyhow!("{name}: {what} {problem}; {SAVE_HINT}"))?;
    found.check_others(&name, what)?;
    let keys = unpickle(&mut input, no_pid).map_err(damaged)?;
    let keys: Vec<String> = keys
        .items()
        .and_then(|k| k.iter().map(|k| k.as_str().map(str::to_string)).collect())
        .ok_or_else(|| damaged(anyhow!("the storage key list is {}", keys.describe())))?;
    let mut built: Vec<Option<Tensor>> = found.tensors.iter().map(|_| None).collect();
    let needed: std::collections::HashSet<&str> =
        found.tensors.iter().map(|(_, t)| t.storage.key.as_str()).collect();
    for key in &keys {
        let s = storages
            .get(key)
            .ok_or_else(|| damaged(anyhow!("storage {key} is listed but never used")))?;
        let d = s.dtype.ok_or_else(|| {
            anyhow!(
                "{name}: {what} with a storage of type {}, which tsal cannot read; convert \
                 its tensors in Python first (e.g. to float32)",
                s.class
            )
        })?;
        let count = input.u64().map_err(damaged)?;
        if count != s.numel as u64 {
            return Err(damaged(anyhow!(
                "storage {key} holds {count} elements, the pickle says {}",
                s.numel
            )));
        }
        let n = count.checked_mul(d.size as u64).ok_or_else(|| damaged(anyhow!("huge storage")))?;
        if needed.contains(key.as_str()) {
            let bytes =
                input.bytes(n).with_context(|| format!("storage {key}")).map_err(damaged)?;
            build_for_key(&found, key, &bytes, false, &mut built, (&name, what))?;
        } else {
            input.skip(n).with_context(|| format!("storage {key}")).map_err(damaged)?;
        }
    }
    finish(Format::Legacy, found, built).map_err(damaged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_tells_the_layouts_apart() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Some(Format::Zip));
        // torch.save's legacy files start with PROTO 2 and LONG1 (the magic number).
        assert_eq!(sniff(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."), Some(Format::Legacy));
        let mut tar = vec![0u8; 512];
        tar[257..263].copy_from_slice(b"ustar\0");
        assert_eq!(sniff(&tar), Some(Format::Tar));
        assert_eq!(sniff(b"\x08\x00\x00\x00\x00\x00\x00\x00{}"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn magic_number_and_protocol_header_unpickle() {
        let magic = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.";
        let mut input = Input { len: magic.len() as u64, r: &magic[..], pos: 0 };
        let no_pid = &mut |_: &Value| bail!("no persistent ids here");
        assert!(matches!(unpickle(&mut input, no_pid).unwrap(), Value::Int(MAGIC_NUMBER)));
        assert!(matches!(unpickle(&mut input, no_pid).unwrap(), Value::Int(PROTOCOL_VERSION)));
        assert!(matches!(long(&[0xff]), Value::Int(-1)));
        assert!(matches!(long(&[]), Value::Int(0)));
        // Truncated: an error, no panic.
        let mut cut = Input { len: 5, r: &magic[..5], pos: 0 };
        let e = unpickle(&mut cut, no_pid).unwrap_err().to_string();
        assert!(e.contains("the file ends early"), "{e}");
    }
}
