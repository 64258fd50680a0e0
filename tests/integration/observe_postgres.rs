//! Observe → plan → apply of database state on the real PostgreSQL: a desired state rendered from
//! a `postgresql` manifest is applied and then plans nothing; drift is planned exactly; passwords
//! travel as verifiers that never reach the server log.
//!
//! Role names are cluster-global: every role and database here starts with a unique prefix, and
//! each test drops what it created, also when it fails.

mod connection;

use crate::support::{PgTarget, TestEnv, unique_name};
use futures::FutureExt;
use postgres_protocol::escape::escape_identifier;
use postgres_reconciler::api::Postgresql;
use postgres_reconciler::apply::sql::execute;
use postgres_reconciler::config::SslMode;
use postgres_reconciler::observe::postgres::{
    ObservedDatabaseState, PgConnection, connect, observe_server,
};
use postgres_reconciler::plan::scram::verifier_matches;
use postgres_reconciler::plan::sql::{PasswordState, plan_database, plan_drop_database};
use postgres_reconciler::plan::{Action, Change, Risk, SecretKeyRef, SqlStatement, Target};
use postgres_reconciler::render::ManifestRef;
use postgres_reconciler::render::database::{
    DEFAULT_SECRET_NAME_TEMPLATE, DesiredDatabaseState, postgresql_database_state,
};
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

/// The test server as its superuser.
fn connection(sslmode: SslMode) -> PgConnection {
    let pg = PgTarget::superuser();
    PgConnection {
        host: pg.host,
        port: pg.port,
        user: pg.user,
        password: pg.password,
        sslmode,
        ca_file: Some(pg.ca_file.into()),
        connect_timeout: Duration::from_secs(10),
    }
}

/// One test's world: a desired state whose roles and databases all carry `prefix`, and the
/// passwords of its Secrets.
struct World {
    prefix: String,
    manifest: ManifestRef,
    desired: DesiredDatabaseState,
    passwords: BTreeMap<String, String>,
}

impl World {
    fn new(test: &str) -> World {
        let prefix = unique_name(test).replace('-', "_");
        let yaml = format!(
            r#"
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {{name: obs, namespace: pgr-test, uid: uid-{prefix}}}
spec:
  teamId: acid
  numberOfInstances: 1
  volume: {{size: 1Gi}}
  postgresql: {{version: "15"}}
  users:
    {prefix}_app: [createdb]
    {prefix}_viewer: [nologin]
  databases:
    {prefix}_shop: {prefix}_app
  preparedDatabases:
    {prefix}_inv:
      defaultUsers: true
      extensions: {{pgcrypto: data}}
"#
        );
        let pg: Postgresql = serde_yaml::from_str(&yaml).expect("test manifest parses");
        let mut desired = postgresql_database_state(&pg, DEFAULT_SECRET_NAME_TEMPLATE);
        // The system roles other than the real superuser would be shared by every test.
        desired.roles.remove("standby");
        rename_role(&mut desired, "admin", &format!("{prefix}_admin"));

        let superuser = PgTarget::superuser();
        let mut passwords = BTreeMap::new();
        for (role, secret) in desired.login_roles_with_secrets() {
            let password = if role == "postgres" {
                superuser.password.clone()
            } else {
                // Quotes, backslashes, non-ASCII (SASLprep maps U+00A0 to a space).
                format!("pw '\"\\ ä\u{a0}€ {role}")
            };
            passwords.insert(secret.to_string(), password);
        }
        let manifest = ManifestRef {
            kind: "postgresql".into(),
            namespace: "pgr-test".into(),
            name: "obs".into(),
            uid: Some(format!("uid-{prefix}")),
            generation: Some(1),
        };
        World {
            prefix,
            manifest,
            desired,
            passwords,
        }
    }

