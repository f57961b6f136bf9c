//! Lines: the centre's numbers, each starting the dialplan at its own node.
//!
//! A call's called number is read from its INVITE: the Request-URI user,
//! else the `To` user, else the first `Diversion` (RFC 5806) entry, else the
//! first `History-Info` (RFC 7044) entry. Users that are not phone numbers
//! (`sip:centre@…`) are passed over, and so is the contact user Senim
//! registered with at the trunk (a registering provider puts it in the
//! Request-URI), unless nothing else is a number. Numbers are compared in a
//! normalised form (see [`normalise_number`]), so `+7 7232 000000`,
//! `87232000000` and `77232000000` are one number.

use rsip::prelude::*;

/// A line: calls to `number` start the dialplan at `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The number, normalised ([`normalise_number`]).
    pub number: String,
    /// The dialplan node its calls start at.
    pub start: String,
    /// A name for people ("children's line"), if given.
    pub name: Option<String>,
}

impl Line {
    /// A line for `number` as written in the configuration; `None` when it
    /// is not a phone number.
    pub fn new(number: &str, start: impl Into<String>, name: Option<String>) -> Option<Line> {
        Some(Line {
            number: normalise_number(number)?,
            start: start.into(),
            name,
        })
    }
}

/// A phone number in the form lines are compared in: digits only (a
/// leading `+`, spaces, `-`, `.` and brackets dropped), and a Kazakh
/// national `8` followed by ten digits written as `7` (the country code).
/// `None` when the text is not a phone number (letters, nothing, too long).
pub fn normalise_number(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text
        .strip_prefix("%2B")
        .or_else(|| text.strip_prefix("%2b"))
        .or_else(|| text.strip_prefix('+'))
        .unwrap_or(text);
    let mut digits = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    if digits.len() == 11 && digits.starts_with('8') {
        digits.replace_range(..1, "7");
    }
    Some(digits)
}

/// The user part of a URI written as text (`sip:`, `sips:` or `tel:`),
/// without its parameters; `None` when it has none.
fn uri_user(uri: &str) -> Option<&str> {
    let uri = uri.trim();
    let lower = uri
        .get(..5)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let rest = if lower.starts_with("sips:") {
        uri.get(5..)?
    } else if lower.starts_with("sip:") || lower.starts_with("tel:") {
        uri.get(4..)?
    } else {
        return None;
    };
    let user = if lower.starts_with("tel:") {
        rest
    } else {
        rest.split_once('@')?.0
    };
    let user = user.split([';', '?', '>']).next().unwrap_or("");
    (!user.is_empty()).then_some(user)
}

/// The URI of the first entry of a header value that lists name-addrs
/// (`<sip:…>;params, <sip:…>`, or a bare URI up to its parameters).
fn first_entry_uri(value: &str) -> Option<&str> {
    let value = value.trim();
    match value.find('<') {
        // A display name may come first; the URI is inside the brackets.
        Some(open) if !value[..open].contains(',') => {
            let rest = &value[open + 1..];
            Some(&rest[..rest.find('>')?])
        }
        _ => {
            let entry = value.split(',').next()?;
            Some(entry.split(';').next().unwrap_or(entry).trim())
        }
    }
}

/// The first value of a header that rsip does not know, by name (any case).
fn other_header<'a>(request: &'a rsip::Request, name: &str) -> Option<&'a str> {
    request.headers.iter().find_map(|h| match h {
        rsip::Header::Other(n, v) if n.eq_ignore_ascii_case(name) => Some(v.as_str()),
        _ => None,
    })
}

/// The called number of an INVITE, normalised: the Request-URI user, else
/// the `To` user, else the first `Diversion` entry, else the first
/// `History-Info` entry, each only when it is a phone number. A number
/// equal to `contact_user` (the trunk registration's contact user) is taken
/// only when no other is found.
pub fn called_number(invite: &rsip::Request, contact_user: Option<&str>) -> Option<String> {
    let to = invite
        .to_header()
        .ok()
        .and_then(|h| h.typed().ok())
        .and_then(|t| t.uri.user().map(str::to_string));
    let candidates = [
        invite.uri.user().map(str::to_string),
        to,
        other_header(invite, "Diversion")
            .and_then(first_entry_uri)
            .and_then(uri_user)
            .map(str::to_string),
        other_header(invite, "History-Info")
            .and_then(first_entry_uri)
            .and_then(uri_user)
            .map(str::to_string),
    ];
    let mut contact = None;
    for user in candidates.iter().flatten() {
        let user = user.split(';').next().unwrap_or(user);
        if contact_user.is_some_and(|c| c == user) {
            contact = contact.or_else(|| normalise_number(user));
            continue;
        }
        if let Some(n) = normalise_number(user) {
            return Some(n);
        }
    }
    contact
}

