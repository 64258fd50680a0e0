//! A fault-injecting proxy in front of the real Patroni REST APIs of a test's pods, for the one
//! fault Patroni cannot be made to produce on demand: a switchover refused although a healthy,
//! streaming replica is there. The reconciler's `patroni_url_template` points at it
//! ([`RestProxy::url_template`]); a request for `/<pod IP>/<path>` is forwarded to
//! `http://<pod IP>:8008/<path>` and Patroni's answer returned, except the requests the rule
//! matches, answered with its status as Patroni answers a switchover it could not do. Each
//! request is logged as "METHOD /<pod IP>/<path> <status>" ("… (refused)" when refused).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Picks requests by method and path (the path Patroni sees, e.g. `/switchover`).
pub type Matcher = Box<dyn Fn(&http::Method, &str) -> bool + Send + Sync>;

pub struct RestProxy {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

type Rule = Arc<(Matcher, u16)>;

impl RestProxy {
    /// Answers requests `refuse` matches with `status`, without forwarding them; every request
    /// is written to `log` (shared with a test's other observers, so their order is kept).
    pub async fn start(refuse: Matcher, status: u16, log: Arc<Mutex<Vec<String>>>) -> RestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let rule: Rule = Arc::new((refuse, status));
        let state = (rule, log);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (rule, log) = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| forward(req, rule.clone(), log.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        RestProxy { port, task }
    }

    /// The reconciler's `patroni_url_template` through this proxy.
    pub fn url_template(&self) -> String {
        format!("http://127.0.0.1:{}/{{pod_ip}}", self.port)
    }
}

impl Drop for RestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Answer = Result<http::Response<Full<Bytes>>, std::convert::Infallible>;

fn answer(status: u16, body: impl Into<Bytes>) -> Answer {
    let mut response = http::Response::new(Full::new(body.into()));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    Ok(response)
}

async fn forward(req: http::Request<Incoming>, rule: Rule, log: Arc<Mutex<Vec<String>>>) -> Answer {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let full = parts.uri.path().to_string();
    let (ip, path) = full
        .trim_start_matches('/')
        .split_once('/')
        .map(|(ip, rest)| (ip.to_string(), format!("/{rest}")))
        .unwrap_or((full.trim_start_matches('/').to_string(), "/".into()));
    let line = format!("{} {full}", parts.method);
    let (refuse, status) = &*rule;
    if refuse(&parts.method, &path) {
        log.lock()
            .unwrap()
            .push(format!("{line} {status} (refused)"));
        return answer(*status, "switchover refused by the test's proxy");
    }
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let mut upstream = http::Request::builder()
        .method(parts.method.clone())
        .uri(format!("http://{ip}:8008{path}{query}"));
    if let Some(t) = parts.headers.get(http::header::CONTENT_TYPE) {
        upstream = upstream.header(http::header::CONTENT_TYPE, t);
    }
    let Ok(upstream) = upstream.body(Full::new(body)) else {
        return answer(400, "bad request");
    };
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    match client.request(upstream).await {
        Ok(response) => {
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            log.lock()
                .unwrap()
                .push(format!("{line} {}", status.as_u16()));
            answer(status.as_u16(), body)
        }
        Err(e) => {
            log.lock().unwrap().push(format!("{line} 502"));
            answer(502, format!("Patroni at {ip}:8008: {e}"))
        }
    }
}
