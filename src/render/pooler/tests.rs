use super::*;
use serde_json::{Value, json};

fn cluster(spec: Value) -> Postgresql {
    let mut base = json!({
        "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
        "metadata": {"name": "acid-p", "namespace": "ns", "uid": "u-1"},
        "spec": {"teamId": "acid", "numberOfInstances": 2, "volume": {"size": "1Gi"},
            "postgresql": {"version": "17"}}
    });
    for (k, v) in spec.as_object().expect("object") {
        base["spec"][k] = v.clone();
    }
    serde_json::from_value(base).expect("manifest")
}

fn env_of(d: &Deployment) -> BTreeMap<String, String> {
    let spec = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod");
    spec.containers[0]
        .env
        .iter()
        .flatten()
        .map(|e| {
            let v = e.value.clone().unwrap_or_else(|| {
                let r = e
                    .value_from
                    .as_ref()
                    .and_then(|f| f.secret_key_ref.as_ref());
                r.map(|r| format!("{}/{}", r.name, r.key))
                    .unwrap_or_default()
            });
            (e.name.clone(), v)
        })
        .collect()
}

#[test]
fn a_connection_pooler_section_alone_turns_the_master_pooler_on_as_in_zalando() {
    assert!(enabled(
        &cluster(json!({"connectionPooler": {}})),
        Role::Master
    ));
    assert!(!enabled(
        &cluster(json!({"connectionPooler": {}, "enableConnectionPooler": false})),
        Role::Master
    ));
    assert!(!enabled(
        &cluster(json!({"connectionPooler": {}})),
        Role::Replica
    ));
    let replica = cluster(json!({"enableReplicaConnectionPooler": true}));
    assert!(enabled(&replica, Role::Replica) && !enabled(&replica, Role::Master));
    assert!(!any_enabled(&cluster(json!({}))));
}

#[test]
fn pool_sizes_share_the_server_connections_among_the_pods() {
    let config = Config::default();
    let pg = cluster(json!({"enableConnectionPooler": true,
        "connectionPooler": {"numberOfInstances": 3, "maxDBConnections": 90, "mode": "session"}}));
    let env = env_of(&deployment(&config, &pg, Role::Master));
    assert_eq!(env["CONNECTION_POOLER_MAX_DB_CONN"], "30");
    assert_eq!(env["CONNECTION_POOLER_DEFAULT_SIZE"], "15");
    assert_eq!(env["CONNECTION_POOLER_MIN_SIZE"], "7");
    assert_eq!(env["CONNECTION_POOLER_RESERVE_SIZE"], "7");
    assert_eq!(env["CONNECTION_POOLER_MODE"], "session");
    assert_eq!(env["CONNECTION_POOLER_MAX_CLIENT_CONN"], "10000");
    // The defaults: 60 connections over 2 pods, transaction pooling.
    let env = env_of(&deployment(
        &config,
        &cluster(json!({"enableConnectionPooler": true})),
        Role::Master,
    ));
    assert_eq!(env["CONNECTION_POOLER_MAX_DB_CONN"], "30");
    assert_eq!(env["CONNECTION_POOLER_MODE"], "transaction");
}

#[test]
fn each_role_reaches_its_own_service_with_the_pooler_users_secret() {
    let config = Config::default();
    let pg = cluster(
        json!({"enableConnectionPooler": true, "enableReplicaConnectionPooler": true,
        "connectionPooler": {"user": "bouncer", "schema": "lookup"}}),
    );
    let master = env_of(&deployment(&config, &pg, Role::Master));
    let replica = env_of(&deployment(&config, &pg, Role::Replica));
    assert_eq!(master["PGHOST"], "acid-p");
    assert_eq!(replica["PGHOST"], "acid-p-repl");
    assert_eq!(
        master["PGPASSWORD"],
        "bouncer.acid-p.credentials.postgresql.acid.zalan.do/password"
    );
    assert_eq!(master["PGSCHEMA"], "lookup");
}

#[test]
fn the_service_selects_the_pooler_pods_and_the_deployment_not_the_spilo_pods() {
    let config = Config::default();
    let pg = cluster(json!({"enableReplicaConnectionPooler": true}));
    let svc = service(&config, &pg, Role::Replica);
    assert_eq!(svc.metadata.name.as_deref(), Some("acid-p-pooler-repl"));
    let spec = svc.spec.expect("spec");
    assert_eq!(
        spec.selector,
        Some(BTreeMap::from([(
            "connection-pooler".to_string(),
            "acid-p-pooler-repl".to_string()
        )]))
    );
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    let d = deployment(&config, &pg, Role::Replica);
    let selector = d
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .expect("selector");
    assert_eq!(selector["application"], APPLICATION);
    assert!(!selector.contains_key(ROLE_LABEL));
    let pod_labels = d
        .spec
        .and_then(|s| s.template.metadata)
        .and_then(|m| m.labels)
        .expect("labels");
    assert_eq!(pod_labels[ROLE_LABEL], "replica");
    assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
}

#[test]
fn the_pooler_role_gets_a_secret_and_the_lookup_unless_a_standby_or_a_manifest_user() {
    let config = Config::default();
    let mut state = crate::render::database::postgresql_database_state(
        &cluster(json!({})),
        &config.secret_name_template,
    );
    let pg = cluster(json!({"enableConnectionPooler": true}));
    add_to_database(&config, &pg, &mut state);
    let role = &state.roles["pooler"];
    assert_eq!(role.origin, RoleOrigin::ConnectionPooler);
    assert_eq!(
        role.secret.as_deref(),
        Some("pooler.acid-p.credentials.postgresql.acid.zalan.do")
    );
    assert!(role.attributes.login);
    assert_eq!(
        state.pooler_lookup,
        Some(PoolerLookup {
            schema: "pooler".into(),
            user: "pooler".into()
        })
    );

    let standby = cluster(json!({"enableConnectionPooler": true,
        "standby": {"standby_host": "acid-source.ns"}}));
    let mut state =
        crate::render::database::postgresql_database_state(&standby, &config.secret_name_template);
    add_to_database(&config, &standby, &mut state);
    assert_eq!(state.pooler_lookup, None);

    let listed =
        cluster(json!({"enableConnectionPooler": true, "users": {"pooler": ["createdb"]}}));
    let mut state =
        crate::render::database::postgresql_database_state(&listed, &config.secret_name_template);
    add_to_database(&config, &listed, &mut state);
    assert_eq!(state.roles["pooler"].origin, RoleOrigin::Manifest);
}
