//! One RTP port of a call, as the core sees it: the caller's or a leg's.
//! Whose packets it takes and where its own go (strict RTP, a
//! [`MediaPeer`]), the codec agreed, DTMF detection on what arrives
//! (RFC 4733 or in-band), and the prompts its outgoing stream plays, in
//! order; with SRTP, the far end's packets are unprotected here before
//! anything else looks at them, and what is relayed to the far end is
//! protected here (the pacing stream protects its own). The socket and the
//! pacing stream are the driver's; this struct only says what they must
//! do, as [`Output`]s.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use senim_media::dtmf::{Digit, DtmfSource, InbandDetector, Rfc4733Receiver};
use senim_media::g711::Codec;
use senim_media::peer::{MediaPeer, Verdict};
use senim_media::prompts::Prompt;
use senim_media::rtp::{self, RtpHeader};
use senim_media::sdp::{self, SrtpAgreed};
use senim_media::srtp::{SrtpContext, SrtpError};

use crate::io::{MediaCommand, MediaId, Metric, Output, ReceiveRule, RelayRule, SrtpSend};
use crate::trunk::DtmfMode;

/// What became of a prompt's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptEnd {
    /// An old token (a prompt already stopped or replaced): nothing to do.
    Stale,
    /// The next prompt of the sequence (or the loop) plays.
    Continues,
    /// The sequence has played to its end.
    Finished,
}

/// A packet's audio, decoded, for whoever listens (a voicemail recorder).
pub struct Decoded<'a> {
    pub ssrc: u32,
    pub timestamp: u32,
    pub pcm: &'a [i16],
}

/// Largest datagram taken on a port (an SRTP packet is unprotected into a
/// buffer of this size).
pub const MAX_DATAGRAM: usize = 2048;

/// SRTP on a port: what was agreed, the far end's packets to unprotect, and
/// the packets relayed to the far end to protect.
#[derive(Debug)]
struct PortSrtp {
    agreed: SrtpAgreed,
    inbound: SrtpContext,
    relayed: SrtpContext,
    /// Packets refused so far (tag, replay), for the first log line.
    refused: u64,
}

/// One RTP port of a call.
#[derive(Debug)]
pub struct MediaPort {
    pub id: MediaId,
    pub local_port: u16,
    /// Whose RTP is taken, and where the stream may be sent.
    peer: MediaPeer,
    /// An SDP was agreed (the codec and the far end are known).
    agreed: bool,
    pub codec: Codec,
    pub telephone_event: Option<u8>,
    /// Which RTP paths carry keys (the caller's trunk's `dtmf`; `Auto` for
    /// everyone else and for legs).
    dtmf: DtmfMode,
    rfc4733: Rfc4733Receiver,
    inband: Option<InbandDetector>,
    /// The outgoing stream runs.
    streaming: bool,
    /// The last token given out, and the one whose end is awaited (0: none).
    last_token: u64,
    playing: u64,
    /// Prompts still to play after the current one.
    queue: VecDeque<Arc<Prompt>>,
    /// A prompt played over and over (hold audio), until replaced or stopped.
    looping: Option<Arc<Prompt>>,
    /// SRTP, when agreed.
    srtp: Option<PortSrtp>,
    /// The rule last given to the media engine for incoming RTP.
    rule: Option<ReceiveRule>,
}

impl MediaPort {
    pub fn new(id: MediaId, local_port: u16) -> MediaPort {
        MediaPort {
            id,
            local_port,
            peer: MediaPeer::new(),
            agreed: false,
            codec: Codec::Pcmu,
            telephone_event: None,
            dtmf: DtmfMode::Auto,
            rfc4733: Rfc4733Receiver::new(),
            inband: None,
            streaming: false,
            last_token: 0,
            playing: 0,
            queue: VecDeque::new(),
            looping: None,
            srtp: None,
            rule: None,
        }
    }

    /// What the media engine may do with this port's incoming audio
    /// itself (see [`ReceiveRule`]): detect in-band digits when `inband`,
    /// relay as `relay` says. None while the source is not locked, before
    /// an SDP is agreed, or with SRTP (the core unprotects).
    pub fn receive_rule(&self, inband: bool, relay: Option<RelayRule>) -> Option<ReceiveRule> {
        if !self.agreed || self.srtp.is_some() {
            return None;
        }
        Some(ReceiveRule {
            source: self.peer.locked()?,
            codec: self.codec,
            inband,
            relay,
        })
    }

    /// Give the media engine this rule, unless it has it already.
    pub fn set_receive_rule(&mut self, rule: Option<ReceiveRule>, out: &mut VecDeque<Output>) {
        if rule != self.rule {
            self.rule = rule.clone();
            self.command(out, MediaCommand::Receive(rule));
        }
    }

