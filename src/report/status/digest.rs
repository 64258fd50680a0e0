//! The digest of a plan, as written to `planDigest`.

use crate::plan::Action;
use sha2::{Digest, Sha256};

/// `sha256:` and the first 16 hex digits of the SHA-256 of the actions' JSON.
pub fn plan_digest(actions: &[Action]) -> String {
    // Serializing plain data (strings, numbers, JSON values) cannot fail.
    let json = serde_json::to_vec(actions).unwrap_or_default();
    let hash = Sha256::digest(&json);
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}
