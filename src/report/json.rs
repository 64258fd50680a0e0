//! The plan for machines, shaped like `terraform show -json`: a `format_version`, the counts,
//! then every action with the same fields (null where a field does not apply), invalid
//! manifests and unknown parts. Keys sorted, pretty-printed, byte-for-byte deterministic.

use super::{Ordered, mask_patch, mask_secret_bodies, op_name, risk_name};
use crate::plan::{Action, Change, FORMAT_VERSION, Plan, Target};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Value, json};

/// The plan as pretty-printed JSON with sorted keys, ending with a line break.
///
/// Every action has `op`, `risk`, `reason`, `manifest` (null for shared objects), `target`
/// (`{"type": "object", apiVersion, kind, namespace, name}` or `{"type": "sql", server,
/// database, object}`), `before`, `after` and `patch` (objects; null otherwise) and
/// `statements` (SQL as printed; null for objects).
pub fn json(plan: &Plan) -> String {
    let mut out = Vec::new();
    json_to(plan, &mut out).unwrap_or_else(|e| {
        out = json!({ "error": e.to_string() }).to_string().into_bytes();
    });
    String::from_utf8(out).unwrap_or_default()
}

/// [`json`], written to `out` action by action: a plan of many thousand actions is never held
/// twice in memory (as a document and as its text).
pub fn json_to(plan: &Plan, out: &mut impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &Document { plan })?;
    out.write_all(b"\n")
}

/// The document, keys in sorted order; each action is built only when it is written.
struct Document<'a> {
    plan: &'a Plan,
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let plan = self.plan;
        let summary = plan.summary();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("actions", &Actions(&plan.actions))?;
        if !plan.approvals.is_empty() {
            let approvals: Value = plan
                .approvals
                .iter()
                .map(|a| {
                    json!({"manifest": to_value(&a.manifest), "annotation": crate::plan::approval::APPROVED_PLAN_ANNOTATION,
                           "digest": a.digest, "classes": a.classes, "actions": a.actions})
                })
                .collect();
            map.serialize_entry("approvals", &Ordered::plain(&approvals))?;
        }
        map.serialize_entry("format_version", FORMAT_VERSION)?;
        if !plan.held.is_empty() {
            let held: Value = plan
                .held
                .iter()
                .map(|h| json!({"manifest": to_value(&h.manifest), "reason": h.reason, "lazy": h.lazy}))
                .collect();
            map.serialize_entry("held", &Ordered::plain(&held))?;
        }
        let invalid: Value = plan
            .invalid
            .iter()
            .map(|i| json!({"manifest": i.manifest, "errors": i.errors}))
            .collect();
        map.serialize_entry("invalid", &Ordered::plain(&invalid))?;
        let summary = json!({
            "create": summary.create,
            "update": summary.update,
            "replace": summary.replace,
            "delete": summary.delete,
            "sql": summary.sql,
            "restart": summary.restart,
            "total": summary.total(),
            "destructive": plan.destructive().count(),
        });
        map.serialize_entry("summary", &Ordered::plain(&summary))?;
        let unknown: Value = plan
            .unknown
            .iter()
            .map(|u| json!({"manifest": to_value(&u.manifest), "part": u.part, "reason": u.reason}))
            .collect();
        map.serialize_entry("unknown", &Ordered::plain(&unknown))?;
        map.end()
    }
}

struct Actions<'a>(&'a [Action]);

impl Serialize for Actions<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for a in self.0 {
            seq.serialize_element(&Ordered::plain(&action(a)))?;
        }
        seq.end()
    }
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
            let (before, after) = mask_secret_bodies(obj, before.as_ref(), after.as_ref());
            let patch = patch.as_ref().map(|p| mask_patch(obj, p));
            (before, after, patch, None)
        }
        // An object change aimed at a SQL target: what it holds is not known to be safe.
        (Change::Object { .. }, Target::Sql { .. } | Target::Patroni { .. }) => {
            (None, None, None, None)
        }
        // A restart: its reason says everything.
        (Change::Restart { .. } | Change::PatroniRestart { .. }, _) => (None, None, None, None),
        // Patroni's dynamic configuration after the PATCH (it holds no secrets).
        (Change::PatroniConfig { patch, .. }, _) => (None, Some(patch.clone()), None, None),
        (Change::SecretRotation(r), _) => {
            let (before, after) = r.shown();
            (Some(before), Some(after), None, None)
        }
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
