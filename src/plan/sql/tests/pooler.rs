//! The connection pooler's lookup function, in every database of the server.

use super::*;
use crate::render::database::PoolerLookup;
use crate::state::ObservedLookupFunction;

fn with_pooler() -> DesiredDatabaseState {
    let mut d = desired();
    d.pooler_lookup = Some(PoolerLookup {
        schema: "pooler".into(),
        user: "pooler".into(),
    });
    d
}

/// The server once the lookup function is installed in each of its databases.
fn installed(desired: &DesiredDatabaseState) -> ObservedDatabaseState {
    let lookup = desired.pooler_lookup.clone().expect("pooler");
    let mut observed = applied(desired);
    for db in observed.databases.values_mut() {
        db.lookup_functions
            .insert("pooler".into(), super::super::pooler::as_installed(&lookup));
        db.schemas.get_or_insert_default().insert(
            "pooler".into(),
            ObservedSchema {
                owner: "postgres".into(),
                usage: BTreeSet::from(["postgres".to_string(), "pooler".to_string()]),
            },
        );
    }
    observed
}

fn lookups(actions: &[Action]) -> Vec<&Action> {
    actions
        .iter()
        .filter(|a| object(a).ends_with(".pooler.user_lookup"))
        .collect()
}

/// The statements without their display's `;`.
fn sql_of(a: &Action) -> Vec<String> {
    statements(a)
        .into_iter()
        .map(|s| s.trim_end_matches(';').to_string())
        .collect()
}

fn plan(desired: &DesiredDatabaseState, observed: &ObservedDatabaseState) -> Vec<Action> {
    plan_database(&manifest(), desired, observed, &known)
}

#[test]
fn an_installed_function_plans_nothing() {
    let d = with_pooler();
    assert_eq!(lookups(&plan(&d, &installed(&d))), Vec::<&Action>::new());
}

#[test]
fn every_database_gets_the_function_the_new_ones_too() {
    let d = with_pooler();
    let mut observed = installed(&d);
    // `postgres` exists on every server and is not in the manifest; `shop` is created now.
    let mut postgres = observed.databases["inv"].clone();
    postgres.lookup_functions.clear();
    observed.databases.insert("postgres".into(), postgres);
    observed.databases.remove("shop");
    let actions = plan(&d, &observed);
    let found = lookups(&actions);
    let names: Vec<String> = found.iter().map(|a| database(a)).collect();
    assert_eq!(names, ["postgres", "shop"]);
    assert_eq!(found[0].reason, "connection pooler's auth_query: absent");
    assert_eq!(
        found[1].reason,
        "connection pooler's auth_query: new database"
    );
    let sql = sql_of(found[0]);
    assert_eq!(sql[0], r#"CREATE SCHEMA IF NOT EXISTS "pooler""#);
    assert!(sql[1].starts_with(r#"CREATE OR REPLACE FUNCTION "pooler".user_lookup(i_username text, OUT uname text, OUT phash text) RETURNS record LANGUAGE plpgsql SECURITY DEFINER AS '"#));
    assert_eq!(
        &sql[2..],
        [
            r#"REVOKE ALL ON FUNCTION "pooler".user_lookup(text) FROM PUBLIC, "pooler""#,
            r#"GRANT EXECUTE ON FUNCTION "pooler".user_lookup(text) TO "pooler""#,
            r#"GRANT USAGE ON SCHEMA "pooler" TO "pooler""#,
        ]
    );
    // After the databases: the role and the database exist by then.
    let last_database = actions
        .iter()
        .rposition(|a| object(a).starts_with("database "))
        .expect("shop is created");
    let first_lookup = actions
        .iter()
        .position(|a| object(a).ends_with(".user_lookup"))
        .expect("lookups");
    assert!(last_database < first_lookup);
}

#[test]
fn a_function_anyone_may_call_or_someone_else_owns_is_made_again() {
    let d = with_pooler();
    let mut observed = installed(&d);
    let tampered = ObservedLookupFunction {
        owner: "app".into(),
        security_definer: true,
        body: "BEGIN SELECT 'app', NULL INTO uname, phash; RETURN; END;".into(),
        execute: BTreeSet::from(["app".to_string(), "PUBLIC".to_string()]),
    };
    observed
        .databases
        .get_mut("shop")
        .expect("shop")
        .lookup_functions
        .insert("pooler".into(), tampered);
    let actions = plan(&d, &observed);
    let found = lookups(&actions);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].reason,
        "connection pooler's auth_query: owned by app, not postgres; its body differs; executable by PUBLIC; not executable by pooler"
    );
    assert!(
        sql_of(found[0]).contains(
            &r#"ALTER FUNCTION "pooler".user_lookup(text) OWNER TO "postgres""#.to_string()
        )
    );
}

#[test]
fn whitespace_of_the_body_does_not_count_and_a_database_not_read_is_left_alone() {
    let d = with_pooler();
    let mut observed = installed(&d);
    let shop = observed.databases.get_mut("shop").expect("shop");
    let f = shop.lookup_functions.get_mut("pooler").expect("installed");
    f.body = "\n\t\tBEGIN\n\t\t\tSELECT usename, passwd FROM pg_catalog.pg_shadow\n\t\t\tWHERE usename = i_username INTO uname, phash;\n\t\t\tRETURN;\n\t\tEND;\n\t\t".into();
    observed.databases.get_mut("inv").expect("inv").schemas = None;
    assert_eq!(lookups(&plan(&d, &observed)), Vec::<&Action>::new());
}
