use super::*;
use crate::api::Postgresql;
use crate::render::{self, Manifest};
use serde_json::json;

const OLD: &str = "acid-a-old";
const NEW: &str = "acid-a-new";
const OLD_IMAGE: &str = "ghcr.io/zalando/spilo-17:4.0-p2";
const NEW_IMAGE: &str = "ghcr.io/zalando/spilo-17:4.0-p3";
/// A Wednesday, 10:30 UTC.
const NOW: &str = "2026-11-18T10:30:00Z";

fn desired(instances: i64, annotations: Value, windows: &[&str]) -> Desired {
    let pg: Postgresql = serde_json::from_value(json!({
        "apiVersion": "acid.zalan.do/v1",
        "kind": "postgresql",
        "metadata": {"name": "acid-a", "namespace": "ns", "uid": "u-1", "annotations": annotations},
        "spec": {
            "teamId": "acid",
            "numberOfInstances": instances,
            "volume": {"size": "1Gi"},
            "postgresql": {"version": "17"},
            "maintenanceWindows": windows,
        }
    }))
    .expect("manifest");
    let d = render::render(&[Manifest::Postgresql(Box::new(pg))], &Config::default());
    assert!(d.invalid.is_empty(), "{:?}", d.invalid);
    d
}

fn statefulset(d: &Desired, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "acid-a", "namespace": "ns", "generation": 2,
            "annotations": {POD_TEMPLATE_HASH: d.manifests[0].pod_template_hash}},
        "spec": {"replicas": replicas, "template": {
            "spec": {"containers": [{"name": "postgres", "image": NEW_IMAGE}]}
        }},
        "status": {"observedGeneration": 2, "updateRevision": NEW, "currentRevision": OLD}
    })
}

