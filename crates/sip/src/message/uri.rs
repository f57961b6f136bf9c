//! Reading and printing URIs with the project's own grammar (rsip 0.4 mis-reads users with
//! dots and IPv6 hosts, and mis-prints other schemes).

use std::net::IpAddr;

use rsip::Uri;

use super::error::ParseError;
use super::grammar::split_host_port;

/// Parse a URI into rsip's [`Uri`] with this module's own grammar (rsip 0.4's tokenizer loses
/// users containing dots and cannot read IPv6 references). SIP/SIPS URIs are split into
/// user[:password]@host[:port];params (URI headers after `?` are dropped: rsip cannot hold
/// them); other schemes are kept opaque in the host field.
pub fn parse_uri(text: &str) -> Result<Uri, ParseError> {
    let bad = |why: &str| ParseError::RequestUri(format!("{why}: {text:?}"));
    let (scheme, rest) = text.split_once(':').ok_or_else(|| bad("no scheme"))?;
    if !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Err(bad("bad scheme"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("whitespace in URI"));
    }
    let scheme = if scheme.eq_ignore_ascii_case("sip") {
        rsip::Scheme::Sip
    } else if scheme.eq_ignore_ascii_case("sips") {
        rsip::Scheme::Sips
    } else {
        if rest.is_empty() {
            return Err(bad("empty URI"));
        }
        return Ok(Uri {
            scheme: Some(rsip::Scheme::Other(scheme.to_string())),
            auth: None,
            host_with_port: rsip::HostWithPort {
                host: rsip::Host::Domain(rsip::Domain::from(rest.to_string())),
                port: None,
            },
            params: vec![],
            headers: vec![],
        });
    };
    let (userinfo, hostpart) = match rest.find('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let auth = match userinfo {
        Some("") => return Err(bad("empty user")),
        Some(ui) => Some(match ui.split_once(':') {
            Some((u, p)) => rsip::Auth {
                user: u.to_string(),
                password: Some(p.to_string()),
            },
            None => rsip::Auth {
                user: ui.to_string(),
                password: None,
            },
        }),
        None => None,
    };
    let hostpart = match hostpart.split_once('?') {
        Some((h, _headers)) => h,
        None => hostpart,
    };
    let hp_end = if hostpart.starts_with('[') {
        hostpart
            .find(']')
            .map(|i| {
                i + 1
                    + hostpart[i + 1..]
                        .find(';')
                        .unwrap_or(hostpart.len() - i - 1)
            })
            .ok_or_else(|| bad("unterminated IPv6 reference"))?
    } else {
        hostpart.find(';').unwrap_or(hostpart.len())
    };
    let (host, port) = split_host_port(&hostpart[..hp_end]).map_err(|e| bad(&e))?;
    let host = match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) => rsip::Host::IpAddr(ip),
        Err(_) => rsip::Host::Domain(rsip::Domain::from(host.to_string())),
    };
    let mut params = Vec::new();
    for p in hostpart[hp_end..].split(';').skip(1) {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (p, None),
        };
        if name.is_empty() {
            return Err(bad("empty URI parameter"));
        }
        let param = rsip::Param::try_from((name, value)).unwrap_or_else(|_| {
            rsip::Param::Other(name.into(), value.map(rsip::param::OtherParamValue::new))
        });
        params.push(param);
    }
    Ok(Uri {
        scheme: Some(scheme),
        auth,
        host_with_port: rsip::HostWithPort {
            host,
            port: port.map(rsip::Port::from),
        },
        params,
        headers: vec![],
    })
}

/// Print a URI correctly (rsip 0.4 prints `scheme://` for unknown schemes and IPv6 hosts without brackets).
pub fn uri_to_string(uri: &Uri) -> String {
    let mut s = String::new();
    match &uri.scheme {
        Some(rsip::Scheme::Other(scheme)) => {
            s.push_str(scheme);
            s.push(':');
            s.push_str(&uri.host_with_port.host.to_string());
            return s;
        }
        Some(scheme) => {
            s.push_str(&scheme.to_string());
            s.push(':');
        }
        None => s.push_str("sip:"),
    }
    if let Some(auth) = &uri.auth {
        s.push_str(&auth.to_string());
        s.push('@');
    }
    match &uri.host_with_port.host {
        rsip::Host::IpAddr(IpAddr::V6(ip)) => s.push_str(&format!("[{ip}]")),
        host => s.push_str(&host.to_string()),
    }
    if let Some(port) = &uri.host_with_port.port {
        s.push(':');
        s.push_str(&port.to_string());
    }
    for p in &uri.params {
        s.push_str(&p.to_string());
    }
    s
}
