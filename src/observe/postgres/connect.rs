//! Connecting to a PostgreSQL server with libpq's `sslmode` semantics, and errors short enough
//! for a status message.

use super::tls;
use crate::config::SslMode;
use crate::plan::UnknownCause;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use tokio_postgres::NoTls;

/// Where and as whom the reconciler reaches one PostgreSQL server.
#[derive(Clone)]
pub struct PgConnection {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub sslmode: SslMode,
    /// PEM file of the CA that signed the server's certificate (`verify-ca`, `verify-full`).
    pub ca_file: Option<PathBuf>,
    /// For the whole connection set-up: TCP, TLS handshake and authentication.
    pub connect_timeout: Duration,
}

impl fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConnection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"(sensitive)")
            .field("sslmode", &self.sslmode)
            .field("ca_file", &self.ca_file)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// A failed conversation with PostgreSQL: what was being done and a short reason ("connection
/// refused", "password authentication failed for user \"app\"", "timeout"). Never holds a
/// password or a verifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{context}: {reason}")]
pub struct PgError {
    /// e.g. "connect to 10.0.0.1:5432 (database postgres)", "read pg_authid".
    pub context: String,
    /// Short, fit for a status message.
    pub reason: String,
    /// The SQLSTATE when the server reported the error.
    pub code: Option<String>,
}

impl PgError {
    pub fn new(context: impl Into<String>, reason: impl Into<String>) -> PgError {
        PgError {
            context: context.into(),
            reason: reason.into(),
            code: None,
        }
    }

    /// Wraps a driver error: the server's message when it sent one, otherwise the innermost
    /// I/O or TLS cause, in a few words.
    pub fn from_driver(context: impl Into<String>, e: &tokio_postgres::Error) -> PgError {
        PgError {
            context: context.into(),
            reason: short_reason(e),
            code: e.code().map(|c| c.code().to_string()),
        }
    }
}

impl PgError {
    /// What kind of failure this is, for the exit code and the status: by SQLSTATE when the
    /// server answered, else by what failed on the way (a connection that never got an answer
    /// is "not reachable").
    pub fn cause(&self) -> UnknownCause {
        match self.code.as_deref() {
            // invalid_password, invalid_authorization_specification
            Some("28P01") | Some("28000") => return UnknownCause::AuthenticationFailed,
            // insufficient_privilege
            Some("42501") => return UnknownCause::PermissionDenied,
            Some(_) => return UnknownCause::Other,
            None => {}
        }
        if self.reason.contains("TLS") {
            UnknownCause::TlsFailed
        } else if self.context.starts_with("connect to ") {
            UnknownCause::NotReachable
        } else {
            UnknownCause::Other
        }
    }
}

fn short_reason(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return match io.kind() {
                ConnectionRefused => "connection refused".into(),
                TimedOut => "timeout".into(),
                ConnectionReset => "connection reset".into(),
                UnexpectedEof => "connection closed by the server".into(),
                _ => match io.get_ref() {
                    Some(inner) if inner.is::<rustls::Error>() => format!("TLS: {inner}"),
                    _ => io.to_string(),
                },
            };
        }
        if s.is::<rustls::Error>() {
            return format!("TLS: {s}");
        }
        source = s.source();
    }
    if e.is_closed() {
        return "connection closed".into();
    }
    e.to_string()
}

/// Connects to `dbname` and drives the connection in a background task (it ends when the
/// returned client is dropped).
pub async fn connect(conn: &PgConnection, dbname: &str) -> Result<tokio_postgres::Client, PgError> {
    let context = format!("connect to {}:{} (database {dbname})", conn.host, conn.port);
    let mut config = tokio_postgres::Config::new();
    config
        .host(&conn.host)
        .port(conn.port)
        .user(&conn.user)
        .password(conn.password.as_bytes())
        .dbname(dbname)
        .application_name("postgres-reconciler")
        .connect_timeout(conn.connect_timeout);

    let tls = match conn.sslmode {
        SslMode::Disable => None,
        mode => Some(
            tls::client_config(mode, conn.ca_file.as_deref())
                .map_err(|reason| PgError::new(context.clone(), reason))?,
        ),
    };
    let connecting = async {
        match tls {
            None => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                let (client, connection) = config.connect(NoTls).await?;
                tokio::spawn(drive(connection));
                Ok(client)
            }
            Some(tls) => {
                config.ssl_mode(match conn.sslmode {
                    SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                    _ => tokio_postgres::config::SslMode::Require,
                });
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
                let (client, connection) = config.connect(tls).await?;
                tokio::spawn(drive(connection));
                Ok(client)
            }
        }
    };
    match tokio::time::timeout(conn.connect_timeout, connecting).await {
        Err(_) => Err(PgError::new(context, "timeout")),
        Ok(Err(e)) => Err(PgError::from_driver(context, &e)),
        Ok(Ok(client)) => Ok(client),
    }
}

async fn drive<F>(connection: F)
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>>,
{
    if let Err(e) = connection.await {
        tracing::debug!(error = %short_reason(&e), "postgres connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(context: &str, reason: &str, code: Option<&str>) -> PgError {
        PgError {
            context: context.into(),
            reason: reason.into(),
            code: code.map(str::to_string),
        }
    }

    #[test]
    fn causes() {
        let connect = "connect to acid-a.ns:5432 (database postgres)";
        let auth = error(connect, "password authentication failed", Some("28P01"));
        assert_eq!(auth.cause(), UnknownCause::AuthenticationFailed);
        let refused = error(connect, "connection refused", None);
        assert_eq!(refused.cause(), UnknownCause::NotReachable);
        let tls = error(
            connect,
            "TLS: invalid peer certificate: UnknownIssuer",
            None,
        );
        assert_eq!(tls.cause(), UnknownCause::TlsFailed);
        let denied = error("read pg_authid", "permission denied", Some("42501"));
        assert_eq!(denied.cause(), UnknownCause::PermissionDenied);
        let missing = error(connect, "database \"x\" does not exist", Some("3D000"));
        assert_eq!(missing.cause(), UnknownCause::Other);
    }
}
