//! `fixtures/manifests/valid/X.yaml` rendered with the default configuration must equal
//! `fixtures/render/X.yaml`, byte for byte, every time.

use crate::{check_golden, files_in, fixtures};
use postgres_reconciler::config::Config;
use postgres_reconciler::observe::files::{Loaded, parse_documents};
use postgres_reconciler::render::{self, output};

fn render_file(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).expect("read fixture");
    let mut loaded = Loaded::default();
    parse_documents(&text, &path.display().to_string(), "default", &mut loaded);
    assert!(
        loaded.invalid.is_empty(),
        "{}: {:?}",
        path.display(),
        loaded.invalid
    );
    let desired = render::render(&loaded.manifests, &Config::default());
    assert!(
        desired.invalid.is_empty(),
        "{}: {:?}",
        path.display(),
        desired.invalid
    );
    output::to_yaml(&desired).expect("yaml")
}

#[test]
fn valid_manifests_render_as_committed() {
    let inputs = files_in(&fixtures().join("manifests/valid"), "yaml");
    assert!(inputs.len() >= 12, "expected at least 12 valid fixtures");
    let failures: Vec<String> = inputs
        .iter()
        .filter_map(|input| {
            let expected = fixtures()
                .join("render")
                .join(input.file_name().expect("name"));
            check_golden(&expected, &render_file(input))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rendering_is_deterministic() {
    for input in files_in(&fixtures().join("manifests/valid"), "yaml") {
        assert_eq!(
            render_file(&input),
            render_file(&input),
            "{}",
            input.display()
        );
    }
}
