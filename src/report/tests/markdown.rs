//! The pull-request comment: layout and the size limit.

use super::*;

#[test]
fn markdown_layout() {
    let md = markdown(&full_plan(), MARKDOWN_LIMIT);
    let first = md.lines().next().unwrap();
    assert_eq!(
        first,
        "**Plan:** 1 create, 2 update, 1 replace, 1 delete, 1 sql, 1 restart"
    );
    let details = md
        .find("<details><summary>Show plan (7 actions)</summary>")
        .unwrap();
    for top in [
        ":warning: **Destructive actions (2):**",
        "- :warning: **replace** StatefulSet `default/acid-a`: spec.volumeClaimTemplates is immutable",
        ":x: **Invalid manifests, skipped (1):**",
        "- `postgresql default/bad`\n  - spec.numberOfInstances: must be at least 1",
        ":grey_question: **Not planned (1):**",
        "- postgresql `default/acid-a` — database state: connection refused",
    ] {
        let at = md
            .find(top)
            .unwrap_or_else(|| panic!("{top:?} missing in:\n{md}"));
        assert!(at < details, "{top:?} after <details>");
    }
    assert!(md.contains(
        "**~ update** StatefulSet `default/acid-a` — spec.replicas: 2 → 3 · risk: safe\n\n\
         ```diff\n@@"
    ));
    assert!(md.contains("\n-  replicas: 2\n+  replicas: 3\n"));
    assert!(md.contains(
        "```sql\nCREATE ROLE \"app\" LOGIN PASSWORD '(sensitive)';\nGRANT \"app\" TO \"admin\";\n```\n"
    ));
    assert!(md.contains(":warning: risk: **destructive**"));
    assert!(md.contains(
        "**↻ restart** Pod `default/acid-a-0` — pod template changed · risk: **disruptive**\n"
    ));
    assert!(md.ends_with("risk: **disruptive**\n\n</details>\n"));
    assert_eq!(fence_lines(&md) % 2, 0);
    assert!(!md.contains("--- live"));
}

#[test]
fn markdown_is_truncated_within_the_limit() {
    let plan = big_plan(500);
    let md = markdown(&plan, MARKDOWN_LIMIT);
    assert!(md.len() <= MARKDOWN_LIMIT, "{} > limit", md.len());
    assert!(md.starts_with("**Plan:** 500 create, 0 update"));
    assert!(md.contains("<details><summary>Show plan (500 actions)</summary>"));
    assert!(!md.contains("- _… and "));
    assert_eq!(fence_lines(&md) % 2, 0);
    let note = md.lines().last().unwrap();
    assert!(note.starts_with("_Plan truncated: "), "{note}");
    assert!(
        note.ends_with(" of 500 actions shown; run `postgres-reconciler plan` for the full plan._")
    );
    let shown: usize = note["_Plan truncated: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(shown > 0 && shown < 500);
    assert_eq!(md.matches("**+ create**").count(), shown);
    let closing = md.rfind("</details>").unwrap();
    assert!(md.rfind("```").unwrap() < closing);
}

#[test]
fn markdown_limit_holds_for_any_limit() {
    let plan = big_plan(30);
    for limit in [0, 10, 80, 200, 500, 1_000, 3_000, 10_000, 100_000] {
        let md = markdown(&plan, limit);
        assert!(md.len() <= limit, "limit {limit}: {} bytes", md.len());
        assert_eq!(fence_lines(&md) % 2, 0, "limit {limit}:\n{md}");
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count()
        );
    }
    let all = markdown(&plan, 1_000_000);
    assert!(!all.contains("_Plan truncated"));
    assert_eq!(all.matches("**+ create**").count(), 30);
}

#[test]
fn long_lists_at_the_top_are_capped_too() {
    let plan = big_plan(500);
    let md = markdown(&plan, 6_000);
    assert!(md.len() <= 6_000);
    assert!(md.contains(":warning: **Destructive actions (72):**"));
    let more = md.find("- _… and ").unwrap();
    assert!(more < md.find("<details>").unwrap());
    assert!(md.ends_with("for the full plan._\n"));
    assert_eq!(fence_lines(&md) % 2, 0);
}

#[test]
fn one_huge_diff_is_cut_inside_its_fence() {
    let plan = big_plan(1);
    let md = markdown(&plan, 2_000);
    assert!(md.len() <= 2_000);
    assert!(md.contains("more lines not shown\n```\n"), "{md}");
    assert!(!md.contains("_Plan truncated"));
    assert_eq!(fence_lines(&md) % 2, 0);
}
