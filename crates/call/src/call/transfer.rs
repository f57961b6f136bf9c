//! Transfers to partner centres: REFER in the caller's dialog through a
//! trunk that takes it and promises to present the centre on the new call,
//! otherwise a bridged leg; each of the partner's numbers in turn while the
//! caller is still there; then the plan's fallback. Only directory partners
//! are ever dialled.
//!
//! What is recorded is only what Senim knows: a bridged leg the partner
//! answered is `answered`; a REFER whose NOTIFY reported a 2xx is
//! `handed-over` (an upstream such as Asterisk reports 200 as soon as its
//! own call starts, so the partner's answer is not known); a transfer the
//! caller's side ended before it was confirmed is `failed`. See
//! docs/transfers.md.

use rsip::Method;
use senim_dialplan::{Event as PlanEvent, TransferOutcome};
use senim_routing::partners::Contact;
use senim_sip::message;
use senim_sip::refer::{ReferConfig, ReferFailure, ReferState, ReferTransfer};
use senim_sip::transaction::TxKey;

use super::state::{Call, PartnerTransfer, Phase};
use crate::legs::{self, LegPlan, LegPurpose, LegTarget};
use crate::relay::peer_of_uri;

/// How long a partner's phone may ring before the next number is tried.
const PARTNER_RING: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a transfer in progress failed when the caller's side ended.
pub(crate) const CALLER_GONE: &str = "caller's leg ended before the transfer was confirmed";

impl Call {
    /// The plan's `<transfer>`.
    pub(crate) fn start_transfer(&mut self, node: String, partner: String) -> Option<PlanEvent> {
        let Some(p) = self.cfg.partners.get(&partner) else {
            self.record_step(
                &node,
                format!("transfer to unknown partner {partner} refused"),
            );
            return Some(PlanEvent::TransferResult(TransferOutcome::Failed));
        };
        let contacts = p.contacts().iter().cloned().collect();
        self.transfer = Some(PartnerTransfer {
            node,
            partner,
            contacts,
            refer: None,
            playing: false,
        });
        let ev = self.transfer_next();
        if ev.is_none() && self.bridge.is_none() {
            self.background_next();
        }
        ev
    }

    /// Try the partner's next number; None while an attempt is under way,
    /// else the plan's answer (failed: nothing left to try).
    fn transfer_next(&mut self) -> Option<PlanEvent> {
        if self.phase == Phase::Ended {
            // Nobody to transfer: the end already recorded the transfer.
            self.transfer = None;
            return None;
        }
        // Bounded by the directory entry's list of numbers.
        for _ in 0..16 {
            let t = self.transfer.as_mut()?;
            t.refer = None;
            let Some(contact) = t.contacts.pop_front() else {
                break;
            };
            let partner = t.partner.clone();
            match self.try_contact(&partner, &contact) {
                Ok(how) => {
                    self.record_routing(
                        "transfer-attempt",
                        Some(partner.clone()),
                        None,
                        serde_json::json!({ "partner": partner, "how": how }),
                    );
                    return None;
                }
                Err(why) => {
                    tracing::info!(%partner, %why, "transfer attempt impossible");
                    self.record_transfer_end(
                        &partner,
                        Some("failed".into()),
                        serde_json::json!({ "partner": partner, "why": why }),
                    );
                }
            }
        }
        let t = self.transfer.take()?;
        if t.playing {
            self.stop_caller_audio();
        }
        self.record_step(&t.node, format!("transfer to {} failed", t.partner));
        Some(PlanEvent::TransferResult(TransferOutcome::Failed))
    }

    fn transfer_next_event(&mut self) {
        if let Some(ev) = self.transfer_next() {
            self.flow_event(ev);
        }
    }

