//! `postgres-reconciler watch --cronjob NAME`: the sidecar that starts a run within seconds of a
//! manifest change, by creating a Job from the CronJob as `kubectl create job --from=cronjob/…`
//! does. It reacts to spec changes (generation), the annotations a run reads, deletions, and
//! pods of a cluster becoming Ready (so a rolling upgrade's next step follows quickly); a status
//! write never triggers a run. While a Job of the CronJob is still active it waits, then triggers
//! once more after that Job finishes; while another run (a manual `apply`, or one that crashed)
//! holds the Lease, it starts its run once that holder is gone.

pub mod health;
pub mod job;
pub mod metrics;
pub mod trigger;

use crate::config::Config;
use crate::observe::cluster::{MANIFEST_KINDS, api_resource};
use crate::plan::shard;
use futures::{Stream, StreamExt};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use trigger::{Debounce, Fingerprint, Manifests};

#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The CronJob whose job template a run uses, in `namespace`.
    pub cronjob: String,
    pub namespace: String,
    pub debounce: Duration,
    pub health_addr: Option<SocketAddr>,
    /// Where runs take their Lease (the configuration's `release_namespace`).
    pub lease_namespace: String,
    /// With N > 1 the chart installs a CronJob per shard (`<cronjob>-shard-i-of-N`): a change
    /// starts the CronJob of the shard that owns the manifest.
    pub shards: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("health endpoint {0}: {1}")]
    Health(SocketAddr, std::io::Error),
    #[error("the watch streams ended")]
    Ended,
}

/// What the streams tell the loop.
enum Signal {
    /// A manifest changed in a way a run cares about (the string says which, for the log), and
    /// the shard that owns it.
    Manifest(String, u32),
    PodReady(String, u32),
    JobFinished,
    /// The initial listing of one stream is done: later changes are real changes.
    Synced,
}

type Signals = Pin<Box<dyn Stream<Item = Signal> + Send>>;

fn manifest_signals(
    client: &kube::Client,
    namespaces: &[String],
    shards: u32,
    default_server: Option<&crate::api::ServerRef>,
) -> Vec<Signals> {
    let mut streams = Vec::new();
    for &(api_version, kind, plural) in MANIFEST_KINDS {
        let resource = api_resource(api_version, kind, plural);
        let apis: Vec<Api<DynamicObject>> = if namespaces.is_empty() {
            vec![Api::all_with(client.clone(), &resource)]
        } else {
            namespaces
                .iter()
                .map(|ns| Api::namespaced_with(client.clone(), ns, &resource))
                .collect()
        };
        for api in apis {
            let default_server = default_server.cloned();
            let mut seen = Manifests::default();
            let mut syncing = true;
            let stream = watcher::watcher(api, watcher::Config::default())
                .filter_map(move |event| {
                    let signal = match event {
                        Ok(Event::Init) => {
                            syncing = true;
                            None
                        }
                        Ok(Event::InitApply(o)) => {
                            seen.changed(&uid(&o), Fingerprint::of(&to_value(&o)));
                            None
                        }
                        Ok(Event::InitDone) => {
                            syncing = false;
                            Some(Signal::Synced)
                        }
                        Ok(Event::Apply(o)) => {
                            let value = to_value(&o);
                            let changed = seen.changed(&uid(&o), Fingerprint::of(&value));
                            (changed && !syncing).then(|| {
                                Signal::Manifest(
                                    describe(kind, &o),
                                    owner_of(kind, &value, shards, default_server.as_ref()),
                                )
                            })
                        }
                        Ok(Event::Delete(o)) => {
                            seen.forget(&uid(&o));
                            Some(Signal::Manifest(
                                format!("{} (deleted)", describe(kind, &o)),
                                owner_of(kind, &to_value(&o), shards, default_server.as_ref()),
                            ))
                        }
                        Err(e) => {
                            tracing::warn!("watching {plural}: {e}");
                            None
                        }
                    };
                    std::future::ready(signal)
                })
                .boxed();
            streams.push(stream);
        }
    }
    streams
}

/// The shard that owns a manifest (0 without shards).
fn owner_of(
    kind: &str,
    manifest: &Value,
    shards: u32,
    default_server: Option<&crate::api::ServerRef>,
) -> u32 {
    let (namespace, name) = shard::live_manifest_key(kind, manifest, default_server);
    shard::owner(&namespace, &name, shards.max(1))
}

