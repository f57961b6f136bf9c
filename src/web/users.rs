//! The people who sign in to the web pages (`[[user]]` in the
//! configuration): a name, the same roles as the API's tokens, for a
//! specialist their id, and an argon2id hash of the password, never the
//! password. `senim user` makes the entry.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Deserialize;

use super::i18n::Lang;
use crate::http::auth::{Caller, Role};

/// One `[[user]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// What they type to sign in; written to the audit log.
    pub name: String,
    pub role: Role,
    /// For role `specialist`: their id from `[[specialist]]`.
    #[serde(default)]
    pub specialist: Option<String>,
    /// The argon2id hash of the password (PHC string, `$argon2id$...`).
    pub password_hash: String,
    /// The pages' language until they choose another: kk, ru or en.
    #[serde(default)]
    pub lang: Option<String>,
}

/// A user, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub caller: Caller,
    pub lang: Option<Lang>,
    password_hash: String,
}

/// A fault of one `[[user]]`: its index, the key and what is wrong.
pub type UserFault = (usize, &'static str, String);

/// The configured users.
#[derive(Debug, Clone, Default)]
pub struct UserTable {
    users: Vec<User>,
}

/// The shortest password `senim user` takes.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A hash to verify against when the name is unknown, so that a wrong
/// name takes as long as a wrong password.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2VuaW0tZGVjb3ktc2FsdA$Kc6mrlPqbxJ1VqqDvTvfhZ3vO3aQyu6b1YRk7rqX2dE";

impl UserTable {
    /// Check the configured users: a unique name each, an argon2id hash,
    /// a configured specialist for role specialist.
    pub fn from_config(
        users: &[UserConfig],
        specialist_exists: impl Fn(&str) -> bool,
    ) -> Result<UserTable, Vec<UserFault>> {
        let mut out = Vec::with_capacity(users.len());
        let mut faults = Vec::new();
        for (i, u) in users.iter().enumerate() {
            let mut bad = |key: &'static str, message: String| faults.push((i, key, message));
            let name = u.name.trim();
            if name.is_empty() || name.chars().any(|c| c.is_control()) {
                bad("name", "must be a non-empty line of text".into());
                continue;
            }
            if out
                .iter()
                .any(|o: &User| o.caller.name.eq_ignore_ascii_case(name))
            {
                bad("name", format!("user {name:?} is defined twice"));
                continue;
            }
            match PasswordHash::new(u.password_hash.trim()) {
                Ok(h) if h.algorithm.as_str() == "argon2id" => {}
                _ => {
                    bad(
                        "password_hash",
                        format!(
                            "user {name:?}: not an argon2id hash (`$argon2id$...`): make one with \
                             `senim user --name {name:?} --role {}` and paste the line it prints",
                            u.role.as_str()
                        ),
                    );
                    continue;
                }
            }
            if let Err((key, message)) = u
                .role
                .check_specialist(u.specialist.as_deref(), &specialist_exists)
            {
                bad(key, format!("user {name:?}: {message}"));
                continue;
            }
            let lang = match u.lang.as_deref().map(|l| (l, Lang::parse(l))) {
                None => None,
                Some((_, Some(l))) => Some(l),
                Some((l, None)) => {
                    bad("lang", format!("user {name:?}: {l:?} is not kk, ru or en"));
                    continue;
                }
            };
            out.push(User {
                caller: Caller {
                    name: name.to_string(),
                    role: u.role,
                    specialist: u.specialist.clone(),
                },
                lang,
                password_hash: u.password_hash.trim().to_string(),
            });
        }
        if faults.is_empty() {
            Ok(UserTable { users: out })
        } else {
            Err(faults)
        }
    }

    /// The user with this name (case ignored) when `password` is theirs.
    /// Slow on purpose (argon2id): call it off the async workers.
    pub fn verify(&self, name: &str, password: &str) -> Option<&User> {
        let user = self
            .users
            .iter()
            .find(|u| u.caller.name.eq_ignore_ascii_case(name.trim()));
        let hash = user.map_or(DECOY, |u| u.password_hash.as_str());
        let ok = PasswordHash::new(hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        user.filter(|_| ok)
    }

    /// The user with this name, if configured (for a session's checks).
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.caller.name.eq_ignore_ascii_case(name))
    }

    /// The names of the users of `old` that are gone from this table or
    /// whose entry (role, specialist, password, language) differs.
    pub fn changed_since(&self, old: &UserTable) -> Vec<String> {
        old.users
            .iter()
            .filter(|o| self.get(&o.caller.name) != Some(*o))
            .map(|o| o.caller.name.clone())
            .collect()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when none is configured (the pages then only say so).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// A new password: four groups of five letters and digits (about 100 bits),
/// easy to read out and to type on a phone.
pub fn new_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..4)
        .map(|_| {
            (0..5)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The argon2id hash of `password`, as `[[user]] password_hash` takes it.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, role: Role, specialist: Option<&str>, hash: &str) -> UserConfig {
        UserConfig {
            name: name.into(),
            role,
            specialist: specialist.map(str::to_string),
            password_hash: hash.into(),
            lang: None,
        }
    }

    #[test]
    fn a_password_is_kept_as_an_argon2id_hash_and_checked() {
        let hash = hash_password("a long enough secret").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let users =
            UserTable::from_config(&[entry("Dana", Role::Coordinator, None, &hash)], |_| true)
                .expect("valid");
        assert!(users.verify("dana", "a long enough secret").is_some());
        assert!(users.verify("Dana", "a wrong secret").is_none());
        assert!(users.verify("nobody", "a long enough secret").is_none());
        // The decoy is a real argon2id hash.
        assert!(PasswordHash::new(DECOY).is_ok());
    }

    #[test]
    fn bad_entries_are_refused_each_with_its_key() {
        let hash = hash_password("a long enough secret").expect("hash");
        let faults = UserTable::from_config(
            &[
                entry("a", Role::Admin, None, "plain text"),
                entry("b", Role::Specialist, None, &hash),
                entry("c", Role::Specialist, Some("ghost"), &hash),
                entry("d", Role::Coordinator, Some("erlan"), &hash),
                entry("e", Role::Admin, None, &hash),
                entry("E", Role::Admin, None, &hash),
            ],
            |id| id == "erlan",
        )
        .unwrap_err();
        let keys: Vec<(usize, &str)> = faults.iter().map(|f| (f.0, f.1)).collect();
        assert_eq!(
            keys,
            vec![
                (0, "password_hash"),
                (1, "role"),
                (2, "specialist"),
                (3, "specialist"),
                (5, "name")
            ]
        );
    }
}
