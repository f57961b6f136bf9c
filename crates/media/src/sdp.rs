//! SDP (RFC 4566 / RFC 8866) parsing and RFC 3264 offer/answer for G.711 audio with
//! RFC 4733 telephone-events, plain (RTP/AVP) or SRTP with SDES keys (RTP/SAVP and
//! `a=crypto`, RFC 4568). A small line-based parser: CRLF or LF, unknown lines
//! and attributes ignored (so is an `a=rtpmap` that does not follow its form: its
//! payload type is then not used), errors name the 1-based line number.

use crate::g711::Codec;
use crate::srtp::{KeyOptions, MasterKey, Suite, MAX_LIFETIME};
use base64::Engine as _;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use thiserror::Error;

/// Largest SDP body accepted, in bytes.
pub const MAX_SDP_LEN: usize = 64 * 1024;
/// Most m= lines accepted.
pub const MAX_MEDIA: usize = 32;

/// SDP parse and negotiation errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// A line is malformed; `line` is 1-based.
    #[error("SDP line {line}: {message}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The body is empty or does not start with `v=0`.
    #[error("SDP does not start with v=0")]
    MissingVersion,
    /// The body is larger than [`MAX_SDP_LEN`] or has more than [`MAX_MEDIA`] m= lines.
    #[error("SDP too large")]
    TooLarge,
    /// No usable audio stream: no RTP/AVP audio m= line with a non-zero port and a
    /// codec in common (the TU answers 488).
    #[error("no common codec in the offered audio streams")]
    NoCommonCodec,
    /// The only audio streams use a transport Senim does not take here: an
    /// unknown one, or RTP/SAVP when the signalling is not secure (SDES keys
    /// sent in clear protect nothing, RFC 4568 §8.3).
    #[error("unsupported media transport {0}")]
    UnsupportedTransport(String),
    /// SRTP streams were offered, but no `a=crypto` line Senim can use (an
    /// unknown suite, several keys, a key derivation rate, unencrypted or
    /// unauthenticated SRTP, a malformed key).
    #[error("no usable a=crypto line in the SRTP offer")]
    NoUsableCrypto,
    /// Only plain RTP was offered and SRTP is required.
    #[error("SRTP is required; the offer has only plain RTP")]
    SrtpRequired,
    /// The chosen stream has no connection address (neither media- nor session-level c=).
    #[error("no connection address (c=) for the audio stream")]
    MissingConnection,
}

impl SdpError {
    /// The SIP status code a UAS should answer with: 400 for malformed SDP, 488 for
    /// SDP it cannot accept.
    pub fn status_code(&self) -> u16 {
        match self {
            SdpError::Syntax { .. }
            | SdpError::MissingVersion
            | SdpError::TooLarge
            | SdpError::MissingConnection => 400,
            SdpError::NoCommonCodec
            | SdpError::UnsupportedTransport(_)
            | SdpError::NoUsableCrypto
            | SdpError::SrtpRequired => 488,
        }
    }
}

