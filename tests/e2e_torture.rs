//! RFC 4475 end to end: every torture message of `crates/sip/tests/torture`
//! (valid, invalid, either) is sent to the running binary over UDP and over
//! TCP (one message per write, each on a fresh connection), and what comes
//! back is checked against [`CASES`], which says per message what Senim
//! answers and why. Valid requests are answered as valid requests (never
//! 400), invalid ones are refused (400, 505) or dropped when no response can
//! be built, nothing panics, and after every message Senim still answers an
//! OPTIONS; at the end it still takes a normal call.
//!
//! Only loopback is ever addressed, by Senim as by the test:
//! * every `192.0.2.x` (TEST-NET-1, RFC 5737) in a message becomes
//!   `127.0.0.x`, the same length, so every Content-Length stays as true or
//!   as false as RFC 4475 wrote it; an SDP's `m=audio` port becomes a test
//!   socket on that loopback address, so the RTP of a call lands there;
//! * over UDP, Senim answers at the top Via's sent-by (RFC 3261 §18.2.2), so
//!   the test puts its own socket's `127.0.0.1:port` there, replacing only
//!   the host and port: line folding, LWS, compact names, the transport
//!   token and the parameters (or their absence) stay as written, since the
//!   Via syntax is the point of some messages (wsinv, badinv01, longreq);
//! * over TCP, Senim answers on the connection, so the Via stays as written;
//! * every call the test starts is acknowledged and ended with a BYE.
//!
//! inv2543 has no Content-Length: RFC 4475 §3.4.1 reads its body as the rest
//! of the datagram, which a stream does not have. Over TCP it is sent twice:
//! as written (Senim cannot cut the stream, answers 400 and closes) and with
//! the Content-Length a stream needs (RFC 3261 §18.3) added (a call).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use common::caller::{self, Caller};
use common::{port_block, Senim};

/// What comes back for one request of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A final response with this code (after any provisional ones).
    Final(u16),
    /// 200 with an SDP answer: a call, which the test acknowledges and
    /// ends with a BYE that Senim answers 200.
    Call,
    /// Nothing at all.
    Silence,
}

use Outcome::{Call, Final, Silence};

/// What Senim does with one RFC 4475 message.
struct Case {
    /// The file's stem.
    name: &'static str,
    /// valid, invalid or either (the directory).
    kind: &'static str,
    /// Over UDP.
    udp: &'static [Outcome],
    /// Over TCP.
    tcp: &'static [Outcome],
    /// Senim closes the TCP connection after answering.
    tcp_closes: bool,
    /// Why: the RFC 4475 section and the rule that decides the answer.
    why: &'static str,
}

const fn same(
    kind: &'static str,
    name: &'static str,
    both: &'static [Outcome],
    why: &'static str,
) -> Case {
    Case {
        name,
        kind,
        udp: both,
        tcp: both,
        tcp_closes: false,
        why,
    }
}

