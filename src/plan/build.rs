//! The whole plan: every manifest's objects and database state against what is live, orphans,
//! in the order `apply` executes them.

use super::finalizer::{finalizer_change, plan_finalizer};
use super::objects::{
    head_ref, object_ref, plan_adopt, plan_adopted_object, plan_delete, plan_object,
};
use super::sql::{
    PasswordState, plan_database, plan_drop_database, plan_removed_roles, server_label,
};
use super::{Action, InvalidManifest, ObjectRef, Op, Plan, SecretKeyRef, Target, Unknown};
use crate::config::{Config, RemovedRoles};
use crate::render::{Desired, DesiredObject, ManifestRef};
use crate::state::{CompactJson, DatabaseObservation, Head, Observed};
use base64::Engine;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Kinds in the order they are created: what pods mount and use first, StatefulSets last.
const KIND_ORDER: &[&str] = &[
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Secret",
    "ConfigMap",
    "Endpoints",
    "Service",
    "PodDisruptionBudget",
    "Deployment",
    "StatefulSet",
    "PersistentVolumeClaim",
];

fn kind_rank(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KIND_ORDER.len())
}

/// SQL runs roles first, then databases, then what lives inside databases.
fn sql_rank(object: &str) -> usize {
    if object.starts_with("role ") {
        0
    } else if object.starts_with("database ") {
        1
    } else {
        2
    }
}

/// Execution phase of an action: objects (and a finalizer being added) before the StatefulSets,
/// then restarts, SQL, deletes, and last a finalizer being removed.
/// A stable sort that sorts positions and then moves each element once, in place: a stable sort
/// of the elements themselves needs scratch space for half of them (30 MB of 10,000 clusters'
/// actions).
fn sort_stable_by<T>(items: &mut [T], mut compare: impl FnMut(&T, &T) -> std::cmp::Ordering) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&i, &j| compare(&items[i], &items[j]));
    // `order[k]` is where the element that belongs at k is now; follow each cycle once.
    for start in 0..order.len() {
        let mut at = start;
        while order[at] != start {
            let from = order[at];
            items.swap(at, from);
            order[at] = at;
            at = from;
        }
        order[at] = at;
    }
}

fn phase(a: &Action) -> (usize, usize) {
    if finalizer_change(a) == Some(false) {
        return (5, 0); // a manifest's finalizer goes after its database
    }
    match (&a.op, &a.target) {
        (Op::Delete, Target::Object(o)) => (4, KIND_ORDER.len() - kind_rank(&o.kind)),
        (Op::Restart, Target::Patroni { .. }) => (2, 1),
        (_, Target::Patroni { .. }) => (1, 1),
        (Op::Restart, _) => (2, 0),
        (_, Target::Object(o)) if o.kind == "StatefulSet" => (1, 0),
        (_, Target::Object(o)) => (0, kind_rank(&o.kind)),
        (_, Target::Sql { object, .. }) => (3, sql_rank(object)),
    }
}

