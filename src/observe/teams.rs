//! Asking the Teams API who belongs to each team the manifests' human users come from:
//! `GET {teams_api_url}/teams/{team}` with the bearer token of `oauth_token_secret_name`, as
//! Zalando's operator asks. The token is read here and sent, never logged or kept. A team the
//! API does not know (404) has no members; any other failure leaves the team unknown, so
//! nothing is planned for its members.

use crate::api::PostgresTeam;
use crate::config::Config;
use crate::observe::cluster::Scope;
use crate::plan::human_users::human_teams;
use crate::render::Desired;
use crate::state::{TeamMap, TeamObservation};
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The teams `desired` needs the Teams API's members of.
pub fn teams_needed(desired: &Desired, config: &Config, map: &TeamMap) -> BTreeSet<String> {
    if !config.enable_teams_api {
        return BTreeSet::new();
    }
    desired
        .manifests
        .iter()
        .filter(|m| !m.deleting && !m.standby)
        .filter_map(|m| m.database.human_team.as_deref())
        .flat_map(|team| human_teams(team, config, map))
        .map(|t| t.team)
        .collect()
}

/// Every needed team with `reason` as its answer (`plan --no-database`).
pub fn not_asked(
    desired: &Desired,
    config: &Config,
    map: &TeamMap,
    reason: &str,
) -> BTreeMap<String, TeamObservation> {
    teams_needed(desired, config, map)
        .into_iter()
        .map(|t| {
            let reason = reason.to_string();
            (t, TeamObservation::Unknown { reason })
        })
        .collect()
}

pub async fn observe_teams(
    client: &kube::Client,
    config: &Config,
    desired: &Desired,
    map: &TeamMap,
) -> BTreeMap<String, TeamObservation> {
    let teams = teams_needed(desired, config, map);
    if teams.is_empty() {
        return BTreeMap::new();
    }
    let token = match token(client, config).await {
        Ok(token) => token,
        Err(reason) => {
            return teams
                .into_iter()
                .map(|t| {
                    (
                        t,
                        TeamObservation::Unknown {
                            reason: reason.clone(),
                        },
                    )
                })
                .collect();
        }
    };
    let answers = futures::future::join_all(
        teams
            .iter()
            .map(|team| team_members(&config.teams_api_url, team, &token)),
    )
    .await;
    teams.into_iter().zip(answers).collect()
}

/// The bearer token: `read-only-token-secret` of the Secret, whose `read-only-token-type` must
/// be `Bearer`.
async fn token(client: &kube::Client, config: &Config) -> Result<String, String> {
    let (namespace, name) = match config.oauth_token_secret_name.split_once('/') {
        Some((namespace, name)) => (namespace.to_string(), name.to_string()),
        None => (
            config.release_namespace.clone(),
            config.oauth_token_secret_name.clone(),
        ),
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let secret = secrets.get(&name).await.map_err(|e| {
        format!("no Teams API token: Secret {namespace}/{name} (oauth_token_secret_name): {e}")
    })?;
    let data = secret.data.unwrap_or_default();
    let key = |k: &str| {
        data.get(k)
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            .unwrap_or_default()
    };
    if key("read-only-token-type") != "Bearer" {
        return Err(format!(
            "no Teams API token: Secret {namespace}/{name} has no read-only-token-type Bearer"
        ));
    }
    let token = key("read-only-token-secret");
    if token.is_empty() {
        return Err(format!(
            "no Teams API token: Secret {namespace}/{name} has no read-only-token-secret"
        ));
    }
    Ok(token)
}

async fn team_members(base: &str, team: &str, token: &str) -> TeamObservation {
    let url = format!("{}/teams/{team}", base.trim_end_matches('/'));
    match get(&url, token).await {
        Ok(members) => TeamObservation::Members(members),
        Err(reason) => TeamObservation::Unknown { reason },
    }
}

async fn get(url: &str, token: &str) -> Result<Vec<String>, String> {
    let request = http::Request::get(url)
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(http::header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("GET {url}: {e}"))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("GET {url}: the system's certificate roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(https);
    let (status, body) = super::http::send(&client, request, TIMEOUT).await?;
    if status == http::StatusCode::NOT_FOUND {
        return Ok(Vec::new());
    }
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if !status.is_success() {
        let said = json
            .get("error")
            .map(|e| {
                format!(
                    ": {}",
                    e.as_str().map(str::to_string).unwrap_or(e.to_string())
                )
            })
            .unwrap_or_default();
        return Err(format!(
            "the Teams API answered {status} for GET {url}{said}"
        ));
    }
    let members = json
        .get("member")
        .and_then(|m| m.as_array())
        .ok_or_else(|| format!("GET {url}: the answer has no member list"))?;
    Ok(members
        .iter()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect())
}

/// Zalando's `PostgresTeam` objects in `scope`, merged per team (`enable_postgres_team_crd`);
/// when they cannot be listed, the map says why.
pub async fn observe_postgres_teams(client: &kube::Client, scope: &Scope) -> TeamMap {
    let apis: Vec<Api<PostgresTeam>> = match scope {
        Scope::All => vec![Api::all(client.clone())],
        Scope::Namespaces(nss) => nss
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect(),
    };
    let mut map = TeamMap::default();
    for api in apis {
        match api.list(&Default::default()).await {
            Ok(list) => list.items.iter().for_each(|t| merge(&mut map, &t.spec)),
            Err(e) => {
                map.unreadable = Some(format!("PostgresTeam objects could not be listed: {e}"));
                return map;
            }
        }
    }
    map
}

fn merge(map: &mut TeamMap, spec: &crate::api::PostgresTeamSpec) {
    for (team, teams) in &spec.additional_superuser_teams {
        let entry = map.teams.entry(team.clone()).or_default();
        entry.superuser_teams.extend(teams.iter().cloned());
    }
    for (team, teams) in &spec.additional_teams {
        let entry = map.teams.entry(team.clone()).or_default();
        entry.teams.extend(teams.iter().cloned());
    }
    for (team, members) in &spec.additional_members {
        let entry = map.teams.entry(team.clone()).or_default();
        entry.members.extend(members.iter().cloned());
    }
}
