//! One parity run: the corpus created in a namespace watched by Zalando's operator, its objects
//! once they settle, ours for the same manifests and the same ConfigMap (server-side dry run in
//! a twin namespace, so both carry the apiserver's defaults), normalized and compared object by
//! object, with the Spilo pods' effective permissions on both sides.

use super::corpus::{self, Entry};
use super::diff::{Difference, diff};
use super::normalize::{Context, drop_patroni_fields, made_by_patroni, normalize};
use crate::support::spilo::checkpoints::Checkpoints;
use crate::support::zalando::{Zalando, module_configmap, module_manifest};
use crate::support::{TestNamespace, install_crds};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use postgres_reconciler::api::Postgresql;
use postgres_reconciler::config::{Config, Sources};
use postgres_reconciler::observe::pod_environment::observe_pod_environment;
use postgres_reconciler::render::{self, ApplyPolicy, Manifest, live::LiveFacts};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Zalando v1's default: Patroni's leader lock in Endpoints.
    Endpoints,
    /// `kubernetes_use_configmaps: "true"` (v2's default).
    ConfigMaps,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Endpoints => "endpoints",
            Mode::ConfigMaps => "configmaps",
        }
    }

    /// Endpoints mode runs with the module's configuration as it is; ConfigMaps mode adds the
    /// pod settings production clusters have (Zalando's WAL keys, a pod environment ConfigMap
    /// and Secret, a mounted credentials Secret, an operator sidecar, the shared socket), so
    /// every corpus cluster is compared both without and with them.
    pub fn overrides(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Mode::Endpoints => vec![],
            Mode::ConfigMaps => {
                let mut all = vec![("kubernetes_use_configmaps", "true")];
                all.extend(PRODUCTION_POD_SETTINGS);
                all
            }
        }
    }

    /// Creates what the mode's configuration refers to in `namespace`.
    pub async fn prepare(self, client: &kube::Client, namespace: &str) {
        if self == Mode::ConfigMaps {
            create_pod_environment(client, namespace).await;
            super::corpus::install_priority_classes(client, &[]).await;
        }
    }
}

pub const POD_ENVIRONMENT_CONFIGMAP: &str = "pod-env";
pub const POD_ENVIRONMENT_SECRET: &str = "pod-env-secret";
pub const WAL_CREDENTIALS_SECRET: &str = "wal-credentials";
/// `logical_backup_cronjob_environment_secret`: one key, as Zalando lists a Secret's keys in
/// Go's map order (random) and the apiserver keeps the order it is given.
pub const BACKUP_ENVIRONMENT_SECRET: &str = "backup-env";