/// Media direction attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name, e.g. `"sendrecv"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction the other side takes in reply (RFC 3264 §6.1):
    /// sendonly <-> recvonly, the others unchanged.
    pub fn mirror(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// True when this side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// True when this side receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn from_attr(a: &str) -> Option<Direction> {
        match a {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// An `a=rtpmap` attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as written (e.g. "PCMU", "telephone-event").
    pub encoding: String,
    /// Clock rate in Hz; `None` when the attribute does not read as
    /// `<encoding>/<clock rate>[/<channels>]` (RFC 4475's messages carry
    /// `a=rtpmap:31 LPC`). Such a payload type is never chosen.
    pub clock_rate: Option<u32>,
    /// Channel count, when given.
    pub channels: Option<u8>,
}

/// One m= section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type: "audio", "video", ...
    pub kind: String,
    /// Transport port (0 = stream rejected/disabled).
    pub port: u16,
    /// Transport protocol, e.g. "RTP/AVP".
    pub protocol: String,
    /// Payload types in preference order (non-numeric formats of non-RTP media are skipped).
    pub formats: Vec<u8>,
    /// `a=rtpmap` attributes.
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp` attributes: payload type and parameter text.
    pub fmtps: Vec<(u8, String)>,
    /// Media-level `c=` address.
    pub connection: Option<IpAddr>,
    /// Direction (media-level attribute, else session-level, else sendrecv).
    pub direction: Direction,
    /// `a=ptime` in ms.
    pub ptime: Option<u32>,
    /// `a=rtcp-mux` present.
    pub rtcp_mux: bool,
    /// `a=crypto` attributes (RFC 4568), in the offer's order of preference.
    pub crypto: Vec<CryptoAttribute>,
}

impl MediaDescription {
    /// The rtpmap of a payload type.
    pub fn rtpmap(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.payload_type == pt)
    }

    /// True for RTP/AVP (also RTP/AVPF, which a plain RTP/AVP answer satisfies).
    pub fn is_rtp_avp(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("RTP/AVP")
            || self.protocol.eq_ignore_ascii_case("RTP/AVPF")
    }

    /// True for RTP/SAVP (also RTP/SAVPF, which a plain RTP/SAVP answer satisfies).
    pub fn is_rtp_savp(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("RTP/SAVP")
            || self.protocol.eq_ignore_ascii_case("RTP/SAVPF")
    }

    /// The G.711 codec a payload type carries here: by rtpmap when present, else by
    /// static payload type. Only the static payload types 0 and 8 are used.
    pub fn codec_of(&self, pt: u8) -> Option<Codec> {
        let codec = match self.rtpmap(pt) {
            Some(m) if m.clock_rate == Some(8000) && m.channels.unwrap_or(1) == 1 => {
                Codec::from_name(&m.encoding)?
            }
            Some(_) => return None,
            None => Codec::from_payload_type(pt)?,
        };
        (codec.payload_type() == pt).then_some(codec)
    }

    /// The telephone-event/8000 payload type, if offered.
    pub fn telephone_event(&self) -> Option<u8> {
        self.formats.iter().copied().find(|&pt| {
            self.rtpmap(pt).is_some_and(|m| {
                m.encoding.eq_ignore_ascii_case("telephone-event") && m.clock_rate == Some(8000)
            })
        })
    }
}

/// A parsed session description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDescription {
    /// o= username.
    pub origin_username: String,
    /// o= session id.
    pub origin_session_id: u64,
    /// o= session version.
    pub origin_version: u64,
    /// o= address (when numeric).
    pub origin_address: Option<IpAddr>,
    /// s= session name.
    pub session_name: String,
    /// Session-level c= address.
    pub connection: Option<IpAddr>,
    /// Session-level direction attribute (default for media without one).
    pub direction: Option<Direction>,
    /// The m= sections in order.
    pub media: Vec<MediaDescription>,
}

fn syntax(line: usize, message: impl Into<String>) -> SdpError {
    SdpError::Syntax {
        line,
        message: message.into(),
    }
}

fn parse_connection(n: usize, value: &str) -> Result<IpAddr, SdpError> {
    let mut it = value.split_ascii_whitespace();
    let (Some(net), Some(addrtype), Some(addr)) = (it.next(), it.next(), it.next()) else {
        return Err(syntax(n, "c= needs <nettype> <addrtype> <address>"));
    };
    if net != "IN" {
        return Err(syntax(n, format!("unsupported network type {net:?}")));
    }
    // Multicast addresses may carry /ttl and /count suffixes.
    let host = addr.split('/').next().unwrap_or(addr);
    let ip: IpAddr = host.parse().map_err(|_| {
        syntax(
            n,
            format!("connection address {host:?} is not an IP address"),
        )
    })?;
    match (addrtype, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Ok(ip),
        _ => Err(syntax(
            n,
            format!("address {host} does not match {addrtype}"),
        )),
    }
}

/// An `a=rtpmap` value. RFC 4566 gives the attribute's value no grammar of
/// its own in the ABNF, and an attribute a receiver cannot use is ignored
/// (§5.13), so a value that does not read as `<pt> <encoding>/<rate>[/<ch>]`
/// does not fail the description: with a readable payload type it is kept
/// without a clock rate (that payload type is then never chosen, rather than
/// guessed from its static meaning), else it is dropped (`None`).
fn parse_rtpmap(value: &str) -> Option<RtpMap> {
    let value = value.trim();
    let (pt, rest) = match value.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((pt, rest)) => (pt, rest.trim()),
        None => (value, ""),
    };
    let payload_type = pt.parse::<u8>().ok().filter(|pt| *pt < 128)?;
    let mut parts = rest.split('/');
    let encoding = parts.next().unwrap_or("").trim().to_string();
    let clock_rate = parts.next().and_then(|r| r.trim().parse::<u32>().ok());
    let channels = match parts.next() {
        Some(c) => match c.trim().parse::<u8>() {
            Ok(n) => Some(n),
            Err(_) => return Some(RtpMap::unreadable(payload_type, encoding)),
        },
        None => None,
    };
    if encoding.is_empty() || clock_rate.is_none() || parts.next().is_some() {
        return Some(RtpMap::unreadable(payload_type, encoding));
    }
    Some(RtpMap {
        payload_type,
        encoding,
        clock_rate,
        channels,
    })
}

impl RtpMap {
    /// An rtpmap whose value could not be read beyond its payload type.
    fn unreadable(payload_type: u8, encoding: String) -> RtpMap {
        RtpMap {
            payload_type,
            encoding,
            clock_rate: None,
            channels: None,
        }
    }
}

fn parse_pt(n: usize, s: &str) -> Result<u8, SdpError> {
    match s.trim().parse::<u8>() {
        Ok(pt) if pt < 128 => Ok(pt),
        _ => Err(syntax(n, format!("invalid payload type {s:?}"))),
    }
}

/// Parse an SDP body (CRLF or LF line ends). Unknown lines and attributes are
/// ignored; errors name the 1-based line number.
pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    if text.len() > MAX_SDP_LEN {
        return Err(SdpError::TooLarge);
    }
    let mut sd = SessionDescription {
        origin_username: String::new(),
        origin_session_id: 0,
        origin_version: 0,
        origin_address: None,
        session_name: String::new(),
        connection: None,
        direction: None,
        media: Vec::new(),
    };
    let mut seen_version = false;
    let mut media_direction: Vec<Option<Direction>> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let (kind, value) = match line.as_bytes() {
            [k, b'=', ..] if k.is_ascii_alphabetic() => (*k, &line[2..]),
            _ => return Err(syntax(n, "expected <type>=<value>")),
        };
        if !seen_version {
            if kind != b'v' || value.trim() != "0" {
                return Err(SdpError::MissingVersion);
            }
            seen_version = true;
            continue;
        }
        match kind {
            b'o' => {
                let f: Vec<&str> = value.split_ascii_whitespace().collect();
                let [user, id, version, _net, _addrtype, addr] = f[..] else {
                    return Err(syntax(n, "o= needs 6 fields"));
                };
                sd.origin_username = user.to_string();
                sd.origin_session_id = id
                    .parse()
                    .map_err(|_| syntax(n, format!("invalid session id {id:?}")))?;
                sd.origin_version = version
                    .parse()
                    .map_err(|_| syntax(n, format!("invalid session version {version:?}")))?;
                sd.origin_address = addr.parse().ok();
            }
            b's' => sd.session_name = value.to_string(),
            b'c' => {
                let ip = parse_connection(n, value)?;
                match sd.media.last_mut() {
                    Some(m) => m.connection = Some(ip),
                    None => sd.connection = Some(ip),
                }
            }
            b'm' => {
                if sd.media.len() >= MAX_MEDIA {
                    return Err(SdpError::TooLarge);
                }
                let mut f = value.split_ascii_whitespace();
                let (Some(kind), Some(port), Some(protocol)) = (f.next(), f.next(), f.next())
                else {
                    return Err(syntax(n, "m= needs <media> <port> <proto> <fmt>..."));
                };
                let port_only = port.split('/').next().unwrap_or(port);
                let port: u16 = port_only
                    .parse()
                    .map_err(|_| syntax(n, format!("invalid port {port:?}")))?;
                let rtp = protocol.starts_with("RTP/") || protocol.contains("/RTP/");
                let mut formats = Vec::new();
                for fmt in f {
                    if rtp {
                        formats.push(parse_pt(n, fmt)?);
                    } else if let Ok(pt) = fmt.parse::<u8>() {
                        formats.push(pt);
                    }
                }
                sd.media.push(MediaDescription {
                    kind: kind.to_string(),
                    port,
                    protocol: protocol.to_string(),
                    formats,
                    rtpmaps: Vec::new(),
                    fmtps: Vec::new(),
                    connection: None,
                    direction: Direction::SendRecv,
                    ptime: None,
                    rtcp_mux: false,
                    crypto: Vec::new(),
                });
                media_direction.push(None);
            }
            b'a' => {
                let (name, val) = match value.split_once(':') {
                    Some((a, v)) => (a, Some(v)),
                    None => (value, None),
                };
                let name = name.trim();
                if let Some(d) = Direction::from_attr(name) {
                    match media_direction.last_mut() {
                        Some(slot) => *slot = Some(d),
                        None => sd.direction = Some(d),
                    }
                    continue;
                }
                let Some(m) = sd.media.last_mut() else {
                    continue;
                };
                match (name, val) {
                    ("rtpmap", Some(v)) => {
                        if let Some(map) = parse_rtpmap(v) {
                            if m.rtpmaps.len() < 128 {
                                m.rtpmaps.push(map);
                            }
                        }
                    }
                    ("fmtp", Some(v)) => {
                        if let Some((pt, params)) = v.split_once(|c: char| c.is_ascii_whitespace())
                        {
                            if let Ok(pt) = parse_pt(n, pt) {
                                if m.fmtps.len() < 128 {
                                    m.fmtps.push((pt, params.trim().to_string()));
                                }
                            }
                        }
                    }
                    ("ptime", Some(v)) => m.ptime = v.trim().parse().ok(),
                    ("rtcp-mux", _) => m.rtcp_mux = true,
                    ("crypto", Some(v)) => {
                        // A malformed crypto line is not usable, but the
                        // offer may have others (RFC 4568 §7.1.1).
                        if let Some(c) = CryptoAttribute::parse(v) {
                            if m.crypto.len() < MAX_CRYPTO {
                                m.crypto.push(c);
                            }
                        }
                    }
                    _ => {}
                }
            }
            // v (repeated), i, u, e, p, b, t, r, z, k and unknown letters are ignored.
            _ => {}
        }
    }
    if !seen_version {
        return Err(SdpError::MissingVersion);
    }
    let default_dir = sd.direction.unwrap_or_default();
    for (m, d) in sd.media.iter_mut().zip(media_direction) {
        m.direction = d.unwrap_or(default_dir);
    }
    Ok(sd)
}

/// Most `a=crypto` lines kept per m= line.
pub const MAX_CRYPTO: usize = 32;

/// An `a=crypto` attribute (RFC 4568 §4), as written: `<tag> <crypto-suite>
/// <key-params> [<session-params>...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoAttribute {
    /// The tag (1 to 9 digits) the answer repeats.
    pub tag: u32,
    /// The crypto suite's name, e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub suite: String,
    /// The key parameters: one or more `inline:...` separated by `;`.
    pub key_params: String,
    /// Session parameters (`KDR=`, `UNENCRYPTED_SRTP`, `WSH=` ...).
    pub session_params: Vec<String>,
}

