//! A desired state applied on the real PostgreSQL then plans nothing (its LOGIN role logs in over
//! TLS, a database is dropped on request); changes are planned exactly, then converge.

use super::{World, object, objects, run_action, sql, with_world};
use postgres_reconciler::config::SslMode;
use postgres_reconciler::observe::postgres::{PgConnection, connect};
use postgres_reconciler::plan::Risk;
use postgres_reconciler::plan::sql::plan_drop_database;

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