fn pod(i: usize, role: &str, revision: &str) -> Value {
    let image = if revision == NEW {
        NEW_IMAGE
    } else {
        OLD_IMAGE
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("acid-a-{i}"), "namespace": "ns", "uid": format!("pod-uid-{i}"),
            "labels": {"application": "spilo", "cluster-name": "acid-a", ROLE_LABEL: role, REVISION_LABEL: revision}},
        "spec": {"containers": [{"name": "postgres", "image": image}]},
        "status": {"phase": "Running", "podIP": format!("10.0.0.{i}"),
            "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

fn not_ready(pod: &CompactJson) -> CompactJson {
    let mut pod = pod.value();
    pod["status"]["conditions"][0]["status"] = json!("False");
    pod.into()
}

fn observed(d: &Desired, replicas: i64, pods: Vec<Value>) -> Observed {
    Observed {
        objects: vec![statefulset(d, replicas).into()],
        pods: pods.into_iter().map(CompactJson::from).collect(),
        now: Some(NOW.into()),
        ..Observed::default()
    }
}

fn three(revisions: [&str; 3]) -> Vec<Value> {
    vec![
        pod(0, "master", revisions[0]),
        pod(1, "replica", revisions[1]),
        pod(2, "replica", revisions[2]),
    ]
}

fn run(d: &Desired, o: &Observed) -> (Vec<Action>, Vec<Held>) {
    plan_rollouts(d, o, &Config::default())
}

fn target(a: &Action) -> String {
    a.target.to_string()
}

#[test]
fn nothing_when_every_pod_is_on_the_update_revision() {
    let d = desired(3, json!({}), &[]);
    let (actions, held) = run(&d, &observed(&d, 3, three([NEW, NEW, NEW])));
    assert!(actions.is_empty() && held.is_empty());
}

#[test]
fn one_replica_first_with_the_image_change_as_reason() {
    let d = desired(3, json!({}), &[]);
    let (actions, held) = run(&d, &observed(&d, 3, three([OLD, OLD, OLD])));
    assert!(held.is_empty());
    assert_eq!(actions.len(), 1, "one restart per run");
    let a = &actions[0];
    assert_eq!(target(a), "Pod ns/acid-a-1");
    assert_eq!((a.op, a.risk), (Op::Restart, Risk::Disruptive));
    assert_eq!(
        a.reason,
        format!(
            "on revision {OLD}, StatefulSet wants {NEW} (image of postgres: {OLD_IMAGE} → {NEW_IMAGE})"
        )
    );
    assert_eq!(
        a.change,
        Change::Restart {
            uid: Some("pod-uid-1".into()),
            switchover: None,
            delete: false,
        }
    );
}

#[test]
fn the_next_replica_then_the_master_with_a_switchover() {
    let d = desired(3, json!({}), &[]);
    let (actions, _) = run(&d, &observed(&d, 3, three([OLD, NEW, OLD])));
    assert_eq!(target(&actions[0]), "Pod ns/acid-a-2");

    let (actions, _) = run(&d, &observed(&d, 3, three([OLD, NEW, NEW])));
    assert_eq!(actions.len(), 1);
    assert_eq!(target(&actions[0]), "Pod ns/acid-a-0");
    assert!(actions[0].reason.contains("switchover to acid-a-1"));
    let Change::Restart { switchover, .. } = &actions[0].change else {
        panic!("not a restart");
    };
    assert_eq!(
        switchover.as_ref(),
        Some(&Switchover {
            url: "http://10.0.0.0:8008".into(),
            leader: "acid-a-0".into(),
            candidate: "acid-a-1".into(),
        })
    );
}

#[test]
fn the_switchover_waits_for_a_candidate_patroni_reports_streaming() {
    use crate::state::{PatroniMember, PatroniObservation};
    let d = desired(3, json!({}), &[]);
    let mut o = observed(&d, 3, three([OLD, NEW, NEW]));
    let member = |i: usize, role: &str, state: Option<&str>| PatroniMember {
        pod: format!("acid-a-{i}"),
        url: String::new(),
        role: role.into(),
        pending_restart: false,
        pending_parameters: Vec::new(),
        replication_state: state.map(str::to_string),
        sync_standby: false,
    };
    // acid-a-1 restarted moments ago and does not stream yet; acid-a-2 does.
    let mut members = vec![
        member(0, "primary", None),
        member(1, "replica", Some("starting")),
        member(2, "replica", Some("streaming")),
    ];
    o.patroni.insert(
        "ns/acid-a".into(),
        PatroniObservation::Known {
            members: members.clone(),
            config: json!({}),
        },
    );
    let (actions, _) = run(&d, &o);
    assert!(
        actions[0].reason.contains("switchover to acid-a-2"),
        "{actions:#?}"
    );
    // Neither streams: the master waits.
    members[2].replication_state = Some("starting".into());
    o.patroni.insert(
        "ns/acid-a".into(),
        PatroniObservation::Known {
            members,
            config: json!({}),
        },
    );
    let (actions, held) = run(&d, &o);
    assert!(actions.is_empty(), "{actions:#?}");
    assert!(
        held[0].reason.contains("streaming from the leader"),
        "{held:?}"
    );
}

#[test]
fn in_synchronous_mode_the_switchover_goes_to_the_synchronous_standby() {
    use crate::state::{PatroniMember, PatroniObservation};
    let d = desired(3, json!({}), &[]);
    let mut o = observed(&d, 3, three([OLD, NEW, NEW]));
    let member = |i: usize, role: &str, sync_standby: bool| PatroniMember {
        pod: format!("acid-a-{i}"),
        url: String::new(),
        role: role.into(),
        pending_restart: false,
        pending_parameters: Vec::new(),
        replication_state: (role == "replica").then(|| "streaming".into()),
        sync_standby,
    };
    let mut members = vec![
        member(0, "primary", false),
        member(1, "replica", false),
        member(2, "replica", true),
    ];
    // In quorum mode any streaming replica is a candidate.
    o.patroni.insert(
        "ns/acid-a".into(),
        PatroniObservation::Known {
            members: members.clone(),
            config: json!({"synchronous_mode": "quorum"}),
        },
    );
    let (actions, _) = run(&d, &o);
    assert!(
        actions[0].reason.contains("switchover to acid-a-1"),
        "{actions:#?}"
    );
    let known = |members: &[PatroniMember]| PatroniObservation::Known {
        members: members.to_vec(),
        config: json!({"synchronous_mode": true}),
    };
    o.patroni.insert("ns/acid-a".into(), known(&members));
    let (actions, _) = run(&d, &o);
    assert!(
        actions[0].reason.contains("switchover to acid-a-2"),
        "the synchronous standby, not the first replica: {actions:#?}"
    );
    // No synchronous standby for a moment (one just restarted): the master waits, and the
    // reason says why.
    members[2].sync_standby = false;
    o.patroni.insert("ns/acid-a".into(), known(&members));
    let (actions, held) = run(&d, &o);
    assert!(actions.is_empty(), "{actions:#?}");
    assert!(
        held[0].reason.contains("no synchronous standby"),
        "{held:?}"
    );
}

#[test]
fn the_patroni_url_follows_the_template() {
    let d = desired(2, json!({}), &[]);
    let config = Config {
        patroni_url_template: "http://{pod}.{cluster}.{namespace}:8008".into(),
        ..Config::default()
    };
    let o = observed(&d, 2, vec![pod(0, "master", OLD), pod(1, "replica", NEW)]);
    let (actions, _) = plan_rollouts(&d, &o, &config);
    let Change::Restart {
        switchover: Some(s),
        ..
    } = &actions[0].change
    else {
        panic!("no switchover");
    };
    assert_eq!(s.url, "http://acid-a-0.acid-a.ns:8008");
}

fn held_reason(d: &Desired, o: &Observed) -> String {
    let (actions, held) = run(d, o);
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(held.len(), 1);
    held[0].reason.clone()
}

#[test]
fn waits_while_a_pod_is_not_ready() {
    let d = desired(3, json!({}), &[]);
    let mut pods = three([OLD, NEW, OLD]);
    pods[1]["status"]["conditions"][0]["status"] = json!("False");
    let reason = held_reason(&d, &observed(&d, 3, pods));
    assert!(reason.contains("pod acid-a-1 is not Ready"), "{reason}");
}

#[test]
fn waits_while_a_pod_is_missing_or_terminating() {
    let d = desired(3, json!({}), &[]);
    let mut pods = three([OLD, OLD, OLD]);
    pods.remove(1);
    let reason = held_reason(&d, &observed(&d, 3, pods));
    assert!(reason.contains("until all pods exist (2 of 3)"), "{reason}");

    let mut pods = three([OLD, OLD, OLD]);
    pods[2]["metadata"]["deletionTimestamp"] = json!("2026-11-18T10:29:00Z");
    let reason = held_reason(&d, &observed(&d, 3, pods));
    assert!(reason.contains("acid-a-2 is not Ready"), "{reason}");
}

#[test]
fn a_pending_pod_stops_the_rollout() {
    let d = desired(3, json!({}), &[]);
    let mut pods = three([OLD, NEW, OLD]);
    pods[1]["status"] = json!({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "message": "0/3 nodes are available: 3 Insufficient cpu."}
    ]});
    let reason = held_reason(&d, &observed(&d, 3, pods));
    assert!(
        reason.contains("pod acid-a-1 is Pending: 0/3 nodes are available"),
        "{reason}"
    );
}

