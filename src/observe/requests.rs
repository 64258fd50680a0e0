//! Counting the API requests a run makes, by verb, at the HTTP layer of the kube client: the
//! figure behind "a few list calls, not one call per object" and "a no-op run writes nothing".

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Shared counts, by verb: get, list, watch, create, update, patch, patch-dry-run, delete…
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl RequestCounter {
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Requests that changed something (not reads, not dry runs, not the ones that failed).
    pub fn writes(&self) -> u64 {
        let counts = self.snapshot();
        let failed = |verb: &str| counts.get(&format!("{verb}{FAILED}")).copied().unwrap_or(0);
        counts
            .iter()
            .filter(|(verb, _)| is_write(verb))
            .map(|(verb, n)| n.saturating_sub(failed(verb)))
            .sum()
    }

    fn record(&self, verb: String) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(verb).or_default() += 1;
        }
    }

    /// One more attempt of a request that failed transiently (see [`super::retry`]).
    pub fn record_retry(&self) {
        self.record("retry".into());
    }
}

/// Suffix of the count of a verb's failed requests ("patch-failed").
const FAILED: &str = "-failed";

pub fn is_write(verb: &str) -> bool {
    matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    )
}

/// The Kubernetes verb of a request, from its method, path and query. Requests for the run's own
/// Lease are counted apart ("lease-update", …): they coordinate runs and change nothing of the
/// user's, so they are not writes.
pub fn verb(method: &http::Method, path: &str, query: &str) -> String {
    if path.starts_with("/apis/coordination.k8s.io/") {
        return format!("lease-{}", plain_verb(method, path, query));
    }
    plain_verb(method, path, query)
}

fn plain_verb(method: &http::Method, path: &str, query: &str) -> String {
    let has = |k: &str| {
        query.split('&').any(|p| {
            p == format!("{k}=true") || p == format!("{k}=1") || p.starts_with(&format!("{k}=All"))
        })
    };
    let collection = is_collection(path);
    let verb = match *method {
        http::Method::GET if has("watch") => "watch",
        http::Method::GET if collection => "list",
        http::Method::GET => "get",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE if collection => "deletecollection",
        http::Method::DELETE => "delete",
        _ => "other",
    };
    if has("dryRun") {
        format!("{verb}-dry-run")
    } else {
        verb.to_string()
    }
}

/// `/api/v1/namespaces/x/pods` and `/apis/g/v/pods` are collections; with a name they are not.
fn is_collection(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return false,
    };
    match rest {
        ["namespaces"] => true,
        ["namespaces", _ns] => false,
        ["namespaces", _ns, _resource] => true,
        ["namespaces", _ns, ..] => false,
        [_resource] => true,
        _ => false,
    }
}

impl<S> Layer<S> for RequestCounter {
    type Service = Counted<S>;
    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            counter: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    counter: RequestCounter,
}

impl<S, B, R> Service<http::Request<B>> for Counted<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let uri = req.uri();
        let verb = verb(req.method(), uri.path(), uri.query().unwrap_or_default());
        self.counter.record(verb.clone());
        let counter = self.counter.clone();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let answer = answer.await;
            // A write refused in any way (409, 422, 404 on a delete) changed nothing; a read
            // answered 404 is an answer ("not there"), not a failure.
            let ok = answer
                .as_ref()
                .is_ok_and(|r| r.status().is_success() || (!is_write(&verb) && r.status() == 404));
            if !ok {
                counter.record(format!("{verb}{FAILED}"));
            }
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn verbs() {
        assert_eq!(
            verb(
                &Method::GET,
                "/api/v1/namespaces/a/secrets",
                "labelSelector=x"
            ),
            "list"
        );
        assert_eq!(verb(&Method::GET, "/api/v1/secrets", "limit=500"), "list");
        assert_eq!(
            verb(&Method::GET, "/api/v1/namespaces/a/secrets/s", ""),
            "get"
        );
        assert_eq!(
            verb(
                &Method::GET,
                "/apis/acid.zalan.do/v1/postgresqls",
                "watch=true"
            ),
            "watch"
        );
        assert_eq!(
            verb(
                &Method::PATCH,
                "/apis/apps/v1/namespaces/a/statefulsets/x",
                "fieldManager=m&dryRun=All"
            ),
            "patch-dry-run"
        );
        assert_eq!(
            verb(
                &Method::PATCH,
                "/apis/acid.zalan.do/v1/namespaces/a/postgresqls/x/status",
                ""
            ),
            "patch"
        );
        assert_eq!(
            verb(&Method::DELETE, "/api/v1/namespaces/a/pods/p", ""),
            "delete"
        );
        assert_eq!(verb(&Method::GET, "/version", ""), "get");
        assert!(is_write("patch") && !is_write("patch-dry-run") && !is_write("list"));
        let lease = verb(
            &Method::PUT,
            "/apis/coordination.k8s.io/v1/namespaces/a/leases/postgres-reconciler",
            "",
        );
        assert_eq!(lease, "lease-update");
        assert!(!is_write(&lease));
    }
}
