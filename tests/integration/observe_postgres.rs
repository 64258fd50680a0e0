//! Observe → plan → apply of database state on the real PostgreSQL: a desired state rendered from
//! a `postgresql` manifest is applied and then plans nothing; drift is planned exactly; passwords
//! travel as verifiers that never reach the server log.
//!
//! Role names are cluster-global: every role and database here starts with a unique prefix, and
//! each test drops what it created, also when it fails.

mod connection;
mod converge;
mod passwords;

use crate::support::{PgTarget, unique_name};
use futures::FutureExt;
use postgres_protocol::escape::escape_identifier;
use postgres_reconciler::api::Postgresql;
use postgres_reconciler::apply::sql::execute;
use postgres_reconciler::config::SslMode;
use postgres_reconciler::observe::postgres::{Inspect, PgConnection, connect, observe_server};
use postgres_reconciler::plan::sql::{PasswordState, plan_database};
use postgres_reconciler::plan::{Action, Change, SecretKeyRef, SqlStatement, Target};
use postgres_reconciler::render::ManifestRef;
use postgres_reconciler::render::database::{
    DEFAULT_SECRET_NAME_TEMPLATE, DesiredDatabaseState, postgresql_database_state,
};
use postgres_reconciler::state::ObservedDatabaseState;
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
        for (role, secret, _) in desired.login_roles_with_secrets() {
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
        observe_server(conn, &Inspect::Only(self.databases()))
            .await
            .expect("observe the server")
    }

    async fn plan(&self, conn: &PgConnection) -> Vec<Action> {
        let observed = self.observe(conn).await;
        let passwords = |secret: &SecretKeyRef| match self.passwords.get(&secret.name) {
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
