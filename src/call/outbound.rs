//! A call's outbound legs as the controller keeps them: the sans-IO [`Leg`]
//! with its RTP socket, the whisper stream, DTMF detection, and a small
//! reader task that hands the leg's RTP and prompt events to the call.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use senim_media::dtmf::{DtmfSource, InbandDetector, Rfc4733Receiver};
use senim_media::g711::Codec;
use senim_media::prompts::{Language, Prompt};
use senim_media::rtp;
use senim_routing::specialists::SpecialistId;
use senim_sip::message::Peer;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;

use super::leg::Leg;
use crate::driver::media::{MediaEvent, StreamHandle};

/// Whom a leg calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegPurpose {
    /// A specialist, for a routed call (whisper, accept key).
    Specialist(SpecialistId),
    /// A partner centre, for a bridged transfer (no whisper).
    Partner(String),
    /// The person a follow-up calls back (click-to-call), by follow-up id.
    Callee(String),
}

impl LegPurpose {
    /// The id for records and logs (never a number or address).
    pub fn who(&self) -> &str {
        match self {
            LegPurpose::Specialist(id) => id.as_str(),
            LegPurpose::Partner(id) => id,
            LegPurpose::Callee(_) => "callee",
        }
    }
}

/// What a leg's reader task reports.
#[derive(Debug)]
pub enum LegInput {
    /// An RTP datagram arrived on the leg's socket.
    Rtp {
        leg: u64,
        data: Vec<u8>,
        from: SocketAddr,
    },
    /// A prompt on the leg's stream ended.
    PromptFinished { leg: u64, token: u64 },
}