/// A key Senim can use: the suite, the master key and salt, and the
/// `|lifetime|MKI:length` that came with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdesKey {
    /// The crypto suite.
    pub suite: Suite,
    /// Master key and salt.
    pub key: MasterKey,
    /// Lifetime and MKI.
    pub options: KeyOptions,
}

impl CryptoAttribute {
    /// Parse the value of an `a=crypto:` line; None when it is not one.
    pub fn parse(value: &str) -> Option<CryptoAttribute> {
        let mut fields = value.split_ascii_whitespace();
        let tag = fields.next()?;
        if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let tag = tag.parse().ok()?;
        let suite = fields.next()?.to_string();
        let key_params = fields.next()?.to_string();
        let session_params = fields.take(16).map(str::to_string).collect();
        Some(CryptoAttribute {
            tag,
            suite,
            key_params,
            session_params,
        })
    }

    /// The key, if Senim can use this line: a suite of [`Suite`], exactly
    /// one `inline:` key of 30 bytes (base64), a lifetime of at most 2^48
    /// and an MKI of 1 to 4 bytes when given; as session parameters only
    /// `KDR=0`, `WSH=` (a hint) and `UNENCRYPTED_SRTCP` (Senim takes no
    /// RTCP). Anything else (several keys, a key derivation rate,
    /// unencrypted or unauthenticated SRTP, FEC) makes the line unusable.
    pub fn usable(&self) -> Option<SdesKey> {
        let suite = Suite::from_name(&self.suite)?;
        for p in &self.session_params {
            let ok = p == "UNENCRYPTED_SRTCP"
                || p == "KDR=0"
                || p.strip_prefix("WSH=")
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                return None;
            }
        }
        if self.key_params.contains(';') {
            return None;
        }
        let info = self.key_params.strip_prefix("inline:")?;
        let mut parts = info.split('|');
        let key = base64::engine::general_purpose::STANDARD
            .decode(parts.next()?)
            .ok()?;
        let key = MasterKey::from_bytes(&key)?;
        let mut options = KeyOptions::default();
        for part in parts {
            if let Some((value, len)) = part.split_once(':') {
                if !options.mki.is_empty() {
                    return None;
                }
                let len: usize = len.parse().ok()?;
                let value: u32 = value.parse().ok()?;
                if !(1..=4).contains(&len) || (len < 4 && value >> (8 * len) != 0) {
                    return None;
                }
                options.mki = value.to_be_bytes()[4 - len..].to_vec();
            } else {
                if options.lifetime.is_some() || !options.mki.is_empty() {
                    return None;
                }
                let lifetime = match part.strip_prefix("2^") {
                    Some(exp) => {
                        let exp: u32 = exp.parse().ok()?;
                        1u64.checked_shl(exp).filter(|_| exp < 64)?
                    }
                    None => part.parse().ok()?,
                };
                if lifetime == 0 || lifetime > MAX_LIFETIME {
                    return None;
                }
                options.lifetime = Some(lifetime);
            }
        }
        Some(SdesKey {
            suite,
            key,
            options,
        })
    }
}

