//! The test PostgreSQL server: superuser credentials, TLS trust and connections.

use super::env::TestEnv;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Where and as whom the tests reach PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub ca_file: String,
}

impl PgTarget {
    pub fn superuser() -> PgTarget {
        let env = TestEnv::get();
        PgTarget {
            host: env.var("PGRENV_PG_HOST").to_string(),
            port: env
                .var("PGRENV_PG_PORT")
                .parse()
                .expect("PGRENV_PG_PORT is a port"),
            user: env.var("PGRENV_PG_USER").to_string(),
            password: env.var("PGRENV_PG_PASSWORD").to_string(),
            ca_file: env.var("PGRENV_PG_CA_FILE").to_string(),
        }
    }

    pub fn config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .password(&self.password)
            .dbname(dbname)
            .ssl_mode(SslMode::Require)
            .connect_timeout(std::time::Duration::from_secs(10));
        c
    }

    /// TLS that trusts only the server's self-signed certificate.
    pub fn tls(&self) -> MakeRustlsConnect {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.ca_file).expect("read CA file") {
            roots
                .add(cert.expect("parse CA certificate"))
                .expect("add CA certificate");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        MakeRustlsConnect::new(config)
    }

    /// Connects and drives the connection in the background.
    pub async fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = config.connect(self.tls()).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("postgres connection ended: {e}");
            }
        });
        Ok(client)
    }
}
