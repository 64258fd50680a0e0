//! Connecting: libpq's sslmodes over TLS, and errors with short reasons that never show the
//! password.

use super::connection;
use crate::support::{PgTarget, TestEnv};
use postgres_reconciler::config::SslMode;
use postgres_reconciler::observe::postgres::{Inspect, PgConnection, connect, observe_server};
use std::time::Duration;

#[tokio::test]
async fn an_unreachable_server_is_an_error_with_a_short_reason() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let conn = PgConnection {
        port: closed,
        ..connection(SslMode::Require)
    };
    let err = observe_server(&conn, &Inspect::Only(vec![]))
        .await
        .expect_err("nothing listens");
    assert_eq!(err.reason, "connection refused", "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{closed}")),
        "{err}"
    );

    let pg = PgTarget::superuser();
    let wrong = PgConnection {
        password: "not-the-password".into(),
        ..connection(SslMode::Require)
    };
    let err = observe_server(&wrong, &Inspect::Only(vec![]))
        .await
        .expect_err("wrong password");
    assert_eq!(
        err.reason,
        format!("password authentication failed for user \"{}\"", pg.user)
    );
    assert!(!format!("{err:?}").contains("not-the-password"));
    assert!(!format!("{wrong:?}").contains("not-the-password"));

    let plain = connection(SslMode::Disable);
    let err = observe_server(&plain, &Inspect::Only(vec![]))
        .await
        .expect_err("TLS only");
    assert!(err.reason.contains("no pg_hba.conf entry"), "{err}");

    let no_ca = PgConnection {
        ca_file: None,
        ..connection(SslMode::VerifyCa)
    };
    let err = observe_server(&no_ca, &Inspect::Only(vec![]))
        .await
        .expect_err("no CA");
    assert!(err.reason.contains("CA file"), "{err}");
}

#[tokio::test]
async fn every_sslmode_that_encrypts_connects() {
    for mode in [
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ] {
        let client = connect(&connection(mode), "postgres")
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("pg_stat_ssl");
        assert!(row.get::<_, bool>(0), "{mode:?}");
    }
    // verify-full checks the name: `localhost` is in the certificate too.
    let by_name = PgConnection {
        host: "localhost".into(),
        ..connection(SslMode::VerifyFull)
    };
    connect(&by_name, "postgres").await.expect("localhost");
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_when_verifying() {
    // The server's own certificate as the only trust anchor: it did not sign itself.
    let server_cert = format!(
        "{}/postgres/server.crt",
        TestEnv::get().var("PGRENV_CLUSTER_DIR")
    );
    for mode in [SslMode::VerifyCa, SslMode::VerifyFull] {
        let conn = PgConnection {
            ca_file: Some(server_cert.clone().into()),
            ..connection(mode)
        };
        let err = connect(&conn, "postgres").await.expect_err("untrusted");
        assert!(err.reason.starts_with("TLS: "), "{mode:?}: {err}");
    }
    // Without verification the same server is fine.
    let conn = PgConnection {
        ca_file: Some(server_cert.into()),
        ..connection(SslMode::Require)
    };
    connect(&conn, "postgres")
        .await
        .expect("require does not verify");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // The kernel accepts the connection; nobody ever reads from it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let conn = PgConnection {
        port: listener.local_addr().expect("address").port(),
        connect_timeout: Duration::from_millis(500),
        ..connection(SslMode::Require)
    };
    let started = std::time::Instant::now();
    let err = observe_server(&conn, &Inspect::Only(vec![]))
        .await
        .expect_err("no answer");
    assert_eq!(err.reason, "timeout", "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
}
