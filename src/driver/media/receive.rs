//! Incoming RTP, read by the pacing threads between their slots: every
//! millisecond a thread asks the kernel which of its ports have packets
//! (one `epoll_wait` for all of them) and reads one packet from each.
//!
//! A port's packets go to its call, except those its call's rule
//! ([`Rule`]) lets the engine handle itself: the audio of the locked source
//! in the agreed codec, which is run through the in-band DTMF detector
//! (only a digit goes to the call) or relayed to the other side of a bridge
//! (from the other port's socket, with the payload type or the G.711 law
//! changed where the two sides differ). So a call in the menu or in a
//! conversation costs no wake-up of its task a packet.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use senim_call::relay::relay_in_place;
use senim_media::dtmf::InbandDetector;
use senim_media::g711::Codec;
use senim_media::rtp;

use crate::driver::media::event::{EventSender, MediaEvent, Sent};
use crate::driver::media::send::{socket_fd, Packets, RtpSocket};
use crate::driver::media::stats::MediaStats;

/// Largest datagram read (as the call core takes them).
const MAX_DATAGRAM: usize = 2048;
/// Ports reported ready at once; more are read in the next round.
const READY_AT_ONCE: usize = 512;
/// Rounds of readiness a tick (each reads one packet a ready port), so a
/// port with a backlog (a thread that was late) catches up over a few ticks
/// without starving the rest.
const ROUNDS_A_TICK: usize = 4;

/// What the engine does with a port's audio itself (see the module).
pub struct Rule {
    pub source: SocketAddr,
    pub codec: Codec,
    /// The in-band detector, when the call takes keys in the audio.
    pub inband: Option<InbandDetector>,
    pub relay: Option<Relay>,
}

/// Where a port's audio is relayed.
pub struct Relay {
    /// The other port's socket (shared with its call and stream).
    pub socket: Arc<dyn RtpSocket>,
    pub remote: SocketAddr,
    pub from_telephone_event: Option<u8>,
    pub to_codec: Codec,
    pub to_telephone_event: Option<u8>,
}

/// One port read by a pacing thread.
pub struct Listener {
    pub id: u64,
    pub socket: Arc<dyn RtpSocket>,
    pub events: EventSender,
    pub rule: Option<Rule>,
}

/// A pacing thread's ports.
pub struct Receiver {
    listeners: HashMap<u64, Listener>,
    ready: Ready,
    /// The ports found ready (kept to spare an allocation a round).
    ids: Vec<u64>,
    buf: Box<[u8; MAX_DATAGRAM]>,
}

impl Receiver {
    pub fn new() -> std::io::Result<Receiver> {
        Ok(Receiver {
            listeners: HashMap::new(),
            ready: Ready::new()?,
            ids: Vec::with_capacity(READY_AT_ONCE),
            buf: Box::new([0; MAX_DATAGRAM]),
        })
    }

    pub fn add(&mut self, listener: Listener) -> std::io::Result<()> {
        if self.listeners.contains_key(&listener.id) {
            return Ok(());
        }
        self.ready.add(listener.socket.udp(), listener.id)?;
        self.listeners.insert(listener.id, listener);
        Ok(())
    }

    pub fn set_rule(&mut self, id: u64, rule: Option<Rule>) {
        if let Some(l) = self.listeners.get_mut(&id) {
            l.rule = rule;
        }
    }

    /// Stop reading a port (before its socket may close).
    pub fn remove(&mut self, id: u64) {
        if let Some(l) = self.listeners.remove(&id) {
            self.ready.remove(l.socket.udp());
        }
    }

    /// Read what arrived since the last tick; what is relayed goes out
    /// through `out`, together, before this returns.
    pub fn poll(&mut self, stats: &MediaStats, out: &mut Packets) {
        if self.listeners.is_empty() {
            return;
        }
        self.read(stats, out);
        let (relayed, errors) = out.flush();
        stats.packets_relayed.fetch_add(relayed, Ordering::Relaxed);
        stats.send_errors.fetch_add(errors, Ordering::Relaxed);
    }

