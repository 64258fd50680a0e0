//! What of a live object the plan reads, so that `observe` can drop the rest as each list page
//! arrives: other managers' `managedFields` entries (the plan reads only the fields our own
//! server-side apply owns) and the `status` of every kind but StatefulSets and Pods (rollouts
//! read theirs; no other status is compared). A live cluster holds thousands of objects, and the
//! controller-manager's status entries are often most of a StatefulSet's bytes.

use serde_json::Value;

/// The kinds whose status the plan reads.
const STATUS_READ: &[&str] = &["StatefulSet", "Pod"];

/// Keeps of `object` (of `kind`) only what the plan reads; `manager` is our field manager.
pub fn keep_what_the_plan_reads(object: &mut Value, kind: &str, manager: &str) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    if !STATUS_READ.contains(&kind) {
        map.remove("status");
    }
    let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let keep_entries = match meta.get_mut("managedFields").and_then(Value::as_array_mut) {
        Some(entries) => {
            entries.retain(|e| is_our_apply(e, manager));
            !entries.is_empty()
        }
        None => true,
    };
    if !keep_entries {
        meta.remove("managedFields");
    }
}

/// An entry of ours that [`crate::plan::fieldset::owned_by`] reads: our manager's Apply of the
/// main resource.
fn is_our_apply(entry: &Value, manager: &str) -> bool {
    entry.get("manager").and_then(Value::as_str) == Some(manager)
        && entry.get("operation").and_then(Value::as_str) == Some("Apply")
        && entry
            .get("subresource")
            .is_none_or(|s| s.as_str() == Some(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fieldset::owned_by;
    use serde_json::json;

    fn live() -> Value {
        json!({
            "kind": "Service",
            "metadata": {"name": "x", "managedFields": [
                {"manager": "postgres-reconciler", "operation": "Apply",
                 "fieldsV1": {"f:spec": {"f:ports": {}}}},
                {"manager": "postgres-reconciler", "operation": "Apply", "subresource": "status",
                 "fieldsV1": {"f:status": {}}},
                {"manager": "kube-controller-manager", "operation": "Update",
                 "fieldsV1": {"f:spec": {"f:clusterIP": {}}}},
            ]},
            "spec": {"ports": [], "clusterIP": "10.0.0.1"},
            "status": {"loadBalancer": {}},
        })
    }

    #[test]
    fn keeps_our_fields_and_drops_the_rest() {
        let before = live();
        let mut after = before.clone();
        keep_what_the_plan_reads(&mut after, "Service", "postgres-reconciler");
        // What the plan reads is the same.
        assert_eq!(
            owned_by(&after, "postgres-reconciler"),
            owned_by(&before, "postgres-reconciler")
        );
        assert_eq!(
            after["metadata"]["managedFields"].as_array().map(Vec::len),
            Some(1)
        );
        assert!(after.get("status").is_none());
        assert_eq!(after["spec"], before["spec"]);
    }

    #[test]
    fn rollouts_keep_the_status_they_read() {
        for kind in ["StatefulSet", "Pod"] {
            let mut object = live();
            keep_what_the_plan_reads(&mut object, kind, "postgres-reconciler");
            assert!(object.get("status").is_some(), "{kind}");
        }
        // Another manager's object keeps no managedFields at all.
        let mut theirs = live();
        keep_what_the_plan_reads(&mut theirs, "Secret", "someone-else");
        assert!(theirs["metadata"].get("managedFields").is_none());
    }
}
