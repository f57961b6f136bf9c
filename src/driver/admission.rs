//! Who may talk to Senim: the decision for every request that arrives, made
//! before the transaction layer sees it (so a refused INVITE gets no
//! `100 Trying` and leaves no transaction behind). Pure: the SIP endpoint
//! gathers the facts ([`Facts`]) and carries out the [`Verdict`].
//!
//! The rules, in order (`docs/defence.md`):
//! 1. A request whose `User-Agent` names a known scanner
//!    ([`SCANNER_USER_AGENTS`]) is dropped, whatever its method and source.
//! 2. REGISTER passes from anywhere (specialists' softphones register from
//!    wherever they are; digest authentication and the registrar's lock-out
//!    guard it), and so does ACK (it is never answered).
//! 3. A request of a call in progress (its Call-ID or one of its legs', or a
//!    CANCEL of a pending INVITE) passes: the call checks the dialog.
//! 4. A request from a trunk's address or one of its `allow` ranges, from
//!    the address a registered softphone registered from, or, when no trunk
//!    is configured, from a loopback address, passes.
//! 5. Anything else is refused: a 403, or no answer at all
//!    ([`UnknownSources`], `[sip] unknown_sources`).
//!
//! A registering trunk's contact user in the Request-URI does not admit a
//! request by itself: it is usually the centre's public number, which anyone
//! can write. A request that carries it from an address the trunk does not
//! list is refused with a hint naming the trunk, for the log.

use std::net::IpAddr;

use rsip::Method;
use senim_call::config::{AddressRange, Trunk};
use senim_sip::message::Peer;
use serde::Deserialize;

/// User-Agent fragments of SIP scanners and toll-fraud tools, compared
/// without case. From the lists that Kamailio's sample configuration,
/// fail2ban and iptables recipes and VoIP honeypot reports share: SIPVicious
/// (`friendly-scanner`, its default, and `sipvicious`), sipcli, VaxSIPUserAgent
/// (and the VaxIPUserAgent spelling), pplsip (SIPPTS), sundayddr, iWar,
/// sip-scan and SIPScan, SiVuS, siparmyknife, smap's `friendly-request`.
/// `sipsak` is left out on purpose: it is also a monitoring tool.
pub const SCANNER_USER_AGENTS: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "vaxsipuseragent",
    "vaxipuseragent",
    "pplsip",
    "sippts",
    "sundayddr",
    "iwar",
    "sip-scan",
    "sipscan",
    "sivus",
    "siparmyknife",
    "friendly-request",
];

/// Whether a User-Agent value is a known scanner's.
pub fn is_scanner(user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    SCANNER_USER_AGENTS.iter().any(|s| ua.contains(s))
}

/// What strangers get (`[sip] unknown_sources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum UnknownSources {
    /// `"drop"`: no answer at all. A scanner learns nothing, not even that a
    /// SIP server is there, and a forged source address is sent nothing.
    #[default]
    #[serde(rename = "drop")]
    Drop,
    /// `"403"`: a stateless 403 Forbidden, which tells a misconfigured
    /// provider at once why its calls fail.
    #[serde(rename = "403")]
    Forbidden,
}

impl UnknownSources {
    /// The configuration word.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownSources::Drop => "drop",
            UnknownSources::Forbidden => "403",
        }
    }
}

/// What the endpoint knows about a request when it arrives.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub method: &'a Method,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<&'a str>,
    /// The Request-URI's user, if any.
    pub request_user: Option<&'a str>,
    /// Where it came from.
    pub source: Peer,
    /// It belongs to a call in progress (its Call-ID or a leg's) or cancels
    /// a pending INVITE.
    pub in_call: bool,
    /// It comes from where a current softphone binding registered from.
    pub registered_phone: bool,
}

/// Why a request was let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// A REGISTER (the registrar decides).
    Register,
    /// An ACK (never answered).
    Ack,
    /// Part of a call in progress.
    InCall,
    /// From this trunk's address or `allow` ranges.
    Trunk(String),
    /// From a registered softphone.
    Softphone,
    /// From loopback, with no trunk configured (the demo set-up).
    Loopback,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hand it to the transaction layer.
    Admit(Admitted),
    /// A known scanner: no answer, counted.
    Scanner,
    /// A stranger: counted; a 403 when `answer`, else no answer.
    Refuse {
        answer: bool,
        /// A registering trunk whose contact user the Request-URI names, if
        /// any: the provider may send from an address missing from `allow`.
        claimed_trunk: Option<String>,
    },
}

/// Where one trunk's requests may come from.
#[derive(Debug, Clone)]
struct TrunkSources {
    id: String,
    ranges: Vec<AddressRange>,
    contact_user: Option<String>,
}

