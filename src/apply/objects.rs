//! Executing object actions: server-side apply with our field manager, create-only Secrets with a
//! generated password, deletes, replaces and pod evictions with a UID precondition.

use super::passwords::Passwords;
use crate::observe::cluster::{MANIFEST_KINDS, OWNED_KINDS, POD_KIND, api_resource};
use crate::plan::finalizer::{DROP_DATABASE_FINALIZER, finalizer_change};
use crate::plan::objects::ownership_metadata;
use crate::plan::{Action, Change, ObjectRef, Op, SecretKeyRef, Target};
use crate::render::secrets::{PASSWORD_KEY, USERNAME_KEY};
use crate::render::{ApplyPolicy, DesiredObject};
use crate::report::outcome::ActionResult;
use base64::Engine;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{
    Api, DeleteParams, DynamicObject, EvictParams, Patch, PatchParams, PostParams, Preconditions,
};
use serde_json::Value;
use std::time::Duration;

pub struct ObjectExecutor<'a> {
    pub client: &'a kube::Client,
    /// For evictions: a budget's refusal is an answer for this run, not something to wait on.
    pub client_without_retries: &'a kube::Client,
    pub field_manager: &'a str,
    /// Take over fields another manager owns instead of reporting the conflict.
    pub force_conflicts: bool,
    pub passwords: &'a Passwords,
}

fn api_for(client: &kube::Client, r: &ObjectRef) -> Option<Api<DynamicObject>> {
    let (_, _, plural) = OWNED_KINDS
        .iter()
        .chain(MANIFEST_KINDS)
        .find(|(v, k, _)| *v == r.api_version && *k == r.kind)?;
    Some(Api::namespaced_with(
        client.clone(),
        &r.namespace,
        &api_resource(&r.api_version, &r.kind, plural),
    ))
}

fn describe(e: &kube::Error) -> String {
    crate::observe::describe_kube_error(e)
}

