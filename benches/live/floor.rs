//! The LIST floor: the LIST requests a `plan -A` makes (see `observe::cluster`), paginated as it
//! paginates them (500 per page), all kinds at once, from a client that does nothing with the
//! answers but find the next page. No run of the reconciler can read the cluster faster.

use postgres_reconciler::config::Config;
use postgres_reconciler::observe::cluster::{
    MANIFEST_KINDS, OWNED_KINDS, OWNED_SELECTOR, POD_KIND,
};
use std::time::{Duration, Instant};

const PAGE: u32 = 500;
const ENDPOINTS_CONTROLLER_LABEL: &str = "endpoints.kubernetes.io/managed-by";
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// One LIST the reconciler makes: a collection path and its selectors.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub path: String,
    pub labels: Option<String>,
    pub fields: Option<String>,
}

fn path((api_version, _kind, plural): (&str, &str, &str)) -> String {
    if api_version.contains('/') {
        format!("/apis/{api_version}/{plural}")
    } else {
        format!("/api/{api_version}/{plural}")
    }
}

fn list(kind: (&str, &str, &str), labels: Option<String>, fields: Option<String>) -> ListRequest {
    ListRequest {
        path: path(kind),
        labels,
        fields,
    }
}

/// The requests of `observe_manifests`, `observe_objects`, `observe_adoptable` and
/// `observe_pods` for `-A`, with this configuration's labels (the same order and selectors).
pub fn plan_lists(config: &Config) -> Vec<ListRequest> {
    let clusters = config
        .cluster_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(std::iter::once(config.cluster_name_label.clone()))
        .collect::<Vec<_>>()
        .join(",");
    let mut out: Vec<ListRequest> = MANIFEST_KINDS
        .iter()
        .map(|&k| list(k, None, None))
        .collect();
    for &kind in OWNED_KINDS {
        let selector = match kind.1 {
            "PersistentVolumeClaim" => clusters.clone(),
            "Endpoints" => format!("{OWNED_SELECTOR},!{ENDPOINTS_CONTROLLER_LABEL}"),
            _ => OWNED_SELECTOR.to_string(),
        };
        out.push(list(kind, Some(selector), None));
    }
    let adoptable = format!("{clusters},!{MANAGED_BY_LABEL}");
    for kind in [
        ("v1", "Secret", "secrets"),
        ("v1", "Endpoints", "endpoints"),
        ("v1", "Service", "services"),
        ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        ("apps/v1", "StatefulSet", "statefulsets"),
    ] {
        let selector = match kind.1 {
            "Endpoints" => format!("{adoptable},!{ENDPOINTS_CONTROLLER_LABEL}"),
            _ => adoptable.clone(),
        };
        out.push(list(kind, Some(selector), None));
    }
    for kind in [
        ("v1", "ServiceAccount", "serviceaccounts"),
        (
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "rolebindings",
        ),
    ] {
        let by_name = format!("metadata.name={}", config.pod_service_account_name);
        out.push(list(kind, None, Some(by_name)));
    }
    out.push(list(POD_KIND, Some(clusters), None));
    out
}

#[derive(serde::Deserialize)]
struct Page {
    #[serde(default)]
    metadata: PageMeta,
}

#[derive(serde::Deserialize, Default)]
struct PageMeta {
    #[serde(default, rename = "continue")]
    continue_: Option<String>,
}

/// Percent-encodes a query value (selectors hold `=`, `,`, `!`, `/`).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every page of one LIST, one after the other (a page needs the previous page's token).
async fn pages(client: &kube::Client, request: &ListRequest) -> u64 {
    let mut token: Option<String> = None;
    let mut n = 0;
    loop {
        let mut query = format!("limit={PAGE}");
        if let Some(l) = &request.labels {
            query += &format!("&labelSelector={}", encode(l));
        }
        if let Some(f) = &request.fields {
            query += &format!("&fieldSelector={}", encode(f));
        }
        if let Some(t) = &token {
            query += &format!("&continue={}", encode(t));
        }
        let uri = format!("{}?{query}", request.path);
        let req = http::Request::get(uri).body(Vec::new()).expect("request");
        let page: Page = client
            .request(req)
            .await
            .unwrap_or_else(|e| panic!("LIST {}: {e}", request.path));
        n += 1;
        match page.metadata.continue_.filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t),
            None => return n,
        }
    }
}

/// All the LISTs at once: the wall time and the number of pages (requests).
pub async fn run(client: &kube::Client, requests: &[ListRequest]) -> (Duration, u64) {
    let start = Instant::now();
    let counts = futures::future::join_all(requests.iter().map(|r| pages(client, r))).await;
    (start.elapsed(), counts.iter().sum())
}
