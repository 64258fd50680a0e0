//! Retries of transient API failures, for every request that is safe to send twice.
//!
//! kube's own policy retries 429/503/504 only; a flaky apiserver or load balancer also answers
//! 500 and 502 and drops connections, and a run that gives up at the first of those makes no
//! progress at all. What is retried:
//! - reads (GET, LIST, the start of a WATCH);
//! - server-side apply (PATCH): applying the same intent twice gives the same object;
//! - DELETE: a repeat of one that went through answers 404, which callers take as done (and the
//!   UID precondition pins the object);
//! - POST create: a repeat of one that went through answers 409, which callers handle (a
//!   credential Secret is then read back, never overwritten).
//!
//! Never retried here: PUT (a replace carries a resourceVersion: the repeat of one that went
//! through is a 409 conflict, which would read as "someone else wrote"; our Lease, the only
//! user, retries on its own schedule and re-reads after a conflict), evictions (a 429 is the
//! PodDisruptionBudget's answer, not a fault).
//!
//! Each request is retried with exponential backoff for at most [`RetrySettings::per_request`];
//! all requests of a client share a [`TpsBudget`], so an apiserver that is really down is not
//! hammered by retries of retries.

use super::requests::RequestCounter;
use http::{Method, Request, Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tower::BoxError;
use tower::retry::Policy;
use tower::retry::backoff::{Backoff, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use tower::retry::budget::{Budget, TpsBudget};
use tower::util::rng::HasherRng;

#[derive(Clone, Copy, Debug)]
pub struct RetrySettings {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// How long one request keeps being retried after its first failure: long enough to ride
    /// out an apiserver restart, short enough that a run against a dead one ends.
    pub per_request: Duration,
    /// Retries allowed per second on top of `retry_ratio` of the requests made.
    pub min_retries_per_second: u32,
    pub retry_ratio: f32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            per_request: Duration::from_secs(15),
            min_retries_per_second: 10,
            retry_ratio: 1.0,
        }
    }
}

/// The policy of one client; cloned per request by tower's `Retry`, so the backoff and the
/// deadline are per request while the budget is shared.
#[derive(Clone)]
pub struct TransientRetry {
    settings: RetrySettings,
    budget: Arc<TpsBudget>,
    backoff: ExponentialBackoff,
    deadline: Option<Instant>,
    counter: RequestCounter,
}

impl TransientRetry {
    pub fn new(settings: RetrySettings, counter: RequestCounter) -> Self {
        // Clamped so the maker's checks (0 < first <= max) always hold.
        let max_delay = settings.max_delay.max(Duration::from_millis(1));
        let first_delay = settings
            .first_delay
            .clamp(Duration::from_millis(1), max_delay);
        let backoff = ExponentialBackoffMaker::new(first_delay, max_delay, 1.0, HasherRng::new())
            .expect("clamped backoff parameters are valid")
            .make_backoff();
        TransientRetry {
            budget: Arc::new(TpsBudget::new(
                Duration::from_secs(10),
                settings.min_retries_per_second.min(1_000_000),
                if settings.retry_ratio.is_nan() {
                    0.0
                } else {
                    settings.retry_ratio.clamp(0.0, 1000.0)
                },
            )),
            settings,
            backoff,
            deadline: None,
            counter,
        }
    }
}

/// Whether a request may be sent again after a transient failure (see the module comment).
pub fn is_retry_safe(method: &Method, path: &str) -> bool {
    if path.ends_with("/eviction") {
        return false;
    }
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PATCH | Method::DELETE | Method::POST
    )
}

/// Answers that say "try again": throttling, and the gateway and server errors of an apiserver
/// that is restarting or overloaded.
pub fn is_transient_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

/// A kube client error worth trying again: a transient answer, or no answer at all.
pub fn is_transient_error(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => StatusCode::from_u16(s.code).is_ok_and(is_transient_status),
        kube::Error::HyperError(_) | kube::Error::Service(_) => !super::errors::is_tls_failure(e),
        _ => false,
    }
}

