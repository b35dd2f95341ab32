//! Reading the server's JSON answers into the wire types: the browser parses the text
//! (`JSON.parse`) and [`Value`] hands the parsed value to serde.
//!
//! Written for the page rather than taken from serde_json or serde-wasm-bindgen, for size alone:
//! their errors explain what did not fit (formatting numbers, quoting strings, naming the types
//! expected), and that code cost every admin 15 KB of download (measured), for a message the page
//! never shows ([`ApiFailure::Unexpected`](crate::api::ApiFailure::Unexpected) replaces it).
//! Here an error is only [`Mismatch`]. Otherwise it reads what serde_json reads: unknown fields
//! are skipped, a missing field is absent, and integers are whole numbers within 2^53 (the
//! largest a JavaScript number holds exactly).

use std::fmt;

use js_sys::{Array, JSON, Number, Object};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use wasm_bindgen::JsValue;

/// `text` as a `T`; `None` when it is not JSON or does not have `T`'s shape.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Option<T> {
    T::deserialize(Value(JSON::parse(text).ok()?)).ok()
}

/// The answer does not have the shape the page expects. Deliberately without details (see the
/// module's documentation).
#[derive(Debug)]
pub struct Mismatch;

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unexpected JSON")
    }
}

impl std::error::Error for Mismatch {}

impl de::Error for Mismatch {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Mismatch
    }
}

/// A value `JSON.parse` returned: null, a boolean, a number, a string, an array or an object.
struct Value(JsValue);

impl<'de> de::Deserializer<'de> for Value {
    type Error = Mismatch;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        let value = self.0;
        if value.is_null() {
            visitor.visit_unit()
        } else if let Some(boolean) = value.as_bool() {
            visitor.visit_bool(boolean)
        } else if let Some(number) = value.as_f64() {
            if !Number::is_safe_integer(&value) {
                visitor.visit_f64(number)
            } else if number < 0.0 {
                visitor.visit_i64(number as i64)
            } else {
                visitor.visit_u64(number as u64)
            }
        } else if let Some(text) = value.as_string() {
            visitor.visit_string(text)
        } else if Array::is_array(&value) {
            visitor.visit_seq(Elements {
                array: value.into(),
                next: 0,
            })
        } else if value.is_object() {
            visitor.visit_map(Entries::of(value))
        } else {
            Err(Mismatch)
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        if self.0.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    /// Only from an object, as the server writes one (serde_json would take an array too; not
    /// taking one keeps each struct's code for reading arrays out of the page).
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Mismatch> {
        if self.0.is_object() && !Array::is_array(&self.0) {
            visitor.visit_map(Entries::of(self.0))
        } else {
            Err(Mismatch)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Mismatch> {
        visitor.visit_newtype_struct(self)
    }

    /// An enum without data is its variant's name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Mismatch> {
        let name = self.0.as_string().ok_or(Mismatch)?;
        visitor.visit_enum(name.into_deserializer())
    }

    /// A field the page does not know: nothing to read.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Mismatch> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map identifier
    }
}

/// An array's elements, in order.
struct Elements {
    array: Array,
    next: u32,
}

impl<'de> de::SeqAccess<'de> for Elements {
    type Error = Mismatch;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Mismatch> {
        if self.next == self.array.length() {
            return Ok(None);
        }
        self.next += 1;
        seed.deserialize(Value(self.array.get(self.next - 1)))
            .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some((self.array.length() - self.next) as usize)
    }
}

/// An object's fields, as `[name, value]` pairs from `Object.entries`.
struct Entries {
    entries: Array,
    next: u32,
    /// The value of the field whose name was read last.
    value: Option<JsValue>,
}

impl Entries {
    fn of(object: JsValue) -> Self {
        Entries {
            entries: Object::entries(&object.into()),
            next: 0,
            value: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for Entries {
    type Error = Mismatch;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Mismatch> {
        if self.next == self.entries.length() {
            return Ok(None);
        }
        let entry: Array = self.entries.get(self.next).into();
        self.next += 1;
        self.value = Some(entry.get(1));
        let name = entry.get(0).as_string().ok_or(Mismatch)?;
        seed.deserialize(name.into_deserializer()).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Mismatch> {
        seed.deserialize(Value(self.value.take().ok_or(Mismatch)?))
    }

    fn size_hint(&self) -> Option<usize> {
        Some((self.entries.length() - self.next) as usize)
    }
}
