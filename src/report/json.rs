//! The plan for machines, shaped like `terraform show -json`: a `format_version`, the counts,
//! then every action with the same fields (null where a field does not apply), invalid
//! manifests and unknown parts. Keys sorted, pretty-printed, byte-for-byte deterministic.

use super::{Ordered, mask_patch, mask_secret, op_name, risk_name};
use crate::plan::{Action, Change, FORMAT_VERSION, Plan, Target};
use serde_json::{Value, json};

/// The plan as pretty-printed JSON with sorted keys, ending with a line break.
///
/// Every action has `op`, `risk`, `reason`, `manifest` (null for shared objects), `target`
/// (`{"type": "object", apiVersion, kind, namespace, name}` or `{"type": "sql", server,
/// database, object}`), `before`, `after` and `patch` (objects; null otherwise) and
/// `statements` (SQL as printed; null for objects).
pub fn json(plan: &Plan) -> String {
    let summary = plan.summary();
    let document = json!({
        "format_version": FORMAT_VERSION,
        "summary": {
            "create": summary.create,
            "update": summary.update,
            "replace": summary.replace,
            "delete": summary.delete,
            "sql": summary.sql,
            "restart": summary.restart,
            "total": summary.total(),
            "destructive": plan.destructive().count(),
        },
        "actions": plan.actions.iter().map(action).collect::<Vec<_>>(),
        "invalid": plan.invalid.iter().map(|i| json!({
            "manifest": i.manifest,
            "errors": i.errors,
        })).collect::<Vec<_>>(),
        "unknown": plan.unknown.iter().map(|u| json!({
            "manifest": to_value(&u.manifest),
            "part": u.part,
            "reason": u.reason,
        })).collect::<Vec<_>>(),
    });
    let mut document = document;
    if !plan.held.is_empty() {
        document["held"] = plan
            .held
            .iter()
            .map(|h| json!({"manifest": to_value(&h.manifest), "reason": h.reason}))
            .collect();
    }
    let mut out = serde_json::to_string_pretty(&Ordered::plain(&document))
        .unwrap_or_else(|e| json!({ "error": e.to_string() }).to_string());
    out.push('\n');
    out
}

fn action(a: &Action) -> Value {
    let (before, after, patch, statements) = match (&a.change, &a.target) {
        (
            Change::Object {
                before,
                after,
                patch,
                ..
            },
            Target::Object(obj),
        ) => {
            let (before, after) = mask_secret(obj, before.as_ref(), after.as_ref());
            let patch = patch.as_ref().map(|p| mask_patch(obj, p));
            (before, after, patch, None)
        }
        // An object change aimed at a SQL target: what it holds is not known to be safe.
        (Change::Object { .. }, Target::Sql { .. }) => (None, None, None, None),
        // A restart: its reason says everything.
        (Change::Restart { .. }, _) => (None, None, None, None),
        (Change::Sql { statements }, _) => (
            None,
            None,
            None,
            Some(statements.iter().map(|s| s.display()).collect::<Vec<_>>()),
        ),
    };
    json!({
        "op": op_name(a.op),
        "risk": risk_name(a.risk),
        "reason": a.reason,
        "manifest": a.manifest.as_ref().map(to_value),
        "target": to_value(&a.target),
        "before": before,
        "after": after,
        "patch": patch,
        "statements": statements,
    })
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
