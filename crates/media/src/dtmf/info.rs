//! DTMF in SIP INFO bodies: `application/dtmf-relay` and `application/dtmf`.

use super::digit::Digit;
use thiserror::Error;

/// Why a SIP INFO body carries no usable digit.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DtmfError {
    /// The content type is neither application/dtmf-relay nor application/dtmf.
    #[error("unsupported content type {0:?} for DTMF")]
    UnsupportedContentType(String),
    /// The body is not UTF-8 text.
    #[error("DTMF body is not UTF-8")]
    NotText,
    /// An application/dtmf-relay body without a `Signal=` line.
    #[error("no Signal= line in application/dtmf-relay body")]
    MissingSignal,
    /// The signal is not one of 0-9, *, #, A-D (or event codes 0-15).
    #[error("invalid DTMF signal {0:?}")]
    InvalidSignal(String),
}

/// Longest value echoed back in an error.
const MAX_ECHO: usize = 32;

fn echo(s: &str) -> String {
    s.chars().take(MAX_ECHO).collect()
}

fn signal_to_digit(value: &str) -> Result<Digit, DtmfError> {
    let v = value.trim();
    let mut chars = v.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if let Some(d) = Digit::from_char(c) {
            return Ok(d);
        }
    }
    // Some gateways send the RFC 4733 event code ("10" for *, "11" for #).
    if let Ok(code) = v.parse::<u8>() {
        if let Some(d) = Digit::from_event_code(code) {
            return Ok(d);
        }
    }
    Err(DtmfError::InvalidSignal(echo(v)))
}

/// Parse a SIP INFO body carrying DTMF.
///
/// * `application/dtmf-relay`: `Signal=1\r\nDuration=160`; keys are case-insensitive,
///   spaces around `=` and LF-only line ends are tolerated, other lines ignored.
/// * `application/dtmf`: the body is the key (`1`, `*`, or an event code `10`).
///
/// The content type is compared case-insensitively, parameters are ignored.
pub fn parse_info_body(content_type: &str, body: &[u8]) -> Result<Digit, DtmfError> {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let relay = mime.eq_ignore_ascii_case("application/dtmf-relay");
    if !relay && !mime.eq_ignore_ascii_case("application/dtmf") {
        return Err(DtmfError::UnsupportedContentType(echo(content_type)));
    }
    let text = std::str::from_utf8(body).map_err(|_| DtmfError::NotText)?;
    if !relay {
        return signal_to_digit(text);
    }
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("signal") {
            return signal_to_digit(value);
        }
    }
    Err(DtmfError::MissingSignal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ct: &str, body: &str) -> char {
        parse_info_body(ct, body.as_bytes()).unwrap().as_char()
    }

    #[test]
    fn relay_variants() {
        let ct = "application/dtmf-relay";
        assert_eq!(ok(ct, "Signal=1\r\nDuration=160\r\n"), '1');
        assert_eq!(ok(ct, "Signal= 5\nDuration= 250\n"), '5');
        assert_eq!(ok(ct, "signal = #\r\n"), '#');
        assert_eq!(ok(ct, "Duration=100\r\nSIGNAL=*"), '*');
        assert_eq!(ok(ct, "Signal=10\r\nDuration=160"), '*');
        assert_eq!(ok(ct, "Signal=11"), '#');
        assert_eq!(ok(ct, "Signal=d"), 'D');
        assert_eq!(ok("Application/DTMF-Relay; charset=utf-8", "Signal=0"), '0');
        assert_eq!(ok(" application/dtmf-relay ", "\r\n\r\nSignal=9\r\n"), '9');
    }

    #[test]
    fn plain_dtmf() {
        assert_eq!(ok("application/dtmf", "7"), '7');
        assert_eq!(ok("APPLICATION/DTMF", "7\r\n"), '7');
        assert_eq!(ok("application/dtmf", " # "), '#');
        assert_eq!(ok("application/dtmf", "11"), '#');
    }

    #[test]
    fn garbage() {
        let e = |ct: &str, b: &[u8]| parse_info_body(ct, b).unwrap_err();
        assert!(matches!(
            e("text/plain", b"Signal=1"),
            DtmfError::UnsupportedContentType(_)
        ));
        assert!(matches!(e("", b"1"), DtmfError::UnsupportedContentType(_)));
        assert_eq!(e("application/dtmf-relay", b""), DtmfError::MissingSignal);
        assert_eq!(
            e("application/dtmf-relay", b"Duration=1"),
            DtmfError::MissingSignal
        );
        assert!(matches!(
            e("application/dtmf-relay", b"Signal="),
            DtmfError::InvalidSignal(_)
        ));
        assert!(matches!(
            e("application/dtmf-relay", b"Signal=12345"),
            DtmfError::InvalidSignal(_)
        ));
        assert!(matches!(
            e("application/dtmf-relay", b"Signal=16"),
            DtmfError::InvalidSignal(_)
        ));
        assert!(matches!(
            e("application/dtmf", b"xy"),
            DtmfError::InvalidSignal(_)
        ));
        assert!(matches!(
            e("application/dtmf", b""),
            DtmfError::InvalidSignal(_)
        ));
        assert_eq!(e("application/dtmf", &[0xFF, 0xFE]), DtmfError::NotText);
        let long = "Signal=".to_string() + &"x".repeat(10_000);
        match e("application/dtmf-relay", long.as_bytes()) {
            DtmfError::InvalidSignal(s) => assert!(s.len() <= MAX_ECHO),
            other => panic!("{other:?}"),
        }
    }
}
