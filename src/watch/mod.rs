//! `postgres-reconciler watch --cronjob NAME`: the sidecar that starts a run within seconds of a
//! manifest change, by creating a Job from the CronJob as `kubectl create job --from=cronjob/…`
//! does. It reacts to spec changes (generation), the annotations a run reads, deletions, and
//! pods of a cluster becoming Ready (so a rolling upgrade's next step follows quickly); a status
//! write never triggers a run. While a Job of the CronJob is still active it waits, then triggers
//! once more after that Job finishes; while another run (a manual `apply`, or one that crashed)
//! holds the Lease, it starts its run once that holder is gone.

pub mod health;
pub mod job;
pub mod trigger;

use crate::config::Config;
use crate::observe::cluster::{MANIFEST_KINDS, api_resource};
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
    /// A manifest changed in a way a run cares about (the string says which, for the log).
    Manifest(String),
    PodReady(String),
    JobFinished,
    /// The initial listing of one stream is done: later changes are real changes.
    Synced,
}

type Signals = Pin<Box<dyn Stream<Item = Signal> + Send>>;

fn manifest_signals(client: &kube::Client, namespaces: &[String]) -> Vec<Signals> {
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
                            let changed = seen.changed(&uid(&o), Fingerprint::of(&to_value(&o)));
                            (changed && !syncing).then(|| Signal::Manifest(describe(kind, &o)))
                        }
                        Ok(Event::Delete(o)) => {
                            seen.forget(&uid(&o));
                            Some(Signal::Manifest(format!(
                                "{} (deleted)",
                                describe(kind, &o)
                            )))
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

fn pod_signals(client: &kube::Client, namespaces: &[String], selector: String) -> Vec<Signals> {
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
                                Signal::PodReady(p.metadata.name.clone().unwrap_or_default())
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

/// When a run holding the Lease will be gone, if one holds it now.
async fn lease_held_until(client: &kube::Client, namespace: &str) -> Option<(String, Instant)> {
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), namespace);
    let lease = leases
        .get_opt(crate::apply::lease::LEASE_NAME)
        .await
        .ok()??;
    let now = jiff::Timestamp::now();
    let (holder, until) = crate::apply::lease::held_until(&lease, now)?;
    let left = until.duration_since(now).unsigned_abs();
    Some((holder, Instant::now() + left))
}

/// How often the watcher looks at a held Lease again (a run that ends frees it at once).
const LEASE_POLL: Duration = Duration::from_secs(2);

/// Starts a run now, or says when to try again.
async fn start_run(client: &kube::Client, options: &WatchOptions) -> Started {
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &options.namespace);
    let cronjob = match cronjobs.get(&options.cronjob).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(cronjob = %options.cronjob, "reading the CronJob: {e}");
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
    if let Some((holder, until)) = lease_held_until(client, &options.lease_namespace).await {
        tracing::info!(%holder, "another run holds the Lease; this run starts once it is gone");
        return Started::After(until.min(Instant::now() + LEASE_POLL));
    }
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let name = job::job_name(&options.cronjob, seconds);
    let Some(job) = job::job_from_cronjob(&cronjob, &name) else {
        tracing::warn!(cronjob = %options.cronjob, "the CronJob has no job template");
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
        tokio::spawn(health::serve(listener, ready.clone()));
    }
    let namespaces = config.watched_namespaces.clone();
    let selector = config
        .cluster_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut streams = manifest_signals(&client, &namespaces);
    let manifest_streams = streams.len();
    streams.extend(pod_signals(&client, &namespaces, selector));
    streams.push(job_signals(&client, &options.namespace));
    let mut signals = futures::stream::select_all(streams);

    let mut debounce = Debounce::new(options.debounce);
    let mut owed = false;
    // Set while another run holds the Lease: when to try again.
    let mut retry_at: Option<Instant> = None;
    let mut synced = 0;
    loop {
        let sleep_until = debounce
            .due()
            .into_iter()
            .chain(retry_at)
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
                Some(Signal::Manifest(what)) => {
                    tracing::info!(%what, "manifest changed");
                    debounce.poke(Instant::now());
                }
                Some(Signal::PodReady(pod)) => {
                    tracing::info!(%pod, "pod became ready");
                    debounce.poke(Instant::now());
                }
                Some(Signal::JobFinished) => {
                    if owed {
                        debounce.poke(Instant::now());
                    }
                }
            },
            _ = tokio::time::sleep_until(sleep_until) => {}
        }
        let retry_due = retry_at.is_some_and(|at| at <= Instant::now());
        if debounce.fire(Instant::now()) || retry_due {
            retry_at = None;
            owed = match start_run(&client, &options).await {
                Started::Yes => false,
                Started::Owed => true,
                Started::After(at) => {
                    retry_at = Some(at);
                    true
                }
            };
        }
    }
}
