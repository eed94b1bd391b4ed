//! JSON reading that refuses duplicate object keys. `serde_json::Value` silently keeps
//! the last of two equal keys, so `{"race":false,"race":true}` would build whatever the
//! last one says while a PHP-side reader may have seen the first.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a body could not be read: a duplicate key (with its JSON path) or bad JSON.
pub(crate) enum ReadError {
    Duplicate(String),
    Syntax(serde_json::Error),
}

pub(crate) fn from_slice(json: &[u8]) -> Result<Value, ReadError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(json);
    let seed = Strict {
        path: String::new(),
        duplicate: &duplicate,
    };
    let result = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match (result, duplicate.into_inner()) {
        (_, Some(path)) => Err(ReadError::Duplicate(path)),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(ReadError::Syntax(e)),
    }
}

struct Strict<'a> {
    path: String,
    duplicate: &'a RefCell<Option<String>>,
}

impl Strict<'_> {
    fn child(&self, path: String) -> Strict<'_> {
        Strict {
            path,
            duplicate: self.duplicate,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) =
            seq.next_element_seed(self.child(format!("{}[{}]", self.path, items.len())))?
        {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if obj.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(path);
                return Err(A::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(self.child(path))?;
            obj.insert(key, value);
        }
        Ok(Value::Object(obj))
    }
}
