//! The plan digest.

use super::*;
use crate::plan::{Action, Change, Op, Risk, SqlStatement, Target};

fn action(sql: &str) -> Action {
    Action {
        manifest: None,
        target: Target::Sql {
            server: "cluster ns/acid-a".into(),
            database: "postgres".into(),
            object: "role app".into(),
        },
        op: Op::Sql,
        risk: Risk::Safe,
        reason: "absent".into(),
        change: Change::Sql {
            statements: vec![SqlStatement::plain(sql)],
        },
    }
}

#[test]
fn plan_digest_is_short_stable_and_tells_plans_apart() {
    let a = plan_digest(&[action("CREATE ROLE app")]);
    assert_eq!(a.len(), "sha256:".len() + 16);
    assert!(a.starts_with("sha256:"));
    assert!(a["sha256:".len()..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(a, plan_digest(&[action("CREATE ROLE app")]));
    assert_ne!(a, plan_digest(&[action("CREATE ROLE other")]));
    assert_ne!(a, plan_digest(&[]));
    // The digest of nothing: sha256 of "[]".
    assert_eq!(plan_digest(&[]), "sha256:4f53cda18c2baa0c");
}
