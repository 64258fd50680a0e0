//! One HTTP request with a deadline, for the REST APIs a run asks (Patroni's, the Teams API):
//! the status and the whole body, or what went wrong, naming the request.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;
use std::time::Duration;

pub async fn send<C>(
    client: &Client<C, Empty<Bytes>>,
    request: http::Request<Empty<Bytes>>,
    timeout: Duration,
) -> Result<(http::StatusCode, Bytes), String>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let what = format!("{} {}", request.method(), request.uri());
    let response = tokio::time::timeout(timeout, client.request(request))
        .await
        .map_err(|_| format!("{what}: no answer within {} s", timeout.as_secs()))?
        .map_err(|e| format!("{what}: {}", super::error_chain(&e)))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{what}: {e}"))?
        .to_bytes();
    Ok((status, body))
}
