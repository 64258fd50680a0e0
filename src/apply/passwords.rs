//! Passwords in memory during a run: the ones in live Secrets and the ones generated for Secrets
//! this run creates. Never logged, never printed, gone when the process exits.

use crate::observe::databases::SecretPasswords;
use crate::plan::SecretKeyRef;
use rand::Rng;
use rand::distr::Alphanumeric;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Length of generated passwords (Zalando's is 64 too).
pub const GENERATED_LENGTH: usize = 64;

/// A new random password, remembered nowhere.
pub fn new_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(GENERATED_LENGTH)
        .map(char::from)
        .collect()
}

#[derive(Clone, Default)]
pub struct Passwords {
    known: Arc<Mutex<BTreeMap<SecretKeyRef, String>>>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords(..)")
    }
}

impl Passwords {
    /// The passwords of the live Secrets, as the observation indexed them.
    pub fn from_live(live: &SecretPasswords) -> Self {
        let known = live
            .iter()
            .map(|((namespace, name), password)| {
                (
                    SecretKeyRef {
                        namespace: namespace.clone(),
                        name: name.clone(),
                    },
                    password.clone(),
                )
            })
            .collect();
        Passwords {
            known: Arc::new(Mutex::new(known)),
        }
    }

    pub fn get(&self, secret: &SecretKeyRef) -> Option<String> {
        self.known.lock().ok()?.get(secret).cloned()
    }

    /// A new random password for a Secret about to be created, remembered for this run.
    pub fn generate(&self, secret: &SecretKeyRef) -> String {
        let password = new_password();
        if let Ok(mut known) = self.known.lock() {
            known.insert(secret.clone(), password.clone());
        }
        password
    }

    /// The password of a Secret read during the run (one that turned out to exist already).
    pub fn set(&self, secret: &SecretKeyRef, password: String) {
        if let Ok(mut known) = self.known.lock() {
            known.insert(secret.clone(), password);
        }
    }

    /// Forget a generated password whose Secret turned out to exist already (someone else made
    /// it): the live Secret's password is the truth.
    pub fn forget(&self, secret: &SecretKeyRef) {
        if let Ok(mut known) = self.known.lock() {
            known.remove(secret);
        }
    }
}