/// The admission rules, built once from the configuration.
#[derive(Debug, Clone)]
pub struct Admission {
    trunks: Vec<TrunkSources>,
    unknown: UnknownSources,
}

impl Admission {
    /// Rules for these trunks; strangers get `unknown`. Without trunks,
    /// loopback sources are admitted (the configuration refuses a
    /// non-loopback listen address without a trunk).
    pub fn new(trunks: &[Trunk], unknown: UnknownSources) -> Admission {
        let trunks = trunks
            .iter()
            .map(|t| {
                let ip = t.address.ip();
                let host = AddressRange {
                    network: ip,
                    prefix: if ip.is_ipv4() { 32 } else { 128 },
                };
                let mut ranges = vec![host];
                ranges.extend(t.allow.iter().copied());
                TrunkSources {
                    id: t.id.clone(),
                    ranges,
                    contact_user: t.contact_user().map(str::to_string),
                }
            })
            .collect();
        Admission { trunks, unknown }
    }

    /// What strangers get.
    pub fn unknown_sources(&self) -> UnknownSources {
        self.unknown
    }

    /// The trunk whose address or `allow` ranges contain `ip`, if any.
    pub fn trunk_at(&self, ip: IpAddr) -> Option<&str> {
        self.trunks
            .iter()
            .find(|t| t.ranges.iter().any(|r| r.contains(ip)))
            .map(|t| t.id.as_str())
    }

    /// Whether requests from `source` are let in on the source alone (rule 4).
    pub fn source_admitted(&self, source: Peer, registered_phone: bool) -> Option<Admitted> {
        let ip = canonical(source.addr.ip());
        if let Some(id) = self.trunk_at(ip) {
            return Some(Admitted::Trunk(id.to_string()));
        }
        if registered_phone {
            return Some(Admitted::Softphone);
        }
        if self.trunks.is_empty() && ip.is_loopback() {
            return Some(Admitted::Loopback);
        }
        None
    }

    /// What to do with bytes from `source` that do not parse: the usual 400
    /// for an admitted source or when strangers are answered, else nothing.
    pub fn answer_unparsable(&self, source: Peer, registered_phone: bool) -> bool {
        self.unknown == UnknownSources::Forbidden
            || self.source_admitted(source, registered_phone).is_some()
    }

    /// The verdict on one request.
    pub fn decide(&self, f: &Facts<'_>) -> Verdict {
        if f.user_agent.is_some_and(is_scanner) {
            return Verdict::Scanner;
        }
        match f.method {
            Method::Register => return Verdict::Admit(Admitted::Register),
            Method::Ack => return Verdict::Admit(Admitted::Ack),
            _ => {}
        }
        if f.in_call {
            return Verdict::Admit(Admitted::InCall);
        }
        if let Some(why) = self.source_admitted(f.source, f.registered_phone) {
            return Verdict::Admit(why);
        }
        let claimed_trunk = f.request_user.and_then(|u| {
            self.trunks
                .iter()
                .find(|t| t.contact_user.as_deref() == Some(u))
                .map(|t| t.id.clone())
        });
        Verdict::Refuse {
            answer: self.unknown == UnknownSources::Forbidden,
            claimed_trunk,
        }
    }
}

