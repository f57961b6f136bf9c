//! Reading a message head: where it ends, its unfolded lines, the start line, and the small
//! number and CSeq grammars shared by the parser, the TCP framer and the header accessors.

use rsip::Method;

use super::error::ParseError;
use super::grammar::is_token;

/// Position of the end of the head: (end of the last header line, start of the body).
/// Accepts CRLF CRLF and, leniently, LF LF / LF CRLF.
pub(super) fn find_head_end(b: &[u8]) -> Option<(usize, usize)> {
    for (i, c) in b.iter().enumerate() {
        if *c != b'\n' {
            continue;
        }
        match (b.get(i + 1), b.get(i + 2)) {
            (Some(b'\n'), _) => return Some((i + 1, i + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((i + 1, i + 3)),
            _ => {}
        }
    }
    None
}

/// Split a head into the start line and unfolded header lines.
pub(super) fn logical_lines(head: &str) -> Result<(String, Vec<String>), ParseError> {
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next().unwrap_or("").to_string();
    let mut headers: Vec<String> = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match headers.last_mut() {
                Some(last) => {
                    last.push(' ');
                    last.push_str(line.trim());
                }
                None => {
                    return Err(ParseError::HeaderLine(
                        "continuation line after the start line".into(),
                    ))
                }
            }
        } else {
            headers.push(line.to_string());
        }
    }
    Ok((start, headers))
}

/// A request line or a status line, split into its parts.
pub(super) enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

/// Reads the request or status line (only SIP/2.0 is accepted).
pub(super) fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    let bad = || ParseError::StartLine(truncate(line, 120));
    if starts_with_ci(line, "SIP/") {
        let (version, rest) = line.split_once(' ').ok_or_else(bad)?;
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(ParseError::Version(truncate(version, 40)));
        }
        let code = rest.get(..3).ok_or_else(bad)?;
        let after = rest.get(3..).ok_or_else(bad)?;
        if !code.bytes().all(|b| b.is_ascii_digit())
            || !(after.is_empty() || after.starts_with(' '))
        {
            return Err(bad());
        }
        let code: u16 = code.parse().map_err(|_| bad())?;
        if !(100..=699).contains(&code) {
            return Err(bad());
        }
        return Ok(StartLine::Response {
            code,
            reason: after.trim().to_string(),
        });
    }
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts.as_slice() else {
        return Err(bad());
    };
    let (method, uri, version) = (*method, *uri, *version);
    if uri.is_empty() {
        return Err(bad());
    }
    if !is_token(method) {
        return Err(bad());
    }
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        if starts_with_ci(version, "SIP/") {
            return Err(ParseError::Version(truncate(version, 40)));
        }
        return Err(bad());
    }
    Ok(StartLine::Request {
        method: method.to_string(),
        uri: uri.to_string(),
    })
}

/// ASCII case-insensitive prefix test that never slices inside a UTF-8 character.
pub(super) fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|b| b.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// At most `max` characters of `s`, for error messages.
pub(super) fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// rsip's method for a token (case-sensitive, as RFC 3261 requires).
pub fn method_from_str(s: &str) -> Option<Method> {
    Method::all().into_iter().find(|m| m.to_string() == s)
}

/// A CSeq value: a number below 2^31 and a method token.
pub(super) fn parse_cseq_value(value: &str) -> Result<(u32, String), String> {
    let mut parts = value.split_whitespace();
    let num = parts.next().ok_or("empty CSeq")?;
    let method = parts.next().ok_or("CSeq without method")?;
    if parts.next().is_some() {
        return Err("junk after CSeq method".into());
    }
    if !num.bytes().all(|b| b.is_ascii_digit()) || !is_token(method) {
        return Err("bad CSeq".into());
    }
    let num = num.trim_start_matches('0');
    let n: u64 = if num.is_empty() {
        0
    } else if num.len() > 10 {
        return Err("CSeq number too large".into());
    } else {
        num.parse().map_err(|_| "bad CSeq number")?
    };
    // RFC 3261 §8.1.1.5: the sequence number MUST be less than 2**31.
    if n >= 1 << 31 {
        return Err("CSeq number too large".into());
    }
    Ok((n as u32, method.to_string()))
}

/// A decimal number no larger than `max` (leading zeros allowed).
pub(super) fn parse_small_number(value: &str, max: u64) -> Option<u64> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v = v.trim_start_matches('0');
    if v.is_empty() {
        return Some(0);
    }
    if v.len() > 19 {
        return None;
    }
    v.parse::<u64>().ok().filter(|n| *n <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_lines() {
        assert!(parse_start_line("SIP/2.0 200").is_ok());
        assert!(parse_start_line("SIP/2.0 20").is_err());
        assert!(parse_start_line("SIP/2.0 099 x").is_err());
        assert!(matches!(
            parse_start_line("SIP/3.0 200 OK"),
            Err(ParseError::Version(_))
        ));
        assert!(parse_start_line("INVITE  sip:a@b SIP/2.0").is_err());
        assert!(parse_start_line("INVITE sip:a@b SIP/2.0 ").is_err());
        assert!(parse_start_line("\u{e9}\u{e9} sip:a@b SIP/2.0").is_err());
        assert!(!starts_with_ci("\u{e9}\u{e9}\u{e9}", "SIP/"));
    }
}