#[test]
fn maintenance_windows_gate_restarts() {
    let inside = desired(3, json!({}), &["Wed:10:00-11:00"]);
    let (actions, _) = run(&inside, &observed(&inside, 3, three([OLD, OLD, OLD])));
    assert_eq!(actions.len(), 1);

    let every_day = desired(3, json!({}), &["10:00-10:45"]);
    let (actions, _) = run(&every_day, &observed(&every_day, 3, three([OLD, OLD, OLD])));
    assert_eq!(actions.len(), 1);

    let outside = desired(3, json!({}), &["Thu:10:00-11:00", "01:00-02:00"]);
    let reason = held_reason(&outside, &observed(&outside, 3, three([OLD, OLD, OLD])));
    assert!(
        reason.contains("outside the maintenance windows (Thu:10:00-11:00, 01:00-02:00)"),
        "{reason}"
    );

    // No time observed (an offline plan): never inside a window.
    let mut o = observed(&inside, 3, three([OLD, OLD, OLD]));
    o.now = None;
    assert!(held_reason(&inside, &o).contains("outside the maintenance windows"));
}

#[test]
fn a_single_instance_is_held_without_annotation_or_window() {
    let d = desired(1, json!({}), &[]);
    let reason = held_reason(&d, &observed(&d, 1, vec![pod(0, "master", OLD)]));
    assert!(reason.contains("a single instance"), "{reason}");
    assert!(reason.contains(crate::render::ALLOW_RESTART_ANNOTATION));

    for d in [
        desired(
            1,
            json!({crate::render::ALLOW_RESTART_ANNOTATION: "true"}),
            &[],
        ),
        desired(1, json!({}), &["Wed:10:00-11:00"]),
    ] {
        let (actions, held) = run(&d, &observed(&d, 1, vec![pod(0, "master", OLD)]));
        assert!(held.is_empty());
        assert_eq!(target(&actions[0]), "Pod ns/acid-a-0");
        assert!(matches!(
            actions[0].change,
            Change::Restart {
                switchover: None,
                delete: true,
                ..
            }
        ));
        assert!(actions[0].reason.contains("downtime"));
    }
}

#[test]
fn nothing_while_the_statefulset_template_changes_in_this_run() {
    let d = desired(3, json!({}), &[]);
    let mut o = observed(&d, 3, three([OLD, OLD, OLD]));
    let mut sts = o.objects[0].value();
    sts["metadata"]["annotations"][POD_TEMPLATE_HASH] = json!("an-older-hash");
    o.objects[0] = sts.into();
    assert_eq!(run(&d, &o), (Vec::new(), Vec::new()));
}

