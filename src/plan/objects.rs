//! Kubernetes objects: create, update (server-side apply), replace, or nothing; and deletes of
//! objects that are ours by label but no longer wanted.

use super::diff::{changed_paths, equivalent, project};
use super::edits::editors_to_take_back;
use super::fieldset::owned_by;
use super::{Action, Change, ObjectRef, Op, Risk, Target};
use crate::render::{ApplyPolicy, DesiredObject, ManifestRef};
use crate::state::CompactJson;
use serde_json::Value;

pub fn object_ref(o: &DesiredObject) -> ObjectRef {
    ObjectRef {
        api_version: o.api_version.clone(),
        kind: o.kind.clone(),
        namespace: o.namespace.clone(),
        name: o.name.clone(),
    }
}

/// The identity of a live object, as listed.
pub fn live_ref(live: &Value) -> Option<ObjectRef> {
    let s = |p: &str| live.pointer(p).and_then(Value::as_str).map(str::to_string);
    Some(ObjectRef {
        api_version: s("/apiVersion")?,
        kind: s("/kind")?,
        namespace: s("/metadata/namespace").unwrap_or_default(),
        name: s("/metadata/name")?,
    })
}

/// The identity of a live object kept as text, read from its head alone.
pub fn head_ref(live: &CompactJson) -> Option<ObjectRef> {
    let head = live.head();
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    Some(ObjectRef {
        api_version: non_empty(head.api_version)?,
        kind: non_empty(head.kind)?,
        namespace: head.metadata.namespace,
        name: non_empty(head.metadata.name)?,
    })
}

/// Fields that only identify an object; they never change and would only add noise to diffs.
fn without_identity(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("name");
            meta.remove("namespace");
            if meta.is_empty() {
                map.remove("metadata");
            }
        }
    }
    v
}

/// StatefulSet spec fields the apiserver lets an update change; any other change needs a replace.
const STATEFULSET_MUTABLE: &[&str] = &[
    "spec.replicas",
    "spec.template",
    "spec.updateStrategy",
    "spec.persistentVolumeClaimRetentionPolicy",
    "spec.minReadySeconds",
    "spec.ordinals",
    "spec.revisionHistoryLimit",
];

fn immutable_paths(kind: &str, paths: &[String]) -> Vec<String> {
    let blocked = |p: &String| match kind {
        "StatefulSet" => {
            p.starts_with("spec.")
                && !STATEFULSET_MUTABLE
                    .iter()
                    .any(|m| p == m || p.starts_with(&format!("{m}.")))
        }
        "Secret" => p == "type",
        "RoleBinding" => p.starts_with("roleRef"),
        "PersistentVolumeClaim" => {
            p.starts_with("spec.") && !p.starts_with("spec.resources.requests")
        }
        _ => false,
    };
    paths.iter().filter(|p| blocked(p)).cloned().collect()
}

fn describe(paths: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut s = paths
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        s.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    s
}

/// A StatefulSet's pod template changes, in words ("; pod template: container exporter added,
/// …"); nothing for other kinds or when the template stays.
fn pod_template_words(before: &Value, after: &Value) -> String {
    use super::template_changes::{Compare, template_changes};
    const SPEC: &str = "/spec/template/spec";
    let (Some(b), Some(a)) = (before.pointer(SPEC), after.pointer(SPEC)) else {
        return String::new();
    };
    let changes = template_changes(b, a, Compare::Templates);
    if changes.is_empty() {
        return String::new();
    }
    format!("; pod template: {}", changes.join(", "))
}

/// The action that brings `live` to `desired`, or None when it is already there.
pub fn plan_object(
    manifest: Option<&ManifestRef>,
    desired: &DesiredObject,
    live: Option<&Value>,
    field_manager: &str,
) -> Option<Action> {
    plan_object_as(manifest, desired, live, field_manager, Edits::TakeBack)
}

/// Whether other managers' imperative edits are named and taken back: not in an object another
/// operator made (all its fields are that operator's; the adoption takes them all) nor in a
/// claim (its size is the StatefulSet controller's, from our template).
#[derive(Clone, Copy, PartialEq)]
enum Edits {
    TakeBack,
    Adopting,
}

