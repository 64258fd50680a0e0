//! The terminal format.

use super::*;

#[test]
fn text_shows_summary_destructive_sections_and_leftovers_in_order() {
    let out = text(&full_plan(), false);
    assert!(!out.contains('\x1b'));
    assert!(out.starts_with(
        "Plan: 1 create, 2 update, 1 replace, 1 delete, 1 sql, 1 restart\n\
         Not planned: 1 invalid manifest, 1 unknown part (see below).\n\n"
    ));
    assert!(out.contains(
        "Destructive: replace StatefulSet default/acid-a (spec.volumeClaimTemplates is immutable)\n\
         Destructive: delete Service default/acid-a-config (no longer rendered)\n"
    ));
    assert!(out.contains("~ update StatefulSet default/acid-a  (spec.replicas: 2 → 3)  [safe]\n"));
    assert!(out.contains("    -  replicas: 2\n    +  replicas: 3\n"));
    assert!(out.contains("    --- live/StatefulSet/default/acid-a\n"));
    assert!(out.contains("-/+ replace StatefulSet default/acid-a"));
    assert!(out.contains("[destructive]"));
    assert!(out.contains("- delete Service default/acid-a-config"));
    assert!(
        out.contains("    -  name: acid-a-config\n    +++ /dev/null")
            || out.contains("+++ /dev/null")
    );
    assert!(out.contains("+ create Secret default/app.acid-a.credentials  (absent)  [safe]"));
    assert!(out.contains("    --- /dev/null\n"));
    assert!(out.contains("↻ restart Pod default/acid-a-0  (pod template changed)  [disruptive]"));
    assert!(out.contains(
        "> sql role app on cluster default/acid-a (database postgres)  (absent)  [safe]\n    \
         CREATE ROLE \"app\" LOGIN PASSWORD '(sensitive)';\n    GRANT \"app\" TO \"admin\";\n"
    ));
    assert!(out.ends_with(
        "Invalid manifests, skipped (1):\n  postgresql default/bad\n    \
         - spec.numberOfInstances: must be at least 1\n\n\
         Not planned (1):\n  postgresql default/acid-a — database state: connection refused\n"
    ));
    // Sections follow the plan's order.
    let create = out.find("+ create Secret").unwrap();
    let replace = out.find("-/+ replace").unwrap();
    let sql = out.find("> sql").unwrap();
    assert!(create < replace && replace < sql);
}

#[test]
fn colour_only_when_asked() {
    let plan = full_plan();
    assert!(!text(&plan, false).contains('\x1b'));
    let coloured = text(&plan, true);
    assert!(coloured.contains("\x1b[32m+  replicas: 3\x1b[0m"));
    assert!(coloured.contains("\x1b[31m-  replicas: 2\x1b[0m"));
    assert!(coloured.contains("\x1b[33m~ update\x1b[0m"));
    assert!(coloured.contains("\x1b[36m@@"));
}

#[test]
fn escape_sequences_from_input_are_neutralised() {
    let mut plan = full_plan();
    plan.actions[2].reason = "evil \x1b[2J reason\nsecond line".into();
    let out = text(&plan, false);
    assert!(!out.contains('\x1b'));
    assert!(out.contains("evil \u{FFFD}[2J reason second line"));
}
