//! Operator configuration: built-in defaults < `--config FILE` (YAML) < `PGR_*` environment (read
//! from the process) <
//! command-line `--set key=value`. Read on every run: a one-shot process needs no reload.
//!
//! Keys are flat and snake_case like Zalando's ConfigMap, so `PGR_<KEY>` names every one of them.
//! An unknown key or a value of the wrong type is an error naming the key and its source.

pub mod zalando;

use crate::validate::limits;
use crate::validate::names::PROTECTED_ROLE_NAMES;
use figment::providers::{Env, Format, Serialized, Yaml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const ENV_PREFIX: &str = "PGR_";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Spilo image for clusters that do not set `dockerImage`.
    pub docker_image: String,
    /// With an id set, only manifests annotated `acid.zalan.do/controller: <id>` are ours
    /// (lets the reconciler coexist with Zalando's operator or a second instance).
    pub controller_id: Option<String>,
    /// Namespaces whose manifests are reconciled; empty means all namespaces.
    pub watched_namespaces: Vec<String>,
    /// Labels on every object of a cluster; with `cluster_name_label` they form its selector.
    pub cluster_labels: BTreeMap<String, String>,
    pub cluster_name_label: String,
    /// Labels and annotations copied from a manifest to the objects rendered for it.
    pub inherited_labels: Vec<String>,
    pub inherited_annotations: Vec<String>,
    /// Secret names for role passwords: `{username}`, `{cluster}`, `{namespace}` are substituted.
    pub secret_name_template: String,
    /// PodDisruptionBudget name: `{cluster}` is substituted.
    pub pdb_name_format: String,
    pub enable_pod_disruption_budget: bool,
    /// ServiceAccount the Spilo pods run as (Patroni needs it to manage its ConfigMaps).
    pub pod_service_account_name: String,
    /// Resources for the postgres container when a manifest leaves them out.
    pub default_cpu_request: String,
    pub default_memory_request: String,
    pub default_cpu_limit: String,
    pub default_memory_limit: String,
    /// Bounds on `numberOfInstances`; a manifest outside them is invalid.
    pub min_instances: i32,
    pub max_instances: i32,
    /// Bounds on one manifest: beyond them it is invalid, so nothing is created for it (a
    /// manifest of 10,000 users, or one whose StatefulSet the apiserver would refuse). Counts of
    /// `spec.users`, `spec.databases`, `spec.preparedDatabases` and `spec.env` entries; bytes of
    /// one `spec.postgresql.parameters` value, of the rendered `SPILO_CONFIGURATION` and of the
    /// rendered StatefulSet's JSON (the apiserver refuses requests above 3 MiB, etcd objects
    /// above 1.5 MiB by default).
    pub max_users_per_manifest: usize,
    pub max_databases_per_manifest: usize,
    pub max_prepared_databases_per_manifest: usize,
    pub max_parameter_value_bytes: usize,
    pub max_env_entries: usize,
    pub max_spilo_configuration_bytes: usize,
    pub max_statefulset_bytes: usize,
    /// Roles Spilo creates and manages itself, refused in `spec.users` (Zalando's key and
    /// default). `admin` is refused even when left out: it is always Spilo's system role here.
    pub protected_role_names: Vec<String>,
    /// Where the reconciler reaches a cluster's PostgreSQL: `{cluster}` and `{namespace}` are substituted.
    pub postgres_host_template: String,
    pub postgres_port: u16,
    pub postgres_sslmode: SslMode,
    /// PEM file of the CA that signed the servers' certificates (verify-ca / verify-full).
    pub postgres_ca_file: Option<PathBuf>,
    pub postgres_connect_timeout_seconds: u64,
    /// Longest one SQL action may take: a commit waiting for a synchronous standby that is not
    /// there (`synchronous_mode_strict`) never ends, and must not hold up the run.
    pub postgres_statement_timeout_seconds: u64,
    /// Delete credential Secrets when their cluster's manifest is deleted (default: keep them).
    pub delete_secrets: bool,
    /// A user written `namespace.user` gets its credential Secret in that namespace (Zalando's
    /// `enable_cross_namespace_secret`); the role keeps the whole name.
    pub enable_cross_namespace_secret: bool,
    /// Rotate the passwords of the manifests' users (not database owners, not standbys) every
    /// `password_rotation_interval` days, as Zalando's `enable_password_rotation`; manifests
    /// also opt users in or out themselves.
    pub enable_password_rotation: bool,
    /// Days between two rotations of a password (Zalando's default: 90).
    pub password_rotation_interval: u32,
    /// Days a rotation role is kept after it was made, at least twice the interval (Zalando's
    /// default: 180); then it is dropped, if it owns nothing.
    pub password_rotation_user_retention: u32,
    /// Delete the volume claims when their cluster's manifest is deleted (default: keep them).
    pub delete_pvcs: bool,
    /// Namespace of the reconciler itself: its Lease lives there (the chart sets it to the
    /// release namespace).
    pub release_namespace: String,
    /// How long the Lease lasts unrenewed: a run renews it every third of this while it works,
    /// so a run that crashed blocks the next one for at most this long.
    pub lease_duration_seconds: u64,
    /// How long a run waits for a Lease another run holds before it ends as `skipped`.
    pub lease_wait_seconds: u64,
    /// Clusters reconciled at the same time, and database servers whose catalogs are read at
    /// the same time (16: a fleet of hundreds is read in a few rounds of connections, and a
    /// server that does not answer holds up one slot, not the run).
    pub max_parallel_clusters: usize,
    /// Reconcile only shard `i/N`: the manifests whose database server hashes to shard i of N
    /// (see `plan::shard`), under a Lease of the shard's own. Unset: every manifest.
    pub shard: Option<crate::plan::shard::Shard>,
    /// Server-side apply field manager.
    pub field_manager: String,
    /// Take over fields another declarative field manager (its own server-side apply) sets at
    /// another value; by default such conflicts are reported and left alone. Imperative edits
    /// (`kubectl edit`/`patch`) of our fields are taken back either way (`plan::edits`).
    pub force_conflicts: bool,
    /// Pod management policy of the StatefulSets: OrderedReady or Parallel.
    pub pod_management_policy: PodManagementPolicy,
    /// Load balancers for clusters that do not say (Zalando's switches).
    pub enable_master_load_balancer: bool,
    pub enable_replica_load_balancer: bool,
    /// Patroni's REST API of a pod, for the switchover before a master restarts. Placeholders:
    /// {pod_ip}, {pod}, {namespace}, {cluster}.
    pub patroni_url_template: String,
    /// Read each cluster's Patroni (`GET /patroni`, `GET /config`) and keep its dynamic
    /// configuration as the manifest says (`PATCH /config`, restarts through Patroni), as
    /// Zalando's operator does. Needs the pods' network; off, nothing of Patroni is read.
    pub sync_patroni_config: bool,
    /// Clusters whose pods are being restarted at the same time (rolling updates); 0: no limit.
    /// Clusters already rolling finish first; the others wait for a free slot.
    pub max_rolling_clusters: usize,
    /// Update the StatefulSets only: outdated pods take the new revision when they restart for
    /// another reason (Zalando's switch of the same name).
    pub enable_lazy_spilo_upgrade: bool,
    /// What happens to a login role its manifest created and no longer lists: `keep` (default;
    /// nothing is changed by omission) or `nologin` (its logins stop; nothing is dropped).
    pub removed_roles: RemovedRoles,
    /// `apply` (default) corrects what differs; `report` plans as usual, changes nothing and
    /// lists what differs in each manifest's `Drifted` condition. A manifest's annotation
    /// `postgres-reconciler.io/mode` overrides it.
    pub mode: Mode,
    /// The kinds of action a manifest's `postgres-reconciler.io/approved-plan` annotation must
    /// approve (its digest equal to that of what the run would do): `replace`, `drop`,
    /// `restart`, `nologin`. `--allow-destructive` and the `allow-destructive` annotation
    /// approve them all.
    pub require_approval: Vec<crate::plan::approval::ApprovalClass>,
    /// The server of a `PostgreSQLConfig` that names none (`spec.server` absent): `{cluster:
    /// <postgresql in the manifest's namespace>}` or `{secretName: <external-server Secret>}`.
    pub default_database_server: Option<crate::api::ServerRef>,

    // --- Spilo pod settings with Zalando's keys and v1.15.1 defaults (its manifests/configmap.yaml) ---
    /// Patroni keeps its leader lock and configuration in ConfigMaps (`true`, Zalando v2's
    /// default) or in Endpoints (`false`, v1's). A running cluster keeps the mode its pods use
    /// until it is migrated on purpose; this decides new clusters.
    pub kubernetes_use_configmaps: bool,
    /// Patroni keeps its state in etcd at this host instead of the Kubernetes API ("" = Kubernetes).
    pub etcd_host: String,
    /// Give the postgres container Patroni's `/readiness` probe.
    pub enable_readiness_probe: bool,
    /// Pod security context of the Spilo pods; unset leaves the image's defaults.
    pub spilo_runasuser: Option<i64>,
    pub spilo_runasgroup: Option<i64>,
    pub spilo_fsgroup: Option<i64>,
    /// Limits below these are raised to them (too low a limit means OOM kills and throttling).
    pub min_cpu_limit: String,
    pub min_memory_limit: String,
    /// Requests above these are lowered to them ("" = no bound).
    pub max_cpu_request: String,
    pub max_memory_request: String,
    /// Raise the memory request to the memory limit.
    pub set_memory_request_to_limit: bool,
    /// Grace period of the Spilo pods: time for Patroni to hand the leader lock over.
    pub pod_terminate_grace_period_seconds: i64,
    /// Tell Spilo the major version through `PGVERSION` (else `bin_dir` in `SPILO_CONFIGURATION`).
    pub enable_pgversion_env_var: bool,
    /// `ENABLE_WAL_PATH_COMPAT`: Spilo also looks for WAL in the pre-2.0 bucket layout.
    pub enable_spilo_wal_path_compat: bool,
    /// `PAM_OAUTH2` and `HUMAN_ROLE` of the Spilo pods (human users log in with OAuth2 tokens).
    pub pam_configuration: String,
    pub pam_role_name: String,
    /// Human users from the Teams API: the members of a manifest's `teamId` (and of
    /// `postgres_superuser_teams`) become LOGIN roles, members of `pam_role_name`, that log in
    /// through PAM with their OAuth2 tokens (Zalando's `enable_teams_api`; its default is on,
    /// ours off: there is no Teams API to ask unless one is configured).
    pub enable_teams_api: bool,
    /// `GET {teams_api_url}/teams/{team}` answers the team's `member` list.
    pub teams_api_url: String,
    /// `[namespace/]name` of the Secret whose `read-only-token-secret` is the bearer token for
    /// the Teams API (`read-only-token-type: Bearer`); the namespace defaults to
    /// `release_namespace`.
    pub oauth_token_secret_name: String,
    /// Roles team members (not superusers) are also members of.
    pub team_admin_role: String,
    /// Members of the manifest's own team are superusers.
    pub enable_team_superuser: bool,
    /// Teams whose members are superusers in every cluster.
    pub postgres_superuser_teams: Vec<String>,
    /// Role settings of team members (`ALTER ROLE … SET`).
    pub team_api_role_configuration: BTreeMap<String, String>,
    /// A member who left the team loses LOGIN and is renamed with `role_deletion_suffix`,
    /// never dropped; coming back renames the role back.
    pub enable_team_member_deprecation: bool,
    pub role_deletion_suffix: String,
    /// Read Zalando's `PostgresTeam` objects: additional teams and members of a team.
    pub enable_postgres_team_crd: bool,
    /// ... and their `additionalSuperuserTeams`.
    pub enable_postgres_team_crd_superusers: bool,
    /// Patroni's `failsafe_mode` for clusters whose manifest does not say.
    pub enable_patroni_failsafe_mode: bool,
    /// Mount a memory-backed `/dev/shm` (PostgreSQL's parallel queries need more than a container's 64 MB).
    pub enable_shm_volume: bool,
    /// The StatefulSets' claim retention: `retain` or `delete`, when deleted and when scaled down.
    pub persistent_volume_claim_retention_policy: BTreeMap<String, String>,
    /// external-dns names on load balancers: `{cluster}`, `{namespace}`, `{team}`, `{hostedzone}`.
    pub db_hosted_zone: String,
    pub master_dns_name_format: String,
    pub replica_dns_name_format: String,
    /// `externalTrafficPolicy` of load-balancer Services.
    pub external_traffic_policy: String,
    /// Restrict the master PodDisruptionBudget to the master pod (`spilo-role: master`).
    pub pdb_master_label_selector: bool,
    /// Annotations added to every Spilo pod and to every Service.
    pub custom_pod_annotations: BTreeMap<String, String>,
    pub custom_service_annotations: BTreeMap<String, String>,
    /// The ClusterRole the Spilo pods' RoleBinding refers to (Zalando's `postgres-pod`, which its
    /// installation and our chart create).
    pub pod_cluster_role_name: String,

    // --- Backups and WAL archiving, with Zalando's keys (empty: off) ---
    /// Spilo archives WAL and takes base backups to this S3 bucket (`WAL_S3_BUCKET`), under a
    /// path scoped by the manifest's uid (`WAL_BUCKET_SCOPE_SUFFIX=/<uid>`), as Zalando sets it.
    pub wal_s3_bucket: String,
    /// The same to a GCS bucket (`WAL_GS_BUCKET`).
    pub wal_gs_bucket: String,
    /// The same to Azure blob storage (`AZURE_STORAGE_ACCOUNT`).
    pub wal_az_storage_account: String,
    /// `GOOGLE_APPLICATION_CREDENTIALS` of the Spilo pods (a path, e.g. in `additional_secret_mount`).
    pub gcp_credentials: String,
    /// Spilo ships PostgreSQL's logs to this S3 bucket (`LOG_S3_BUCKET`).
    pub log_s3_bucket: String,
    /// A Secret mounted into every container of the Spilo pods, at `additional_secret_mount_path`.
    pub additional_secret_mount: String,
    pub additional_secret_mount_path: String,
    /// `[namespace/]name` of a ConfigMap whose entries every Spilo pod gets as environment (the
    /// operator's namespace, `release_namespace`, when none is given; then the cluster's own).
    pub pod_environment_configmap: String,
    /// A Secret in each cluster's namespace whose keys every Spilo pod gets as environment
    /// (references to the Secret: its values never pass through postgres-reconciler).
    pub pod_environment_secret: String,
    /// `iam.amazonaws.com/role` on the Spilo pods (kube2iam).
    pub kube_iam_role: String,

    // --- Logical backups (manifests with `enableLogicalBackup`), with Zalando's keys ---
    /// Cron schedule of the backup CronJobs (a manifest's `logicalBackupSchedule` wins).
    pub logical_backup_schedule: String,
    pub logical_backup_docker_image: String,
    /// Where dumps go: `s3`, `gcs` or `az`.
    pub logical_backup_provider: String,
    pub logical_backup_s3_bucket: String,
    pub logical_backup_s3_bucket_prefix: String,
    pub logical_backup_s3_region: String,
    pub logical_backup_s3_endpoint: String,
    /// Plain environment values of the backup pods, as Zalando sets them (a Secret through
    /// `logical_backup_cronjob_environment_secret` keeps them out of the CronJob).
    pub logical_backup_s3_access_key_id: String,
    pub logical_backup_s3_secret_access_key: String,
    pub logical_backup_s3_sse: String,
    /// How long dumps are kept (a manifest's `logicalBackupRetention` wins).
    pub logical_backup_s3_retention_time: String,
    pub logical_backup_google_application_credentials: String,
    pub logical_backup_azure_storage_account_name: String,
    pub logical_backup_azure_storage_container: String,
    pub logical_backup_azure_storage_account_key: String,
    /// The CronJob is `<prefix><cluster>`, cut to 52 characters.
    pub logical_backup_job_prefix: String,
    /// A Secret in the cluster's namespace whose keys the backup pods get as environment.
    pub logical_backup_cronjob_environment_secret: String,
    /// The backup container's resources; empty: the `default_*` resources.
    pub logical_backup_cpu_request: String,
    pub logical_backup_memory_request: String,
    pub logical_backup_cpu_limit: String,
    pub logical_backup_memory_limit: String,

    // --- The connection pooler (manifests with `enableConnectionPooler`), with Zalando's keys ---
    /// PgBouncer's image (a manifest's `connectionPooler.dockerImage` wins).
    pub connection_pooler_image: String,
    /// The schema of the `user_lookup` function PgBouncer's `auth_query` calls, in every database.
    pub connection_pooler_schema: String,
    /// The login role PgBouncer connects as (never the superuser).
    pub connection_pooler_user: String,
    /// `session` or `transaction`.
    pub connection_pooler_mode: String,
    /// Pods per pooler Deployment (at least 1).
    pub connection_pooler_number_of_instances: i32,
    /// Server connections of all of a Deployment's pods together.
    pub connection_pooler_max_db_connections: i32,
    pub connection_pooler_default_cpu_request: String,
    pub connection_pooler_default_memory_request: String,
    pub connection_pooler_default_cpu_limit: String,
    pub connection_pooler_default_memory_limit: String,
    /// LoadBalancer pooler Services when a manifest does not say.
    pub enable_master_pooler_load_balancer: bool,
    pub enable_replica_pooler_load_balancer: bool,

    // --- Sidecars, with Zalando's keys ---
    /// Containers added to every Spilo pod, after the manifest's own (a manifest's sidecar of
    /// the same name wins).
    #[serde(default)]
    pub sidecars: Vec<k8s_openapi::api::core::v1::Container>,
    /// `name: image` sidecars added to every Spilo pod (Zalando's older form), after `sidecars`.
    pub sidecar_docker_images: BTreeMap<String, String>,
    /// Manifests may have `sidecars`; with `false` such a manifest is refused.
    pub enable_sidecars: bool,
    /// PostgreSQL's socket directory (`/var/run/postgresql`) in a memory volume every container
    /// of the pod mounts.
    pub share_pgsocket_with_sidecars: bool,

    // --- Scheduling and security of the Spilo pods, with Zalando's keys ---
    /// One toleration (`key`, `operator`, `value`, `effect`) for pods whose manifest has none.
    pub toleration: BTreeMap<String, String>,
    /// Node labels the pods require (`label: value`), merged with a manifest's `nodeAffinity`
    /// by `node_readiness_label_merge`: `OR` (another term) or `AND` (into every term).
    pub node_readiness_label: BTreeMap<String, String>,
    pub node_readiness_label_merge: String,
    /// Keep a cluster's pods apart (on different `pod_antiaffinity_topology_key` domains),
    /// required or, with `pod_antiaffinity_preferred_during_scheduling`, preferred.
    pub enable_pod_antiaffinity: bool,
    pub pod_antiaffinity_preferred_during_scheduling: bool,
    pub pod_antiaffinity_topology_key: String,
    /// The pods' priority class when the manifest names none.
    pub pod_priority_class_name: String,
    /// The postgres container's security context.
    pub spilo_privileged: bool,
    pub spilo_allow_privilege_escalation: bool,
    /// Linux capabilities added to the postgres container (`SYS_NICE`, …).
    pub additional_pod_capabilities: Vec<String>,
    /// Annotations of a manifest copied onto its StatefulSet when their name matches one of
    /// these regular expressions (for kube-downscaler).
    pub downscaler_annotations: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemovedRoles {
    Keep,
    Nologin,
}

/// Whether a run corrects drift or only reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Apply,
    Report,
}

