//! The reference's typed-JSON configuration format (`lib/config_utils/configure_utils.py:13-47`): a
//! JSON object whose every value is `[type, value]`, type one of `str`, `int`, `bool`, `float`; the
//! value a scalar or a list converted element-wise. Numbers may be written as JSON numbers or
//! strings (`["float", "0.00005"]`); `bool` is `bool(int(x))`, so `"1"`, `1`, `true` all mean true.
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One typed value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Float(f64),
    List(Vec<Value>),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "str",
            Value::Int(_) => "int",
            Value::Bool(_) => "bool",
            Value::Float(_) => "float",
            Value::List(_) => "list",
        }
    }
}

/// A loaded typed-JSON file: its path (named in every error) and its typed values by key.
#[derive(Clone, Debug)]
pub struct TypedConfig {
    pub path: PathBuf,
    pub values: BTreeMap<String, Value>,
}

impl TypedConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read config", path.display()))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let name = path.display();
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            anyhow::anyhow!("{name}:{}:{}: not valid JSON: {e}", e.line(), e.column())
        })?;
        let obj = json
            .as_object()
            .with_context(|| format!("{name}: expected a JSON object of \"key\": [type, value]"))?;
        let mut values = BTreeMap::new();
        for (key, v) in obj {
            let pair = v.as_array().filter(|a| a.len() == 2).with_context(|| {
                format!("{name}: key `{key}`: expected [type, value], found {v}")
            })?;
            let ty = pair[0].as_str().with_context(|| {
                format!("{name}: key `{key}`: the type must be a string, found {}", pair[0])
            })?;
            let value = match &pair[1] {
                serde_json::Value::Array(items) => Value::List(
                    items
                        .iter()
                        .map(|x| convert(ty, x))
                        .collect::<Result<_, String>>()
                        .map_err(|e| anyhow::anyhow!("{name}: key `{key}`: {e}"))?,
                ),
                x => convert(ty, x).map_err(|e| anyhow::anyhow!("{name}: key `{key}`: {e}"))?,
            };
            values.insert(key.clone(), value);
        }
        Ok(Self { path: path.to_path_buf(), values })
    }

    /// Refuse keys outside `known`, naming the closest known key.
    pub fn check_keys(&self, known: &[&str]) -> Result<()> {
        super::keys::check(&self.path, "", self.values.keys().map(String::as_str), known)
    }

    pub fn has(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    fn get(&self, key: &str) -> Result<&Value> {
        self.values
            .get(key)
            .with_context(|| format!("{}: missing key `{key}`", self.path.display()))
    }

    fn wrong(&self, key: &str, want: &str, v: &Value) -> anyhow::Error {
        anyhow::anyhow!(
            "{}: key `{key}`: expected {want}, found {} {v:?}",
            self.path.display(),
            v.type_name()
        )
    }

    pub fn str(&self, key: &str) -> Result<String> {
        match self.get(key)? {
            Value::Str(s) => Ok(s.clone()),
            v => Err(self.wrong(key, "str", v)),
        }
    }

    pub fn int(&self, key: &str) -> Result<i64> {
        match self.get(key)? {
            Value::Int(i) => Ok(*i),
            v => Err(self.wrong(key, "int", v)),
        }
    }

    /// A float; an `int` value is accepted too.
    pub fn float(&self, key: &str) -> Result<f64> {
        match self.get(key)? {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            v => Err(self.wrong(key, "float", v)),
        }
    }

    /// A bool. The reference evaluates a list like `["bool", [1]]` by its truthiness
    /// (non-empty), so for a list the first element decides and an empty list is false.
    pub fn bool(&self, key: &str) -> Result<bool> {
        match self.get(key)? {
            Value::Bool(b) => Ok(*b),
            Value::List(items) => match items.first() {
                None => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(self.wrong(key, "bool", &items[0])),
            },
            v => Err(self.wrong(key, "bool", v)),
        }
    }

    /// A list of ints; a scalar int is a one-element list.
    pub fn ints(&self, key: &str) -> Result<Vec<i64>> {
        self.list_of(key, "a list of int", |v| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        })
    }

    /// A list of bools; a scalar bool is a one-element list.
    pub fn bools(&self, key: &str) -> Result<Vec<bool>> {
        self.list_of(key, "a list of bool", |v| match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        })
    }

    fn list_of<T>(
        &self,
        key: &str,
        want: &str,
        scalar: impl Fn(&Value) -> Option<T>,
    ) -> Result<Vec<T>> {
        let v = self.get(key)?;
        let items = match v {
            Value::List(items) => items.as_slice(),
            v => std::slice::from_ref(v),
        };
        items.iter().map(|x| scalar(x).ok_or_else(|| self.wrong(key, want, x))).collect()
    }

    /// Optional variants: `Ok(None)` when the key is absent.
    pub fn opt_int(&self, key: &str) -> Result<Option<i64>> {
        if self.has(key) {
            self.int(key).map(Some)
        } else {
            Ok(None)
        }
    }
    pub fn opt_float(&self, key: &str) -> Result<Option<f64>> {
        if self.has(key) {
            self.float(key).map(Some)
        } else {
            Ok(None)
        }
    }
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        if self.has(key) {
            self.bool(key).map(Some)
        } else {
            Ok(None)
        }
    }
    pub fn opt_ints(&self, key: &str) -> Result<Option<Vec<i64>>> {
        if self.has(key) {
            self.ints(key).map(Some)
        } else {
            Ok(None)
        }
    }
    pub fn opt_str(&self, key: &str) -> Result<Option<String>> {
        if self.has(key) {
            self.str(key).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Convert one JSON scalar to `ty` the way Python's `int()`, `float()`, `str()`,
/// `bool(int())` would.
fn convert(ty: &str, x: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    let bad = |want: &str| format!("value {x} is not a valid {want}");
    match ty {
        "str" => match x {
            J::String(s) => Ok(Value::Str(s.clone())),
            J::Number(n) => Ok(Value::Str(n.to_string())),
            _ => Err(bad("str")),
        },
        "int" => match x {
            J::Number(n) => n.as_i64().map(Value::Int).ok_or_else(|| bad("int")),
            J::String(s) => s.trim().parse::<i64>().map(Value::Int).map_err(|_| bad("int")),
            J::Bool(b) => Ok(Value::Int(*b as i64)),
            _ => Err(bad("int")),
        },
        "float" => match x {
            J::Number(n) => n.as_f64().map(Value::Float).ok_or_else(|| bad("float")),
            J::String(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Value::Float(f)),
                _ => Err(bad("float")),
            },
            _ => Err(bad("float")),
        },
        "bool" => match x {
            J::Bool(b) => Ok(Value::Bool(*b)),
            J::Number(n) => n.as_i64().map(|i| Value::Bool(i != 0)).ok_or_else(|| bad("bool")),
            J::String(s) => match s.trim() {
                "True" | "true" => Ok(Value::Bool(true)),
                "False" | "false" => Ok(Value::Bool(false)),
                t => t.parse::<i64>().map(|i| Value::Bool(i != 0)).map_err(|_| bad("bool")),
            },
            _ => Err(bad("bool")),
        },
        other => Err(format!("unknown type `{other}` (expected str, int, bool or float)")),
    }
}