fn plan_object_as(
    manifest: Option<&ManifestRef>,
    desired: &DesiredObject,
    live: Option<&Value>,
    field_manager: &str,
    edits: Edits,
) -> Option<Action> {
    let target = Target::Object(object_ref(desired));
    let body = desired.body.value();
    let after = mask(&desired.kind, without_identity(&body), desired.policy);
    let Some(live) = live else {
        if desired.policy == ApplyPolicy::UpdateOnly {
            return None; // made by its StatefulSet, with the size of the template
        }
        return Some(Action {
            manifest: manifest.cloned(),
            target,
            op: Op::Create,
            risk: Risk::Safe,
            reason: match desired.policy {
                ApplyPolicy::CreateOnly => "absent; created with a generated password".into(),
                _ => "absent".into(),
            },
            change: Change::Object {
                before: None,
                after: Some(after.into()),
                patch: None,
                uid: None,
                resource_version: None,
                apply_body: None,
                take_over: false,
            },
        });
    };
    // A credential Secret, once there, is never touched: its password is the source of truth.
    if desired.policy == ApplyPolicy::CreateOnly {
        return None;
    }
    // A StatefulSet keeps the claim sizes it has; the claims themselves grow (their own actions).
    let kept_sizes = (desired.kind == "StatefulSet")
        .then(|| keep_live_claim_sizes(&body, live))
        .filter(|kept| *kept != body);
    let after = match &kept_sizes {
        Some(body) => mask(&desired.kind, without_identity(body), desired.policy),
        None => after,
    };
    let owned = owned_by(live, field_manager);
    let mut before =
        project(&without_identity(live), Some(&after), Some(&owned)).unwrap_or(Value::Null);
    // Masked as `after` is; a change of such a value still changes the pod template's hash.
    super::sensitive_env::mask(&desired.kind, &mut before);
    if equivalent(&before, &after) {
        return None;
    }
    let patch = json_patch::diff(&before, &after);
    let paths = changed_paths(&patch);
    let immutable = immutable_paths(&desired.kind, &paths);
    let meta = |p: &str| live.pointer(p).and_then(Value::as_str).map(str::to_string);
    let sent = kept_sizes.as_ref().unwrap_or(&body);
    let editors = if edits == Edits::TakeBack && desired.policy == ApplyPolicy::Apply {
        editors_to_take_back(&without_identity(sent), live, field_manager)
    } else {
        Vec::new()
    };
    let (op, risk, reason) = if immutable.is_empty() {
        (
            Op::Update,
            Risk::Safe,
            format!(
                "changed: {}{}{}",
                describe(&paths),
                pod_template_words(&before, &after),
                taken_back_words(&editors)
            ),
        )
    } else if desired.kind == "RoleBinding" {
        // Nothing is lost: the binding is deleted and made again at once.
        let reason = format!(
            "immutable field changed: {}; recreated",
            describe(&immutable)
        );
        (Op::Replace, Risk::Safe, reason)
    } else {
        let reason = format!("immutable field changed: {}", describe(&immutable));
        (Op::Replace, Risk::Destructive, reason)
    };
    Some(Action {
        manifest: manifest.cloned(),
        target,
        op,
        risk,
        reason,
        change: Change::Object {
            before: Some(before.into()),
            after: Some(after.into()),
            patch: Some(patch),
            uid: meta("/metadata/uid"),
            resource_version: meta("/metadata/resourceVersion"),
            take_over: op == Op::Update && !editors.is_empty(),
            apply_body: kept_sizes.map(CompactJson::from),
        },
    })
}

/// "; taken back from kubectl-edit's edit", when imperative edits hold fields the manifest sets.
fn taken_back_words(editors: &[String]) -> String {
    match editors {
        [] => String::new(),
        [one] => format!("; taken back from {one}'s edit"),
        many => format!("; taken back from the edits of {}", many.join(", ")),
    }
}

/// `body` (a StatefulSet) with each claim template's storage request as the live StatefulSet's
/// template of the same name has it: the apiserver refuses any change to claim templates.
fn keep_live_claim_sizes(body: &Value, live: &Value) -> Value {
    const STORAGE: &str = "/spec/resources/requests/storage";
    let mut body = body.clone();
    let live_templates = live
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array);
    if let (Some(templates), Some(live_templates)) = (
        body.pointer_mut("/spec/volumeClaimTemplates")
            .and_then(Value::as_array_mut),
        live_templates,
    ) {
        for t in templates {
            let name = t.pointer("/metadata/name").cloned();
            let live_size = live_templates
                .iter()
                .find(|l| l.pointer("/metadata/name").cloned() == name)
                .and_then(|l| l.pointer(STORAGE))
                .cloned();
            if let (Some(size), Some(slot)) = (live_size, t.pointer_mut(STORAGE)) {
                *slot = size;
            }
        }
    }
    body
}

/// The metadata that makes an object ours: what an adoption applies, nothing of its data.
pub fn ownership_metadata(body: &Value) -> Value {
    let mut meta = serde_json::Map::new();
    for key in ["labels", "annotations", "ownerReferences"] {
        if let Some(v) = body.pointer(&format!("/metadata/{key}")) {
            meta.insert(key.into(), v.clone());
        }
    }
    serde_json::json!({ "metadata": meta })
}

