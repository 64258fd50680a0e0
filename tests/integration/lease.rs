//! The Lease that keeps two `apply` runs from overlapping, on the real control plane.

use crate::support::TestNamespace;
use crate::support::fault_proxy::{Fault, FaultProxy};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use postgres_reconciler::apply::lease::{Acquired, LEASE_NAME, Renewed, acquire};
use std::sync::atomic::Ordering;
use std::time::Duration;

const FIVE_MINUTES: Duration = Duration::from_secs(300);

async fn holder(ns: &TestNamespace) -> Option<String> {
    let lease = ns.api::<Lease>().get(LEASE_NAME).await.expect("get Lease");
    lease.spec.and_then(|s| s.holder_identity)
}

/// A Lease written by hand, as another run would have left it.
async fn write_lease(ns: &TestNamespace, holder: &str, renewed: Timestamp, seconds: i32) {
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(LEASE_NAME.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(seconds),
            acquire_time: Some(MicroTime(renewed)),
            renew_time: Some(MicroTime(renewed)),
            ..Default::default()
        }),
    };
    ns.api::<Lease>()
        .create(&PostParams::default(), &lease)
        .await
        .expect("create Lease");
}

#[tokio::test]
async fn of_two_concurrent_runs_exactly_one_holds_the_lease() {
    let ns = TestNamespace::new("lease-race").await;
    let (a, b) = tokio::join!(
        acquire(&ns.client, &ns.name, "run-a", FIVE_MINUTES),
        acquire(&ns.client, &ns.name, "run-b", FIVE_MINUTES),
    );
    let (a, b) = (a.expect("acquire a"), b.expect("acquire b"));
    let (winner, loser) = match (&a, &b) {
        (Acquired::Held(g), other @ Acquired::HeldByOther { .. })
        | (other @ Acquired::HeldByOther { .. }, Acquired::Held(g)) => (g.identity(), other),
        _ => panic!("exactly one run must hold the Lease: {a:?}, {b:?}"),
    };
    let Acquired::HeldByOther {
        holder: named,
        renewed,
    } = loser
    else {
        unreachable!()
    };
    assert_eq!(named, winner);
    assert!(renewed.is_some());
    assert_eq!(holder(&ns).await.as_deref(), Some(winner));
}

#[tokio::test]
async fn after_release_the_next_run_takes_it() {
    let ns = TestNamespace::new("lease-release").await;
    let Acquired::Held(mut first) = acquire(&ns.client, &ns.name, "run-1", FIVE_MINUTES)
        .await
        .expect("acquire")
    else {
        panic!("a fresh namespace has no Lease holder");
    };
    // While held, another run is turned away.
    let second = acquire(&ns.client, &ns.name, "run-2", FIVE_MINUTES)
        .await
        .expect("acquire");
    assert!(
        matches!(&second, Acquired::HeldByOther { holder, .. } if holder == "run-1"),
        "{second:?}"
    );
    first.release(None).await.expect("release");
    assert_eq!(holder(&ns).await, None);
    let third = acquire(&ns.client, &ns.name, "run-3", FIVE_MINUTES)
        .await
        .expect("acquire");
    assert!(matches!(third, Acquired::Held(_)), "{third:?}");
    assert_eq!(holder(&ns).await.as_deref(), Some("run-3"));
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let ns = TestNamespace::new("lease-expired").await;
    let long_ago = Timestamp::now() - SignedDuration::from_mins(10);
    write_lease(&ns, "crashed-run", long_ago, 1).await;
    let taken = acquire(&ns.client, &ns.name, "run-new", FIVE_MINUTES)
        .await
        .expect("acquire");
    let Acquired::Held(mut guard) = taken else {
        panic!("an expired Lease must be taken over: {taken:?}");
    };
    let lease = ns.api::<Lease>().get(LEASE_NAME).await.expect("get Lease");
    let spec = lease.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("run-new"));
    assert_eq!(spec.lease_duration_seconds, Some(300));
    assert_eq!(spec.lease_transitions, Some(1));
    assert!(spec.renew_time.expect("renewTime").0 > long_ago);
    guard.release(None).await.expect("release");
}

#[tokio::test]
async fn a_live_lease_of_someone_else_is_respected() {
    let ns = TestNamespace::new("lease-live").await;
    write_lease(&ns, "other-run", Timestamp::now(), 300).await;
    let result = acquire(&ns.client, &ns.name, "run-new", FIVE_MINUTES)
        .await
        .expect("acquire");
    match result {
        Acquired::HeldByOther { holder, renewed } => {
            assert_eq!(holder, "other-run");
            let renewed: Timestamp = renewed.expect("renewed").parse().expect("RFC 3339");
            assert!(renewed <= Timestamp::now());
        }
        Acquired::Held(_) => panic!("took a live Lease of someone else"),
    }
    assert_eq!(holder(&ns).await.as_deref(), Some("other-run"));
}

