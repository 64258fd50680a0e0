//! The plan as a pull-request comment, laid out like Atlantis's: the summary line first and
//! visible, then destructive and disruptive actions, invalid manifests and unknown parts, then
//! the actions in a collapsed `<details>` block with ```` ```diff ```` and ```` ```sql ````
//! fences. The comment never exceeds its limit: whole action sections are left off and a note
//! says so.

use super::{Body, DiffLine, body, count, one_line, op_name, op_symbol};
use crate::plan::{Action, Plan, Risk, Target};

/// Default size limit of a comment, below GitHub's 65,536 characters with room for a wrapper.
/// Sizes are counted in bytes, which is never less than characters.
pub const MARKDOWN_LIMIT: usize = 60_000;

/// Room for two fence lines and the language of a block.
const FENCE_ROOM: usize = 32;
/// Room for the line that says a block was cut.
const MARKER_ROOM: usize = 48;

/// The plan as GitHub-flavoured Markdown of at most `limit` bytes, ending with a line break.
pub fn markdown(plan: &Plan, limit: usize) -> String {
    let summary = summary_line(plan);
    let mut head = format!("{summary}\n\n");
    // What the change is, in one word a reviewer can compare with the run after the merge.
    if plan.has_changes() {
        let digest = crate::report::status::plan_digest(&plan.actions);
        head.push_str(&format!("Plan digest: `{digest}`\n\n"));
    }
    head.push_str(&notices(plan, (limit / 2).saturating_sub(head.len())));

    let total = plan.actions.len();
    if total == 0 {
        return fit(head, &summary, limit, total);
    }

    let open = format!(
        "<details><summary>Show plan ({})</summary>\n\n",
        count(total, "action", "actions")
    );
    let close = "</details>\n";
    let section_cap = (limit / 4).max(1);
    let sections: Vec<String> = plan
        .actions
        .iter()
        .map(|a| section(a, section_cap))
        .collect();

    let full = head.len() + open.len() + sections.iter().map(String::len).sum::<usize>();
    if full + close.len() <= limit {
        let out = head + &open + &sections.concat() + close;
        return fit(out, &summary, limit, total);
    }

    // Room for the note with the widest count it can show.
    let reserve = close.len() + 1 + truncation_note(total, total).len();
    let mut used = head.len() + open.len() + reserve;
    let mut shown = 0;
    for s in &sections {
        if used + s.len() > limit {
            break;
        }
        used += s.len();
        shown += 1;
    }
    let mut out = head;
    if shown > 0 {
        out.push_str(&open);
        out.push_str(&sections[..shown].concat());
        out.push_str(close);
        out.push('\n');
    }
    out.push_str(&truncation_note(shown, total));
    fit(out, &summary, limit, total)
}

fn summary_line(plan: &Plan) -> String {
    if plan.has_changes() {
        format!("**Plan:** {}", plan.summary())
    } else if plan.invalid.is_empty() && plan.unknown.is_empty() && plan.held.is_empty() {
        "**No changes.** Everything is up to date.".to_owned()
    } else {
        "**No changes.**".to_owned()
    }
}

fn truncation_note(shown: usize, total: usize) -> String {
    format!(
        "_Plan truncated: {shown} of {total} actions shown; \
         run `postgres-reconciler plan` for the full plan._\n"
    )
}

