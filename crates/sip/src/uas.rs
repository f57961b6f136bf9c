//! The RFC 3261 §8.2.2 checks a UAS makes of a request it takes, after the method is known to
//! be one it handles and before the method's own processing: the Request-URI's scheme
//! (§8.2.2.1, 416) and the extensions in Require (§8.2.2.3, 420 with Unsupported).
//!
//! ACK and CANCEL are never checked (§8.2.2.3: Require must not be used in them, and an ACK gets
//! no response). The registrar makes the same checks for REGISTER itself (§10.3 steps 1 and 2).

use rsip::{Method, Request, Response};

use crate::message;

/// Request-URI schemes Senim serves: SIP and SIPS, and `tel` (RFC 3966), which names a dialled
/// number as well as a SIP URI's user part does.
pub const SCHEMES: [&str; 3] = ["sip", "sips", "tel"];

/// Why a request is refused before its method's processing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The Request-URI's scheme is not one of [`SCHEMES`] (answer 416).
    #[error("unsupported Request-URI scheme {0:?}")]
    UnsupportedScheme(String),
    /// Require names option tags not in the supported list (answer 420, listing them in
    /// Unsupported).
    #[error("unsupported extensions required: {}", .0.join(", "))]
    BadExtension(Vec<String>),
}

impl Refusal {
    /// The status code of the response.
    pub fn status_code(&self) -> u16 {
        match self {
            Refusal::UnsupportedScheme(_) => 416,
            Refusal::BadExtension(_) => 420,
        }
    }

    /// The response to `request`: 416, or 420 with an Unsupported header; `to_tag` as in
    /// [`message::response`].
    pub fn response(&self, request: &Request, to_tag: Option<&str>) -> Response {
        let code = self.status_code();
        let mut response = message::response(request, code, message::reason_phrase(code), to_tag);
        if let Refusal::BadExtension(tags) = self {
            response
                .headers
                .push(message::make_header("Unsupported", &tags.join(", ")));
        }
        response
    }
}

/// Longest option tag echoed in Unsupported, and most tags echoed: what a peer sends is
/// reflected, so it is bounded.
const MAX_TAG: usize = 64;
const MAX_TAGS: usize = 16;

/// Check `request` (§8.2.2.1 and §8.2.2.3): its Request-URI scheme must be one of [`SCHEMES`]
/// and every option tag in its Require headers must be in `supported` (compared
/// case-insensitively, RFC 3261 §19.2). ACK and CANCEL always pass.
pub fn check(request: &Request, supported: &[&str]) -> Result<(), Refusal> {
    if matches!(request.method, Method::Ack | Method::Cancel) {
        return Ok(());
    }
    let scheme = match &request.uri.scheme {
        None => "sip".to_string(),
        Some(rsip::Scheme::Sip) => "sip".to_string(),
        Some(rsip::Scheme::Sips) => "sips".to_string(),
        Some(rsip::Scheme::Other(other)) => other.to_ascii_lowercase(),
    };
    if !SCHEMES.contains(&scheme.as_str()) {
        return Err(Refusal::UnsupportedScheme(
            scheme.chars().take(MAX_TAG).collect(),
        ));
    }
    let unsupported: Vec<String> = message::header_values(request, "Require")
        .into_iter()
        .flat_map(message::split_commas)
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .filter(|tag| !supported.iter().any(|s| s.eq_ignore_ascii_case(tag)))
        .take(MAX_TAGS)
        .map(|tag| tag.chars().take(MAX_TAG).collect())
        .collect();
    if unsupported.is_empty() {
        Ok(())
    } else {
        Err(Refusal::BadExtension(unsupported))
    }
}