    fn name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.prefix)
    }

    fn secret_of(&self, role: &str) -> String {
        self.desired.roles[role]
            .secret
            .clone()
            .expect("role with a Secret")
    }

    fn databases(&self) -> Vec<String> {
        self.desired.databases.keys().cloned().collect()
    }

    async fn observe(&self, conn: &PgConnection) -> ObservedDatabaseState {
        observe_server(conn, &self.databases())
            .await
            .expect("observe the server")
    }

    async fn plan(&self, conn: &PgConnection) -> Vec<Action> {
        let observed = self.observe(conn).await;
        let passwords = |secret: &str| match self.passwords.get(secret) {
            Some(p) => PasswordState::Known(p.clone()),
            None => PasswordState::SecretAbsent,
        };
        plan_database(&self.manifest, &self.desired, &observed, &passwords)
    }

    async fn apply(&self, conn: &PgConnection, actions: &[Action]) {
        for action in actions {
            run_action(conn, action, &self.passwords).await;
        }
    }

    /// Applies the desired state and checks that the next plan is empty.
    async fn converge(&self, conn: &PgConnection) -> Vec<Action> {
        let actions = self.plan(conn).await;
        self.apply(conn, &actions).await;
        let again = self.plan(conn).await;
        assert_eq!(
            again,
            [],
            "second plan must be empty: {:#?}",
            objects(&again)
        );
        actions
    }

    /// Drops this test's databases and roles.
    async fn clean_up(&self, conn: &PgConnection) {
        let client = connect(conn, "postgres")
            .await
            .expect("connect to clean up");
        for db in self.databases() {
            let sql = format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                escape_identifier(&db)
            );
            if let Err(e) = client.batch_execute(&sql).await {
                eprintln!("clean up: {sql}: {e}");
            }
        }
        let rows = client
            .query(
                "SELECT rolname::text FROM pg_catalog.pg_roles WHERE starts_with(rolname, $1)",
                &[&format!("{}_", self.prefix)],
            )
            .await
            .expect("list the test's roles");
        for row in rows {
            let sql = format!("DROP ROLE {}", escape_identifier(row.get(0)));
            if let Err(e) = client.batch_execute(&sql).await {
                eprintln!("clean up: {sql}: {e}");
            }
        }
    }
}