    /// Counted here and added to the shared counters once a tick (the
    /// pacing threads would otherwise share their cache line a packet).
    fn read(&mut self, stats: &MediaStats, out: &mut Packets) {
        let (mut received, mut handled, mut dropped) = (0u64, 0u64, 0u64);
        for _ in 0..ROUNDS_A_TICK {
            let mut ready = std::mem::take(&mut self.ids);
            self.ready.wait(&self.listeners, &mut ready);
            if ready.is_empty() {
                self.ids = ready;
                break;
            }
            let full = ready.len() >= READY_AT_ONCE;
            for &id in ready.iter() {
                let Some(l) = self.listeners.get_mut(&id) else {
                    continue;
                };
                match l.socket.udp().recv_from(&mut self.buf[..]) {
                    Ok((n, from)) => {
                        received += 1;
                        if let Some(data) = self.buf.get(..n) {
                            match take(l, data, from, stats, out) {
                                Taken::Handled => handled += 1,
                                Taken::ToCall => {}
                                Taken::Dropped => dropped += 1,
                            }
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    // An ICMP error queued on the socket, and the like:
                    // reading it cleared it.
                    Err(_) => {}
                }
            }
            self.ids = ready;
            // Level-triggered: a port with more waiting is reported again in
            // the next round.
            if !full && !Ready::AGAIN {
                break;
            }
        }
        stats
            .packets_received
            .fetch_add(received, Ordering::Relaxed);
        stats.packets_handled.fetch_add(handled, Ordering::Relaxed);
        if dropped > 0 {
            stats.packets_dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

/// What became of a packet read from a port.
enum Taken {
    /// Handled by the engine under the port's rule.
    Handled,
    /// Handed to the call.
    ToCall,
    /// Dropped: its call has too many packets waiting.
    Dropped,
}

/// One packet: handled under the rule, or handed to the call.
fn take(
    l: &mut Listener,
    data: &[u8],
    from: SocketAddr,
    stats: &MediaStats,
    out: &mut Packets,
) -> Taken {
    if let Some(rule) = l.rule.as_mut() {
        if from == rule.source {
            if let Ok((header, payload)) = rtp::parse(data) {
                if header.payload_type == rule.codec.payload_type() {
                    if let Some(detector) = rule.inband.as_mut() {
                        let mut pcm = [0i16; 160];
                        for chunk in payload.chunks(160) {
                            let decoded = &mut pcm[..chunk.len()];
                            rule.codec.decode(chunk, decoded);
                            if let Some(d) = detector.push(decoded) {
                                let _ = l.events.send(MediaEvent::Digit(d));
                            }
                        }
                    }
                    if let Some(r) = &rule.relay {
                        relay(r, data, rule.codec, stats, out);
                    }
                    return Taken::Handled;
                }
            }
        }
    }
    match l.events.send_packet(data, from) {
        Sent::Full => Taken::Dropped,
        Sent::Queued | Sent::Closed => Taken::ToCall,
    }
}

/// Queue a relayed packet with the others of the tick, rewritten where it
/// is to be sent from; one larger than a queued packet's room (a long
/// packet time) goes at once.
fn relay(r: &Relay, data: &[u8], codec: Codec, stats: &MediaStats, out: &mut Packets) {
    let rewrite = |packet: &mut [u8]| {
        relay_in_place(
            packet,
            codec,
            r.from_telephone_event,
            r.to_codec,
            r.to_telephone_event,
        )
    };
    if let Some(room) = out.next_buffer().get_mut(..data.len()) {
        room.copy_from_slice(data);
        if rewrite(room) {
            out.send(&*r.socket, socket_fd(r.socket.udp()), data.len(), r.remote);
        }
        return;
    }
    let mut packet = data.to_vec();
    if !rewrite(&mut packet) {
        return;
    }
    let counter = if r.socket.udp().send_to(&packet, r.remote).is_ok() {
        &stats.packets_relayed
    } else {
        &stats.send_errors
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Which ports have packets: `epoll` on Linux; elsewhere every port is
/// tried (a read that finds nothing costs one system call).
#[cfg(target_os = "linux")]
struct Ready {
    epoll: std::os::fd::OwnedFd,
    events: Vec<libc::epoll_event>,
}

#[cfg(target_os = "linux")]
impl Ready {
    fn new() -> std::io::Result<Ready> {
        use std::os::fd::FromRawFd;
        // SAFETY: a plain syscall; a non-negative result is a new
        // descriptor that nothing else owns.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Ready {
            // SAFETY: `fd` was just created and is owned here only.
            epoll: unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; READY_AT_ONCE],
        })
    }

    fn add(&mut self, socket: &std::net::UdpSocket, id: u64) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: id,
        };
        // SAFETY: both descriptors are open (the socket is held by the
        // listener being added); `ev` outlives the call.
        let r = unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                socket.as_raw_fd(),
                &mut ev,
            )
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn remove(&mut self, socket: &std::net::UdpSocket) {
        use std::os::fd::AsRawFd;
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`; the socket is still open.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                socket.as_raw_fd(),
                &mut ev,
            );
        }
    }

    /// The ids of the ports with packets waiting (level-triggered: a port
    /// still holding packets after one read is reported again).
    /// Rounds after the first find the ports that still hold packets.
    const AGAIN: bool = true;

    fn wait(&mut self, _listeners: &HashMap<u64, Listener>, ids: &mut Vec<u64>) {
        use std::os::fd::AsRawFd;
        let max = i32::try_from(self.events.len()).unwrap_or(i32::MAX);
        // SAFETY: the buffer holds `max` events and outlives the call; a
        // zero timeout never blocks.
        let n =
            unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), self.events.as_mut_ptr(), max, 0) };
        let n = usize::try_from(n).unwrap_or(0);
        ids.clear();
        ids.extend(self.events.iter().take(n).map(|e| e.u64));
    }
}

#[cfg(not(target_os = "linux"))]
struct Ready;

#[cfg(not(target_os = "linux"))]
impl Ready {
    fn new() -> std::io::Result<Ready> {
        Ok(Ready)
    }
    fn add(&mut self, _: &std::net::UdpSocket, _: u64) -> std::io::Result<()> {
        Ok(())
    }
    fn remove(&mut self, _: &std::net::UdpSocket) {}
    /// Every port is tried each round: one round a tick.
    const AGAIN: bool = false;

    fn wait(&mut self, listeners: &HashMap<u64, Listener>, ids: &mut Vec<u64>) {
        ids.clear();
        ids.extend(listeners.keys().copied());
    }
}