/// What the signalling allows for the media.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SrtpPolicy {
    /// Plain RTP only: the signalling is not secure, so SDES keys are not
    /// taken (RTP/SAVP lines are refused, `a=crypto` on RTP/AVP ignored).
    Off,
    /// The signalling is secure (TLS): SRTP when it is offered (RTP/SAVP, or
    /// RTP/AVP with `a=crypto`, "best effort"), else plain RTP. The key is
    /// Senim's own for this stream, put in the answer.
    Allow(MasterKey),
    /// Secure signalling, and SRTP is required: plain RTP is refused.
    Require(MasterKey),
}

impl SrtpPolicy {
    fn local(&self) -> Option<&MasterKey> {
        match self {
            SrtpPolicy::Off => None,
            SrtpPolicy::Allow(k) | SrtpPolicy::Require(k) => Some(k),
        }
    }
}

/// SRTP agreed for the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrtpAgreed {
    /// The accepted `a=crypto` tag.
    pub tag: u32,
    /// Its suite (both directions use it).
    pub suite: Suite,
    /// The far end's key: what it sends is unprotected with it.
    pub remote: MasterKey,
    /// The far end's key's lifetime and MKI.
    pub remote_options: KeyOptions,
    /// Senim's key: what Senim sends is protected with it.
    pub local: MasterKey,
    /// The m= line's protocol was RTP/SAVP(F) (else RTP/AVP with `a=crypto`).
    pub savp: bool,
}

