//! A small SIP/RTP test caller written from the RFCs, independent of Senim's
//! own SIP code, for assertions SIPp cannot make (RTP timing and headers).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

pub struct Caller {
    pub sip: UdpSocket,
    pub rtp: UdpSocket,
    pub server: SocketAddr,
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: String,
    pub cseq: u32,
    /// Senim's RTP address from its SDP.
    pub remote_rtp: Option<SocketAddr>,
    pub answer: String,
    /// The local address its SIP and RTP sockets are bound to.
    pub ip: IpAddr,
    /// The user part of its From (the caller's number as the trunk shows it).
    pub from_user: String,
    rtp_seq: u16,
    rtp_ts: u32,
}

/// One RTP packet as received.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub at: Instant,
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub len: usize,
}

pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

pub fn status(msg: &str) -> Option<u16> {
    msg.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

pub fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

impl Caller {
    pub fn new(server: SocketAddr) -> Caller {
        Self::new_from(server, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// A caller whose sockets are bound to `ip` (any of 127.0.0.0/8 works
    /// on Linux without set-up), so that it comes from another source than
    /// a trunk on 127.0.0.1.
    pub fn new_from(server: SocketAddr, ip: IpAddr) -> Caller {
        let sip = UdpSocket::bind(SocketAddr::new(ip, 0)).expect("bind sip");
        let rtp = UdpSocket::bind(SocketAddr::new(ip, 0)).expect("bind rtp");
        Caller {
            ip,
            sip,
            rtp,
            server,
            call_id: format!("{}@test", rand_hex()),
            from_tag: rand_hex(),
            to_tag: String::new(),
            cseq: 1,
            remote_rtp: None,
            answer: String::new(),
            from_user: "+77011234567".into(),
            rtp_seq: 1000,
            rtp_ts: 5000,
        }
    }

    fn sip_port(&self) -> u16 {
        self.sip.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn rtp_port(&self) -> u16 {
        self.rtp.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn offer(&self, formats: &str, rtpmaps: &str) -> String {
        format!(
            "v=0\r\no=test 1 1 IN IP4 {ip}\r\ns=test\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {formats}\r\n{rtpmaps}a=ptime:20\r\na=sendrecv\r\n",
            self.rtp_port(),
            ip = self.ip
        )
    }

    pub fn send_raw(&self, text: &str) {
        self.sip
            .send_to(text.as_bytes(), self.server)
            .expect("send");
    }

    /// Next SIP message, or None after `limit`.
    pub fn recv(&self, limit: Duration) -> Option<String> {
        self.sip.set_read_timeout(Some(limit)).ok()?;
        let mut buf = [0u8; 65535];
        let (n, _) = self.sip.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).to_string())
    }

    fn via(&self, branch: &str) -> String {
        format!(
            "Via: SIP/2.0/UDP {}:{};branch=z9hG4bK{branch};rport",
            self.ip,
            self.sip_port()
        )
    }

    pub fn request(
        &self,
        method: &str,
        cseq: u32,
        branch: &str,
        extra: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> String {
        let to_tag = if self.to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={}", self.to_tag)
        };
        let ct = content_type
            .map(|c| format!("Content-Type: {c}\r\n"))
            .unwrap_or_default();
        format!(
            "{method} sip:100@{server} SIP/2.0\r\n{via}\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@{ip}>;tag={from}\r\nTo: <sip:100@{server}>{to_tag}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\nContact: <sip:caller@{ip}:{port}>\r\n{extra}{ct}Content-Length: {len}\r\n\r\n{body}",
            server = self.server,
            via = self.via(branch),
            from = self.from_tag,
            user = self.from_user,
            cid = self.call_id,
            ip = self.ip,
            port = self.sip_port(),
            len = body.len(),
        )
    }

    /// INVITE (with `sdp` as offer, or none for a late offer) until the 200; ACK
    /// with `ack_sdp`. Returns the 200.
    pub fn call(&mut self, sdp: Option<&str>, ack_sdp: Option<&str>) -> String {
        let branch = rand_hex();
        let invite = self.request(
            "INVITE",
            self.cseq,
            &branch,
            "",
            sdp.map(|_| "application/sdp"),
            sdp.unwrap_or(""),
        );
        self.send_raw(&invite);
        let deadline = Instant::now() + Duration::from_secs(10);
        let ok = loop {
            assert!(Instant::now() < deadline, "no final response to INVITE");
            let Some(msg) = self.recv(Duration::from_secs(5)) else {
                continue;
            };
            match status(&msg) {
                Some(c) if c < 200 => continue,
                Some(200) => break msg,
                other => panic!("INVITE got {other:?}:\n{msg}"),
            }
        };
        let to = header(&ok, "To").expect("To");
        self.to_tag = to
            .split(";tag=")
            .nth(1)
            .map(|t| t.split(';').next().unwrap_or(t).to_string())
            .expect("to tag");
        self.answer = body(&ok).to_string();
        self.remote_rtp = sdp_addr(&self.answer);
        let ack = self.request(
            "ACK",
            self.cseq,
            &rand_hex(),
            "",
            ack_sdp.map(|_| "application/sdp"),
            ack_sdp.unwrap_or(""),
        );
        self.send_raw(&ack);
        ok
    }

    /// Receive RTP for `span`.
    pub fn rtp_for(&self, span: Duration) -> Vec<Received> {
        let mut out = Vec::new();
        let end = Instant::now() + span;
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            let left = end
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            self.rtp.set_read_timeout(Some(left)).ok();
            if let Ok((n, _)) = self.rtp.recv_from(&mut buf) {
                if n >= 12 {
                    out.push(Received {
                        at: Instant::now(),
                        pt: buf[1] & 0x7f,
                        marker: buf[1] & 0x80 != 0,
                        seq: u16::from_be_bytes([buf[2], buf[3]]),
                        ts: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
                        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
                        len: n,
                    });
                }
            }
        }
        out
    }

    /// Throw away the RTP received so far (queued in the socket).
    pub fn drain_rtp(&self) {
        let mut buf = [0u8; 2048];
        self.rtp.set_nonblocking(true).ok();
        while self.rtp.recv_from(&mut buf).is_ok() {}
        self.rtp.set_nonblocking(false).ok();
    }

    /// Talk and listen at once: send a sine tone of `freq_hz` as PCMU
    /// (payload type 0, 20 ms packets, paced in real time) for `span`, and
    /// return the PCMU payload of every packet with payload type 0 received
    /// meanwhile, in arrival order.
    pub fn send_tone_pcmu(&mut self, freq_hz: f64, span: Duration) -> Vec<u8> {
        let to = self.remote_rtp.expect("remote rtp");
        let packets = (span.as_millis() / 20) as u32;
        let start = Instant::now();
        let mut heard = Vec::new();
        let mut buf = [0u8; 2048];
        let mut n = 0u32;
        for i in 0..packets {
            let mut p = vec![0x80, if i == 0 { 0x80 } else { 0 }];
            p.extend_from_slice(&self.rtp_seq.to_be_bytes());
            p.extend_from_slice(&self.rtp_ts.to_be_bytes());
            p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            for _ in 0..160 {
                let t = f64::from(n) / 8000.0;
                let sample = 8000.0 * (2.0 * std::f64::consts::PI * freq_hz * t).sin();
                p.push(ulaw_encode(sample as i16));
                n += 1;
            }
            self.rtp.send_to(&p, to).expect("send rtp");
            self.rtp_seq = self.rtp_seq.wrapping_add(1);
            self.rtp_ts = self.rtp_ts.wrapping_add(160);
            // Listen until the next packet is due.
            let due = start + Duration::from_millis(20 * u64::from(i + 1));
            while let Some(left) = due.checked_duration_since(Instant::now()) {
                if left.is_zero() {
                    break;
                }
                self.rtp.set_read_timeout(Some(left)).ok();
                match self.rtp.recv_from(&mut buf) {
                    Ok((len, _)) => heard.extend_from_slice(pcmu_payload(&buf[..len])),
                    Err(_) => break,
                }
            }
        }
        heard
    }

    /// Listen for `span`: the PCMU payload of every packet with payload
    /// type 0 received, in arrival order.
    pub fn listen_pcmu(&self, span: Duration) -> Vec<u8> {
        let mut heard = Vec::new();
        let end = Instant::now() + span;
        let mut buf = [0u8; 2048];
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            if left.is_zero() {
                break;
            }
            self.rtp.set_read_timeout(Some(left)).ok();
            if let Ok((len, _)) = self.rtp.recv_from(&mut buf) {
                heard.extend_from_slice(pcmu_payload(&buf[..len]));
            }
        }
        heard
    }

    /// Send raw mu-law audio (e.g. `tests/media/dtmf-pound.ul`) as PCMU,
    /// 160 bytes a packet, paced at 20 ms; a short last packet is padded with silence.
    pub fn send_pcmu(&mut self, audio: &[u8]) {
        let to = self.remote_rtp.expect("remote rtp");
        let start = Instant::now();
        for (i, chunk) in audio.chunks(160).enumerate() {
            let mut p = vec![0x80, 0];
            p.extend_from_slice(&self.rtp_seq.to_be_bytes());
            p.extend_from_slice(&self.rtp_ts.to_be_bytes());
            p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            p.extend_from_slice(chunk);
            p.resize(12 + 160, 0xFF);
            self.rtp.send_to(&p, to).expect("send rtp");
            self.rtp_seq = self.rtp_seq.wrapping_add(1);
            self.rtp_ts = self.rtp_ts.wrapping_add(160);
            let due = start + Duration::from_millis(20 * (i as u64 + 1));
            if let Some(left) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(left);
            }
        }
    }

    /// Press a key by RFC 4733: three updates and three end packets, one timestamp.
    pub fn press_rfc4733(&mut self, digit: char, pt: u8) {
        let event = match digit {
            '0'..='9' => digit as u8 - b'0',
            '*' => 10,
            '#' => 11,
            _ => panic!("digit"),
        };
        let to = self.remote_rtp.expect("remote rtp");
        let ts = self.rtp_ts;
        for i in 0..6u16 {
            let end = i >= 3;
            let duration = 160 * (i.min(3) + 1);
            let mut p = vec![0x80, pt | if i == 0 { 0x80 } else { 0 }];
            p.extend_from_slice(&self.rtp_seq.to_be_bytes());
            p.extend_from_slice(&ts.to_be_bytes());
            p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            p.extend_from_slice(&[event, if end { 0x80 | 10 } else { 10 }]);
            p.extend_from_slice(&duration.to_be_bytes());
            self.rtp.send_to(&p, to).expect("send rtp");
            self.rtp_seq = self.rtp_seq.wrapping_add(1);
            std::thread::sleep(Duration::from_millis(20));
        }
        self.rtp_ts = self.rtp_ts.wrapping_add(160 * 8);
    }

    /// Send a DTMF key by SIP INFO and return the response status.
    pub fn press_info(&mut self, digit: char) -> Option<u16> {
        self.cseq += 1;
        let body = format!("Signal={digit}\r\nDuration=160\r\n");
        let info = self.request(
            "INFO",
            self.cseq,
            &rand_hex(),
            "",
            Some("application/dtmf-relay"),
            &body,
        );
        self.send_raw(&info);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(m) = self.recv(Duration::from_secs(1)) {
                if header(&m, "CSeq").is_some_and(|c| c.contains("INFO")) && status(&m).is_some() {
                    return status(&m);
                }
            }
        }
        None
    }

    /// Wait for Senim's BYE and answer it 200.
    pub fn wait_bye(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(m) = self.recv(Duration::from_millis(500)) {
                if m.starts_with("BYE ") {
                    let mut resp = String::from("SIP/2.0 200 OK\r\n");
                    for l in m.lines() {
                        let lower = l.to_ascii_lowercase();
                        if ["via:", "from:", "to:", "call-id:", "cseq:"]
                            .iter()
                            .any(|h| lower.starts_with(h))
                        {
                            resp.push_str(l);
                            resp.push_str("\r\n");
                        }
                    }
                    resp.push_str("Content-Length: 0\r\n\r\n");
                    self.send_raw(&resp);
                    return true;
                }
            }
        }
        false
    }

    pub fn bye(&mut self) -> Option<u16> {
        self.cseq += 1;
        let bye = self.request("BYE", self.cseq, &rand_hex(), "", None, "");
        self.send_raw(&bye);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(m) = self.recv(Duration::from_secs(1)) {
                if header(&m, "CSeq").is_some_and(|c| c.contains("BYE")) {
                    return status(&m);
                }
            }
        }
        None
    }
}