const CASES: &[Case] = &[
    // --- valid (RFC 4475 §3.1.1, §3.3, §3.4) ---
    same("valid", "bcast", &[Silence], "§3.3.10: a 200 for no transaction of Senim's is a stray response, dropped (RFC 3261 §18.1.2)"),
    same("valid", "bext01", &[Final(420)], "§3.3.5: Require names extensions Senim lacks: 420 with Unsupported (RFC 3261 §8.2.2.3); Proxy-Require is for proxies"),
    same("valid", "cparam01", &[Final(401)], "§3.3.12: a REGISTER, challenged (the registrar answers unknown users as it does known ones)"),
    same("valid", "cparam02", &[Final(401)], "§3.3.13: as cparam01"),
    Case {
        name: "dblreq",
        kind: "valid",
        udp: &[Final(401)],
        tcp: &[Final(401), Call],
        tcp_closes: false,
        why: "§3.1.1.8: over UDP the REGISTER (Content-Length 0) is the message and the INVITE after it is ignored (RFC 3261 §18.3); on a stream the INVITE is the next message, and a call",
    },
    same("valid", "esc01", &[Call], "§3.1.1.3: escapes in the Request-URI, To, From and Contact; a call (it was answered 400: its SDP's a=rtpmap:31 LPC failed the offer)"),
    same("valid", "esc02", &[Final(501)], "§3.1.1.5: RE%47IST%45R is a method Senim does not know (escapes do not apply to methods): 501"),
    same("valid", "escnull", &[Final(401)], "§3.1.1.4: a REGISTER with %00 in URIs, challenged"),
    same("valid", "intmeth", &[Final(501)], "§3.1.1.2: an unknown method of odd characters: 501"),
    Case {
        name: "inv2543",
        kind: "valid",
        udp: &[Call],
        tcp: &[Final(400)],
        tcp_closes: true,
        why: "§3.4.1: RFC 2543 syntax (no branch, no From tag, no Contact, Max-Forwards or Content-Length): a call (it was answered 400: no From tag). Over TCP as written it cannot be framed: 400, then the close; see `inv2543+content-length`",
    },
    same("valid", "invut", &[Final(415)], "§3.3.6: a body of an unknown type: 415 with Accept (RFC 3261 §8.2.3)"),
    same("valid", "longreq", &[Call], "§3.1.1.7: long values, 34 Vias, compact names; a call (it was answered 400, as esc01)"),
    same("valid", "lwsdisp", &[Final(200)], "§3.1.1.6: no LWS between display name and <: OPTIONS answered 200"),
    same("valid", "noreason", &[Silence], "§3.1.1.13: a response: stray, dropped"),
    same("valid", "novelsc", &[Final(416)], "§3.3.3: a soap.beep Request-URI: 416 (RFC 3261 §8.2.2.1)"),
    same("valid", "regaut01", &[Final(401)], "§3.3.7: an unknown authorization scheme: challenged"),
    same("valid", "regescrt", &[Final(401)], "§3.3.14: an escaped header in a Contact URI: challenged"),
    same("valid", "sdp01", &[Final(406)], "§3.3.15: Accept rules out SDP, which Senim's answer must be: 406 with Warning 399"),
    same("valid", "semiuri", &[Final(200)], "§3.1.1.9: a ; in the Request-URI user part: OPTIONS answered 200"),
    same("valid", "transports", &[Final(200)], "§3.1.1.10: Vias of many transports: OPTIONS answered 200"),
    same("valid", "unkscm", &[Final(416)], "§3.3.2: an unknown Request-URI scheme: 416 (RFC 3261 §8.2.2.1)"),
    same("valid", "unksm2", &[Final(416)], "§3.3.4: a REGISTER whose To is an isbn: URI: the registrar answers 416"),
    same("valid", "unreason", &[Silence], "§3.1.1.12: a response: stray, dropped"),
    same("valid", "wsinv", &[Final(481)], "§3.1.1.1: folded, spaced headers; it carries a To tag of no dialog of Senim's: 481 (RFC 3261 §12.2.2)"),
    same("valid", "zeromf", &[Final(200)], "§3.3.11: Max-Forwards 0 binds proxies; the UAS answers the OPTIONS 200"),
    // --- invalid (RFC 4475 §3.1.2, §3.3) ---
    same("invalid", "badinv01", &[Final(400)], "§3.1.2.1: empty Via and Contact parameters"),
    same("invalid", "badvers", &[Final(505)], "§3.1.2.16: SIP/7.0: 505"),
    same("invalid", "bigcode", &[Silence], "§3.1.2.19: a response with a status code over 699: dropped"),
    Case {
        name: "clerr",
        kind: "invalid",
        udp: &[Final(400)],
        tcp: &[Silence],
        tcp_closes: false,
        why: "§3.1.2.2: Content-Length 9999 over a shorter body: 400 over UDP; on a stream the rest is still to come, so nothing is answered yet (the connection is closed by the client, or by Senim when no whole message came within its first-message limit)",
    },
    same("invalid", "escruri", &[Final(400)], "§3.1.2.11: escaped headers in a Request-URI"),
    same("invalid", "insuf", &[Silence], "§3.3.1: no Call-ID, From or To: no response can be built, dropped"),
    same("invalid", "ltgtruri", &[Final(400)], "§3.1.2.7: <> around the Request-URI"),
    same("invalid", "lwsruri", &[Final(400)], "§3.1.2.8: LWS in the Request-URI"),
    same("invalid", "lwsstart", &[Final(400)], "§3.1.2.9: two spaces in the request line"),
    Case {
        name: "mcl01",
        kind: "invalid",
        udp: &[Final(400)],
        tcp: &[Final(400)],
        tcp_closes: true,
        why: "§3.3.9: two Content-Lengths: 400; on a stream the message has no end, so the connection closes after the 400",
    },
    same("invalid", "mismatch01", &[Final(400)], "§3.1.2.17: CSeq method differs from the method"),
    same("invalid", "mismatch02", &[Final(400)], "§3.1.2.18: an unknown method with another CSeq method"),
    same("invalid", "multi01", &[Final(400)], "§3.3.8: two of each single-value header"),
    Case {
        name: "ncl",
        kind: "invalid",
        udp: &[Final(400)],
        tcp: &[Final(400)],
        tcp_closes: true,
        why: "§3.1.2.3: Content-Length -999: 400, and on a stream the close",
    },
    same("invalid", "quotbal", &[Final(400)], "§3.1.2.6: an unbalanced quote in To"),
    same("invalid", "scalar02", &[Final(400)], "§3.1.2.4: CSeq and Expires out of range"),
    same("invalid", "scalarlg", &[Silence], "§3.1.2.5: a response with scalars out of range: dropped"),
    same("invalid", "trws", &[Final(400)], "§3.1.2.10: trailing whitespace after SIP/2.0"),
    // --- either (RFC 4475 lets a receiver take or refuse these) ---
    same("either", "badaspec", &[Final(200)], "§3.1.2.14: spaces inside <> in To: read leniently, OPTIONS answered 200"),
    same("either", "badbranch", &[Final(200)], "§3.2.1: a bare z9hG4bK branch: taken, 200"),
    same("either", "baddate", &[Call], "§3.1.2.12: a Date in EST: Senim reads no Date, so a call"),
    same("either", "baddn", &[Final(200)], "§3.1.2.15: an unquoted display name with a comma: 200"),
    same("either", "regbadct", &[Final(400)], "§3.1.2.13: a Contact with a ? outside <>: refused 400"),
];

