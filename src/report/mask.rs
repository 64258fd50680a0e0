//! The last line of defence for Secrets: whatever the planner left in a Secret's `data` or
//! `stringData`, the reports print only placeholders. Plans are masked before they get here;
//! this masks again, so that a mistake upstream cannot print a credential.

use crate::plan::ObjectRef;
use crate::state::CompactJson;
use serde_json::Value;

/// What a Secret value looks like in every report.
pub const SENSITIVE: &str = "(sensitive)";
/// A Secret value that differs between before and after, shown on the after side: readers see
/// *whether* a credential changes, never what it is.
pub const SENSITIVE_CHANGED: &str = "(sensitive, changed)";

/// The fields of a Secret that hold values.
const VALUE_FIELDS: [&str; 2] = ["data", "stringData"];
/// kubectl's copy of the whole object, values included.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn is_secret(obj: &ObjectRef) -> bool {
    obj.kind == "Secret"
}

/// A placeholder a planner put there already: `(sensitive)`, `(generated)`, …
fn is_placeholder(value: &Value) -> bool {
    matches!(value, Value::String(s) if s.starts_with('(') && s.ends_with(')'))
}

fn sensitive() -> Value {
    Value::String(SENSITIVE.to_owned())
}

/// `before` and `after` as they may be printed. For a Secret, every value under `data` and
/// `stringData` becomes [`SENSITIVE`] unless it is a placeholder already; on the after side a
/// value that differs from the before side's value for the same key becomes
/// [`SENSITIVE_CHANGED`]. Anything but a Secret passes unchanged.
pub fn mask_secret(
    obj: &ObjectRef,
    before: Option<&Value>,
    after: Option<&Value>,
) -> (Option<Value>, Option<Value>) {
    let mut masked_before = before.cloned();
    let mut masked_after = after.cloned();
    if is_secret(obj) {
        if let Some(doc) = masked_before.as_mut() {
            mask_document(doc, None);
        }
        if let Some(doc) = masked_after.as_mut() {
            mask_document(doc, before);
        }
    }
    (masked_before, masked_after)
}

/// [`mask_secret`] of a plan's bodies, which it holds as text.
pub fn mask_secret_bodies(
    obj: &ObjectRef,
    before: Option<&CompactJson>,
    after: Option<&CompactJson>,
) -> (Option<Value>, Option<Value>) {
    let before = before.map(CompactJson::value);
    let after = after.map(CompactJson::value);
    mask_secret(obj, before.as_ref(), after.as_ref())
}

/// An RFC 6902 patch as JSON, as it may be printed: for a Secret, values written under `data`
/// or `stringData` (or a whole object holding them) are masked.
pub fn mask_patch(obj: &ObjectRef, patch: &json_patch::Patch) -> Value {
    let mut value = serde_json::to_value(patch).unwrap_or(Value::Null);
    if !is_secret(obj) {
        return value;
    }
    match &mut value {
        Value::Array(ops) => {
            for op in ops {
                let path = op
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if let Some(v) = op.get_mut("value") {
                    mask_at(&path, v);
                }
            }
        }
        other => *other = sensitive(),
    }
    value
}

/// Masks a value written at a JSON pointer of a Secret.
fn mask_at(pointer: &str, value: &mut Value) {
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    match segments.as_slice() {
        [] => mask_document(value, None),
        [field] if VALUE_FIELDS.contains(field) => mask_entries(value, None),
        [field, ..] if VALUE_FIELDS.contains(field) && !is_placeholder(value) => {
            *value = sensitive();
        }
        ["metadata"] => mask_last_applied(value.get_mut("annotations")),
        ["metadata", "annotations"] => mask_last_applied(Some(value)),
        ["metadata", "annotations", key] if key.replace("~1", "/") == LAST_APPLIED => {
            *value = sensitive();
        }
        _ => {}
    }
}

/// Masks one Secret document; `other` is the unmasked before side, to mark changed values.
fn mask_document(doc: &mut Value, other: Option<&Value>) {
    let Some(map) = doc.as_object_mut() else {
        if !doc.is_null() {
            *doc = sensitive();
        }
        return;
    };
    for field in VALUE_FIELDS {
        if let Some(entries) = map.get_mut(field) {
            mask_entries(entries, other.and_then(|o| o.get(field)));
        }
    }
    mask_last_applied(
        map.get_mut("metadata")
            .and_then(|m| m.get_mut("annotations")),
    );
}

fn mask_entries(entries: &mut Value, other: Option<&Value>) {
    match entries {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if is_placeholder(value) {
                    continue;
                }
                let changed = other
                    .and_then(|o| o.get(key))
                    .is_some_and(|old| old != value);
                *value = Value::String(
                    if changed {
                        SENSITIVE_CHANGED
                    } else {
                        SENSITIVE
                    }
                    .to_owned(),
                );
            }
        }
        Value::Null => {}
        other => *other = sensitive(),
    }
}

fn mask_last_applied(annotations: Option<&mut Value>) {
    if let Some(value) = annotations.and_then(|a| a.get_mut(LAST_APPLIED)) {
        *value = sensitive();
    }
}
