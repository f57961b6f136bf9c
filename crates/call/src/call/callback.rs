//! The plan's `<callback>` node driven: the caller's keys, prompts and timer
//! go to the sans-IO [`CallbackFlow`]; its limit checks are answered from
//! the shared [`crate::config::CallbackQuota`] with the keyed hashes of the
//! numbers; a request it yields becomes a follow-up, the number only sealed,
//! and is counted against the day's limit.

use senim_dialplan::Event as PlanEvent;

use super::dialog::caller_number;
use super::state::Call;
use crate::callback_request::{usable_caller_id, CallbackRequest, Output as FlowOutput};
use crate::record::RecordOp;

impl Call {
    /// Carry out what the callback flow asks.
    pub(crate) fn callback_outputs(&mut self, outputs: Vec<FlowOutput>) {
        let node = self
            .callback
            .as_ref()
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        // Bounded: a prompt that cannot play yields the flow's next step at
        // once; the flow has a handful of steps.
        let mut pending = std::collections::VecDeque::from(outputs);
        let mut budget = 256;
        while let Some(o) = pending.pop_front() {
            budget -= 1;
            if budget == 0 {
                break;
            }
            match o {
                FlowOutput::Play(ids) => {
                    let language = self.flow.language().to_string();
                    if self.play(&ids, &language).is_some() {
                        // Nothing could be played: go on as if it had.
                        let more = self
                            .callback
                            .as_mut()
                            .map(|(_, f)| f.prompt_finished())
                            .unwrap_or_default();
                        for m in more.into_iter().rev() {
                            pending.push_front(m);
                        }
                    }
                }
                FlowOutput::StopPrompt => self.stop_caller_audio(),
                FlowOutput::StartTimer(d) => self.timer = Some(self.now + d),
                FlowOutput::CancelTimer => self.timer = None,
                FlowOutput::Record(what) => self.record_step(&node, what),
                FlowOutput::CheckLimit(numbers) => {
                    let keys: Vec<String> =
                        numbers.iter().map(|n| self.cfg.numbers.hash(n)).collect();
                    let allowed = self.cfg.callbacks.quota.allows(&keys, self.epoch_ms());
                    let more = self
                        .callback
                        .as_mut()
                        .map(|(_, f)| f.limit_checked(allowed))
                        .unwrap_or_default();
                    for m in more.into_iter().rev() {
                        pending.push_front(m);
                    }
                }
                FlowOutput::Done(request) => {
                    self.callback = None;
                    self.timer = None;
                    let recorded = match request {
                        Some(r) => {
                            self.store_callback(&r);
                            true
                        }
                        None => false,
                    };
                    self.flow_event(PlanEvent::CallbackResult { recorded });
                }
            }
        }
    }

    /// A key for the callback flow.
    pub(crate) fn callback_digit(&mut self, digit: char) {
        let out = self
            .callback
            .as_mut()
            .map(|(_, f)| f.digit(digit))
            .unwrap_or_default();
        self.callback_outputs(out);
    }

    /// The callback flow's timer ran out.
    pub(crate) fn callback_timeout(&mut self) {
        let out = self
            .callback
            .as_mut()
            .map(|(_, f)| f.timeout())
            .unwrap_or_default();
        self.callback_outputs(out);
    }

    /// The request becomes a follow-up; the number only sealed. It counts
    /// against the day's limit of the number left and of the caller's own.
    pub(crate) fn store_callback(&mut self, r: &CallbackRequest) {
        let sealed = self.cfg.numbers.seal(&r.number);
        let caller_hash = self.cfg.numbers.hash(&r.number);
        let at = self.epoch_ms();
        let mut keys = vec![caller_hash.clone()];
        if let Some(own) = caller_number(&self.invite).and_then(|n| usable_caller_id(&n)) {
            keys.push(self.cfg.numbers.hash(&own));
        }
        self.cfg.callbacks.quota.charge(&keys, at);
        self.record(RecordOp::CallbackRequest {
            id: new_id(),
            call: self.id.clone(),
            at,
            caller_hash,
            number_sealed: sealed,
            number_source: r.source.as_str(),
            window: r.window.as_str(),
            leave_message: r.leave_message,
            say_centre_name: r.say_centre_name,
            language: Some(self.flow.language().to_string()),
            service: self.service.clone(),
        });
    }
}

/// A random (version 4) UUID, for a new record's id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
