//! Approved plans: the actions of a manifest that wait for a reviewer's approval (the classes in
//! `require_approval`), and the digest a reviewer approves them by. The digest depends only on
//! what would change (targets, operations, reasons, patches, statements), never on identities,
//! resource versions, timestamps or addresses, so `plan -f` on a pull request and the run after
//! its merge compute the same one for the same change.

use super::{Action, Change, Op, Risk, Target};
use crate::render::{Desired, ManifestRef};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A manifest annotated with this digest lets `apply` run its approval-gated actions while what
/// it would do still has that digest.
pub const APPROVED_PLAN_ANNOTATION: &str = "postgres-reconciler.io/approved-plan";

/// What needs approval, by kind of action (`require_approval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalClass {
    /// Delete and create again (an immutable field changed).
    Replace,
    /// What loses data or identity otherwise: DROP statements, deleting a credential Secret,
    /// a claim or a StatefulSet, dropping a replication slot.
    Drop,
    /// Pod restarts, switchovers and PostgreSQL restarts through Patroni.
    Restart,
    /// Logins stopped and attributes revoked.
    Nologin,
}

impl ApprovalClass {
    pub fn name(self) -> &'static str {
        match self {
            ApprovalClass::Replace => "replace",
            ApprovalClass::Drop => "drop",
            ApprovalClass::Restart => "restart",
            ApprovalClass::Nologin => "nologin",
        }
    }
}

/// The class of an action, if it is one that can need approval.
pub fn class_of(action: &Action) -> Option<ApprovalClass> {
    match (action.op, action.risk, &action.target) {
        (Op::Replace, Risk::Destructive, _) => Some(ApprovalClass::Replace),
        (Op::Restart, _, _) => Some(ApprovalClass::Restart),
        (_, Risk::Disruptive, Target::Patroni { .. }) => Some(ApprovalClass::Restart),
        (_, Risk::Disruptive, Target::Sql { .. }) => Some(ApprovalClass::Nologin),
        (_, Risk::Destructive, _) => Some(ApprovalClass::Drop),
        _ => None,
    }
}

/// One manifest's actions that need approval, and their digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    pub manifest: ManifestRef,
    /// `sha256:` and 64 hex digits: the value of the approval annotation.
    pub digest: String,
    /// How many actions of each class.
    pub classes: BTreeMap<String, usize>,
    /// The actions, as the plan names them ("replace StatefulSet ns/x").
    pub actions: Vec<String>,
}

/// The approvals a plan needs: per manifest that exists and is not being deleted (a manifest's
/// removal or deletion is itself the ask for what follows from it), the actions whose class is
/// required to be approved.
pub fn approvals(
    actions: &[Action],
    reviewable: impl Fn(&ManifestRef) -> bool,
    required: &[ApprovalClass],
) -> Vec<Approval> {
    let mut by_manifest: BTreeMap<(String, String, String), (ManifestRef, Vec<&Action>)> =
        BTreeMap::new();
    for action in actions {
        let Some(manifest) = &action.manifest else {
            continue;
        };
        if !needs_approval(action, required) {
            continue;
        }
        if !reviewable(manifest) {
            continue;
        }
        by_manifest
            .entry((
                manifest.kind.clone(),
                manifest.namespace.clone(),
                manifest.name.clone(),
            ))
            .or_insert_with(|| (manifest.clone(), Vec::new()))
            .1
            .push(action);
    }
    by_manifest
        .into_values()
        .map(|(manifest, gated)| {
            let mut classes = BTreeMap::new();
            for a in &gated {
                if let Some(c) = class_of(a) {
                    *classes.entry(c.name().to_string()).or_insert(0) += 1;
                }
            }
            Approval {
                digest: digest(&gated),
                classes,
                actions: gated
                    .iter()
                    .map(|a| crate::report::action_label(a))
                    .collect(),
                manifest,
            }
        })
        .collect()
}

/// Why a manifest's gated actions wait, or None when they may run: approved with exactly this
/// digest, allowed wholesale (`allowed`: `--allow-destructive` or its annotation), or none to
/// approve.
pub fn held_for_approval(
    approval: Option<&Approval>,
    approved: Option<&str>,
    allowed: bool,
) -> Option<String> {
    let digest = approval?.digest.as_str();
    if allowed || approved == Some(digest) {
        return None;
    }
    Some(match approved {
        None => format!(
            "this plan's digest is {digest}; annotate the manifest \
             {APPROVED_PLAN_ANNOTATION}: {digest} to apply it (or {}: \"true\" for any)",
            crate::render::ALLOW_DESTRUCTIVE_ANNOTATION
        ),
        Some(other) => format!(
            "the approved digest is {other}, this plan's is {digest} \
             (the manifest or what it owns changed since the review)"
        ),
    })
}

/// The skip message of one held action: its reason, then why it waits.
pub fn held_action(action: &Action, why: &str) -> String {
    format!(
        "{} ({}): {why}",
        crate::report::outcome::HELD_FOR_APPROVAL,
        crate::report::one_line(&action.reason)
    )
}

pub fn needs_approval(action: &Action, required: &[ApprovalClass]) -> bool {
    class_of(action).is_some_and(|c| required.contains(&c))
}

/// The manifests of `desired` that are there and not being deleted: those a reviewer can annotate.
pub fn reviewable_in(desired: &Desired) -> impl Fn(&ManifestRef) -> bool + '_ {
    |r: &ManifestRef| {
        desired.manifests.iter().any(|m| {
            !m.deleting
                && (&m.manifest.kind, &m.manifest.namespace, &m.manifest.name)
                    == (&r.kind, &r.namespace, &r.name)
        })
    }
}

