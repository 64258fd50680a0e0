//! A fault-injecting proxy in front of the real kube-apiserver, for faults the apiserver cannot
//! produce on demand. It terminates TLS with its own CA (written into a kubeconfig for the
//! process under test) and forwards every request with the test's admin client, except:
//! - [`Fault::FreezeAfter`]: once a matching request has been answered, every later request
//!   hangs unanswered, so nothing the process does after that point reaches the apiserver — the
//!   moment to kill it;
//! - [`Fault::Fail`]: matching requests are answered with an error status and never forwarded;
//! - [`Fault::Random`]: a share of the matching requests meets one of the faults of a flaky
//!   apiserver or load balancer, picked at random from a seed: an error answer (500, 502, 503,
//!   429 with Retry-After) without forwarding, the connection dropped before forwarding, the
//!   connection dropped *after* the apiserver acted (the answer is lost), or a slow answer.

use super::TestEnv;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Picks requests by method and path.
pub type Matcher = Box<dyn Fn(&http::Method, &str) -> bool + Send + Sync>;

pub enum Fault {
    FreezeAfter(Matcher),
    /// Answered with this HTTP status (and a Kubernetes `Status` body).
    Fail(Matcher, u16),
    Random {
        matches: Matcher,
        /// Share of matching requests that meet a fault, 0.0–1.0.
        rate: f64,
        seed: u64,
    },
}

/// The faults [`Fault::Random`] picks from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Injected {
    Status(u16),
    ResetBeforeForwarding,
    ResetAfterForwarding,
    Slow,
}

const RANDOM_FAULTS: &[Injected] = &[
    Injected::Status(500),
    Injected::Status(502),
    Injected::Status(503),
    Injected::Status(429),
    Injected::ResetBeforeForwarding,
    Injected::ResetAfterForwarding,
    Injected::Slow,
];

/// How long a slow answer waits before it is forwarded.
const SLOW: std::time::Duration = std::time::Duration::from_millis(1500);

pub struct FaultProxy {
    /// A kubeconfig that reaches the apiserver through this proxy (no credentials of its own).
    pub kubeconfig: PathBuf,
    frozen: watch::Receiver<bool>,
    log: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts the proxy; its kubeconfig is written into `dir`.
    pub async fn start(dir: &Path, fault: Fault) -> FaultProxy {
        let (cert_pem, tls) = tls_config();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let kubeconfig = dir.join("fault-proxy.kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(port, &cert_pem)).expect("write kubeconfig");

        let upstream = kube::Client::try_from(TestEnv::get().kube_config().await).expect("client");
        let (freeze, frozen) = watch::channel(false);
        let freeze = Arc::new(freeze);
        let rule: Arc<Fault> = Arc::new(fault);
        let log = Arc::new(Mutex::new(Vec::new()));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let seed = fault_seed(&rule).unwrap_or(0);
        let rng = Arc::new(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)));
        let state = (upstream, freeze, rule, log.clone(), rng);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let (upstream, freeze, rule, log, rng) = state.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req| {
                        forward(
                            req,
                            upstream.clone(),
                            freeze.clone(),
                            rule.clone(),
                            log.clone(),
                            rng.clone(),
                        )
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        FaultProxy {
            kubeconfig,
            frozen,
            log,
            task,
        }
    }

    /// Waits until the freeze rule has matched.
    pub async fn frozen(&self) {
        let mut frozen = self.frozen.clone();
        frozen.wait_for(|f| *f).await.expect("proxy running");
    }

