//! Two runs never overlap: a `coordination.k8s.io/v1` Lease guards `apply`.
//!
//! A run takes the Lease when it is absent, free (no holder) or expired (renewTime, else
//! acquireTime, plus leaseDurationSeconds is in the past); every write carries the
//! resourceVersion it read, so of two runs racing for it exactly one wins. As Kubernetes leader
//! election does, the Lease is short and renewed in the background while the run works
//! ([`Renewed`]); a run that could not renew it before it would expire stops writing. The winner
//! clears the holder when it is done (retried); a run that dies leaves a Lease that expires
//! within one lease duration.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ObjectMeta, PostParams};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub const LEASE_NAME: &str = "postgres-reconciler";

/// The Lease of a run: [`LEASE_NAME`], or one per shard (`postgres-reconciler-shard-0-of-2`), so
/// that shards never wait for each other.
pub fn lease_name(shard: Option<crate::plan::shard::Shard>) -> String {
    match shard {
        None => LEASE_NAME.into(),
        Some(shard) => format!("{LEASE_NAME}-shard-{}", shard.suffix()),
    }
}

/// Reads and writes before giving up on a Lease that keeps changing under us.
const ATTEMPTS: usize = 3;

/// The Lease, held by this run until [`LeaseGuard::release`].
pub struct LeaseGuard {
    api: Box<Api<Lease>>,
    namespace: String,
    name: String,
    identity: String,
    /// The Lease as last written by us (its resourceVersion guards the next write).
    lease: Box<Lease>,
}

#[derive(Debug)]
pub enum Acquired {
    Held(LeaseGuard),
    HeldByOther {
        holder: String,
        /// When the holder last renewed it (RFC 3339).
        renewed: Option<String>,
    },
}

impl std::fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseGuard")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("identity", &self.identity)
            .field("resource_version", &self.lease.metadata.resource_version)
            .finish()
    }
}

/// Takes the Lease [`LEASE_NAME`] in `namespace` for `duration`, unless another live holder has it.
pub async fn acquire(
    client: &kube::Client,
    namespace: &str,
    identity: &str,
    duration: Duration,
) -> Result<Acquired, kube::Error> {
    acquire_named(client, namespace, LEASE_NAME, identity, duration).await
}

