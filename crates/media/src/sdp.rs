//! SDP (RFC 4566 / RFC 8866) parsing and RFC 3264 offer/answer for G.711 audio with
//! RFC 4733 telephone-events. A small line-based parser: CRLF or LF, unknown lines
//! and attributes ignored (so is an `a=rtpmap` that does not follow its form: its
//! payload type is then not used), errors name the 1-based line number.

use crate::g711::Codec;
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
    /// The only audio streams use a transport Senim does not support yet (e.g. RTP/SAVP).
    #[error("unsupported media transport {0}")]
    UnsupportedTransport(String),
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
            SdpError::NoCommonCodec | SdpError::UnsupportedTransport(_) => 488,
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
}

/// The index of the audio m= line to use, its codec and telephone-event PT.
fn select_audio(
    sd: &SessionDescription,
    acceptable: &[Codec],
) -> Result<(usize, Codec, Option<u8>), SdpError> {
    let mut unsupported = None;
    for (i, m) in sd.media.iter().enumerate() {
        if !m.kind.eq_ignore_ascii_case("audio") || m.port == 0 {
            continue;
        }
        if !m.is_rtp_avp() {
            unsupported.get_or_insert_with(|| m.protocol.clone());
            continue;
        }
        let codec = m
            .formats
            .iter()
            .filter_map(|&pt| m.codec_of(pt))
            .find(|c| acceptable.contains(c));
        if let Some(codec) = codec {
            return Ok((i, codec, m.telephone_event()));
        }
    }
    Err(match unsupported {
        Some(p) => SdpError::UnsupportedTransport(p),
        None => SdpError::NoCommonCodec,
    })
}

fn negotiated_for(
    sd: &SessionDescription,
    index: usize,
    codec: Codec,
    te: Option<u8>,
) -> Result<Negotiated, SdpError> {
    let m = &sd.media[index];
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
    Ok(Negotiated {
        codec,
        remote_rtp: SocketAddr::new(ip, m.port),
        telephone_event: te,
        direction: remote_dir.mirror(),
    })
}

/// UAS side: choose the audio stream and codec for an offer. The first audio
/// RTP/AVP m= line with a non-zero port and a codec in `supported` is used; the
/// codec is the first in the offer's order that is in `supported` (static PT 0/8
/// work without rtpmap); telephone-event/8000 with its dynamic PT. No usable stream
/// -> [`SdpError::NoCommonCodec`] (or `UnsupportedTransport` for SRTP-only offers);
/// the TU answers 488. The direction is mirrored (sendonly -> recvonly).
pub fn negotiate_offer(
    offer: &SessionDescription,
    supported: &[Codec],
) -> Result<Negotiated, SdpError> {
    let (i, codec, te) = select_audio(offer, supported)?;
    negotiated_for(offer, i, codec, te)
}

/// UAC side: process the answer to Senim's own offer. The answer's codec must be one
/// we offered; remote address, telephone-event PT and direction (mirrored) follow.
pub fn negotiate_answer(
    answer: &SessionDescription,
    offered: &[Codec],
) -> Result<Negotiated, SdpError> {
    let (i, codec, te) = select_audio(answer, offered)?;
    negotiated_for(answer, i, codec, te)
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

fn audio_section(
    out: &mut String,
    port: u16,
    codecs: &[Codec],
    te: Option<u8>,
    direction: Direction,
) {
    let _ = write!(out, "m=audio {port} RTP/AVP");
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
    );
    out
}

/// Senim's answer to `offer` with one m= line per offered line, as RFC 3264 §6
/// requires: the negotiated audio stream, and every other line rejected (port 0).
pub fn build_answer_to_offer(
    offer: &SessionDescription,
    local_ip: IpAddr,
    local_port: u16,
    session_id: u64,
    version: u64,
    negotiated: &Negotiated,
) -> String {
    let chosen = select_audio(offer, &[negotiated.codec])
        .ok()
        .map(|(i, _, _)| i);
    let mut out = String::with_capacity(256);
    session_header(&mut out, local_ip, session_id, version);
    for (i, m) in offer.media.iter().enumerate() {
        if Some(i) == chosen {
            audio_section(
                &mut out,
                local_port,
                &[negotiated.codec],
                negotiated.telephone_event,
                negotiated.direction,
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
    audio_section(&mut out, local_port, codecs, Some(101), Direction::SendRecv);
    out
}