/// Ends `out` with exactly one line break.
fn finish(mut out: String) -> String {
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The last guard of the limit: should the head alone not fit (a tiny limit), the summary and
/// the note (no action shown); should even those not fit, as much of them as fits. No fence is
/// ever cut.
fn fit(out: String, summary: &str, limit: usize, total: usize) -> String {
    let out = finish(out);
    if out.len() <= limit {
        return out;
    }
    let mut draft = format!("{summary}\n\n");
    if total > 0 {
        draft.push_str(&truncation_note(0, total));
    }
    let mut short = finish(draft);
    if short.len() <= limit {
        return short;
    }
    let mut end = limit;
    while !short.is_char_boundary(end) {
        end -= 1;
    }
    short.truncate(end);
    short
}

/// Destructive and disruptive actions, invalid manifests and unknown parts, each a list, within
/// `budget`.
fn notices(plan: &Plan, budget: usize) -> String {
    let mut out = String::new();
    let destructive: Vec<String> = plan
        .destructive()
        .map(|a| {
            format!(
                "- :warning: **{}** {}: {}\n",
                op_name(a.op),
                target(&a.target),
                escape(&a.reason)
            )
        })
        .collect();
    if !destructive.is_empty() {
        let title = format!(":warning: **Destructive actions ({}):**", destructive.len());
        out.push_str(&list(
            &title,
            &destructive,
            budget.saturating_sub(out.len()),
        ));
    }
    let disruptive: Vec<String> = plan
        .disruptive()
        .map(|a| {
            format!(
                "- **{}** {}: {}\n",
                op_name(a.op),
                target(&a.target),
                escape(&a.reason)
            )
        })
        .collect();
    if !disruptive.is_empty() {
        let title = format!(
            ":arrows_counterclockwise: **Disruptive actions ({}):**",
            disruptive.len()
        );
        out.push_str(&list(&title, &disruptive, budget.saturating_sub(out.len())));
    }
    let approvals: Vec<String> = plan
        .approvals
        .iter()
        .map(|a| {
            format!(
                "- {} {} — {}: `{}` ({})\n",
                escape(&a.manifest.kind),
                code(&format!("{}/{}", a.manifest.namespace, a.manifest.name)),
                crate::plan::approval::APPROVED_PLAN_ANNOTATION,
                a.digest,
                escape(&a.actions.join(", "))
            )
        })
        .collect();
    if !approvals.is_empty() {
        let title = format!(
            ":lock: **Approval required ({}):** add the annotation to the manifest in this pull request",
            approvals.len()
        );
        out.push_str(&list(&title, &approvals, budget.saturating_sub(out.len())));
    }
    let invalid: Vec<String> = plan
        .invalid
        .iter()
        .map(|i| {
            let mut item = format!("- {}\n", code(&i.manifest));
            for e in &i.errors {
                item.push_str(&format!("  - {}\n", escape(e)));
            }
            item
        })
        .collect();
    if !invalid.is_empty() {
        let title = format!(":x: **Invalid manifests, skipped ({}):**", invalid.len());
        out.push_str(&list(&title, &invalid, budget.saturating_sub(out.len())));
    }
    let unknown: Vec<String> = plan
        .unknown
        .iter()
        .map(|u| {
            format!(
                "- {} {} — {}: {}\n",
                escape(&u.manifest.kind),
                code(&format!("{}/{}", u.manifest.namespace, u.manifest.name)),
                escape(&u.part),
                escape(&u.reason)
            )
        })
        .collect();
    if !unknown.is_empty() {
        let title = format!(":grey_question: **Not planned ({}):**", unknown.len());
        out.push_str(&list(&title, &unknown, budget.saturating_sub(out.len())));
    }
    let held: Vec<String> = plan
        .held
        .iter()
        .map(|h| {
            format!(
                "- {} {} — {}\n",
                escape(&h.manifest.kind),
                code(&format!("{}/{}", h.manifest.namespace, h.manifest.name)),
                escape(&h.reason)
            )
        })
        .collect();
    if !held.is_empty() {
        let title = format!(":hourglass: **Rollouts held ({}):**", held.len());
        out.push_str(&list(&title, &held, budget.saturating_sub(out.len())));
    }
    out
}

/// A titled list of as many items as fit in `budget`, then how many were left off.
fn list(title: &str, items: &[String], budget: usize) -> String {
    let more = |n: usize| format!("- _… and {n} more_\n");
    let mut out = format!("{title}\n\n");
    for (i, item) in items.iter().enumerate() {
        let left_after = items.len() - i - 1;
        let reserve = if left_after > 0 {
            more(left_after).len()
        } else {
            0
        };
        if out.len() + item.len() + reserve + 1 > budget {
            out.push_str(&more(items.len() - i));
            break;
        }
        out.push_str(item);
    }
    out.push('\n');
    out
}

/// One action: a heading line and, when there is something to show, a fenced block. Bodies
/// longer than `cap` are cut at a line, inside the fence, with a line saying so.
fn section(action: &Action, cap: usize) -> String {
    let risk = match action.risk {
        Risk::Safe => "risk: safe".to_owned(),
        Risk::Disruptive => "risk: **disruptive**".to_owned(),
        Risk::Destructive => ":warning: risk: **destructive**".to_owned(),
    };
    let heading = format!(
        "**{} {}** {} — {} · {risk}\n\n",
        op_symbol(action.op),
        op_name(action.op),
        target(&action.target),
        escape(&action.reason),
    );
    let (lang, lines, cut_marker): (&str, Vec<String>, fn(usize) -> String) = match body(action) {
        Body::Diff(diff) => (
            "diff",
            diff.iter()
                .filter(|l| !matches!(l, DiffLine::File(_)))
                .map(DiffLine::unified)
                .collect(),
            |n| format!("… {n} more lines not shown"),
        ),
        Body::Sql(statements) => (
            "sql",
            statements
                .iter()
                .flat_map(|s| s.lines().map(str::to_owned).collect::<Vec<_>>())
                .collect(),
            |n| format!("-- … {n} more lines not shown"),
        ),
        Body::Request(lines) => ("http", lines, |n| format!("… {n} more lines not shown")),
    };
    if lines.is_empty() {
        return heading;
    }
    let budget = cap.saturating_sub(heading.len() + FENCE_ROOM);
    let mut shown = String::new();
    for (i, line) in lines.iter().enumerate() {
        if shown.len() + line.len() + 1 + MARKER_ROOM > budget {
            shown.push_str(&cut_marker(lines.len() - i));
            shown.push('\n');
            break;
        }
        shown.push_str(line);
        shown.push('\n');
    }
    let fence = fence_for(&shown);
    format!("{heading}{fence}{lang}\n{shown}{fence}\n\n")
}

/// The target of an action, names as code.
fn target(target: &Target) -> String {
    match target {
        Target::Object(o) => format!(
            "{} {}",
            escape(&o.kind),
            code(&format!("{}/{}", o.namespace, o.name))
        ),
        Target::Sql {
            server,
            database,
            object,
        } => format!(
            "{} on {}, database {}",
            code(object),
            code(server),
            code(database)
        ),
        Target::Patroni {
            cluster,
            member: None,
        } => format!("Patroni configuration of cluster {}", code(cluster)),
        Target::Patroni {
            cluster,
            member: Some(member),
        } => format!(
            "Patroni member {} of cluster {}",
            code(member),
            code(cluster)
        ),
    }
}

/// A fence longer than any run of backticks in `content`, so no line of it can close the block.
fn fence_for(content: &str) -> String {
    "`".repeat((longest_backtick_run(content) + 1).max(3))
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Inline code holding any text on one line.
fn code(s: &str) -> String {
    let s = one_line(s);
    let ticks = "`".repeat(longest_backtick_run(&s) + 1);
    if s.starts_with('`') || s.ends_with('`') {
        format!("{ticks} {s} {ticks}")
    } else {
        format!("{ticks}{s}{ticks}")
    }
}

/// Free text on one line, with Markdown and HTML syntax escaped so it shows as written.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_html() {
        assert_eq!(escape("a_b *c* <x> `y`"), r"a\_b \*c\* \<x\> \`y\`");
        assert_eq!(escape("line\nbreak"), "line break");
    }

    #[test]
    fn code_spans_hold_backticks() {
        assert_eq!(code("ns/x"), "`ns/x`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
    }

    #[test]
    fn fences_outlast_the_content() {
        assert_eq!(fence_for("plain"), "```");
        assert_eq!(fence_for(" ```` x"), "`````");
    }
}
