//! Imperative edits of fields we set: a `kubectl edit`/`patch`/`scale`, a script, an operator
//! that does not use server-side apply. Such an edit makes its manager the field's owner, so our
//! next apply of the manifest's value is a conflict. The manifest is the source of truth: the
//! plan takes those fields back (server-side apply with `force`) and says from whom. Another
//! declarative manager's fields (its own server-side apply) stay a conflict to report: two
//! sources of truth for one field is for a person to settle (`force_conflicts`).

use super::fieldset::{FieldSet, edited_by_others};
use serde_json::Value;

/// The managers whose imperative edits hold a field `body` sets at another value than `body`'s.
pub fn editors_to_take_back(body: &Value, live: &Value, manager: &str) -> Vec<String> {
    edited_by_others(live, manager)
        .into_iter()
        .filter(|(_, fields)| holds_other_value(body, Some(live), fields))
        .map(|(name, _)| name)
        .collect()
}

/// Whether `fields` owns a place where `live` differs from `want`.
fn holds_other_value(want: &Value, live: Option<&Value>, fields: &FieldSet) -> bool {
    match want {
        Value::Object(map) => map.iter().any(|(key, w)| {
            let Some(owned) = fields.field(key) else {
                return false;
            };
            let l = live.and_then(|l| l.get(key));
            if owned.is_leaf() {
                l != Some(w)
            } else {
                holds_other_value(w, l, owned)
            }
        }),
        Value::Array(items) if fields.has_elements() => {
            let live_items = live.and_then(Value::as_array);
            items.iter().enumerate().any(|(i, w)| {
                // A leaf element entry owns the element's existence only: no value to differ.
                let Some(owned) = fields.element(w, i).filter(|o| !o.is_leaf()) else {
                    return false;
                };
                let l = live_items.and_then(|ls| {
                    ls.iter().enumerate().find_map(|(j, l)| {
                        fields
                            .element(l, j)
                            .is_some_and(|o| std::ptr::eq(o, owned))
                            .then_some(l)
                    })
                });
                holds_other_value(w, l, owned)
            })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live(entries: Value) -> Value {
        json!({
            "metadata": {"labels": {"team": "edited", "app": "x"}, "managedFields": entries},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "postgres", "image": "edited:1"},
                {"name": "exporter", "image": "e:1"},
            ]}}},
        })
    }

    fn want() -> Value {
        json!({
            "metadata": {"labels": {"team": "acid", "app": "x"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "postgres", "image": "spilo:4"},
                {"name": "exporter", "image": "e:1"},
            ]}}},
        })
    }

    #[test]
    fn an_edit_to_another_value_is_taken_back_from_its_editor() {
        let object = live(json!([
            {"manager": "postgres-reconciler", "operation": "Apply",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}},
            {"manager": "kubectl-edit", "operation": "Update",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}},
            {"manager": "kubectl", "operation": "Update", "subresource": "scale",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl-patch", "operation": "Update",
             "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                 "k:{\"name\":\"postgres\"}": {"f:image": {}}}}}}}},
        ]));
        assert_eq!(
            editors_to_take_back(&want(), &object, "postgres-reconciler"),
            ["kubectl-edit", "kubectl", "kubectl-patch"]
        );
    }

    #[test]
    fn an_edit_that_agrees_a_status_write_and_a_declarative_manager_are_not_taken_back() {
        let object = live(json!([
            // Sets what we want: shared ownership, no conflict.
            {"manager": "kubectl-label", "operation": "Update",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
                          "f:spec": {"f:template": {"f:spec": {"f:containers": {
                              "k:{\"name\":\"exporter\"}": {".": {}, "f:image": {}}}}}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "argocd-controller", "operation": "Apply",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}},
            // Owns a field we do not set.
            {"manager": "kubectl-annotate", "operation": "Update",
             "fieldsV1": {"f:metadata": {"f:annotations": {"f:note": {}}}}},
        ]));
        assert!(editors_to_take_back(&want(), &object, "postgres-reconciler").is_empty());
    }
}