/// Runs `body`, then cleans up even when it panicked.
async fn with_world<F>(test: &str, body: F)
where
    F: AsyncFnOnce(&World, PgConnection),
{
    let world = World::new(test);
    let conn = connection(SslMode::Require);
    let result = AssertUnwindSafe(body(&world, conn.clone()))
        .catch_unwind()
        .await;
    world.clean_up(&conn).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn rename_role(desired: &mut DesiredDatabaseState, from: &str, to: &str) {
    let swap = |name: &mut String| {
        if name == from {
            *name = to.to_string();
        }
    };
    let swap_set = |set: &mut std::collections::BTreeSet<String>| {
        if set.remove(from) {
            set.insert(to.to_string());
        }
    };
    if let Some(mut role) = desired.roles.remove(from) {
        role.name = to.to_string();
        desired.roles.insert(to.to_string(), role);
    }
    for role in desired.roles.values_mut() {
        swap_set(&mut role.member_of);
        swap_set(&mut role.admins);
    }
    for db in desired.databases.values_mut() {
        swap(&mut db.owner);
        for schema in db.schemas.values_mut() {
            swap(&mut schema.owner);
            swap_set(&mut schema.usage);
        }
        for p in &mut db.default_privileges {
            swap(&mut p.for_role);
            swap(&mut p.grantee);
        }
    }
}

async fn run_action(conn: &PgConnection, action: &Action, passwords: &BTreeMap<String, String>) {
    let Target::Sql { database, .. } = &action.target else {
        panic!("not an SQL action: {action:?}")
    };
    let Change::Sql { statements } = &action.change else {
        panic!("not an SQL change: {action:?}")
    };
    let client = connect(conn, database)
        .await
        .expect("connect to run an action");
    let password_of = |r: &SecretKeyRef| passwords.get(&r.name).cloned();
    execute(&client, statements, &password_of)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", action.target));
}

fn object(a: &Action) -> String {
    match &a.target {
        Target::Sql { object, .. } => object.clone(),
        other => other.to_string(),
    }
}

fn objects(actions: &[Action]) -> Vec<String> {
    actions.iter().map(object).collect()
}

fn sql(a: &Action) -> Vec<String> {
    match &a.change {
        Change::Sql { statements } => statements.iter().map(SqlStatement::display).collect(),
        other => panic!("not SQL: {other:?}"),
    }
}

#[tokio::test]
async fn desired_state_is_applied_then_plans_nothing() {
    with_world("obs-apply", async |w: &World, conn: PgConnection| {
        // verify-full: the chain and the name of the test server's certificate.
        let conn = PgConnection {
            sslmode: SslMode::VerifyFull,
            ..conn
        };
        let actions = w.converge(&conn).await;
        let app = w.name("app");
        let inv = w.name("inv");
        let created = objects(&actions);
        for expected in [
            format!("role {app}"),
            format!("role {inv}_owner_user"),
            format!("database {}", w.name("shop")),
            format!("database {inv}"),
            format!("schema {inv}.data"),
            format!("extension {inv}.pgcrypto"),
        ] {
            assert!(
                created.contains(&expected),
                "{expected} missing from {created:#?}"
            );
        }
        // Nothing touches a role that is not in the desired state; the real superuser exists
        // with the password of its Secret: left alone.
        for a in &actions {
            let o = object(a);
            if let Some(role) = o.strip_prefix("role ") {
                assert!(w.desired.roles.contains_key(role), "{o}");
                assert_ne!(role, "postgres");
            }
        }

        let observed = w.observe(&conn).await;
        let shop = &observed.databases[&w.name("shop")];
        assert_eq!(shop.owner, app);
        assert_eq!(
            shop.comment.as_deref(),
            Some(
                format!(
                    "postgres-reconciler: postgresql pgr-test/obs uid uid-{}",
                    w.prefix
                )
                .as_str()
            )
        );
        let writer = &observed.roles[&format!("{inv}_writer")];
        assert!(writer.member_of.contains(&format!("{inv}_reader")));
        let owner = &observed.roles[&format!("{inv}_owner")];
        assert!(
            owner.admin_of.contains(&format!("{inv}_reader")),
            "{owner:?}"
        );
        assert_eq!(owner.parameters["search_path"], "\"$user\", data");
        let inv_db = &observed.databases[&inv];
        assert_eq!(inv_db.extensions["pgcrypto"], "data");
        let schemas = inv_db.schemas.as_ref().expect("inspected");
        assert_eq!(schemas["data"].owner, format!("{inv}_data_owner"));
        assert!(schemas["data"].usage.contains(&format!("{inv}_reader")));
        assert!(!inv_db.default_privileges.is_empty());

        // The created LOGIN role logs in with its Secret's password, over TLS.
        let password = &w.passwords[&w.secret_of(&app)];
        let login = PgConnection {
            user: app.clone(),
            password: password.clone(),
            ..conn.clone()
        };
        let client = connect(&login, "postgres")
            .await
            .expect("log in as the app role");
        let row = client
            .query_one(
                "SELECT current_user::text, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("who am I");
        assert_eq!(row.get::<_, String>(0), app);
        assert!(row.get::<_, bool>(1), "encrypted");

        // Dropping a database on request.
        let shop = w.name("shop");
        let observed = w.observe(&conn).await;
        let drop = plan_drop_database(&w.manifest, "cluster pgr-test/obs", &shop, &observed)
            .expect("the database exists");
        assert_eq!(drop.reason, "reclaimPolicy Delete");
        run_action(&conn, &drop, &w.passwords).await;
        let observed = w.observe(&conn).await;
        assert!(!observed.databases.contains_key(&shop));
        assert_eq!(plan_drop_database(&w.manifest, "x", &shop, &observed), None);
    })
    .await;
}

#[tokio::test]
async fn changes_are_planned_exactly_then_converge() {
    with_world("obs-change", async |w: &World, conn: PgConnection| {
        w.converge(&conn).await;
        let mut w2 = World {
            prefix: w.prefix.clone(),
            manifest: w.manifest.clone(),
            desired: w.desired.clone(),
            passwords: w.passwords.clone(),
        };
        let app = w.name("app");
        let viewer = w.name("viewer");
        let inv = w.name("inv");
        let shop = w.name("shop");
        w2.desired
            .roles
            .get_mut(&app)
            .expect("app")
            .attributes
            .createdb = false;
        let writer = w2
            .desired
            .roles
            .get_mut(&format!("{inv}_writer"))
            .expect("writer");
        assert!(writer.member_of.remove(&format!("{inv}_reader")));
        w2.desired.databases.get_mut(&shop).expect("shop").owner = viewer.clone();

        let actions = w2.plan(&conn).await;
        assert_eq!(
            objects(&actions),
            [
                format!("role {app}"),
                format!("role {inv}_writer"),
                format!("database {shop}")
            ]
        );
        assert_eq!(
            sql(&actions[0]),
            [format!("ALTER ROLE \"{app}\" WITH NOCREATEDB;")]
        );
        assert_eq!(actions[0].risk, Risk::Disruptive);
        assert_eq!(
            sql(&actions[1]),
            [format!("REVOKE \"{inv}_reader\" FROM \"{inv}_writer\";")]
        );
        assert_eq!(actions[1].reason, format!("member of {inv}_reader revoked"));
        assert_eq!(
            sql(&actions[2]),
            [format!("ALTER DATABASE \"{shop}\" OWNER TO \"{viewer}\";")]
        );
        assert_eq!(actions[2].reason, format!("owner {app} → {viewer}"));

        w2.apply(&conn, &actions).await;
        assert_eq!(w2.plan(&conn).await, []);
        // And back.
        let back = w.plan(&conn).await;
        assert_eq!(back.len(), 3, "{:#?}", objects(&back));
        w.apply(&conn, &back).await;
        assert_eq!(w.plan(&conn).await, []);
    })
    .await;
}

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
