//! kubectl as a user runs it: server-side apply of files, and the setup steps the benchmark
//! does not measure.

use super::env::Env;
use std::path::Path;
use std::time::{Duration, Instant};

/// `kubectl apply --server-side -f file`, timed; panics when it fails.
pub fn apply(env: &Env, file: &Path) -> Duration {
    let start = Instant::now();
    let out = env
        .kubectl()
        .args(["apply", "--server-side", "--field-manager=kubectl", "-f"])
        .arg(file)
        .output()
        .expect("run kubectl");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "kubectl apply -f {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// `kubectl <args>`, which must succeed; its stdout.
pub fn run(env: &Env, args: &[&str]) -> String {
    let out = env.kubectl().args(args).output().expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `text` to `path` and applies it.
pub fn apply_text(env: &Env, path: &Path, text: &str) -> Duration {
    std::fs::write(path, text).expect("write manifest file");
    apply(env, path)
}