pub fn plan(desired: &Desired, observed: &Observed, config: &Config) -> Plan {
    let desired = &*super::dynamic_only::keep_live_dynamic_settings(desired, observed);
    // Each live object is parsed where it is compared, one at a time (see `CompactJson`).
    let live: BTreeMap<ObjectRef, &CompactJson> = observed
        .objects
        .iter()
        .filter_map(|o| Some((head_ref(o)?, o)))
        .collect();
    let adoptable: BTreeMap<ObjectRef, &CompactJson> = observed
        .adoptable
        .iter()
        .filter_map(|o| Some((head_ref(o)?, o)))
        .collect();
    let now = observed
        .now
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let mut actions = Vec::new();
    // Borrowed from the desired objects: a copy of every name would be 20 MB at 10,000 clusters.
    let mut wanted: BTreeSet<ObjectKey> = BTreeSet::new();
    let mut unknown = Vec::new();

    for m in &desired.manifests {
        for object in &m.objects {
            let r = object_ref(object);
            wanted.insert(desired_key(object));
            if m.deleting {
                continue;
            }
            let adopt = adoptable
                .get(&r)
                .filter(|o| !live.contains_key(&r) && belongs_to(&o.head(), &m.manifest, config));
            actions.extend(match adopt {
                Some(theirs) => {
                    plan_adopt(&m.manifest, object, &theirs.value(), &config.field_manager)
                }
                None => plan_object(
                    Some(&m.manifest),
                    object,
                    live.get(&r).map(|o| o.value()).as_ref(),
                    &config.field_manager,
                ),
            });
        }
        let server = server_label(&m.database.server);
        let live_finalizers = observed
            .finalizers
            .get(&m.manifest.to_string())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let server_known = matches!(
            observed.databases.get(&server),
            Some(DatabaseObservation::Known(_))
        );
        actions.extend(plan_finalizer(m, live_finalizers, server_known));
        if m.standby {
            continue;
        }
        match observed.databases.get(&server) {
            Some(DatabaseObservation::Known(state)) => {
                if m.deleting {
                    if m.drop_database_on_delete {
                        for db in m.database.databases.keys() {
                            actions.extend(plan_drop_database(&m.manifest, &server, db, state));
                        }
                    }
                } else {
                    let human = super::human_users::plan_human_users(
                        &m.manifest,
                        &m.database,
                        &observed.teams,
                        &observed.postgres_teams,
                        state,
                        config,
                    );
                    let (with_humans, state) = match &human {
                        Some(h) => (&h.database, &h.observed),
                        None => (&m.database, state),
                    };
                    for reason in human.iter().flat_map(|h| &h.unknown) {
                        unknown.push(Unknown {
                            manifest: m.manifest.clone(),
                            part: "team members".into(),
                            reason: reason.clone(),
                            cause: super::UnknownCause::Other,
                        });
                    }
                    actions.extend(human.iter().flat_map(|h| h.actions.iter().cloned()));
                    let secret = |key: &SecretKeyRef| live.get(&secret_ref(key)).map(|v| v.value());
                    let rotations = super::rotation::plan_rotations(
                        &m.manifest,
                        with_humans,
                        &secret,
                        state,
                        now,
                        config,
                    );
                    let database = rotations.database.as_ref().unwrap_or(with_humans);
                    let passwords = |key: &SecretKeyRef| {
                        if rotations.rotating.contains(key) {
                            return PasswordState::Rotating;
                        }
                        match password_of(&live, key) {
                            PasswordState::SecretAbsent => password_of(&adoptable, key),
                            known => known,
                        }
                    };
                    actions.extend(rotations.secrets.iter().cloned());
                    actions.extend(plan_database(&m.manifest, database, state, &passwords));
                    actions.extend(rotations.drops.iter().cloned());
                    if config.removed_roles == RemovedRoles::Nologin {
                        actions.extend(plan_removed_roles(&m.manifest, database, state));
                    }
                }
            }
            Some(DatabaseObservation::Unknown { reason, cause }) => unknown.push(Unknown {
                manifest: m.manifest.clone(),
                part: "database state".into(),
                reason: reason.clone(),
                cause: *cause,
            }),
            None if m.deleting && !m.drop_database_on_delete => {}
            None => unknown.push(Unknown {
                manifest: m.manifest.clone(),
                part: "database state".into(),
                reason: format!("{server} was not observed"),
                cause: super::UnknownCause::Other,
            }),
        }
    }
    for object in &desired.shared {
        let r = object_ref(object);
        wanted.insert(desired_key(object));
        let theirs = adoptable.get(&r).filter(|_| !live.contains_key(&r));
        actions.extend(match theirs {
            Some(theirs) => {
                plan_adopted_object(None, object, &theirs.value(), &config.field_manager)
            }
            None => plan_object(
                None,
                object,
                live.get(&r).map(|o| o.value()).as_ref(),
                &config.field_manager,
            ),
        });
    }
    actions.extend(orphans(desired, observed, config, &live, &wanted));
    let (restarts, mut held) = super::rollout::plan_rollouts(desired, observed, config);
    // Clusters whose pods roll (now or later) restart with their new settings anyway.
    let rolling: BTreeSet<(String, String)> = restarts
        .iter()
        .filter_map(|a| a.manifest.as_ref())
        .chain(held.iter().map(|h| &h.manifest))
        .map(|m| (m.namespace.clone(), m.name.clone()))
        .collect();
    actions.extend(restarts);
    let (patroni, patroni_unknown, patroni_held) =
        super::patroni::plan_patroni(desired, observed, config, &rolling);
    actions.extend(patroni);
    unknown.extend(patroni_unknown);
    held.extend(patroni_held);

    // Stable: within a phase, the order of each manifest's own actions is kept.
    // Compared in place: a key holding a copy of the manifest's name would allocate at each of
    // the sort's comparisons.
    sort_stable_by(&mut actions, |a, b| {
        phase(a)
            .cmp(&phase(b))
            .then_with(|| a.manifest.cmp(&b.manifest))
    });
    let approvals = super::approval::approvals(
        &actions,
        super::approval::reviewable_in(desired),
        &config.require_approval,
    );
    Plan {
        actions,
        invalid: desired.invalid.iter().map(InvalidManifest::from).collect(),
        unknown,
        held,
        approvals,
    }
}

