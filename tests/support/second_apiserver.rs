//! A second kube-apiserver on the environment's etcd under a key prefix of its own: an empty
//! apiserver for what cannot share the main one — a CRD name exists once per apiserver, so
//! Zalando's own `postgresql` CRD can only be tried here. Same binary, certificates and admin
//! credentials as the main one (`tests/cluster/up`); stopped when dropped.

use super::{TestEnv, eventually, unique_name};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SecondApiserver {
    child: Child,
    pub url: String,
    kubeconfig: Kubeconfig,
}

impl SecondApiserver {
    pub async fn start(name: &str) -> SecondApiserver {
        let env = TestEnv::get();
        let bin = Path::new(env.var("PGRENV_KUBECTL"))
            .parent()
            .expect("binary dir")
            .join("kube-apiserver");
        let pki = PathBuf::from(env.var("PGRENV_CLUSTER_DIR")).join("pki");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let url = format!("https://127.0.0.1:{port}");
        let prefix = format!("/{}", unique_name(name));
        let log = std::fs::File::create(
            PathBuf::from(env.var("PGRENV_CLUSTER_DIR")).join(format!("{}.log", &prefix[1..])),
        )
        .expect("log file");
        let pem = |f: &str| pki.join(f).display().to_string();
        let child = Command::new(bin)
            .arg(format!("--etcd-servers={}", env.var("PGRENV_ETCD_URL")))
            .arg(format!("--etcd-prefix={prefix}"))
            .args(["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"])
            .arg(format!("--secure-port={port}"))
            .arg(format!("--cert-dir={}", pki.display()))
            .arg(format!("--tls-cert-file={}", pem("apiserver.crt")))
            .arg(format!("--tls-private-key-file={}", pem("apiserver.key")))
            .arg(format!("--client-ca-file={}", pem("ca.crt")))
            .arg(format!("--service-account-issuer={url}"))
            .arg(format!("--service-account-key-file={}", pem("sa.pub")))
            .arg(format!(
                "--service-account-signing-key-file={}",
                pem("sa.key")
            ))
            .args([
                "--service-cluster-ip-range=10.96.0.0/12",
                "--authorization-mode=RBAC",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start kube-apiserver");
        let mut kubeconfig = Kubeconfig::read_from(env.kubeconfig_path()).expect("kubeconfig");
        for cluster in &mut kubeconfig.clusters {
            if let Some(c) = cluster.cluster.as_mut() {
                c.server = Some(url.clone());
            }
        }
        let apiserver = SecondApiserver {
            child,
            url,
            kubeconfig,
        };
        let client = apiserver.client().await;
        eventually(
            Duration::from_secs(60),
            "the second apiserver ready",
            || {
                let client = client.clone();
                async move {
                    let ready = client
                        .request_text(http::Request::get("/readyz").body(Vec::new()).ok()?)
                        .await
                        .ok()?;
                    (ready.trim() == "ok").then_some(())
                }
            },
        )
        .await;
        apiserver
    }

    pub async fn config(&self) -> kube::Config {
        kube::Config::from_custom_kubeconfig(self.kubeconfig.clone(), &KubeConfigOptions::default())
            .await
            .expect("client config")
    }

    pub async fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config().await).expect("client")
    }
}

impl Drop for SecondApiserver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
