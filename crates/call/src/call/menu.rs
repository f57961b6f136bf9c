//! The caller's side of the menus: their RTP (strict RTP, DTMF, audio for
//! a voicemail), keys from every source de-duplicated, prompts played in
//! order, and the dialplan interpreter driven with what happened.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use senim_dialplan::{Action, Event as PlanEvent};
use senim_media::dtmf::{self, DtmfSource};
use senim_media::prompts::{Language, Prompt};

use super::state::{Call, Phase, EARLY_KEYS};
use crate::callback_request::{self, CallbackFlow};
use crate::io::{Metric, Output, RouterRequest};
use crate::media::{Decoded, PromptEnd, MAX_DATAGRAM};
use crate::record::RecordOp;
use crate::relay::relay_packet;

impl Call {
    /// The caller's RTP.
    pub(crate) fn caller_rtp(&mut self, data: &[u8], from: SocketAddr) {
        let now = self.now;
        let Some(m) = self.media.as_mut() else {
            return;
        };
        // With SRTP, only packets under the caller's key count, and they
        // are unprotected (into the call's buffer, made for SRTP calls
        // only) before anything else looks at them.
        let data = if m.srtp().is_some() {
            if self.srtp_buf.len() < MAX_DATAGRAM {
                self.srtp_buf.resize(MAX_DATAGRAM, 0);
            }
            match m.unprotect(data, &mut self.srtp_buf, &mut self.out) {
                Some(d) => d,
                None => return,
            }
        } else {
            data
        };
        // Only the caller's own RTP counts: a stranger's packets (keys
        // included) are dropped here.
        let Some((header, payload)) = m.receive(now, from, data, &mut self.out) else {
            return;
        };
        if let Some(id) = self.bridge {
            self.legs
                .relay_into(id, data, m.codec, m.telephone_event, &mut self.out);
            return;
        }
        // The audio is decoded once, for the in-band detector and for a
        // voicemail being recorded. The recorder gets each chunk before the
        // detector, so a key's tone is in the message only up to the key,
        // which the recorder cuts off.
        let recorder = self.voicemail.recorder();
        let found = match recorder {
            Some(r) => {
                let mut listen = |d: Decoded<'_>| r.push_rtp(now, d.ssrc, d.timestamp, d.pcm);
                m.detect(&header, payload, Some(&mut listen))
            }
            None => m.detect(&header, payload, None),
        };
        if let Some((digit, source)) = found {
            self.digit(digit, source);
        }
        self.voicemail_check();
    }

    /// A bridged leg's RTP goes to the caller.
    pub(crate) fn relay_to_caller(
        &mut self,
        data: &[u8],
        codec: senim_media::g711::Codec,
        te: Option<u8>,
    ) {
        if let Some(m) = self.media.as_mut() {
            if let (Some(remote), Some(packet)) = (
                m.remote(),
                relay_packet(data, codec, te, m.codec, m.telephone_event)
                    .and_then(|p| m.protect_relayed(p)),
            ) {
                self.out.push_back(Output::SendRtp {
                    from: crate::io::MediaId::Caller,
                    to: remote,
                    data: packet,
                });
            }
        }
    }

    pub(crate) fn digit(&mut self, digit: dtmf::Digit, source: DtmfSource) {
        if !self.dedup.accept(self.now, digit, source) {
            tracing::debug!(digit = %digit.as_char(), source = source.as_str(), "the same key press from another source");
            return;
        }
        self.out.push_back(Output::Metric(Metric::Digit(source)));
        if self.bridge.is_some() {
            // The conversation's keys are the caller's and the specialist's
            // business: relayed, not recorded.
            return;
        }
        if self
            .callback
            .as_ref()
            .is_some_and(|(_, f)| f.is_entering_number())
        {
            // A phone number being typed: neither logged nor recorded.
            self.callback_digit(digit.as_char());
            return;
        }
        tracing::info!(digit = %digit.as_char(), source = source.as_str(), "digit");
        self.digit_seq += 1;
        let at = self.epoch_ms();
        self.record(RecordOp::Digit {
            call: self.id.clone(),
            seq: self.digit_seq,
            at,
            digit: digit.as_char().to_string(),
            source: source.as_str(),
            menu: Some(self.flow.node().to_string()),
        });
        if self.phase == Phase::Answered {
            // Before the ACK (RTP may overtake it): the plan takes the key
            // as soon as it starts, so the emergency key counts from the
            // first moment of the call.
            if self.early_keys.len() < EARLY_KEYS {
                self.early_keys.push(digit.as_char());
            }
            return;
        }
        self.take_key(digit.as_char());
    }

    /// The keys pressed before the ACK, for the plan that has just started.
    pub(crate) fn early_keys(&mut self) {
        for key in std::mem::take(&mut self.early_keys) {
            self.take_key(key);
        }
    }

    /// A key of the caller's (recorded already) to whatever listens now.
    fn take_key(&mut self, key: char) {
        if self.voicemail_key() {
            return;
        }
        if self.routing.is_some() {
            let call = self.router_call();
            self.out
                .push_back(Output::Router(Box::new(RouterRequest::CallerPressed {
                    call,
                    digit: key,
                })));
            return;
        }
        if self.callback.is_some() {
            self.callback_digit(key);
            return;
        }
        if self.phase == Phase::Active && self.transfer.is_none() {
            self.flow_event(PlanEvent::Digit(key));
        }
    }

