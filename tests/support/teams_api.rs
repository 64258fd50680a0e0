//! A Teams API for the tests: the documented contract Zalando's operator and ours call, as
//! Zalando's own fake teams API serves it. `GET /teams/{team}` with `Authorization: Bearer
//! <token>` answers `{"id": team, "member": [...]}`, 404 for a team it does not know, and 401
//! with an `error` for any other token. No implementation of it can be installed here: the
//! Teams API is a service the user runs.

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

#[derive(Default)]
struct State {
    token: String,
    teams: BTreeMap<String, Vec<String>>,
    /// "team" of each request, in order.
    asked: Vec<String>,
}

pub struct TeamsApi {
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl TeamsApi {
    /// Serves on a free local port; only `token` is accepted.
    pub async fn start(token: &str) -> TeamsApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            token: token.to_string(),
            ..State::default()
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(&req, &state)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        TeamsApi {
            url: format!("http://127.0.0.1:{port}/api/"),
            state,
            task,
        }
    }

    /// The team's members from now on.
    pub fn set_team(&self, team: &str, members: &[&str]) {
        let members = members.iter().map(|m| m.to_string()).collect();
        self.state
            .lock()
            .unwrap()
            .teams
            .insert(team.into(), members);
    }

    /// The token it accepts from now on (the one the reconciler sends no longer works).
    pub fn set_token(&self, token: &str) {
        self.state.lock().unwrap().token = token.into();
    }

    /// The teams asked about so far.
    pub fn asked(&self) -> Vec<String> {
        self.state.lock().unwrap().asked.clone()
    }
}

impl Drop for TeamsApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(req: &Request<hyper::body::Incoming>, state: &Mutex<State>) -> Response<Full<Bytes>> {
    let mut state = state.lock().unwrap();
    let reply = |status: StatusCode, body: serde_json::Value| {
        let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
        *r.status_mut() = status;
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        r
    };
    let Some(team) = req.uri().path().strip_prefix("/api/teams/") else {
        return reply(StatusCode::NOT_FOUND, json!({"error": "no such path"}));
    };
    let team = team.to_string();
    state.asked.push(team.clone());
    let bearer = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(state.token.as_str()) {
        return reply(StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"}));
    }
    match state.teams.get(&team) {
        Some(members) => reply(
            StatusCode::OK,
            json!({"id": team, "id_name": team, "member": members}),
        ),
        None => reply(StatusCode::NOT_FOUND, json!({"error": "team not found"})),
    }
}
