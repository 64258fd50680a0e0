//! Field-by-field differences between two objects, with readable paths: map keys joined by
//! dots (bracketed when they hold dots or slashes), list items by their name where they have
//! one (`containers[postgres].env[SCOPE]`), `SPILO_CONFIGURATION` compared as parsed JSON.

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Difference {
    /// The corpus manifest the object belongs to ("" for shared objects).
    pub manifest: String,
    pub kind: String,
    /// The object's name with its cluster's name replaced by `{cluster}`.
    pub name: String,
    pub path: String,
    pub ours: Option<Value>,
    pub zalando: Option<Value>,
}

/// Fields of list items that identify them, tried in order.
const ITEM_KEYS: &[&str] = &["name", "containerPort", "port", "mountPath"];

pub fn diff(
    ours: Option<&Value>,
    zalando: Option<&Value>,
) -> Vec<(String, Option<Value>, Option<Value>)> {
    let mut out = Vec::new();
    walk(&mut Vec::new(), ours, zalando, &mut out);
    out
}

/// null, {} and [] say "nothing" the same way an absent field does.
fn meaningful(v: Option<&Value>) -> Option<&Value> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(v) => Some(v),
    }
}

fn segment(key: &str) -> String {
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        format!(".{key}")
    } else {
        format!("[{key}]")
    }
}

fn joined(path: &[String]) -> String {
    path.concat().trim_start_matches('.').to_string()
}

fn walk(
    path: &mut Vec<String>,
    a: Option<&Value>,
    b: Option<&Value>,
    out: &mut Vec<(String, Option<Value>, Option<Value>)>,
) {
    let (a, b) = (meaningful(a), meaningful(b));
    match (a, b) {
        (None, None) => {}
        // A map on one side only: its keys one by one, so each difference has its own path.
        (Some(Value::Object(x)), None) => {
            for (k, v) in x {
                path.push(segment(k));
                walk(path, Some(v), None, out);
                path.pop();
            }
        }
        (None, Some(Value::Object(y))) => {
            for (k, v) in y {
                path.push(segment(k));
                walk(path, None, Some(v), out);
                path.pop();
            }
        }
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                path.push(segment(k));
                walk(path, x.get(k), y.get(k), out);
                path.pop();
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => match item_key(x, y) {
            Some(key) => {
                let id = |v: &Value| v.get(key).map(label).unwrap_or_default();
                let mut ids: Vec<String> = x.iter().chain(y.iter()).map(id).collect();
                ids.sort();
                ids.dedup();
                for i in ids {
                    let find = |list: &Vec<Value>| list.iter().find(|v| id(v) == i).cloned();
                    path.push(format!("[{i}]"));
                    walk(path, find(x).as_ref(), find(y).as_ref(), out);
                    path.pop();
                }
                // Order matters for env (later entries may refer to earlier ones) and containers.
                let order = |list: &Vec<Value>| list.iter().map(id).collect::<Vec<_>>();
                let (ox, oy) = (order(x), order(y));
                let same_set = {
                    let (mut sx, mut sy) = (ox.clone(), oy.clone());
                    sx.sort();
                    sy.sort();
                    sx == sy
                };
                if same_set && ox != oy {
                    path.push("(order)".into());
                    out.push((joined(path), Some(ox.into()), Some(oy.into())));
                    path.pop();
                }
            }
            None if x.iter().chain(y.iter()).all(Value::is_object) && x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y.iter()).enumerate() {
                    path.push(format!("[{i}]"));
                    walk(path, Some(p), Some(q), out);
                    path.pop();
                }
            }
            None => {
                if x != y {
                    out.push((joined(path), a.cloned(), b.cloned()));
                }
            }
        },
        (Some(Value::String(x)), Some(Value::String(y))) if x != y && is_json_env(path) => {
            match (
                serde_json::from_str::<Value>(x),
                serde_json::from_str::<Value>(y),
            ) {
                (Ok(px), Ok(py)) => {
                    path.push("{json}".into());
                    walk(path, Some(&px), Some(&py), out);
                    path.pop();
                }
                _ => out.push((joined(path), a.cloned(), b.cloned())),
            }
        }
        (Some(x), Some(y)) if x == y => {}
        _ => out.push((joined(path), a.cloned(), b.cloned())),
    }
}

fn is_json_env(path: &[String]) -> bool {
    let p = path.concat();
    p.ends_with("[SPILO_CONFIGURATION].value")
}

fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The field that names the items of both lists, if every item has it and no two share it.
fn item_key(x: &[Value], y: &[Value]) -> Option<&'static str> {
    ITEM_KEYS.iter().copied().find(|key| {
        [x, y].iter().all(|list| {
            let ids: Vec<String> = list.iter().filter_map(|v| v.get(*key).map(label)).collect();
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            ids.len() == list.len()
                && unique.len() == ids.len()
                && list.iter().all(Value::is_object)
        })
    })
}

/// A value short enough for a table cell.
pub fn cell(v: &Option<Value>) -> String {
    let text = match v {
        None => "(absent)".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if text.chars().count() > 70 {
        format!("{}…", text.chars().take(69).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_items_and_json_env() {
        let a = json!({"containers": [{"name": "postgres", "env": [
            {"name": "A", "value": "1"},
            {"name": "SPILO_CONFIGURATION", "value": "{\"b\":{\"x\":1}}"}]}],
            "labels": {"app.kubernetes.io/x": "y"}, "empty": {}});
        let b = json!({"containers": [{"name": "postgres", "env": [
            {"name": "A", "value": "2"},
            {"name": "SPILO_CONFIGURATION", "value": "{\"b\":{\"x\":2}}"}]}]});
        let d = diff(Some(&a), Some(&b));
        let paths: Vec<&str> = d.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "containers[postgres].env[A].value",
                "containers[postgres].env[SPILO_CONFIGURATION].value{json}.b.x",
                "labels[app.kubernetes.io/x]"
            ]
        );
    }

    #[test]
    fn order_of_named_items_is_a_difference() {
        let a = json!({"env": [{"name": "A"}, {"name": "B"}]});
        let b = json!({"env": [{"name": "B"}, {"name": "A"}]});
        let d = diff(Some(&a), Some(&b));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "env(order)");
    }

    #[test]
    fn a_map_on_one_side_is_compared_key_by_key() {
        let a = json!({"metadata": {"annotations": {"x": "1", "y": "2"}}});
        let b = json!({"metadata": {}});
        let paths: Vec<String> = diff(Some(&a), Some(&b)).into_iter().map(|d| d.0).collect();
        assert_eq!(paths, ["metadata.annotations.x", "metadata.annotations.y"]);
    }
}