/// Every operator key of WAL archiving, each where it overlaps another (S3 and GCS both give
/// the scope suffix; the ConfigMap sets WAL_S3_BUCKET too and wins over the key), the
/// operator's sidecars (a ConfigMap's map cannot hold an image tag: Zalando splits on `:`),
/// scheduling (the fake nodes are `type: kwok`, one per zone; anti-affinity preferred, as
/// small clusters set it), the container's security keys, annotations, and resource bounds
/// other than the defaults (`dshm` only where a manifest asks for it).
const PRODUCTION_POD_SETTINGS: [(&str, &str); 39] = [
    ("wal_s3_bucket", "parity-wal"),
    ("wal_gs_bucket", "parity-wal-gs"),
    ("wal_az_storage_account", "paritywal"),
    ("gcp_credentials", "/meta/credentials/gcs.json"),
    ("log_s3_bucket", "parity-logs"),
    ("kube_iam_role", "parity-iam-role"),
    ("additional_secret_mount", WAL_CREDENTIALS_SECRET),
    ("additional_secret_mount_path", "/meta/credentials"),
    ("pod_environment_configmap", POD_ENVIRONMENT_CONFIGMAP),
    ("pod_environment_secret", POD_ENVIRONMENT_SECRET),
    ("sidecar_docker_images", "logs:busybox"),
    ("share_pgsocket_with_sidecars", "true"),
    (
        "toleration",
        "key:postgres,operator:Exists,effect:NoSchedule",
    ),
    ("node_readiness_label", "type:kwok"),
    ("node_readiness_label_merge", "AND"),
    ("enable_pod_antiaffinity", "true"),
    ("pod_antiaffinity_preferred_during_scheduling", "true"),
    (
        "pod_antiaffinity_topology_key",
        "topology.kubernetes.io/zone",
    ),
    (
        "pod_priority_class_name",
        super::corpus::PARITY_PRIORITY_CLASS,
    ),
    ("spilo_allow_privilege_escalation", "false"),
    ("additional_pod_capabilities", "SYS_NICE"),
    ("downscaler_annotations", "downscaler/.*"),
    (
        "custom_pod_annotations",
        "team.example.com/owner:dba,prometheus.io/scrape:true",
    ),
    ("custom_service_annotations", "team.example.com/owner:dba"),
    ("enable_shm_volume", "false"),
    ("pod_terminate_grace_period", "2m"),
    ("enable_readiness_probe", "true"),
    ("min_cpu_limit", "300m"),
    ("min_memory_limit", "300Mi"),
    ("max_cpu_request", "1500m"),
    ("max_memory_request", "2Gi"),
    ("set_memory_request_to_limit", "true"),
    (
        "persistent_volume_claim_retention_policy",
        "when_deleted:delete,when_scaled:retain",
    ),
    // Logical backups (the corpus's manifests that enable them).
    ("logical_backup_s3_bucket", "parity-dumps"),
    ("logical_backup_s3_retention_time", "1 week"),
    ("logical_backup_s3_access_key_id", "parity-dump-key-id"),
    ("logical_backup_cpu_request", "50m"),
    ("logical_backup_memory_limit", "300Mi"),
    (
        "logical_backup_cronjob_environment_secret",
        BACKUP_ENVIRONMENT_SECRET,
    ),
];

/// WAL-G settings as Zalando's documentation puts them: the ConfigMap (one variable also in the
/// Secret, which wins), the keys in the Secret, a credentials file in the mounted Secret.
pub async fn create_pod_environment(client: &kube::Client, namespace: &str) {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    let configmap = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(POD_ENVIRONMENT_CONFIGMAP.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from(
            [
                ("USE_WALG_BACKUP", "true"),
                ("USE_WALG_RESTORE", "true"),
                ("CLONE_USE_WALG_RESTORE", "true"),
                ("AWS_ENDPOINT", "http://s3.parity.invalid:9000"),
                ("AWS_S3_FORCE_PATH_STYLE", "true"),
                ("AWS_REGION", "eu-central-1"),
                ("WAL_S3_BUCKET", "parity-wal-from-configmap"),
                ("BACKUP_SCHEDULE", "00 01 * * *"),
                ("BACKUP_NUM_TO_RETAIN", "5"),
                ("AWS_ACCESS_KEY_ID", "shadowed-by-the-secret"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        )),
        ..Default::default()
    };
    let secret = |name: &str, data: &[(&str, &str)]| Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &configmap)
        .await
        .expect("create the pod environment ConfigMap");
    let secrets = Api::<Secret>::namespaced(client.clone(), namespace);
    for s in [
        secret(
            POD_ENVIRONMENT_SECRET,
            &[
                ("AWS_ACCESS_KEY_ID", "parity-access-key"),
                ("AWS_SECRET_ACCESS_KEY", "parity-secret-key"),
            ],
        ),
        secret(WAL_CREDENTIALS_SECRET, &[("gcs.json", "{}")]),
        secret(
            BACKUP_ENVIRONMENT_SECRET,
            &[("LOGICAL_BACKUP_S3_SSE_KMS_KEY", "parity-kms")],
        ),
    ] {
        secrets
            .create(&PostParams::default(), &s)
            .await
            .expect("create a pod environment Secret");
    }
}

pub struct Outcome {
    pub differences: Vec<Difference>,
    /// Corpus manifests our validation refused: (source, name, errors).
    pub refused: Vec<(Entry, Vec<String>)>,
    /// Manifests whose cluster Zalando did not bring to `Running`, with its status.
    pub not_running: Vec<(String, String)>,
    pub compared_objects: usize,
    pub elapsed: Duration,
    /// Accepted manifests that Zalando's own CRD would refuse: (name, source, why).
    pub zalando_crd_refuses: Vec<(String, String, String)>,
}

