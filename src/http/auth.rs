//! Bearer tokens with roles for the API under `/api/v1/`.
//!
//! The configuration holds only the SHA-256 of each token (`[[api.token]]`
//! with `name`, `role`, `sha256`, and `specialist` for the specialist role),
//! so a leaked configuration file gives no working token. A presented token
//! is hashed and compared with every configured hash in constant time.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including the caller hash and the audit log.
    Admin,
    /// Call records (without caller hashes) and specialists.
    Coordinator,
    /// The specialists' status, and pausing or resuming themselves.
    Specialist,
}

impl Role {
    /// Does `specialist` go with this role (a token's or a web user's)?
    /// Role specialist names a configured specialist; the others name
    /// none. Otherwise the key at fault and what is wrong.
    pub fn check_specialist(
        self,
        specialist: Option<&str>,
        exists: impl Fn(&str) -> bool,
    ) -> Result<(), (&'static str, String)> {
        match (self, specialist) {
            (Role::Specialist, None) => Err((
                "role",
                "role specialist needs `specialist`, the id of a [[specialist]]".into(),
            )),
            (Role::Specialist, Some(id)) if !exists(id) => {
                Err(("specialist", format!("no [[specialist]] with id {id:?}")))
            }
            (Role::Admin | Role::Coordinator, Some(_)) => Err((
                "specialist",
                "`specialist` is only for role specialist".into(),
            )),
            _ => Ok(()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
            Role::Specialist => "specialist",
        }
    }
}

/// One configured token (`[[api.token]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds the token; written to the audit log.
    pub name: String,
    pub role: Role,
    /// SHA-256 of the token, 64 hex digits (`senim token` prints it).
    pub sha256: String,
    /// For role `specialist`: their id from `[[specialist]]`.
    #[serde(default)]
    pub specialist: Option<String>,
}

/// The `[api]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The tokens (`[[api.token]]`). None: every `/api/v1/` request is refused.
    #[serde(rename = "token")]
    pub tokens: Vec<TokenConfig>,
}

/// Who made a request, once their token is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's configured name.
    pub name: String,
    pub role: Role,
    /// The specialist's id, for role `specialist`.
    pub specialist: Option<String>,
}

impl Caller {
    /// May this caller pause or resume specialist `id`?
    pub fn may_pause(&self, id: &str) -> bool {
        match self.role {
            Role::Admin | Role::Coordinator => true,
            Role::Specialist => self.specialist.as_deref() == Some(id),
        }
    }
}

struct Token {
    hash: [u8; 32],
    caller: Caller,
}

/// The configured tokens, checked and ready to compare.
#[derive(Default)]
pub struct TokenTable {
    tokens: Vec<Token>,
}

impl std::fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenTable({} tokens)", self.tokens.len())
    }
}

