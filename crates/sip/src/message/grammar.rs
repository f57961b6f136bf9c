//! Small lexical pieces of the SIP grammar shared by the header parsers: tokens, quoted
//! strings, comma-separated values, `;name=value` parameters and `host[:port]`.

/// A character allowed in an RFC 3261 token.
pub(super) fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// A non-empty RFC 3261 token.
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

/// Index of the closing quote of a quoted string that starts at `s[0] == '"'`.
pub(super) fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some(i);
        }
    }
    None
}

/// Split a header value at commas that are outside quotes and angle brackets.
pub fn split_commas(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut angle = false;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '<' => angle = true,
            '>' => angle = false,
            ',' if !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out
}

/// A `;name[=value]` parameter list; names keep their case, values keep quotes.
pub type Params = Vec<(String, Option<String>)>;

/// Parse `;a=b ; c ;d="x y"` (whitespace around `;` and `=` allowed).
pub fn parse_params(input: &str) -> Result<Params, String> {
    let mut out = Vec::new();
    let mut rest = input.trim();
    while !rest.is_empty() {
        rest = rest
            .strip_prefix(';')
            .ok_or_else(|| format!("expected ';' at {rest:?}"))?
            .trim_start();
        let name_end = rest
            .find(|c: char| c == '=' || c == ';' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() {
            return Err("empty parameter".into());
        }
        if !name
            .chars()
            .all(|c| is_token_char(c) || c == '[' || c == ']' || c == ':')
        {
            return Err(format!("bad parameter name {name:?}"));
        }
        rest = rest[name_end..].trim_start();
        if let Some(after_eq) = rest.strip_prefix('=') {
            let v = after_eq.trim_start();
            let (value, after) = if v.starts_with('"') {
                let end = closing_quote(v).ok_or("unterminated quoted parameter value")?;
                (&v[..=end], &v[end + 1..])
            } else {
                let end = v
                    .find(|c: char| c == ';' || c.is_whitespace())
                    .unwrap_or(v.len());
                (&v[..end], &v[end..])
            };
            if value.is_empty() {
                return Err(format!("parameter {name} has an empty value"));
            }
            out.push((name.to_string(), Some(value.to_string())));
            rest = after.trim_start();
        } else {
            out.push((name.to_string(), None));
        }
    }
    Ok(out)
}

/// Appends `;name[=value]` for each parameter.
pub(super) fn write_params(out: &mut String, params: &Params) {
    for (name, value) in params {
        out.push(';');
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
}

/// The value slot of a parameter (names compared case-insensitively).
pub(super) fn find_param<'a>(params: &'a Params, name: &str) -> Option<&'a Option<String>> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Splits and checks `host[:port]` (an IPv6 host keeps its brackets).
pub(super) fn split_host_port(s: &str) -> Result<(&str, Option<u16>), String> {
    if s.is_empty() {
        return Err("empty host".into());
    }
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']').ok_or("unterminated IPv6 reference")?;
        let host = &s[..=end];
        let rest = &s[end + 1..];
        match rest.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if rest.is_empty() => (host, None),
            None => return Err("junk after IPv6 reference".into()),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let host_ok = if host.starts_with('[') {
        host.len() > 2
            && host[1..host.len() - 1]
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    };
    if !host_ok {
        return Err(format!("bad host {host:?}"));
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| format!("bad port {p:?}"))?),
        None => None,
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_commas() {
        assert_eq!(closing_quote(r#""a\"b" x"#), Some(5));
        assert_eq!(closing_quote(r#""unterminated"#), None);
        assert_eq!(
            split_commas(r#""a, b" <sip:x@y;p=1,2>, <sip:z@w>"#),
            vec![r#""a, b" <sip:x@y;p=1,2>"#, "<sip:z@w>"]
        );
        assert_eq!(split_commas(""), vec![""]);
    }

    #[test]
    fn params_with_lws() {
        let p = parse_params(" ; tag = x ;lr; q=\"a b\"").unwrap();
        assert_eq!(
            p,
            vec![
                ("tag".to_string(), Some("x".to_string())),
                ("lr".to_string(), None),
                ("q".to_string(), Some("\"a b\"".to_string())),
            ]
        );
        assert!(parse_params(";;").is_err());
        assert!(parse_params(";a=").is_err());
        assert!(parse_params("junk").is_err());
    }
}
