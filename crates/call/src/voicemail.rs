//! Voicemail: the caller's message.
//!
//! [`MessageRecorder`] is a sans-IO state machine: the call controller feeds it the
//! caller's decoded 8 kHz PCM with the time it arrived, the keys the caller
//! presses and the expiry of its timer ([`MessageRecorder::poll_timeout`]); it never
//! reads the clock. The message ends on the first of:
//!
//! * **any key** (RFC 4733, SIP INFO or in-band): the last 100 ms before the
//!   key are cut, so an in-band tone (heard for about 40-60 ms before it is
//!   recognised) is not in the message;
//! * **the node's `max-length`** (capped at [`MAX_LENGTH_CAP`]);
//! * **silence after speech**: [`RecorderConfig::silence`] (5 s) with no
//!   speech after at least [`RecorderConfig::min_speech`] of it;
//! * **no speech**: a caller who has not said [`RecorderConfig::min_speech`]
//!   worth within [`RecorderConfig::no_speech`] (10 s);
//! * **the end of the call** (the caller hung up, or Senim is stopping).
//!
//! Speech is a 20 ms frame whose RMS level reaches
//! [`RecorderConfig::speech_rms`] (-40 dBFS). A message with less than
//! `min_speech` of speech in all is discarded, whatever ended it: nothing is
//! written and the plan hears "not recorded". Silence after the last speech is
//! cut to [`RecorderConfig::tail`]. Gaps in the caller's RTP timestamps
//! (silence suppression) are filled with silence, up to
//! [`RecorderConfig::max_gap`].
//!
//! The audio is not held until the end: the driver takes it as it comes
//! ([`MessageRecorder::take_audio`], about a second at a time) and appends
//! it to a partial file (`src/call/voicemail_file.rs` in the `senim`
//! binary), so a crash loses at most the last second. The cuts made at the
//! end (before a key, silence after the last speech) are lengths: the
//! finished [`Message`] says how many samples to keep, and the driver cuts
//! the file to it. This crate never touches the disk.

use std::time::{Duration, Instant};

/// Samples per second of the recording (G.711's rate).
pub const SAMPLE_RATE: u32 = 8000;
/// The longest message whatever the plan says: 10 minutes (9.6 MB on disk).
pub const MAX_LENGTH_CAP: Duration = Duration::from_secs(600);
/// Samples per speech-detection frame (20 ms).
const FRAME: usize = 160;

/// Tunables of the recorder.
#[derive(Debug, Clone, PartialEq)]
pub struct RecorderConfig {
    /// The longest message (the node's `max-length`, at most [`MAX_LENGTH_CAP`]).
    pub max_length: Duration,
    /// Silence after speech that ends the message.
    pub silence: Duration,
    /// How long a caller who has not spoken is waited for.
    pub no_speech: Duration,
    /// Speech needed (in all) for the message to be kept.
    pub min_speech: Duration,
    /// RMS level (16-bit full scale 32767) from which a frame is speech.
    pub speech_rms: f64,
    /// Audio cut before a key press.
    pub key_cut: Duration,
    /// Silence kept after the last speech.
    pub tail: Duration,
    /// The longest gap in RTP timestamps filled with silence.
    pub max_gap: Duration,
}

impl RecorderConfig {
    /// The defaults with the node's `max_length`.
    pub fn new(max_length: Duration) -> RecorderConfig {
        RecorderConfig {
            max_length: max_length.min(MAX_LENGTH_CAP),
            silence: Duration::from_secs(5),
            no_speech: Duration::from_secs(10),
            min_speech: Duration::from_millis(500),
            // -40 dBFS: well above a quiet line's noise (-60 to -50 dBm0),
            // well below speech (around -20 dBm0).
            speech_rms: 328.0,
            key_cut: Duration::from_millis(100),
            tail: Duration::from_millis(500),
            max_gap: Duration::from_secs(5),
        }
    }
}