/// The server's Retry-After, in whole seconds as the apiserver sends it.
fn retry_after<B>(response: &Response<B>) -> Option<Duration> {
    let value = response.headers().get(http::header::RETRY_AFTER)?;
    value
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl<Res> Policy<Request<kube::client::Body>, Response<Res>, BoxError> for TransientRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut Request<kube::client::Body>,
        result: &mut Result<Response<Res>, BoxError>,
    ) -> Option<Self::Future> {
        let server_delay = match result {
            Ok(response) if is_transient_status(response.status()) => retry_after(response),
            Ok(_) => {
                self.budget.deposit();
                return None;
            }
            // A certificate that is not trusted now will not be trusted in a second either.
            Err(e) if super::errors::is_tls_failure(e.as_ref()) => return None,
            Err(_) => None,
        };
        if !is_retry_safe(req.method(), req.uri().path()) {
            return None;
        }
        let now = Instant::now();
        let deadline = *self.deadline.get_or_insert(now + self.settings.per_request);
        if now >= deadline || !self.budget.withdraw() {
            return None;
        }
        let backoff = self.backoff.next_backoff();
        let wait = server_delay
            .map(|d| now + d)
            .filter(|at| *at > backoff.deadline())
            .map(|at| tokio::time::sleep_until(at.min(deadline)))
            .unwrap_or(backoff);
        self.counter.record_retry();
        let why = match result {
            Ok(response) => response.status().to_string(),
            Err(e) => e.to_string(),
        };
        tracing::debug!(method = %req.method(), path = req.uri().path(), "retrying: {why}");
        Some(wait)
    }

    fn clone_request(
        &mut self,
        req: &Request<kube::client::Body>,
    ) -> Option<Request<kube::client::Body>> {
        if !is_retry_safe(req.method(), req.uri().path()) {
            return None;
        }
        // Only bodies held in memory can be sent again; kube's requests all are.
        let body = req.body().try_clone()?;
        let mut copy = Request::builder()
            .method(req.method().clone())
            .uri(req.uri().clone())
            .version(req.version())
            .body(body)
            .ok()?;
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_requests() {
        let apps = "/apis/apps/v1/namespaces/a/statefulsets/x";
        assert!(is_retry_safe(&Method::GET, apps));
        assert!(is_retry_safe(&Method::PATCH, apps));
        assert!(is_retry_safe(&Method::DELETE, apps));
        assert!(is_retry_safe(&Method::POST, "/api/v1/namespaces/a/secrets"));
        assert!(!is_retry_safe(&Method::PUT, apps));
        let lease = "/apis/coordination.k8s.io/v1/namespaces/a/leases/postgres-reconciler";
        assert!(is_retry_safe(&Method::GET, lease));
        assert!(!is_retry_safe(&Method::PUT, lease));
        assert!(!is_retry_safe(
            &Method::POST,
            "/api/v1/namespaces/a/pods/p-0/eviction"
        ));
    }

    #[test]
    fn transient_answers() {
        for code in [429, 500, 502, 503, 504] {
            assert!(
                is_transient_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [200, 400, 401, 403, 404, 409, 422] {
            assert!(
                !is_transient_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }

    fn policy() -> TransientRetry {
        TransientRetry::new(
            RetrySettings {
                per_request: Duration::from_secs(60),
                ..Default::default()
            },
            RequestCounter::default(),
        )
    }

    fn request(method: Method, path: &str) -> Request<kube::client::Body> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(kube::client::Body::from(b"{}".to_vec()))
            .unwrap()
    }

    fn answer(code: u16) -> Result<Response<()>, BoxError> {
        Ok(Response::builder().status(code).body(()).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_failures_of_safe_requests_only() {
        let mut p = policy();
        let mut get = request(Method::GET, "/api/v1/namespaces/a/secrets");
        assert!(p.retry(&mut get, &mut answer(500)).is_some());
        assert!(
            p.retry(
                &mut get,
                &mut Err::<Response<()>, BoxError>("connection reset".into())
            )
            .is_some()
        );
        assert!(p.retry(&mut get, &mut answer(404)).is_none());
        let untrusted = "invalid peer certificate: UnknownIssuer";
        assert!(
            p.retry(
                &mut get,
                &mut Err::<Response<()>, BoxError>(untrusted.into())
            )
            .is_none()
        );
        assert!(p.retry(&mut get, &mut answer(200)).is_none());
        let mut put = request(Method::PUT, "/api/v1/namespaces/a/secrets/s");
        assert!(p.retry(&mut put, &mut answer(503)).is_none());
        type P = dyn Policy<Request<kube::client::Body>, Response<()>, BoxError, Future = tokio::time::Sleep>;
        let clone = |p: &mut TransientRetry, r| (p as &mut P).clone_request(r);
        assert!(clone(&mut p, &put).is_none());
        assert!(clone(&mut p, &get).is_some());
        assert_eq!(p.counter.snapshot().get("retry"), Some(&2));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_per_request_deadline() {
        let mut p = TransientRetry::new(
            RetrySettings {
                per_request: Duration::from_secs(1),
                ..Default::default()
            },
            RequestCounter::default(),
        );
        let mut get = request(Method::GET, "/api/v1/pods");
        let mut waited = 0;
        while let Some(wait) = p.retry(&mut get, &mut answer(502)) {
            wait.await;
            waited += 1;
            assert!(waited < 100, "never gave up");
        }
        assert!(waited >= 3, "retried {waited} times within a second");
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_within_the_deadline() {
        let mut p = policy();
        let mut get = request(Method::GET, "/api/v1/pods");
        let mut throttled = Ok(Response::builder()
            .status(429)
            .header("Retry-After", "7")
            .body(())
            .unwrap());
        let start = Instant::now();
        p.retry(&mut get, &mut throttled).expect("retried").await;
        assert!(Instant::now() - start >= Duration::from_secs(7));
    }
}