/// One outbound leg of a call.
pub struct LegSlot {
    pub id: u64,
    pub purpose: LegPurpose,
    pub leg: Leg,
    /// A duplicate of the leg's RTP socket, for relaying the caller's media.
    pub send: std::net::UdpSocket,
    pub local_port: u16,
    /// The whisper stream (prompts and silence), while not bridged.
    pub stream: Option<StreamHandle>,
    pub events_tx: mpsc::UnboundedSender<MediaEvent>,
    pub remote: Option<SocketAddr>,
    pub latched: bool,
    pub codec: Codec,
    pub telephone_event: Option<u8>,
    pub rfc4733: Rfc4733Receiver,
    pub inband: Option<InbandDetector>,
    /// The rest of the whisper after the prompt that plays.
    pub whisper: VecDeque<Arc<Prompt>>,
    pub whisper_token: u64,
    /// The leg accepted (the key, or a bridge-on-answer leg answered).
    pub accepted: bool,
    /// The leg's media is bridged: its RTP goes to the other side.
    pub bridged: bool,
    /// The language of its whisper and hold audio.
    pub language: Language,
    /// Hold audio looping on the leg: the playing token and the prompt.
    pub looping: Option<(u64, Arc<Prompt>)>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for LegSlot {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl LegSlot {
    /// Wrap a new leg with its RTP socket (bound, not yet registered) and
    /// start its reader.
    pub fn new(
        id: u64,
        purpose: LegPurpose,
        leg: Leg,
        socket: std::net::UdpSocket,
        inputs: mpsc::UnboundedSender<LegInput>,
    ) -> std::io::Result<LegSlot> {
        let local_port = socket.local_addr()?.port();
        socket.set_nonblocking(true)?;
        let send = socket.try_clone()?;
        // SAFETY: a std UdpSocket owns its descriptor, keeps it open until it
        // is dropped, and `as_raw_fd` always returns that same descriptor; the
        // AsyncFd owns the socket for its whole life.
        let fd = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_leg(id, fd, events, inputs));
        Ok(LegSlot {
            id,
            purpose,
            leg,
            send,
            local_port,
            stream: None,
            events_tx,
            remote: None,
            latched: false,
            codec: Codec::Pcmu,
            telephone_event: None,
            rfc4733: Rfc4733Receiver::new(),
            inband: None,
            whisper: VecDeque::new(),
            whisper_token: 0,
            accepted: false,
            bridged: false,
            language: Language::Ru,
            looping: None,
            reader,
        })
    }

    /// The specialist this leg rings, if it is a specialist's leg.
    pub fn specialist(&self) -> Option<&SpecialistId> {
        match &self.purpose {
            LegPurpose::Specialist(id) => Some(id),
            LegPurpose::Partner(_) | LegPurpose::Callee(_) => None,
        }
    }

    /// Symmetric RTP: learn the far end's address from its first packet.
    pub fn latch(&mut self, from: SocketAddr) {
        if !self.latched {
            self.latched = true;
            if self.remote != Some(from) {
                self.remote = Some(from);
                if let Some(s) = &self.stream {
                    s.set_remote(from);
                }
            }
        }
    }

    /// A digit in the leg's RTP (RFC 4733 or in-band), if any.
    pub fn detect_digit(&mut self, data: &[u8]) -> Option<(char, DtmfSource)> {
        let (header, payload) = rtp::parse(data).ok()?;
        if Some(header.payload_type) == self.telephone_event {
            return self
                .rfc4733
                .handle(header.timestamp, payload)
                .map(|d| (d.as_char(), DtmfSource::Rfc4733));
        }
        let det = self.inband.as_mut()?;
        let codec = Codec::from_payload_type(header.payload_type)?;
        let mut pcm = [0i16; 160];
        let mut found = None;
        for chunk in payload.chunks(160) {
            let out = &mut pcm[..chunk.len()];
            codec.decode(chunk, out);
            if let Some(d) = det.push(out) {
                found = Some((d.as_char(), DtmfSource::Inband));
            }
        }
        found
    }
}

async fn read_leg(
    leg: u64,
    socket: AsyncFd<std::net::UdpSocket>,
    mut events: mpsc::UnboundedReceiver<MediaEvent>,
    inputs: mpsc::UnboundedSender<LegInput>,
) {
    let mut buf = [0u8; 2048];
    loop {
        tokio::select! {
            r = super::controller::recv_from(&socket, &mut buf) => {
                if let Ok((n, from)) = r {
                    if let Some(data) = buf.get(..n) {
                        let msg = LegInput::Rtp { leg, data: data.to_vec(), from };
                        if inputs.send(msg).is_err() {
                            return;
                        }
                    }
                }
            }
            ev = events.recv() => match ev {
                Some(MediaEvent::PromptFinished { token }) => {
                    if inputs.send(LegInput::PromptFinished { leg, token }).is_err() {
                        return;
                    }
                }
                None => return,
            }
        }
    }
}

/// Relay one RTP packet from one side of a bridge to the other: the audio
/// payload is transcoded when the two sides chose different G.711 laws,
/// telephone-events get the other side's payload type (or are dropped when
/// that side has none). Returns the packet to send, or None to drop it.
pub fn relay_packet(
    data: &[u8],
    from_codec: Codec,
    from_te: Option<u8>,
    to_codec: Codec,
    to_te: Option<u8>,
) -> Option<Vec<u8>> {
    let (header, payload) = rtp::parse(data).ok()?;
    let header_len = (payload.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
    let payload_len = payload.len();
    let mut out = data.to_vec();
    let marker = out.get(1).copied()? & 0x80;
    if Some(header.payload_type) == from_te {
        let te = to_te?;
        *out.get_mut(1)? = marker | (te & 0x7f);
        return Some(out);
    }
    if Codec::from_payload_type(header.payload_type) != Some(from_codec) {
        return None;
    }
    *out.get_mut(1)? = marker | (to_codec.payload_type() & 0x7f);
    if from_codec != to_codec {
        let body = out.get_mut(header_len..header_len.checked_add(payload_len)?)?;
        let mut pcm = [0i16; 1];
        for byte in body.iter_mut() {
            from_codec.decode(std::slice::from_ref(byte), &mut pcm);
            let mut enc = [0u8; 1];
            to_codec.encode(&pcm, &mut enc);
            *byte = enc[0];
        }
    }
    Some(out)
}

/// Where to send a leg's INVITE for a URI: its host must be an IP literal
/// (Senim does not resolve names for outbound legs; configure addresses).
pub fn peer_of_uri(uri: &rsip::Uri) -> Option<Peer> {
    let ip: std::net::IpAddr = match &uri.host_with_port.host {
        rsip::Host::IpAddr(ip) => *ip,
        rsip::Host::Domain(d) => d.to_string().trim_matches(['[', ']']).parse().ok()?,
    };
    let port = uri.host_with_port.port.map_or(5060, |p| *p.value());
    let tcp = uri.params.iter().any(
        |p| matches!(p, rsip::Param::Transport(t) if t.to_string().eq_ignore_ascii_case("tcp")),
    );
    if tcp {
        // Outbound TCP connections are not opened by Senim; a registered
        // softphone's own connection is used instead (its binding's source).
        return None;
    }
    Some(Peer::udp(SocketAddr::new(ip, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pt: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn same_codec_is_relayed_unchanged() {
        let p = packet(0, &[0xff; 160]);
        let out = relay_packet(&p, Codec::Pcmu, Some(101), Codec::Pcmu, Some(101)).unwrap();
        assert_eq!(out, p);
    }

    #[test]
    fn law_is_converted_and_payload_type_rewritten() {
        let p = packet(0, &[0xff; 160]);
        let out = relay_packet(&p, Codec::Pcmu, None, Codec::Pcma, None).unwrap();
        assert_eq!(out[1] & 0x7f, 8);
        assert_eq!(out.len(), p.len());
        // μ-law silence becomes A-law silence.
        assert!(out[12..].iter().all(|b| *b == Codec::Pcma.silence_byte()));
    }

    #[test]
    fn telephone_events_follow_the_other_sides_payload_type() {
        let mut p = packet(101, &[1, 0x0a, 0, 160]);
        p[1] |= 0x80;
        let out = relay_packet(&p, Codec::Pcmu, Some(101), Codec::Pcmu, Some(96)).unwrap();
        assert_eq!(out[1], 0x80 | 96, "marker kept, payload type changed");
        assert!(relay_packet(&p, Codec::Pcmu, Some(101), Codec::Pcmu, None).is_none());
    }

    #[test]
    fn garbage_and_unknown_payload_types_are_dropped() {
        assert!(relay_packet(&[1, 2, 3], Codec::Pcmu, None, Codec::Pcmu, None).is_none());
        let p = packet(18, &[0; 20]);
        assert!(relay_packet(&p, Codec::Pcmu, None, Codec::Pcmu, None).is_none());
    }
}
