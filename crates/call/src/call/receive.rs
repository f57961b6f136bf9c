//! What the media engine may do with the call's incoming audio by itself
//! ([`ReceiveRule`](crate::io::ReceiveRule)), so that the packets the core
//! would only pass through the in-band detector or relay to the other side
//! of a bridge do not come to it one by one.

use crate::io::MediaId;

use super::Call;

impl Call {
    /// After every input: the rule for each port, given to the engine when
    /// it changed. No rule (every packet to the core) while a message is
    /// recorded (the recorder hears the audio), with SRTP on either side of
    /// a relay, and for a leg whose own keys are detected in-band.
    pub(super) fn receive_rules(&mut self) {
        let recording = self.voicemail.recorder().is_some();
        let bridge = self.bridge;
        if let Some(m) = self.media.as_ref() {
            let rule = if recording {
                None
            } else if let Some(id) = bridge {
                match self.legs.get(id) {
                    Some(slot) => slot
                        .media
                        .relay_rule(MediaId::Leg(id), m.telephone_event)
                        .and_then(|relay| m.receive_rule(false, relay)),
                    None => m.receive_rule(false, None),
                }
            } else {
                m.receive_rule(m.detects_inband(), None)
            };
            if let Some(m) = self.media.as_mut() {
                m.set_receive_rule(rule, &mut self.out);
            }
        }
        let caller = self.media.as_ref();
        self.legs.update_receive_rules(&mut self.out, |slot| {
            let m = &slot.media;
            if slot.bridged {
                if bridge == Some(slot.id) {
                    caller
                        .and_then(|c| c.relay_rule(MediaId::Caller, m.telephone_event))
                        .and_then(|relay| m.receive_rule(false, relay))
                } else {
                    m.receive_rule(false, None)
                }
            } else if m.detects_inband() {
                None
            } else {
                m.receive_rule(false, None)
            }
        });
    }
}
