//! Golden tests of the pure stages: inputs under `fixtures/`, expected outputs committed beside
//! them. `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the expected files; review the diff.

mod plans;
mod render;

use std::path::{Path, PathBuf};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Files with extension `ext` directly in `dir`, sorted.
pub fn files_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ext))
        .collect();
    files.sort();
    files
}

/// Compares `actual` with the expected file, or rewrites it under UPDATE_GOLDEN=1.
/// Returns a description of the mismatch instead of panicking, so one run lists every failure.
pub fn check_golden(expected_path: &Path, actual: &str) -> Option<String> {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(expected_path.parent().expect("parent")).expect("create dir");
        std::fs::write(expected_path, actual).expect("write golden file");
        eprintln!("wrote {}", expected_path.display());
        return None;
    }
    let expected = std::fs::read_to_string(expected_path).unwrap_or_default();
    if expected == actual {
        return None;
    }
    let diff = similar::TextDiff::from_lines(&expected, actual)
        .unified_diff()
        .header("expected", "actual")
        .to_string();
    Some(format!("{} differs:\n{diff}", expected_path.display()))
}
