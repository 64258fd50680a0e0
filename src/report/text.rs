//! The plan for terminals: a summary line, destructive and disruptive actions called out, then
//! one section per action in plan order with a unified diff (objects) or the statements (SQL),
//! then what could not be planned. ANSI colour only when asked for.

use super::{Body, DiffLine, body, count, one_line, op_name, op_symbol, risk_name};
use crate::plan::{Action, Op, Plan, Risk};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";

/// Indentation of an action's body under its header.
const INDENT: &str = "    ";

struct Paint {
    on: bool,
}

impl Paint {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("{code}{s}{RESET}")
        } else {
            s.to_owned()
        }
    }
}

fn op_colour(op: Op) -> &'static str {
    match op {
        Op::Create => GREEN,
        Op::Update | Op::Restart => YELLOW,
        Op::Replace | Op::Delete => RED,
        Op::Sql => CYAN,
    }
}

/// The plan as terminal text, ending with a line break. `color` adds ANSI colours; without it
/// the output holds no escape sequence at all.
pub fn text(plan: &Plan, color: bool) -> String {
    let mut out = Vec::new();
    text_to(plan, color, &mut out).expect("writing to memory does not fail");
    String::from_utf8(out).expect("the plan's text is UTF-8")
}

/// Blocks separated by a blank line, written as they are made: a plan of many clusters is not
/// held again as text.
struct Blocks<'w, W: std::io::Write> {
    out: &'w mut W,
    first: bool,
}

impl<W: std::io::Write> Blocks<'_, W> {
    fn push(&mut self, block: String) -> std::io::Result<()> {
        if !std::mem::take(&mut self.first) {
            self.out.write_all(b"\n\n")?;
        }
        self.out.write_all(block.as_bytes())
    }
}

/// [`text`], written to `out` section by section.
pub fn text_to(plan: &Plan, color: bool, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let p = Paint { on: color };
    let mut blocks = Blocks { out, first: true };
    blocks.push(summary(plan, &p))?;

    // What a reviewer must see first: what loses data, then what interrupts service.
    let called_out: Vec<String> = plan
        .destructive()
        .map(|a| (p.paint(RED, "Destructive:"), a))
        .chain(
            plan.disruptive()
                .map(|a| (p.paint(YELLOW, "Disruptive:"), a)),
        )
        .map(|(label, a)| {
            format!(
                "{label} {} {} ({})",
                op_name(a.op),
                one_line(&a.target.to_string()),
                one_line(&a.reason)
            )
        })
        .collect();
    if !called_out.is_empty() {
        blocks.push(called_out.join("\n"))?;
    }

    if !plan.approvals.is_empty() {
        blocks.push(approvals(plan, &p))?;
    }

    for action in &plan.actions {
        blocks.push(section(action, &p))?;
    }

    if !plan.invalid.is_empty() {
        let mut lines = vec![p.paint(
            RED,
            &format!("Invalid manifests, skipped ({}):", plan.invalid.len()),
        )];
        for invalid in &plan.invalid {
            lines.push(format!("  {}", one_line(&invalid.manifest)));
            lines.extend(
                invalid
                    .errors
                    .iter()
                    .map(|e| format!("    - {}", one_line(e))),
            );
        }
        blocks.push(lines.join("\n"))?;
    }

    if !plan.unknown.is_empty() {
        let mut lines = vec![p.paint(YELLOW, &format!("Not planned ({}):", plan.unknown.len()))];
        lines.extend(plan.unknown.iter().map(|u| {
            format!(
                "  {} — {}: {}",
                one_line(&u.manifest.to_string()),
                one_line(&u.part),
                one_line(&u.reason)
            )
        }));
        blocks.push(lines.join("\n"))?;
    }

    if !plan.held.is_empty() {
        let mut lines = vec![p.paint(YELLOW, &format!("Rollouts held ({}):", plan.held.len()))];
        lines.extend(plan.held.iter().map(|h| {
            format!(
                "  {} — {}",
                one_line(&h.manifest.to_string()),
                one_line(&h.reason)
            )
        }));
        blocks.push(lines.join("\n"))?;
    }

    blocks.out.write_all(b"\n")
}

/// Per manifest, what waits for approval and the annotation that approves it.
fn approvals(plan: &Plan, p: &Paint) -> String {
    let mut lines = vec![p.paint(
        YELLOW,
        &format!("Approval required ({}):", plan.approvals.len()),
    )];
    for a in &plan.approvals {
        lines.push(format!(
            "  {} — {}: {}",
            one_line(&a.manifest.to_string()),
            crate::plan::approval::APPROVED_PLAN_ANNOTATION,
            a.digest
        ));
        lines.extend(a.actions.iter().map(|x| format!("    - {}", one_line(x))));
    }
    lines.join("\n")
}

fn summary(plan: &Plan, p: &Paint) -> String {
    let not_planned = plan.invalid.len() + plan.unknown.len();
    let mut line = if plan.has_changes() {
        format!("{} {}", p.paint(BOLD, "Plan:"), plan.summary())
    } else if not_planned == 0 && plan.held.is_empty() {
        p.paint(GREEN, "No changes. Everything is up to date.")
    } else {
        p.paint(GREEN, "No changes.")
    };
    if not_planned > 0 {
        let mut parts = Vec::new();
        if !plan.invalid.is_empty() {
            parts.push(count(
                plan.invalid.len(),
                "invalid manifest",
                "invalid manifests",
            ));
        }
        if !plan.unknown.is_empty() {
            parts.push(count(plan.unknown.len(), "unknown part", "unknown parts"));
        }
        line.push('\n');
        line.push_str(&p.paint(
            YELLOW,
            &format!("Not planned: {} (see below).", parts.join(", ")),
        ));
    }
    line
}

fn section(action: &Action, p: &Paint) -> String {
    let risk = risk_name(action.risk);
    let risk = match action.risk {
        Risk::Safe => risk.to_owned(),
        Risk::Disruptive => p.paint(YELLOW, risk),
        Risk::Destructive => p.paint(RED, risk),
    };
    let mut lines = vec![format!(
        "{} {}  ({})  [{risk}]",
        p.paint(
            op_colour(action.op),
            &format!("{} {}", op_symbol(action.op), op_name(action.op))
        ),
        p.paint(BOLD, &one_line(&action.target.to_string())),
        one_line(&action.reason),
    )];
    match body(action) {
        Body::Diff(diff) => {
            if diff.is_empty() && action.op == Op::Update {
                lines.push(format!("{INDENT}(no difference in the fields shown)"));
            }
            lines.extend(diff.iter().map(|line| {
                let (colour, text) = match line {
                    DiffLine::File(_) => (BOLD, line.unified()),
                    DiffLine::Hunk(_) => (CYAN, line.unified()),
                    DiffLine::Insert(_) => (GREEN, line.unified()),
                    DiffLine::Delete(_) => (RED, line.unified()),
                    DiffLine::Equal(_) => ("", line.unified()),
                };
                if colour.is_empty() {
                    format!("{INDENT}{text}")
                } else {
                    format!("{INDENT}{}", p.paint(colour, &text))
                }
            }));
        }
        Body::Sql(statements) | Body::Request(statements) => {
            for statement in statements {
                lines.extend(statement.lines().map(|l| format!("{INDENT}{l}")));
            }
        }
    }
    lines.join("\n")
}
