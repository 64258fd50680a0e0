//! What of a live object the plan reads, so that `observe` can drop the rest as each list page
//! arrives: the `managedFields` entries it does not read (it reads our own server-side apply and
//! other managers' imperative edits, which it takes back; of Pods, which we never render, only
//! ours) and the `status` of every kind but StatefulSets and Pods (rollouts read theirs; no other
//! status is compared). A live cluster holds thousands of objects, and the
//! controller-manager's status entries are often most of a StatefulSet's bytes.

use super::managed_fields::{is_apply_of, is_imperative_edit};
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
            let edits_read = kind != "Pod";
            entries.retain(|e| {
                is_apply_of(e, manager) || edits_read && is_imperative_edit(e, manager)
            });
            !entries.is_empty()
        }
        None => true,
    };
    if !keep_entries {
        meta.remove("managedFields");
    }
}

/// The fields of a StatefulSet that tell a rollout's progress (`plan::rollout::progress` and the
/// pod counts of a run's report), as an object of those alone: what the end of a run re-reads.
pub const PROGRESS_FIELDS: &[&str] = &[
    "/metadata/namespace",
    "/metadata/name",
    "/spec/replicas",
    "/status/readyReplicas",
    "/status/updateRevision",
];

/// `object` reduced to the fields at `pointers` (each a path of object keys).
pub fn keep_only(object: &Value, pointers: &[&str]) -> Value {
    let mut kept = serde_json::Map::new();
    for pointer in pointers {
        if let Some(found) = object.pointer(pointer) {
            let keys: Vec<&str> = pointer.split('/').skip(1).collect();
            insert_at(&mut kept, &keys, found.clone());
        }
    }
    Value::Object(kept)
}

fn insert_at(map: &mut serde_json::Map<String, Value>, keys: &[&str], value: Value) {
    match keys {
        [] => {}
        [last] => {
            map.insert(last.to_string(), value);
        }
        [first, rest @ ..] => {
            let child = map
                .entry(first.to_string())
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(child) = child.as_object_mut() {
                insert_at(child, rest, value);
            }
        }
    }
}

/// The update revision of each live StatefulSet, by (namespace, name): a pod already on it is
/// never restarted, so its spec (only an outdated pod's spec is compared with the template, for
/// a restart's reason) is dropped as its page arrives; of 10,000 pods it was 30 MB.
#[derive(Debug, Default)]
pub struct UpdateRevisions(std::collections::BTreeMap<(String, String), String>);

#[derive(serde::Deserialize)]
struct RevisionOf {
    metadata: super::compact::HeadMetadata,
    #[serde(default)]
    status: RevisionStatus,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RevisionStatus {
    update_revision: Option<String>,
}

impl UpdateRevisions {
    pub fn of(objects: &[super::CompactJson]) -> UpdateRevisions {
        let revisions = objects
            .iter()
            .filter(|o| o.head().kind == "StatefulSet")
            .filter_map(|o| {
                let sts: RevisionOf = o.read()?;
                let revision = sts.status.update_revision?;
                Some(((sts.metadata.namespace, sts.metadata.name), revision))
            })
            .collect();
        UpdateRevisions(revisions)
    }

    /// Drops the spec of `pod` when it is on its StatefulSet's update revision.
    pub fn trim_pod(&self, pod: &mut Value) {
        let text = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
        let namespace = text(pod, "/metadata/namespace").unwrap_or_default();
        let owner = pod
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|refs| {
                refs.iter()
                    .find(|r| r.get("kind").and_then(Value::as_str) == Some("StatefulSet"))
            })
            .and_then(|r| text(r, "/name"));
        let revision = text(pod, "/metadata/labels/controller-revision-hash");
        let current = owner
            .and_then(|owner| self.0.get(&(namespace, owner)))
            .is_some_and(|update| Some(update) == revision.as_ref());
        if current && let Some(map) = pod.as_object_mut() {
            map.remove("spec");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fieldset::{edited_by_others, owned_by};
    use serde_json::json;

    fn live() -> Value {
        json!({
            "kind": "Service",
            "metadata": {"name": "x", "managedFields": [
                {"manager": "postgres-reconciler", "operation": "Apply",
                 "fieldsV1": {"f:spec": {"f:ports": {}}}},
                {"manager": "postgres-reconciler", "operation": "Apply", "subresource": "status",
                 "fieldsV1": {"f:status": {}}},
                {"manager": "kubectl-edit", "operation": "Update",
                 "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}},
                {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:loadBalancer": {}}}},
                {"manager": "argocd", "operation": "Apply",
                 "fieldsV1": {"f:spec": {"f:type": {}}}},
            ]},
            "spec": {"ports": [], "clusterIP": "10.0.0.1"},
            "status": {"loadBalancer": {}},
        })
    }

    fn managers(object: &Value) -> Vec<&str> {
        object["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["manager"].as_str())
            .collect()
    }

    #[test]
    fn keeps_our_fields_and_imperative_edits_and_drops_the_rest() {
        let before = live();
        let mut after = before.clone();
        keep_what_the_plan_reads(&mut after, "Service", "postgres-reconciler");
        // What the plan reads is the same.
        assert_eq!(
            owned_by(&after, "postgres-reconciler"),
            owned_by(&before, "postgres-reconciler")
        );
        assert_eq!(
            edited_by_others(&after, "postgres-reconciler"),
            edited_by_others(&before, "postgres-reconciler")
        );
        assert_eq!(managers(&after), ["postgres-reconciler", "kubectl-edit"]);
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
        // Pods are never rendered: nobody's edit of them is taken back.
        let mut pod = live();
        keep_what_the_plan_reads(&mut pod, "Pod", "postgres-reconciler");
        assert_eq!(managers(&pod), ["postgres-reconciler"]);
        // Another manager's object keeps only the imperative edits.
        let mut theirs = live();
        keep_what_the_plan_reads(&mut theirs, "Secret", "someone-else");
        assert_eq!(managers(&theirs), ["kubectl-edit"]);
    }

    #[test]
    fn keep_only_keeps_the_fields_named_and_their_parents() {
        let sts = json!({
            "metadata": {"name": "a", "namespace": "ns", "labels": {"x": "y"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": []}}},
            "status": {"readyReplicas": 1},
        });
        assert_eq!(
            keep_only(&sts, PROGRESS_FIELDS),
            json!({
                "metadata": {"name": "a", "namespace": "ns"},
                "spec": {"replicas": 2},
                "status": {"readyReplicas": 1},
            })
        );
    }

    #[test]
    fn only_a_pod_on_its_statefulsets_update_revision_loses_its_spec() {
        let sts = json!({"kind": "StatefulSet", "metadata": {"namespace": "ns", "name": "acid-a"},
            "status": {"updateRevision": "acid-a-2"}});
        let revisions = UpdateRevisions::of(&[sts.into()]);
        let pod = |revision: &str, owner: &str| {
            json!({"metadata": {"namespace": "ns", "name": "acid-a-0",
                "labels": {"controller-revision-hash": revision},
                "ownerReferences": [{"kind": "StatefulSet", "name": owner}]},
                "spec": {"containers": []}, "status": {"phase": "Running"}})
        };
        let mut current = pod("acid-a-2", "acid-a");
        revisions.trim_pod(&mut current);
        assert_eq!(current.get("spec"), None);
        assert!(current.pointer("/status/phase").is_some());
        for mut kept in [pod("acid-a-1", "acid-a"), pod("acid-a-2", "acid-b")] {
            revisions.trim_pod(&mut kept);
            assert!(kept.get("spec").is_some(), "{kept}");
        }
    }
}