#[test]
fn waits_for_the_controller_to_observe_the_statefulset() {
    let d = desired(3, json!({}), &[]);
    let mut o = observed(&d, 3, three([OLD, OLD, OLD]));
    let mut sts = o.objects[0].value();
    sts["status"]["observedGeneration"] = json!(1);
    o.objects[0] = sts.into();
    assert!(held_reason(&d, &o).contains("observe generation 2"));
}

#[test]
fn a_pod_template_change_without_an_image_change() {
    let d = desired(2, json!({}), &[]);
    let mut pods = vec![pod(0, "master", OLD), pod(1, "replica", OLD)];
    pods[1]["spec"]["containers"][0]["image"] = json!(NEW_IMAGE);
    let (actions, _) = run(&d, &observed(&d, 2, pods));
    assert!(actions[0].reason.ends_with("(pod template changed)"));
}

#[test]
fn an_unlabelled_outdated_pod_waits() {
    let d = desired(2, json!({}), &[]);
    let mut pods = vec![pod(0, "master", OLD), pod(1, "replica", OLD)];
    pods[1]["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove(ROLE_LABEL);
    let reason = held_reason(&d, &observed(&d, 2, pods));
    assert!(
        reason.contains("acid-a-1 has no spilo-role label"),
        "{reason}"
    );
}

#[test]
fn progress_counts_pods_on_the_update_revision() {
    let d = desired(3, json!({}), &[]);
    let o = observed(&d, 3, three([OLD, NEW, NEW]));
    assert_eq!(
        progress(
            &o.objects[0].value(),
            &o.pods.iter().map(CompactJson::head).collect::<Vec<_>>(),
            &Config::default()
        ),
        Some((2, 3))
    );
}

#[test]
fn a_statefulset_of_no_pods_is_up_to_date_before_its_controller_names_a_revision() {
    let fresh = json!({"metadata": {"namespace": "ns", "name": "acid-x"}, "spec": {"replicas": 0}});
    assert_eq!(progress(&fresh, &[], &Config::default()), Some((0, 0)));
    let mut scaled = fresh.clone();
    scaled["spec"]["replicas"] = json!(2);
    assert_eq!(progress(&scaled, &[], &Config::default()), None);
}

#[test]
fn restarts_are_ordered_after_the_statefulsets_in_the_plan() {
    let d = desired(3, json!({}), &[]);
    let o = observed(&d, 3, three([OLD, OLD, OLD]));
    let plan = crate::plan::plan(&d, &o, &Config::default());
    let restart = plan.actions.iter().position(|a| a.op == Op::Restart);
    assert!(restart.is_some());
    let last_object = plan
        .actions
        .iter()
        .rposition(|a| matches!(&a.target, Target::Object(r) if r.kind == "StatefulSet"));
    assert!(last_object.is_none_or(|i| i < restart.unwrap()));
}

/// Clusters acid-a, acid-b, acid-c (3 instances each) with their pods on the given revisions.
fn three_clusters(revisions: [[&str; 3]; 3]) -> (Desired, Observed) {
    let names = ["acid-a", "acid-b", "acid-c"];
    let manifests: Vec<Manifest> = names
        .iter()
        .map(|n| {
            let pg: Postgresql = serde_json::from_value(json!({
                "apiVersion": "acid.zalan.do/v1",
                "kind": "postgresql",
                "metadata": {"name": n, "namespace": "ns", "uid": format!("u-{n}")},
                "spec": {"teamId": "acid", "numberOfInstances": 3, "volume": {"size": "1Gi"},
                    "postgresql": {"version": "17"}}
            }))
            .expect("manifest");
            Manifest::Postgresql(Box::new(pg))
        })
        .collect();
    let d = render::render(&manifests, &Config::default());
    let one = desired(3, json!({}), &[]);
    let rename = |v: Value, n: &str| -> Value {
        serde_json::from_str(&v.to_string().replace("acid-a", n)).expect("json")
    };
    let mut o = Observed {
        now: Some(NOW.into()),
        ..Observed::default()
    };
    for ((n, revs), m) in names.iter().zip(revisions).zip(&d.manifests) {
        let mut sts = rename(statefulset(&one, 3), n);
        sts["metadata"]["annotations"][POD_TEMPLATE_HASH] = json!(m.pod_template_hash);
        o.objects.push(sts.into());
        o.pods
            .extend(three(revs).into_iter().map(|p| rename(p, n).into()));
    }
    (d, o)
}

fn limited(limit: usize) -> Config {
    Config {
        max_rolling_clusters: limit,
        ..Config::default()
    }
}

#[test]
fn no_limit_rolls_every_cluster_at_once() {
    let (d, o) = three_clusters([[OLD, OLD, OLD]; 3]);
    let (actions, held) = plan_rollouts(&d, &o, &limited(0));
    assert!(held.is_empty(), "{held:?}");
    let targets: Vec<String> = actions.iter().map(target).collect();
    assert_eq!(
        targets,
        ["Pod ns/acid-a-1", "Pod ns/acid-b-1", "Pod ns/acid-c-1"]
    );
}

#[test]
fn the_limit_starts_clusters_in_order_while_slots_are_free() {
    let (d, o) = three_clusters([[OLD, OLD, OLD]; 3]);
    let (actions, held) = plan_rollouts(&d, &o, &limited(2));
    let targets: Vec<String> = actions.iter().map(target).collect();
    assert_eq!(targets, ["Pod ns/acid-a-1", "Pod ns/acid-b-1"]);
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].manifest.name, "acid-c");
    assert_eq!(
        held[0].reason,
        "3 of 3 pods outdated; waiting for a free rollout slot (max_rolling_clusters = 2, all in use)"
    );
}