#[tokio::test]
async fn releasing_a_lease_taken_over_meanwhile_leaves_it_alone() {
    let ns = TestNamespace::new("lease-taken").await;
    let Acquired::Held(mut guard) = acquire(&ns.client, &ns.name, "slow-run", FIVE_MINUTES)
        .await
        .expect("acquire")
    else {
        panic!("a fresh namespace has no Lease holder");
    };
    guard.renew().await.expect("renew");
    // Another run takes it over (as after an expiry).
    let api = ns.api::<Lease>();
    let mut lease = api.get(LEASE_NAME).await.expect("get Lease");
    lease.spec.as_mut().expect("spec").holder_identity = Some("next-run".into());
    api.replace(LEASE_NAME, &PostParams::default(), &lease)
        .await
        .expect("take over");
    guard
        .release(None)
        .await
        .expect("a conflict on release is not an error");
    assert_eq!(holder(&ns).await.as_deref(), Some("next-run"));
}

/// A run's Lease is short and kept alive in the background: past its duration it is still held
/// (no other run takes it), and it is freed at the end.
#[tokio::test]
async fn a_held_lease_is_renewed_while_the_run_works() {
    let ns = TestNamespace::new("lease-renewed").await;
    let three_seconds = Duration::from_secs(3);
    let Acquired::Held(guard) = acquire(&ns.client, &ns.name, "long-run", three_seconds)
        .await
        .expect("acquire")
    else {
        panic!("a fresh namespace has no Lease holder");
    };
    let renewed = Renewed::start(guard, three_seconds);
    tokio::time::sleep(Duration::from_secs(5)).await;
    match acquire(&ns.client, &ns.name, "next-run", three_seconds)
        .await
        .expect("acquire")
    {
        Acquired::HeldByOther { holder, .. } => assert_eq!(holder, "long-run"),
        Acquired::Held(_) => panic!("took a Lease that is being renewed"),
    }
    assert!(!renewed.lost().load(Ordering::SeqCst));
    renewed.release(None).await.expect("release");
    assert_eq!(holder(&ns).await, None);
}

/// When the renewals fail (the apiserver answers 500 to them), the run learns within the
/// Lease's duration that it may no longer write: by then another run may hold it.
#[tokio::test]
async fn a_lease_that_cannot_be_renewed_is_lost_before_it_expires() {
    let ns = TestNamespace::new("lease-lost").await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(&ns.name);
    std::fs::create_dir_all(&dir).expect("dir");
    let lease_path = format!(
        "/apis/coordination.k8s.io/v1/namespaces/{}/leases/{LEASE_NAME}",
        ns.name
    );
    let proxy = FaultProxy::start(
        &dir,
        Fault::Fail(
            Box::new(move |method, p| method == http::Method::PUT && p == lease_path),
            500,
        ),
    )
    .await;
    let three_seconds = Duration::from_secs(3);
    // Created through the proxy (a POST), renewed through it (PUTs, which fail).
    let through_proxy = {
        let kubeconfig = Kubeconfig::read_from(&proxy.kubeconfig).expect("kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("config");
        kube::Client::try_from(config).expect("client")
    };
    let Acquired::Held(guard) = acquire(&through_proxy, &ns.name, "cut-off-run", three_seconds)
        .await
        .expect("acquire")
    else {
        panic!("a fresh namespace has no Lease holder");
    };
    let renewed = Renewed::start(guard, three_seconds);
    let lost = renewed.lost();
    crate::support::eventually(
        Duration::from_secs(30),
        "the Lease reported lost",
        || async { lost.load(Ordering::SeqCst).then_some(()) },
    )
    .await;
    // Known lost while the apiserver still counts the Lease as ours (never renewed: it expires
    // a lease duration after it was taken), so no other run can have taken it yet.
    let lease = ns.api::<Lease>().get(LEASE_NAME).await.expect("get Lease");
    let spec = lease.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("cut-off-run"));
    let taken = spec.acquire_time.expect("acquired").0;
    let expires = taken
        .checked_add(SignedDuration::from_secs(3))
        .expect("time");
    assert!(
        Timestamp::now() < expires,
        "lost only after the Lease expired at {expires}"
    );
    renewed.release(None).await.ok();
}