    fn try_contact(&mut self, partner: &str, contact: &Contact) -> Result<&'static str, String> {
        match contact {
            Contact::Number(n) => {
                // REFER only through a trunk that promised to present the
                // centre on the call it places: else the partner would see
                // the caller's number, and a bridged leg is used instead.
                let refer_trunk = self
                    .cfg
                    .outbound
                    .trunk_of(self.peer.addr)
                    .filter(|t| t.transfers_by_refer())
                    .map(|t| (t.number_uri(n), t.refer_no_subscription));
                if let Some((target, no_subscription)) = refer_trunk {
                    let target = target.ok_or_else(|| "the number has no digits".to_string())?;
                    self.send_refer(target, no_subscription)?;
                    return Ok("refer");
                }
                let target = legs::via_trunk(&self.cfg, n)?;
                self.place_partner_leg(partner, target);
                Ok("bridged")
            }
            Contact::Uri(u) => {
                let uri = rsip::Uri::try_from(u.as_str()).map_err(|e| e.to_string())?;
                let peer = peer_of_uri(&uri)
                    .ok_or_else(|| "the URI's host is not an IP address over UDP".to_string())?;
                self.place_partner_leg(partner, LegTarget::Address(uri, peer));
                Ok("bridged")
            }
        }
    }

    fn place_partner_leg(&mut self, partner: &str, target: LegTarget) {
        let plan = LegPlan {
            target,
            whisper: vec![],
            language: self.language(),
            ring_timeout: PARTNER_RING,
            bridge_on_answer: true,
            caller_identity: self.partner_caller_identity(partner),
            hide_centre_name: false,
        };
        self.legs.place(
            LegPurpose::Partner(partner.to_string()),
            plan,
            &mut self.out,
        );
    }

    /// What a partner's phone shows as the caller: the centre alone, unless
    /// the partner's directory entry says `share_caller_number = true`.
    /// (`[centre] share_caller_number` is for the centre's own specialists.)
    fn partner_caller_identity(&self, partner: &str) -> Option<String> {
        let shares = self
            .cfg
            .partners
            .get(partner)
            .is_some_and(|p| p.shares_caller_number());
        if shares {
            super::dialog::caller_number(&self.invite)
        } else {
            None
        }
    }

    /// A partner's leg could not be placed (no RTP port): the next number.
    pub(crate) fn partner_not_placed(&mut self, partner: &str, why: &str) {
        if self.transfer.is_none() {
            return;
        }
        tracing::info!(%partner, %why, "transfer attempt impossible");
        self.record_transfer_end(
            partner,
            Some("failed".into()),
            serde_json::json!({ "partner": partner, "why": why }),
        );
        self.transfer_next_event();
    }

    /// A partner's leg ended before it was bridged: the next number.
    pub(crate) fn partner_leg_ended(&mut self, partner: &str, end: &crate::leg::LegEnd) {
        let result = end.ring_result();
        let text = serde_json::to_value(result)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        let detail = serde_json::json!({ "partner": partner, "how": "bridged", "result": result });
        self.record_transfer_end(partner, text, detail);
        self.transfer_next_event();
    }

    fn send_refer(&mut self, target: rsip::Uri, no_subscription: bool) -> Result<(), String> {
        let centre = self.cfg.centre_uri();
        let transport = self.peer.transport;
        let via = self.cfg.address_for(transport);
        let peer = self.request_peer();
        let now = self.now;
        let dialog = self
            .dialog
            .as_mut()
            .ok_or_else(|| "no dialog with the caller".to_string())?;
        let (refer, request) = ReferTransfer::with_config(
            dialog,
            &target,
            Some(&centre),
            via,
            transport,
            now,
            ReferConfig {
                no_subscription,
                ..ReferConfig::default()
            },
        );
        self.send_request(request, peer);
        if let Some(t) = self.transfer.as_mut() {
            t.refer = Some(refer);
        }
        Ok(())
    }

    /// A NOTIFY in the caller's dialog: the progress of the REFER.
    pub(crate) fn notify(&mut self, key: TxKey, request: &rsip::Request) {
        let now = self.now;
        let answer = self
            .transfer
            .as_mut()
            .and_then(|t| t.refer.as_mut())
            .map(|r| r.on_notify(request, now));
        match answer {
            Some(a) => {
                self.respond(key, a.response(request));
                self.check_refer();
            }
            None => {
                let tag = self.dialog.as_ref().map(|d| d.id.local_tag.clone());
                let r =
                    message::response(request, 481, "Subscription Does Not Exist", tag.as_deref());
                self.respond(key, r);
            }
        }
    }

    fn check_refer(&mut self) {
        let Some(state) = self
            .transfer
            .as_ref()
            .and_then(|t| t.refer.as_ref())
            .map(|r| r.state())
        else {
            return;
        };
        let partner = self
            .transfer
            .as_ref()
            .map(|t| t.partner.clone())
            .unwrap_or_default();
        match state {
            ReferState::Succeeded => {
                // The upstream has the call; a sipfrag 2xx says only that
                // its own call started (Asterisk sends it with its
                // ringback), so the partner's answer is not claimed.
                let confirmed = self
                    .transfer
                    .as_ref()
                    .and_then(|t| t.refer.as_ref())
                    .is_some_and(ReferTransfer::is_confirmed);
                self.record_transfer_end(
                    &partner,
                    Some("handed-over".into()),
                    serde_json::json!({ "partner": partner, "how": "refer", "notify_2xx": confirmed }),
                );
                self.transfer = None;
                self.stop_caller_audio();
                self.flow_event(PlanEvent::TransferResult(TransferOutcome::HandedOver));
            }
            ReferState::Failed(ReferFailure::Refused(481)) => {
                // RFC 3261 §12.2.1.2: the caller's dialog is gone (its BYE
                // may be late or lost). No other number, no fallback.
                let detail = serde_json::json!({ "partner": partner, "how": "refer", "why": "Refused(481)" });
                self.record_transfer_end(&partner, Some("failed".into()), detail);
                self.transfer = None;
                self.end("caller-gone", None);
            }
            ReferState::Failed(why) => {
                let detail = serde_json::json!({ "partner": partner, "how": "refer", "why": format!("{why:?}") });
                self.record_transfer_end(&partner, Some("failed".into()), detail);
                self.transfer_next_event();
            }
            _ => {}
        }
    }

    /// A response for a request this call sent: a leg's, or the REFER's.
    pub(crate) fn response(&mut self, response: rsip::Response) {
        let sip = rsip::SipMessage::Response(response);
        let call_id = message::call_id(&sip).unwrap_or_default();
        let is_refer = message::cseq(&sip).is_some_and(|(_, m)| m == Method::Refer);
        let rsip::SipMessage::Response(response) = sip else {
            return;
        };
        if self
            .legs
            .on_response(self.now, &call_id, &response, &mut self.out)
        {
            return;
        }
        if call_id == self.sip_call_id && is_refer {
            let now = self.now;
            if let Some(refer) = self.transfer.as_mut().and_then(|t| t.refer.as_mut()) {
                refer.on_response(&response, now);
            }
            self.check_refer();
        }
    }

    /// A transaction of this call timed out.
    pub(crate) fn request_timeout(&mut self, call_id: &str, method: Method) {
        if self
            .legs
            .on_timeout(self.now, call_id, method, &mut self.out)
        {
            return;
        }
        if method == Method::Refer {
            if let Some(refer) = self.transfer.as_mut().and_then(|t| t.refer.as_mut()) {
                refer.on_transaction_timeout();
            }
            self.check_refer();
        }
    }

    /// When the REFER next needs the clock.
    pub(crate) fn refer_wake(&self) -> Option<std::time::Instant> {
        self.transfer
            .as_ref()
            .and_then(|t| t.refer.as_ref())
            .and_then(|r| r.poll_timeout())
    }

    pub(crate) fn refer_timeout(&mut self) {
        let now = self.now;
        if self.refer_wake().is_some_and(|t| t <= now) {
            if let Some(refer) = self.transfer.as_mut().and_then(|t| t.refer.as_mut()) {
                refer.handle_timeout(now);
            }
            self.check_refer();
        }
    }

    /// The caller's side ended (BYE, CANCEL, a limit, shutdown) while a
    /// transfer was in progress: the attempt under way failed, as the
    /// transfer was never confirmed; no other number is tried and the
    /// plan's fallback does not run (nobody is there to hear it). A NOTIFY
    /// that comes later gets 481.
    pub(crate) fn transfer_call_ended(&mut self) {
        let Some(t) = self.transfer.take() else {
            return;
        };
        let how = if t.refer.is_some() {
            "refer"
        } else {
            "bridged"
        };
        tracing::info!(partner = %t.partner, how, "{CALLER_GONE}");
        self.record_transfer_end(
            &t.partner,
            Some("failed".into()),
            serde_json::json!({ "partner": t.partner, "how": how, "why": CALLER_GONE }),
        );
        self.record_step(
            &t.node,
            format!("transfer to {} failed: {CALLER_GONE}", t.partner),
        );
    }

    /// How an attempt to reach a partner ended (`result`: answered,
    /// handed-over, failed, ...).
    pub(crate) fn record_transfer_end(
        &mut self,
        partner: &str,
        result: Option<String>,
        detail: serde_json::Value,
    ) {
        self.record_routing("transfer-ended", Some(partner.to_string()), result, detail);
    }
}
