//! The connection pooler of a cluster with `enableConnectionPooler` (master) or
//! `enableReplicaConnectionPooler` (replicas), as Zalando's `connection_pooler.go` makes it: per
//! role a PgBouncer Deployment and a Service `<cluster>-pooler` / `<cluster>-pooler-repl`, one
//! login role (`connection_pooler_user`) with its credential Secret, and in every database the
//! schema with the `user_lookup` function PgBouncer's `auth_query` calls (see
//! [`crate::plan::sql`]). The image reads its settings from the container's environment.

use super::meta::{self, ROLE_LABEL};
use super::services::{self, Role};
use super::spilo::{secret_key, value};
use crate::api::Postgresql;
use crate::api::postgresql::{ConnectionPooler, ResourceAmounts, Resources};
use crate::config::Config;
use crate::render::database::{
    DesiredDatabaseState, DesiredRole, PoolerLookup, RoleAttributes, RoleMode, RoleOrigin,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SecurityContext,
    Service, ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};

pub const CONTAINER: &str = "connection-pooler";
/// The `application` label of the pooler's objects and pods (Zalando's), which keeps them
/// apart from the Spilo pods that share the cluster labels.
pub const APPLICATION: &str = "db-connection-pooler";
const POOLER_LABEL: &str = "connection-pooler";
const PORT: i32 = 5432;
/// PgBouncer's client connection limit, not configurable in Zalando either.
const MAX_CLIENT_CONNECTIONS: i32 = 10000;
/// The pooler image runs as this user and group (Zalando's).
const RUN_AS_USER: i64 = 100;
const RUN_AS_GROUP: i64 = 101;

/// Zalando: `connectionPooler` without `enableConnectionPooler` turns the master pooler on too.
pub fn enabled(pg: &Postgresql, role: Role) -> bool {
    let spec = &pg.spec;
    match role {
        Role::Master => match spec.enable_connection_pooler {
            Some(on) => on,
            None => spec.connection_pooler.is_some(),
        },
        Role::Replica => spec.enable_replica_connection_pooler == Some(true),
    }
}

pub fn any_enabled(pg: &Postgresql) -> bool {
    enabled(pg, Role::Master) || enabled(pg, Role::Replica)
}

/// `<cluster>-pooler`, `<cluster>-pooler-repl`.
pub fn name(cluster: &str, role: Role) -> String {
    match role {
        Role::Master => format!("{cluster}-pooler"),
        Role::Replica => format!("{cluster}-pooler-repl"),
    }
}

fn section(pg: &Postgresql) -> ConnectionPooler {
    pg.spec.connection_pooler.clone().unwrap_or_default()
}

