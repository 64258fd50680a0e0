//! Password rotation against Zalando's operator: credential Secrets whose `nextRotation` has
//! passed, provisioned before either operator runs. Zalando's first sync rotates them; our plan
//! at the same time, from the same Secrets, manifest and configuration, decides the same for
//! each: the username the Secret names (`<user><YYMMDD>` or the user itself, in place), the
//! next rotation date, and whether the password changes; a database owner is left alone.

use super::harness::{Mode, our_configuration, render_stored};
use crate::support::eventually;
use crate::support::reconciler::Harness;
use crate::support::zalando::Zalando;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use postgres_reconciler::config::Config;
use postgres_reconciler::plan::{Change, SecretKeyRef, rotation::plan_rotations};
use postgres_reconciler::state::ObservedDatabaseState;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const SEEDED_PASSWORD: &str = "seeded-password";
const PASSED: &str = "2026-01-01T00:00:00Z";

/// (username, date of nextRotation, password changed) of a Secret.
type Decided = (String, String, bool);

fn decided(username: &str, next_rotation: &str, password: &str) -> Decided {
    let date = next_rotation.get(..10).unwrap_or_default().to_string();
    (username.into(), date, password != SEEDED_PASSWORD)
}

#[tokio::test]
async fn passed_rotation_dates_rotate_as_zalando_rotates_them() {
    let h = Harness::new("parity-rot").await;
    let client = h.ns.client.clone();
    let dir = h.temp_dir("rotation");
    let cluster = "acid-rot";
    let users = ["app", "inplace", "other", "owner"];
    let mut manifest = h.cluster_manifest(
        cluster,
        1,
        json!({"app": [], "inplace": [], "other": [], "owner": []}),
        json!({"shop": "owner"}),
        json!({}),
    );
    manifest["spec"]["usersWithSecretRotation"] = json!(["app"]);
    manifest["spec"]["usersWithInPlaceSecretRotation"] = json!(["inplace"]);
    h.apply(manifest).await;
    let secret_name = |user: &str| format!("{user}.{cluster}.credentials.postgresql.acid.zalan.do");
    let secrets = h.ns.api::<Secret>();
    let mut seeded = BTreeMap::new();
    for user in users {
        let data = BTreeMap::from([
            ("username".to_string(), ByteString(user.as_bytes().to_vec())),
            (
                "password".to_string(),
                ByteString(SEEDED_PASSWORD.as_bytes().to_vec()),
            ),
            (
                "nextRotation".to_string(),
                ByteString(PASSED.as_bytes().to_vec()),
            ),
        ]);
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(secret_name(user)),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        let made = secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("seed a Secret");
        seeded.insert(secret_name(user), serde_json::to_value(made).expect("json"));
    }

    let overrides = [("enable_password_rotation", "true")];
    let now = jiff::Timestamp::now();
    let mut zalando = Zalando::start(&client, &h.ns.name, &overrides, &dir).await;
    let read = |s: &Secret, key: &str| {
        let bytes = s
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.clone());
        String::from_utf8(bytes.unwrap_or_default()).expect("UTF-8")
    };
    let theirs: BTreeMap<String, Decided> = eventually(
        Duration::from_secs(120),
        "Zalando's rotation of the Secrets",
        || async {
            let mut out = BTreeMap::new();
            for user in users {
                let s = secrets.get(&secret_name(user)).await.ok()?;
                out.insert(
                    user.to_string(),
                    decided(
                        &read(&s, "username"),
                        &read(&s, "nextRotation"),
                        &read(&s, "password"),
                    ),
                );
            }
            // The three it rotates change in the same sync.
            (out.values().filter(|d| d.2).count() == 3).then_some(out)
        },
    )
    .await;
    zalando.stop();

    let config = Config {
        enable_password_rotation: true,
        ..our_configuration(&h.ns.name, Mode::Endpoints, &dir)
    };
    let desired = render_stored(&h, cluster, &config).await;
    let m = &desired.manifests[0];
    let live = |key: &SecretKeyRef| seeded.get(&key.name).cloned();
    let rotations = plan_rotations(
        &m.manifest,
        &m.database,
        &live,
        &ObservedDatabaseState::default(),
        Some(now),
        &config,
    );
    let mut ours: BTreeMap<String, Decided> = users
        .iter()
        .map(|u| (u.to_string(), decided(u, PASSED, SEEDED_PASSWORD)))
        .collect();
    for action in &rotations.secrets {
        let Change::SecretRotation(r) = &action.change else {
            panic!("{action:?}");
        };
        let user = users
            .iter()
            .find(|u| secret_name(u) == action_name(&action.target))
            .expect("one of the users");
        let password = if r.new_password {
            "new"
        } else {
            SEEDED_PASSWORD
        };
        ours.insert(
            user.to_string(),
            decided(&r.after.username, &r.after.next_rotation, password),
        );
    }
    assert_eq!(ours, theirs, "see {}", zalando.log.display());
    // What the comparison stands on.
    let suffix = now.strftime("%y%m%d").to_string();
    assert_eq!(theirs["app"].0, format!("app{suffix}"));
    assert_eq!(theirs["inplace"].0, "inplace");
    assert!(!theirs["owner"].2, "a database owner is not rotated");
}

fn action_name(target: &postgres_reconciler::plan::Target) -> String {
    match target {
        postgres_reconciler::plan::Target::Object(o) => o.name.clone(),
        other => panic!("{other:?}"),
    }
}
