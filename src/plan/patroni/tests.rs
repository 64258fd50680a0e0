use super::*;
use crate::plan::Observed;
use crate::render::database::{DesiredDatabaseState, ServerTarget};
use crate::render::{DesiredManifest, ManifestRef};

fn manifest(dynamic: Value) -> DesiredManifest {
    DesiredManifest {
        manifest: ManifestRef {
            kind: "postgresql".into(),
            namespace: "ns".into(),
            name: "acid-a".into(),
            uid: Some("u".into()),
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
        deleting: false,
        drop_database_on_delete: false,
        maintenance_windows: Vec::new(),
        allow_restart: false,
        patroni_dynamic: Some(dynamic),
        standby: false,
        clone_from: None,
        standby_of: None,
    }
}

fn member(pod: &str, role: &str, pending: bool) -> PatroniMember {
    PatroniMember {
        pod: pod.into(),
        url: format!("http://{pod}:8008"),
        role: role.into(),
        pending_restart: pending,
        pending_parameters: if pending {
            vec!["max_connections".into()]
        } else {
            Vec::new()
        },
        replication_state: (role == "replica").then(|| "streaming".into()),
        sync_standby: false,
    }
}

fn pod(name: &str, ready: bool) -> Value {
    json!({"metadata": {"name": name, "namespace": "ns", "labels": {"cluster-name": "acid-a"}},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
}

fn observed(members: Vec<PatroniMember>, live: Value, ready: bool) -> Observed {
    let pods = members.iter().map(|m| pod(&m.pod, ready).into()).collect();
    let mut o = Observed {
        pods,
        ..Default::default()
    };
    o.patroni.insert(
        "ns/acid-a".into(),
        PatroniObservation::Known {
            members,
            config: live,
        },
    );
    o
}

fn desired(dynamic: Value) -> Desired {
    Desired {
        manifests: vec![manifest(dynamic)],
        ..Default::default()
    }
}

const LIVE: &str = r#"{"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "maximum_lag_on_failover": 33554432,
    "failsafe_mode": false, "postgresql": {"parameters": {"max_connections": 100, "wal_level": "hot_standby"}}}"#;

fn live() -> Value {
    serde_json::from_str(LIVE).unwrap()
}

fn three(pending: [bool; 3]) -> Vec<PatroniMember> {
    vec![
        member("acid-a-0", "primary", pending[0]),
        member("acid-a-1", "replica", pending[1]),
        member("acid-a-2", "replica", pending[2]),
    ]
}

#[test]
fn a_changed_setting_and_parameter_are_patched_on_the_leader() {
    let want = json!({"ttl": 40, "synchronous_mode": false, "failsafe_mode": false,
        "postgresql": {"parameters": {"max_connections": "200"}}});
    let (actions, unknown, held) = plan_patroni(
        &desired(want),
        &observed(three([false; 3]), live(), true),
        &Config::default(),
        &BTreeSet::new(),
    );
    assert!(unknown.is_empty() && held.is_empty());
    assert_eq!(actions.len(), 1, "{actions:#?}");
    let a = &actions[0];
    assert_eq!(a.op, Op::Update);
    assert_eq!(a.reason, "ttl: 30 → 40; max_connections: 100 → 200");
    assert_eq!(
        a.change,
        Change::PatroniConfig {
            url: "http://acid-a-0:8008".into(),
            patch: json!({"ttl": 40, "postgresql": {"parameters": {"max_connections": "200"}}}),
        }
    );
}

#[test]
fn equal_values_in_other_types_and_absent_zeros_plan_nothing() {
    let want = json!({"ttl": 30, "synchronous_mode": false, "synchronous_mode_strict": false,
        "failsafe_mode": false, "postgresql": {"parameters": {"max_connections": "100"}}});
    let (actions, unknown, held) = plan_patroni(
        &desired(want),
        &observed(three([false; 3]), live(), true),
        &Config::default(),
        &BTreeSet::new(),
    );
    assert!(
        actions.is_empty() && unknown.is_empty() && held.is_empty(),
        "{actions:#?}"
    );
}

#[test]
fn pending_restarts_go_replicas_first_and_the_leader_last() {
    let want = json!({"postgresql": {"parameters": {"max_connections": 100}}});
    let config = Config::default();
    let plan = |pending| {
        plan_patroni(
            &desired(want.clone()),
            &observed(three(pending), live(), true),
            &config,
            &BTreeSet::new(),
        )
        .0
    };
    let first = plan([true, true, true]);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].op, Op::Restart);
    assert_eq!(first[0].risk, Risk::Disruptive);
    assert_eq!(first[0].reason, "pending restart (max_connections)");
    assert_eq!(
        first[0].target,
        Target::Patroni {
            cluster: "ns/acid-a".into(),
            member: Some("acid-a-1".into())
        }
    );
    let last = plan([true, false, false]);
    assert_eq!(
        last[0].change,
        Change::PatroniRestart {
            url: "http://acid-a-0:8008".into()
        }
    );
    assert!(plan([false, false, false]).is_empty());
}

#[test]
fn restarts_wait_for_ready_pods_and_skip_rolling_clusters() {
    let want = json!({});
    let config = Config::default();
    let (actions, _, held) = plan_patroni(
        &desired(want.clone()),
        &observed(three([false, true, false]), live(), false),
        &config,
        &BTreeSet::new(),
    );
    assert!(actions.is_empty());
    assert!(held[0].reason.contains("is not Ready"), "{held:?}");
    let rolling: BTreeSet<_> = [("ns".to_string(), "acid-a".to_string())].into();
    let (actions, _, held) = plan_patroni(
        &desired(want),
        &observed(three([false, true, false]), live(), true),
        &config,
        &rolling,
    );
    assert!(actions.is_empty() && held.is_empty());
}

#[test]
fn an_unreachable_patroni_is_unknown_and_an_unasked_one_is_nothing() {
    let mut o = Observed::default();
    let config = Config::default();
    assert_eq!(
        plan_patroni(&desired(json!({})), &o, &config, &BTreeSet::new()).1,
        vec![]
    );
    o.patroni.insert(
        "ns/acid-a".into(),
        PatroniObservation::Unknown {
            reason: "GET http://10.0.0.1:8008/patroni: connection refused".into(),
            cause: UnknownCause::NotReachable,
        },
    );
    let (_, unknown, _) = plan_patroni(&desired(json!({})), &o, &config, &BTreeSet::new());
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].part, "Patroni");
    assert_eq!(unknown[0].cause, UnknownCause::NotReachable);
}