    /// A prompt of the caller's stream ended.
    pub(crate) fn caller_prompt_finished(&mut self, token: u64) {
        let end = match self.media.as_mut() {
            Some(m) => m.prompt_finished(token, &mut self.out),
            None => PromptEnd::Stale,
        };
        if end == PromptEnd::Finished {
            self.prompt_done();
        }
    }

    /// The prompts that played have ended: tell whoever owns the audio.
    fn prompt_done(&mut self) {
        if self.voicemail_prompt_done() {
            return;
        }
        if self.callback.is_some() {
            let out = self
                .callback
                .as_mut()
                .map(|(_, f)| f.prompt_finished())
                .unwrap_or_default();
            self.callback_outputs(out);
            return;
        }
        if self.background_owns_audio() {
            self.background_next();
            return;
        }
        self.flow_event(PlanEvent::PromptFinished);
    }

    pub(crate) fn flow_event(&mut self, event: PlanEvent) {
        let mut queue = VecDeque::from([event]);
        // Bounded: a plan step yields a handful of actions and results.
        let mut budget = 256;
        while let Some(ev) = queue.pop_front() {
            if self.phase == Phase::Ended {
                return;
            }
            budget -= 1;
            if budget == 0 {
                tracing::error!("dialplan did not settle; ending the call");
                self.send_bye();
                self.end("dialplan-loop", Some("senim"));
                return;
            }
            for action in self.flow.handle(ev) {
                if let Some(next) = self.action(action) {
                    queue.push_back(next);
                }
            }
            if self.flow.is_done() && self.phase != Phase::Ended && self.bridge.is_none() {
                let outcome = self.flow.outcome().unwrap_or("completed").to_string();
                self.send_bye();
                self.end(&outcome, Some("senim"));
            }
        }
    }

    pub(crate) fn record_step(&mut self, node: &str, what: String) {
        self.step_seq += 1;
        let at = self.epoch_ms();
        self.record(RecordOp::Step {
            call: self.id.clone(),
            seq: self.step_seq,
            at,
            menu: node.to_string(),
            what,
        });
    }

    pub(crate) fn language(&self) -> Language {
        Language::from_code(self.flow.language()).unwrap_or(Language::Ru)
    }

    /// Play prompts to the caller; the plan's answer at once if nothing can play.
    pub(crate) fn play(&mut self, ids: &[String], language: &str) -> Option<PlanEvent> {
        let lang = Language::from_code(language).unwrap_or(Language::Ru);
        let prompts: Vec<Arc<Prompt>> = ids
            .iter()
            .filter_map(|id| {
                let p = self.cfg.prompts.get(id, lang);
                if p.is_none() {
                    tracing::error!(prompt = %id, language, "prompt missing; skipping it");
                }
                p
            })
            .collect();
        let played = self
            .media
            .as_mut()
            .is_some_and(|m| m.play(prompts, &mut self.out));
        if played {
            None
        } else {
            Some(PlanEvent::PromptFinished)
        }
    }

    pub(crate) fn stop_caller_audio(&mut self) {
        if let Some(m) = self.media.as_mut() {
            m.stop_prompt(&mut self.out);
        }
    }

    fn action(&mut self, action: Action) -> Option<PlanEvent> {
        match action {
            Action::Play { prompts, language } => self.play(&prompts, &language),
            Action::StopPrompt => {
                self.stop_caller_audio();
                None
            }
            Action::StartTimer(d) => {
                self.timer = Some(self.now + d);
                None
            }
            Action::CancelTimer => {
                self.timer = None;
                None
            }
            Action::SetLanguage(language) => {
                if let Some(l) = Language::from_code(&language) {
                    self.record(RecordOp::Language {
                        call: self.id.clone(),
                        language: l.code(),
                    });
                }
                None
            }
            Action::Record { node, what } => {
                self.record_step(&node, what);
                None
            }
            Action::CheckHours { schedule } => {
                let at = self.clock.utc(self.now);
                let open = self
                    .cfg
                    .schedules
                    .get(&schedule)
                    .is_some_and(|s| self.cfg.calendar.is_open_as_configured(s, at));
                Some(PlanEvent::HoursResult { open })
            }
            Action::Route {
                node,
                service,
                strategy,
                ring,
                max_wait,
                other_language,
                prefer_last,
            } => {
                let mut service = service;
                let mut preferred = None;
                if prefer_last {
                    if let Some((specialist, last_service)) = self.last_specialist() {
                        // The same specialist has the skill of the service
                        // they gave last time.
                        if let Some(s) = last_service {
                            service = s;
                        }
                        preferred = Some(specialist);
                    }
                }
                self.start_route(
                    node,
                    &service,
                    &strategy,
                    ring,
                    max_wait,
                    other_language,
                    preferred,
                )
            }
            Action::Transfer { node, partner } => self.start_transfer(node, partner),
            Action::Callback { node } => {
                let settings = callback_request::Settings {
                    area_code: self.cfg.callbacks.area_code.clone(),
                    ..Default::default()
                };
                let mut flow =
                    CallbackFlow::new(settings, super::dialog::caller_number(&self.invite));
                let out = flow.start();
                self.callback = Some((node, flow));
                self.callback_outputs(out);
                None
            }
            Action::Voicemail { node, max_length } => self.start_voicemail(node, max_length),
            Action::SurveyScore { score, .. } => {
                self.record(RecordOp::Survey {
                    call: self.id.clone(),
                    score,
                });
                None
            }
            Action::Remember { node } => {
                self.remember(&node);
                None
            }
            Action::Forget { node } => {
                self.forget(&node);
                None
            }
            Action::Hangup { outcome } => {
                self.send_bye();
                self.end(&outcome, Some("senim"));
                None
            }
        }
    }
}