impl Mode {
    pub fn parse(value: &str) -> Option<Mode> {
        match value {
            "apply" => Some(Mode::Apply),
            "report" => Some(Mode::Report),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodManagementPolicy {
    OrderedReady,
    Parallel,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            docker_image: "ghcr.io/zalando/spilo-17:4.0-p3".into(),
            controller_id: None,
            watched_namespaces: Vec::new(),
            cluster_labels: BTreeMap::from([("application".into(), "spilo".into())]),
            cluster_name_label: "cluster-name".into(),
            inherited_labels: Vec::new(),
            inherited_annotations: Vec::new(),
            secret_name_template: "{username}.{cluster}.credentials.postgresql.acid.zalan.do"
                .into(),
            pdb_name_format: "postgres-{cluster}-pdb".into(),
            enable_pod_disruption_budget: true,
            pod_service_account_name: "postgres-pod".into(),
            default_cpu_request: "100m".into(),
            default_memory_request: "100Mi".into(),
            default_cpu_limit: "1".into(),
            default_memory_limit: "500Mi".into(),
            min_instances: 0,
            max_instances: 16,
            max_users_per_manifest: limits::DEFAULT_MAX_USERS,
            max_databases_per_manifest: limits::DEFAULT_MAX_DATABASES,
            max_prepared_databases_per_manifest: limits::DEFAULT_MAX_PREPARED_DATABASES,
            max_parameter_value_bytes: limits::DEFAULT_MAX_PARAMETER_VALUE_BYTES,
            max_env_entries: limits::DEFAULT_MAX_ENV_ENTRIES,
            max_spilo_configuration_bytes: limits::DEFAULT_MAX_SPILO_CONFIGURATION_BYTES,
            max_statefulset_bytes: limits::DEFAULT_MAX_STATEFULSET_BYTES,
            protected_role_names: PROTECTED_ROLE_NAMES.iter().map(|r| r.to_string()).collect(),
            postgres_host_template: "{cluster}.{namespace}.svc".into(),
            postgres_port: 5432,
            postgres_sslmode: SslMode::Require,
            postgres_ca_file: None,
            postgres_connect_timeout_seconds: 10,
            postgres_statement_timeout_seconds: 60,
            delete_secrets: false,
            delete_pvcs: false,
            release_namespace: "default".into(),
            lease_duration_seconds: 30,
            lease_wait_seconds: 60,
            max_parallel_clusters: 16,
            shard: None,
            field_manager: "postgres-reconciler".into(),
            force_conflicts: false,
            enable_cross_namespace_secret: false,
            enable_password_rotation: false,
            password_rotation_interval: 90,
            password_rotation_user_retention: 180,
            pod_management_policy: PodManagementPolicy::OrderedReady,
            enable_master_load_balancer: false,
            enable_replica_load_balancer: false,
            patroni_url_template: "http://{pod_ip}:8008".into(),
            sync_patroni_config: true,
            max_rolling_clusters: 0,
            enable_lazy_spilo_upgrade: false,
            removed_roles: RemovedRoles::Keep,
            mode: Mode::Apply,
            default_database_server: None,
            require_approval: vec![
                crate::plan::approval::ApprovalClass::Replace,
                crate::plan::approval::ApprovalClass::Drop,
            ],
            kubernetes_use_configmaps: false,
            etcd_host: String::new(),
            enable_readiness_probe: false,
            spilo_runasuser: None,
            spilo_runasgroup: None,
            spilo_fsgroup: None,
            min_cpu_limit: "250m".into(),
            min_memory_limit: "250Mi".into(),
            max_cpu_request: String::new(),
            max_memory_request: String::new(),
            set_memory_request_to_limit: false,
            pod_terminate_grace_period_seconds: 300,
            enable_pgversion_env_var: true,
            enable_spilo_wal_path_compat: true,
            pam_configuration:
                "https://info.example.com/oauth2/tokeninfo?access_token= uid realm=/employees"
                    .into(),
            pam_role_name: "zalandos".into(),
            enable_teams_api: false,
            teams_api_url: "https://teams.example.com/api/".into(),
            oauth_token_secret_name: "postgresql-operator".into(),
            team_admin_role: "admin".into(),
            enable_team_superuser: false,
            postgres_superuser_teams: Vec::new(),
            team_api_role_configuration: BTreeMap::from([(
                "log_statement".to_string(),
                "all".to_string(),
            )]),
            enable_team_member_deprecation: false,
            role_deletion_suffix: "_deleted".into(),
            enable_postgres_team_crd: false,
            enable_postgres_team_crd_superusers: false,
            enable_patroni_failsafe_mode: false,
            enable_shm_volume: true,
            persistent_volume_claim_retention_policy: BTreeMap::from([
                ("when_deleted".into(), "retain".into()),
                ("when_scaled".into(), "retain".into()),
            ]),
            db_hosted_zone: "db.example.com".into(),
            master_dns_name_format: "{cluster}.{namespace}.{hostedzone}".into(),
            replica_dns_name_format: "{cluster}-repl.{namespace}.{hostedzone}".into(),
            external_traffic_policy: "Cluster".into(),
            pdb_master_label_selector: true,
            custom_pod_annotations: BTreeMap::new(),
            custom_service_annotations: BTreeMap::new(),
            pod_cluster_role_name: "postgres-pod".into(),
            wal_s3_bucket: String::new(),
            wal_gs_bucket: String::new(),
            wal_az_storage_account: String::new(),
            gcp_credentials: String::new(),
            log_s3_bucket: String::new(),
            additional_secret_mount: String::new(),
            additional_secret_mount_path: String::new(),
            pod_environment_configmap: String::new(),
            pod_environment_secret: String::new(),
            kube_iam_role: String::new(),
            logical_backup_schedule: "30 00 * * *".into(),
            logical_backup_docker_image: "ghcr.io/zalando/postgres-operator/logical-backup:v1.15.1"
                .into(),
            logical_backup_provider: "s3".into(),
            logical_backup_s3_bucket: String::new(),
            logical_backup_s3_bucket_prefix: "spilo".into(),
            logical_backup_s3_region: String::new(),
            logical_backup_s3_endpoint: String::new(),
            logical_backup_s3_access_key_id: String::new(),
            logical_backup_s3_secret_access_key: String::new(),
            logical_backup_s3_sse: String::new(),
            logical_backup_s3_retention_time: String::new(),
            logical_backup_google_application_credentials: String::new(),
            logical_backup_azure_storage_account_name: String::new(),
            logical_backup_azure_storage_container: String::new(),
            logical_backup_azure_storage_account_key: String::new(),
            logical_backup_job_prefix: "logical-backup-".into(),
            logical_backup_cronjob_environment_secret: String::new(),
            logical_backup_cpu_request: String::new(),
            logical_backup_memory_request: String::new(),
            logical_backup_cpu_limit: String::new(),
            logical_backup_memory_limit: String::new(),
            connection_pooler_image: "registry.opensource.zalan.do/acid/pgbouncer:master-32".into(),
            connection_pooler_schema: "pooler".into(),
            connection_pooler_user: "pooler".into(),
            connection_pooler_mode: "transaction".into(),
            connection_pooler_number_of_instances: 2,
            connection_pooler_max_db_connections: 60,
            connection_pooler_default_cpu_request: "500m".into(),
            connection_pooler_default_memory_request: "100Mi".into(),
            connection_pooler_default_cpu_limit: "1".into(),
            connection_pooler_default_memory_limit: "100Mi".into(),
            enable_master_pooler_load_balancer: false,
            enable_replica_pooler_load_balancer: false,
            sidecars: Vec::new(),
            sidecar_docker_images: BTreeMap::new(),
            enable_sidecars: true,
            share_pgsocket_with_sidecars: false,
            toleration: BTreeMap::new(),
            node_readiness_label: BTreeMap::new(),
            node_readiness_label_merge: "OR".into(),
            enable_pod_antiaffinity: false,
            pod_antiaffinity_preferred_during_scheduling: false,
            pod_antiaffinity_topology_key: "kubernetes.io/hostname".into(),
            pod_priority_class_name: String::new(),
            spilo_privileged: false,
            spilo_allow_privilege_escalation: true,
            additional_pod_capabilities: Vec::new(),
            downscaler_annotations: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown configuration key {key:?} in {origin}; known keys: {known}")]
    UnknownKey {
        key: String,
        origin: String,
        known: String,
    },
    #[error("--set {0:?}: expected KEY=VALUE")]
    BadSet(String),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("{0}")]
    Figment(#[from] Box<figment::Error>),
    #[error("Zalando configuration {file}: {}", problems.join("; "))]
    Zalando { file: String, problems: Vec<String> },
}

/// Where configuration comes from, beyond the built-in defaults.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub file: Option<PathBuf>,
    /// `--set key=value` flags, in order; a value is parsed as YAML (`true`, `3`, `[a, b]`).
    pub set: Vec<String>,
}

impl Config {
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        Self::load_with_notes(sources).map(|(config, _)| config)
    }

    /// The configuration, and what the caller should tell the user about it: the keys of a
    /// Zalando configuration that postgres-reconciler does not implement.
    pub fn load_with_notes(sources: &Sources) -> Result<(Config, Vec<String>), ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let known = known_keys();
        let mut notes = Vec::new();
        if let Some(path) = &sources.file {
            match zalando_document(path) {
                Some(doc) => {
                    let origin = format!("Zalando configuration {}", path.display());
                    let imported = zalando::import(&doc);
                    let mut problems = imported.errors;
                    for u in &imported.unsupported {
                        if u.matters {
                            problems.push(format!(
                                "{} is set, and postgres-reconciler does not render it",
                                u.describe()
                            ));
                        } else {
                            notes.push(format!("{origin}: key not implemented: {}", u.describe()));
                        }
                    }
                    if !problems.is_empty() {
                        return Err(ConfigError::Zalando {
                            file: path.display().to_string(),
                            problems,
                        });
                    }
                    figment = figment.merge(Serialized::globals(imported.settings));
                }
                None => {
                    let file = Yaml::file_exact(path);
                    check_keys(&file, &known, &format!("config file {}", path.display()))?;
                    figment = figment.merge(file);
                }
            }
        }
        let env = Env::prefixed(ENV_PREFIX);
        check_keys(
            &env,
            &known,
            &format!("{ENV_PREFIX}* environment variables"),
        )?;
        figment = figment.merge(env);
        let flags = SetFlags::parse(&sources.set)?;
        check_keys(&flags, &known, "--set flags")?;
        figment = figment.merge(flags);
        let config: Config = figment.extract().map_err(Box::new)?;
        config.check()?;
        Ok((config, notes))
    }