/// The payload of an RTP packet with payload type 0 (PCMU), past its
/// CSRCs, extension and padding; empty for anything else.
pub fn pcmu_payload(packet: &[u8]) -> &[u8] {
    let len = packet.len();
    if len <= 12 || packet[1] & 0x7f != 0 {
        return &[];
    }
    let mut at = 12 + 4 * usize::from(packet[0] & 0x0f);
    if packet[0] & 0x10 != 0 && len >= at + 4 {
        let words = u16::from_be_bytes([packet[at + 2], packet[at + 3]]);
        at += 4 + 4 * usize::from(words);
    }
    let mut end = len;
    if packet[0] & 0x20 != 0 {
        end = end.saturating_sub(usize::from(packet[len - 1]));
    }
    packet.get(at..end).unwrap_or(&[])
}

pub fn sdp_addr(sdp: &str) -> Option<SocketAddr> {
    let ip = sdp
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))?
        .trim();
    let port = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?;
    format!("{ip}:{port}").parse().ok()
}

pub fn rand_hex() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    format!("{:016x}", h.finish())
}

/// G.711 mu-law encoding of one 16-bit sample.
pub fn ulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s;
    }
    let s = s.min(CLIP) + BIAS;
    let exponent = (7 - (s.leading_zeros() as i32 - 17)).clamp(0, 7);
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

/// G.711 mu-law decoding of one byte.
pub fn ulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}
