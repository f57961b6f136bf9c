//! The plan's `<voicemail>` node after its prompt has played: a short beep,
//! then the caller's audio (decoded from their RTP in `menu`) and keys go to
//! the sans-IO [`MessageRecorder`], whose audio goes to the driver about a
//! second at a time ([`Output::VoicemailAudio`], appended to a partial file
//! so a crash loses at most that second); when it ends, the driver completes
//! a kept message's file (or removes a discarded one's), then the call
//! record gets its `voicemails` row and the plan its `VoicemailResult`.
//!
//! A caller who hangs up while recording still leaves their message: `end`
//! finishes the recorder and asks for the write; the driver keeps the call
//! until the write is done (at most [`WRITE_LIMIT`]).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use senim_dialplan::Event as PlanEvent;
use senim_media::prompts::{self, Prompt};

use super::state::{Call, PendingWrite, Phase, VoicemailSession, WRITE_LIMIT};
use crate::io::Output;
use crate::record::RecordOp;
use crate::voicemail::{Message, MessageRecorder, RecorderConfig, SAMPLE_RATE};

/// Audio handed to the driver at a time: one second, so a crash or a power
/// loss loses at most about that much of a message.
const AUDIO_CHUNK: usize = SAMPLE_RATE as usize;

/// The beep before recording: 1 kHz, 400 ms (no DTMF frequency pair).
const BEEP_HZ: f32 = 1000.0;
const BEEP_MS: u32 = 400;

fn beep() -> Arc<Prompt> {
    static BEEP: OnceLock<Arc<Prompt>> = OnceLock::new();
    BEEP.get_or_init(|| Arc::new(prompts::beep("beep", BEEP_HZ, BEEP_MS)))
        .clone()
}

impl Call {
    /// The plan's `Voicemail` action (its prompt has played): beep, then record.
    pub(crate) fn start_voicemail(
        &mut self,
        node: String,
        max_length: Duration,
    ) -> Option<PlanEvent> {
        if self.voicemail.saved || self.voicemail.write.is_some() {
            self.record_step(&node, "voicemail: this call already left a message".into());
            return Some(PlanEvent::VoicemailResult { recorded: false });
        }
        let beeping = self
            .media
            .as_mut()
            .is_some_and(|m| m.play(vec![beep()], &mut self.out));
        if beeping {
            self.voicemail.session = Some(VoicemailSession::Beep { node, max_length });
        } else {
            self.start_recording(node, max_length);
        }
        None
    }

    fn start_recording(&mut self, node: String, max_length: Duration) {
        let recorder = Box::new(MessageRecorder::new(
            self.now,
            RecorderConfig::new(max_length),
        ));
        self.record_step(&node, "voicemail recording".into());
        tracing::info!(node = %node, "voicemail: recording");
        self.voicemail.session = Some(VoicemailSession::Recording { node, recorder });
    }

    /// A prompt finished: if it was the beep, recording starts (true).
    pub(crate) fn voicemail_prompt_done(&mut self) -> bool {
        if !matches!(self.voicemail.session, Some(VoicemailSession::Beep { .. })) {
            return false;
        }
        if let Some(VoicemailSession::Beep { node, max_length }) = self.voicemail.session.take() {
            self.start_recording(node, max_length);
        }
        true
    }

    /// A key while the voicemail runs; true if it was the voicemail's (the
    /// plan does not see it). Any key ends the message; a key during the
    /// beep leaves no message.
    pub(crate) fn voicemail_key(&mut self) -> bool {
        let now = self.now;
        match &mut self.voicemail.session {
            Some(VoicemailSession::Beep { .. }) => {
                if let Some(VoicemailSession::Beep { node, .. }) = self.voicemail.session.take() {
                    self.stop_caller_audio();
                    self.record_step(
                        &node,
                        "voicemail: key during the beep, nothing recorded".into(),
                    );
                    self.flow_event(PlanEvent::VoicemailResult { recorded: false });
                }
                true
            }
            Some(VoicemailSession::Recording { recorder, .. }) => {
                recorder.key(now);
                self.voicemail_check();
                true
            }
            // Keys while the message is being saved are not the plan's either.
            None => self.voicemail.write.is_some(),
        }
    }

