//! What `postgres-reconciler version` reports.

use serde::Serialize;

/// Build facts about this binary; the Kubernetes API version is the k8s-openapi feature it was built with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub version: &'static str,
    pub kubernetes_api: String,
}

pub fn version_info() -> VersionInfo {
    VersionInfo {
        version: env!("CARGO_PKG_VERSION"),
        kubernetes_api: kubernetes_api().to_string(),
    }
}

/// The API version selected by the k8s-openapi feature (exactly one `k8s_if_1_*` expands).
#[allow(unreachable_code)]
fn kubernetes_api() -> &'static str {
    k8s_openapi::k8s_if_1_33! { return "v1.33"; }
    k8s_openapi::k8s_if_1_34! { return "v1.34"; }
    k8s_openapi::k8s_if_1_35! { return "v1.35"; }
    k8s_openapi::k8s_if_1_36! { return "v1.36"; }
    k8s_openapi::k8s_if_1_37! { return "v1.37"; }
    "unknown"
}

impl std::fmt::Display for VersionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "postgres-reconciler {} (Kubernetes API {})",
            self.version, self.kubernetes_api
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_package_version_and_api_version() {
        let info = version_info();
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.kubernetes_api, "v1.36");
        assert_eq!(
            info.to_string(),
            format!(
                "postgres-reconciler {} (Kubernetes API v1.36)",
                info.version
            )
        );
    }
}
