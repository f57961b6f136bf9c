//! The softphones registered to Senim, as the endpoint's registrar last
//! published them: where calls send a specialist's INVITE.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use senim_sip::message::Peer;

/// A registered contact of a specialist's softphone.
#[derive(Debug, Clone)]
pub struct SoftphoneContact {
    /// Request-URI for an INVITE.
    pub uri: rsip::Uri,
    /// Where its REGISTER came from: send the INVITE there.
    pub source: Peer,
    /// When it registered (the most recent is rung).
    pub registered_at: Instant,
}

/// Registered contacts per softphone user name.
#[derive(Debug, Default)]
pub struct Registrations {
    contacts: Mutex<BTreeMap<String, Vec<SoftphoneContact>>>,
}

impl Registrations {
    /// Replace them all (the registrar publishes the whole set).
    pub fn replace(&self, contacts: BTreeMap<String, Vec<SoftphoneContact>>) {
        *self
            .contacts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = contacts;
    }

    /// The most recent contact of a softphone: its URI and where to send.
    pub fn latest(&self, username: &str) -> Option<(rsip::Uri, Peer)> {
        let contacts = self
            .contacts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        contacts
            .get(username)
            .and_then(|l| l.iter().max_by_key(|c| c.registered_at))
            .map(|c| (c.uri.clone(), c.source))
    }

    /// The softphone whose current registration came from `source`, if
    /// any: a request from there is that phone's.
    pub fn user_at(&self, source: Peer) -> Option<String> {
        let contacts = self
            .contacts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        contacts
            .iter()
            .find(|(_, l)| l.iter().any(|c| c.source == source))
            .map(|(u, _)| u.clone())
    }

    /// How many contacts each softphone has (no addresses).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.contacts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(u, l)| (u.clone(), l.len()))
            .collect()
    }
}
