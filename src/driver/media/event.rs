//! What a port of a call tells the call's task, and the channel it goes by.
//!
//! The channel is unbounded for digits and the ends of prompts (few, and
//! each must arrive), and bounded for packets: a call that falls behind in
//! reading them (a stalled task, a flood on its port) has
//! [`MAX_QUEUED_PACKETS`] waiting at most; packets that arrive while it has
//! that many are dropped at the port and counted, not kept in memory.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use senim_media::dtmf::Digit;
use tokio::sync::mpsc;

/// Packets a port may have waiting for its call: 5 s of one stream.
pub const MAX_QUEUED_PACKETS: usize = 256;

/// Something a port tells its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// The prompt started with this token has been sent to its last frame.
    PromptFinished { token: u64 },
    /// A packet the engine does not handle itself (see [`Rule`](crate::driver::media::Rule)).
    Rtp { data: Vec<u8>, from: SocketAddr },
    /// A digit the in-band detector found in the audio under a [`Rule`](crate::driver::media::Rule).
    Digit(Digit),
}

/// A new channel for one port's events.
pub fn event_channel() -> (EventSender, EventReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    (
        EventSender {
            tx,
            queued: queued.clone(),
        },
        EventReceiver { rx, queued },
    )
}

/// The port's side (the pacing threads, and the stream for its prompts).
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::UnboundedSender<MediaEvent>,
    /// Packets sent and not yet received.
    queued: Arc<AtomicUsize>,
}

/// Whether a packet went to the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The call has [`MAX_QUEUED_PACKETS`] waiting: dropped.
    Full,
    /// The call is gone.
    Closed,
}

impl EventSender {
    /// A digit or the end of a prompt; false when the call is gone.
    pub fn send(&self, event: MediaEvent) -> bool {
        if matches!(event, MediaEvent::Rtp { .. }) {
            return self.send_packet_event(event) == Sent::Queued;
        }
        self.tx.send(event).is_ok()
    }

    /// A packet for the call, unless too many are waiting already.
    pub fn send_packet(&self, data: &[u8], from: SocketAddr) -> Sent {
        // Checked before the copy, so a flood costs no allocation a packet.
        if self.queued.load(Ordering::Relaxed) >= MAX_QUEUED_PACKETS {
            return Sent::Full;
        }
        self.send_packet_event(MediaEvent::Rtp {
            data: data.to_vec(),
            from,
        })
    }

    fn send_packet_event(&self, event: MediaEvent) -> Sent {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED_PACKETS {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Sent::Full;
        }
        match self.tx.send(event) {
            Ok(()) => Sent::Queued,
            Err(_) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                Sent::Closed
            }
        }
    }
}

/// The call's side.
#[derive(Debug)]
pub struct EventReceiver {
    rx: mpsc::UnboundedReceiver<MediaEvent>,
    queued: Arc<AtomicUsize>,
}

impl EventReceiver {
    /// The next event; None once every sender is gone.
    pub async fn recv(&mut self) -> Option<MediaEvent> {
        let event = self.rx.recv().await;
        self.took(&event);
        event
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<MediaEvent> {
        let event = self.rx.try_recv().ok();
        self.took(&event);
        event
    }

    fn took(&self, event: &Option<MediaEvent>) {
        if matches!(event, Some(MediaEvent::Rtp { .. })) {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_bounded_and_digits_and_prompt_ends_are_not() {
        let (tx, mut rx) = event_channel();
        let from: SocketAddr = "127.0.0.1:4000".parse().expect("address");
        for _ in 0..MAX_QUEUED_PACKETS {
            assert_eq!(tx.send_packet(&[0x80; 12], from), Sent::Queued);
        }
        assert_eq!(tx.send_packet(&[0x80; 12], from), Sent::Full);
        // Digits and the end of a prompt still go.
        assert!(tx.send(MediaEvent::Digit(Digit::from_char('5').expect("digit"))));
        assert!(tx.send(MediaEvent::PromptFinished { token: 7 }));
        // One packet taken makes room for one.
        assert!(matches!(rx.try_recv(), Some(MediaEvent::Rtp { .. })));
        assert_eq!(tx.send_packet(&[0x80; 12], from), Sent::Queued);
        assert_eq!(tx.send_packet(&[0x80; 12], from), Sent::Full);
        let mut packets = 0;
        let mut others = Vec::new();
        for _ in 0..MAX_QUEUED_PACKETS + 10 {
            match rx.try_recv() {
                Some(MediaEvent::Rtp { .. }) => packets += 1,
                Some(other) => others.push(other),
                None => break,
            }
        }
        assert_eq!(packets, MAX_QUEUED_PACKETS);
        assert_eq!(others.len(), 2);
        // Gone: nothing is queued.
        drop(rx);
        assert_eq!(tx.send_packet(&[0x80; 12], from), Sent::Closed);
    }
}
