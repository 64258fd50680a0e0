//! observe → render → plan, shared by `plan` and `apply`. The only place that strings the I/O
//! stages and the pure stages together.

use crate::config::Config;
use crate::observe::cluster::{
    ClusterClient, ClusterError, Scope, observe_adoptable, observe_manifests, observe_objects,
    observe_pods,
};
use crate::observe::databases::{SecretPasswords, not_reached, observe_databases};
use crate::observe::files;
use crate::plan::{self, Observed, Plan, offline};
use crate::render::{self, Desired, Manifest};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the manifests and the live state come from.
#[derive(Debug, Clone)]
pub struct Source {
    /// Manifests from files; with a cluster they replace the live manifests of the same name.
    pub files: Option<PathBuf>,
    /// No cluster: plan against nothing, or against `base` (manifests assumed applied).
    pub offline: bool,
    pub base: Option<PathBuf>,
    /// Connect to the databases and Patroni; false (`plan --no-database`): their part of the
    /// plan is unknown, with the reason.
    pub reach_databases: bool,
    pub scope: Scope,
    /// Namespace for file manifests that name none.
    pub default_namespace: String,
    /// The run's date, when not now: `plan --at` shows what a run then would rotate.
    pub clock: Option<jiff::Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Files(#[from] files::LoadError),
    #[error("{0}")]
    Usage(String),
}

/// A plan and what it was made from.
pub struct Planned {
    pub plan: Plan,
    pub desired: Desired,
    pub observed: Observed,
    /// API requests made, by verb (empty offline).
    pub requests: BTreeMap<String, u64>,
    /// The manifests the plan was made from (live only: an offline plan is never applied).
    pub manifests: Vec<Manifest>,
    /// Their current status, by "kind namespace/name" (live only).
    pub statuses: BTreeMap<String, serde_json::Value>,
    /// The live Secrets' passwords (the servers' superusers among them), for the SQL phase.
    pub secret_passwords: SecretPasswords,
    /// (ready, wanted) replicas of each live StatefulSet, by (namespace, name), for the report.
    pub replicas: BTreeMap<(String, String), (i32, i32)>,
    /// The label selector term a shard's LISTs add ([`plan::shard::Shard::list_narrowing`]).
    pub list_narrowing: Option<String>,
}

/// (ready, wanted) replicas of each StatefulSet among `objects`.
fn replicas(objects: &[crate::state::CompactJson]) -> BTreeMap<(String, String), (i32, i32)> {
    crate::state::by_name(objects, "StatefulSet")
        .into_iter()
        .map(|(key, sts)| {
            let sts = sts.value();
            let n = |p: &str| {
                sts.pointer(p)
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(0)
            };
            (
                key,
                (
                    n("/status/readyReplicas") as i32,
                    n("/spec/replicas") as i32,
                ),
            )
        })
        .collect()
}

fn load_files(
    path: &std::path::Path,
    namespace: &str,
    limits: &crate::validate::Limits,
) -> Result<(Vec<Manifest>, Vec<crate::validate::Invalid>), PipelineError> {
    let loaded = files::load_with(path, namespace, limits)?;
    Ok((loaded.manifests, loaded.invalid))
}

fn in_scope(m: &Manifest, scope: &Scope) -> bool {
    match scope {
        Scope::All => true,
        Scope::Namespaces(nss) => nss.contains(&m.reference().namespace),
    }
}

/// Files overlay the live manifests: a file manifest replaces the live one of the same kind,
/// namespace and name (keeping the live object's identity, so owner references stay the same);
/// the other live manifests stay as they are.
fn overlay(live: Vec<Manifest>, files: Vec<Manifest>) -> Vec<Manifest> {
    let key = |m: &Manifest| {
        let r = m.reference();
        (r.kind, r.namespace, r.name)
    };
    let live_uids: BTreeMap<_, _> = live.iter().map(|m| (key(m), m.reference().uid)).collect();
    let files: Vec<Manifest> = files
        .into_iter()
        .map(|mut m| {
            let uid = live_uids.get(&key(&m)).cloned().flatten();
            match &mut m {
                Manifest::Postgresql(pg) => pg.metadata.uid = pg.metadata.uid.take().or(uid),
                Manifest::Config(c) => c.metadata.uid = c.metadata.uid.take().or(uid),
            }
            m
        })
        .collect();
    let replaced: std::collections::BTreeSet<_> = files.iter().map(key).collect();
    live.into_iter()
        .filter(|m| !replaced.contains(&key(m)))
        .chain(files)
        .collect()
}

pub async fn plan_offline(config: &Config, source: &Source) -> Result<Planned, PipelineError> {
    let path = source
        .files
        .as_ref()
        .ok_or_else(|| PipelineError::Usage("--offline needs -f PATH".into()))?;
    let (manifests, invalid) =
        load_files(path, &source.default_namespace, &render::limits(config))?;
    let mut desired = render::render(&manifests, config);
    // Nothing is applied from an offline plan, so its typed manifests go once rendered (35 MB
    // of 10,000 clusters' while the plan is made).
    drop(manifests);
    desired.invalid.splice(0..0, invalid);
    let observed = match &source.base {
        None => offline::nothing_live(&desired),
        Some(base) => {
            let (base_manifests, _) =
                load_files(base, &source.default_namespace, &render::limits(config))?;
            offline::base_live(
                &render::render(&base_manifests, config),
                &config.field_manager,
            )
        }
    };
    plan::bootstrap_sources::refuse_missing_sources(&mut desired, &observed);
    plan::standby_targets::refuse_sql_on_standbys(&mut desired);
    let mut observed = observed;
    if let Some(shard) = config.shard {
        shard.restrict_desired(&mut desired);
        shard.restrict_observed(&mut observed, &config.cluster_name_label);
    }
    // What apply sends must be what was planned: a StatefulSet whose Patroni settings alone
    // changed keeps its live template.
    let desired = plan::dynamic_only::keep_live_dynamic_settings_owned(desired, &observed);
    let plan = plan::plan(&desired, &observed, config);
    Ok(Planned {
        replicas: replicas(&observed.objects),
        plan,
        desired,
        observed,
        requests: BTreeMap::new(),
        manifests: Vec::new(),
        statuses: BTreeMap::new(),
        secret_passwords: SecretPasswords::default(),
        list_narrowing: None,
    })
}

/// Why the databases' and Patroni's part of a `plan --no-database` is unknown.
const NO_DATABASE: &str = "not connected (plan --no-database)";

pub async fn plan_live(
    config: &Config,
    cluster: &ClusterClient,
    source: &Source,
) -> Result<Planned, PipelineError> {
    let limits = render::limits(config);
    let (live, objects, adoptable, narrowing) = match config.shard {
        // The lists all at once: a run's floor is the time they take.
        None => {
            let (live, objects, adoptable) = futures::future::try_join3(
                observe_manifests(&cluster.client, &source.scope, &limits),
                observe_objects(&cluster.client, &source.scope, config, None),
                observe_adoptable(&cluster.client, &source.scope, config, None),
            )
            .await?;
            (live, objects, adoptable, None)
        }
        // A shard reads the manifests first, so its other lists can leave out the objects of
        // the clusters that are all other shards'.
        Some(shard) => {
            let live = observe_manifests(&cluster.client, &source.scope, &limits).await?;
            let narrowing = source
                .files
                .is_none()
                .then(|| {
                    let fleet = plan::shard::Fleet::new(shard.count, &live.seen);
                    shard.list_narrowing(&fleet, &config.cluster_name_label)
                })
                .flatten();
            let narrow = narrowing.as_deref();
            let (objects, adoptable) = futures::future::try_join(
                observe_objects(&cluster.client, &source.scope, config, narrow),
                observe_adoptable(&cluster.client, &source.scope, config, narrow),
            )
            .await?;
            (live, objects, adoptable, narrowing)
        }
    };
    let mut manifests = live.manifests;
    let mut invalid = live.invalid;
    if let Some(path) = &source.files {
        let (from_files, file_invalid) =
            load_files(path, &source.default_namespace, &render::limits(config))?;
        let from_files = from_files
            .into_iter()
            .filter(|m| in_scope(m, &source.scope))
            .collect();
        manifests = overlay(manifests, from_files);
        invalid.extend(file_invalid);
    }
    // Running clusters keep the DCS mode their pods use.
    let mut facts = render::live::LiveFacts::from_objects(objects.iter().chain(&adoptable));
    {
        use crate::observe::pod_environment::{cluster_namespaces, observe_pod_environment};
        let namespaces = cluster_namespaces(&manifests);
        facts.pod_environment = observe_pod_environment(&cluster.client, config, &namespaces).await;
    }
    let mut desired = render::render_with(&manifests, config, &facts);
    desired.invalid.splice(0..0, invalid);
    let mut observed = Observed {
        manifests: live.seen,
        objects,
        adoptable,
        finalizers: live.finalizers,
        now: source
            .clock
            .unwrap_or_else(jiff::Timestamp::now)
            .round(jiff::Unit::Second)
            .ok()
            .map(|t| t.to_string()),
        ..Observed::default()
    };
    // Before the shard narrows anything: a clone's source may be another shard's.
    plan::bootstrap_sources::refuse_missing_sources(&mut desired, &observed);
    plan::standby_targets::refuse_sql_on_standbys(&mut desired);
    if let Some(shard) = config.shard {
        shard.restrict_desired(&mut desired);
        shard.restrict_observed(&mut observed, &config.cluster_name_label);
    }
    // The superuser's password may be in a Secret that this run adopts.
    let secret_passwords =
        SecretPasswords::from_objects(observed.objects.iter().chain(&observed.adoptable));
    let password_of = |namespace: &str, name: &str| secret_passwords.get(namespace, name);
    let without_primary = crate::state::primary::endpoints_without_address(
        observed.objects.iter().chain(&observed.adoptable),
    );
    let revisions = crate::state::trim::UpdateRevisions::of(&observed.objects);
    // The catalogs are read while the pods are listed.
    let databases = async {
        if source.reach_databases {
            observe_databases(
                Some(&cluster.client),
                config,
                &desired,
                &password_of,
                &without_primary,
            )
            .await
        } else {
            not_reached(&desired, NO_DATABASE)
        }
    };
    if config.enable_postgres_team_crd {
        observed.postgres_teams =
            crate::observe::teams::observe_postgres_teams(&cluster.client, &source.scope).await;
    }
    let map = &observed.postgres_teams;
    let teams = async {
        use crate::observe::teams::{not_asked, observe_teams};
        if source.reach_databases {
            observe_teams(&cluster.client, config, &desired, map).await
        } else {
            not_asked(&desired, config, map, NO_DATABASE)
        }
    };
    let (databases, pods, teams) = futures::future::join3(
        databases,
        observe_pods(
            &cluster.client,
            &source.scope,
            config,
            narrowing.as_deref(),
            &revisions,
        ),
        teams,
    )
    .await;
    observed.databases = databases;
    observed.teams = teams;
    let mut pods = pods?;
    if let Some(shard) = config.shard {
        let fleet = plan::shard::Fleet::new(shard.count, &observed.manifests);
        pods.retain(|p| shard.owns_object(&fleet, p, &config.cluster_name_label));
    }
    observed.patroni = if source.reach_databases {
        crate::observe::patroni::observe_patroni(config, &desired, &pods).await
    } else {
        crate::observe::patroni::not_reached(config, &desired, &pods, NO_DATABASE)
    };
    observed.pods = pods;
    // What apply sends must be what was planned: a StatefulSet whose Patroni settings alone
    // changed keeps its live template.
    let desired = plan::dynamic_only::keep_live_dynamic_settings_owned(desired, &observed);
    let plan = plan::plan(&desired, &observed, config);
    Ok(Planned {
        replicas: replicas(&observed.objects),
        plan,
        desired,
        observed,
        requests: cluster.requests.snapshot(),
        manifests,
        statuses: live.statuses,
        secret_passwords,
        list_narrowing: narrowing,
    })
}
