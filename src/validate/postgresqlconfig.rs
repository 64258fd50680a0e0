//! Rules for `PostgreSQLConfig` manifests: one database, its owner, and where the server is.
//!
//! The CRD's CEL rule already demands exactly one server reference, but file input (`-f DIR`)
//! never passes the API server, so the rule is repeated here.

use super::Errors;
use super::names::{
    cluster_name_problems, database_name_problems, role_name_problems, subdomain_problems,
};
use crate::api::PostgreSQLConfig;

pub(super) fn check(c: &PostgreSQLConfig, errs: &mut Errors) {
    match c.metadata.name.as_deref() {
        None | Some("") => errs.add("metadata.name", "required"),
        Some(name) => {
            for problem in subdomain_problems(name, "name") {
                errs.add("metadata.name", problem);
            }
        }
    }

    let spec = &c.spec;
    for problem in database_name_problems(&spec.database, &format!("database {:?}", spec.database))
    {
        errs.add("spec.database", problem);
    }
    for problem in role_name_problems(&spec.owner, &format!("owner {:?}", spec.owner)) {
        errs.add("spec.owner", problem);
    }

    match (&spec.server.cluster, &spec.server.secret_name) {
        (Some(_), Some(_)) => errs.add(
            "spec.server",
            "set exactly one of cluster and secretName, not both",
        ),
        (None, None) => errs.add(
            "spec.server",
            "set exactly one of cluster (a postgresql in this namespace) and secretName \
             (a Secret describing an external server), or the operator configuration's \
             default_database_server",
        ),
        (Some(cluster), None) => {
            for problem in cluster_name_problems(cluster) {
                errs.add("spec.server.cluster", problem);
            }
        }
        (None, Some(secret)) => {
            for problem in subdomain_problems(secret, "Secret name") {
                errs.add("spec.server.secretName", problem);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{PostgreSQLConfigSpec, ReclaimPolicy, ServerRef};

    fn config(name: &str, database: &str, owner: &str, server: ServerRef) -> PostgreSQLConfig {
        let mut c = PostgreSQLConfig::new(
            name,
            PostgreSQLConfigSpec {
                database: database.into(),
                owner: owner.into(),
                server,
                reclaim_policy: ReclaimPolicy::Retain,
            },
        );
        c.metadata.namespace = Some("default".into());
        c
    }

    fn cluster(name: &str) -> ServerRef {
        ServerRef {
            cluster: Some(name.into()),
            secret_name: None,
        }
    }

    fn errors(c: &PostgreSQLConfig) -> Vec<String> {
        let mut errs = Errors::default();
        check(c, &mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn valid() {
        assert!(errors(&config("app.db", "app", "app_owner", cluster("acid-main"))).is_empty());
        let secret = ServerRef {
            cluster: None,
            secret_name: Some("external-pg".into()),
        };
        assert!(errors(&config("app", "App_1", "app", secret)).is_empty());
    }

    #[test]
    fn server_reference() {
        let both = ServerRef {
            cluster: Some("a".into()),
            secret_name: Some("b".into()),
        };
        assert_eq!(
            errors(&config("x", "app", "app", both)),
            vec!["spec.server: set exactly one of cluster and secretName, not both"]
        );
        let neither = ServerRef {
            cluster: None,
            secret_name: None,
        };
        assert_eq!(errors(&config("x", "app", "app", neither)).len(), 1);
        let bad_secret = ServerRef {
            cluster: None,
            secret_name: Some("Bad_Secret".into()),
        };
        assert_eq!(
            errors(&config("x", "app", "app", bad_secret))[0],
            "spec.server.secretName: invalid Secret name \"Bad_Secret\": must be a DNS-1123 \
             subdomain (lower-case letters, digits, '-' and '.', starting and ending with a letter \
             or digit, at most 253 characters)"
        );
    }

    #[test]
    fn cluster_name_boundary() {
        let ok = "c".repeat(58);
        assert!(errors(&config("x", "app", "app", cluster(&ok))).is_empty());
        let long = "c".repeat(59);
        assert_eq!(
            errors(&config("x", "app", "app", cluster(&long))),
            vec![
                "spec.server.cluster: cluster name is 59 characters; at most 58 allowed (63 minus \
                 the \"-repl\" suffix)"
            ]
        );
    }

    #[test]
    fn database_and_owner() {
        assert_eq!(
            errors(&config("x", "template0", "postgres", cluster("c"))),
            vec![
                "spec.database: reserved database name \"template0\": postgres, template0 and \
                 template1 exist in every cluster",
                "spec.owner: reserved role name \"postgres\": system role managed by \
                 postgres-reconciler",
            ]
        );
        let db63 = "d".repeat(63);
        let owner64 = "o".repeat(64);
        assert_eq!(
            errors(&config("x", &db63, &owner64, cluster("c"))),
            vec![format!(
                "spec.owner: owner {owner64:?} is 64 bytes; at most 63 allowed"
            )]
        );
        assert_eq!(
            errors(&config("x", "my db", "App", cluster("c"))),
            vec![
                "spec.database: invalid database \"my db\": must match ^[a-zA-Z_][a-zA-Z0-9_$-]*$",
                "spec.owner: invalid owner \"App\": must match ^[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*$",
            ]
        );
    }

    #[test]
    fn metadata_name() {
        let mut c = config("Bad_Name", "app", "app", cluster("c"));
        assert_eq!(errors(&c).len(), 1);
        c.metadata.name = None;
        assert_eq!(errors(&c), vec!["metadata.name: required"]);
    }
}