/// What ended a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller pressed a key.
    Key,
    /// The message reached the maximum length.
    MaxLength,
    /// Silence after speech.
    Silence,
    /// The caller said nothing.
    NoSpeech,
    /// The caller hung up.
    HangUp,
    /// The call ended otherwise (Senim stopping, the call's time limit).
    CallEnded,
}

impl EndReason {
    /// The stored name (`voicemails.ended_by`).
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Key => "key",
            EndReason::MaxLength => "max-length",
            EndReason::Silence => "silence",
            EndReason::NoSpeech => "no-speech",
            EndReason::HangUp => "hangup",
            EndReason::CallEnded => "call-ended",
        }
    }
}

/// A finished message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Audio not yet taken with [`MessageRecorder::take_audio`] (8 kHz PCM),
    /// to append after what was.
    pub rest: Vec<i16>,
    /// Samples of the message to keep, from its start (what was taken and
    /// `rest` together may be longer: the end is cut to this); 0 when the
    /// message is discarded.
    pub length: usize,
    pub ended_by: EndReason,
    /// Speech heard, in all.
    pub speech: Duration,
    /// Enough speech to keep the message.
    pub kept: bool,
}

impl Message {
    /// Length of the audio kept.
    pub fn duration(&self) -> Duration {
        samples_to_duration(self.length)
    }
}

fn samples_to_duration(n: usize) -> Duration {
    Duration::from_micros(n as u64 * 1_000_000 / u64::from(SAMPLE_RATE))
}

fn duration_to_samples(d: Duration) -> usize {
    usize::try_from(d.as_millis() * u128::from(SAMPLE_RATE) / 1000).unwrap_or(usize::MAX)
}

/// Records one message (see the module documentation).
#[derive(Debug)]
pub struct MessageRecorder {
    cfg: RecorderConfig,
    started: Instant,
    /// Samples recorded, from the start (those taken included).
    len: usize,
    /// Samples not yet taken: the last `pending.len()` of `len`.
    pending: Vec<i16>,
    /// Most samples kept (`max_length`).
    cap: usize,
    /// Speech heard, in samples.
    speech: usize,
    /// When speech was last heard.
    last_speech: Option<Instant>,
    /// Sample index just past the last speech frame.
    speech_end: usize,
    /// The RTP timestamp expected next, per stream (SSRC).
    next_ts: Option<(u32, u32)>,
    ended: Option<EndReason>,
}

impl MessageRecorder {
    /// Start recording at `now`.
    pub fn new(now: Instant, cfg: RecorderConfig) -> MessageRecorder {
        let cap = duration_to_samples(cfg.max_length);
        MessageRecorder {
            len: 0,
            pending: Vec::new(),
            cfg,
            started: now,
            cap,
            speech: 0,
            last_speech: None,
            speech_end: 0,
            next_ts: None,
            ended: None,
        }
    }

    /// What ended the message, once it has ended.
    pub fn ended(&self) -> Option<EndReason> {
        self.ended
    }

    /// Audio from an RTP packet (or part of one: `timestamp` is that of its
    /// first sample). A gap in the stream's timestamps up to `max_gap` is
    /// filled with silence; a late or repeated packet is dropped.
    pub fn push_rtp(&mut self, now: Instant, ssrc: u32, timestamp: u32, pcm: &[i16]) {
        if self.finish_if_due(now) {
            return;
        }
        if let Some((s, expected)) = self.next_ts {
            if s == ssrc {
                // Signed distance on the 32-bit timestamp circle.
                let diff = timestamp.wrapping_sub(expected) as i32;
                let max_gap =
                    i32::try_from(duration_to_samples(self.cfg.max_gap)).unwrap_or(i32::MAX);
                if diff > 0 && diff <= max_gap {
                    let fill = usize::try_from(diff).unwrap_or(0);
                    let room = self.cap.saturating_sub(self.len);
                    self.append(&vec![0; fill.min(room)]);
                } else if diff < 0 && diff >= -max_gap {
                    return;
                }
            }
        }
        let len = u32::try_from(pcm.len()).unwrap_or(u32::MAX);
        self.next_ts = Some((ssrc, timestamp.wrapping_add(len)));
        self.push_pcm(now, pcm);
    }