    /// Rules serde cannot express.
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if !crate::validate::is_schedule(&self.logical_backup_schedule) {
            return bad(format!(
                "logical_backup_schedule ({:?}) is not a schedule: five fields (minute hour day month weekday), each a number or *, optionally /step",
                self.logical_backup_schedule
            ));
        }
        if !["s3", "gcs", "az"].contains(&self.logical_backup_provider.as_str()) {
            return bad(format!(
                "logical_backup_provider ({:?}) must be s3, gcs or az",
                self.logical_backup_provider
            ));
        }
        if self.connection_pooler_number_of_instances < 1 {
            return bad(format!(
                "connection_pooler_number_of_instances ({}) must be at least 1",
                self.connection_pooler_number_of_instances
            ));
        }
        if self.connection_pooler_max_db_connections < 1 {
            return bad(format!(
                "connection_pooler_max_db_connections ({}) must be at least 1",
                self.connection_pooler_max_db_connections
            ));
        }
        if !["session", "transaction"].contains(&self.connection_pooler_mode.as_str()) {
            return bad(format!(
                "connection_pooler_mode ({:?}) must be session or transaction",
                self.connection_pooler_mode
            ));
        }
        if self.connection_pooler_user.is_empty() || self.connection_pooler_user == "postgres" {
            return bad(format!(
                "connection_pooler_user ({:?}) must name a role other than the superuser",
                self.connection_pooler_user
            ));
        }
        if self.password_rotation_interval == 0 {
            return bad("password_rotation_interval must be at least 1 (days)".into());
        }
        if self.min_instances < 0 || self.max_instances < self.min_instances {
            return bad(format!(
                "min_instances ({}) and max_instances ({}) must satisfy 0 <= min <= max",
                self.min_instances, self.max_instances
            ));
        }
        for (key, value) in [
            ("max_users_per_manifest", self.max_users_per_manifest),
            (
                "max_databases_per_manifest",
                self.max_databases_per_manifest,
            ),
            (
                "max_prepared_databases_per_manifest",
                self.max_prepared_databases_per_manifest,
            ),
            ("max_parameter_value_bytes", self.max_parameter_value_bytes),
            ("max_env_entries", self.max_env_entries),
            (
                "max_spilo_configuration_bytes",
                self.max_spilo_configuration_bytes,
            ),
            ("max_statefulset_bytes", self.max_statefulset_bytes),
        ] {
            if value == 0 {
                return bad(format!("{key} must be at least 1"));
            }
        }
        if self.lease_duration_seconds < 3 {
            return bad(
                "lease_duration_seconds must be at least 3 (it is renewed every third)".into(),
            );
        }
        if self.max_parallel_clusters == 0 {
            return bad("max_parallel_clusters must be at least 1".into());
        }
        if !self.secret_name_template.contains("{username}") {
            return bad("secret_name_template must contain {username}".into());
        }
        if !self.pdb_name_format.contains("{cluster}") {
            return bad("pdb_name_format must contain {cluster}".into());
        }
        if self.field_manager.trim().is_empty() {
            return bad("field_manager must not be empty".into());
        }
        // Zalando renders an empty mount path, which the apiserver refuses for every pod.
        if !self.additional_secret_mount.is_empty()
            && !self.additional_secret_mount_path.starts_with('/')
        {
            return bad(format!(
                "additional_secret_mount ({:?}) needs additional_secret_mount_path, an absolute path",
                self.additional_secret_mount
            ));
        }
        for pattern in &self.downscaler_annotations {
            if let Err(e) = regex::Regex::new(pattern) {
                return bad(format!(
                    "downscaler_annotations: {pattern:?} is not a regular expression: {e}"
                ));
            }
        }
        if !matches!(self.node_readiness_label_merge.as_str(), "OR" | "AND") {
            return bad(format!(
                "node_readiness_label_merge must be OR or AND, not {:?}",
                self.node_readiness_label_merge
            ));
        }
        // The apiserver refuses such a container (privileged implies escalation).
        if self.spilo_privileged && !self.spilo_allow_privilege_escalation {
            return bad(
                "spilo_privileged: true needs spilo_allow_privilege_escalation: true (the apiserver refuses a privileged container that may not escalate)".into(),
            );
        }
        if self.enable_pod_antiaffinity && self.pod_antiaffinity_topology_key.is_empty() {
            return bad("enable_pod_antiaffinity needs pod_antiaffinity_topology_key".into());
        }
        for (i, c) in self.sidecars.iter().enumerate() {
            if c.name.is_empty() || c.name == "postgres" {
                return bad(format!(
                    "sidecars[{i}]: a name other than postgres is required"
                ));
            }
            if c.image.as_deref().unwrap_or_default().is_empty() {
                return bad(format!("sidecars[{i}] ({}): image is required", c.name));
            }
        }
        if self.pod_environment_configmap.starts_with('/')
            || self.pod_environment_configmap.ends_with('/')
        {
            return bad(format!(
                "pod_environment_configmap ({:?}): write [namespace/]name",
                self.pod_environment_configmap
            ));
        }
        Ok(())
    }

    /// Where `pod_environment_configmap` is looked for first: (namespace, name).
    pub fn pod_environment_configmap_ref(&self) -> Option<(String, String)> {
        let value = self.pod_environment_configmap.as_str();
        if value.is_empty() {
            return None;
        }
        Some(match value.split_once('/') {
            Some((ns, name)) => (ns.to_string(), name.trim_start_matches('/').to_string()),
            None => (self.release_namespace.clone(), value.to_string()),
        })
    }

    /// The host name of a cluster's master Service, per `postgres_host_template`.
    pub fn postgres_host(&self, cluster: &str, namespace: &str) -> String {
        self.postgres_host_template
            .replace("{cluster}", cluster)
            .replace("{namespace}", namespace)
    }

    /// Whether `postgres_host_template` names the master Service in cluster DNS
    /// (`{cluster}.{namespace}.svc`, with or without the cluster domain), so that a connection
    /// goes where the Service's Endpoints say.
    pub fn connects_through_master_service(&self) -> bool {
        let t = self.postgres_host_template.as_str();
        t == "{cluster}.{namespace}.svc" || t.starts_with("{cluster}.{namespace}.svc.")
    }
}

