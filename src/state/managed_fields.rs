//! Which `managedFields` entries of a live object are which: our own server-side apply, or
//! another manager's imperative edit. `trim` keeps exactly these; `plan::fieldset` reads them.

use serde_json::Value;

/// `manager`'s server-side apply of the object itself (not a subresource).
pub fn is_apply_of(entry: &Value, manager: &str) -> bool {
    entry.get("manager").and_then(Value::as_str) == Some(manager)
        && entry.get("operation").and_then(Value::as_str) == Some("Apply")
        && entry
            .get("subresource")
            .is_none_or(|s| s.as_str() == Some(""))
}

/// Another manager's `Update` of the object's own fields.
pub fn is_imperative_edit(entry: &Value, manager: &str) -> bool {
    entry.get("manager").and_then(Value::as_str) != Some(manager)
        && entry.get("operation").and_then(Value::as_str) == Some("Update")
        && entry.get("subresource").and_then(Value::as_str) != Some("status")
}