/// Whether an object made by someone else carries the labels of the manifest's cluster.
fn belongs_to(theirs: &Head, manifest: &ManifestRef, config: &Config) -> bool {
    let label = |k: &str| theirs.label(k);
    manifest.kind == "postgresql"
        && label(&config.cluster_name_label) == Some(manifest.name.as_str())
        && config.cluster_labels.iter().all(|(k, v)| {
            // The pooler's objects say `application: db-connection-pooler` instead.
            let pooler = k == "application" && label(k) == Some(crate::render::pooler::APPLICATION);
            label(k) == Some(v.as_str()) || pooler
        })
}

fn secret_ref(secret: &SecretKeyRef) -> ObjectRef {
    ObjectRef {
        api_version: "v1".into(),
        kind: "Secret".into(),
        namespace: secret.namespace.clone(),
        name: secret.name.clone(),
    }
}

/// The password in a live credential Secret, for comparing with the role's stored verifier.
fn password_of(live: &BTreeMap<ObjectRef, &CompactJson>, secret: &SecretKeyRef) -> PasswordState {
    let Some(secret) = live.get(&secret_ref(secret)) else {
        return PasswordState::SecretAbsent;
    };
    secret
        .value()
        .pointer("/data/password")
        .and_then(Value::as_str)
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(PasswordState::Known)
        .unwrap_or(PasswordState::Unreadable)
}

/// Which switch made a live object of the connection pooler of `cluster`: its Deployments and
/// Services by name, and the Secret of `connection_pooler_user` (the one Zalando deletes).
fn pooler_part(r: &ObjectRef, cluster: &str, config: &Config) -> Option<&'static str> {
    use crate::render::{pooler, services::Role};
    match r.kind.as_str() {
        "Deployment" | "Service" if r.name == pooler::name(cluster, Role::Master) => {
            Some("enableConnectionPooler")
        }
        "Deployment" | "Service" if r.name == pooler::name(cluster, Role::Replica) => {
            Some("enableReplicaConnectionPooler")
        }
        "Secret" => {
            let secret = crate::render::database::secret_name(
                &config.secret_name_template,
                &config.connection_pooler_user,
                cluster,
                &r.namespace,
            );
            (r.name == secret).then_some("neither pooler is enabled")
        }
        _ => None,
    }
}

/// An object's apiVersion, kind, namespace and name, borrowed.
type ObjectKey<'a> = (&'a str, &'a str, &'a str, &'a str);

fn desired_key(o: &DesiredObject) -> ObjectKey<'_> {
    (&o.api_version, &o.kind, &o.namespace, &o.name)
}