fn or_default(set: Option<String>, default: &str) -> String {
    set.filter(|s| !s.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// The pooler's login role (validation refuses the superuser and protected or system roles).
pub fn user(config: &Config, pg: &Postgresql) -> String {
    or_default(section(pg).user, &config.connection_pooler_user)
}

pub fn schema(config: &Config, pg: &Postgresql) -> String {
    or_default(section(pg).schema, &config.connection_pooler_schema)
}

fn instances(config: &Config, pg: &Postgresql) -> i32 {
    section(pg)
        .number_of_instances
        .unwrap_or(config.connection_pooler_number_of_instances)
        .max(1)
}

/// The pooler role (unless the manifest lists a user of that name, which then wins, as in
/// Zalando) and the lookup function in every database; none in a standby cluster, which is
/// read-only.
pub fn add_to_database(config: &Config, pg: &Postgresql, database: &mut DesiredDatabaseState) {
    if !any_enabled(pg) {
        return;
    }
    let user = user(config, pg);
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let namespace = pg.metadata.namespace.as_deref().unwrap_or("default");
    let secret =
        super::database::secret_name(&config.secret_name_template, &user, cluster, namespace);
    database
        .roles
        .entry(user.clone())
        .or_insert_with(|| DesiredRole {
            name: user.clone(),
            attributes: RoleAttributes::LOGIN,
            member_of: BTreeSet::new(),
            admins: BTreeSet::new(),
            parameters: BTreeMap::new(),
            secret: Some(secret),
            secret_namespace: None,
            mode: RoleMode::Managed,
            origin: RoleOrigin::ConnectionPooler,
            rotation: None,
            rotation_of: None,
        });
    if pg.spec.standby.is_none() {
        database.pooler_lookup = Some(PoolerLookup {
            schema: schema(config, pg),
            user,
        });
    }
}

/// Labels of the pooler's objects of one role: the cluster labels (team and inherited labels
/// too with `extra`), Zalando's `application` and `connection-pooler`, and `spilo-role` with
/// `extra`.
fn labels(config: &Config, pg: &Postgresql, role: Role, extra: bool) -> BTreeMap<String, String> {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let mut labels = if extra {
        let mut l = meta::object_labels(config, pg);
        l.remove(meta::MANAGED_BY.0);
        l
    } else {
        meta::selector_labels(config, cluster)
    };
    labels.insert("application".into(), APPLICATION.into());
    labels.insert(POOLER_LABEL.into(), name(cluster, role));
    if extra {
        labels.insert(ROLE_LABEL.into(), role.label().into());
    }
    labels
}

/// Labels of the credential Secret of a role named `pooler` (Zalando's default pooler user, by
/// name, whatever the pooler's configured user): the master pooler's selector labels.
pub fn secret_labels(config: &Config, pg: &Postgresql) -> BTreeMap<String, String> {
    with_managed_by(labels(config, pg, Role::Master, false))
}

/// Zalando's `constants.ConnectionPoolerUserName`.
pub const DEFAULT_USER: &str = "pooler";

fn with_managed_by(mut labels: BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels.insert(meta::MANAGED_BY.0.into(), meta::MANAGED_BY.1.into());
    labels
}

pub fn deployment(config: &Config, pg: &Postgresql, role: Role) -> Deployment {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let mut metadata = meta::cluster_object_meta(
        config,
        pg,
        &name(cluster, role),
        &super::statefulset::downscaler_annotations(config, pg),
        true,
    );
    metadata.labels = Some(with_managed_by(labels(config, pg, role, true)));
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(instances(config, pg)),
            selector: LabelSelector {
                match_labels: Some(labels(config, pg, role, false)),
                ..Default::default()
            },
            template: pod_template(config, pg, role),
            ..Default::default()
        }),
        status: None,
    }
}

/// `connectionPooler.resources` over the `connection_pooler_default_*` keys.
fn resources(config: &Config, pg: &Postgresql) -> Resources {
    let spec = section(pg).resources.unwrap_or_default();
    let amounts = |set: Option<ResourceAmounts>, cpu: &str, memory: &str| {
        let set = set.unwrap_or_default();
        Some(ResourceAmounts {
            cpu: Some(or_default(set.cpu, cpu)),
            memory: Some(or_default(set.memory, memory)),
        })
    };
    Resources {
        requests: amounts(
            spec.requests,
            &config.connection_pooler_default_cpu_request,
            &config.connection_pooler_default_memory_request,
        ),
        limits: amounts(
            spec.limits,
            &config.connection_pooler_default_cpu_limit,
            &config.connection_pooler_default_memory_limit,
        ),
    }
}

/// The pool sizes, as Zalando derives them: the server connections are shared by the pods.
fn pool_env(config: &Config, pg: &Postgresql) -> Vec<k8s_openapi::api::core::v1::EnvVar> {
    let spec = section(pg);
    let mode = or_default(spec.mode, &config.connection_pooler_mode);
    let max_db = spec
        .max_db_connections
        .unwrap_or(config.connection_pooler_max_db_connections);
    let per_pod = max_db / instances(config, pg);
    let default_size = per_pod / 2;
    let min_size = default_size / 2;
    vec![
        value("CONNECTION_POOLER_PORT", PORT.to_string()),
        value("CONNECTION_POOLER_MODE", mode),
        value("CONNECTION_POOLER_DEFAULT_SIZE", default_size.to_string()),
        value("CONNECTION_POOLER_MIN_SIZE", min_size.to_string()),
        value("CONNECTION_POOLER_RESERVE_SIZE", min_size.to_string()),
        value(
            "CONNECTION_POOLER_MAX_CLIENT_CONN",
            MAX_CLIENT_CONNECTIONS.to_string(),
        ),
        value("CONNECTION_POOLER_MAX_DB_CONN", per_pod.to_string()),
    ]
}

