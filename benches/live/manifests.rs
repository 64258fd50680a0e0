//! The benchmark's clusters: N `postgresql` manifests in 10 namespaces, each with 2 instances,
//! 2 users and 1 database, the shape of Zalando's minimal example. Role and database names carry
//! the cluster's number, so N clusters on the one test PostgreSQL never share a role.

pub const NAMESPACES: usize = 10;

#[derive(Debug, Clone)]
pub struct Cluster {
    pub namespace: String,
    pub name: String,
    pub index: usize,
}

/// N clusters spread over `<prefix>-0` … `<prefix>-9`.
pub fn clusters(prefix: &str, n: usize) -> Vec<Cluster> {
    (0..n)
        .map(|index| Cluster {
            namespace: namespace(prefix, index % NAMESPACES),
            // Zalando wants the name to start with the team id.
            name: format!("bench-c{index:05}"),
            index,
        })
        .collect()
}

pub fn namespace(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i}")
}

/// The manifests as one YAML stream; `controller` annotates them for one controller id.
pub fn yaml(clusters: &[Cluster], controller: Option<&str>) -> String {
    let annotations = controller
        .map(|id| format!("\n  annotations: {{acid.zalan.do/controller: {id}}}"))
        .unwrap_or_default();
    clusters
        .iter()
        .map(|c| {
            let i = c.index;
            format!(
                "---
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata:
  name: {name}
  namespace: {ns}{annotations}
spec:
  teamId: bench
  numberOfInstances: 2
  volume: {{size: 1Gi}}
  users: {{c{i:05}_owner: [createdb], c{i:05}_app: []}}
  databases: {{c{i:05}_db: c{i:05}_owner}}
  postgresql: {{version: \"17\"}}
",
                name = c.name,
                ns = c.namespace,
            )
        })
        .collect()
}

/// The credential Secret name of a user (Zalando's template).
pub fn secret_name(user: &str, cluster: &str) -> String {
    format!(
        "{}.{cluster}.credentials.postgresql.acid.zalan.do",
        user.replace('_', "-")
    )
}