    /// The in-band detector runs on this port's audio (its stream runs and
    /// the DTMF mode takes in-band keys).
    pub fn detects_inband(&self) -> bool {
        self.inband.is_some()
    }

    /// A relay into this port (`to`) from a port of `from_telephone_event`:
    /// `Some(None)` while there is nowhere to send (the packets are
    /// dropped, as the core would), None when the engine cannot relay here
    /// (SRTP: the core protects what it relays).
    pub fn relay_rule(
        &self,
        to: MediaId,
        from_telephone_event: Option<u8>,
    ) -> Option<Option<RelayRule>> {
        if self.srtp.is_some() {
            return None;
        }
        Some(self.remote().map(|remote| RelayRule {
            to,
            remote,
            from_telephone_event,
            to_codec: self.codec,
            to_telephone_event: self.telephone_event,
        }))
    }

    fn command(&self, out: &mut VecDeque<Output>, command: MediaCommand) {
        out.push_back(Output::Media {
            id: self.id,
            command,
        });
    }

    /// An SDP was agreed (the answer to the caller's offer, the far end's
    /// answer, a re-INVITE's offer): the codec and DTMF payload type, and
    /// the far end's address. `signalling` is the IP the SDP's SIP came
    /// from (or went to); `vouched` says whether that signalling vouches for
    /// the SDP's address, so the stream may go there before the far end's
    /// RTP is seen. A new address is learned again (strict RTP); a running
    /// stream follows where it may now send.
    pub fn agree(
        &mut self,
        n: &sdp::Negotiated,
        signalling: IpAddr,
        vouched: bool,
        out: &mut VecDeque<Output>,
    ) {
        self.codec = n.codec;
        self.telephone_event = n.telephone_event;
        self.agreed = true;
        let before = self.peer.destination();
        if self.peer.expect(n.remote_rtp, signalling, vouched) {
            tracing::debug!(
                media = ?self.id,
                sdp = %n.remote_rtp,
                vouched = self.peer.is_vouched(),
                "the far end's SDP names a new address; its RTP source is learned again"
            );
        }
        let after = self.peer.destination();
        if self.streaming && after != before {
            self.command(out, MediaCommand::SetRemote(after));
        }
        self.agree_srtp(n.srtp.as_ref(), out);
    }

    /// Keep, start or end SRTP as the latest SDP says. The far end's new
    /// key starts a new receiving context; Senim's own key and suite, if
    /// unchanged, keep their contexts (and their packet indexes).
    fn agree_srtp(&mut self, agreed: Option<&SrtpAgreed>, out: &mut VecDeque<Output>) {
        let before = self.srtp_send();
        match (agreed, self.srtp.as_mut()) {
            (None, _) => self.srtp = None,
            (Some(a), Some(s)) if s.agreed == *a => {}
            (Some(a), current) => {
                let inbound = match current {
                    Some(s)
                        if s.agreed.remote == a.remote
                            && s.agreed.suite == a.suite
                            && s.agreed.remote_options == a.remote_options =>
                    {
                        s.inbound.clone()
                    }
                    _ => SrtpContext::with_options(a.suite, &a.remote, &a.remote_options),
                };
                let relayed = match self.srtp.as_ref() {
                    Some(s) if s.agreed.local == a.local && s.agreed.suite == a.suite => {
                        s.relayed.clone()
                    }
                    _ => SrtpContext::new(a.suite, &a.local),
                };
                self.srtp = Some(PortSrtp {
                    agreed: a.clone(),
                    inbound,
                    relayed,
                    refused: 0,
                });
            }
        }
        let after = self.srtp_send();
        if self.streaming && after != before {
            self.command(out, MediaCommand::SetSrtp(after));
        }
    }

    /// How the outgoing stream protects its packets.
    fn srtp_send(&self) -> Option<SrtpSend> {
        self.srtp.as_ref().map(|s| SrtpSend {
            suite: s.agreed.suite,
            key: s.agreed.local.clone(),
        })
    }

    /// The SRTP agreed on this port, if any.
    pub fn srtp(&self) -> Option<&SrtpAgreed> {
        self.srtp.as_ref().map(|s| &s.agreed)
    }

