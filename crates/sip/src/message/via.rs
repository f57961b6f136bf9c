//! The Via header value ([`ViaInfo`]).

use std::fmt;
use std::net::IpAddr;

use super::grammar::{find_param, is_token, parse_params, split_host_port, write_params, Params};

/// One Via value, parsed leniently (LWS anywhere the grammar allows it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViaInfo {
    /// Protocol name and version, normally "SIP/2.0".
    pub protocol: String,
    /// Transport token as received ("UDP", "TCP", "TLS", "SCTP", ...), upper-cased.
    pub transport: String,
    /// Sent-by host (IPv6 keeps its brackets).
    pub host: String,
    /// Sent-by port, if given.
    pub port: Option<u16>,
    /// Via parameters (branch, received, rport, ...).
    pub params: Params,
}

impl ViaInfo {
    /// Parse one Via value (not a comma-separated list).
    pub fn parse(value: &str) -> Result<ViaInfo, String> {
        let mut parts = value.splitn(3, '/');
        let name = parts.next().unwrap_or("").trim();
        let version = parts.next().unwrap_or("").trim();
        let rest = parts.next().ok_or("missing sent-protocol")?.trim_start();
        if !is_token(name) || !is_token(version) {
            return Err("bad sent-protocol".into());
        }
        let t_end = rest.find(char::is_whitespace).ok_or("missing sent-by")?;
        let transport = &rest[..t_end];
        if !is_token(transport) {
            return Err("bad transport".into());
        }
        let rest = rest[t_end..].trim_start();
        let sb_end = rest.find(';').unwrap_or(rest.len());
        let sent_by = rest[..sb_end].trim();
        let (host, port) = split_host_port(sent_by)?;
        let params = parse_params(&rest[sb_end..])?;
        Ok(ViaInfo {
            protocol: format!("{name}/{version}"),
            transport: transport.to_ascii_uppercase(),
            host: host.to_string(),
            port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        find_param(&self.params, "branch").and_then(|v| v.as_deref())
    }

    /// The value of a parameter: `None` if absent, `Some(None)` if present without value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name).map(|v| v.as_deref())
    }

    /// Set (or replace) a parameter.
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

    /// Sent-by as "host[:port]".
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{}", self.host, p),
            None => self.host.clone(),
        }
    }

    /// The sent-by host as an IP address, if it is numeric.
    pub fn host_ip(&self) -> Option<IpAddr> {
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }
}

impl fmt::Display for ViaInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = format!("{}/{} {}", self.protocol, self.transport, self.sent_by());
        write_params(&mut s, &self.params);
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_grammar() {
        let v =
            ViaInfo::parse("SIP / 2.0 / udp [2001:db8::1]:5070 ; branch=z9hG4bK1;rport").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "[2001:db8::1]");
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.host_ip(), "2001:db8::1".parse().ok());
        assert_eq!(v.param("rport"), Some(None));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK1;rport"
        );
        assert!(ViaInfo::parse("SIP/2.0/UDP").is_err());
        assert!(ViaInfo::parse("SIP/2.0/UDP host:99999").is_err());
        assert!(ViaInfo::parse("SIP/2.0/UDP ho st").is_err());
    }
}