/// Kinds compared, and how to list them.
const KINDS: &[(&str, &str, &str, &str)] = &[
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("", "v1", "Service", "services"),
    ("", "v1", "Endpoints", "endpoints"),
    ("", "v1", "Secret", "secrets"),
    ("", "v1", "ConfigMap", "configmaps"),
    ("", "v1", "ServiceAccount", "serviceaccounts"),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
    ),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
    ),
    ("apps", "v1", "Deployment", "deployments"),
    ("batch", "v1", "CronJob", "cronjobs"),
];

fn api(client: &kube::Client, ns: &str, api_version: &str, kind: &str) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let plural = KINDS
        .iter()
        .find(|k| k.2 == kind)
        .map(|k| k.3.to_string())
        .unwrap_or_else(|| format!("{}s", kind.to_lowercase()));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, &plural),
    )
}

/// Objects no operator made: namespace defaults, the oracle's own ConfigMap, Endpoints the
/// endpoints controller keeps for Services with a selector, and Patroni's own DCS objects.
fn made_by_someone_else(kind: &str, o: &Value) -> bool {
    if made_by_patroni(o) {
        return true;
    }
    let name = o["metadata"]["name"].as_str().unwrap_or_default();
    let labels = &o["metadata"]["labels"];
    match kind {
        "ServiceAccount" => name == "default",
        "ConfigMap" => {
            name == "kube-root-ca.crt"
                || name == crate::support::zalando::CONFIGMAP_NAME
                || name == POD_ENVIRONMENT_CONFIGMAP
        }
        "Secret" => {
            name == POD_ENVIRONMENT_SECRET
                || name == WAL_CREDENTIALS_SECRET
                || name == BACKUP_ENVIRONMENT_SECRET
                || name == TEAMS_TOKEN_SECRET
        }
        "Endpoints" => labels.get("endpoints.kubernetes.io/managed-by").is_some(),
        _ => false,
    }
}

/// The connection pooler's Deployments and Services: Zalando makes them only with database
/// access (its lookup function comes first), which the corpus's oracle runs without; they are
/// compared by `parity::pooler`, whose oracle has it.
fn compared_by_the_pooler_test(o: &Value) -> bool {
    o["metadata"]["labels"]["application"] == postgres_reconciler::render::pooler::APPLICATION
}

async fn list_all(client: &kube::Client, ns: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (group, version, kind, _) in KINDS {
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let list = api(client, ns, &api_version, kind)
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("list {kind} in {ns}: {e}"));
        for item in list {
            let mut v = serde_json::to_value(&item).expect("json");
            v["kind"] = Value::from(*kind);
            v["apiVersion"] = Value::from(api_version.clone());
            if !made_by_someone_else(kind, &v) && !compared_by_the_pooler_test(&v) {
                drop_patroni_fields(&mut v);
                out.push((kind.to_string(), v));
            }
        }
    }
    out
}

/// What the operator made, as content: Patroni's writes (its leader's renewals every
/// `loop_wait`) change the resource versions of objects whose operator fields stand still.
fn fingerprint(objects: &[(String, Value)]) -> BTreeSet<(String, String, String)> {
    objects
        .iter()
        .map(|(k, o)| {
            let mut content = o.clone();
            if let Some(m) = content["metadata"].as_object_mut() {
                m.remove("resourceVersion");
                m.remove("managedFields");
            }
            (
                k.clone(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                content.to_string(),
            )
        })
        .collect()
}

/// The ConfigMap both operators get, written where our `--config` reads it.
pub fn configmap_file(data: &BTreeMap<String, String>, dir: &std::path::Path) -> PathBuf {
    let doc = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": crate::support::zalando::CONFIGMAP_NAME},
        "data": data,
    });
    let path = dir.join("zalando-configmap.yaml");
    std::fs::write(&path, serde_yaml::to_string(&doc).expect("yaml")).expect("write configmap");
    path
}

