//! A JSON document kept as its compact text. A run holds every rendered object and every live
//! one at once; as `serde_json::Value` trees (a B-tree node per object, a heap string per key)
//! they take about ten times the bytes of their text. The text is parsed again where a stage
//! reads the document, one object at a time, and dropped after.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct CompactJson(Box<str>);

impl CompactJson {
    pub fn new(value: &Value) -> CompactJson {
        CompactJson(value.to_string().into_boxed_str())
    }

    /// The document as a tree. Its text was made from a `Value`, so it always parses.
    pub fn value(&self) -> Value {
        if self.0.is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    /// Parts of the document as `T` (a struct of the few fields a stage reads), without
    /// building the tree of the rest.
    pub fn read<'a, T: Deserialize<'a>>(&'a self) -> Option<T> {
        serde_json::from_str(&self.0).ok()
    }

    /// Kind, identity and labels: what indexes and filters read, without the rest of the tree.
    pub fn head(&self) -> Head {
        self.read().unwrap_or_default()
    }

    pub fn text(&self) -> &str {
        &self.0
    }

    /// Bytes of its text.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The part of a Kubernetes object [`CompactJson::head`] reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Head {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: HeadMetadata,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeadMetadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub deletion_timestamp: Option<String>,
}

impl Head {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.metadata.labels.as_ref()?.get(key).map(String::as_str)
    }

    /// Whether this is the object of `kind` named `namespace/name`.
    pub fn is(&self, kind: &str, namespace: &str, name: &str) -> bool {
        self.kind == kind && self.metadata.namespace == namespace && self.metadata.name == name
    }
}

/// The objects of `kind` among `objects`, by (namespace, name): built once where a stage looks
/// objects up per manifest (reading every head for each lookup would be quadratic).
pub fn by_name<'a>(
    objects: impl IntoIterator<Item = &'a CompactJson>,
    kind: &str,
) -> BTreeMap<(String, String), &'a CompactJson> {
    objects
        .into_iter()
        .filter_map(|o| {
            let head = o.head();
            (head.kind == kind).then_some(((head.metadata.namespace, head.metadata.name), o))
        })
        .collect()
}

impl From<Value> for CompactJson {
    fn from(value: Value) -> Self {
        CompactJson::new(&value)
    }
}

impl From<&Value> for CompactJson {
    fn from(value: &Value) -> Self {
        CompactJson::new(value)
    }
}

impl PartialEq<Value> for CompactJson {
    fn eq(&self, other: &Value) -> bool {
        self.value() == *other
    }
}

impl fmt::Debug for CompactJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// As the document itself, in any format (plans are JSON, fixtures YAML).
impl Serialize for CompactJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CompactJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(CompactJson::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_document() {
        let v = json!({"kind": "Secret", "metadata": {"name": "x", "labels": {"a": "b"}},
                       "data": {"password": "c2VjcmV0"}, "n": [1, 2.5, null, true]});
        let c = CompactJson::new(&v);
        assert_eq!(c.value(), v);
        assert_eq!(c, v);
        let yaml = serde_yaml::to_string(&c).expect("yaml");
        let back: CompactJson = serde_yaml::from_str(&yaml).expect("parse");
        assert_eq!(back, c);
        #[derive(Deserialize)]
        struct Kind<'a> {
            kind: &'a str,
        }
        assert_eq!(c.read::<Kind>().map(|k| k.kind), Some("Secret"));
        let head = c.head();
        assert!(head.is("Secret", "", "x"));
        assert_eq!(head.label("a"), Some("b"));
    }
}
