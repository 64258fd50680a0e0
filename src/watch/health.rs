//! `/healthz` (alive) and `/readyz` (watching: the initial listing is done) for the watcher's
//! probes, and `/metrics` (Prometheus text format): a minimal HTTP responder.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub async fn serve(
    listener: TcpListener,
    ready: Arc<AtomicBool>,
    metrics: Option<Arc<super::metrics::MetricsSource>>,
) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let ready = ready.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n";
            if let (true, Some(source)) = (request.starts_with("GET /metrics "), &metrics) {
                let body = source.scrape().await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
                return;
            }
            let response: &[u8] = if request.starts_with("GET /healthz ") {
                ok
            } else if request.starts_with("GET /readyz ") {
                if ready.load(Ordering::Relaxed) {
                    ok
                } else {
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                }
            } else {
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            };
            let _ = stream.write_all(response).await;
        });
    }
}