/// Ours from the ConfigMap the oracle gets for `namespace` in `mode` (module's, the mode's
/// overrides): both operators run with the same configuration.
pub fn our_configuration(namespace: &str, mode: Mode, dir: &std::path::Path) -> Config {
    let mut data = module_configmap();
    data.insert("watched_namespace".into(), namespace.into());
    for (k, v) in mode.overrides() {
        data.insert(k.into(), v.into());
    }
    Config::load_with_notes(&Sources {
        file: Some(configmap_file(&data, dir)),
        set: vec![],
    })
    .expect("our configuration from Zalando's ConfigMap")
    .0
}

/// Ours for one manifest as the apiserver stored it (its uid included), rendered with `config`.
pub async fn render_stored(
    h: &crate::support::reconciler::Harness,
    cluster: &str,
    config: &Config,
) -> postgres_reconciler::render::Desired {
    let stored = h.get("postgresql", cluster).await.expect("the manifest");
    let pg: Postgresql =
        postgres_reconciler::validate::deserialize_manifest(&stored).expect("reads");
    let desired = render::render_with(
        &[Manifest::Postgresql(Box::new(pg))],
        config,
        &LiveFacts::default(),
    );
    assert!(desired.invalid.is_empty(), "{:?}", desired.invalid);
    desired
}

/// The Teams API's token, in the Secret both operators read it from.
const TEAMS_TOKEN: &str = "parity-teams-token";
const TEAMS_TOKEN_SECRET: &str = "teams-token";

/// A Teams API (of its documented contract) that knows the corpus's main team, its token in a
/// Secret of `namespace`, and the operator keys that point to both.
async fn start_teams_api(
    client: &kube::Client,
    namespace: &str,
) -> (crate::support::teams_api::TeamsApi, Vec<(String, String)>) {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    let api = crate::support::teams_api::TeamsApi::start(TEAMS_TOKEN).await;
    api.set_team("acid", &["parity_member"]);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(TEAMS_TOKEN_SECRET.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            (
                "read-only-token-type".to_string(),
                ByteString(b"Bearer".to_vec()),
            ),
            (
                "read-only-token-secret".to_string(),
                ByteString(TEAMS_TOKEN.as_bytes().to_vec()),
            ),
        ])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .expect("the Teams API token Secret");
    let settings = vec![
        ("enable_teams_api".to_string(), "true".to_string()),
        ("teams_api_url".to_string(), api.url.clone()),
        (
            "oauth_token_secret_name".to_string(),
            format!("{namespace}/{TEAMS_TOKEN_SECRET}"),
        ),
    ];
    (api, settings)
}

/// The `postgres-pod` ClusterRole of Zalando's installation (the oracle's RoleBindings refer to it).
pub async fn install_pod_cluster_role(client: &kube::Client) {
    let role = module_manifest(
        "operator-service-account-rbac.yaml",
        "ClusterRole",
        "postgres-pod",
    );
    let api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", "ClusterRole"),
            "clusterroles",
        ),
    );
    api.patch(
        "postgres-pod",
        &PatchParams::apply("parity-harness").force(),
        &Patch::Apply(&role),
    )
    .await
    .expect("apply the postgres-pod ClusterRole");
}

/// A credential Secret of `cluster`, once the oracle has made it.
pub async fn credential_secret(
    client: &kube::Client,
    ns: &str,
    user: &str,
    cluster: &str,
) -> k8s_openapi::api::core::v1::Secret {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    let name = format!("{user}.{cluster}.credentials.postgresql.acid.zalan.do");
    crate::support::eventually(
        Duration::from_secs(120),
        &format!("Secret {name} from the oracle"),
        || async { secrets.get_opt(&name).await.ok().flatten() },
    )
    .await
}

pub fn password(secret: &k8s_openapi::api::core::v1::Secret) -> String {
    let value = secret.data.as_ref().and_then(|d| d.get("password"));
    value
        .map(|p| String::from_utf8_lossy(&p.0).into_owned())
        .unwrap_or_default()
}