    /// Audio without RTP timing (appended as it is).
    pub fn push_pcm(&mut self, now: Instant, pcm: &[i16]) {
        if self.finish_if_due(now) {
            return;
        }
        let threshold = self.cfg.speech_rms * self.cfg.speech_rms;
        for frame in pcm.chunks(FRAME) {
            let room = self.cap.saturating_sub(self.len);
            let frame = frame.get(..frame.len().min(room)).unwrap_or_default();
            if frame.is_empty() {
                break;
            }
            let energy: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
            self.append(frame);
            if energy / frame.len() as f64 >= threshold {
                self.speech += frame.len();
                self.last_speech = Some(now);
                self.speech_end = self.len;
            }
        }
        if self.len >= self.cap {
            self.ended = Some(EndReason::MaxLength);
        }
    }

    /// The caller pressed a key: the message ends, without the key's sound.
    pub fn key(&mut self, now: Instant) {
        if self.finish_if_due(now) {
            return;
        }
        let keep = self
            .len
            .saturating_sub(duration_to_samples(self.cfg.key_cut));
        self.cut_to(keep);
        self.speech_end = self.speech_end.min(keep);
        self.ended = Some(EndReason::Key);
    }

    /// The call ended (`by_caller`: the caller hung up).
    pub fn call_ended(&mut self, now: Instant, by_caller: bool) {
        if self.finish_if_due(now) {
            return;
        }
        self.ended = Some(if by_caller {
            EndReason::HangUp
        } else {
            EndReason::CallEnded
        });
    }