/// IPv4-mapped IPv6 addresses as IPv4 (a dual-stack socket reports them).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use senim_call::config::Credentials;
    use std::net::SocketAddr;

    fn udp(addr: &str) -> Peer {
        Peer::udp(addr.parse::<SocketAddr>().expect("address"))
    }

    fn trunks() -> Vec<Trunk> {
        let provider = Trunk {
            allow: vec![AddressRange::parse("203.0.113.0/28").expect("range")],
            register: true,
            credentials: Some(Credentials {
                username: "77232000000".into(),
                auth_username: None,
                password: "secret".into(),
            }),
            ..Trunk::new("provider", "198.51.100.20:5060".parse().expect("address"))
        };
        let mut asterisk = Trunk::new("asterisk", "192.0.2.10:5060".parse().expect("address"));
        asterisk.transport = senim_sip::message::Transport::Tcp;
        vec![provider, asterisk]
    }

    fn facts<'a>(method: &'a Method, source: Peer) -> Facts<'a> {
        Facts {
            method,
            user_agent: None,
            request_user: Some("100"),
            source,
            in_call: false,
            registered_phone: false,
        }
    }

    #[test]
    fn a_trunk_is_admitted_by_its_address_and_allow_ranges() {
        let a = Admission::new(&trunks(), UnknownSources::Forbidden);
        let invite = Method::Invite;
        // Any port of the trunk's IP; the allow range; a TCP trunk's new connections.
        for (source, trunk) in [
            ("198.51.100.20:5060", "provider"),
            ("198.51.100.20:41234", "provider"),
            ("203.0.113.15:5060", "provider"),
            ("[::ffff:203.0.113.1]:5060", "provider"),
        ] {
            assert_eq!(
                a.decide(&facts(&invite, udp(source))),
                Verdict::Admit(Admitted::Trunk(trunk.into())),
                "{source}"
            );
        }
        let tcp = Peer::tcp("192.0.2.10:50123".parse().expect("address"));
        assert_eq!(
            a.decide(&facts(&invite, tcp)),
            Verdict::Admit(Admitted::Trunk("asterisk".into()))
        );
    }

    #[test]
    fn strangers_are_refused_as_configured() {
        let invite = Method::Invite;
        let options = Method::Options;
        let stranger = udp("203.0.113.16:5060");
        let forbid = Admission::new(&trunks(), UnknownSources::Forbidden);
        let refused = Verdict::Refuse {
            answer: true,
            claimed_trunk: None,
        };
        assert_eq!(forbid.decide(&facts(&invite, stranger)), refused);
        assert_eq!(forbid.decide(&facts(&options, stranger)), refused);
        let drop = Admission::new(&trunks(), UnknownSources::Drop);
        assert_eq!(
            drop.decide(&facts(&invite, stranger)),
            Verdict::Refuse {
                answer: false,
                claimed_trunk: None
            }
        );
        // With trunks configured, loopback is a stranger too.
        assert!(matches!(
            drop.decide(&facts(&invite, udp("127.0.0.1:5070"))),
            Verdict::Refuse { .. }
        ));
    }

    #[test]
    fn the_centre_number_alone_admits_nothing() {
        let a = Admission::new(&trunks(), UnknownSources::Drop);
        let invite = Method::Invite;
        let f = Facts {
            request_user: Some("77232000000"),
            ..facts(&invite, udp("192.0.2.200:5060"))
        };
        assert_eq!(
            a.decide(&f),
            Verdict::Refuse {
                answer: false,
                claimed_trunk: Some("provider".into())
            }
        );
    }

    #[test]
    fn softphones_calls_in_progress_register_and_ack_pass() {
        let a = Admission::new(&trunks(), UnknownSources::Drop);
        let stranger = udp("198.51.100.99:5062");
        let invite = Method::Invite;
        let phone = Facts {
            registered_phone: true,
            ..facts(&invite, stranger)
        };
        assert_eq!(a.decide(&phone), Verdict::Admit(Admitted::Softphone));
        let bye = Method::Bye;
        let in_call = Facts {
            in_call: true,
            ..facts(&bye, stranger)
        };
        assert_eq!(a.decide(&in_call), Verdict::Admit(Admitted::InCall));
        assert_eq!(
            a.decide(&facts(&Method::Register, stranger)),
            Verdict::Admit(Admitted::Register)
        );
        assert_eq!(
            a.decide(&facts(&Method::Ack, stranger)),
            Verdict::Admit(Admitted::Ack)
        );
        assert!(!a.answer_unparsable(stranger, false));
        assert!(a.answer_unparsable(stranger, true));
        assert!(a.answer_unparsable(udp("198.51.100.20:1"), false));
    }

    #[test]
    fn without_trunks_loopback_is_the_demo() {
        let a = Admission::new(&[], UnknownSources::Drop);
        let invite = Method::Invite;
        for source in ["127.0.0.1:5070", "127.0.0.2:5070", "[::1]:5070"] {
            assert_eq!(
                a.decide(&facts(&invite, udp(source))),
                Verdict::Admit(Admitted::Loopback),
                "{source}"
            );
        }
        assert!(matches!(
            a.decide(&facts(&invite, udp("192.168.1.20:5060"))),
            Verdict::Refuse { .. }
        ));
    }

    #[test]
    fn scanners_are_dropped_whatever_the_method_and_source() {
        let a = Admission::new(&trunks(), UnknownSources::Forbidden);
        for ua in [
            "friendly-scanner",
            "sipvicious",
            "sipcli/v1.8",
            "VaxSIPUserAgent/3.1",
            "pplsip",
            "sundayddr",
            "iWar",
            "sip-scan",
            "SIPScan 1.0",
        ] {
            for method in [
                Method::Invite,
                Method::Options,
                Method::Register,
                Method::Ack,
            ] {
                // Even from the trunk's own address.
                let f = Facts {
                    user_agent: Some(ua),
                    ..facts(&method, udp("198.51.100.20:5060"))
                };
                assert_eq!(a.decide(&f), Verdict::Scanner, "{ua} {method}");
            }
        }
        for ua in [
            "baresip v1.0.0",
            "Linphone/5.2",
            "MicroSIP/3.21",
            "Asterisk PBX 22.1",
            "sipsak 0.9.8",
        ] {
            assert!(!is_scanner(ua), "{ua}");
        }
    }
}
