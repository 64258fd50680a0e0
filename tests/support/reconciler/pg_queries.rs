//! What a run left behind in PostgreSQL: pg_roles, pg_database, and whether a role can log in.

use super::super::PgTarget;
use postgres_reconciler::config::SslMode;
use postgres_reconciler::observe::postgres::{PgConnection, connect};
use std::time::Duration;

/// A row of pg_roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRow {
    pub superuser: bool,
    pub createdb: bool,
    pub createrole: bool,
    pub login: bool,
    pub replication: bool,
    pub comment: Option<String>,
}

/// A superuser connection to the test server.
pub async fn superuser() -> tokio_postgres::Client {
    let pg = PgTarget::superuser();
    pg.connect(&pg.config("postgres"))
        .await
        .expect("connect as the superuser")
}

/// The role's attributes, if it exists.
pub async fn role(name: &str) -> Option<RoleRow> {
    let client = superuser().await;
    let row = client
        .query_opt(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolreplication, \
                    pg_catalog.shobj_description(oid, 'pg_authid') \
             FROM pg_catalog.pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await
        .expect("read pg_roles")?;
    Some(RoleRow {
        superuser: row.get(0),
        createdb: row.get(1),
        createrole: row.get(2),
        login: row.get(3),
        replication: row.get(4),
        comment: row.get(5),
    })
}

/// The roles `role` is a member of, by name.
pub async fn memberships(role: &str) -> Vec<String> {
    superuser()
        .await
        .query(
            "SELECT r.rolname::text FROM pg_catalog.pg_auth_members m \
             JOIN pg_catalog.pg_roles r ON r.oid = m.roleid \
             JOIN pg_catalog.pg_roles u ON u.oid = m.member WHERE u.rolname = $1 ORDER BY 1",
            &[&role],
        )
        .await
        .expect("read pg_auth_members")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The owner of a database, if it exists.
pub async fn database_owner(name: &str) -> Option<String> {
    superuser()
        .await
        .query_opt(
            "SELECT pg_catalog.pg_get_userbyid(datdba)::text FROM pg_catalog.pg_database \
             WHERE datname = $1",
            &[&name],
        )
        .await
        .expect("read pg_database")
        .map(|r| r.get(0))
}

/// Logs in as `user` with `password` over TLS (verify-full), as a client of the cluster would.
pub async fn login(user: &str, password: &str) -> Result<(), String> {
    let pg = PgTarget::superuser();
    let conn = PgConnection {
        host: pg.host,
        port: pg.port,
        user: user.into(),
        password: password.into(),
        sslmode: SslMode::VerifyFull,
        ca_file: Some(pg.ca_file.into()),
        connect_timeout: Duration::from_secs(10),
    };
    let client = connect(&conn, "postgres")
        .await
        .map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT current_user::text, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(row.get::<_, String>(0), user);
    assert!(row.get::<_, bool>(1), "the login is over TLS");
    Ok(())
}