    /// When [`MessageRecorder::handle_timeout`] is due; `None` once ended.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ended.is_some() {
            return None;
        }
        Some(self.max_deadline().min(self.quiet_deadline()))
    }

    /// The timer expired (or `now` is simply later): end the message if due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.finish_if_due(now);
    }

    /// Audio recorded since the last call, once at least `at_least` samples
    /// wait (the driver appends it to the message's file).
    pub fn take_audio(&mut self, at_least: usize) -> Option<Vec<i16>> {
        if self.pending.is_empty() || self.pending.len() < at_least {
            return None;
        }
        Some(std::mem::take(&mut self.pending))
    }

    /// The message so far. Ends it (as [`EndReason::CallEnded`]) if it has not ended.
    pub fn finish(self) -> Message {
        let ended_by = self.ended.unwrap_or(EndReason::CallEnded);
        let speech = samples_to_duration(self.speech);
        let kept = speech >= self.cfg.min_speech;
        let length = if kept {
            self.len.min(
                self.speech_end
                    .saturating_add(duration_to_samples(self.cfg.tail)),
            )
        } else {
            0
        };
        Message {
            rest: self.pending,
            length,
            ended_by,
            speech,
            kept,
        }
    }

    fn append(&mut self, pcm: &[i16]) {
        self.pending.extend_from_slice(pcm);
        self.len += pcm.len();
    }

    /// Forget the audio past `keep` samples (what was taken is cut by the driver).
    fn cut_to(&mut self, keep: usize) {
        let taken = self.len - self.pending.len();
        self.pending.truncate(keep.saturating_sub(taken));
        self.len = keep.min(self.len);
    }

    fn max_deadline(&self) -> Instant {
        self.started + self.cfg.max_length
    }

    fn heard_enough(&self) -> bool {
        samples_to_duration(self.speech) >= self.cfg.min_speech
    }

    /// When the caller's quiet ends the message.
    fn quiet_deadline(&self) -> Instant {
        let after_speech = self.last_speech.map(|t| t + self.cfg.silence);
        match after_speech {
            Some(t) if self.heard_enough() => t,
            // Not yet a message: a click or a cough does not cut the wait short.
            Some(t) => t.max(self.started + self.cfg.no_speech),
            None => self.started + self.cfg.no_speech,
        }
    }

    /// End the message if a deadline has passed at `now`; true if it has ended.
    fn finish_if_due(&mut self, now: Instant) -> bool {
        if self.ended.is_some() {
            return true;
        }
        if now >= self.max_deadline() {
            self.ended = Some(EndReason::MaxLength);
        } else if now >= self.quiet_deadline() {
            self.ended = Some(if self.heard_enough() {
                EndReason::Silence
            } else {
                EndReason::NoSpeech
            });
        }
        self.ended.is_some()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a test needs one base instant
mod tests {
    use super::*;

    const MS20: Duration = Duration::from_millis(20);

    fn tone() -> Vec<i16> {
        (0..FRAME)
            .map(|i| {
                let t = i as f64 / f64::from(SAMPLE_RATE);
                (8000.0 * (2.0 * std::f64::consts::PI * 400.0 * t).sin()) as i16
            })
            .collect()
    }

    fn quiet() -> Vec<i16> {
        // Line noise around -60 dBFS: not speech.
        (0..FRAME)
            .map(|i| if i % 2 == 0 { 30 } else { -30 })
            .collect()
    }

    /// A recorder driven by a fake clock, packet by packet; the audio is
    /// taken a second at a time, as the driver does.
    struct Harness {
        rec: MessageRecorder,
        now: Instant,
        ts: u32,
        taken: Vec<i16>,
    }

    impl Harness {
        fn new(max_length: Duration) -> Harness {
            let now = Instant::now();
            Harness {
                rec: MessageRecorder::new(now, RecorderConfig::new(max_length)),
                now,
                ts: 1000,
                taken: Vec::new(),
            }
        }

        /// Send `frames` 20 ms packets of `pcm`, firing the timer when due.
        fn send(&mut self, frames: usize, pcm: &[i16]) {
            for _ in 0..frames {
                self.advance(MS20);
                self.rec.push_rtp(self.now, 7, self.ts, pcm);
                self.take();
                self.ts = self.ts.wrapping_add(FRAME as u32);
            }
        }

        fn take(&mut self) {
            if let Some(a) = self.rec.take_audio(SAMPLE_RATE as usize) {
                self.taken.extend(a);
            }
        }

        /// The message and its audio as the driver writes it.
        fn finish(self) -> (Message, Vec<i16>) {
            let m = self.rec.finish();
            let mut audio = self.taken;
            audio.extend_from_slice(&m.rest);
            audio.truncate(m.length);
            (m, audio)
        }

        /// Let time pass with no packets, firing the timer when due.
        fn advance(&mut self, d: Duration) {
            let target = self.now + d;
            while let Some(t) = self.rec.poll_timeout() {
                if t > target {
                    break;
                }
                self.now = t;
                self.rec.handle_timeout(t);
            }
            self.now = target;
        }
    }

    fn ms(m: &Message) -> u128 {
        m.duration().as_millis()
    }

    #[test]
    fn key_ends_the_message_without_the_key() {
        let mut h = Harness::new(Duration::from_secs(120));
        h.send(150, &tone()); // 3 s
        assert_eq!(h.rec.ended(), None);
        h.rec.key(h.now);
        assert_eq!(h.rec.ended(), Some(EndReason::Key));
        // Later audio is not recorded.
        h.send(10, &tone());
        let m = h.rec.finish();
        assert!(m.kept);
        assert_eq!(m.ended_by, EndReason::Key);
        assert_eq!(ms(&m), 2900, "the last 100 ms before the key are cut");
        assert!(m.rest.len() < SAMPLE_RATE as usize, "taken as it came");
    }

    #[test]
    fn silence_after_speech_ends_it_and_the_tail_is_cut() {
        let mut h = Harness::new(Duration::from_secs(120));
        h.send(150, &tone());
        h.send(249, &quiet()); // 4.98 s
        assert_eq!(h.rec.ended(), None);
        h.send(2, &quiet());
        assert_eq!(h.rec.ended(), Some(EndReason::Silence));
        let m = h.rec.finish();
        assert!(m.kept);
        assert_eq!(ms(&m), 3500, "speech and half a second after it");
        assert_eq!(m.speech, Duration::from_secs(3));
    }

    #[test]
    fn silence_without_packets_ends_it_by_the_timer() {
        let mut h = Harness::new(Duration::from_secs(120));
        h.send(100, &tone());
        let last = h.now;
        assert_eq!(h.rec.poll_timeout(), Some(last + Duration::from_secs(5)));
        h.advance(Duration::from_secs(6));
        assert_eq!(h.rec.ended(), Some(EndReason::Silence));
        assert_eq!(h.rec.poll_timeout(), None);
        assert_eq!(ms(&h.rec.finish()), 2000);
    }

    #[test]
    fn a_silent_caller_is_discarded_after_ten_seconds() {
        let mut h = Harness::new(Duration::from_secs(120));
        h.send(499, &quiet());
        assert_eq!(h.rec.ended(), None);
        h.send(1, &quiet());
        assert_eq!(h.rec.ended(), Some(EndReason::NoSpeech));
        let m = h.rec.finish();
        assert!(!m.kept);
        assert_eq!(m.length, 0);
    }

    #[test]
    fn a_click_does_not_cut_the_wait_for_speech_short() {
        let mut h = Harness::new(Duration::from_secs(120));
        h.send(100, &quiet());
        h.send(2, &tone()); // 40 ms: a click, not a message
        h.send(200, &quiet()); // 6 s since then: past 5 s, not yet 10 s from the start
        assert_eq!(h.rec.ended(), None);
        h.send(120, &tone()); // then the caller speaks
        h.rec.key(h.now);
        let m = h.rec.finish();
        assert!(m.kept);
        assert_eq!(m.ended_by, EndReason::Key);
    }

    #[test]
    fn max_length_ends_it() {
        let mut h = Harness::new(Duration::from_secs(2));
        h.send(99, &tone());
        assert_eq!(h.rec.ended(), None);
        h.send(1, &tone());
        assert_eq!(h.rec.ended(), Some(EndReason::MaxLength));
        h.send(50, &tone());
        let m = h.rec.finish();
        assert_eq!(m.ended_by, EndReason::MaxLength);
        // The timer fired as the 100th packet arrived.
        assert_eq!(ms(&m), 1980);
    }

    #[test]
    fn max_length_bounds_the_audio_kept() {
        // A burst of packets (a jitter buffer emptying) cannot pass the length.
        let now = Instant::now();
        let mut rec = MessageRecorder::new(now, RecorderConfig::new(Duration::from_secs(1)));
        for i in 0..80u32 {
            rec.push_rtp(now, 1, i * FRAME as u32, &tone());
        }
        assert_eq!(rec.ended(), Some(EndReason::MaxLength));
        assert_eq!(rec.finish().length, SAMPLE_RATE as usize);
    }

    #[test]
    fn max_length_ends_it_without_packets() {
        let mut h = Harness::new(Duration::from_secs(3));
        // The silence timer (5 s after the speech) would fire later.
        h.send(50, &tone());
        h.advance(Duration::from_secs(4));
        assert_eq!(h.rec.ended(), Some(EndReason::MaxLength));
    }

    #[test]
    fn max_length_is_capped() {
        let cfg = RecorderConfig::new(Duration::from_secs(3600));
        assert_eq!(cfg.max_length, MAX_LENGTH_CAP);
    }

    #[test]
    fn hang_up_keeps_a_message_with_enough_speech() {
        let mut h = Harness::new(Duration::from_secs(120));
        h.send(75, &tone()); // 1.5 s
        h.rec.call_ended(h.now, true);
        let m = h.rec.finish();
        assert!(m.kept);
        assert_eq!(m.ended_by, EndReason::HangUp);
        assert_eq!(ms(&m), 1500);
    }

    #[test]
    fn hang_up_discards_a_message_without_speech() {
        let mut h = Harness::new(Duration::from_secs(120));
        h.send(20, &tone()); // 0.4 s: under the half second
        h.send(50, &quiet());
        h.rec.call_ended(h.now, false);
        let m = h.rec.finish();
        assert!(!m.kept);
        assert_eq!(m.ended_by, EndReason::CallEnded);
        assert_eq!(m.length, 0);
    }

    #[test]
    fn rtp_gaps_are_filled_and_late_packets_dropped() {
        let mut h = Harness::new(Duration::from_secs(120));
        h.send(50, &tone());
        // Silence suppression: the next packet comes 1 s (8000 samples) later.
        h.ts = h.ts.wrapping_add(8000);
        h.advance(Duration::from_secs(1));
        h.send(50, &tone());
        // A late copy of an old packet.
        let old = h.ts.wrapping_sub(10 * FRAME as u32);
        h.rec.push_rtp(h.now, 7, old, &tone());
        // Another stream (a new SSRC) is appended as it is.
        h.rec.push_rtp(h.now, 8, 5, &tone());
        h.rec.key(h.now);
        let (m, audio) = h.finish();
        // 1 s + 1 s gap + 1 s + 20 ms, less the 100 ms before the key.
        assert_eq!(ms(&m), 2920);
        assert_eq!(audio.len(), m.length);
        assert!(audio[8000..16000].iter().all(|&s| s == 0));
        assert!(audio[..8000].iter().any(|&s| s != 0));
    }

    #[test]
    fn timestamps_wrap() {
        let mut h = Harness::new(Duration::from_secs(120));
        h.ts = u32::MAX - 500;
        h.send(100, &tone());
        h.rec.key(h.now);
        assert_eq!(ms(&h.rec.finish()), 1900);
    }

    #[test]
    fn reason_names() {
        let all = [
            EndReason::Key,
            EndReason::MaxLength,
            EndReason::Silence,
            EndReason::NoSpeech,
            EndReason::HangUp,
            EndReason::CallEnded,
        ];
        let names: Vec<_> = all.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "key",
                "max-length",
                "silence",
                "no-speech",
                "hangup",
                "call-ended"
            ]
        );
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a test needs one base instant
mod streaming {
    use super::*;

    #[test]
    fn audio_is_taken_as_it_comes_and_the_end_cut_by_length() {
        let now = Instant::now();
        let mut rec = MessageRecorder::new(now, RecorderConfig::new(Duration::from_secs(60)));
        let tone: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { 5000 } else { -5000 })
            .collect();
        let mut taken = Vec::new();
        for i in 0..140u32 {
            rec.push_rtp(
                now + Duration::from_millis(20 * u64::from(i)),
                1,
                i * 160,
                &tone,
            );
            if let Some(a) = rec.take_audio(8000) {
                assert_eq!(a.len(), 8000);
                taken.extend(a);
            }
        }
        // 2.8 s recorded: 2 s taken, 0.8 s still waiting.
        assert_eq!(taken.len(), 16_000);
        rec.key(now + Duration::from_millis(2800));
        let m = rec.finish();
        assert_eq!(m.rest.len(), 6400 - 800);
        assert_eq!(m.length, 22_400 - 800);
    }

    #[test]
    fn a_key_can_cut_into_audio_already_taken() {
        let now = Instant::now();
        let mut rec = MessageRecorder::new(now, RecorderConfig::new(Duration::from_secs(60)));
        let tone: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { 5000 } else { -5000 })
            .collect();
        for i in 0..50u32 {
            rec.push_rtp(now, 1, i * 160, &tone);
        }
        assert_eq!(rec.take_audio(8000).map(|a| a.len()), Some(8000));
        rec.key(now);
        let m = rec.finish();
        assert!(m.rest.is_empty());
        assert_eq!(m.length, 8000 - 800);
    }
}