    /// A datagram as RTP: unchanged without SRTP; with SRTP, unprotected
    /// into `scratch` (None when its tag does not verify, it is a replay,
    /// or it is RTCP; counted as [`Metric::RtpDropped`], RTCP aside).
    pub fn unprotect<'a>(
        &mut self,
        data: &'a [u8],
        scratch: &'a mut [u8],
        out: &mut VecDeque<Output>,
    ) -> Option<&'a [u8]> {
        let Some(s) = self.srtp.as_mut() else {
            return Some(data);
        };
        let buf = scratch.get_mut(..data.len())?;
        buf.copy_from_slice(data);
        match s.inbound.unprotect(buf) {
            Ok(n) => buf.get(..n),
            Err(SrtpError::Rtcp) => None,
            Err(e) => {
                s.refused += 1;
                if s.refused == 1 {
                    tracing::info!(media = ?self.id, error = %e, "SRTP packet refused (counted in senim_rtp_packets_dropped_total)");
                }
                out.push_back(Output::Metric(Metric::RtpDropped));
                None
            }
        }
    }

    /// A packet relayed to this port's far end, protected if SRTP was
    /// agreed (None if it cannot be).
    pub fn protect_relayed(&mut self, mut packet: Vec<u8>) -> Option<Vec<u8>> {
        let Some(s) = self.srtp.as_mut() else {
            return Some(packet);
        };
        let len = packet.len();
        packet.resize(len + s.relayed.overhead(), 0);
        let n = s.relayed.protect(&mut packet, len).ok()?;
        packet.truncate(n);
        Some(packet)
    }

    /// Where the stream is sent (None: nowhere yet, or nowhere the
    /// signalling vouches for until the far end's RTP is seen).
    pub fn remote(&self) -> Option<SocketAddr> {
        self.peer.destination()
    }

    /// Whose RTP is taken.
    pub fn peer(&self) -> &MediaPeer {
        &self.peer
    }

    /// How keys arrive on this port (before the stream starts).
    pub fn set_dtmf_mode(&mut self, mode: DtmfMode) {
        self.dtmf = mode;
    }

    /// RFC 4733 events are taken: the mode allows them and telephone-event
    /// was agreed.
    fn takes_rfc4733(&self) -> bool {
        self.telephone_event.is_some()
            && matches!(
                self.dtmf,
                DtmfMode::Auto | DtmfMode::Rfc4733 | DtmfMode::Both
            )
    }

    /// The in-band detector runs: always in `inband` and `both`, in `auto`
    /// when no telephone-event was agreed.
    fn takes_inband(&self) -> bool {
        match self.dtmf {
            DtmfMode::Auto => self.telephone_event.is_none(),
            DtmfMode::Inband | DtmfMode::Both => true,
            DtmfMode::Rfc4733 | DtmfMode::Info => false,
        }
    }

    /// How keys are taken from the RTP, for the call record: `rfc4733`,
    /// `inband`, `both`, or `info` when neither (SIP INFO is always taken).
    pub fn dtmf_paths(&self) -> &'static str {
        match (self.takes_rfc4733(), self.takes_inband()) {
            (true, true) => "both",
            (true, false) => "rfc4733",
            (false, true) => "inband",
            (false, false) => "info",
        }
    }

    pub fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Start the outgoing stream (in-band detection on as the DTMF mode
    /// says: in `auto`, when no telephone-event was agreed). It keeps time
    /// but sends nothing while there is nowhere it may send.
    pub fn start_stream(&mut self, out: &mut VecDeque<Output>) {
        if !self.agreed {
            return;
        }
        let remote = self.peer.destination();
        self.inband = self.takes_inband().then(InbandDetector::new);
        self.streaming = true;
        self.playing = 0;
        self.queue.clear();
        self.looping = None;
        self.command(
            out,
            MediaCommand::Start {
                remote,
                codec: self.codec,
                srtp: self.srtp_send(),
            },
        );
    }

    /// Stop the outgoing stream (the media is relayed from now on).
    pub fn stop_stream(&mut self, out: &mut VecDeque<Output>) {
        self.playing = 0;
        self.queue.clear();
        self.looping = None;
        if self.streaming {
            self.streaming = false;
            self.command(out, MediaCommand::StopStream);
        }
    }

    /// A datagram on the port, from `from`: its RTP header and payload if
    /// it is taken (strict RTP: the far end's source, see [`MediaPeer`])
    /// and parses as RTP. A dropped packet is counted
    /// ([`Metric::RtpDropped`]); the packet that locks the port on its
    /// source also points the stream there (symmetric RTP).
    pub fn receive<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &'a [u8],
        out: &mut VecDeque<Output>,
    ) -> Option<(RtpHeader, &'a [u8])> {
        let parsed = rtp::parse(data).ok();
        let before = self.peer.destination();
        let verdict = self.peer.check(
            now,
            from,
            parsed.as_ref().map(|(h, _)| (h.ssrc, h.sequence)),
        );
        match verdict {
            Verdict::Accept => {}
            Verdict::Learned => {
                tracing::debug!(%from, media = ?self.id, "RTP source learned; locked until a new SDP address");
                let after = self.peer.destination();
                if self.streaming && after != before {
                    self.command(out, MediaCommand::SetRemote(after));
                }
            }
            Verdict::Probation | Verdict::Stranger => {
                if verdict == Verdict::Stranger && self.peer.strangers() == 1 {
                    tracing::info!(%from, media = ?self.id, "RTP from an address the call does not take media from: dropped (counted in senim_rtp_packets_dropped_total)");
                }
                out.push_back(Output::Metric(Metric::RtpDropped));
                return None;
            }
        }
        parsed
    }

    /// A digit in an RTP packet, parsed by the caller: RFC 4733, in-band,
    /// or both, as the DTMF mode says (telephone-event packets are dropped
    /// when the mode does not take them). The decoded audio goes
    /// to `listen` first, chunk by chunk, so a listener hears a key's tone
    /// only up to the key.
    pub fn detect(
        &mut self,
        header: &RtpHeader,
        payload: &[u8],
        mut listen: Option<&mut dyn FnMut(Decoded<'_>)>,
    ) -> Option<(Digit, DtmfSource)> {
        if Some(header.payload_type) == self.telephone_event {
            if !self.takes_rfc4733() {
                return None;
            }
            return self
                .rfc4733
                .handle(header.timestamp, payload)
                .map(|d| (d, DtmfSource::Rfc4733));
        }
        let codec = Codec::from_payload_type(header.payload_type)?;
        if self.inband.is_none() && listen.is_none() {
            return None;
        }
        let mut found = None;
        let mut pcm = [0i16; 160];
        let mut ts = header.timestamp;
        for chunk in payload.chunks(160) {
            let decoded = &mut pcm[..chunk.len()];
            codec.decode(chunk, decoded);
            if let Some(l) = listen.as_deref_mut() {
                l(Decoded {
                    ssrc: header.ssrc,
                    timestamp: ts,
                    pcm: decoded,
                });
            }
            ts = ts.wrapping_add(160);
            if let Some(d) = self.inband.as_mut().and_then(|det| det.push(decoded)) {
                found = Some((d, DtmfSource::Inband));
            }
        }
        found
    }

    /// Play prompts in order; false if nothing could play (no stream, or
    /// no prompt).
    pub fn play(&mut self, prompts: Vec<Arc<Prompt>>, out: &mut VecDeque<Output>) -> bool {
        self.looping = None;
        let mut prompts = VecDeque::from(prompts);
        match prompts.pop_front() {
            Some(first) if self.streaming => {
                self.queue = prompts;
                self.start(first, out);
                true
            }
            _ => {
                self.playing = 0;
                self.queue.clear();
                false
            }
        }
    }

    /// Play one prompt over and over.
    pub fn play_loop(&mut self, prompt: Arc<Prompt>, out: &mut VecDeque<Output>) -> bool {
        if !self.play(vec![prompt.clone()], out) {
            return false;
        }
        self.looping = Some(prompt);
        true
    }

    fn start(&mut self, prompt: Arc<Prompt>, out: &mut VecDeque<Output>) {
        self.last_token += 1;
        self.playing = self.last_token;
        let token = self.playing;
        self.command(out, MediaCommand::Play { prompt, token });
    }

    /// Stop what plays (silence from the next frame).
    pub fn stop_prompt(&mut self, out: &mut VecDeque<Output>) {
        self.playing = 0;
        self.queue.clear();
        self.looping = None;
        if self.streaming {
            self.command(out, MediaCommand::StopPrompt);
        }
    }

    /// Forget what plays without a command (the stream is replaced).
    pub fn forget_prompt(&mut self) {
        self.playing = 0;
        self.queue.clear();
        self.looping = None;
    }

    /// Whether a prompt plays now.
    pub fn is_playing(&self) -> bool {
        self.playing != 0
    }

    /// The stream reports the end of the prompt with `token`.
    pub fn prompt_finished(&mut self, token: u64, out: &mut VecDeque<Output>) -> PromptEnd {
        if token == 0 || token != self.playing {
            return PromptEnd::Stale;
        }
        if let Some(p) = self.looping.clone() {
            self.start(p, out);
            return PromptEnd::Continues;
        }
        match self.queue.pop_front() {
            Some(next) => {
                self.start(next, out);
                PromptEnd::Continues
            }
            None => {
                self.playing = 0;
                PromptEnd::Finished
            }
        }
    }
}
