//! Error messages with their cause chain, classified: a status or a log line must say *why*
//! (`client error (Connect)` alone does not say that the apiserver's certificate is not
//! trusted).

use std::error::Error;

/// The error and every cause under it, "outer: inner: innermost", leaving out a cause whose
/// text the previous message already contains (many wrappers repeat their source).
pub fn error_chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// How rustls's errors begin (its `Display`), for errors that hide their type.
const RUSTLS_MESSAGES: &[&str] = &[
    "invalid peer certificate",
    "peer is incompatible",
    "peer misbehaved",
    "received fatal alert",
    "no server certificate chain resolved",
];

/// Whether the failure happened in TLS (handshake or certificate check).
pub fn is_tls_failure(e: &(dyn Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(s) = current {
        if s.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        // Connectors box their errors in ways a downcast does not see through; rustls's own
        // messages are recognisable.
        let text = s.to_string();
        if RUSTLS_MESSAGES.iter().any(|m| text.contains(m)) {
            return true;
        }
        current = s.source();
    }
    false
}

/// A kube client error for a report or a status: the apiserver's message and code, or the
/// cause chain of a request that got no answer, named by class where it has one.
pub fn describe_kube_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict" => {
            format!("conflict with another field manager: {}", s.message)
        }
        kube::Error::Api(s) if s.code == 401 => {
            format!("authentication failed: {} (401)", s.message)
        }
        kube::Error::Api(s) if s.code == 403 => format!("permission denied: {} (403)", s.message),
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other if is_tls_failure(other) => {
            format!("TLS verification failed: {}", error_chain(other))
        }
        other => error_chain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_names_the_certificate_problem() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = Outer(std::io::Error::other(tls));
        assert!(is_tls_failure(&e));
        let chain = error_chain(&e);
        assert!(chain.starts_with("client error (Connect): "), "{chain}");
        assert!(chain.contains("UnknownIssuer"), "{chain}");
    }

    #[test]
    fn a_hidden_rustls_error_is_known_by_its_message() {
        let e = Outer(std::io::Error::other(
            "invalid peer certificate: UnknownIssuer".to_string(),
        ));
        assert!(is_tls_failure(&e));
    }

    #[test]
    fn repeated_causes_are_said_once() {
        let e = Outer(std::io::Error::other("client error (Connect)"));
        assert_eq!(error_chain(&e), "client error (Connect)");
        assert!(!is_tls_failure(&e));
    }
}