/// The file's document when it is a Zalando ConfigMap or OperatorConfiguration.
fn zalando_document(path: &std::path::Path) -> Option<serde_yaml::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    zalando::is_zalando_document(&doc).then_some(doc)
}

fn known_keys() -> Vec<String> {
    match Serialized::defaults(Config::default()).data() {
        Ok(map) => map.values().flat_map(|dict| dict.keys().cloned()).collect(),
        Err(_) => Vec::new(),
    }
}

/// An unknown key is refused per source, so the error can say where it came from.
fn check_keys(provider: &dyn Provider, known: &[String], source: &str) -> Result<(), ConfigError> {
    let data = provider.data().map_err(Box::new)?;
    let mut keys: Vec<&String> = data.values().flat_map(|d| d.keys()).collect();
    keys.sort();
    for key in keys {
        if !known.contains(key) {
            return Err(ConfigError::UnknownKey {
                key: key.clone(),
                origin: source.to_string(),
                known: known.join(", "),
            });
        }
    }
    Ok(())
}

/// `--set key=value` flags: the highest-priority source.
struct SetFlags(Dict);

impl SetFlags {
    fn parse(set: &[String]) -> Result<Self, ConfigError> {
        let mut dict = Dict::new();
        for item in set {
            let (key, raw) = item
                .split_once('=')
                .ok_or_else(|| ConfigError::BadSet(item.clone()))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(ConfigError::BadSet(item.clone()));
            }
            let value: Value =
                serde_yaml::from_str(raw).unwrap_or_else(|_| Value::from(raw.to_string()));
            dict.insert(key.to_string(), value);
        }
        Ok(SetFlags(dict))
    }
}