/// The outcome of offer/answer for the audio stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec both sides use.
    pub codec: Codec,
    /// Where to send RTP.
    pub remote_rtp: SocketAddr,
    /// The telephone-event/8000 payload type, when both sides support it.
    pub telephone_event: Option<u8>,
    /// Senim's direction for the stream (the remote side's, mirrored).
    pub direction: Direction,
    /// The index of the chosen m= line.
    pub index: usize,
    /// SRTP, when agreed (None: plain RTP).
    pub srtp: Option<SrtpAgreed>,
}

/// The chosen audio line.
struct Choice {
    index: usize,
    codec: Codec,
    te: Option<u8>,
    key: Option<(u32, SdesKey, bool)>,
}

/// Why no line was usable, most telling first.
fn rank(e: &SdpError) -> u8 {
    match e {
        SdpError::SrtpRequired => 4,
        SdpError::NoUsableCrypto => 3,
        SdpError::UnsupportedTransport(_) => 2,
        _ => 1,
    }
}

/// The audio m= line to use, its codec, telephone-event PT and SRTP key.
/// With SRTP allowed, a line with a usable key wins over a plain one;
/// otherwise the first usable line in the offer's order. `answer_tag`:
/// reading an answer to Senim's SRTP offer, the only tag it offered.
fn select_audio(
    sd: &SessionDescription,
    acceptable: &[Codec],
    policy: &SrtpPolicy,
    answer_tag: Option<u32>,
) -> Result<Choice, SdpError> {
    let mut plain = None;
    let mut error = SdpError::NoCommonCodec;
    let mut fail = |e: SdpError| {
        if rank(&e) > rank(&error) {
            error = e;
        }
    };
    for (i, m) in sd.media.iter().enumerate() {
        if !m.kind.eq_ignore_ascii_case("audio") || m.port == 0 {
            continue;
        }
        let savp = m.is_rtp_savp();
        if !savp && !m.is_rtp_avp() {
            fail(SdpError::UnsupportedTransport(m.protocol.clone()));
            continue;
        }
        if savp && matches!(policy, SrtpPolicy::Off) {
            fail(SdpError::UnsupportedTransport(m.protocol.clone()));
            continue;
        }
        let codec = m
            .formats
            .iter()
            .filter_map(|&pt| m.codec_of(pt))
            .find(|c| acceptable.contains(c));
        let Some(codec) = codec else {
            continue;
        };
        let key = policy.local().and_then(|_| {
            m.crypto
                .iter()
                .filter(|c| answer_tag.is_none_or(|t| t == c.tag))
                .find_map(|c| c.usable().map(|k| (c.tag, k, savp)))
        });
        let te = m.telephone_event();
        match key {
            Some(key) => {
                return Ok(Choice {
                    index: i,
                    codec,
                    te,
                    key: Some(key),
                })
            }
            None if savp => fail(SdpError::NoUsableCrypto),
            None if matches!(policy, SrtpPolicy::Require(_)) => fail(SdpError::SrtpRequired),
            None => {
                plain.get_or_insert(Choice {
                    index: i,
                    codec,
                    te,
                    key: None,
                });
            }
        }
    }
    plain.ok_or(error)
}

