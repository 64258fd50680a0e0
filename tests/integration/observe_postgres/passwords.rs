//! Passwords: drift from the Secret's password is planned and repaired, and the verifiers sent
//! to the server never reach its log.

use super::{World, objects, sql, with_world};
use crate::support::TestEnv;
use postgres_protocol::escape::escape_identifier;
use postgres_reconciler::apply::sql::execute;
use postgres_reconciler::observe::postgres::{PgConnection, connect};
use postgres_reconciler::plan::scram::verifier_matches;
use postgres_reconciler::plan::{Risk, SecretKeyRef, SqlStatement};

#[tokio::test]
async fn password_drift_is_planned_and_repaired() {
    with_world("obs-drift", async |w: &World, conn: PgConnection| {
        w.converge(&conn).await;
        let app = w.name("app");
        let admin = connect(&conn, "postgres").await.expect("connect");
        admin
            .batch_execute(&format!(
                "ALTER ROLE {} PASSWORD 'changed behind our back'",
                escape_identifier(&app)
            ))
            .await
            .expect("change the password");

        let actions = w.plan(&conn).await;
        assert_eq!(objects(&actions), [format!("role {app}")]);
        assert_eq!(
            actions[0].reason,
            format!("password differs from Secret {}", w.secret_of(&app))
        );
        assert_eq!(actions[0].risk, Risk::Disruptive);
        assert_eq!(
            sql(&actions[0]),
            [format!("ALTER ROLE \"{app}\" PASSWORD '(sensitive)';")]
        );
        w.apply(&conn, &actions).await;
        assert_eq!(w.plan(&conn).await, []);

        // A verifier made by PostgreSQL itself.
        let role = w.name("scram");
        admin
            .batch_execute(&format!(
                "SET password_encryption = 'scram-sha-256'; CREATE ROLE {} PASSWORD 'p'",
                escape_identifier(&role)
            ))
            .await
            .expect("create a role with a password");
        let row = admin
            .query_one(
                "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1",
                &[&role],
            )
            .await
            .expect("read the verifier");
        let verifier: String = row.get(0);
        assert!(verifier.starts_with("SCRAM-SHA-256$"), "{verifier}");
        assert!(verifier_matches("p", &verifier));
        assert!(!verifier_matches("P", &verifier));
    })
    .await;
}

#[tokio::test]
async fn verifiers_never_reach_the_server_log() {
    with_world("obs-log", async |w: &World, conn: PgConnection| {
        let role = w.name("logged");
        let secret = SecretKeyRef {
            namespace: "pgr-test".into(),
            name: format!("{role}-secret"),
        };
        let password = format!("very secret {role}");
        let client = connect(&conn, "postgres").await.expect("connect");
        let marker = format!("pgr-log-marker-{role}");
        client
            .batch_execute("SET log_statement = 'all'")
            .await
            .expect("log every statement of this session");
        client
            .batch_execute(&format!("SELECT '{marker}'"))
            .await
            .expect("marker");
        let statements = [
            SqlStatement {
                password_from: Some(secret.clone()),
                ..SqlStatement::plain(format!(
                    "CREATE ROLE {} WITH LOGIN",
                    escape_identifier(&role)
                ))
            },
            SqlStatement::plain(format!(
                "COMMENT ON ROLE {} IS 'x'",
                escape_identifier(&role)
            )),
        ];
        let password_of = |r: &SecretKeyRef| (r == &secret).then(|| password.clone());
        execute(&client, &statements, &password_of)
            .await
            .expect("create the role");
        let alter = [SqlStatement {
            password_from: Some(secret.clone()),
            ..SqlStatement::plain(format!("ALTER ROLE {}", escape_identifier(&role)))
        }];
        execute(&client, &alter, &password_of)
            .await
            .expect("set the password");
        let missing = |_: &SecretKeyRef| None;
        let err = execute(&client, &alter, &missing)
            .await
            .expect_err("no password");
        assert!(err.reason.contains(&secret.name), "{err}");
        // Still logging after the transactions: SET LOCAL ended with them.
        client
            .batch_execute(&format!("SELECT '{marker}-after'"))
            .await
            .expect("marker");

        let row = client
            .query_one(
                "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1",
                &[&role],
            )
            .await
            .expect("read the verifier");
        let verifier: String = row.get(0);
        assert!(verifier_matches(&password, &verifier));
        let (_, keys) = verifier.rsplit_once('$').expect("verifier keys");
        let (stored_key, server_key) = keys.split_once(':').expect("two keys");

        let log_path = format!(
            "{}/logs/postgres.log",
            TestEnv::get().var("PGRENV_CLUSTER_DIR")
        );
        let log = String::from_utf8_lossy(&std::fs::read(&log_path).expect("read the server log"))
            .into_owned();
        assert!(
            log.contains(&marker),
            "statement logging is on for the session"
        );
        assert!(log.contains(&format!("{marker}-after")), "and again after");
        assert!(log.contains("SET LOCAL log_statement = 'none'"));
        assert!(!log.contains(stored_key), "the stored key is in {log_path}");
        assert!(!log.contains(server_key), "the server key is in {log_path}");
        assert!(!log.contains(&password), "the password is in {log_path}");
        assert!(
            !log.contains(&format!("CREATE ROLE \"{role}\"")),
            "the password statement is in {log_path}"
        );
    })
    .await;
}
