//! The call's voicemail side: the plan's `<voicemail>` node after its prompt
//! has played. A short beep, then the caller's audio (decoded from their RTP
//! in `rtp()`) and keys go to the sans-IO [`Recorder`]; when it ends, a kept
//! message is written to `<voicemail dir>/<call id>.wav` on tokio's blocking
//! pool (never in the call's loop), then the call record gets its
//! `voicemails` row and the plan its `VoicemailResult`.
//!
//! A caller who hangs up while recording still leaves their message: `end()`
//! finishes the recorder and starts the write, and the call's task waits for
//! the write (at most [`WRITE_LIMIT`]) before it ends.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use senim_dialplan::Event as PlanEvent;
use senim_media::prompts::{self, Prompt};
use tokio::task::{JoinError, JoinHandle};

use super::{epoch_ms, Call, Phase};
use crate::call::voicemail::{
    write_wav, EndReason, Message, Recorder, RecorderConfig, VoicemailError,
};
use crate::store::RecordOp;

/// After the call ended, how long its message's write may take.
pub(super) const WRITE_LIMIT: Duration = Duration::from_secs(10);
/// The beep before recording: 1 kHz, 400 ms (no DTMF frequency pair).
const BEEP_HZ: f32 = 1000.0;
const BEEP_MS: u32 = 400;

fn beep() -> Arc<Prompt> {
    static BEEP: OnceLock<Arc<Prompt>> = OnceLock::new();
    BEEP.get_or_init(|| Arc::new(prompts::beep("beep", BEEP_HZ, BEEP_MS)))
        .clone()
}

/// Where a voicemail of the call stands.
#[derive(Debug, Default)]
pub(super) struct VoicemailState {
    session: Option<Session>,
    write: Option<PendingWrite>,
    /// A message of this call is saved (one per call: the file is `<call id>.wav`).
    saved: bool,
}

#[derive(Debug)]
enum Session {
    /// The beep plays; recording starts when it has played.
    Beep {
        node: String,
        max_length: Duration,
    },
    Recording {
        node: String,
        recorder: Recorder,
    },
}

#[derive(Debug)]
struct PendingWrite {
    node: String,
    ended_by: EndReason,
    duration_ms: i64,
    handle: JoinHandle<Result<PathBuf, VoicemailError>>,
}

impl VoicemailState {
    /// The recorder, while recording: the caller's audio goes to it.
    pub(super) fn recorder(&mut self) -> Option<&mut Recorder> {
        match &mut self.session {
            Some(Session::Recording { recorder, .. }) => Some(recorder),
            _ => None,
        }
    }

    /// The write in progress, for the call's loop to wait on.
    pub(super) fn write_handle(
        &mut self,
    ) -> Option<&mut JoinHandle<Result<PathBuf, VoicemailError>>> {
        self.write.as_mut().map(|w| &mut w.handle)
    }
}

impl Call {
    /// The plan's `Voicemail` action (its prompt has played): beep, then record.
    pub(super) fn start_voicemail(
        &mut self,
        node: String,
        max_length: Duration,
    ) -> Option<PlanEvent> {
        if self.voicemail.saved || self.voicemail.write.is_some() {
            self.record_step(&node, "voicemail: this call already left a message".into());
            return Some(PlanEvent::VoicemailResult { recorded: false });
        }
        let stream = self.media.as_mut().and_then(|m| m.stream.as_mut());
        match stream {
            Some(s) => {
                self.prompt_token = s.play(beep());
                self.prompt_queue.clear();
                self.voicemail.session = Some(Session::Beep { node, max_length });
            }
            None => self.start_recording(node, max_length),
        }
        None
    }

    fn start_recording(&mut self, node: String, max_length: Duration) {
        let recorder = Recorder::new(Instant::now(), RecorderConfig::new(max_length));
        self.record_step(&node, "voicemail recording".into());
        tracing::info!(node = %node, "voicemail: recording");
        self.voicemail.session = Some(Session::Recording { node, recorder });
    }

    /// A prompt finished: if it was the beep, recording starts (true).
    pub(super) fn voicemail_prompt_done(&mut self) -> bool {
        if !matches!(self.voicemail.session, Some(Session::Beep { .. })) {
            return false;
        }
        if let Some(Session::Beep { node, max_length }) = self.voicemail.session.take() {
            self.start_recording(node, max_length);
        }
        true
    }

