//! DESIGN.md's rule, checked: the pure stages never import an I/O module or an I/O client.

use std::path::Path;

const PURE: &[&str] = &["api", "plan", "render", "report", "state", "validate"];
const IO: &[&str] = &[
    "crate::observe",
    "crate::apply",
    "crate::watch",
    "crate::pipeline",
    "kube::Client",
    "kube::Api",
    "kube::api::Api",
    "tokio_postgres",
    "tokio::",
];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn pure_modules_import_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for room in PURE {
        let mut files = Vec::new();
        sources(&src.join(room), &mut files);
        assert!(!files.is_empty(), "src/{room} has no sources");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            for (n, line) in text.lines().enumerate() {
                if let Some(io) = IO.iter().find(|io| line.contains(*io)) {
                    found.push(format!("{}:{}: {io}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "I/O in pure modules:\n{}",
        found.join("\n")
    );
}
