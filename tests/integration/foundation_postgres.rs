//! The test PostgreSQL: SCRAM password authentication over TLS only.

use crate::support::PgTarget;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

#[tokio::test]
async fn superuser_connects_over_tls_and_queries() {
    let pg = PgTarget::superuser();
    let client = pg
        .connect(&pg.config("postgres"))
        .await
        .expect("connect over TLS");
    let row = client
        .query_one("SELECT version()", &[])
        .await
        .expect("SELECT version()");
    let version: String = row.get(0);
    assert!(version.starts_with("PostgreSQL "), "{version}");
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl");
    assert!(row.get::<_, bool>(0), "the session must be encrypted");
    let row = client
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .expect("pg_roles");
    assert!(row.get::<_, bool>(0), "the test user is a superuser");
}

#[tokio::test]
async fn wrong_password_is_refused() {
    let pg = PgTarget::superuser();
    let mut config = pg.config("postgres");
    config.password("not-the-password");
    let err = pg
        .connect(&config)
        .await
        .expect_err("a wrong password must be refused");
    assert_eq!(err.code(), Some(&SqlState::INVALID_PASSWORD), "{err}");
}

#[tokio::test]
async fn plaintext_connections_are_refused() {
    let pg = PgTarget::superuser();
    let mut config = pg.config("postgres");
    config.ssl_mode(tokio_postgres::config::SslMode::Disable);
    let err = match config.connect(NoTls).await {
        Ok(_) => panic!("a connection without TLS must be refused"),
        Err(e) => e,
    };
    assert_eq!(
        err.code(),
        Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        "{err}"
    );
}
