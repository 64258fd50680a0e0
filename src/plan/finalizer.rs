//! The drop-database finalizer of a `PostgreSQLConfig` with `reclaimPolicy: Delete`: added before
//! its database is created (so a deleted manifest waits for the drop), removed once a run has
//! dropped the database, and removed from a manifest that no longer asks for the drop.

use super::{Action, Change, ObjectRef, Op, Risk, Target};
use crate::render::DesiredManifest;
use serde_json::{Value, json};

pub const DROP_DATABASE_FINALIZER: &str = "postgres-reconciler.io/drop-database";

/// The finalizer change one manifest needs, given the finalizers it carries and whether its
/// server's state was read in this run (the drop is planned only then).
pub fn plan_finalizer(
    m: &DesiredManifest,
    live_finalizers: &[String],
    server_known: bool,
) -> Option<Action> {
    if m.manifest.kind != "PostgreSQLConfig" {
        return None;
    }
    let has = live_finalizers.iter().any(|f| f == DROP_DATABASE_FINALIZER);
    let (add, reason) = match (m.drop_database_on_delete, m.deleting, has) {
        (true, false, false) => (
            true,
            "reclaimPolicy: Delete: the manifest waits for its database to be dropped",
        ),
        (true, true, true) if server_known => (
            false,
            "the database is dropped by the actions before: the manifest may go",
        ),
        (false, _, true) => (
            false,
            "reclaimPolicy: Retain: the database stays when the manifest goes",
        ),
        _ => return None,
    };
    let list = |present: bool| {
        if present {
            json!({"metadata": {"finalizers": [DROP_DATABASE_FINALIZER]}})
        } else {
            json!({"metadata": {"finalizers": []}})
        }
    };
    let (before, after) = (list(has), list(add));
    Some(Action {
        manifest: Some(m.manifest.clone()),
        target: Target::Object(ObjectRef {
            api_version: "containerconf.de/v1".into(),
            kind: m.manifest.kind.clone(),
            namespace: m.manifest.namespace.clone(),
            name: m.manifest.name.clone(),
        }),
        op: Op::Update,
        risk: Risk::Safe,
        reason: format!("finalizer {DROP_DATABASE_FINALIZER}: {reason}"),
        change: Change::Object {
            patch: Some(json_patch::diff(&before, &after)),
            before: Some(before.into()),
            after: Some(after.into()),
            uid: m.manifest.uid.clone(),
            resource_version: None,
            apply_body: None,
            take_over: false,
        },
    })
}

/// Whether an action adds or removes a manifest's own finalizer (it runs first, or last and only
/// after the manifest's other actions succeeded).
pub fn finalizer_change(a: &Action) -> Option<bool> {
    let Target::Object(o) = &a.target else {
        return None;
    };
    if o.kind != "PostgreSQLConfig" {
        return None;
    }
    let Change::Object { after, .. } = &a.change else {
        return None;
    };
    let after = after.as_ref()?.value();
    let list = after.pointer("/metadata/finalizers")?;
    Some(
        list.as_array()
            .is_some_and(|l| l.iter().any(|f| f == &Value::from(DROP_DATABASE_FINALIZER))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::ManifestRef;
    use crate::render::database::{DesiredDatabaseState, ServerTarget};

    fn manifest(drop: bool, deleting: bool) -> DesiredManifest {
        DesiredManifest {
            manifest: ManifestRef {
                kind: "PostgreSQLConfig".into(),
                namespace: "ns".into(),
                name: "orders".into(),
                uid: Some("u-1".into()),
                generation: Some(1),
            },
            objects: Vec::new(),
            database: DesiredDatabaseState {
                server: ServerTarget::Cluster {
                    namespace: "ns".into(),
                    cluster: "acid-a".into(),
                },
                roles: Default::default(),
                databases: Default::default(),
                human_team: None,
                pooler_lookup: None,
            },
            pod_template_hash: None,
            deleting,
            drop_database_on_delete: drop,
            maintenance_windows: Vec::new(),
            allow_restart: false,
            patroni_dynamic: None,
            standby: false,
            clone_from: None,
            standby_of: None,
        }
    }

    fn ours() -> Vec<String> {
        vec![DROP_DATABASE_FINALIZER.to_string()]
    }

    fn change(m: &DesiredManifest, live: &[String], known: bool) -> Option<bool> {
        plan_finalizer(m, live, known).map(|a| finalizer_change(&a).expect("a finalizer action"))
    }

    #[test]
    fn delete_policy_adds_it_once() {
        assert_eq!(change(&manifest(true, false), &[], true), Some(true));
        assert_eq!(change(&manifest(true, false), &[], false), Some(true));
        assert_eq!(change(&manifest(true, false), &ours(), true), None);
    }

    #[test]
    fn retain_policy_removes_it_and_never_adds_it() {
        assert_eq!(change(&manifest(false, false), &[], true), None);
        assert_eq!(change(&manifest(false, false), &ours(), true), Some(false));
        assert_eq!(change(&manifest(false, true), &ours(), false), Some(false));
    }

    #[test]
    fn a_deleted_manifest_lets_go_only_when_its_server_was_read() {
        assert_eq!(change(&manifest(true, true), &ours(), true), Some(false));
        assert_eq!(change(&manifest(true, true), &ours(), false), None);
        // Never added to a manifest that is already going.
        assert_eq!(change(&manifest(true, true), &[], true), None);
    }

    #[test]
    fn other_finalizers_are_not_ours_to_judge() {
        let others = vec!["example.com/backup".to_string()];
        assert_eq!(change(&manifest(false, false), &others, true), None);
        let a = plan_finalizer(&manifest(true, false), &others, true).expect("add");
        assert_eq!(a.op, Op::Update);
        assert!(a.reason.contains("reclaimPolicy: Delete"), "{}", a.reason);
    }
}