/// The digest of the gated actions, in plan order.
pub fn digest(actions: &[&Action]) -> String {
    let stable: Vec<Value> = actions.iter().map(|a| stable_form(a)).collect();
    // Serializing plain JSON values cannot fail.
    let bytes = serde_json::to_vec(&stable).unwrap_or_default();
    let hash = Sha256::digest(&bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// What an action changes, without what differs between two observations of the same state:
/// object identities and versions, pod UIDs, Patroni's addresses.
fn stable_form(action: &Action) -> Value {
    let change = match &action.change {
        Change::Object { patch, after, .. } => json!({"patch": patch, "after": after}),
        Change::Sql { statements } => json!({"statements": statements}),
        Change::Restart {
            switchover, delete, ..
        } => json!({
            "switchover": switchover.as_ref().map(|s| json!([s.leader, s.candidate])),
            "delete": delete,
        }),
        Change::PatroniConfig { patch, .. } => json!({"patroniConfig": patch}),
        Change::PatroniRestart { .. } => json!({"patroniRestart": true}),
        // Not the rotation date: it holds the time of the run.
        Change::SecretRotation(r) => json!({"rotation": {
            "username": r.after.username,
            "newPassword": r.new_password,
        }}),
    };
    json!({
        "target": action.target,
        "op": action.op,
        "reason": action.reason,
        "change": change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ObjectRef;

    fn manifest(name: &str) -> ManifestRef {
        ManifestRef {
            kind: "postgresql".into(),
            namespace: "ns".into(),
            name: name.into(),
            uid: Some("uid-1".into()),
            generation: Some(3),
        }
    }

    fn action(name: &str, op: Op, risk: Risk, uid: &str) -> Action {
        Action {
            manifest: Some(manifest(name)),
            target: Target::Object(ObjectRef {
                api_version: "apps/v1".into(),
                kind: "StatefulSet".into(),
                namespace: "ns".into(),
                name: name.into(),
            }),
            op,
            risk,
            reason: "immutable field changed: spec.volumeClaimTemplates".into(),
            change: Change::Object {
                before: Some(json!({"a": 1}).into()),
                after: Some(json!({"a": 2}).into()),
                patch: None,
                uid: Some(uid.into()),
                resource_version: Some(format!("rv-{uid}")),
                apply_body: None,
                take_over: false,
            },
        }
    }

    #[test]
    fn the_digest_ignores_identities_and_follows_the_change() {
        let a = action("acid-a", Op::Replace, Risk::Destructive, "u1");
        let same_elsewhere = action("acid-a", Op::Replace, Risk::Destructive, "u2");
        assert_eq!(digest(&[&a]), digest(&[&same_elsewhere]));
        let mut other = a.clone();
        other.reason = "immutable field changed: spec.selector".into();
        assert_ne!(digest(&[&a]), digest(&[&other]));
        assert!(digest(&[&a]).starts_with("sha256:") && digest(&[&a]).len() == 71);
    }

    #[test]
    fn only_required_classes_of_manifests_not_being_deleted_need_approval() {
        let replace = action("acid-a", Op::Replace, Risk::Destructive, "u1");
        let update = action("acid-a", Op::Update, Risk::Safe, "u1");
        let restart = Action {
            op: Op::Restart,
            risk: Risk::Disruptive,
            ..action("acid-a", Op::Restart, Risk::Disruptive, "u1")
        };
        let deleting = action("acid-gone", Op::Replace, Risk::Destructive, "u3");
        let reviewable = |m: &ManifestRef| m.name != "acid-gone";
        let actions = [replace.clone(), update, restart, deleting];
        let needed = approvals(
            &actions,
            reviewable,
            &[ApprovalClass::Replace, ApprovalClass::Drop],
        );
        assert_eq!(needed.len(), 1, "{needed:?}");
        assert_eq!(needed[0].manifest.name, "acid-a");
        assert_eq!(needed[0].actions, ["replace StatefulSet ns/acid-a"]);
        assert_eq!(
            needed[0].classes,
            BTreeMap::from([("replace".to_string(), 1)])
        );
        assert_eq!(needed[0].digest, digest(&[&replace]));
        let with_restarts = approvals(&actions, reviewable, &[ApprovalClass::Restart]);
        assert_eq!(
            with_restarts[0].classes,
            BTreeMap::from([("restart".to_string(), 1)])
        );
    }

    #[test]
    fn held_unless_approved_with_exactly_this_digest_or_allowed() {
        let a = action("acid-a", Op::Replace, Risk::Destructive, "u1");
        let needed = approvals(
            std::slice::from_ref(&a),
            |_| true,
            &[ApprovalClass::Replace],
        );
        let approval = needed.first();
        let digest = needed[0].digest.clone();
        assert_eq!(held_for_approval(approval, Some(&digest), false), None);
        assert_eq!(held_for_approval(approval, None, true), None);
        assert_eq!(
            held_for_approval(None, None, false),
            None,
            "nothing to approve"
        );
        let none = held_for_approval(approval, None, false).expect("held");
        assert!(
            none.contains(&format!("{APPROVED_PLAN_ANNOTATION}: {digest}")),
            "{none}"
        );
        let stale = held_for_approval(approval, Some("sha256:old"), false).expect("held");
        assert!(
            stale.contains(&format!(
                "the approved digest is sha256:old, this plan's is {digest}"
            )),
            "{stale}"
        );
        assert!(held_action(&a, &stale).starts_with("held for approval (immutable field changed"));
    }
}