    /// A key while the voicemail runs; true if it was the voicemail's (the
    /// plan does not see it). Any key ends the message; a key during the
    /// beep leaves no message.
    pub(super) fn voicemail_key(&mut self) -> bool {
        match &mut self.voicemail.session {
            Some(Session::Beep { .. }) => {
                if let Some(Session::Beep { node, .. }) = self.voicemail.session.take() {
                    self.prompt_token = 0;
                    if let Some(s) = self.media.as_ref().and_then(|m| m.stream.as_ref()) {
                        s.stop();
                    }
                    self.record_step(
                        &node,
                        "voicemail: key during the beep, nothing recorded".into(),
                    );
                    self.flow_event(PlanEvent::VoicemailResult { recorded: false });
                }
                true
            }
            Some(Session::Recording { recorder, .. }) => {
                recorder.key(Instant::now());
                self.voicemail_check();
                true
            }
            // Keys while the message is being saved are not the plan's either.
            None => self.voicemail.write.is_some(),
        }
    }

    /// When the recorder's timer is due.
    pub(super) fn voicemail_wake(&self) -> Option<tokio::time::Instant> {
        match &self.voicemail.session {
            Some(Session::Recording { recorder, .. }) => {
                recorder.poll_timeout().map(tokio::time::Instant::from_std)
            }
            _ => None,
        }
    }

    pub(super) fn voicemail_timeout(&mut self) {
        if let Some(r) = self.voicemail.recorder() {
            r.handle_timeout(Instant::now());
        }
        self.voicemail_check();
    }

    /// After audio, a key or a timeout: finish a message that has ended.
    pub(super) fn voicemail_check(&mut self) {
        let ended = matches!(
            &self.voicemail.session,
            Some(Session::Recording { recorder, .. }) if recorder.ended().is_some()
        );
        if !ended {
            return;
        }
        if let Some(Session::Recording { node, recorder }) = self.voicemail.session.take() {
            self.voicemail_finish(node, recorder.finish());
        }
    }

    /// The call is ending (`end()`): a message being recorded is kept.
    pub(super) fn voicemail_call_ended(&mut self, by_caller: bool) {
        match self.voicemail.session.take() {
            Some(Session::Recording { node, mut recorder }) => {
                recorder.call_ended(Instant::now(), by_caller);
                self.voicemail_finish(node, recorder.finish());
            }
            Some(Session::Beep { .. }) | None => {}
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
        let dir = self.ctx.voicemail_dir.clone();
        let call = self.id.clone();
        let samples = message.samples;
        let handle = tokio::task::spawn_blocking(move || write_wav(&dir, &call, &samples));
        self.voicemail.write = Some(PendingWrite {
            node,
            ended_by,
            duration_ms,
            handle,
        });
    }

    /// The write finished (or its task failed).
    pub(super) fn voicemail_written(
        &mut self,
        result: Result<Result<PathBuf, VoicemailError>, JoinError>,
    ) {
        let Some(w) = self.voicemail.write.take() else {
            return;
        };
        let recorded = match result {
            Ok(Ok(path)) => {
                tracing::info!(duration_ms = w.duration_ms, "voicemail: message saved");
                self.record(RecordOp::Voicemail {
                    call: self.id.clone(),
                    at: epoch_ms(),
                    path: path.display().to_string(),
                    duration_ms: w.duration_ms,
                    ended_by: w.ended_by.as_str(),
                });
                self.record_step(&w.node, "voicemail saved".into());
                self.voicemail.saved = true;
                true
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "voicemail: the message could not be saved");
                self.record_step(&w.node, "voicemail not saved: write failed".into());
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "voicemail: the write task failed");
                self.record_step(&w.node, "voicemail not saved: write failed".into());
                false
            }
        };
        if self.phase != Phase::Ended {
            self.flow_event(PlanEvent::VoicemailResult { recorded });
        }
    }

    /// After the call's loop: wait (bounded) for a message still being written.
    pub(super) async fn voicemail_drain(&mut self) {
        let Some(handle) = self.voicemail.write_handle() else {
            return;
        };
        match tokio::time::timeout(WRITE_LIMIT, handle).await {
            Ok(result) => self.voicemail_written(result),
            Err(_) => {
                tracing::error!(
                    "voicemail: the message was not written in time; its record is missing"
                );
                self.voicemail.write = None;
            }
        }
    }
}

/// Wait for a task that may not exist (then wait forever).
pub(super) async fn join_opt<T>(handle: Option<&mut JoinHandle<T>>) -> Result<T, JoinError> {
    match handle {
        Some(h) => h.await,
        None => std::future::pending().await,
    }
}