fn pod_signals(
    client: &kube::Client,
    namespaces: &[String],
    selector: String,
    cluster_name_label: String,
    shards: u32,
) -> Vec<Signals> {
    let apis: Vec<Api<Pod>> = if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    apis.into_iter()
        .map(|api| {
            let mut ready: BTreeMap<String, bool> = BTreeMap::new();
            let mut syncing = true;
            let cluster_name_label = cluster_name_label.clone();
            watcher::watcher(api, watcher::Config::default().labels(&selector))
                .filter_map(move |event| {
                    let signal = match event {
                        Ok(Event::Init) => {
                            syncing = true;
                            None
                        }
                        Ok(Event::InitApply(p)) => {
                            ready.insert(p.metadata.uid.clone().unwrap_or_default(), is_ready(&p));
                            None
                        }
                        Ok(Event::InitDone) => {
                            syncing = false;
                            None
                        }
                        Ok(Event::Apply(p)) => {
                            let now = is_ready(&p);
                            let before =
                                ready.insert(p.metadata.uid.clone().unwrap_or_default(), now);
                            (now && before != Some(true) && !syncing).then(|| {
                                let namespace = p.metadata.namespace.clone().unwrap_or_default();
                                let cluster = p
                                    .metadata
                                    .labels
                                    .as_ref()
                                    .and_then(|l| l.get(&cluster_name_label))
                                    .cloned()
                                    .unwrap_or_default();
                                Signal::PodReady(
                                    p.metadata.name.clone().unwrap_or_default(),
                                    shard::owner(&namespace, &cluster, shards.max(1)),
                                )
                            })
                        }
                        Ok(Event::Delete(p)) => {
                            ready.remove(&p.metadata.uid.clone().unwrap_or_default());
                            None
                        }
                        Err(e) => {
                            tracing::warn!("watching pods: {e}");
                            None
                        }
                    };
                    std::future::ready(signal)
                })
                .boxed()
        })
        .collect()
}

fn job_signals(client: &kube::Client, namespace: &str) -> Signals {
    let api: Api<Job> = Api::namespaced(client.clone(), namespace);
    let mut active: BTreeMap<String, bool> = BTreeMap::new();
    watcher::watcher(api, watcher::Config::default())
        .filter_map(move |event| {
            let signal = match event {
                Ok(Event::InitApply(j)) | Ok(Event::Apply(j)) => {
                    let now = job::is_active(&j);
                    let before = active.insert(j.metadata.uid.clone().unwrap_or_default(), now);
                    (before == Some(true) && !now).then_some(Signal::JobFinished)
                }
                Ok(Event::Delete(j)) => {
                    let was = active.remove(&j.metadata.uid.clone().unwrap_or_default());
                    (was == Some(true)).then_some(Signal::JobFinished)
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!("watching jobs: {e}");
                    None
                }
            };
            std::future::ready(signal)
        })
        .boxed()
}

fn uid(o: &DynamicObject) -> String {
    o.metadata.uid.clone().unwrap_or_default()
}

fn to_value(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

fn describe(kind: &str, o: &DynamicObject) -> String {
    format!(
        "{kind} {}/{}",
        o.metadata.namespace.as_deref().unwrap_or_default(),
        o.metadata.name.as_deref().unwrap_or_default()
    )
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// What is left to do after trying to start a run.
enum Started {
    Yes,
    /// Not yet: start one when the active Job finishes (or the next signal comes).
    Owed,
    /// Another run (not a Job of ours) holds the Lease until then: a Job started now would only
    /// wait for it, and end `skipped` if it held on longer than `lease_wait_seconds`.
    After(Instant),
}

/// When a run holding the Lease `name` will be gone, if one holds it now.
async fn lease_held_until(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Option<(String, Instant)> {
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), namespace);
    let lease = leases.get_opt(name).await.ok()??;
    let now = jiff::Timestamp::now();
    let (holder, until) = crate::apply::lease::held_until(&lease, now)?;
    let left = until.duration_since(now).unsigned_abs();
    Some((holder, Instant::now() + left))
}

/// How often the watcher looks at a held Lease again (a run that ends frees it at once).
const LEASE_POLL: Duration = Duration::from_secs(2);

/// The CronJob and the Lease of shard `index` (the plain ones without shards).
fn shard_names(options: &WatchOptions, index: u32) -> (String, String) {
    let shard = (options.shards > 1).then_some(shard::Shard {
        index,
        count: options.shards,
    });
    (
        job::cronjob_name(&options.cronjob, shard),
        crate::apply::lease::lease_name(shard),
    )
}

/// Starts a run of shard `index` now, or says when to try again.
async fn start_run(client: &kube::Client, options: &WatchOptions, index: u32) -> Started {
    let (cronjob_name, lease_name) = shard_names(options, index);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &options.namespace);
    let cronjob = match cronjobs.get(&cronjob_name).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(cronjob = %cronjob_name, "reading the CronJob: {e}");
            return Started::Owed;
        }
    };
    let cronjob_uid = cronjob.metadata.uid.clone().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(client.clone(), &options.namespace);
    match jobs.list(&ListParams::default()).await {
        Ok(list) => {
            if let Some(active) = list
                .items
                .iter()
                .find(|j| job::owned_by(j, &cronjob_uid) && job::is_active(j))
            {
                tracing::info!(job = ?active.metadata.name, "a run is still active; another follows when it finishes");
                return Started::Owed;
            }
        }
        Err(e) => {
            tracing::warn!("listing Jobs: {e}");
            return Started::Owed;
        }
    }
    if let Some((holder, until)) =
        lease_held_until(client, &options.lease_namespace, &lease_name).await
    {
        tracing::info!(%holder, "another run holds the Lease; this run starts once it is gone");
        return Started::After(until.min(Instant::now() + LEASE_POLL));
    }
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let name = job::job_name(&cronjob_name, seconds);
    let Some(job) = job::job_from_cronjob(&cronjob, &name) else {
        tracing::warn!(cronjob = %cronjob_name, "the CronJob has no job template");
        return Started::Yes;
    };
    match jobs.create(&PostParams::default(), &job).await {
        Ok(_) => {
            tracing::info!(job = %name, "started a run");
            Started::Yes
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Started::Yes, // started within the same second
        Err(e) => {
            tracing::warn!(job = %name, "creating the Job: {e}");
            Started::Owed
        }
    }
}