/// The inv2543 variant for streams.
const INV2543_CL: &str = "inv2543+content-length";

fn torture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/sip/tests/torture")
}

fn read_case(case: &Case) -> Vec<u8> {
    let path = torture_dir()
        .join(case.kind)
        .join(format!("{}.sip", case.name));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn replace_all(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

fn head_end(data: &[u8]) -> usize {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(data.len())
}

/// The byte range of the top Via's sent-by (host and port) in the head, by
/// the RFC 3261 Via grammar with LWS (folding included) wherever it may be.
fn top_via_sent_by(data: &[u8]) -> Option<(usize, usize)> {
    let end = head_end(data);
    let head = &data[..end];
    let lws = |mut i: usize| {
        while i < end && matches!(head[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        i
    };
    let word = |i: usize| {
        let mut j = i;
        while j < end && (head[j].is_ascii_alphanumeric() || matches!(head[j], b'.' | b'-')) {
            j += 1;
        }
        j
    };
    let mut line_start = head.iter().position(|b| *b == b'\n')? + 1;
    while line_start < end {
        let line_end = head[line_start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(end, |p| line_start + p);
        let line = &head[line_start..line_end];
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            let name = String::from_utf8_lossy(&line[..colon]);
            let name = name.trim();
            if !line.starts_with(b" ")
                && !line.starts_with(b"\t")
                && (name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v"))
            {
                // SIP / version / transport LWS sent-by
                let mut i = lws(line_start + colon + 1);
                i = word(i); // "SIP"
                i = lws(i);
                (head.get(i) == Some(&b'/')).then_some(())?;
                i = word(lws(i + 1)); // version
                i = lws(i);
                (head.get(i) == Some(&b'/')).then_some(())?;
                i = word(lws(i + 1)); // transport
                let host = lws(i);
                let mut j = word(host);
                if head.get(j) == Some(&b':') {
                    j += 1;
                    while j < end && head[j].is_ascii_digit() {
                        j += 1;
                    }
                }
                return (j > host).then_some((host, j));
            }
        }
        line_start = line_end + 1;
    }
    None
}

/// Loopback test sockets for the RTP of the calls: one per `127.0.0.x`
/// an SDP names, all on one port.
struct RtpSinks {
    port: u16,
    sockets: BTreeMap<Ipv4Addr, UdpSocket>,
}

impl RtpSinks {
    fn new() -> RtpSinks {
        for _ in 0..20 {
            let port = port_block() + 7;
            if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
                assert_eq!(port.to_string().len(), 5, "same length as 49217");
                return RtpSinks {
                    port,
                    sockets: BTreeMap::new(),
                };
            }
        }
        panic!("no free port for the RTP sinks");
    }

    fn hold(&mut self, ip: Ipv4Addr) {
        if !self.sockets.contains_key(&ip) {
            let socket = UdpSocket::bind((ip, self.port)).expect("bind an RTP sink");
            socket.set_nonblocking(true).expect("nonblocking");
            self.sockets.insert(ip, socket);
        }
    }
}

/// The message as sent: loopback only (see the file's comment), with the
/// UDP socket's address in the top Via when `via_port` is given.
fn prepare(raw: &[u8], via_port: Option<u16>, sinks: &mut RtpSinks) -> Vec<u8> {
    let mut data = replace_all(raw, b"192.0.2.", b"127.0.0.");
    data = replace_all(
        &data,
        b"m=audio 49217 ",
        format!("m=audio {} ", sinks.port).as_bytes(),
    );
    if let Some(port) = via_port {
        if let Some((from, to)) = top_via_sent_by(&data) {
            let mut out = data[..from].to_vec();
            out.extend_from_slice(format!("127.0.0.1:{port}").as_bytes());
            out.extend_from_slice(&data[to..]);
            data = out;
        } else {
            assert!(
                data.starts_with(b"SIP/"),
                "a request without a Via the test can point at itself"
            );
        }
    }
    // Where Senim could send: the SDP's addresses (held by sinks) and any
    // numeric route. Nothing outside loopback.
    let text = String::from_utf8_lossy(&data).to_string();
    for line in text.lines() {
        if let Some(addr) = line.strip_prefix("c=IN IP4 ") {
            let ip: Ipv4Addr = addr.trim().parse().expect("c= address");
            assert!(ip.is_loopback(), "{line}");
            sinks.hold(ip);
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("record-route") || lower.starts_with("route") {
            let literals = line
                .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .filter_map(|piece| piece.parse::<Ipv4Addr>().ok());
            for ip in literals {
                assert!(ip.is_loopback(), "a route Senim could use: {line}");
            }
        }
    }
    data
}

/// inv2543 with the Content-Length a stream needs.
fn with_content_length(data: &[u8]) -> Vec<u8> {
    let end = head_end(data);
    let body_len = data.len().saturating_sub(end + 4);
    let mut out = data[..end].to_vec();
    out.extend_from_slice(format!("\r\nContent-Length: {body_len}").as_bytes());
    out.extend_from_slice(&data[end..]);
    out
}

/// A UDP socket or a TCP connection of the test's.
enum Link {
    Udp {
        socket: UdpSocket,
        server: SocketAddr,
    },
    Tcp {
        stream: TcpStream,
        buffer: Vec<u8>,
        closed: bool,
    },
}

impl Link {
    fn udp(server: SocketAddr) -> Link {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        Link::Udp { socket, server }
    }

    fn tcp(server: SocketAddr) -> Link {
        let stream = TcpStream::connect(server).expect("connect");
        let _ = stream.set_nodelay(true);
        Link::Tcp {
            stream,
            buffer: Vec::new(),
            closed: false,
        }
    }

    fn local(&self) -> SocketAddr {
        match self {
            Link::Udp { socket, .. } => socket.local_addr().expect("address"),
            Link::Tcp { stream, .. } => stream.local_addr().expect("address"),
        }
    }

    fn transport(&self) -> &'static str {
        match self {
            Link::Udp { .. } => "UDP",
            Link::Tcp { .. } => "TCP",
        }
    }

    fn send(&mut self, data: &[u8]) {
        match self {
            Link::Udp { socket, server } => {
                socket.send_to(data, *server).expect("send");
            }
            Link::Tcp { stream, closed, .. } => {
                if !*closed && stream.write_all(data).is_err() {
                    *closed = true;
                }
            }
        }
    }

    fn closed(&self) -> bool {
        matches!(self, Link::Tcp { closed: true, .. })
    }

    /// The next message, or `None` by `until` (or once a connection closed).
    fn recv(&mut self, until: Instant) -> Option<String> {
        let mut buf = vec![0u8; 65_535];
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            match self {
                Link::Udp { socket, .. } => {
                    socket.set_read_timeout(Some(left)).ok()?;
                    let (n, _) = socket.recv_from(&mut buf).ok()?;
                    return Some(String::from_utf8_lossy(&buf[..n]).to_string());
                }
                Link::Tcp {
                    stream,
                    buffer,
                    closed,
                } => {
                    if let Some(message) = take_message(buffer) {
                        return Some(message);
                    }
                    if *closed {
                        return None;
                    }
                    stream.set_read_timeout(Some(left)).ok()?;
                    match stream.read(&mut buf) {
                        Ok(0) => *closed = true,
                        Ok(n) => buffer.extend_from_slice(&buf[..n]),
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                        {
                            return None
                        }
                        Err(_) => *closed = true,
                    }
                }
            }
        }
    }
}

/// One whole message off the front of a stream buffer (Senim always sends
/// Content-Length).
fn take_message(buffer: &mut Vec<u8>) -> Option<String> {
    while buffer.starts_with(b"\r\n") {
        buffer.drain(..2);
    }
    let end = head_end(buffer);
    if end == buffer.len() {
        return None;
    }
    let head = String::from_utf8_lossy(&buffer[..end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case("Content-Length") || n.eq_ignore_ascii_case("l"))
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let total = end + 4 + length;
    if buffer.len() < total {
        return None;
    }
    let message: Vec<u8> = buffer.drain(..total).collect();
    Some(String::from_utf8_lossy(&message).to_string())
}

/// What came back for one message.
#[derive(Debug, Default)]
struct Exchange {
    /// Final responses to the message's requests, in order, retransmissions
    /// left out.
    finals: Vec<u16>,
    /// Final responses to the test's BYEs.
    byes: Vec<u16>,
    /// Everything received, for failure messages.
    seen: Vec<String>,
}

fn cseq_of(msg: &str) -> String {
    caller::header(msg, "CSeq").unwrap_or("").to_string()
}

fn uri_in(name_addr: &str) -> String {
    match (name_addr.find('<'), name_addr.find('>')) {
        (Some(a), Some(b)) if a < b => name_addr[a + 1..b].to_string(),
        _ => name_addr
            .split(';')
            .next()
            .unwrap_or(name_addr)
            .trim()
            .to_string(),
    }
}

/// An ACK or BYE from the headers of `response`.
fn in_dialog(method: &str, uri: &str, via: &str, response: &str, cseq: u32) -> String {
    let h = |name: &str| caller::header(response, name).unwrap_or("").to_string();
    format!(
        "{method} {uri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
        h("From"),
        h("To"),
        h("Call-ID"),
    )
}

/// The Request-URI of the first INVITE in the data.
fn invite_uri(data: &[u8]) -> String {
    String::from_utf8_lossy(data)
        .lines()
        .find_map(|l| l.strip_prefix("INVITE "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("sip:senim")
        .to_string()
}

/// Send `data` and take what comes back, acknowledging INVITE answers and
/// ending calls, until the expected answers are in (or the time is up).
fn exchange(link: &mut Link, data: &[u8], expected: &[Outcome]) -> Exchange {
    let wanted = expected.iter().filter(|o| **o != Silence).count();
    let calls = expected.iter().filter(|o| **o == Call).count();
    let mut out = Exchange::default();
    let mut seen_finals = HashSet::new();
    let local = link.local();
    let transport = link.transport();
    let mut n = 0u32;
    let mut fresh_via = || {
        n += 1;
        format!("SIP/2.0/{transport} {local};branch=z9hG4bK-torture-{n};rport")
    };
    link.send(data);
    let started = Instant::now();
    let mut deadline = started
        + if wanted == 0 {
            Duration::from_millis(1500)
        } else {
            Duration::from_secs(10)
        };
    let mut done_at: Option<Instant> = None;
    while let Some(msg) = link.recv(deadline) {
        out.seen.push(msg.clone());
        let Some(code) = caller::status(&msg) else {
            // A request of Senim's (a BYE ending a call): 200.
            if msg.starts_with("BYE ") {
                let mut ok = String::from("SIP/2.0 200 OK\r\n");
                for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
                    if let Some(v) = caller::header(&msg, name) {
                        ok.push_str(&format!("{name}: {v}\r\n"));
                    }
                }
                ok.push_str("Content-Length: 0\r\n\r\n");
                link.send(ok.as_bytes());
            }
            continue;
        };
        if code < 200 {
            continue;
        }
        let cseq = cseq_of(&msg);
        if !seen_finals.insert((cseq.clone(), code)) {
            continue; // a retransmission
        }
        let number: u32 = cseq
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        if cseq.ends_with("BYE") {
            out.byes.push(code);
        } else {
            out.finals.push(code);
        }
        if cseq.ends_with("INVITE") {
            if (200..300).contains(&code) {
                let contact =
                    caller::header(&msg, "Contact").map_or_else(|| invite_uri(data), uri_in);
                let via = fresh_via();
                link.send(in_dialog("ACK", &contact, &via, &msg, number).as_bytes());
                let via = fresh_via();
                link.send(in_dialog("BYE", &contact, &via, &msg, number + 1).as_bytes());
            } else {
                // Non-2xx: the ACK reuses the INVITE's top Via (RFC 3261 §17.1.1.3).
                let via = caller::header(&msg, "Via").unwrap_or("").to_string();
                link.send(in_dialog("ACK", &invite_uri(data), &via, &msg, number).as_bytes());
            }
        }
        if done_at.is_none() && out.finals.len() >= wanted && out.byes.len() >= calls {
            // Anything unexpected after the expected answers is caught too.
            let at = Instant::now() + Duration::from_millis(300);
            done_at = Some(at);
            deadline = at;
        }
    }
    out
}

fn expected_codes(outcomes: &[Outcome]) -> Vec<u16> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            Final(code) => Some(*code),
            Call => Some(200),
            Silence => None,
        })
        .collect()
}

/// An OPTIONS of a well-behaved client is answered 200.
fn options_answered(senim: &Senim) -> bool {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let local = socket.local_addr().expect("address");
    let request = format!(
        "OPTIONS sip:senim@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-alive-{id};rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=p{id}\r\nTo: <sip:senim@{to}>\r\nCall-ID: alive-{id}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        to = senim.sip,
        id = local.port(),
    );
    socket.send_to(request.as_bytes(), senim.sip).expect("send");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 65_535];
    match socket.recv_from(&mut buf) {
        Ok((n, _)) => String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200 "),
        Err(_) => false,
    }
}

/// The messages to send over one transport: (label, bytes as on disk,
/// expected outcomes, closes).
fn plan(tcp: bool) -> Vec<(String, Vec<u8>, &'static [Outcome], bool)> {
    let mut out = Vec::new();
    for case in CASES {
        let raw = read_case(case);
        let (expected, closes) = if tcp {
            (case.tcp, case.tcp_closes)
        } else {
            (case.udp, false)
        };
        out.push((case.name.to_string(), raw.clone(), expected, closes));
        if tcp && case.name == "inv2543" {
            out.push((
                INV2543_CL.to_string(),
                with_content_length(&raw),
                &[Call] as &'static [Outcome],
                false,
            ));
        }
    }
    out
}

async fn run(tcp: bool) {
    let senim = Senim::start(&[]);
    let mut sinks = RtpSinks::new();
    let mut failures = Vec::new();
    let mut calls = 0;
    let mut refused = 0;
    for (label, raw, expected, closes) in plan(tcp) {
        let mut link = if tcp {
            Link::tcp(senim.sip)
        } else {
            Link::udp(senim.sip)
        };
        let via_port = (!tcp).then(|| link.local().port());
        let data = prepare(&raw, via_port, &mut sinks);
        let got = exchange(&mut link, &data, expected);
        calls += expected.iter().filter(|o| **o == Call).count();
        // INVITEs the call core refuses for their body or Accept still make
        // a call record.
        refused += expected
            .iter()
            .filter(|o| matches!(o, Final(415) | Final(406)))
            .count();
        let want = expected_codes(expected);
        let want_byes = vec![200; expected.iter().filter(|o| **o == Call).count()];
        if got.finals != want || got.byes != want_byes {
            failures.push(format!(
                "{label}: expected {expected:?}, got finals {:?} and BYE answers {:?}; received:\n{}",
                got.finals,
                got.byes,
                got.seen.join("\n----\n")
            ));
        }
        if tcp {
            // Whether Senim closed the connection: a closed one reads EOF soon.
            let mut closed = link.closed();
            if !closed && closes {
                let _ = link.recv(Instant::now() + Duration::from_secs(2));
                closed = link.closed();
            }
            if closed != closes {
                failures.push(format!(
                    "{label}: the connection {} closed by Senim",
                    if closes { "was not" } else { "was" }
                ));
            }
        }
        if !options_answered(&senim) {
            failures.push(format!("{label}: no answer to an OPTIONS afterwards"));
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nsenim log:\n{}",
        failures.join("\n\n"),
        senim.log()
    );

    // Still a working IVR: a normal call is answered and ends well.
    let mut c = Caller::new(senim.sip);
    let offer = c.offer(
        "0 101",
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
    );
    let ok = c.call(Some(&offer), None);
    assert!(ok.contains("m=audio "), "{ok}");
    assert!(
        !c.rtp_for(Duration::from_millis(500)).is_empty(),
        "prompts play"
    );
    assert_eq!(c.bye(), Some(200));

    // Every call the test started (and the normal one) was ended by its
    // BYE; the refused ones are on record as refused.
    let records = senim.ended_calls(calls + 1 + refused).await;
    let outcomes: Vec<&str> = records
        .iter()
        .map(|r| r.outcome.as_deref().unwrap_or(""))
        .collect();
    let hangups = outcomes.iter().filter(|o| **o == "caller-hangup").count();
    let rejected = outcomes.iter().filter(|o| **o == "rejected-media").count();
    assert_eq!(
        (hangups, rejected, records.len()),
        (calls + 1, refused, calls + 1 + refused),
        "{outcomes:?}"
    );
    let log = senim.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn every_message_has_a_case_and_every_case_a_message() {
    let mut on_disk = Vec::new();
    for kind in ["valid", "invalid", "either"] {
        for entry in std::fs::read_dir(torture_dir().join(kind)).expect("torture dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "sip") {
                let stem = path.file_stem().map(|s| s.to_string_lossy().to_string());
                on_disk.push((kind.to_string(), stem.unwrap_or_default()));
            }
        }
    }
    on_disk.sort();
    let mut cases: Vec<(String, String)> = CASES
        .iter()
        .map(|c| (c.kind.to_string(), c.name.to_string()))
        .collect();
    cases.sort();
    assert_eq!(on_disk, cases);
    for case in CASES {
        assert!(!case.why.is_empty(), "{}", case.name);
        // A valid request is never answered 400, an invalid one never taken.
        let all = case.udp.iter().chain(case.tcp);
        match case.kind {
            "valid" if case.name != "inv2543" => {
                assert!(all.clone().all(|o| *o != Final(400)), "{}", case.name)
            }
            "invalid" => assert!(
                all.clone()
                    .all(|o| matches!(o, Final(400) | Final(505) | Silence)),
                "{}",
                case.name
            ),
            _ => {}
        }
    }
}

#[test]
fn the_top_via_sent_by_is_found_in_every_request() {
    for case in CASES {
        let raw = read_case(case);
        if raw.starts_with(b"SIP/") {
            continue;
        }
        let (from, to) = top_via_sent_by(&raw).unwrap_or_else(|| panic!("{}", case.name));
        let host = String::from_utf8_lossy(&raw[from..to]).to_string();
        assert!(
            !host.is_empty() && !host.contains(char::is_whitespace),
            "{}: {host:?}",
            case.name
        );
    }
    let wsinv = read_case(&CASES[CASES.iter().position(|c| c.name == "wsinv").unwrap_or(0)]);
    let (from, to) = top_via_sent_by(&wsinv).expect("wsinv");
    assert_eq!(&wsinv[from..to], b"192.0.2.2");
}

#[tokio::test(flavor = "multi_thread")]
async fn rfc4475_over_udp() {
    run(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rfc4475_over_tcp() {
    run(true).await;
}
