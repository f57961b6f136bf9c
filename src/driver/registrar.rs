//! The registrar for the specialists' softphones as the SIP endpoint runs
//! it: its `[registrar]` settings (lock-out, digest algorithms) and the
//! sans-IO [`Registrar`] built from them and the specialists' accounts.

use std::time::Duration;

use senim_routing::specialists::Specialists;
use senim_sip::digest::Algorithm;
use senim_sip::lockout::LockoutPolicy;
use senim_sip::registrar::{Registrar, UserAccount};
use serde::Deserialize;

use crate::util::duration::parse_duration;

/// `[registrar]`: how wrong passwords are met, and the digest algorithms
/// offered. See `docs/defence.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarConfig {
    /// Wrong passwords that lock a user name, or a source address, out.
    pub max_failures: u32,
    /// How long a lock-out lasts, e.g. "15m".
    pub lockout: String,
    /// One failure is forgotten per this period, e.g. "1m".
    pub failure_decay: String,
    /// Digest algorithms offered, preferred first: "SHA-256", "MD5".
    pub algorithms: Vec<String>,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            max_failures: 20,
            lockout: "15m".into(),
            failure_decay: "1m".into(),
            algorithms: vec!["SHA-256".into(), "MD5".into()],
        }
    }
}

/// `[registrar]` checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarSettings {
    pub lockout: LockoutPolicy,
    pub algorithms: Vec<Algorithm>,
}

impl Default for RegistrarSettings {
    fn default() -> Self {
        RegistrarSettings {
            lockout: LockoutPolicy::default(),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        }
    }
}

impl RegistrarConfig {
    /// Check the values; an error names the key.
    pub fn settings(&self) -> Result<RegistrarSettings, (&'static str, String)> {
        if !(3..=1000).contains(&self.max_failures) {
            return Err((
                "registrar.max_failures",
                format!("{} is not a number from 3 to 1000", self.max_failures),
            ));
        }
        let lock_for = parse_duration(&self.lockout)
            .filter(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(86_400))
            .ok_or_else(|| {
                (
                    "registrar.lockout",
                    format!("{:?} is not a duration between 1s and 24h", self.lockout),
                )
            })?;
        let decay = parse_duration(&self.failure_decay)
            .filter(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(86_400))
            .ok_or_else(|| {
                (
                    "registrar.failure_decay",
                    format!(
                        "{:?} is not a duration between 1s and 24h",
                        self.failure_decay
                    ),
                )
            })?;
        let mut algorithms = Vec::new();
        for word in &self.algorithms {
            let a = match word.to_ascii_uppercase().as_str() {
                "SHA-256" => Algorithm::Sha256,
                "MD5" => Algorithm::Md5,
                _ => {
                    return Err((
                        "registrar.algorithms",
                        format!("{word:?} is not \"SHA-256\" or \"MD5\""),
                    ))
                }
            };
            if !algorithms.contains(&a) {
                algorithms.push(a);
            }
        }
        if algorithms.is_empty() {
            return Err((
                "registrar.algorithms",
                "give at least one of \"SHA-256\" and \"MD5\"".into(),
            ));
        }
        Ok(RegistrarSettings {
            lockout: LockoutPolicy {
                max_failures: self.max_failures,
                lock_for,
                decay,
            },
            algorithms,
        })
    }
}

/// The registrar for the specialists' softphones.
pub fn make_registrar(
    realm: &str,
    specialists: &Specialists,
    settings: &RegistrarSettings,
) -> Registrar {
    let mut registrar = Registrar::new(
        realm.to_string(),
        accounts(specialists),
        60,
        3600,
        600,
        rand::random(),
    );
    // Unknown user names get the same answers as wrong passwords: nothing to probe.
    registrar.set_conceal_unknown_users(true);
    registrar.set_algorithms(settings.algorithms.clone());
    registrar.set_lockout(Some(settings.lockout));
    registrar
}

/// The softphones' accounts: each specialist with a user name and password.
pub fn accounts(specialists: &Specialists) -> Vec<UserAccount> {
    specialists
        .softphones()
        .map(|(_, username, password)| UserAccount::with_password(username, password.expose(), 4))
        .collect()
}

/// Give a running registrar new accounts and settings (a reload): bindings
/// of removed accounts are dropped, the others stay (a changed password is
/// asked for at the phone's next refresh). A changed lock-out forgets the
/// wrong passwords counted so far.
pub fn update_registrar(
    registrar: &mut Registrar,
    specialists: &Specialists,
    old: &RegistrarSettings,
    new: &RegistrarSettings,
) {
    registrar.update_users(accounts(specialists));
    if old.algorithms != new.algorithms {
        registrar.set_algorithms(new.algorithms.clone());
    }
    if old.lockout != new.lockout {
        registrar.set_lockout(Some(new.lockout));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_lock_after_twenty_for_fifteen_minutes_and_offer_sha256_first() {
        let s = RegistrarConfig::default().settings().expect("defaults");
        assert_eq!(s, RegistrarSettings::default());
        assert_eq!(s.lockout.max_failures, 20);
        assert_eq!(s.lockout.lock_for, Duration::from_secs(900));
        assert_eq!(s.lockout.decay, Duration::from_secs(60));
        assert_eq!(s.algorithms, [Algorithm::Sha256, Algorithm::Md5]);
    }

    #[test]
    fn bad_values_name_the_key() {
        let key = |c: RegistrarConfig| c.settings().map(|_| ()).unwrap_err().0;
        let d = RegistrarConfig::default;
        assert_eq!(
            key(RegistrarConfig {
                max_failures: 1,
                ..d()
            }),
            "registrar.max_failures"
        );
        assert_eq!(
            key(RegistrarConfig {
                lockout: "forever".into(),
                ..d()
            }),
            "registrar.lockout"
        );
        assert_eq!(
            key(RegistrarConfig {
                failure_decay: "0s".into(),
                ..d()
            }),
            "registrar.failure_decay"
        );
        assert_eq!(
            key(RegistrarConfig {
                algorithms: vec!["SHA-512-256".into()],
                ..d()
            }),
            "registrar.algorithms"
        );
        assert_eq!(
            key(RegistrarConfig {
                algorithms: vec![],
                ..d()
            }),
            "registrar.algorithms"
        );
        let md5 = RegistrarConfig {
            algorithms: vec!["md5".into()],
            ..d()
        };
        assert_eq!(md5.settings().expect("md5").algorithms, [Algorithm::Md5]);
    }
}
