//! A caller remembered with consent: who may be remembered, and what the
//! call knows about a remembered caller when it starts.
//!
//! A caller agrees with one key at the end of a call (the plan's
//! `<remember>`); the next call from the same number is recognised by the
//! keyed hash of the number only ([`NumberGuard::hash`]), skips the language
//! menu and may be offered the specialist they last spoke to. A call with a
//! hidden or unusable number is never remembered: the same rule as for a
//! callback to the caller's own number ([`usable_caller_id`]), and a
//! `Privacy: id` or `user` header (RFC 3323) hides the number too.

use senim_sip::message;

use crate::callback_request::usable_caller_id;
use crate::caller::caller_number;
use crate::config::NumberGuard;

/// What the centre keeps of a remembered caller (besides the keyed hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// The caller's language (`kk`, `ru`).
    pub language: String,
    /// The specialist they spoke to last (an id of the roster).
    pub specialist: Option<String>,
    /// The service of that conversation (`legal`, `psychology`, ...).
    pub service: Option<String>,
}

/// Whether the INVITE asks for the caller's identity to be withheld.
fn hidden(invite: &rsip::Request) -> bool {
    message::header_values(invite, "Privacy").iter().any(|v| {
        v.split([';', ',', ' '])
            .any(|p| p.eq_ignore_ascii_case("id") || p.eq_ignore_ascii_case("user"))
    })
}

/// The key a caller is remembered by: the keyed hash of their number, or
/// `None` when the number is hidden (`anonymous`, `Privacy: id`) or not a
/// number at all. Only such a caller can be recognised or remembered.
pub fn memory_key(invite: &rsip::Request, numbers: &dyn NumberGuard) -> Option<String> {
    if hidden(invite) {
        return None;
    }
    let number = caller_number(invite).and_then(|n| usable_caller_id(&n))?;
    Some(numbers.hash(&number))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain;
    impl NumberGuard for Plain {
        fn hash(&self, number: &str) -> String {
            format!("h({number})")
        }
        fn seal(&self, number: &str) -> String {
            number.to_string()
        }
    }

    fn invite(from_user: &str, privacy: Option<&str>) -> rsip::Request {
        let privacy = privacy
            .map(|p| format!("Privacy: {p}\r\n"))
            .unwrap_or_default();
        let text = format!(
            "INVITE sip:100@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n\
             From: <sip:{from_user}@127.0.0.1>;tag=1\r\n\
             To: <sip:100@127.0.0.1>\r\n\
             Call-ID: a@b\r\n\
             CSeq: 1 INVITE\r\n\
             {privacy}Content-Length: 0\r\n\r\n"
        );
        rsip::Request::try_from(text.as_bytes()).unwrap()
    }

    #[test]
    fn only_a_shown_usable_number_can_be_remembered() {
        assert_eq!(
            memory_key(&invite("+77011234567", None), &Plain),
            Some("h(+77011234567)".into())
        );
        assert_eq!(memory_key(&invite("anonymous", None), &Plain), None);
        assert_eq!(memory_key(&invite("caller", None), &Plain), None);
        assert_eq!(memory_key(&invite("123", None), &Plain), None);
        assert_eq!(
            memory_key(&invite("+77011234567", Some("id")), &Plain),
            None
        );
        assert_eq!(
            memory_key(&invite("+77011234567", Some("header;user")), &Plain),
            None
        );
        assert!(memory_key(&invite("+77011234567", Some("none")), &Plain).is_some());
    }
}