    /// "METHOD path" of each request that reached the apiserver (or was answered with an
    /// injected error, marked so), in order.
    pub fn forwarded(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// How many requests met an injected fault.
    pub fn injected(&self) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.ends_with("(injected)"))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fault_seed(rule: &Fault) -> Option<u64> {
    match rule {
        Fault::Random { seed, .. } => Some(*seed),
        _ => None,
    }
}

/// The fault this request meets under [`Fault::Random`], if any.
fn pick(
    rule: &Fault,
    rng: &Mutex<rand::rngs::StdRng>,
    method: &http::Method,
    path: &str,
) -> Option<Injected> {
    let Fault::Random { matches, rate, .. } = rule else {
        return None;
    };
    if !matches(method, path) {
        return None;
    }
    let mut rng = rng.lock().unwrap();
    if rng.random::<f64>() >= *rate {
        return None;
    }
    Some(RANDOM_FAULTS[rng.random_range(0..RANDOM_FAULTS.len())])
}

/// The proxy's answer: a response, or an error that makes hyper drop the connection.
type Answer = Result<http::Response<kube::client::Body>, Box<dyn std::error::Error + Send + Sync>>;

async fn forward(
    req: http::Request<Incoming>,
    upstream: kube::Client,
    freeze: Arc<watch::Sender<bool>>,
    rule: Arc<Fault>,
    log: Arc<Mutex<Vec<String>>>,
    rng: Arc<Mutex<rand::rngs::StdRng>>,
) -> Answer {
    if *freeze.borrow() {
        std::future::pending::<()>().await;
    }
    let (mut parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    parts.headers.remove(http::header::HOST);
    let (method, path) = (parts.method.clone(), parts.uri.path().to_string());
    if let Fault::Fail(matches, code) = rule.as_ref()
        && matches(&method, &path)
    {
        log.lock()
            .unwrap()
            .push(format!("{method} {path} -> {code} (injected)"));
        return Ok(injected_error(*code));
    }
    let injected = pick(&rule, &rng, &method, &path);
    let note = |what: &str| {
        log.lock()
            .unwrap()
            .push(format!("{method} {path} -> {what} (injected)"));
    };
    match injected {
        Some(Injected::Status(code)) => {
            note(&code.to_string());
            return Ok(injected_error(code));
        }
        Some(Injected::ResetBeforeForwarding) => {
            note("reset");
            return Err("connection dropped by the fault proxy".into());
        }
        Some(Injected::Slow) => {
            note("slow");
            tokio::time::sleep(SLOW).await;
        }
        Some(Injected::ResetAfterForwarding) | None => {}
    }
    let request = http::Request::from_parts(parts, kube::client::Body::from(body));
    let response = match upstream.send(request).await {
        Ok(response) => response,
        Err(e) => {
            let mut response =
                http::Response::new(kube::client::Body::from(e.to_string().into_bytes()));
            *response.status_mut() = http::StatusCode::BAD_GATEWAY;
            response
        }
    };
    if injected == Some(Injected::ResetAfterForwarding) {
        // The apiserver acted; its answer never reaches the client.
        note("reset after forwarding");
        return Err("answer dropped by the fault proxy".into());
    }
    log.lock().unwrap().push(format!("{method} {path}"));
    if let Fault::FreezeAfter(matches) = rule.as_ref()
        && matches(&method, &path)
    {
        freeze.send_replace(true);
    }
    Ok(response)
}

/// An apiserver-style error answer.
fn injected_error(code: u16) -> http::Response<kube::client::Body> {
    let status = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
        "reason": "InternalError", "message": "injected by the test's fault proxy",
    });
    let mut response =
        http::Response::new(kube::client::Body::from(status.to_string().into_bytes()));
    *response.status_mut() =
        http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// A throwaway CA and a certificate for 127.0.0.1 signed by it: the CA's PEM (for the
/// kubeconfig) and the server configuration.
fn tls_config() -> (String, rustls::ServerConfig) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("certificate");
    let private_key =
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("private key");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone(), ca.der().clone()], private_key)
    .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca.pem(), config)
}

fn kubeconfig_yaml(port: u16, ca_pem: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\n\
         clusters:\n- name: fault-proxy\n  cluster:\n    server: https://127.0.0.1:{port}\n    certificate-authority-data: {ca}\n\
         users:\n- name: through-proxy\n  user: {{}}\n\
         contexts:\n- name: fault-proxy\n  context:\n    cluster: fault-proxy\n    user: through-proxy\n\
         current-context: fault-proxy\n"
    )
}