fn negotiated_for(
    sd: &SessionDescription,
    choice: Choice,
    policy: &SrtpPolicy,
) -> Result<Negotiated, SdpError> {
    let m = &sd.media[choice.index];
    let ip = m
        .connection
        .or(sd.connection)
        .ok_or(SdpError::MissingConnection)?;
    let mut remote_dir = m.direction;
    // RFC 2543-style hold: c=0.0.0.0 means "do not send to me".
    if ip.is_unspecified() {
        remote_dir = match remote_dir {
            Direction::SendRecv => Direction::SendOnly,
            Direction::RecvOnly => Direction::Inactive,
            d => d,
        };
    }
    let srtp = match (choice.key, policy.local()) {
        (Some((tag, key, savp)), Some(local)) => Some(SrtpAgreed {
            tag,
            suite: key.suite,
            remote: key.key,
            remote_options: key.options,
            local: local.clone(),
            savp,
        }),
        _ => None,
    };
    Ok(Negotiated {
        codec: choice.codec,
        remote_rtp: SocketAddr::new(ip, m.port),
        telephone_event: choice.te,
        direction: remote_dir.mirror(),
        index: choice.index,
        srtp,
    })
}

/// UAS side: choose the audio stream and codec for an offer, plain RTP only
/// (see [`negotiate_offer_with`]).
pub fn negotiate_offer(
    offer: &SessionDescription,
    supported: &[Codec],
) -> Result<Negotiated, SdpError> {
    negotiate_offer_with(offer, supported, &SrtpPolicy::Off)
}

