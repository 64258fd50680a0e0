//! Plans built by hand, rendered in all three formats.

use super::*;
use crate::plan::{
    Action, Change, InvalidManifest, ObjectRef, Op, Plan, Risk, SecretKeyRef, SqlStatement, Target,
    Unknown,
};
use crate::render::ManifestRef;
use serde_json::{Value, json};

/// Secret values used below; none may appear in any report.
const SECRETS: [&str; 6] = [
    "c2VjcmV0LXZhbHVl",
    "secret-value",
    "b2xkLXBhc3N3b3Jk",
    "bmV3LXBhc3N3b3Jk",
    "YXBw",
    "plain-text-password",
];

fn manifest() -> ManifestRef {
    ManifestRef {
        kind: "postgresql".into(),
        namespace: "default".into(),
        name: "acid-a".into(),
        uid: None,
        generation: Some(3),
    }
}

fn obj(api_version: &str, kind: &str, name: &str) -> ObjectRef {
    ObjectRef {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: "default".into(),
        name: name.into(),
    }
}

fn object_action(
    target: ObjectRef,
    op: Op,
    risk: Risk,
    reason: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Action {
    let patch = match (&before, &after) {
        (Some(b), Some(a)) => Some(json_patch::diff(b, a)),
        _ => None,
    };
    Action {
        manifest: Some(manifest()),
        target: Target::Object(target),
        op,
        risk,
        reason: reason.into(),
        change: Change::Object {
            before: before.map(Into::into),
            after: after.map(Into::into),
            patch,
            uid: None,
            resource_version: None,
            apply_body: None,
            take_over: false,
        },
    }
}

fn statefulset(replicas: u32, storage: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "acid-a", "namespace": "default", "labels": {"application": "spilo"}},
        "spec": {
            "replicas": replicas,
            "serviceName": "acid-a",
            "volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": storage}}}}],
        },
    })
}

fn secret(data: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "app.acid-a.credentials", "namespace": "default"},
        "type": "Opaque",
        "data": data,
    })
}

fn sql_action() -> Action {
    Action {
        manifest: Some(manifest()),
        target: Target::Sql {
            server: "cluster default/acid-a".into(),
            database: "postgres".into(),
            object: "role app".into(),
        },
        op: Op::Sql,
        risk: Risk::Safe,
        reason: "absent".into(),
        change: Change::Sql {
            statements: vec![
                SqlStatement {
                    sql: r#"CREATE ROLE "app" LOGIN"#.into(),
                    password_from: Some(SecretKeyRef {
                        namespace: "default".into(),
                        name: "app.acid-a.credentials".into(),
                    }),
                    outside_transaction: false,
                },
                SqlStatement::plain(r#"GRANT "app" TO "admin""#),
            ],
        },
    }
}

/// Every kind of action, Secrets with values (unmasked, as a faulty planner might leave them),
/// an invalid manifest and an unknown part.
fn full_plan() -> Plan {
    let cred = obj("v1", "Secret", "app.acid-a.credentials");
    Plan {
        actions: vec![
            object_action(
                cred.clone(),
                Op::Create,
                Risk::Safe,
                "absent",
                None,
                Some(secret(
                    json!({"password": SECRETS[0], "username": SECRETS[4]}),
                )),
            ),
            object_action(
                cred.clone(),
                Op::Update,
                Risk::Safe,
                "data differs",
                Some(secret(
                    json!({"password": SECRETS[2], "username": SECRETS[4]}),
                )),
                Some(secret(
                    json!({"password": SECRETS[3], "username": SECRETS[4]}),
                )),
            ),
            object_action(
                obj("apps/v1", "StatefulSet", "acid-a"),
                Op::Update,
                Risk::Safe,
                "spec.replicas: 2 → 3",
                Some(statefulset(2, "1Gi")),
                Some(statefulset(3, "1Gi")),
            ),
            object_action(
                obj("apps/v1", "StatefulSet", "acid-a"),
                Op::Replace,
                Risk::Destructive,
                "spec.volumeClaimTemplates is immutable",
                Some(statefulset(3, "1Gi")),
                Some(statefulset(3, "5Gi")),
            ),
            object_action(
                obj("v1", "Service", "acid-a-config"),
                Op::Delete,
                Risk::Destructive,
                "no longer rendered",
                Some(json!({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "acid-a-config", "namespace": "default"}})),
                None,
            ),
            sql_action(),
            object_action(
                obj("v1", "Pod", "acid-a-0"),
                Op::Restart,
                Risk::Disruptive,
                "pod template changed",
                None,
                None,
            ),
        ],
        invalid: vec![InvalidManifest {
            manifest: "postgresql default/bad".into(),
            errors: vec!["spec.numberOfInstances: must be at least 1".into()],
        }],
        unknown: vec![Unknown {
            manifest: manifest(),
            part: "database state".into(),
            reason: "connection refused".into(),
            cause: crate::plan::UnknownCause::NotReachable,
        }],
        held: Vec::new(),
        approvals: Vec::new(),
    }
}

fn assert_no_secret(out: &str) {
    for s in SECRETS {
        assert!(!out.contains(s), "secret value {s:?} printed in:\n{out}");
    }
}

fn fence_lines(md: &str) -> usize {
    md.lines().filter(|l| l.starts_with("```")).count()
}

fn big_plan(n: usize) -> Plan {
    let actions = (0..n)
        .map(|i| {
            let data: serde_json::Map<String, Value> = (0..40)
                .map(|k| {
                    (
                        format!("key-{k:02}"),
                        Value::String(format!("value {i} {k} {}", "x".repeat(20))),
                    )
                })
                .collect();
            object_action(
                obj("v1", "ConfigMap", &format!("cm-{i:03}")),
                Op::Create,
                if i % 7 == 0 {
                    Risk::Destructive
                } else {
                    Risk::Safe
                },
                "absent",
                None,
                Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": data})),
            )
        })
        .collect();
    Plan {
        actions,
        ..Plan::default()
    }
}