impl Provider for SetFlags {
    fn metadata(&self) -> Metadata {
        Metadata::named("command-line flag --set")
    }
    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Map::from([(Profile::Global, self.0.clone())]))
    }
}

/// The configuration a file would hold to change nothing: every key with its default, for docs.
pub fn defaults_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&Config::default())
}

#[cfg(test)]
// figment's Jail closures return its (large) error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    fn load_in(jail: &mut Jail, file: Option<&str>, set: &[&str]) -> Result<Config, ConfigError> {
        let file = file.map(|text| {
            jail.create_file("config.yaml", text)
                .expect("write config file");
            PathBuf::from("config.yaml")
        });
        Config::load(&Sources {
            file,
            set: set.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn defaults_without_sources() {
        Jail::expect_with(|jail| {
            assert_eq!(load_in(jail, None, &[]).expect("load"), Config::default());
            Ok(())
        });
    }

    #[test]
    fn precedence_is_defaults_file_env_flags() {
        Jail::expect_with(|jail| {
            let file = "docker_image: from-file\nmax_parallel_clusters: 2\npostgres_port: 6432\ndelete_pvcs: true\n";
            jail.set_env("PGR_MAX_PARALLEL_CLUSTERS", "3");
            jail.set_env("PGR_POSTGRES_PORT", "7432");
            let c = load_in(jail, Some(file), &["postgres_port=8432"]).expect("load");
            assert_eq!(c.docker_image, "from-file");
            assert_eq!(c.max_parallel_clusters, 3, "env beats file");
            assert_eq!(c.postgres_port, 8432, "flags beat env");
            assert!(c.delete_pvcs);
            assert_eq!(
                c.field_manager, "postgres-reconciler",
                "untouched keys keep defaults"
            );
            Ok(())
        });
    }

    #[test]
    fn structured_values_from_env_and_flags() {
        Jail::expect_with(|jail| {
            jail.set_env("PGR_WATCHED_NAMESPACES", "[team-a, team-b]");
            let c = load_in(
                jail,
                None,
                &[
                    "cluster_labels={application: spilo, tier: db}",
                    "postgres_sslmode=verify-full",
                ],
            )
            .expect("load");
            assert_eq!(c.watched_namespaces, ["team-a", "team-b"]);
            assert_eq!(c.cluster_labels.get("tier").map(String::as_str), Some("db"));
            assert_eq!(c.postgres_sslmode, SslMode::VerifyFull);
            Ok(())
        });
    }

    #[test]
    fn unknown_key_names_key_and_source() {
        Jail::expect_with(|jail| {
            let err = load_in(jail, Some("docker_imgae: x\n"), &[]).expect_err("unknown key");
            let msg = err.to_string();
            assert!(msg.contains("\"docker_imgae\""), "{msg}");
            assert!(msg.contains("config file config.yaml"), "{msg}");

            jail.set_env("PGR_NO_SUCH_KEY", "1");
            let msg = load_in(jail, None, &[])
                .expect_err("unknown env key")
                .to_string();
            assert!(
                msg.contains("\"no_such_key\"") && msg.contains("PGR_* environment"),
                "{msg}"
            );
            Ok(())
        });
        Jail::expect_with(|jail| {
            let msg = load_in(jail, None, &["nope=1"])
                .expect_err("unknown flag key")
                .to_string();
            assert!(msg.contains("\"nope\"") && msg.contains("--set"), "{msg}");
            Ok(())
        });
    }

    #[test]
    fn wrong_type_names_key_and_source() {
        Jail::expect_with(|jail| {
            let msg = load_in(jail, Some("max_parallel_clusters: many\n"), &[])
                .expect_err("wrong type")
                .to_string();
            assert!(msg.contains("max_parallel_clusters"), "{msg}");
            assert!(msg.contains("config.yaml"), "{msg}");

            jail.set_env("PGR_DELETE_PVCS", "perhaps");
            let msg = load_in(jail, None, &[])
                .expect_err("wrong type in env")
                .to_string();
            assert!(msg.contains("DELETE_PVCS") && msg.contains("PGR_"), "{msg}");
            Ok(())
        });
    }

    #[test]
    fn rules_beyond_types() {
        Jail::expect_with(|jail| {
            let msg = load_in(jail, None, &["max_parallel_clusters=0"])
                .expect_err("zero")
                .to_string();
            assert!(msg.contains("max_parallel_clusters"), "{msg}");
            let msg = load_in(jail, None, &["max_statefulset_bytes=0"])
                .expect_err("zero limit")
                .to_string();
            assert_eq!(
                msg,
                "configuration: max_statefulset_bytes must be at least 1"
            );
            let c = load_in(
                jail,
                None,
                &["max_users_per_manifest=1", "protected_role_names=[dba]"],
            )
            .expect("limits can be set");
            assert_eq!(c.max_users_per_manifest, 1);
            assert_eq!(c.protected_role_names, ["dba"]);
            let msg = load_in(jail, None, &["lease_duration_seconds=1"])
                .expect_err("too short to renew")
                .to_string();
            assert!(msg.contains("lease_duration_seconds"), "{msg}");
            let msg = load_in(jail, None, &["secret_name_template=static"])
                .expect_err("template")
                .to_string();
            assert!(msg.contains("{username}"), "{msg}");
            assert!(matches!(
                load_in(jail, None, &["oops"]),
                Err(ConfigError::BadSet(_))
            ));
            Ok(())
        });
    }

    #[test]
    fn optional_keys_can_be_set() {
        Jail::expect_with(|jail| {
            let c = load_in(jail, None, &["spilo_fsgroup=103", "controller_id=x"]).expect("load");
            assert_eq!(c.spilo_fsgroup, Some(103));
            Ok(())
        });
    }

    #[test]
    fn a_zalando_configmap_is_read_with_notes() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "zalando.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: postgres-operator}\ndata:\n  docker_image: img:1\n  kubernetes_use_configmaps: \"true\"\n  workers: \"8\"\n",
            )?;
            let sources = Sources {
                file: Some("zalando.yaml".into()),
                set: vec!["enable_readiness_probe=true".into()],
            };
            let (c, notes) = Config::load_with_notes(&sources).expect("load");
            assert_eq!(c.docker_image, "img:1");
            assert!(c.kubernetes_use_configmaps);
            assert!(c.enable_readiness_probe, "flags still win");
            assert_eq!(notes.len(), 1, "{notes:?}");
            assert!(notes[0].contains("workers"), "{notes:?}");

            jail.create_file(
                "roles.yaml",
                "kind: ConfigMap\ndata:\n  infrastructure_roles_secret_name: monitoring\n",
            )?;
            let err = Config::load_with_notes(&Sources {
                file: Some("roles.yaml".into()),
                set: vec![],
            })
            .expect_err("infrastructure roles are not made");
            assert!(
                err.to_string().contains("infrastructure_roles_secret_name"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_privileged_container_that_may_not_escalate_is_refused() {
        figment::Jail::expect_with(|_| {
            let err = Config::load(&Sources {
                file: None,
                set: vec![
                    "spilo_privileged=true".into(),
                    "spilo_allow_privilege_escalation=false".into(),
                ],
            })
            .expect_err("refused");
            assert!(err.to_string().contains("spilo_privileged"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn host_template() {
        let c = Config::default();
        assert_eq!(
            c.postgres_host("acid-main", "team-a"),
            "acid-main.team-a.svc"
        );
    }
}
