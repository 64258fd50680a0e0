//! The corpus in Endpoints mode (Zalando v1's default) and in ConfigMaps mode (v2's).

use super::diff::{Difference, cell};
use super::expectations::{self, Expectation};
use super::harness::{Mode, Outcome, run};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Refusals of Zalando's own examples must name a feature that is switched on.
const SWITCHED_ON_FEATURE: &str =
    "a feature of Zalando's operator that postgres-reconciler does not provide";

#[tokio::test]
async fn parity_in_endpoints_mode() {
    check(Mode::Endpoints, run(Mode::Endpoints).await);
}

#[tokio::test]
async fn parity_in_configmaps_mode() {
    check(Mode::ConfigMaps, run(Mode::ConfigMaps).await);
}

struct Classified<'a> {
    intentional: Vec<&'a Difference>,
    known: Vec<&'a Difference>,
    unexplained: Vec<&'a Difference>,
}

fn classify<'a>(
    differences: &'a [Difference],
    intentional: &[Expectation],
    known: &[Expectation],
) -> Classified<'a> {
    let mut c = Classified {
        intentional: vec![],
        known: vec![],
        unexplained: vec![],
    };
    for d in differences {
        if intentional.iter().any(|e| e.matches(d)) {
            c.intentional.push(d);
        } else if known.iter().any(|e| e.matches(d)) {
            c.known.push(d);
        } else {
            c.unexplained.push(d);
        }
    }
    c
}

/// (kind, name, path): the patterns the issue counts.
fn patterns(list: &[&Difference]) -> BTreeSet<(String, String, String)> {
    list.iter()
        .map(|d| (d.kind.clone(), d.name.clone(), d.path.clone()))
        .collect()
}

fn table(title: &str, list: &[&Difference], out: &mut String) {
    let _ = writeln!(
        out,
        "\n{title}: {} differences, {} patterns",
        list.len(),
        patterns(list).len()
    );
    for d in list {
        let _ = writeln!(
            out,
            "  {:<22} {:<19} {:<42} {:<60} ours={} zalando={}",
            d.manifest,
            d.kind,
            d.name,
            d.path,
            cell(&d.ours),
            cell(&d.zalando)
        );
    }
}

fn check(mode: Mode, outcome: Outcome) {
    let intentional: Vec<Expectation> = expectations::load("intentional.yaml")
        .into_iter()
        .filter(|e| e.applies_to(mode.name()))
        .collect();
    let known: Vec<Expectation> = expectations::load("known-gaps.yaml")
        .into_iter()
        .filter(|e| e.applies_to(mode.name()))
        .collect();
    let c = classify(&outcome.differences, &intentional, &known);

    let mut report = String::new();
    let _ = writeln!(
        report,
        "parity ({} mode): {} objects compared in {:.0?}; {} differences: {} intentional ({} patterns), {} known gaps ({} patterns), {} unexplained ({} patterns)",
        mode.name(),
        outcome.compared_objects,
        outcome.elapsed,
        outcome.differences.len(),
        c.intentional.len(),
        patterns(&c.intentional).len(),
        c.known.len(),
        patterns(&c.known).len(),
        c.unexplained.len(),
        patterns(&c.unexplained).len(),
    );
    for (entry, errors) in &outcome.refused {
        let _ = writeln!(
            report,
            "refused by us: {} ({}): {}",
            entry.name(),
            entry.source,
            errors.join("; ")
        );
    }
    for (name, source, why) in &outcome.zalando_crd_refuses {
        let _ = writeln!(
            report,
            "accepted by our CRD, refused by Zalando's own (the oracle runs under ours): {name} ({source}): {why}"
        );
    }
    for (name, status) in &outcome.not_running {
        let _ = writeln!(report, "not Running under Zalando: {name}: {status:?}");
    }
    table("unexplained", &c.unexplained, &mut report);
    table("known gaps", &c.known, &mut report);
    table("intentional", &c.intentional, &mut report);
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("parity-{}.txt", mode.name()));
    let _ = std::fs::write(&file, &report);
    eprintln!("{report}\n(report written to {})", file.display());

    let stale: Vec<String> = intentional
        .iter()
        .chain(known.iter())
        .filter(|e| !outcome.differences.iter().any(|d| e.matches(d)))
        .map(Expectation::label)
        .collect();
    let bad_refusals: Vec<String> = outcome
        .refused
        .iter()
        .filter(|(entry, errors)| {
            !entry.from_zalando || errors.iter().any(|e| !e.contains(SWITCHED_ON_FEATURE))
        })
        .map(|(entry, errors)| {
            format!("{} ({}): {}", entry.name(), entry.source, errors.join("; "))
        })
        .collect();
    assert!(
        bad_refusals.is_empty(),
        "manifests refused for something other than a switched-on feature we do not provide: {bad_refusals:#?}"
    );
    assert!(
        outcome.not_running.is_empty(),
        "Zalando's operator did not bring these clusters to Running: {:?}",
        outcome.not_running
    );
    assert!(
        c.unexplained.is_empty(),
        "{} differences from Zalando's operator are neither intentional nor known gaps (table above)",
        c.unexplained.len()
    );
    assert!(
        stale.is_empty(),
        "entries of fixtures/parity/*.yaml that match no difference any more (remove them): {stale:#?}"
    );
}