/// Takes the Lease `name` in `namespace` for `duration`, unless another live holder has it.
pub async fn acquire_named(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    identity: &str,
    duration: Duration,
) -> Result<Acquired, kube::Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let seconds = duration_seconds(duration);
    let mut last_conflict = None;
    for _ in 0..ATTEMPTS {
        let now = Timestamp::now();
        let written = match api.get_opt(name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.into()),
                        namespace: Some(namespace.into()),
                        ..Default::default()
                    },
                    spec: Some(held_spec(None, identity, seconds, now)),
                };
                api.create(&PostParams::default(), &lease).await
            }
            Some(live) => {
                if let Some(other) = live_holder(&live, identity, now, seconds) {
                    return Ok(other);
                }
                let mut lease = live.clone();
                lease.spec = Some(held_spec(live.spec.as_ref(), identity, seconds, now));
                // `replace` sends the resourceVersion read above: a 409 if anyone wrote since.
                api.replace(name, &PostParams::default(), &lease).await
            }
        };
        match written {
            Ok(lease) => {
                tracing::debug!(namespace, identity, "took the Lease {name}");
                return Ok(Acquired::Held(LeaseGuard {
                    api: Box::new(api),
                    namespace: namespace.into(),
                    name: name.into(),
                    identity: identity.into(),
                    lease: Box::new(lease),
                }));
            }
            // Someone else created or took it first: read it again and decide.
            Err(e) if is_conflict(&e) => {
                last_conflict = Some(e.to_string());
            }
            // A write that may or may not have gone through: read it again (a Lease that is
            // ours by now is simply taken again).
            Err(e) if crate::observe::retry::is_transient_error(&e) => {
                last_conflict = Some(e.to_string());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
    // It kept changing under us: someone else is active.
    tracing::debug!("the Lease {name} kept changing: {last_conflict:?}");
    let live = api.get_opt(name).await?;
    let spec = live.and_then(|l| l.spec);
    Ok(Acquired::HeldByOther {
        holder: spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown".into()),
        renewed: spec.as_ref().and_then(last_renewal).map(|t| t.to_string()),
    })
}

impl LeaseGuard {
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Extends the Lease by its duration from now (for runs that may outlast it).
    pub async fn renew(&mut self) -> Result<(), kube::Error> {
        match self.write_renewal().await {
            // Our own earlier write may have gone through with its answer lost: when the Lease
            // is still ours, write again on its current version (once).
            Err(e) if is_conflict(&e) && self.still_ours().await => self.write_renewal().await,
            other => other,
        }
    }

    async fn write_renewal(&mut self) -> Result<(), kube::Error> {
        let mut lease = (*self.lease).clone();
        let spec = lease.spec.get_or_insert_with(Default::default);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        *self.lease = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await?;
        Ok(())
    }

    /// Reads the Lease again; when it is still held by this run, keeps the version read.
    async fn still_ours(&mut self) -> bool {
        match self.api.get_opt(&self.name).await {
            Ok(Some(live))
                if live
                    .spec
                    .as_ref()
                    .and_then(|s| s.holder_identity.as_deref())
                    == Some(self.identity.as_str()) =>
            {
                *self.lease = live;
                true
            }
            _ => false,
        }
    }

    /// Frees the Lease. A Lease that is gone or was taken over meanwhile is left alone with a
    /// warning: the run's work is done either way.
    pub async fn release(&mut self, summary: Option<&str>) -> Result<(), kube::Error> {
        let written = match self.write_release(summary).await {
            // As for renewals: a release of ours that went through unanswered.
            Err(e) if is_conflict(&e) && self.still_ours().await => {
                self.write_release(summary).await
            }
            other => other,
        };
        match written {
            Ok(()) => {
                tracing::debug!(namespace = %self.namespace, "released the Lease {}", self.name);
                Ok(())
            }
            Err(e) if is_conflict(&e) || is_not_found(&e) => {
                tracing::warn!(
                    namespace = %self.namespace,
                    identity = %self.identity,
                    "the Lease {} changed while this run held it (taken over after expiry, or deleted); left as it is: {e}",
                    self.name
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Frees the Lease; the run's summary (for the watcher's metrics) rides on the same write.
    async fn write_release(&mut self, summary: Option<&str>) -> Result<(), kube::Error> {
        let mut lease = (*self.lease).clone();
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
        }
        if let Some(summary) = summary {
            lease
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(
                    crate::report::metrics::LAST_RUN_ANNOTATION.to_string(),
                    summary.to_string(),
                );
        }
        *self.lease = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await?;
        Ok(())
    }
}

/// Attempts at releasing the Lease before the run leaves it to expire.
const RELEASE_ATTEMPTS: u32 = 3;

/// The Lease, renewed every third of its duration while the run works.
pub struct Renewed {
    guard: Arc<Mutex<LeaseGuard>>,
    lost: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Renewed {
    pub fn start(guard: LeaseGuard, duration: Duration) -> Renewed {
        let guard = Arc::new(Mutex::new(guard));
        let lost = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(renew_until_lost(guard.clone(), lost.clone(), duration));
        Renewed { guard, lost, task }
    }

    /// Turns true when the Lease could not be renewed in time (or was taken over): from then
    /// on another run may hold it, and this one must not write.
    pub fn lost(&self) -> Arc<AtomicBool> {
        self.lost.clone()
    }

    /// Stops renewing and frees the Lease, retrying a failed release a few times.
    pub async fn release(self, summary: Option<&str>) -> Result<(), kube::Error> {
        self.task.abort();
        let mut guard = self.guard.lock().await;
        let mut attempt = 0;
        loop {
            match guard.release(summary).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt + 1 < RELEASE_ATTEMPTS => {
                    attempt += 1;
                    tracing::warn!("releasing the run's Lease (attempt {attempt}): {e}");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

async fn renew_until_lost(
    guard: Arc<Mutex<LeaseGuard>>,
    lost: Arc<AtomicBool>,
    duration: Duration,
) {
    let interval = duration / 3;
    // After a failed renewal, soon again: a flaky apiserver gets many tries before the expiry.
    let retry = (interval / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    let mut renewed = Instant::now();
    let mut next = interval;
    loop {
        tokio::time::sleep(next).await;
        match guard.lock().await.renew().await {
            Ok(()) => {
                renewed = Instant::now();
                next = interval;
            }
            Err(e) if is_conflict(&e) || is_not_found(&e) => {
                tracing::warn!(
                    "the run's Lease was taken over or deleted: this run stops writing ({e})"
                );
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                // Another try before it expires, or stop: past its expiry another run may hold it.
                // A third of the duration stays as margin for a write already on its way.
                if renewed.elapsed() + interval >= duration {
                    tracing::warn!(
                        "the run's Lease could not be renewed before it expires: this run stops writing ({e})"
                    );
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
                tracing::warn!("renewing the run's Lease: {e}; trying again");
                next = retry;
            }
        }
    }
}

/// `HeldByOther` when someone else holds `lease` and it has not expired.
fn live_holder(lease: &Lease, identity: &str, now: Timestamp, seconds: i32) -> Option<Acquired> {
    let spec = lease.spec.as_ref()?;
    let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty())?;
    if holder == identity {
        return None;
    }
    let renewed = last_renewal(spec)?;
    let lasts = spec.lease_duration_seconds.unwrap_or(seconds);
    let expires = renewed.checked_add(SignedDuration::from_secs(i64::from(lasts)));
    match expires {
        Ok(expires) if expires > now => Some(Acquired::HeldByOther {
            holder: holder.to_string(),
            renewed: Some(renewed.to_string()),
        }),
        _ => None,
    }
}

/// Until when someone holds `lease` (its last renewal plus its duration), if it is held and has
/// not expired at `now`. The watcher uses it to start its run once the holder is gone.
pub fn held_until(lease: &Lease, now: Timestamp) -> Option<(String, Timestamp)> {
    let spec = lease.spec.as_ref()?;
    let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty())?;
    let lasts = spec.lease_duration_seconds?;
    let expires = last_renewal(spec)?
        .checked_add(SignedDuration::from_secs(i64::from(lasts)))
        .ok()?;
    (expires > now).then(|| (holder.to_string(), expires))
}

/// renewTime, else acquireTime. A holder without either cannot be told alive: it is expired.
fn last_renewal(spec: &LeaseSpec) -> Option<Timestamp> {
    spec.renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0)
}

/// The spec of a Lease held by `identity` from `now`; transitions count changes of holder.
fn held_spec(
    previous: Option<&LeaseSpec>,
    identity: &str,
    seconds: i32,
    now: Timestamp,
) -> LeaseSpec {
    let previous_holder = previous
        .and_then(|s| s.holder_identity.as_deref())
        .filter(|h| !h.is_empty());
    let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
    let transitions = match previous_holder {
        Some(h) if h != identity => transitions.saturating_add(1),
        _ => transitions,
    };
    LeaseSpec {
        holder_identity: Some(identity.into()),
        lease_duration_seconds: Some(seconds),
        acquire_time: Some(MicroTime(now)),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..previous.cloned().unwrap_or_default()
    }
}

fn duration_seconds(duration: Duration) -> i32 {
    // The API wants whole seconds, at least one.
    i32::try_from(duration.as_secs().max(1)).unwrap_or(i32::MAX)
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}