/// UAS side: choose the audio stream and codec for an offer. The first audio
/// RTP/AVP m= line with a non-zero port and a codec in `supported` is used (with
/// SRTP allowed, the first line with a usable `a=crypto` before any plain one); the
/// codec is the first in the offer's order that is in `supported` (static PT 0/8
/// work without rtpmap); telephone-event/8000 with its dynamic PT. No usable stream
/// -> [`SdpError::NoCommonCodec`] (or `UnsupportedTransport`, `NoUsableCrypto`,
/// `SrtpRequired`); the TU answers 488. The direction is mirrored (sendonly -> recvonly).
pub fn negotiate_offer_with(
    offer: &SessionDescription,
    supported: &[Codec],
    srtp: &SrtpPolicy,
) -> Result<Negotiated, SdpError> {
    let choice = select_audio(offer, supported, srtp, None)?;
    negotiated_for(offer, choice, srtp)
}

/// UAC side: process the answer to Senim's own plain offer. The answer's codec must
/// be one we offered; remote address, telephone-event PT and direction (mirrored) follow.
pub fn negotiate_answer(
    answer: &SessionDescription,
    offered: &[Codec],
) -> Result<Negotiated, SdpError> {
    negotiate_answer_with(answer, offered, &SrtpPolicy::Off)
}

/// UAC side: process the answer to Senim's offer made by [`build_offer_srtp`]
/// (with `srtp` holding the key offered) or [`build_offer`] (`SrtpPolicy::Off`).
/// An SRTP answer must accept the offered tag, [`OFFER_CRYPTO_TAG`].
pub fn negotiate_answer_with(
    answer: &SessionDescription,
    offered: &[Codec],
    srtp: &SrtpPolicy,
) -> Result<Negotiated, SdpError> {
    let choice = select_audio(answer, offered, srtp, Some(OFFER_CRYPTO_TAG))?;
    negotiated_for(answer, choice, srtp)
}

