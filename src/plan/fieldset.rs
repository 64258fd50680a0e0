//! Server-side apply's record of which fields a manager owns (`managedFields[].fieldsV1`), as a
//! tree we can walk beside an object. Format: `{"f:spec": {"f:replicas": {}}}` where `f:` is a
//! field, `k:{"name":"x"}` a list element by key, `v:<json>` a set element, `i:<n>` an index,
//! and `.` the node itself.

use crate::state::managed_fields::{is_apply_of, is_imperative_edit};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSet {
    /// Few entries per node: a list keeps them in the order the server wrote them.
    pub children: Vec<(PathElement, FieldSet)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathElement {
    Field(String),
    /// A list element identified by the values of its key fields.
    Key(Map<String, Value>),
    Value(Value),
    Index(usize),
}

impl FieldSet {
    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }

    pub fn field(&self, name: &str) -> Option<&FieldSet> {
        self.children.iter().find_map(|(k, v)| match k {
            PathElement::Field(f) if f == name => Some(v),
            _ => None,
        })
    }

    fn child_mut(&mut self, key: PathElement) -> &mut FieldSet {
        let position = match self.children.iter().position(|(k, _)| *k == key) {
            Some(p) => p,
            None => {
                self.children.push((key, FieldSet::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[position].1
    }

    /// The owned entry of a list element, if any entry's key fields all match the element.
    pub fn element(&self, item: &Value, index: usize) -> Option<&FieldSet> {
        self.children.iter().find_map(|(k, v)| match k {
            PathElement::Key(fields) => fields
                .iter()
                .all(|(f, want)| item.get(f) == Some(want))
                .then_some(v),
            PathElement::Value(want) => (want == item).then_some(v),
            PathElement::Index(i) => (*i == index).then_some(v),
            PathElement::Field(_) => None,
        })
    }

    /// Whether any entry addresses list elements (by key, value or index).
    pub fn has_elements(&self) -> bool {
        self.children
            .iter()
            .any(|(k, _)| !matches!(k, PathElement::Field(_)))
    }

    pub fn parse(value: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        if let Value::Object(map) = value {
            for (key, child) in map {
                if key == "." {
                    continue;
                }
                if let Some(element) = parse_element(key) {
                    set.children.push((element, FieldSet::parse(child)));
                }
            }
        }
        set
    }
}

fn parse_element(key: &str) -> Option<PathElement> {
    let (prefix, rest) = key.split_at_checked(2)?;
    match prefix {
        "f:" => Some(PathElement::Field(rest.to_string())),
        "k:" => serde_json::from_str::<Map<String, Value>>(rest)
            .ok()
            .map(PathElement::Key),
        "v:" => serde_json::from_str(rest).ok().map(PathElement::Value),
        "i:" => rest.parse().ok().map(PathElement::Index),
        _ => None,
    }
}

/// The fields `manager` owns through server-side apply in a live object (empty when none).
pub fn owned_by(live: &Value, manager: &str) -> FieldSet {
    let mut owned = FieldSet::default();
    for entry in entries(live) {
        if is_apply_of(entry, manager)
            && let Some(fields) = entry.get("fieldsV1")
        {
            merge(&mut owned, FieldSet::parse(fields));
        }
    }
    owned
}

/// The fields other managers set imperatively (`Update`: `kubectl edit`, `patch`, `scale`, a
/// script, an operator that does not use server-side apply), per manager, in the object itself
/// (any subresource but `status`, which we never set).
pub fn edited_by_others(live: &Value, manager: &str) -> Vec<(String, FieldSet)> {
    let mut out: Vec<(String, FieldSet)> = Vec::new();
    for entry in entries(live) {
        if !is_imperative_edit(entry, manager) {
            continue;
        }
        let (Some(name), Some(fields)) = (
            entry.get("manager").and_then(Value::as_str),
            entry.get("fieldsV1"),
        ) else {
            continue;
        };
        let set = FieldSet::parse(fields);
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, into)) => merge(into, set),
            None => out.push((name.to_string(), set)),
        }
    }
    out
}

fn entries(live: &Value) -> &[Value] {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn merge(into: &mut FieldSet, from: FieldSet) {
    for (k, v) in from.children {
        merge(into.child_mut(k), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_fields_keys_and_sets() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "postgres-reconciler", "operation": "Apply", "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"postgres\"}": {".": {}, "f:image": {}}
                }}}, "f:finalizers": {"v:\"x\"": {}}}
            }},
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {"f:paused": {}}}},
            {"manager": "postgres-reconciler", "operation": "Apply", "subresource": "status", "fieldsV1": {"f:status": {}}}
        ]}});
        let owned = owned_by(&live, "postgres-reconciler");
        let spec = owned.field("spec").expect("spec");
        assert!(spec.field("replicas").expect("replicas").is_leaf());
        assert!(
            spec.field("paused").is_none(),
            "other managers' fields are not ours"
        );
        assert!(
            owned.field("status").is_none(),
            "status subresource is not the object's fields"
        );
        let containers = spec
            .field("template")
            .and_then(|t| t.field("spec"))
            .and_then(|s| s.field("containers"))
            .expect("containers");
        assert!(containers.has_elements());
        let entry = containers
            .element(&json!({"name": "postgres", "image": "a"}), 0)
            .expect("keyed element");
        assert!(entry.field("image").is_some());
        assert!(containers.element(&json!({"name": "other"}), 0).is_none());
        let fin = spec.field("finalizers").expect("set");
        assert!(fin.element(&json!("x"), 3).is_some());
    }
}