/// Taking over an object someone else made for the cluster (Zalando's operator): a credential
/// Secret gets our labels and keeps its data — the password — as it is; any other object is
/// planned like one of ours, against every field the manifest sets (we own none of it yet).
pub fn plan_adopt(
    manifest: &ManifestRef,
    desired: &DesiredObject,
    live: &Value,
    field_manager: &str,
) -> Option<Action> {
    if desired.policy == ApplyPolicy::Apply {
        return plan_adopted_object(Some(manifest), desired, live, field_manager);
    }
    let after = ownership_metadata(&desired.body.value());
    let before = project(&without_identity(live), Some(&after), None).unwrap_or(Value::Null);
    let meta = |p: &str| live.pointer(p).and_then(Value::as_str).map(str::to_string);
    Some(Action {
        manifest: Some(manifest.clone()),
        target: Target::Object(object_ref(desired)),
        op: Op::Update,
        risk: Risk::Safe,
        reason: format!("{ADOPTED} with our labels, its password kept"),
        change: Change::Object {
            patch: Some(json_patch::diff(&before, &after)),
            before: Some(before.into()),
            after: Some(after.into()),
            uid: meta("/metadata/uid"),
            resource_version: meta("/metadata/resourceVersion"),
            apply_body: None,
            take_over: false,
        },
    })
}

const ADOPTED: &str = "made by another operator (no managed-by label): adopted";

/// Taking over another operator's object that is not a credential Secret.
pub fn plan_adopted_object(
    manifest: Option<&ManifestRef>,
    desired: &DesiredObject,
    live: &Value,
    field_manager: &str,
) -> Option<Action> {
    adopted(plan_object_as(
        manifest,
        desired,
        Some(live),
        field_manager,
        Edits::Adopting,
    )?)
}

/// An update of another operator's object: said so, and its fields taken over.
fn adopted(mut action: Action) -> Option<Action> {
    action.reason = format!("{ADOPTED}; {}", action.reason);
    if let Change::Object { take_over, .. } = &mut action.change {
        *take_over = true;
    }
    Some(action)
}

/// Deleting a live object that is ours and no longer wanted.
pub fn plan_delete(
    manifest: Option<&ManifestRef>,
    live: &Value,
    reason: &str,
    field_manager: &str,
) -> Option<Action> {
    let r = live_ref(live)?;
    let risk = match r.kind.as_str() {
        // Pods go with it, data stays in the claims; credentials and claims hold data.
        "StatefulSet" | "Secret" | "PersistentVolumeClaim" => Risk::Destructive,
        _ => Risk::Safe,
    };
    let owned = owned_by(live, field_manager);
    let before = project(&without_identity(live), None, Some(&owned))
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
        .unwrap_or_else(|| without_identity(live));
    let meta = |p: &str| live.pointer(p).and_then(Value::as_str).map(str::to_string);
    Some(Action {
        manifest: manifest.cloned(),
        target: Target::Object(r.clone()),
        op: Op::Delete,
        risk,
        reason: reason.to_string(),
        change: Change::Object {
            before: Some(mask(&r.kind, strip_server_fields(before), ApplyPolicy::Apply).into()),
            after: None,
            patch: None,
            uid: meta("/metadata/uid"),
            resource_version: meta("/metadata/resourceVersion"),
            apply_body: None,
            take_over: false,
        },
    })
}

/// What a reader needs of an object about to go: not its server bookkeeping.
fn strip_server_fields(mut v: Value) -> Value {
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for key in [
                "managedFields",
                "resourceVersion",
                "uid",
                "creationTimestamp",
                "generation",
            ] {
                meta.remove(key);
            }
        }
    }
    v
}

/// Secret values never leave the plan: every value becomes a placeholder (a Secret to be created
/// shows the password it will generate as such).
pub fn mask(kind: &str, mut v: Value, policy: ApplyPolicy) -> Value {
    super::sensitive_env::mask(kind, &mut v);
    if kind != "Secret" {
        return v;
    }
    for field in ["data", "stringData"] {
        if let Some(data) = v.get_mut(field).and_then(Value::as_object_mut) {
            for value in data.values_mut() {
                *value = crate::render::output::SENSITIVE.into();
            }
        }
    }
    if policy == ApplyPolicy::CreateOnly
        && let Some(data) = v.get_mut("data").and_then(Value::as_object_mut)
    {
        data.insert(
            crate::render::secrets::PASSWORD_KEY.into(),
            crate::render::output::GENERATED.into(),
        );
    }
    v
}