    /// When the recorder's timer is due, or a write's time is up.
    pub(crate) fn voicemail_wake(&self) -> Option<Instant> {
        match &self.voicemail.session {
            Some(VoicemailSession::Recording { recorder, .. }) => recorder.poll_timeout(),
            _ => self.write_deadline(),
        }
    }

    /// After the call ended, the write may take until then.
    pub(crate) fn write_deadline(&self) -> Option<Instant> {
        let w = self.voicemail.write.as_ref()?;
        let from = match self.ended_at {
            Some(t) if t > w.since => t,
            _ => w.since,
        };
        Some(from + WRITE_LIMIT)
    }

    pub(crate) fn voicemail_timeout(&mut self) {
        let now = self.now;
        if let Some(r) = self.voicemail.recorder() {
            if r.poll_timeout().is_some_and(|t| t <= now) {
                r.handle_timeout(now);
            }
        }
        self.voicemail_check();
        if self.phase == Phase::Ended && self.write_deadline().is_some_and(|t| t <= now) {
            tracing::error!(
                "voicemail: the message was not written in time; its record is missing"
            );
            self.voicemail.write = None;
        }
    }

    /// After audio, a key or a timeout: hand over the audio recorded (a
    /// second's worth at least), finish a message that has ended.
    pub(crate) fn voicemail_check(&mut self) {
        if let Some(samples) = self
            .voicemail
            .recorder()
            .and_then(|r| r.take_audio(AUDIO_CHUNK))
        {
            self.out.push_back(Output::VoicemailAudio { samples });
        }
        let ended = matches!(
            &self.voicemail.session,
            Some(VoicemailSession::Recording { recorder, .. }) if recorder.ended().is_some()
        );
        if !ended {
            return;
        }
        if let Some(VoicemailSession::Recording { node, recorder }) = self.voicemail.session.take()
        {
            self.voicemail_finish(node, (*recorder).finish());
        }
    }

    /// The call is ending (`end`): a message being recorded is kept.
    pub(crate) fn voicemail_call_ended(&mut self, by_caller: bool) {
        match self.voicemail.session.take() {
            Some(VoicemailSession::Recording { node, mut recorder }) => {
                recorder.call_ended(self.now, by_caller);
                self.voicemail_finish(node, (*recorder).finish());
            }
            Some(VoicemailSession::Beep { .. }) | None => {}
        }
    }

    fn voicemail_finish(&mut self, node: String, message: Message) {
        let duration_ms = i64::try_from(message.duration().as_millis()).unwrap_or(i64::MAX);
        let ended_by = message.ended_by;
        tracing::info!(
            ended_by = ended_by.as_str(),
            duration_ms,
            speech_ms = message.speech.as_millis() as u64,
            kept = message.kept,
            "voicemail: message ended"
        );
        if !message.kept {
            self.out.push_back(Output::DiscardVoicemail);
            self.record_step(
                &node,
                format!(
                    "voicemail ended by {}: no speech, nothing saved",
                    ended_by.as_str()
                ),
            );
            self.flow_event(PlanEvent::VoicemailResult { recorded: false });
            return;
        }
        self.record_step(
            &node,
            format!("voicemail ended by {}: {duration_ms} ms", ended_by.as_str()),
        );
        self.out.push_back(Output::WriteVoicemail {
            rest: message.rest,
            length: message.length,
        });
        self.voicemail.write = Some(PendingWrite {
            node,
            ended_by: ended_by.as_str(),
            duration_ms,
            since: self.now,
        });
    }

    /// The driver wrote the message (its path) or could not (why).
    pub(crate) fn voicemail_written(&mut self, result: Result<String, String>) {
        let Some(w) = self.voicemail.write.take() else {
            return;
        };
        let recorded = match result {
            Ok(path) => {
                tracing::info!(duration_ms = w.duration_ms, "voicemail: message saved");
                let at = self.epoch_ms();
                self.record(RecordOp::Voicemail {
                    call: self.id.clone(),
                    at,
                    path,
                    duration_ms: w.duration_ms,
                    ended_by: w.ended_by,
                });
                self.record_step(&w.node, "voicemail saved".into());
                self.voicemail.saved = true;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "voicemail: the message could not be saved");
                self.record_step(&w.node, "voicemail not saved: write failed".into());
                false
            }
        };
        if self.phase != Phase::Ended {
            self.flow_event(PlanEvent::VoicemailResult { recorded });
        }
    }
}
