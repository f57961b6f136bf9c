//! The call's side of a caller remembered with consent: recognised at the
//! start, their memory kept up to date, consent and forgetting from the
//! plan's `<remember>` and `<forget>` (see [`crate::memory`]).

use super::state::Call;
use crate::io::{Metric, Output};
use crate::memory::Remembered;
use crate::record::RecordOp;

impl Call {
    /// A remembered caller is here (`specialist`: and talks to this one
    /// now): when they were last seen, and whom they spoke to last.
    pub(crate) fn remembered_seen(&mut self, specialist: Option<String>) {
        let (Some(key), Some(r)) = (self.memory_key.clone(), self.remembered.as_mut()) else {
            return;
        };
        if specialist.is_none() {
            self.out.push_back(Output::Metric(Metric::Recognised));
        } else {
            r.specialist.clone_from(&specialist);
            r.service.clone_from(&self.service);
        }
        let at = self.epoch_ms();
        let service = specialist.as_ref().and(self.service.clone());
        self.record(RecordOp::RememberedSeen {
            caller_hash: key,
            at,
            specialist,
            service,
        });
    }

    /// The caller pressed the consent key: remember them when the call
    /// allows it (a shown, usable number and a specialist reached).
    pub(crate) fn remember(&mut self, node: &str) {
        let Some(key) = self.memory_key.clone() else {
            self.record_step(node, "not remembered: no usable number".into());
            return;
        };
        let Some(specialist) = self.specialist.clone() else {
            self.record_step(node, "not remembered: no specialist in this call".into());
            return;
        };
        let language = self.flow.language().to_string();
        let at = self.epoch_ms();
        self.remembered = Some(Remembered {
            language: language.clone(),
            specialist: Some(specialist.clone()),
            service: self.service.clone(),
        });
        self.record(RecordOp::Remember {
            caller_hash: key,
            at,
            language,
            specialist,
            service: self.service.clone(),
        });
        self.record_step(node, "remembered".into());
        self.out.push_back(Output::Metric(Metric::Remembered));
    }

    /// The caller asked to be forgotten.
    pub(crate) fn forget(&mut self, node: &str) {
        self.remembered = None;
        let Some(key) = self.memory_key.clone() else {
            return;
        };
        self.record(RecordOp::Forget { caller_hash: key });
        self.record_step(node, "forgotten".into());
        self.out.push_back(Output::Metric(Metric::Forgotten));
    }

    /// For a route with `prefer="last-specialist"`: the remembered caller's
    /// last specialist and service, if any.
    pub(crate) fn last_specialist(&self) -> Option<(String, Option<String>)> {
        let r = self.remembered.as_ref()?;
        Some((r.specialist.clone()?, r.service.clone()))
    }
}