#[test]
fn clusters_already_rolling_keep_their_slots() {
    // acid-c has begun (one pod on the new revision): it goes on, acid-a and acid-b wait.
    let (d, o) = three_clusters([[OLD, OLD, OLD], [OLD, OLD, OLD], [OLD, NEW, OLD]]);
    let (actions, held) = plan_rollouts(&d, &o, &limited(1));
    let targets: Vec<String> = actions.iter().map(target).collect();
    assert_eq!(targets, ["Pod ns/acid-c-2"]);
    let waiting: Vec<&str> = held.iter().map(|h| h.manifest.name.as_str()).collect();
    assert_eq!(waiting, ["acid-a", "acid-b"]);
}

#[test]
fn a_cluster_waiting_mid_rollout_still_holds_its_slot() {
    // acid-a has begun and waits for its replaced pod to become Ready: no other cluster starts.
    let (d, mut o) = three_clusters([[OLD, NEW, OLD], [OLD, OLD, OLD], [OLD, OLD, OLD]]);
    o.pods[1] = not_ready(&o.pods[1]);
    let (actions, held) = plan_rollouts(&d, &o, &limited(1));
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(held.len(), 3);
    assert!(held[0].reason.contains("acid-a-1 is not Ready"), "{held:?}");
    assert!(
        held[1]
            .reason
            .contains("waiting for a free rollout slot (max_rolling_clusters = 1")
    );

    // A pod deleted and not yet recreated also counts as rolling.
    let (d, mut o) = three_clusters([[OLD, OLD, OLD]; 3]);
    o.pods.remove(4); // acid-b-1
    let (actions, held) = plan_rollouts(&d, &o, &limited(1));
    assert!(actions.is_empty(), "{actions:?}");
    assert!(
        held[1].reason.contains("until all pods exist (2 of 3)"),
        "{held:?}"
    );
}

#[test]
fn a_cluster_that_cannot_start_leaves_its_slot_to_the_next() {
    // acid-a is unhealthy before its rollout began: it does not take the only slot.
    let (d, mut o) = three_clusters([[OLD, OLD, OLD]; 3]);
    o.pods[2] = not_ready(&o.pods[2]);
    let (actions, held) = plan_rollouts(&d, &o, &limited(1));
    let targets: Vec<String> = actions.iter().map(target).collect();
    assert_eq!(targets, ["Pod ns/acid-b-1"]);
    assert!(held[0].reason.contains("acid-a-2 is not Ready"));
    assert!(held[1].reason.contains("free rollout slot"));
}

#[test]
fn lazy_upgrade_restarts_nothing_and_says_so() {
    let d = desired(3, json!({}), &[]);
    let config = Config {
        enable_lazy_spilo_upgrade: true,
        ..Config::default()
    };
    let (actions, held) = plan_rollouts(&d, &observed(&d, 3, three([OLD, NEW, OLD])), &config);
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(
        held[0].reason,
        format!(
            "2 of 3 pods outdated; lazy upgrade (enable_lazy_spilo_upgrade): each takes revision {NEW} when it restarts for another reason"
        )
    );
    let (actions, held) = plan_rollouts(&d, &observed(&d, 3, three([NEW; 3])), &config);
    assert!(actions.is_empty() && held.is_empty());
}