mod json;
mod markdown;
mod text;

#[test]
fn secret_values_never_appear_but_changes_do() {
    let plan = full_plan();
    for out in [
        text(&plan, false),
        text(&plan, true),
        markdown(&plan, MARKDOWN_LIMIT),
        json(&plan),
    ] {
        assert_no_secret(&out);
        assert!(out.contains(SENSITIVE_CHANGED), "{out}");
    }
    let out = text(&plan, false);
    assert!(out.contains("    -  password: (sensitive)\n    +  password: (sensitive, changed)\n"));
    assert!(out.contains("       username: (sensitive)\n"));
}

#[test]
fn empty_plans() {
    let plan = Plan::default();
    assert_eq!(
        text(&plan, false),
        "No changes. Everything is up to date.\n"
    );
    assert_eq!(
        text(&plan, true),
        "\x1b[32mNo changes. Everything is up to date.\x1b[0m\n"
    );
    assert_eq!(
        markdown(&plan, MARKDOWN_LIMIT),
        "**No changes.** Everything is up to date.\n"
    );
    let j: Value = serde_json::from_str(&json(&plan)).unwrap();
    assert_eq!(j["actions"], json!([]));
    assert_eq!(j["summary"]["total"], 0);

    let only_invalid = Plan {
        invalid: full_plan().invalid,
        ..Plan::default()
    };
    let out = text(&only_invalid, false);
    assert!(out.starts_with("No changes.\nNot planned: 1 invalid manifest (see below).\n"));
    let md = markdown(&only_invalid, MARKDOWN_LIMIT);
    assert!(md.starts_with("**No changes.**\n\n:x: **Invalid manifests, skipped (1):**"));
    assert!(!md.contains("<details>"));
}

#[test]
fn every_format_is_deterministic() {
    let a = full_plan();
    let b = full_plan();
    assert_eq!(text(&a, false), text(&b, false));
    assert_eq!(text(&a, true), text(&b, true));
    assert_eq!(markdown(&a, MARKDOWN_LIMIT), markdown(&b, MARKDOWN_LIMIT));
    assert_eq!(json(&a), json(&b));
    let big = big_plan(200);
    assert_eq!(markdown(&big, 20_000), markdown(&big.clone(), 20_000));
    // The same content with map keys inserted in another order prints the same.
    let mut reordered = full_plan();
    if let Change::Object {
        after: Some(after), ..
    } = &mut reordered.actions[2].change
    {
        let mut value = after.value();
        let map = value.as_object_mut().unwrap();
        let spec = map.remove("spec").unwrap();
        let kind = map.remove("kind").unwrap();
        map.insert("spec".into(), spec);
        map.insert("kind".into(), kind);
        *after = value.into();
    }
    assert_eq!(text(&a, false), text(&reordered, false));
    assert_eq!(json(&a), json(&reordered));
}

#[test]
fn yaml_leads_with_identity() {
    let y = yaml(Some(&statefulset(1, "1Gi")));
    assert!(
        y.starts_with("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n"),
        "{y}"
    );
    assert_eq!(yaml(None), "");
}

#[test]
fn mask_keeps_placeholders_and_other_kinds() {
    let cred = obj("v1", "Secret", "s");
    let before = json!({"data": {"a": "(generated)", "b": "YmJi", "c": "Y2Nj"}});
    let after = json!({"data": {"a": "(generated)", "b": "YmJi", "c": "ZGRk", "d": "ZQ=="},
                      "stringData": {"e": "plain"}});
    let (b, a) = mask_secret(&cred, Some(&before), Some(&after));
    assert_eq!(
        b.unwrap(),
        json!({"data": {"a": "(generated)", "b": SENSITIVE, "c": SENSITIVE}})
    );
    assert_eq!(
        a.unwrap(),
        json!({"data": {"a": "(generated)", "b": SENSITIVE, "c": SENSITIVE_CHANGED, "d": SENSITIVE},
               "stringData": {"e": SENSITIVE}})
    );
    let cm = obj("v1", "ConfigMap", "c");
    let (b, a) = mask_secret(&cm, Some(&before), Some(&after));
    assert_eq!((b.unwrap(), a.unwrap()), (before.clone(), after.clone()));
}

#[test]
fn mask_covers_patches_and_last_applied() {
    let cred = obj("v1", "Secret", "s");
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/data", "value": {"k": "dmFsdWU="}},
        {"op": "replace", "path": "/stringData/k", "value": "plain"},
        {"op": "add", "path": "/metadata/annotations",
         "value": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{}}", "x": "y"}},
        {"op": "test", "path": "", "value": {"data": {"k": "dmFsdWU="}}},
        {"op": "replace", "path": "/metadata/labels/app", "value": "kept"},
    ]))
    .unwrap();
    let masked = mask_patch(&cred, &patch);
    assert_eq!(
        masked,
        json!([
            {"op": "add", "path": "/data", "value": {"k": SENSITIVE}},
            {"op": "replace", "path": "/stringData/k", "value": SENSITIVE},
            {"op": "add", "path": "/metadata/annotations",
             "value": {"kubectl.kubernetes.io/last-applied-configuration": SENSITIVE, "x": "y"}},
            {"op": "test", "path": "", "value": {"data": {"k": SENSITIVE}}},
            {"op": "replace", "path": "/metadata/labels/app", "value": "kept"},
        ])
    );
    let cm = obj("v1", "ConfigMap", "c");
    assert_eq!(
        mask_patch(&cm, &patch),
        serde_json::to_value(&patch).unwrap()
    );
}