/// Runs until the streams end (they retry on errors, so: until the process is stopped).
pub async fn run(
    client: kube::Client,
    config: &Config,
    options: WatchOptions,
) -> Result<(), WatchError> {
    let ready = Arc::new(AtomicBool::new(false));
    if let Some(addr) = options.health_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| WatchError::Health(addr, e))?;
        let metrics = metrics::MetricsSource {
            client: client.clone(),
            namespaces: config.watched_namespaces.clone(),
            lease_namespace: options.lease_namespace.clone(),
            leases: (0..options.shards.max(1))
                .map(|i| shard_names(&options, i).1)
                .collect(),
        };
        tokio::spawn(health::serve(
            listener,
            ready.clone(),
            Some(Arc::new(metrics)),
        ));
    }
    let namespaces = config.watched_namespaces.clone();
    let selector = config
        .cluster_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let shards = options.shards.max(1);
    let mut streams = manifest_signals(
        &client,
        &namespaces,
        shards,
        config.default_database_server.as_ref(),
    );
    let manifest_streams = streams.len();
    streams.extend(pod_signals(
        &client,
        &namespaces,
        selector,
        config.cluster_name_label.clone(),
        shards,
    ));
    streams.push(job_signals(&client, &options.namespace));
    let mut signals = futures::stream::select_all(streams);

    let mut pending: Vec<Pending> = (0..shards)
        .map(|_| Pending::new(options.debounce))
        .collect();
    let mut synced = 0;
    loop {
        let sleep_until = pending
            .iter()
            .filter_map(Pending::due)
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            signal = signals.next() => match signal {
                None => return Err(WatchError::Ended),
                Some(Signal::Synced) => {
                    synced += 1;
                    if synced == manifest_streams {
                        ready.store(true, Ordering::Relaxed);
                        tracing::info!("watching; runs start {:?} after a change", options.debounce);
                    }
                }
                Some(Signal::Manifest(what, shard)) => {
                    tracing::info!(%what, shard, "manifest changed");
                    pending[shard as usize].debounce.poke(Instant::now());
                }
                Some(Signal::PodReady(pod, shard)) => {
                    tracing::info!(%pod, shard, "pod became ready");
                    pending[shard as usize].debounce.poke(Instant::now());
                }
                Some(Signal::JobFinished) => {
                    // Any shard's Job: the ones still owed a run try again.
                    for p in pending.iter_mut().filter(|p| p.owed) {
                        p.debounce.poke(Instant::now());
                    }
                }
            },
            _ = tokio::time::sleep_until(sleep_until) => {}
        }
        for (index, p) in pending.iter_mut().enumerate() {
            let retry_due = p.retry_at.is_some_and(|at| at <= Instant::now());
            if p.debounce.fire(Instant::now()) || retry_due {
                p.retry_at = None;
                p.owed = match start_run(&client, &options, index as u32).await {
                    Started::Yes => false,
                    Started::Owed => true,
                    Started::After(at) => {
                        p.retry_at = Some(at);
                        true
                    }
                };
            }
        }
    }
}

/// A shard's run to start: its debounce, whether a run is owed (an active Job or Lease holder
/// delayed it), and when to look at the Lease again.
struct Pending {
    debounce: Debounce,
    owed: bool,
    retry_at: Option<Instant>,
}

impl Pending {
    fn new(debounce: Duration) -> Pending {
        Pending {
            debounce: Debounce::new(debounce),
            owed: false,
            retry_at: None,
        }
    }

    fn due(&self) -> Option<Instant> {
        self.debounce.due().into_iter().chain(self.retry_at).min()
    }
}