/// The password of a live Secret, if it holds one.
fn live_password(secret: &DynamicObject) -> Option<String> {
    let encoded = secret
        .data
        .pointer(&format!("/data/{PASSWORD_KEY}"))?
        .as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

impl ObjectExecutor<'_> {
    /// Runs one object action. `desired` is the full object (None for deletes).
    pub async fn execute(
        &self,
        action: &Action,
        desired: Option<&DesiredObject>,
        allow_destructive: bool,
    ) -> ActionResult {
        let Target::Object(r) = &action.target else {
            return ActionResult::Failed("not an object action".into());
        };
        if let Change::Restart {
            uid,
            switchover,
            delete,
        } = &action.change
        {
            return self
                .restart(r, uid.clone(), switchover.as_ref(), *delete)
                .await;
        }
        let Some(api) = api_for(self.client, r) else {
            return ActionResult::Failed(format!("unknown kind {} {}", r.api_version, r.kind));
        };
        let (uid, resource_version) = match &action.change {
            Change::Object {
                uid,
                resource_version,
                ..
            } => (uid.clone(), resource_version.clone()),
            Change::Sql { .. }
            | Change::Restart { .. }
            | Change::PatroniConfig { .. }
            | Change::PatroniRestart { .. }
            | Change::SecretRotation(_) => (None, None),
        };
        if let Change::SecretRotation(rotation) = &action.change {
            return match self.rotate_secret(&api, r, rotation).await {
                Ok(()) => ActionResult::Applied,
                Err(message) => ActionResult::Failed(message),
            };
        }
        if let Some(add) = finalizer_change(action) {
            return match self.set_finalizer(&api, r, add).await {
                Ok(()) => ActionResult::Applied,
                Err(message) => ActionResult::Failed(message),
            };
        }
        let result = match (action.op, desired) {
            (Op::Create, Some(d)) if d.policy == ApplyPolicy::CreateOnly => {
                self.create_secret(&api, r, d).await
            }
            (Op::Update, Some(d)) if d.policy == ApplyPolicy::CreateOnly => {
                self.adopt(&api, d).await
            }
            (Op::Create | Op::Update, Some(d)) => {
                // The plan's adjusted body, when it had to adjust the rendered one.
                let (body, adopting) = match &action.change {
                    Change::Object {
                        apply_body,
                        take_over,
                        ..
                    } => (apply_body.as_ref().unwrap_or(&d.body).value(), *take_over),
                    _ => (d.body.value(), false),
                };
                // A claim's size was set by the StatefulSet controller from our template, an
                // adopted object's fields by the operator before us: taking those over is ours
                // to do, not a conflict to report.
                let take_over = d.policy == ApplyPolicy::UpdateOnly || adopting;
                self.apply(&api, &d.name, &body, take_over).await
            }
            (Op::Replace, Some(d)) => {
                if action.risk == crate::plan::Risk::Destructive && !allow_destructive {
                    return ActionResult::Skipped(format!(
                        "{} needs a replace ({}); allow it with --allow-destructive or the manifest annotation {}=true",
                        r,
                        action.reason,
                        crate::render::ALLOW_DESTRUCTIVE_ANNOTATION
                    ));
                }
                self.replace(&api, r, d, uid).await
            }
            (Op::Delete, _) => self.delete(&api, r, uid, resource_version).await,
            _ => Err(format!("{:?} {} has no desired object", action.op, r)),
        };
        match result {
            Ok(()) => ActionResult::Applied,
            Err(message) => ActionResult::Failed(message),
        }
    }

    /// A rollout step: the switchover first for a master (skipped for this run if Patroni
    /// refuses), then the pod's deletion, pinned to its UID so a pod recreated meanwhile stays.
    async fn restart(
        &self,
        r: &ObjectRef,
        uid: Option<String>,
        switchover: Option<&crate::plan::Switchover>,
        delete: bool,
    ) -> ActionResult {
        if let Some(s) = switchover
            && let Err(e) = super::patroni::switchover(s).await
        {
            return ActionResult::Skipped(format!(
                "switchover from {} to {} failed ({e}); the master restarts in a later run",
                s.leader, s.candidate
            ));
        }
        let (v, k, plural) = POD_KIND;
        if delete {
            let api: Api<DynamicObject> = Api::namespaced_with(
                self.client.clone(),
                &r.namespace,
                &api_resource(v, k, plural),
            );
            return match self.delete(&api, r, uid, None).await {
                Ok(()) => ActionResult::Applied,
                Err(e) => ActionResult::Failed(e),
            };
        }
        let pods: Api<Pod> = Api::namespaced(self.client_without_retries.clone(), &r.namespace);
        let params = EvictParams {
            delete_options: Some(DeleteParams {
                preconditions: uid.map(|uid| Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            }),
            post_options: PostParams::default(),
        };
        match pods.evict(&r.name, &params).await {
            Ok(_) => ActionResult::Applied,
            // Gone already: its StatefulSet makes the new one.
            Err(kube::Error::Api(s)) if s.code == 404 => ActionResult::Applied,
            Err(kube::Error::Api(s)) if s.code == 429 => ActionResult::Skipped(format!(
                "a PodDisruptionBudget does not allow evicting {r} now ({}); a later run tries again",
                s.message
            )),
            Err(kube::Error::Api(s)) if s.code == 409 => ActionResult::Skipped(format!(
                "{r} was replaced meanwhile; the next run decides again"
            )),
            Err(e) => ActionResult::Failed(describe(&e)),
        }
    }

    async fn apply(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        body: &Value,
        take_over: bool,
    ) -> Result<(), String> {
        let mut params = PatchParams::apply(self.field_manager);
        params.force = self.force_conflicts || take_over;
        api.patch(name, &params, &Patch::Apply(body))
            .await
            .map(|_| ())
            .map_err(|e| describe(&e))
    }

    /// Adds or removes a manifest's drop-database finalizer. Our field manager owns exactly that
    /// entry, so applying without it removes it and leaves other finalizers alone. A manifest
    /// that is gone already needs nothing.
    async fn set_finalizer(
        &self,
        api: &Api<DynamicObject>,
        r: &ObjectRef,
        add: bool,
    ) -> Result<(), String> {
        let mut body = serde_json::json!({
            "apiVersion": r.api_version, "kind": r.kind, "metadata": {"name": r.name},
        });
        if add {
            body["metadata"]["finalizers"] = serde_json::json!([DROP_DATABASE_FINALIZER]);
        }
        match api
            .patch(
                &r.name,
                &PatchParams::apply(self.field_manager),
                &Patch::Apply(&body),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(describe(&e)),
        }
    }

    /// Adopts a credential Secret someone else made: applies our labels, annotations and owner
    /// references only, so its data (the password) is never part of our request.
    async fn adopt(&self, api: &Api<DynamicObject>, d: &DesiredObject) -> Result<(), String> {
        let mut body = ownership_metadata(&d.body.value());
        body["apiVersion"] = d.api_version.clone().into();
        body["kind"] = d.kind.clone().into();
        body["metadata"]["name"] = d.name.clone().into();
        body["metadata"]["namespace"] = d.namespace.clone().into();
        let mut params = PatchParams::apply(self.field_manager);
        params.force = self.force_conflicts;
        api.patch(&d.name, &params, &Patch::Apply(&body))
            .await
            .map(|_| ())
            .map_err(|e| describe(&e))
    }

    /// Creates a credential Secret with a new password. If it exists already (another run made
    /// it meanwhile, or it has neither our labels nor the cluster's, so observe did not list it)
    /// it is left as it is: a password is never replaced, and its password is the one the role
    /// gets.
    async fn create_secret(
        &self,
        api: &Api<DynamicObject>,
        r: &ObjectRef,
        d: &DesiredObject,
    ) -> Result<(), String> {
        let key = SecretKeyRef {
            namespace: r.namespace.clone(),
            name: r.name.clone(),
        };
        let password = self.passwords.generate(&key);
        let mut body = d.body.value();
        body["data"][PASSWORD_KEY] =
            Value::String(base64::engine::general_purpose::STANDARD.encode(password));
        let object: DynamicObject = serde_json::from_value(body).map_err(|e| e.to_string())?;
        let params = PostParams {
            field_manager: Some(self.field_manager.to_string()),
            ..Default::default()
        };
        match api.create(&params, &object).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                match api.get_opt(&r.name).await {
                    Ok(Some(live)) => match live_password(&live) {
                        Some(password) => self.passwords.set(&key, password),
                        None => self.passwords.forget(&key),
                    },
                    _ => self.passwords.forget(&key),
                }
                Ok(())
            }
            Err(e) => {
                self.passwords.forget(&key);
                Err(describe(&e))
            }
        }
    }

    /// A Secret's rotation: its keys as planned, and a new password that this run's SQL gives
    /// the role. Pinned to the planned version: a Secret changed since is left to the next run.
    async fn rotate_secret(
        &self,
        api: &Api<DynamicObject>,
        r: &ObjectRef,
        rotation: &crate::plan::SecretRotation,
    ) -> Result<(), String> {
        let key = SecretKeyRef {
            namespace: r.namespace.clone(),
            name: r.name.clone(),
        };
        let mut live = api.get(&r.name).await.map_err(|e| describe(&e))?;
        let current = live.metadata.resource_version.clone();
        if rotation.uid.is_some() && live.metadata.uid != rotation.uid
            || rotation.resource_version.is_some() && current != rotation.resource_version
        {
            return Err(format!(
                "{r} changed since it was planned; its rotation is planned again next run"
            ));
        }
        let encode = |v: &str| Value::String(base64::engine::general_purpose::STANDARD.encode(v));
        let data = live.data["data"].as_object_mut().map(std::mem::take);
        let mut data = data.unwrap_or_default();
        data.insert(USERNAME_KEY.into(), encode(&rotation.after.username));
        data.insert("nextRotation".into(), encode(&rotation.after.next_rotation));
        let password = rotation
            .new_password
            .then(crate::apply::passwords::new_password);
        if let Some(password) = &password {
            data.insert(PASSWORD_KEY.into(), encode(password));
        }
        live.data["data"] = Value::Object(data);
        let params = PostParams {
            field_manager: Some(self.field_manager.to_string()),
            ..Default::default()
        };
        api.replace(&r.name, &params, &live)
            .await
            .map_err(|e| describe(&e))?;
        if let Some(password) = password {
            self.passwords.set(&key, password);
        }
        Ok(())
    }

    async fn delete(
        &self,
        api: &Api<DynamicObject>,
        r: &ObjectRef,
        uid: Option<String>,
        resource_version: Option<String>,
    ) -> Result<(), String> {
        let _ = resource_version; // the UID pins the object; a newer version of it may still go
        let params = DeleteParams {
            preconditions: uid.map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match api.delete(&r.name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(describe(&e)),
        }
    }

    /// Delete (pods of a StatefulSet are orphaned, not killed: the new StatefulSet adopts them),
    /// wait until it is gone, then apply the desired object.
    async fn replace(
        &self,
        api: &Api<DynamicObject>,
        r: &ObjectRef,
        d: &DesiredObject,
        uid: Option<String>,
    ) -> Result<(), String> {
        let params = DeleteParams {
            preconditions: uid.map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..if r.kind == "StatefulSet" {
                DeleteParams::orphan()
            } else {
                DeleteParams::background()
            }
        };
        match api.delete(&r.name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(describe(&e)),
        }
        for _ in 0..120 {
            match api.get_opt(&r.name).await {
                Ok(None) => return self.apply(api, &d.name, &d.body.value(), false).await,
                Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(250)).await,
                Err(e) => return Err(describe(&e)),
            }
        }
        Err(format!("{r} was still there 30 s after its deletion"))
    }
}
