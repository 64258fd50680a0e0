//! Our own annotations on a manifest: a value we cannot read makes the manifest invalid, so a
//! mistyped `mode: reprot` changes nothing instead of applying what was meant to be reported.

use super::Errors;
use crate::config::Mode;
use crate::render::MODE_ANNOTATION;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub(super) fn check(meta: &ObjectMeta, errs: &mut Errors) {
    let Some(value) = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(MODE_ANNOTATION))
    else {
        return;
    };
    if Mode::parse(value).is_none() {
        errs.add(
            format!("metadata.annotations[{MODE_ANNOTATION}]"),
            format!("{value:?}: must be apply or report"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(value: &str) -> Vec<String> {
        let meta = ObjectMeta {
            annotations: Some([(MODE_ANNOTATION.to_string(), value.to_string())].into()),
            ..Default::default()
        };
        let mut errs = Errors::default();
        check(&meta, &mut errs);
        errs.into_sorted().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn apply_and_report_are_the_modes() {
        assert!(errors("apply").is_empty());
        assert!(errors("report").is_empty());
        assert_eq!(
            errors("reprot"),
            [format!(
                "metadata.annotations[{MODE_ANNOTATION}]: \"reprot\": must be apply or report"
            )]
        );
    }
}
