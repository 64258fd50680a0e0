//! Small edits of JSON documents the tests read back.

use serde_json::Value;

/// Replaces `from` with `to` in every string of `v` (a namespace or UID that stood for another).
pub fn replace_in_strings(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| replace_in_strings(i, from, to)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|i| replace_in_strings(i, from, to)),
        _ => {}
    }
}
