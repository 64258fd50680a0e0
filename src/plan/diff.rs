//! Comparing what we want with what is live, limited to the fields we own or want to own:
//! server defaults and other managers' fields never count as a change.

use super::fieldset::FieldSet;
use crate::validate::quantity::parse_quantity;
use serde_json::{Map, Value};

/// The part of `live` that `desired` describes or that we own (`owned`), shaped like the live
/// object. A field we own but no longer want appears here and not in `desired`: a change.
pub fn project(live: &Value, desired: Option<&Value>, owned: Option<&FieldSet>) -> Option<Value> {
    // Owning a node as a whole (a leaf in the field set) with nothing desired under it: all of it.
    if desired.is_none() && owned.is_some_and(FieldSet::is_leaf) {
        return Some(live.clone());
    }
    match live {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let d = desired.and_then(|d| d.get(key));
                let o = owned.and_then(|o| o.field(key));
                if d.is_none() && o.is_none() {
                    continue;
                }
                if let Some(v) = project(value, d, o) {
                    out.insert(key.clone(), v);
                }
            }
            if out.is_empty() && !desired.is_some_and(|d| d.as_object().is_some_and(Map::is_empty))
            {
                return desired.is_some().then_some(Value::Object(out));
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => {
            let desired_items = desired.and_then(Value::as_array);
            match list_key(desired_items, owned) {
                Some(key) => {
                    let out: Vec<Value> = items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, item)| {
                            let d = desired_items
                                .and_then(|ds| ds.iter().find(|d| same_key(d, item, &key)));
                            let o = owned.and_then(|o| o.element(item, i));
                            if d.is_none() && o.is_none() {
                                return None;
                            }
                            project(item, d, o)
                        })
                        .collect();
                    Some(Value::Array(out))
                }
                // An atomic list: owned and compared as a whole.
                None => Some(live.clone()),
            }
        }
        scalar => Some(scalar.clone()),
    }
}

/// The field that identifies elements of a list, when it is a map-like list: `name` when every
/// desired element has a distinct one (containers, env, ports, volumes, claim templates…), or
/// the key the live field set uses.
fn list_key(desired: Option<&Vec<Value>>, owned: Option<&FieldSet>) -> Option<String> {
    if let Some(items) = desired
        && !items.is_empty()
    {
        for key in ["name", "mountPath", "uid"] {
            let names: Vec<Option<&Value>> = items.iter().map(|i| key_value(i, key)).collect();
            if names.iter().all(Option::is_some) {
                let mut distinct = names.clone();
                distinct.sort_by_key(|v| v.map(Value::to_string));
                distinct.dedup();
                if distinct.len() == names.len() {
                    return Some(key.to_string());
                }
            }
        }
        return None;
    }
    owned
        .filter(|o| o.has_elements())
        .map(|_| "name".to_string())
}

fn key_value<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    if key == "name" {
        // Claim templates are keyed by metadata.name.
        item.get("name").or_else(|| item.pointer("/metadata/name"))
    } else {
        item.get(key)
    }
}

fn same_key(a: &Value, b: &Value, key: &str) -> bool {
    matches!((key_value(a, key), key_value(b, key)), (Some(x), Some(y)) if x == y)
}

/// Equality as the apiserver sees it: map-like lists in any order, quantities by value
/// (`0.5` is `500m`) under `resources` and `storage`.
pub fn equivalent(a: &Value, b: &Value) -> bool {
    equivalent_at(a, b, false)
}

fn equivalent_at(a: &Value, b: &Value, quantities: bool) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    let q = quantities || k == "resources" || k == "storage" || k == "capacity";
                    y.get(k).is_some_and(|w| equivalent_at(v, w, q))
                })
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return false;
            }
            match list_key(Some(x), None) {
                Some(key) => x.iter().all(|item| {
                    y.iter()
                        .find(|other| same_key(item, other, &key))
                        .is_some_and(|other| equivalent_at(item, other, quantities))
                }),
                None => x
                    .iter()
                    .zip(y)
                    .all(|(v, w)| equivalent_at(v, w, quantities)),
            }
        }
        (Value::String(x), Value::String(y)) if quantities && x != y => {
            matches!((parse_quantity(x), parse_quantity(y)), (Ok(p), Ok(q)) if (p - q).abs() <= f64::EPSILON * p.abs().max(1.0))
        }
        _ => a == b,
    }
}

/// Dotted paths of the leaves an RFC 6902 patch touches: "spec.replicas", "metadata.labels.team".
pub fn changed_paths(patch: &json_patch::Patch) -> Vec<String> {
    let mut paths: Vec<String> = patch
        .0
        .iter()
        .map(|op| {
            let pointer = match op {
                json_patch::PatchOperation::Add(o) => o.path.to_string(),
                json_patch::PatchOperation::Remove(o) => o.path.to_string(),
                json_patch::PatchOperation::Replace(o) => o.path.to_string(),
                json_patch::PatchOperation::Move(o) => o.path.to_string(),
                json_patch::PatchOperation::Copy(o) => o.path.to_string(),
                json_patch::PatchOperation::Test(o) => o.path.to_string(),
            };
            pointer
                .trim_start_matches('/')
                .split('/')
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fieldset::FieldSet;
    use serde_json::json;

    #[test]
    fn defaults_and_foreign_fields_are_left_out() {
        let live = json!({"spec": {"replicas": 2, "revisionHistoryLimit": 10, "paused": true,
        "template": {"spec": {"containers": [
            {"name": "postgres", "image": "a", "terminationMessagePath": "/dev/termination-log"},
            {"name": "sidecar", "image": "injected"}
        ]}}}});
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "postgres", "image": "a"}]}}}});
        let before = project(&live, Some(&desired), None).expect("projection");
        assert!(equivalent(&before, &desired), "{before}");
    }

    #[test]
    fn owned_but_no_longer_wanted_is_shown() {
        let live = json!({"metadata": {"labels": {"team": "a", "old": "x", "foreign": "y"}}});
        let desired = json!({"metadata": {"labels": {"team": "a"}}});
        let owned =
            FieldSet::parse(&json!({"f:metadata": {"f:labels": {"f:team": {}, "f:old": {}}}}));
        let before = project(&live, Some(&desired), Some(&owned)).expect("projection");
        assert_eq!(
            before,
            json!({"metadata": {"labels": {"team": "a", "old": "x"}}})
        );
        assert!(!equivalent(&before, &desired));
    }

    #[test]
    fn quantities_compare_by_value_only_where_they_are_quantities() {
        let a = json!({"resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}}, "env": [{"name": "X", "value": "1"}]});
        let b = json!({"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}, "env": [{"name": "X", "value": "1"}]});
        assert!(equivalent(&a, &b));
        let c = json!({"env": [{"name": "X", "value": "1.0"}]});
        let d = json!({"env": [{"name": "X", "value": "1"}]});
        assert!(!equivalent(&c, &d));
    }

    #[test]
    fn map_like_lists_ignore_order() {
        let a = json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]);
        let b = json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]);
        assert!(equivalent(&a, &b));
        assert!(
            !equivalent(&json!(["x", "y"]), &json!(["y", "x"])),
            "atomic lists keep order"
        );
    }

    #[test]
    fn paths_of_a_patch() {
        let patch = json_patch::diff(
            &json!({"spec": {"replicas": 2}, "metadata": {"labels": {"a/b": "1"}}}),
            &json!({"spec": {"replicas": 3}, "metadata": {"labels": {}}}),
        );
        assert_eq!(
            changed_paths(&patch),
            ["metadata.labels.a/b", "spec.replicas"]
        );
    }
}
