//! The name-addr / addr-spec values of From, To, Contact, Route and Record-Route ([`NameAddr`]).

use std::fmt;

use rsip::Uri;

use super::error::ParseError;
use super::grammar::{closing_quote, find_param, parse_params, write_params, Params};
use super::uri::parse_uri;

/// A From/To/Contact/Route value: optional display name, URI text and header parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name as written (quoted strings keep their quotes).
    pub display: Option<String>,
    /// The URI text (without angle brackets).
    pub uri: String,
    /// Header parameters (tag, expires, lr is a URI param and stays in `uri`...).
    pub params: Params,
}

impl NameAddr {
    /// Parse a name-addr (`"Name" <uri>;p=v`) or addr-spec (`uri;p=v`) value.
    pub fn parse(value: &str) -> Result<NameAddr, String> {
        let s = value.trim();
        let (display, uri, rest) = if s.starts_with('"') {
            let end = closing_quote(s).ok_or("unterminated quoted display name")?;
            let display = &s[..=end];
            let after = s[end + 1..].trim_start();
            let after = after
                .strip_prefix('<')
                .ok_or("expected '<' after the display name")?;
            let close = after.find('>').ok_or("missing '>'")?;
            (Some(display), after[..close].trim(), &after[close + 1..])
        } else if let Some(lt) = s.find('<') {
            let display = s[..lt].trim();
            let after = &s[lt + 1..];
            let close = after.find('>').ok_or("missing '>'")?;
            (
                (!display.is_empty()).then_some(display),
                after[..close].trim(),
                &after[close + 1..],
            )
        } else {
            let end = s.find(';').unwrap_or(s.len());
            let uri = s[..end].trim();
            if uri.contains(['?', ',', '"', '>']) {
                return Err("an addr-spec with '?' or ',' must be enclosed in <>".into());
            }
            (None, uri, &s[end..])
        };
        if uri.is_empty() || uri.contains(char::is_whitespace) {
            return Err(format!("bad URI {uri:?}"));
        }
        let scheme_ok = uri.split_once(':').is_some_and(|(scheme, _)| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        if !scheme_ok {
            return Err(format!("URI without scheme: {uri:?}"));
        }
        Ok(NameAddr {
            display: display.map(str::to_string),
            uri: uri.to_string(),
            params: parse_params(rest)?,
        })
    }

    /// A header parameter value (`None` if absent or valueless).
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name).and_then(|v| v.as_deref())
    }

    /// Set (or replace) a header parameter.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.params.push((name.to_string(), value)),
        }
    }

    /// The URI parsed into an rsip [`Uri`].
    pub fn parsed_uri(&self) -> Result<Uri, ParseError> {
        parse_uri(&self.uri)
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        if let Some(d) = &self.display {
            s.push_str(d);
            s.push(' ');
        }
        s.push('<');
        s.push_str(&self.uri);
        s.push('>');
        write_params(&mut s, &self.params);
        f.write_str(&s)
    }
}