/// The line a call to `called` (normalised) belongs to.
pub fn line_of<'a>(lines: &'a [Line], called: &str) -> Option<&'a Line> {
    lines.iter().find(|l| l.number == called)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> rsip::Request {
        let text = format!("{text}Content-Length: 0\r\n\r\n");
        match senim_sip::message::parse(text.as_bytes()).expect("parses") {
            rsip::SipMessage::Request(r) => r,
            rsip::SipMessage::Response(_) => panic!("a request"),
        }
    }

    fn invite(ruri_user: &str, to_user: &str, extra: &str) -> rsip::Request {
        request(&format!(
            "INVITE sip:{ruri_user}@192.0.2.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-1\r\nMax-Forwards: 70\r\nFrom: <sip:+77011234567@203.0.113.5>;tag=a\r\nTo: <sip:{to_user}@192.0.2.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n{extra}"
        ))
    }

    #[test]
    fn numbers_are_normalised() {
        for (text, out) in [
            ("+77232000000", Some("77232000000")),
            ("87232000000", Some("77232000000")),
            ("77232000000", Some("77232000000")),
            ("+7 7232 00-00-00", Some("77232000000")),
            ("8 (7232) 000000", Some("77232000000")),
            ("%2B77232000000", Some("77232000000")),
            ("8 800 080 77 71", Some("78000807771")),
            ("150", Some("150")),
            ("8150", Some("8150")),
            ("+442079460000", Some("442079460000")),
            ("centre", None),
            ("", None),
            ("+", None),
            ("7723a", None),
        ] {
            assert_eq!(normalise_number(text).as_deref(), out, "{text:?}");
        }
        assert_eq!(
            Line::new("8 7232 000000", "main", None).map(|l| l.number),
            Some("77232000000".into())
        );
        assert!(Line::new("kids", "main", None).is_none());
    }

    #[test]
    fn the_called_number_comes_from_the_request_uri_then_to() {
        let i = invite("+77232000001", "centre", "");
        assert_eq!(called_number(&i, None).as_deref(), Some("77232000001"));
        let i = invite("centre", "87232000002", "");
        assert_eq!(called_number(&i, None).as_deref(), Some("77232000002"));
        let i = invite("87232000003;npdi", "centre", "");
        assert_eq!(called_number(&i, None).as_deref(), Some("77232000003"));
        let i = invite("centre", "centre", "");
        assert_eq!(called_number(&i, None), None);
    }

    #[test]
    fn diversion_then_history_info() {
        let i = invite(
            "senim",
            "senim",
            "Diversion: \"Kids\" <sip:+77232000004@provider.kz;user=phone>;reason=unconditional;counter=1, <sip:+77232000009@provider.kz>;reason=user-busy\r\nHistory-Info: <sip:+77232000005@provider.kz>;index=1, <sip:senim@192.0.2.1>;index=1.1\r\n",
        );
        assert_eq!(called_number(&i, None).as_deref(), Some("77232000004"));
        let i = invite(
            "senim",
            "senim",
            "History-Info: <sip:87232000005@provider.kz?Reason=SIP%3Bcause%3D302>;index=1, <sip:senim@192.0.2.1>;index=1.1\r\n",
        );
        assert_eq!(called_number(&i, None).as_deref(), Some("77232000005"));
        let i = invite(
            "senim",
            "senim",
            "History-Info: <tel:+77232000006;phone-context=kz>;index=1\r\n",
        );
        assert_eq!(called_number(&i, None).as_deref(), Some("77232000006"));
    }

    #[test]
    fn the_registration_contact_user_is_passed_over() {
        // A provider forwards to the registered Contact: the Request-URI
        // user is Senim's account there, the To user the dialled number.
        let i = invite("77230000000", "+77232000001", "");
        assert_eq!(
            called_number(&i, Some("77230000000")).as_deref(),
            Some("77232000001")
        );
        // ... unless it is the only number there is.
        let i = invite("77230000000", "centre", "");
        assert_eq!(
            called_number(&i, Some("77230000000")).as_deref(),
            Some("77230000000")
        );
        // Without registration it is just the number.
        let i = invite("77230000000", "+77232000001", "");
        assert_eq!(called_number(&i, None).as_deref(), Some("77230000000"));
    }

    #[test]
    fn lines_match_in_any_written_form() {
        let lines = vec![
            Line::new("+77232000000", "greeting", None).unwrap(),
            Line::new("8 7232 000001", "kids", Some("children's line".into())).unwrap(),
        ];
        for dialled in ["+77232000001", "87232000001", "77232000001"] {
            let i = invite(dialled, "centre", "");
            let called = called_number(&i, None).unwrap();
            assert_eq!(
                line_of(&lines, &called).map(|l| l.start.as_str()),
                Some("kids")
            );
        }
        let i = invite("+77232000002", "centre", "");
        assert!(line_of(&lines, &called_number(&i, None).unwrap()).is_none());
    }
}
