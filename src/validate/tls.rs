//! `spec.tls`: a Secret to mount at `/tls` (and the CA's at `/tlsca`), which must not collide
//! with the manifest's own volumes; a CA Secret without a CA file is ignored by Zalando, and
//! refused here.

use super::Errors;
use super::names::is_dns1123_subdomain;
use crate::api::postgresql::{AdditionalVolume, Tls};

pub(super) fn check_tls(tls: &Tls, volumes: &[AdditionalVolume], errs: &mut Errors) {
    if tls.secret_name.is_empty() {
        return;
    }
    let ca_secret = tls.ca_secret_name.as_deref().filter(|s| !s.is_empty());
    for (field, name) in [
        ("secretName", Some(tls.secret_name.as_str())),
        ("caSecretName", ca_secret),
    ] {
        let Some(name) = name else { continue };
        if !is_dns1123_subdomain(name) {
            errs.add(
                format!("spec.tls.{field}"),
                format!("{name:?} is not a Secret name"),
            );
        } else if volumes.iter().any(|v| v.name == name) {
            errs.add(
                format!("spec.tls.{field}"),
                format!("{name:?} is also the name of an additional volume; the pod's volumes need names of their own"),
            );
        }
    }
    if ca_secret.is_some() && tls.ca_file.as_deref().unwrap_or_default().is_empty() {
        errs.add(
            "spec.tls.caSecretName",
            "needs spec.tls.caFile: the file of the CA in that Secret",
        );
    }
    for v in volumes {
        let path = v.mount_path.trim_end_matches('/');
        if path == "/tls" || path == "/tlsca" {
            errs.add(
                "spec.tls",
                format!(
                    "mounts at /tls and /tlsca, where additional volume {:?} is mounted",
                    v.name
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_and_a_ca_secret_without_its_file_are_refused() {
        let tls: Tls = serde_json::from_value(serde_json::json!(
            {"secretName": "certs", "caSecretName": "ca"}))
        .unwrap();
        let volumes: Vec<AdditionalVolume> = serde_json::from_value(serde_json::json!([
            {"name": "certs", "mountPath": "/tls", "volumeSource": {"emptyDir": {}}}]))
        .unwrap();
        let mut errs = Errors::default();
        check_tls(&tls, &volumes, &mut errs);
        let e: Vec<String> = errs.into_sorted().iter().map(|e| e.to_string()).collect();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("spec.tls: mounts at /tls"), "{e:?}");
        assert!(
            e[1].starts_with("spec.tls.caSecretName: needs spec.tls.caFile"),
            "{e:?}"
        );
        assert!(
            e[2].starts_with("spec.tls.secretName: \"certs\" is also the name"),
            "{e:?}"
        );
    }
}