fn pod_template(config: &Config, pg: &Postgresql, role: Role) -> PodTemplateSpec {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let namespace = pg.metadata.namespace.as_deref().unwrap_or("default");
    let spec = section(pg);
    // Zalando names the Secret after the configured or manifest user as written.
    let secret = super::database::secret_name(
        &config.secret_name_template,
        &user(config, pg),
        cluster,
        namespace,
    );
    let mut env = vec![
        value("PGHOST", role.service_name(cluster)),
        value("PGPORT", PORT.to_string()),
        secret_key("PGUSER", &secret, "username"),
        value("PGSCHEMA", schema(config, pg)),
        secret_key("PGPASSWORD", &secret, "password"),
    ];
    env.extend(pool_env(config, pg));
    let (mut volumes, mut mounts) = (Vec::new(), Vec::new());
    if let Some(tls) = super::tls::tls(pg) {
        env.extend(super::tls::env_named(
            tls,
            [
                "CONNECTION_POOLER_CLIENT_TLS_CRT",
                "CONNECTION_POOLER_CLIENT_TLS_KEY",
                "CONNECTION_POOLER_CLIENT_CA_FILE",
            ],
        ));
        for v in super::tls::volumes(tls) {
            let mut source = serde_json::Value::Object(v.volume_source.clone());
            source["name"] = v.name.clone().into();
            if let Ok(volume) = serde_json::from_value::<Volume>(source) {
                volumes.push(volume);
            }
            mounts.push(VolumeMount {
                name: v.name.clone(),
                mount_path: v.mount_path.clone(),
                ..Default::default()
            });
        }
    }
    let container = Container {
        name: CONTAINER.into(),
        image: Some(or_default(
            spec.docker_image.clone(),
            &config.connection_pooler_image,
        )),
        image_pull_policy: Some("IfNotPresent".into()),
        resources: Some(super::resources::container_resources(
            config,
            Some(&resources(config, pg)),
            false,
        )),
        ports: Some(vec![ContainerPort {
            container_port: PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        readiness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(PORT),
                host: None,
            }),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            ..Default::default()
        }),
        env: Some(env),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        ..Default::default()
    };
    let mut annotations = meta::inherited_annotations(config, pg);
    annotations.extend(config.custom_pod_annotations.clone());
    annotations.extend(pg.spec.pod_annotations.clone());
    PodTemplateSpec {
        metadata: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            labels: Some(labels(config, pg, role, true)),
            namespace: pg.metadata.namespace.clone(),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            termination_grace_period_seconds: Some(config.pod_terminate_grace_period_seconds),
            containers: vec![container],
            tolerations: super::scheduling::tolerations(config, pg),
            volumes: (!volumes.is_empty()).then_some(volumes),
            security_context: Some(PodSecurityContext {
                run_as_user: Some(RUN_AS_USER),
                run_as_group: Some(RUN_AS_GROUP),
                fs_group: pg.spec.spilo_fs_group.or(config.spilo_fsgroup),
                ..Default::default()
            }),
            service_account_name: Some(config.pod_service_account_name.clone()),
            affinity: super::scheduling::affinity(config, pg, &labels(config, pg, role, false)),
            ..Default::default()
        }),
    }
}

fn load_balancer(config: &Config, pg: &Postgresql, role: Role) -> bool {
    match role {
        Role::Master => pg
            .spec
            .enable_master_pooler_load_balancer
            .unwrap_or(config.enable_master_pooler_load_balancer),
        Role::Replica => pg
            .spec
            .enable_replica_pooler_load_balancer
            .unwrap_or(config.enable_replica_pooler_load_balancer),
    }
}

pub fn service(config: &Config, pg: &Postgresql, role: Role) -> Service {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let pooler = name(cluster, role);
    let load_balancer = load_balancer(config, pg, role);
    let mut annotations = services::custom_annotations(config, pg, role);
    if load_balancer {
        services::add_load_balancer_annotations(
            &mut annotations,
            services::dns_name(config, pg, role, &name(cluster, Role::Master)),
        );
    }
    let mut metadata = meta::cluster_object_meta(config, pg, &pooler, &annotations, true);
    metadata.labels = Some(with_managed_by(labels(config, pg, role, false)));
    let (type_, source_ranges, traffic_policy) = if load_balancer {
        let (ranges, policy) = services::load_balancer_settings(config, pg);
        ("LoadBalancer", Some(ranges), Some(policy))
    } else {
        ("ClusterIP", None, None)
    };
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            selector: Some(BTreeMap::from([(POOLER_LABEL.to_string(), pooler.clone())])),
            ports: Some(vec![ServicePort {
                name: Some(pooler),
                port: PORT,
                target_port: Some(IntOrString::Int(PORT)),
                ..Default::default()
            }]),
            load_balancer_source_ranges: source_ranges,
            external_traffic_policy: traffic_policy,
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests;
