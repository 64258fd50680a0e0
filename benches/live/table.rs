//! The figures as one table: plain text on stdout and Markdown in target/bench-live/N.md.
//! Every time is also shown as a multiple of the LIST floor: ratios are the figures.

use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Default, Clone)]
pub struct Row {
    pub measure: String,
    pub wall: Option<Duration>,
    pub requests: String,
    pub writes: Option<u64>,
    pub rss_kib: Option<u64>,
    pub note: String,
}

pub fn verbs(requests: &BTreeMap<String, u64>) -> String {
    requests
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(verb, n)| format!("{verb} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

const HEADER: [&str; 7] = [
    "measure", "wall", "× floor", "requests", "writes", "peak RSS", "note",
];

fn cells(row: &Row, floor: Duration) -> [String; 7] {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "–".into());
    [
        row.measure.clone(),
        opt(row.wall.map(|w| format!("{:.2} s", w.as_secs_f64()))),
        opt(row
            .wall
            .filter(|_| !floor.is_zero())
            .map(|w| format!("{:.1}×", w.as_secs_f64() / floor.as_secs_f64()))),
        if row.requests.is_empty() {
            "–".into()
        } else {
            row.requests.clone()
        },
        opt(row.writes.map(|w| w.to_string())),
        opt(row.rss_kib.map(|k| format!("{:.0} MiB", k as f64 / 1024.0))),
        row.note.clone(),
    ]
}

/// Aligned columns for the terminal.
pub fn text(title: &str, rows: &[Row], floor: Duration, notes: &[String]) -> String {
    let all: Vec<[String; 7]> = std::iter::once(HEADER.map(String::from))
        .chain(rows.iter().map(|r| cells(r, floor)))
        .collect();
    let widths: Vec<usize> = (0..7)
        .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!("{title}\n");
    for r in &all {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        out += line.join("  ").trim_end();
        out += "\n";
    }
    for n in notes {
        out += &format!("- {n}\n");
    }
    out
}

pub fn markdown(title: &str, rows: &[Row], floor: Duration, notes: &[String]) -> String {
    let mut out = format!(
        "## {title}\n\n| {} |\n|{}\n",
        HEADER.join(" | "),
        "---|".repeat(7)
    );
    for r in rows {
        out += &format!("| {} |\n", cells(r, floor).join(" | "));
    }
    if !notes.is_empty() {
        out += "\n";
        for n in notes {
            out += &format!("- {n}\n");
        }
    }
    out
}