/// A fault of one `[[api.token]]`: its index, the key and what is wrong.
pub type TokenFault = (usize, &'static str, String);

impl TokenTable {
    /// Check the configured tokens: a name each (unique), 64 hex digits,
    /// no hash twice, and for role `specialist` an id from `specialists`
    /// (and no `specialist` key for the other roles).
    pub fn from_config(
        config: &ApiConfig,
        specialist_exists: impl Fn(&str) -> bool,
    ) -> Result<TokenTable, Vec<TokenFault>> {
        let mut tokens: Vec<Token> = Vec::with_capacity(config.tokens.len());
        let mut faults: Vec<TokenFault> = Vec::new();
        for (i, t) in config.tokens.iter().enumerate() {
            let which = if t.name.trim().is_empty() {
                format!("token {}", i + 1)
            } else {
                format!("token {:?}", t.name)
            };
            let mut bad = |key: &'static str, message: String| faults.push((i, key, message));
            if t.name.trim().is_empty() || t.name.chars().any(char::is_control) {
                bad(
                    "name",
                    format!("{which}: `name` must be a non-empty line of text"),
                );
                continue;
            }
            if t.sha256.trim().starts_with(TOKEN_PREFIX) {
                bad(
                    "sha256",
                    format!(
                        "{which}: `sha256` holds a token, not its hash: the token must not be in \
                         the configuration. Give that token up (it has been written down), make a \
                         new one with `senim token`, and paste the `sha256 = ...` line it prints"
                    ),
                );
                continue;
            }
            let Some(hash) = hex::decode(t.sha256.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            else {
                bad(
                    "sha256",
                    format!(
                        "{which}: `sha256` must be 64 hex digits (the SHA-256 of the token; \
                         `senim token` prints one)"
                    ),
                );
                continue;
            };
            if let Err((key, message)) = t
                .role
                .check_specialist(t.specialist.as_deref(), &specialist_exists)
            {
                bad(key, format!("{which}: {message}"));
                continue;
            }
            if tokens.iter().any(|o| o.caller.name == t.name) {
                bad(
                    "name",
                    format!("{which}: the name is used by another token"),
                );
                continue;
            }
            if tokens.iter().any(|o| o.hash == hash) {
                bad(
                    "sha256",
                    format!("{which}: the same token is configured twice"),
                );
                continue;
            }
            tokens.push(Token {
                hash,
                caller: Caller {
                    name: t.name.clone(),
                    role: t.role,
                    specialist: t.specialist.clone(),
                },
            });
        }
        if !faults.is_empty() {
            return Err(faults);
        }
        Ok(TokenTable { tokens })
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The holder of `presented`, if it is a configured token. Every
    /// configured hash is compared, each in constant time.
    pub fn check(&self, presented: &str) -> Option<&Caller> {
        let hash = sha256(presented);
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.hash.ct_eq(&hash)) {
                found = Some(&t.caller);
            }
        }
        found
    }
}

fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The hex SHA-256 of a token, as written in `[[api.token]] sha256`.
pub fn token_sha256_hex(token: &str) -> String {
    hex::encode(sha256(token))
}

/// What every token made by `senim token` starts with: a token pasted
/// where its hash belongs is then told apart and refused.
pub const TOKEN_PREFIX: &str = "senim_";

/// A new random token: `senim_` and 32 bytes from the OS generator as 64
/// hex digits.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// The bearer token of a request, if it has one (`Authorization: Bearer ...`).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Why a request was refused before its handler ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No token.
    Missing,
    /// A token that is not configured.
    Invalid,
    /// A valid token whose role may not use this route.
    Forbidden,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let (status, challenge, message) = match self {
            Denied::Missing => (
                StatusCode::UNAUTHORIZED,
                Some(r#"Bearer realm="senim""#),
                "authentication required",
            ),
            Denied::Invalid => (
                StatusCode::UNAUTHORIZED,
                Some(r#"Bearer realm="senim", error="invalid_token""#),
                "authentication required",
            ),
            Denied::Forbidden => (StatusCode::FORBIDDEN, None, "forbidden for this role"),
        };
        let mut response =
            (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
        if let Some(c) = challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        response
    }
}

/// Decide a request: who it is from and whether the route allows their role.
pub fn authorize(
    tokens: &TokenTable,
    headers: &HeaderMap,
    roles: &[Role],
) -> Result<Caller, Denied> {
    let presented = bearer(headers).ok_or(Denied::Missing)?;
    let caller = tokens.check(presented).ok_or(Denied::Invalid)?;
    if roles.contains(&caller.role) {
        Ok(caller.clone())
    } else {
        Err(Denied::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(entries: &[(&str, Role, &str, Option<&str>)]) -> ApiConfig {
        ApiConfig {
            tokens: entries
                .iter()
                .map(|(name, role, token, specialist)| TokenConfig {
                    name: name.to_string(),
                    role: *role,
                    sha256: token_sha256_hex(token),
                    specialist: specialist.map(str::to_string),
                })
                .collect(),
        }
    }

    fn table() -> TokenTable {
        TokenTable::from_config(
            &config(&[
                ("boss", Role::Admin, "admin-token", None),
                ("coord", Role::Coordinator, "coord-token", None),
                ("erlan", Role::Specialist, "erlan-token", Some("erlan")),
            ]),
            |id| id == "erlan",
        )
        .unwrap()
    }

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn hash_is_sha256_hex_of_the_token_text() {
        // printf %s abc | sha256sum
        assert_eq!(
            token_sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = new_token();
        assert!(t.starts_with(TOKEN_PREFIX));
        assert_eq!(t.len(), TOKEN_PREFIX.len() + 64);
        assert_ne!(t, new_token());
    }

    #[test]
    fn a_token_pasted_where_its_hash_belongs_is_refused() {
        let token = new_token();
        let config = ApiConfig {
            tokens: vec![TokenConfig {
                name: "Dana".into(),
                role: Role::Coordinator,
                specialist: None,
                sha256: token.clone(),
            }],
        };
        let err = TokenTable::from_config(&config, |_| true)
            .unwrap_err()
            .remove(0)
            .2;
        assert!(err.contains("holds a token, not its hash"), "{err}");
        assert!(
            !err.contains(&token),
            "the message does not repeat the token"
        );
    }

    #[test]
    fn tokens_are_recognised_by_their_hash_only() {
        let t = table();
        assert_eq!(t.check("admin-token").unwrap().role, Role::Admin);
        assert_eq!(t.check("coord-token").unwrap().name, "coord");
        assert!(t.check("admin-token ").is_none());
        assert!(t.check("").is_none());
        assert!(t.check(&token_sha256_hex("admin-token")).is_none());
    }

    #[test]
    fn roles_and_status_codes() {
        let t = table();
        let admin_only = &[Role::Admin];
        let staff = &[Role::Admin, Role::Coordinator];
        assert_eq!(
            authorize(&t, &HeaderMap::new(), staff),
            Err(Denied::Missing)
        );
        assert_eq!(
            authorize(&t, &headers("Bearer nope"), staff),
            Err(Denied::Invalid)
        );
        assert_eq!(
            authorize(&t, &headers("Basic coord-token"), staff),
            Err(Denied::Missing)
        );
        assert!(authorize(&t, &headers("Bearer coord-token"), staff).is_ok());
        assert!(authorize(&t, &headers("bearer  coord-token"), staff).is_ok());
        assert_eq!(
            authorize(&t, &headers("Bearer coord-token"), admin_only),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            authorize(&t, &headers("Bearer erlan-token"), staff),
            Err(Denied::Forbidden)
        );
        for d in [Denied::Missing, Denied::Invalid] {
            let r = d.into_response();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            assert!(r.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer"));
        }
        assert_eq!(
            Denied::Forbidden.into_response().status(),
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn a_specialist_pauses_only_themselves() {
        let t = table();
        let erlan = t.check("erlan-token").unwrap();
        assert!(erlan.may_pause("erlan"));
        assert!(!erlan.may_pause("aigerim"));
        assert!(t.check("coord-token").unwrap().may_pause("aigerim"));
    }

    #[test]
    fn bad_token_entries_are_refused_at_load() {
        let exists = |id: &str| id == "erlan";
        let err = |c: ApiConfig| {
            TokenTable::from_config(&c, exists)
                .unwrap_err()
                .into_iter()
                .map(|f| f.2)
                .collect::<Vec<_>>()
                .join("\n")
        };
        let e = err(config(&[("x", Role::Specialist, "t", None)]));
        assert!(e.contains("needs `specialist`"), "{e}");
        let e = err(config(&[("x", Role::Specialist, "t", Some("nobody"))]));
        assert!(e.contains("nobody"), "{e}");
        let e = err(config(&[("x", Role::Admin, "t", Some("erlan"))]));
        assert!(e.contains("only for role specialist"), "{e}");
        let e = err(config(&[
            ("x", Role::Admin, "t", None),
            ("x", Role::Admin, "u", None),
        ]));
        assert!(e.contains("name"), "{e}");
        let e = err(config(&[
            ("x", Role::Admin, "t", None),
            ("y", Role::Coordinator, "t", None),
        ]));
        assert!(e.contains("twice"), "{e}");
        let mut c = config(&[("x", Role::Admin, "t", None)]);
        c.tokens[0].sha256 = "not hex".into();
        assert!(err(c).contains("64 hex digits"));
        let mut c = config(&[("x", Role::Admin, "t", None)]);
        c.tokens[0].sha256 = "abcd".into();
        assert!(err(c).contains("64 hex digits"));
    }
}