/// Copies the superuser's and the replication user's credential Secrets of `source` to
/// `standby`, as the user of a streaming standby does before creating it.
async fn copy_credentials(client: &kube::Client, ns: &str, source: &str, standby: &str) {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    for user in ["postgres", "standby"] {
        let from = credential_secret(client, ns, user, source).await;
        let mut labels = from.metadata.labels.clone().unwrap_or_default();
        labels.insert("cluster-name".into(), standby.into());
        let copy = k8s_openapi::api::core::v1::Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(format!(
                    "{user}.{standby}.credentials.postgresql.acid.zalan.do"
                )),
                labels: Some(labels),
                ..Default::default()
            },
            data: from.data.clone(),
            type_: from.type_.clone(),
            ..Default::default()
        };
        secrets
            .create(&PostParams::default(), &copy)
            .await
            .unwrap_or_else(|e| panic!("copy {user}'s Secret of {source} to {standby}: {e}"));
    }
}

/// Until Patroni leads `cluster`: a standby or a clone of it can start.
async fn wait_for_leader(client: &kube::Client, ns: &str, cluster: &str) {
    crate::support::eventually(
        Duration::from_secs(300),
        &format!("a Patroni leader of {cluster}"),
        || async {
            let roles = crate::support::spilo::roles(client, ns, cluster).await;
            roles.values().any(|r| r == "master").then_some(())
        },
    )
    .await;
}

/// Until the oracle has made the StatefulSet of each of `names` (clusters whose pods cannot
/// bootstrap here: Zalando makes every object of theirs before it waits for the pods).
async fn wait_for_statefulsets(client: &kube::Client, ns: &str, names: &[String]) {
    let sets: Api<k8s_openapi::api::apps::v1::StatefulSet> = Api::namespaced(client.clone(), ns);
    for name in names {
        crate::support::eventually(
            Duration::from_secs(300),
            &format!("Zalando's StatefulSet {name}"),
            || async { sets.get_opt(name).await.ok().flatten() },
        )
        .await;
    }
}

const TERMINAL: &[&str] = &[
    "Running",
    "CreateFailed",
    "SyncFailed",
    "UpdateFailed",
    "Invalid",
];

