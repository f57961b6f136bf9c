//! One RTP port of a call, as the core sees it: the caller's or a leg's.
//! Where its packets go (symmetric RTP latching), the codec agreed, DTMF
//! detection on what arrives (RFC 4733 or in-band), and the prompts its
//! outgoing stream plays, in order. The socket and the pacing stream are the
//! driver's; this struct only says what they must do, as [`Output`]s.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use senim_media::dtmf::{Digit, DtmfSource, InbandDetector, Rfc4733Receiver};
use senim_media::g711::Codec;
use senim_media::prompts::Prompt;
use senim_media::rtp::RtpHeader;
use senim_media::sdp;

use crate::io::{MediaCommand, MediaId, Output};
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

/// One RTP port of a call.
#[derive(Debug)]
pub struct MediaPort {
    pub id: MediaId,
    pub local_port: u16,
    /// Where the stream is sent (None until known: late offer).
    pub remote: Option<SocketAddr>,
    /// The remote address was learned from the far end's own RTP.
    pub latched: bool,
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
}

impl MediaPort {
    pub fn new(id: MediaId, local_port: u16) -> MediaPort {
        MediaPort {
            id,
            local_port,
            remote: None,
            latched: false,
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
        }
    }

    fn command(&self, out: &mut VecDeque<Output>, command: MediaCommand) {
        out.push_back(Output::Media {
            id: self.id,
            command,
        });
    }

    /// The codec and DTMF mode agreed (an answer, or the far end's answer).
    pub fn agree(&mut self, n: &sdp::Negotiated) {
        self.codec = n.codec;
        self.telephone_event = n.telephone_event;
        self.remote = Some(n.remote_rtp);
    }

    /// A re-INVITE moved the far end: a new address, one new latch allowed.
    pub fn moved(&mut self, n: &sdp::Negotiated, out: &mut VecDeque<Output>) {
        self.agree(n);
        self.latched = false;
        if self.streaming {
            self.command(out, MediaCommand::SetRemote(n.remote_rtp));
        }
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

    /// Start the outgoing stream to the known remote (in-band detection on
    /// as the DTMF mode says: in `auto`, when no telephone-event was agreed).
    pub fn start_stream(&mut self, out: &mut VecDeque<Output>) {
        let Some(remote) = self.remote else {
            return;
        };
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

    /// Symmetric RTP: send to where the far end's RTP comes from. Latch
    /// once; a re-INVITE allows one new latch.
    pub fn latch(&mut self, from: SocketAddr, out: &mut VecDeque<Output>) {
        if self.latched {
            return;
        }
        self.latched = true;
        if self.remote != Some(from) {
            tracing::debug!(%from, media = ?self.id, "RTP latched to the far end's source address");
            self.remote = Some(from);
            if self.streaming {
                self.command(out, MediaCommand::SetRemote(from));
            }
        }
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
