//! Patroni's REST API: a switchover before the master's pod restarts, its dynamic
//! configuration, and restarts of members for settings that need one.

use crate::plan::{Action, Change, Switchover};
use crate::report::outcome::ActionResult;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// `POST {url}/switchover` with `{"leader", "candidate"}`; Ok when Patroni answers 2xx.
pub async fn switchover(s: &Switchover) -> Result<(), String> {
    let body = serde_json::json!({"leader": s.leader, "candidate": s.candidate});
    request(http::Method::POST, &s.url, "switchover", &body).await
}

/// A Patroni action of the plan: `PATCH /config`, or `POST /restart` of one member.
pub async fn execute(action: &Action) -> ActionResult {
    let result = match &action.change {
        Change::PatroniConfig { url, patch } => {
            request(http::Method::PATCH, url, "config", patch).await
        }
        // Only if it is still pending: a member restarted meanwhile is left alone.
        Change::PatroniRestart { url } => {
            let body = serde_json::json!({"restart_pending": true});
            request(http::Method::POST, url, "restart", &body).await
        }
        _ => Err("not a Patroni action".into()),
    };
    match result {
        Ok(()) => ActionResult::Applied,
        Err(e) => ActionResult::Failed(e),
    }
}

/// `METHOD {base}/{path}` with a JSON body; Ok when Patroni answers 2xx.
async fn request(
    method: http::Method,
    base: &str,
    path: &str,
    body: &serde_json::Value,
) -> Result<(), String> {
    let url = format!("{}/{path}", base.trim_end_matches('/'));
    let request = http::Request::builder()
        .method(method)
        .uri(&url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| format!("{url}: {e}"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .map_err(|_| format!("{url}: no answer within 30 s"))?
        .map_err(|e| format!("{url}: {}", crate::observe::error_chain(&e)))?;
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