fn ip_kind(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

fn session_header(out: &mut String, ip: IpAddr, session_id: u64, version: u64) {
    let k = ip_kind(ip);
    let _ = write!(
        out,
        "v=0\r\no=senim {session_id} {version} IN {k} {ip}\r\ns=senim\r\nc=IN {k} {ip}\r\nt=0 0\r\n"
    );
}

/// The `a=crypto` line for Senim's own key.
fn crypto_line(out: &mut String, tag: u32, suite: Suite, key: &MasterKey) {
    let mut bytes = key.to_bytes();
    let mut inline = base64::engine::general_purpose::STANDARD.encode(bytes);
    let _ = write!(out, "a=crypto:{tag} {} inline:{inline}\r\n", suite.name());
    zeroize::Zeroize::zeroize(&mut bytes);
    zeroize::Zeroize::zeroize(&mut inline);
}

fn audio_section(
    out: &mut String,
    port: u16,
    codecs: &[Codec],
    te: Option<u8>,
    direction: Direction,
    srtp: Option<(&str, u32, Suite, &MasterKey)>,
) {
    let protocol = srtp.map_or("RTP/AVP", |s| s.0);
    let _ = write!(out, "m=audio {port} {protocol}");
    for c in codecs {
        let _ = write!(out, " {}", c.payload_type());
    }
    if let Some(te) = te {
        let _ = write!(out, " {te}");
    }
    out.push_str("\r\n");
    for c in codecs {
        let _ = write!(out, "a=rtpmap:{} {}/8000\r\n", c.payload_type(), c.name());
    }
    if let Some(te) = te {
        let _ = write!(
            out,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        );
    }
    let _ = write!(out, "a=ptime:20\r\na={}\r\n", direction.as_str());
    if let Some((_, tag, suite, key)) = srtp {
        crypto_line(out, tag, suite, key);
    }
}

fn answer_srtp(n: &Negotiated) -> Option<(&str, u32, Suite, &MasterKey)> {
    n.srtp.as_ref().map(|s| {
        let protocol = if s.savp { "RTP/SAVP" } else { "RTP/AVP" };
        (protocol, s.tag, s.suite, &s.local)
    })
}

/// Senim's answer with a single audio m= line (use [`build_answer_to_offer`] when the
/// offer may contain several m= lines: RFC 3264 requires one answer line per offer line).
pub fn build_answer(
    local_ip: IpAddr,
    local_port: u16,
    session_id: u64,
    negotiated: &Negotiated,
) -> String {
    build_answer_versioned(local_ip, local_port, session_id, session_id, negotiated)
}

/// [`build_answer`] with an explicit o= version (increase it on every new SDP in a dialog).
pub fn build_answer_versioned(
    local_ip: IpAddr,
    local_port: u16,
    session_id: u64,
    version: u64,
    negotiated: &Negotiated,
) -> String {
    let mut out = String::with_capacity(256);
    session_header(&mut out, local_ip, session_id, version);
    audio_section(
        &mut out,
        local_port,
        &[negotiated.codec],
        negotiated.telephone_event,
        negotiated.direction,
        answer_srtp(negotiated),
    );
    out
}

/// Senim's answer to `offer` with one m= line per offered line, as RFC 3264 §6
/// requires: the negotiated audio stream (with Senim's `a=crypto` for SRTP: the
/// accepted tag and suite, Senim's own key), and every other line rejected (port 0).
pub fn build_answer_to_offer(
    offer: &SessionDescription,
    local_ip: IpAddr,
    local_port: u16,
    session_id: u64,
    version: u64,
    negotiated: &Negotiated,
) -> String {
    let mut out = String::with_capacity(256);
    session_header(&mut out, local_ip, session_id, version);
    for (i, m) in offer.media.iter().enumerate() {
        if i == negotiated.index {
            audio_section(
                &mut out,
                local_port,
                &[negotiated.codec],
                negotiated.telephone_event,
                negotiated.direction,
                answer_srtp(negotiated),
            );
        } else {
            let fmt = m
                .formats
                .first()
                .map_or_else(|| "0".to_string(), u8::to_string);
            let _ = write!(out, "m={} 0 {} {fmt}\r\n", m.kind, m.protocol);
        }
    }
    out
}

/// Senim's offer (late offer, outbound legs): the codecs in the given order,
/// telephone-event 101 with fmtp 0-16, ptime 20, sendrecv.
pub fn build_offer(local_ip: IpAddr, local_port: u16, session_id: u64, codecs: &[Codec]) -> String {
    let mut out = String::with_capacity(256);
    session_header(&mut out, local_ip, session_id, session_id);
    audio_section(
        &mut out,
        local_port,
        codecs,
        Some(101),
        Direction::SendRecv,
        None,
    );
    out
}

/// The tag of the single `a=crypto` line of Senim's SRTP offers.
pub const OFFER_CRYPTO_TAG: u32 = 1;

/// [`build_offer`] for SRTP: RTP/SAVP with one `a=crypto` line
/// (`AES_CM_128_HMAC_SHA1_80`, tag [`OFFER_CRYPTO_TAG`], Senim's `key`).
pub fn build_offer_srtp(
    local_ip: IpAddr,
    local_port: u16,
    session_id: u64,
    version: u64,
    codecs: &[Codec],
    key: &MasterKey,
) -> String {
    let mut out = String::with_capacity(320);
    session_header(&mut out, local_ip, session_id, version);
    audio_section(
        &mut out,
        local_port,
        codecs,
        Some(101),
        Direction::SendRecv,
        Some((
            "RTP/SAVP",
            OFFER_CRYPTO_TAG,
            Suite::AesCm128HmacSha1_80,
            key,
        )),
    );
    out
}
