//! Does a password match a stored SCRAM-SHA-256 verifier? Pure: the plan uses it to tell whether
//! a role's password still equals its Secret's without ever sending the password anywhere.
//!
//! PostgreSQL stores `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5803, base64
//! parts). The password is SASLprep'ed as PostgreSQL does (the raw bytes when SASLprep refuses
//! the string), salted with PBKDF2-HMAC-SHA-256, and both keys are derived and compared in
//! constant time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// More iterations than this are not checked (a hostile verifier must not stall a plan); such a
/// verifier counts as differing, so the plan sets the password again.
const MAX_ITERATIONS: u32 = 10_000_000;

/// `true` when `verifier` is a SCRAM-SHA-256 verifier of `password`. Anything else — an MD5 hash,
/// a plain-text password, an empty or malformed string — is `false`, i.e. "differs".
pub fn verifier_matches(password: &str, verifier: &str) -> bool {
    let Some(parsed) = Verifier::parse(verifier) else {
        return false;
    };
    let prepared = saslprep(password);
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(&prepared, &parsed.salt, parsed.iterations, &mut salted);

    let client_key = hmac_sha256(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac_sha256(&salted, b"Server Key");
    // Both comparisons always run: the time taken does not depend on which part differs.
    let stored_ok = constant_time_eq(&stored_key, &parsed.stored_key);
    let server_ok = constant_time_eq(&server_key, &parsed.server_key);
    stored_ok & server_ok
}

struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Verifier {
    /// PostgreSQL's `parse_scram_secret`.
    fn parse(verifier: &str) -> Option<Verifier> {
        let rest = verifier.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok()?;
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return None;
        }
        let salt = STANDARD.decode(salt).ok()?;
        let stored_key = STANDARD.decode(stored_key).ok()?;
        let server_key = STANDARD.decode(server_key).ok()?;
        if salt.is_empty() || stored_key.len() != 32 || server_key.len() != 32 {
            return None;
        }
        Some(Verifier {
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }
}

/// SASLprep (RFC 4013) as PostgreSQL's `pg_saslprep` applies it to passwords: when the string
/// cannot be prepared (prohibited characters, bidi violations), the raw bytes are used.
fn saslprep(password: &str) -> Vec<u8> {
    match stringprep::saslprep(password) {
        Ok(prepared) => prepared.into_owned().into_bytes(),
        Err(_) => password.as_bytes().to_vec(),
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres_protocol::password::scram_sha_256;

    #[test]
    fn matches_a_client_side_verifier() {
        let v = scram_sha_256(b"correct horse battery staple");
        assert!(verifier_matches("correct horse battery staple", &v), "{v}");
        assert!(!verifier_matches("correct horse battery stapl", &v));
        assert!(!verifier_matches("", &v));
    }

    #[test]
    fn matches_a_verifier_made_by_postgresql() {
        // `SET password_encryption = 'scram-sha-256'; CREATE ROLE x PASSWORD 'p'` on PostgreSQL 15,
        // then `SELECT rolpassword FROM pg_authid WHERE rolname = 'x'`.
        let v = "SCRAM-SHA-256$4096:J21OHa5hOiedof/R3QnYhg==$\
                 PgZQzbA+Sx0JKiWKhUujw9VVLIfq9Z0LfymplFpdKE4=:\
                 gQuFxJXeDlyg6s3pVQpo6ClmJzZqVRgp0dmlT1mpjJo=";
        assert!(verifier_matches("p", v));
        assert!(!verifier_matches("q", v));
    }

    #[test]
    fn saslprep_is_applied_like_postgresql() {
        // U+00A0 (no-break space) maps to a plain space under SASLprep: both spellings match.
        let v = scram_sha_256("a\u{a0}b".as_bytes());
        assert!(verifier_matches("a b", &v));
        assert!(verifier_matches("a\u{a0}b", &v));
        // Prohibited characters (here a control character): the raw bytes are used.
        let v = scram_sha_256("a\u{7}b".as_bytes());
        assert!(verifier_matches("a\u{7}b", &v));
        assert!(!verifier_matches("ab", &v));
        let v = scram_sha_256("pässwörd €".as_bytes());
        assert!(verifier_matches("pässwörd €", &v));
    }

    #[test]
    fn other_formats_never_match() {
        let md5 = postgres_protocol::password::md5(b"p", "x");
        assert!(!verifier_matches("p", &md5));
        assert!(!verifier_matches("p", "p"));
        assert!(!verifier_matches("p", ""));
        assert!(!verifier_matches("p", "SCRAM-SHA-256$"));
        assert!(!verifier_matches("p", "SCRAM-SHA-256$4096:abc$def"));
        let v = scram_sha_256(b"p");
        let zero_iterations = v.replacen("$4096:", "$0:", 1);
        assert!(!verifier_matches("p", &zero_iterations));
        let huge = v.replacen("$4096:", "$4000000000:", 1);
        assert!(!verifier_matches("p", &huge));
        // A verifier with one key altered: no match.
        let (head, server_key) = v.rsplit_once(':').expect("two keys");
        let mut altered = server_key.as_bytes().to_vec();
        altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
        let altered = format!("{head}:{}", String::from_utf8(altered).expect("ascii"));
        assert!(!verifier_matches("p", &altered));
    }
}
