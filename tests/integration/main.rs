//! Integration tests on the real local environment (`tests/cluster/up`): kube-apiserver, etcd,
//! kube-controller-manager, kube-scheduler, kwok fake nodes and PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod apply_adopt;
mod apply_api_fault;
mod apply_cluster;
mod apply_config;
mod apply_hostile;
mod apply_invalid;
mod apply_lease;
mod apply_passwords;
mod apply_removed_roles;
mod apply_unreachable;
mod apply_volume;
mod approved_plans;
mod chart_deletion_protection;
mod chart_install;
mod chart_rbac;
mod chart_rbac_rules;
mod chart_render;
mod chart_watch;
mod cross_namespace_secrets;
mod drift_report;
mod field_managers;
mod foundation_api;
mod foundation_postgres;
mod foundation_workloads;
mod golden_capture;
mod image_oci;
mod lease;
mod logical_backup;
mod metrics;
mod observe_postgres;
mod password_rotation;
mod patroni_bootstrap;
mod patroni_corpus;
mod patroni_dynamic;
mod patroni_failover;
mod patroni_rollout;
mod patroni_service;
mod plan_ci;
mod plan_live;
mod pooler;
mod release_pipelines;
mod render_dry_run;
mod rollout;
mod rollout_limits;
mod rollout_resume;
mod shards;
mod status;
mod status_zalando_crd;
mod teams;
mod watch;
