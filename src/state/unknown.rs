//! Why something a run wanted to read could not be read.

use serde::{Deserialize, Serialize};

/// Why a part of the desired state could not be read. Only `NotReachable` is expected (on a new
/// cluster whose pods are not up yet); the others need someone to act.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UnknownCause {
    /// No answer yet: connection refused, timeout, no such host, no credentials made yet.
    NotReachable,
    AuthenticationFailed,
    /// The TLS handshake or the certificate check failed.
    TlsFailed,
    PermissionDenied,
    #[default]
    Other,
}

impl UnknownCause {
    /// How a status or report names it.
    pub fn label(self) -> &'static str {
        match self {
            UnknownCause::NotReachable => "not reachable",
            UnknownCause::AuthenticationFailed => "authentication failed",
            UnknownCause::TlsFailed => "TLS verification failed",
            UnknownCause::PermissionDenied => "permission denied",
            UnknownCause::Other => "failed",
        }
    }
}
