//! Patroni's REST API: a switchover before the master's pod restarts.

use crate::plan::Switchover;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// `POST {url}/switchover` with `{"leader", "candidate"}`; Ok when Patroni answers 2xx.
pub async fn switchover(s: &Switchover) -> Result<(), String> {
    let url = format!("{}/switchover", s.url.trim_end_matches('/'));
    let body = serde_json::json!({"leader": s.leader, "candidate": s.candidate}).to_string();
    let request = http::Request::post(&url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("{url}: {e}"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .map_err(|_| format!("{url}: no answer within 30 s"))?
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    Err(format!("{url}: {status}: {}", text.trim()))
}
