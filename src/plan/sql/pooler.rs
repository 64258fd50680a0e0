//! The connection pooler's `auth_query` function in every database of the server, as Zalando's
//! `installLookupFunction` makes it: `<schema>.user_lookup(text)` returns a role's name and
//! password hash from `pg_shadow`, so it runs as its owner, the superuser (SECURITY DEFINER), and
//! only the pooler's role may call it. A function that differs in any of that is made again.

use super::{Ctx, ident, literal};
use crate::plan::{Action, Risk, SqlStatement};
use crate::render::database::{DesiredDatabaseState, PoolerLookup, SUPERUSER_USERNAME};
use crate::state::{ObservedDatabaseState, ObservedLookupFunction};
use std::collections::{BTreeMap, BTreeSet};

/// The function's source, as it is stored (`prosrc`); compared with whitespace collapsed.
const BODY: &str = "
BEGIN
    SELECT usename, passwd FROM pg_catalog.pg_shadow
    WHERE usename = i_username INTO uname, phash;
    RETURN;
END;
";

fn collapsed(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The function as it is once installed (for plans that assume the desired state).
pub fn as_installed(lookup: &PoolerLookup) -> ObservedLookupFunction {
    ObservedLookupFunction {
        owner: SUPERUSER_USERNAME.to_string(),
        security_definer: true,
        body: BODY.to_string(),
        execute: BTreeSet::from([SUPERUSER_USERNAME.to_string(), lookup.user.clone()]),
    }
}

/// Why the function in `schema` is not as wanted; empty when it is.
fn differences(
    lookup: &PoolerLookup,
    function: Option<&ObservedLookupFunction>,
    schema_usage: Option<&BTreeSet<String>>,
) -> Vec<String> {
    let Some(f) = function else {
        return vec!["absent".to_string()];
    };
    let mut out = Vec::new();
    if f.owner != SUPERUSER_USERNAME {
        out.push(format!("owned by {}, not {SUPERUSER_USERNAME}", f.owner));
    }
    if !f.security_definer {
        out.push("not SECURITY DEFINER".to_string());
    }
    if collapsed(&f.body) != collapsed(BODY) {
        out.push("its body differs".to_string());
    }
    if f.execute.contains("PUBLIC") {
        out.push("executable by PUBLIC".to_string());
    }
    if !f.execute.contains(&lookup.user) {
        out.push(format!("not executable by {}", lookup.user));
    }
    if !schema_usage.is_some_and(|u| u.contains(&lookup.user) || u.contains("PUBLIC")) {
        out.push(format!(
            "no USAGE on schema {} for {}",
            lookup.schema, lookup.user
        ));
    }
    out
}

fn statements(lookup: &PoolerLookup, owner_differs: bool) -> Vec<SqlStatement> {
    let schema = ident(&lookup.schema);
    let user = ident(&lookup.user);
    let function = format!("{schema}.user_lookup(text)");
    let mut out = vec![
        format!("CREATE SCHEMA IF NOT EXISTS {schema}"),
        format!(
            "CREATE OR REPLACE FUNCTION {schema}.user_lookup(i_username text, OUT uname text, OUT phash text) \
             RETURNS record LANGUAGE plpgsql SECURITY DEFINER AS {}",
            literal(BODY)
        ),
    ];
    if owner_differs {
        out.push(format!(
            "ALTER FUNCTION {function} OWNER TO {}",
            ident(SUPERUSER_USERNAME)
        ));
    }
    out.extend([
        format!("REVOKE ALL ON FUNCTION {function} FROM PUBLIC, {user}"),
        format!("GRANT EXECUTE ON FUNCTION {function} TO {user}"),
        format!("GRANT USAGE ON SCHEMA {schema} TO {user}"),
    ]);
    out.into_iter().map(SqlStatement::plain).collect()
}

/// The lookup function in every database: those on the server (inspected) and those this plan
/// creates.
pub(super) fn lookup_functions(
    ctx: &Ctx<'_>,
    desired: &DesiredDatabaseState,
    observed: &ObservedDatabaseState,
) -> Vec<Action> {
    let Some(lookup) = &desired.pooler_lookup else {
        return Vec::new();
    };
    let mut databases: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, db) in &observed.databases {
        // Not inspected (the catalog read was cut short): nothing is known of its functions.
        let Some(schemas) = &db.schemas else {
            continue;
        };
        let usage = schemas.get(&lookup.schema).map(|s| &s.usage);
        let wrong = differences(lookup, db.lookup_functions.get(&lookup.schema), usage);
        if !wrong.is_empty() {
            databases.insert(name, wrong);
        }
    }
    for name in desired.databases.keys() {
        if !observed.databases.contains_key(name) {
            databases.insert(name, vec!["new database".to_string()]);
        }
    }
    databases
        .into_iter()
        .map(|(name, reasons)| {
            let owner_differs = observed
                .databases
                .get(name)
                .and_then(|d| d.lookup_functions.get(&lookup.schema))
                .is_some_and(|f| f.owner != SUPERUSER_USERNAME);
            ctx.action(
                name,
                format!("function {name}.{}.user_lookup", lookup.schema),
                format!("connection pooler's auth_query: {}", reasons.join("; ")),
                Risk::Safe,
                statements(lookup, owner_differs),
            )
        })
        .collect()
}