/// Live objects that are ours but wanted by no manifest. Kept: the objects of manifests that
/// exist but were not rendered (invalid, another controller's, being deleted), volume claims and
/// credential Secrets unless the configuration says to delete them.
fn orphans(
    desired: &Desired,
    observed: &Observed,
    config: &Config,
    live: &BTreeMap<ObjectRef, &CompactJson>,
    wanted: &BTreeSet<ObjectKey>,
) -> Vec<Action> {
    let rendered: BTreeSet<(String, String)> = desired
        .manifests
        .iter()
        .filter(|m| m.manifest.kind == "postgresql")
        .map(|m| (m.manifest.namespace.clone(), m.manifest.name.clone()))
        .collect();
    let seen: BTreeSet<(String, String)> = observed
        .manifests
        .iter()
        .filter(|m| m.kind == "postgresql")
        .map(|m| (m.namespace.clone(), m.name.clone()))
        .collect();
    let namespaces_with_clusters: BTreeSet<&str> = seen.iter().map(|(ns, _)| ns.as_str()).collect();
    let mut out = Vec::new();
    for (r, object) in live {
        if wanted.contains(&(
            r.api_version.as_str(),
            r.kind.as_str(),
            r.namespace.as_str(),
            r.name.as_str(),
        )) {
            continue;
        }
        let head = object.head();
        let cluster = head.label(&config.cluster_name_label);
        let reason = match cluster {
            Some(cluster) => {
                let key = (r.namespace.clone(), cluster.to_string());
                if seen.contains(&key) && !rendered.contains(&key) {
                    continue; // its manifest exists but was not rendered: leave it be
                }
                // Claims come from the StatefulSet's templates, never from the render: while
                // the cluster exists they are its data.
                if r.kind == "PersistentVolumeClaim" && rendered.contains(&key) {
                    continue;
                }
                let pooler_part = pooler_part(r, cluster, config);
                if rendered.contains(&key) && pooler_part.is_some() {
                    format!(
                        "the connection pooler of postgresql {}/{cluster} is off ({}){}",
                        r.namespace,
                        pooler_part.unwrap_or_default(),
                        if r.kind == "Secret" {
                            "; only the pooler used this Secret, and its role stays"
                        } else {
                            ""
                        }
                    )
                } else if rendered.contains(&key) && r.kind == "CronJob" {
                    format!(
                        "no logical backup job of this name for postgresql {}/{cluster} (enableLogicalBackup is off, or logical_backup_job_prefix changed); dumps already taken stay in their bucket",
                        r.namespace
                    )
                } else if rendered.contains(&key) {
                    format!(
                        "no longer rendered for postgresql {}/{cluster}",
                        r.namespace
                    )
                } else {
                    format!("postgresql {}/{cluster} no longer exists", r.namespace)
                }
            }
            // Earlier versions made the Spilo pods a Role of their own; they are bound to the
            // ClusterRole now.
            None if r.kind == "Role" => {
                "no longer rendered: the pods' RoleBinding refers to the ClusterRole".to_string()
            }
            None => {
                if namespaces_with_clusters.contains(r.namespace.as_str()) {
                    continue;
                }
                format!("no postgresql manifests left in namespace {}", r.namespace)
            }
        };
        // The pooler's Secret goes with the pooler, as in Zalando: only the pooler used it.
        let pooler_secret =
            cluster.is_some_and(|c| r.kind == "Secret" && pooler_part(r, c, config).is_some());
        let keep = match r.kind.as_str() {
            "PersistentVolumeClaim" => !config.delete_pvcs,
            "Secret" => !config.delete_secrets && !pooler_secret,
            _ => false,
        };
        if keep {
            continue;
        }
        let manifest = cluster.map(|c| ManifestRef {
            kind: "postgresql".into(),
            namespace: r.namespace.clone(),
            name: c.to_string(),
            uid: None,
            generation: None,
        });
        let mut delete = plan_delete(
            manifest.as_ref(),
            &object.value(),
            &reason,
            &config.field_manager,
        );
        // Only the pooler logged in with it, and its role stays: a new Secret sets the role's
        // password again if the pooler comes back. Nothing to approve.
        if pooler_secret && let Some(d) = delete.as_mut() {
            d.risk = crate::plan::Risk::Safe;
        }
        out.extend(delete);
    }
    out
}

#[cfg(test)]
mod sort_tests {
    use super::sort_stable_by;

    #[test]
    fn sorting_positions_keeps_the_order_of_equal_elements_as_a_stable_sort_does() {
        // (key, original position): equal keys must keep their positions' order.
        let items: Vec<(u32, usize)> = (0..500).map(|i| ((i * 7919 % 13) as u32, i)).collect();
        let mut expected = items.clone();
        expected.sort_by_key(|&(key, _)| key);
        let mut sorted = items;
        sort_stable_by(&mut sorted, |a, b| a.0.cmp(&b.0));
        assert_eq!(sorted, expected);
        let mut empty: Vec<u8> = Vec::new();
        sort_stable_by(&mut empty, |a, b| a.cmp(b));
        assert!(empty.is_empty());
    }
}