pub async fn wait_for_oracle(
    client: &kube::Client,
    ns: &str,
    names: &[String],
    zalando: &Zalando,
) -> Vec<(String, String)> {
    let manifests = api(client, ns, "acid.zalan.do/v1", "postgresql");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let list = manifests
            .list(&ListParams::default())
            .await
            .expect("list manifests");
        let status: BTreeMap<String, String> = list
            .iter()
            .map(|m| {
                let s = m.data["status"]["PostgresClusterStatus"]
                    .as_str()
                    .unwrap_or("");
                (m.metadata.name.clone().unwrap_or_default(), s.to_string())
            })
            .collect();
        let pending: Vec<&String> = names
            .iter()
            .filter(|n| {
                !status
                    .get(*n)
                    .is_some_and(|s| TERMINAL.contains(&s.as_str()))
            })
            .collect();
        if pending.is_empty() {
            return status.into_iter().filter(|(_, s)| s != "Running").collect();
        }
        assert!(
            Instant::now() < deadline,
            "Zalando's operator did not settle {pending:?} within 10 minutes; see {}",
            zalando.log.display()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// What a run would observe for clusters in `namespace` besides their objects: the pod
/// environment sources of the mode's configuration.
pub async fn live_facts(client: &kube::Client, config: &Config, namespace: &str) -> LiveFacts {
    let namespaces = BTreeSet::from([namespace.to_string()]);
    LiveFacts {
        pod_environment: observe_pod_environment(client, config, &namespaces).await,
        ..LiveFacts::default()
    }
}

/// Until nothing changes for a few seconds (the oracle's syncs after create are done).
pub async fn quiet(client: &kube::Client, ns: &str) -> Vec<(String, Value)> {
    let mut last = BTreeSet::new();
    let mut stable = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let objects = list_all(client, ns).await;
        let now = fingerprint(&objects);
        stable = if now == last { stable + 1 } else { 0 };
        if stable >= 5 || Instant::now() > deadline {
            return objects;
        }
        last = now;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The subjects' permissions that matter to Patroni, by resource and verb.
async fn permissions(client: &kube::Client, ns: &str, sa: &str) -> BTreeSet<String> {
    let reviews: Api<SubjectAccessReview> = Api::all(client.clone());
    let mut allowed = BTreeSet::new();
    let resources = [
        ("", "configmaps"),
        ("", "endpoints"),
        ("", "pods"),
        ("", "services"),
        ("", "secrets"),
        ("apps", "statefulsets"),
        ("coordination.k8s.io", "leases"),
    ];
    let verbs = [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
    ];
    for (group, resource) in resources {
        for verb in verbs {
            let review = SubjectAccessReview {
                spec: SubjectAccessReviewSpec {
                    user: Some(format!("system:serviceaccount:{ns}:{sa}")),
                    groups: Some(vec![
                        "system:serviceaccounts".into(),
                        format!("system:serviceaccounts:{ns}"),
                        "system:authenticated".into(),
                    ]),
                    resource_attributes: Some(ResourceAttributes {
                        namespace: Some(ns.into()),
                        group: Some(group.into()),
                        resource: Some(resource.into()),
                        verb: Some(verb.into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            let answer = reviews
                .create(&PostParams::default(), &review)
                .await
                .expect("SubjectAccessReview");
            if answer.status.is_some_and(|s| s.allowed) {
                allowed.insert(format!("{resource}/{verb}"));
            }
        }
    }
    allowed
}

fn owner_of(o: &Value, clusters: &BTreeSet<String>, label: &str) -> String {
    o["metadata"]["labels"][label]
        .as_str()
        .filter(|c| clusters.contains(*c))
        .map(str::to_string)
        .unwrap_or_default()
}

pub async fn run(mode: Mode) -> Outcome {
    let started = Instant::now();
    let oracle_ns = TestNamespace::new(&format!("parity-{}", mode.name())).await;
    let twin = TestNamespace::new(&format!("parity-twin-{}", mode.name())).await;
    let client = oracle_ns.client.clone();
    install_crds(&client).await;
    install_pod_cluster_role(&client).await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&oracle_ns.name);
    std::fs::create_dir_all(&dir).expect("temp dir");

    let mut config = our_configuration(&oracle_ns.name, mode, &dir);
    // Production clusters have human users: the Teams API is on, and must not change a thing
    // of the objects.
    let teams = match mode {
        Mode::ConfigMaps => Some(start_teams_api(&client, &oracle_ns.name).await),
        Mode::Endpoints => None,
    };
    let mut overrides: Vec<(String, String)> = mode
        .overrides()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some((_, settings)) = &teams {
        overrides.extend(settings.iter().cloned());
        config.enable_teams_api = true;
        config.teams_api_url = settings[1].1.clone();
        config.oauth_token_secret_name = settings[2].1.clone();
    }
    mode.prepare(&client, &oracle_ns.name).await;
    mode.prepare(&client, &twin.name).await;
    let in_oracle = live_facts(&client, &config, &oracle_ns.name).await;

    // The corpus: refused ones stay out of both namespaces.
    let entries = corpus::load();
    corpus::install_storage_classes(&client, &entries).await;
    corpus::install_priority_classes(&client, &entries).await;
    let mut refused = Vec::new();
    let mut accepted = Vec::new();
    for entry in entries {
        let mut doc = entry.doc.clone();
        corpus::in_namespace(&mut doc, &oracle_ns.name);
        let errors = corpus::refusals(&doc, &config, &in_oracle);
        // Kept without a namespace: each check creates it where it runs.
        if let Some(m) = doc["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        match errors {
            errors if errors.is_empty() => accepted.push(corpus::Entry { doc, ..entry }),
            errors => refused.push((entry, errors)),
        }
    }
    let manifests = api(&client, &oracle_ns.name, "acid.zalan.do/v1", "postgresql");
    let create = |entry: &corpus::Entry| {
        let manifests = manifests.clone();
        let object: DynamicObject = serde_json::from_value(entry.doc.clone()).expect("manifest");
        let what = format!("{} ({})", entry.name(), entry.source);
        async move {
            manifests
                .create(&PostParams::default(), &object)
                .await
                .unwrap_or_else(|e| panic!("{what}: refused by our CRD: {e}"));
        }
    };
    // A standby or a clone of a corpus cluster comes once its source runs (a user clones a
    // running cluster); a streaming standby's user copies the source's Secrets to the
    // standby's first (Zalando's documented way), so its replication user can log in.
    // Clusters restoring from a WAL archive come last: their pods cannot bootstrap here, and
    // Zalando's worker for them waits for their pods (its `resource_check_timeout`), holding up
    // every cluster queued behind them on that worker.
    let (runnable, archive_only): (Vec<&corpus::Entry>, Vec<&corpus::Entry>) =
        accepted.iter().partition(|e| corpus::runs_here(&e.doc));
    let (dependents, others): (Vec<&corpus::Entry>, Vec<&corpus::Entry>) = runnable
        .iter()
        .partition(|e| corpus::bootstrap_source(&e.doc).is_some());
    for entry in &others {
        create(entry).await;
    }
    let names: Vec<String> = runnable.iter().map(|e| e.name().to_string()).collect();
    // Once is enough: the CRD is the same in both modes.
    let zalando_crd_refuses = match mode {
        Mode::Endpoints => super::zalando_crd::refusals(&accepted).await,
        Mode::ConfigMaps => Vec::new(),
    };

    let overrides: Vec<(&str, &str)> = overrides
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut zalando = Zalando::start(&client, &oracle_ns.name, &overrides, &dir).await;
    let mut checkpoints = Vec::new();
    for entry in &dependents {
        let source = corpus::bootstrap_source(&entry.doc).unwrap_or_default();
        let ns = &oracle_ns.name;
        if corpus::standby_source(&entry.doc).is_some() {
            copy_credentials(&client, ns, &source, entry.name()).await;
        }
        let superuser = password(&credential_secret(&client, ns, "postgres", &source).await);
        wait_for_leader(&client, ns, &source).await;
        checkpoints.push(Checkpoints::start(client.clone(), ns, &source, superuser));
        create(entry).await;
    }
    let mut not_running = wait_for_oracle(&client, &oracle_ns.name, &names, &zalando).await;
    // Without database access the oracle cannot install a pooler's lookup function, and says so
    // (SyncFailed); `parity::pooler` runs one with it.
    not_running.retain(|(name, status)| {
        let pooled = accepted
            .iter()
            .any(|e| e.name() == name && corpus::has_pooler(&e.doc));
        !(pooled && status == "SyncFailed")
    });
    for entry in &archive_only {
        create(entry).await;
    }
    let archive_names: Vec<String> = archive_only.iter().map(|e| e.name().to_string()).collect();
    wait_for_statefulsets(&client, &oracle_ns.name, &archive_names).await;
    drop(checkpoints);
    let theirs = quiet(&client, &oracle_ns.name).await;
    zalando.stop();
    if let Some((api, _)) = &teams {
        assert!(
            api.asked().iter().any(|t| t == "acid"),
            "Zalando's operator asked the Teams API nothing; see {}",
            zalando.log.display()
        );
    }

    // Ours, from the manifests as the apiserver stored them (uids included), rendered into the
    // twin namespace so that every namespace reference points there.
    let stored: Vec<Manifest> = manifests
        .list(&ListParams::default())
        .await
        .expect("list manifests")
        .into_iter()
        .map(|m| {
            let value = serde_json::to_value(&m).expect("json");
            let mut pg: Postgresql = postgres_reconciler::validate::deserialize_manifest(&value)
                .expect("stored manifest reads");
            pg.metadata.namespace = Some(twin.name.clone());
            Manifest::Postgresql(Box::new(pg))
        })
        .collect();
    let desired = render::render_with(
        &stored,
        &config,
        &live_facts(&client, &config, &twin.name).await,
    );
    assert!(desired.invalid.is_empty(), "{:?}", desired.invalid);
    let mut ours = Vec::new();
    let objects = desired
        .manifests
        .iter()
        .flat_map(|m| m.objects.iter())
        .chain(desired.shared.iter())
        .filter(|o| o.policy != ApplyPolicy::UpdateOnly)
        .filter(|o| !compared_by_the_pooler_test(&o.body.value()));
    for object in objects {
        let mut body = object.body.value();
        if object.policy == ApplyPolicy::CreateOnly && object.kind == "Secret" {
            // What apply adds when it creates a credential Secret: a generated password.
            body["data"]["password"] = Value::from("cGFyaXR5");
        }
        let api = api(&client, &twin.name, &object.api_version, &object.kind);
        let rbac = matches!(
            object.kind.as_str(),
            "ServiceAccount" | "Role" | "RoleBinding"
        );
        if rbac {
            // Applied for real, so the permission check below sees them; without owners, which
            // do not exist in the twin namespace (the garbage collector would remove them).
            let mut real = body.clone();
            if let Some(m) = real["metadata"].as_object_mut() {
                m.remove("ownerReferences");
            }
            api.patch(
                &object.name,
                &PatchParams::apply("postgres-reconciler"),
                &Patch::Apply(&real),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {} {}: {e}", object.kind, object.name));
        }
        let dry = api
            .patch(
                &object.name,
                &PatchParams::apply("postgres-reconciler").dry_run().force(),
                &Patch::Apply(&body),
            )
            .await
            .unwrap_or_else(|e| panic!("dry run {} {}: {e}", object.kind, object.name));
        let mut v = serde_json::to_value(&dry).expect("json");
        v["kind"] = Value::from(object.kind.clone());
        ours.push((object.kind.clone(), v));
    }

    // Compare.
    let clusters: BTreeSet<String> = accepted.iter().map(|e| e.name().to_string()).collect();
    let node_ports: BTreeSet<i64> = accepted
        .iter()
        .flat_map(|e| ["masterNodePort", "replicaNodePort"].map(|k| e.doc["spec"][k].as_i64()))
        .flatten()
        .collect();
    let ctx = Context {
        twin: &twin.name,
        oracle: &oracle_ns.name,
        requested_node_ports: &node_ports,
    };
    let label = config.cluster_name_label.clone();
    let keyed = |list: Vec<(String, Value)>, is_ours: bool| {
        list.into_iter()
            .map(|(kind, mut o)| {
                let name = o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let cluster = owner_of(&o, &clusters, &label);
                normalize(&kind, &mut o, &ctx, is_ours);
                ((kind, name), (cluster, o))
            })
            .collect::<BTreeMap<_, _>>()
    };
    let ours = keyed(ours, true);
    let theirs = keyed(theirs, false);
    let mut differences = Vec::new();
    let keys: BTreeSet<&(String, String)> = ours.keys().chain(theirs.keys()).collect();
    for key in &keys {
        let (a, b) = (ours.get(*key), theirs.get(*key));
        let cluster = a.or(b).map(|(c, _)| c.clone()).unwrap_or_default();
        let name = if cluster.is_empty() {
            key.1.clone()
        } else {
            key.1.replace(&cluster, "{cluster}")
        };
        let push = |path: String,
                    ours: Option<Value>,
                    zalando: Option<Value>,
                    out: &mut Vec<Difference>| {
            out.push(Difference {
                manifest: cluster.clone(),
                kind: key.0.clone(),
                name: name.clone(),
                path,
                ours,
                zalando,
            })
        };
        match (a, b) {
            (Some(_), None) => push(
                "(object)".into(),
                Some("present".into()),
                None,
                &mut differences,
            ),
            (None, Some(_)) => push(
                "(object)".into(),
                None,
                Some("present".into()),
                &mut differences,
            ),
            (Some((_, x)), Some((_, y))) => {
                for (path, o, z) in diff(Some(x), Some(y)) {
                    push(path, o, z, &mut differences);
                }
            }
            (None, None) => {}
        }
    }

    let sa = config.pod_service_account_name.clone();
    let (mine, theirs_allowed) = (
        permissions(&client, &twin.name, &sa).await,
        permissions(&client, &oracle_ns.name, &sa).await,
    );
    for p in mine.symmetric_difference(&theirs_allowed) {
        differences.push(Difference {
            manifest: String::new(),
            kind: "Permissions".into(),
            name: sa.clone(),
            path: p.clone(),
            ours: Some(mine.contains(p).into()),
            zalando: Some(theirs_allowed.contains(p).into()),
        });
    }

    Outcome {
        differences,
        refused,
        not_running,
        compared_objects: keys.len(),
        elapsed: started.elapsed(),
        zalando_crd_refuses,
    }
}
