//! The media engine: a few pacing threads (one per core by default) that send
//! every call's RTP on one fixed 20 ms schedule.
//!
//! A thread owns a shard of the streams, each in one of the 20 slots of the
//! packet time ([`schedule`]). Every millisecond it applies queued commands
//! and sends one G.711 frame to each stream of the slot that is due: the next
//! frame of the prompt that plays (frames are encoded once at start-up and
//! shared by all calls) or silence. Deadlines advance from the thread's
//! start, never from the time a slot happened to be sent, so drift does not
//! accumulate; a late slot is caught up, not skipped, unless the thread is
//! more than 100 ms behind. A slot's packets go to the kernel together
//! ([`send`]). Nothing is allocated per packet sent. Between slots the
//! thread reads its ports' incoming RTP ([`receive`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use senim_media::g711::Codec;
use senim_media::prompts::Prompt;
use senim_media::rtp::RtpSender;
use senim_media::srtp::SrtpContext;

mod event;
mod receive;
mod schedule;
mod send;
mod stats;

pub use event::{event_channel, EventReceiver, EventSender, MediaEvent, Sent, MAX_QUEUED_PACKETS};
pub use stats::MediaStats;

use receive::{Listener, Receiver};
pub use receive::{Relay, Rule};

pub use schedule::PTIME;
use schedule::{least_loaded, Schedule, SLOT, SLOTS};
pub use send::RtpSocket;
use send::{socket_fd, Fd, Packets, FRAME_BYTES};

const SAMPLES_PER_FRAME: u32 = 160;
/// Commands applied before a slot is sent; more wait for the next slot.
const MAX_COMMANDS_A_SLOT: usize = 100_000;

enum Command {
    Add(Box<Stream>),
    Play {
        id: u64,
        prompt: Arc<Prompt>,
        token: u64,
    },
    Stop {
        id: u64,
    },
    SetRemote {
        id: u64,
        remote: Option<SocketAddr>,
    },
    SetSrtp {
        id: u64,
        srtp: Option<Box<SrtpContext>>,
    },
    Remove {
        id: u64,
    },
    Listen(Box<Listener>),
    SetRule {
        id: u64,
        rule: Option<Box<Rule>>,
    },
    Unlisten {
        id: u64,
    },
}

struct Stream {
    id: u64,
    socket: Arc<dyn RtpSocket>,
    /// The socket's descriptor, read once: the send loop goes through
    /// thousands of streams a millisecond and need not follow the pointers
    /// to it each time. Valid while `socket` is held.
    fd: Fd,
    /// Where the packets go; None: nowhere yet (the stream keeps time and
    /// its prompts play on, unheard).
    remote: Option<SocketAddr>,
    codec: Codec,
    rtp: RtpSender,
    /// SRTP: each packet is protected before it is sent (None: plain RTP).
    srtp: Option<Box<SrtpContext>>,
    playing: Option<(Arc<Prompt>, usize, u64)>,
    events: EventSender,
}

/// Handle on the pacing threads.
pub struct MediaEngine {
    shards: Vec<mpsc::Sender<Command>>,
    threads: Vec<JoinHandle<()>>,
    next_id: AtomicU64,
    stats: Arc<MediaStats>,
}

impl MediaEngine {
    /// Start `threads` pacing threads (0: one per available core), sending
    /// with io_uring when `io_uring` and the kernel allows it.
    pub fn start(threads: usize, io_uring: bool) -> std::io::Result<MediaEngine> {
        let n = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let stats = Arc::new(MediaStats::default());
        let mut shards = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = mpsc::channel();
            let stats = stats.clone();
            let receiver = Receiver::new()?;
            // Threads send their slots in turn, not at the same instant.
            let offset = SLOT * u32::try_from(i).unwrap_or(0) / u32::try_from(n).unwrap_or(1);
            let handle = std::thread::Builder::new()
                .name(format!("senim-media-{i}"))
                .spawn(move || pace(rx, stats, offset, io_uring, receiver))?;
            shards.push(tx);
            handles.push(handle);
        }
        Ok(MediaEngine {
            shards,
            threads: handles,
            next_id: AtomicU64::new(1),
            stats,
        })
    }

    pub fn stats(&self) -> &Arc<MediaStats> {
        &self.stats
    }

    /// Start sending RTP on `socket` to `remote`: silence until a prompt is
    /// played. With no remote, nothing is sent until one is set. With an
    /// SRTP context, every packet is protected with it.
    pub fn add_stream(
        &self,
        socket: Arc<dyn RtpSocket>,
        remote: Option<SocketAddr>,
        codec: Codec,
        srtp: Option<SrtpContext>,
        events: EventSender,
    ) -> StreamHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let shard = self.shards[(id as usize) % self.shards.len()].clone();
        let rtp = RtpSender::new(rand::random(), rand::random(), rand::random());
        let fd = socket_fd(socket.udp());
        let stream = Stream {
            id,
            socket,
            fd,
            remote,
            codec,
            rtp,
            srtp: srtp.map(Box::new),
            playing: None,
            events,
        };
        let _ = shard.send(Command::Add(Box::new(stream)));
        StreamHandle { id, shard }
    }

    /// Read `socket`'s incoming RTP: each packet goes to `events` until a
    /// rule says otherwise. The socket must be non-blocking.
    pub fn listen(&self, socket: Arc<dyn RtpSocket>, events: EventSender) -> ListenHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let shard = self.shards[(id as usize) % self.shards.len()].clone();
        let listener = Listener {
            id,
            socket,
            events,
            rule: None,
        };
        let _ = shard.send(Command::Listen(Box::new(listener)));
        ListenHandle { id, shard }
    }

    /// Stop the pacing threads (streams are dropped).
    pub fn shutdown(self) {
        drop(self.shards);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// A call's handle on its stream; dropping it removes the stream.
pub struct StreamHandle {
    id: u64,
    shard: mpsc::Sender<Command>,
}

impl StreamHandle {
    /// Play `prompt` from its first frame on the next tick; its end comes
    /// back as `PromptFinished` with `token`.
    pub fn play(&self, prompt: Arc<Prompt>, token: u64) {
        let _ = self.shard.send(Command::Play {
            id: self.id,
            prompt,
            token,
        });
    }

    /// Stop the prompt: the next tick sends silence.
    pub fn stop(&self) {
        let _ = self.shard.send(Command::Stop { id: self.id });
    }

    /// Send to this address from now on (the far end's learned source, a
    /// re-INVITE); None: send nothing until set again.
    pub fn set_remote(&self, remote: Option<SocketAddr>) {
        let _ = self.shard.send(Command::SetRemote {
            id: self.id,
            remote,
        });
    }

    /// Protect the packets with this SRTP context from now on (None: plain).
    pub fn set_srtp(&self, srtp: Option<SrtpContext>) {
        let _ = self.shard.send(Command::SetSrtp {
            id: self.id,
            srtp: srtp.map(Box::new),
        });
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        let _ = self.shard.send(Command::Remove { id: self.id });
    }
}

/// A call's handle on a port the engine reads; dropping it stops the
/// reading (the socket closes when the call and the engine both let go).
pub struct ListenHandle {
    id: u64,
    shard: mpsc::Sender<Command>,
}

impl ListenHandle {
    /// Handle the port's audio under this rule from the next tick (None:
    /// every packet to the call).
    pub fn set_rule(&self, rule: Option<Rule>) {
        let _ = self.shard.send(Command::SetRule {
            id: self.id,
            rule: rule.map(Box::new),
        });
    }
}

impl Drop for ListenHandle {
    fn drop(&mut self) {
        let _ = self.shard.send(Command::Unlisten { id: self.id });
    }
}

/// Ask the kernel to run this pacing thread ahead of ordinary work: a low
/// real-time priority (SCHED_FIFO 10, as media servers commonly do) when
/// allowed, else a higher nice value; without either, it still works, with
/// more jitter under load. The thread sleeps most of each tick, so it cannot
/// starve the machine.
fn raise_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 10 };
        // SAFETY: plain syscalls on the calling thread with a valid parameter.
        let fifo = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        if fifo == 0 {
            tracing::debug!("media pacing thread runs at real-time priority");
            return;
        }
        // SAFETY: as above; on Linux `who = 0` is the calling thread.
        let nice = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -10) };
        if nice != 0 {
            tracing::info!("media pacing thread keeps normal priority (no permission to raise it)");
        }
    }
}

/// A pacing thread's streams, each in its slot of the packet time.
struct Shard {
    slots: [Vec<Stream>; SLOTS],
    /// Where each stream is: its slot and its place in it.
    at: HashMap<u64, (usize, usize)>,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            slots: std::array::from_fn(|_| Vec::new()),
            at: HashMap::new(),
        }
    }

    fn add(&mut self, stream: Stream) -> bool {
        if self.at.contains_key(&stream.id) {
            return false;
        }
        let counts: [usize; SLOTS] = std::array::from_fn(|i| self.slots[i].len());
        let slot = least_loaded(&counts);
        self.at.insert(stream.id, (slot, self.slots[slot].len()));
        self.slots[slot].push(stream);
        true
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Stream> {
        let (slot, i) = *self.at.get(&id)?;
        self.slots.get_mut(slot)?.get_mut(i)
    }

    fn remove(&mut self, id: u64) -> bool {
        let Some((slot, i)) = self.at.remove(&id) else {
            return false;
        };
        let Some(streams) = self.slots.get_mut(slot) else {
            return false;
        };
        if i >= streams.len() {
            return false;
        }
        streams.swap_remove(i);
        if let Some(moved) = streams.get(i) {
            self.at.insert(moved.id, (slot, i));
        }
        true
    }
}

fn pace(
    rx: mpsc::Receiver<Command>,
    stats: Arc<MediaStats>,
    offset: Duration,
    io_uring: bool,
    mut receiver: Receiver,
) {
    raise_priority();
    let mut shard = Shard::new();
    let mut out = Packets::new(io_uring);
    if offset.is_zero() {
        // The first thread says how the packets go.
        tracing::info!(way = ?out.kind(), "RTP pacing threads started");
    }
    let mut schedule = Schedule::new(Instant::now() + PTIME + offset);
    loop {
        // Sleep to the next slot, then apply the commands that came
        // meanwhile (a command waits at most one slot). A plain sleep, not
        // a wait on the channel: the channel's wait spins and yields before
        // it sleeps, which a thousand wake-ups a second made a tenth of the
        // thread's time.
        let now = Instant::now();
        let deadline = schedule.deadline();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        for _ in 0..MAX_COMMANDS_A_SLOT {
            match rx.try_recv() {
                Ok(cmd) => apply(&mut shard, &mut receiver, cmd, &stats),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        // The slots due now: one, or those a late wake-up delayed (at most
        // 100 ms of them: further behind, the schedule starts again).
        let now = Instant::now();
        while let Some(due) = schedule.due(now) {
            if due.late {
                stats.late_ticks.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(streams) = shard.slots.get_mut(due.slot) {
                send_slot(streams, &mut out, &stats);
            }
        }
        receiver.poll(&stats, &mut out);
    }
}

/// One frame to every stream of a slot: the next frame of its prompt, or
/// silence.
fn send_slot(streams: &mut [Stream], out: &mut Packets, stats: &MediaStats) {
    let silence_pcmu = [Codec::Pcmu.silence_byte(); FRAME_BYTES];
    let silence_pcma = [Codec::Pcma.silence_byte(); FRAME_BYTES];
    for s in streams.iter_mut() {
        let silence: &[u8] = match s.codec {
            Codec::Pcmu => &silence_pcmu,
            Codec::Pcma => &silence_pcma,
        };
        let mut finished = None;
        let frame: &[u8] = match &mut s.playing {
            Some((prompt, index, token)) => match prompt.frame(s.codec, *index) {
                Some(f) => {
                    *index += 1;
                    if *index >= prompt.frame_count() {
                        finished = Some(*token);
                    }
                    f
                }
                None => {
                    finished = Some(*token);
                    silence
                }
            },
            None => silence,
        };
        match s.remote {
            Some(remote) => {
                let packet = out.next_buffer();
                let mut n =
                    s.rtp
                        .write_packet(s.codec.payload_type(), frame, SAMPLES_PER_FRAME, packet);
                if let Some(srtp) = s.srtp.as_mut() {
                    // In place, into the room after the frame; a packet
                    // that cannot be protected is not sent in clear.
                    n = srtp.protect(packet, n).unwrap_or(0);
                }
                if n > 0 {
                    out.send(&*s.socket, s.fd, n, remote);
                } else {
                    stats.send_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Nowhere to send yet: time goes on (RFC 3550: the
            // timestamp follows the clock, the sequence the packets sent).
            None => s.rtp.advance(SAMPLES_PER_FRAME),
        }
        if let Some(token) = finished {
            s.playing = None;
            let _ = s.events.send(MediaEvent::PromptFinished { token });
        }
    }
    let (sent, errors) = out.flush();
    stats.packets_sent.fetch_add(sent, Ordering::Relaxed);
    stats.send_errors.fetch_add(errors, Ordering::Relaxed);
}

fn apply(shard: &mut Shard, receiver: &mut Receiver, cmd: Command, stats: &MediaStats) {
    match cmd {
        Command::Listen(l) => {
            if let Err(e) = receiver.add(*l) {
                tracing::error!(error = %e, "an RTP port cannot be read; its packets are lost");
            }
        }
        Command::SetRule { id, rule } => receiver.set_rule(id, rule.map(|r| *r)),
        Command::Unlisten { id } => receiver.remove(id),
        Command::Add(s) => {
            if shard.add(*s) {
                stats.streams.fetch_add(1, Ordering::Relaxed);
            }
        }
        Command::Play { id, prompt, token } => {
            if let Some(s) = shard.get_mut(id) {
                s.rtp.mark_talkspurt();
                s.playing = Some((prompt, 0, token));
            }
        }
        Command::Stop { id } => {
            if let Some(s) = shard.get_mut(id) {
                s.playing = None;
            }
        }
        Command::SetRemote { id, remote } => {
            if let Some(s) = shard.get_mut(id) {
                s.remote = remote;
            }
        }
        Command::SetSrtp { id, srtp } => {
            if let Some(s) = shard.get_mut(id) {
                s.srtp = srtp;
            }
        }
        Command::Remove { id } => {
            if shard.remove(id) {
                stats.streams.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use senim_media::prompts::beep;
    use senim_media::srtp::{MasterKey, Suite};
    use std::net::UdpSocket;

    fn stream(id: u64) -> Stream {
        let socket: Arc<dyn RtpSocket> =
            Arc::new(UdpSocket::bind("127.0.0.1:0").expect("a loopback socket"));
        let (events, _rx) = event_channel();
        Stream {
            id,
            fd: send::socket_fd(socket.udp()),
            socket,
            remote: None,
            codec: Codec::Pcmu,
            rtp: RtpSender::new(1, 2, 3),
            srtp: None,
            playing: None,
            events,
        }
    }

    /// Streams fill the slots evenly, each is found where the index says
    /// after others around it are removed, and an id is never added twice.
    #[test]
    fn a_shard_spreads_its_streams_over_the_slots_and_finds_each_after_removals() {
        let mut shard = Shard::new();
        for id in 0..(SLOTS as u64 * 3) {
            assert!(shard.add(stream(id)));
        }
        assert!(!shard.add(stream(5)), "an id already there");
        assert!(shard.slots.iter().all(|s| s.len() == 3), "three a slot");
        for id in (0..(SLOTS as u64 * 3)).step_by(2) {
            assert!(shard.remove(id));
            assert!(!shard.remove(id), "removed once");
        }
        for id in 0..(SLOTS as u64 * 3) {
            assert_eq!(
                shard.get_mut(id).map(|s| s.id),
                (id % 2 == 1).then_some(id),
                "stream {id}"
            );
        }
        let left: usize = shard.slots.iter().map(Vec::len).sum();
        assert_eq!(left, SLOTS * 3 / 2);
        assert_eq!(shard.at.len(), left);
        // New streams go where there is most room.
        let before: Vec<usize> = shard.slots.iter().map(Vec::len).collect();
        let emptiest = before.iter().copied().min().unwrap_or(0);
        assert!(shard.add(stream(1000)));
        let (slot, _) = shard.at[&1000];
        assert_eq!(before[slot], emptiest);
    }

    /// A prompt sent by a pacing thread with SRTP reaches a loopback
    /// socket protected: each packet is longer by the tag, its payload is
    /// not the prompt's, and under the stream's key it unprotects to the
    /// prompt's frames in order.
    #[test]
    fn prompts_go_out_protected_under_the_streams_key() {
        let engine = MediaEngine::start(1, true).expect("a pacing thread");
        let far = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        far.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("a timeout");
        let near = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        let key = MasterKey::new([5; 16], [6; 14]);
        let suite = Suite::AesCm128HmacSha1_80;
        let (events, _rx) = event_channel();
        let handle = engine.add_stream(
            Arc::new(near),
            Some(far.local_addr().expect("address")),
            Codec::Pcmu,
            Some(SrtpContext::new(suite, &key)),
            events,
        );
        let prompt = Arc::new(beep("beep", 1000.0, 200));
        handle.play(prompt.clone(), 1);
        let mut receiver = SrtpContext::new(suite, &key);
        let mut frames = Vec::new();
        let mut buf = [0u8; 2048];
        // At most 50 packets (1 s of audio), each within the read timeout.
        for _ in 0..50 {
            let Ok(n) = far.recv(&mut buf) else { break };
            assert_eq!(n, 12 + FRAME_BYTES + suite.tag_len());
            let plain = receiver.unprotect(&mut buf[..n]).expect("the stream's key");
            let payload = buf[12..plain].to_vec();
            if payload.iter().all(|b| *b == Codec::Pcmu.silence_byte()) && frames.is_empty() {
                continue; // silence before the prompt's first frame
            }
            frames.push(payload);
            if frames.len() == prompt.frame_count() {
                break;
            }
        }
        assert_eq!(frames.len(), prompt.frame_count());
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(
                Some(f.as_slice()),
                prompt.frame(Codec::Pcmu, i),
                "frame {i}"
            );
        }
        drop(handle);
        engine.shutdown();
    }

    fn socket() -> Arc<UdpSocket> {
        let s = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        s.set_nonblocking(true).expect("non-blocking");
        Arc::new(s)
    }

    fn packets(codec: Codec, frames: &[[i16; 160]], first_sequence: u16) -> Vec<Vec<u8>> {
        let mut rtp = RtpSender::new(7, first_sequence, 0);
        frames
            .iter()
            .map(|pcm| {
                let mut payload = [0u8; 160];
                codec.encode(pcm, &mut payload);
                let mut out = [0u8; 200];
                let n = rtp.write_packet(codec.payload_type(), &payload, 160, &mut out);
                out[..n].to_vec()
            })
            .collect()
    }

    /// Wait (at most 2 s) for the next event of a port.
    fn next_event(rx: &mut EventReceiver) -> Option<MediaEvent> {
        for _ in 0..200 {
            if let Some(ev) = rx.try_recv() {
                return Some(ev);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Without a rule every packet goes to the call. Under a rule the
    /// locked source's audio stays in the engine: with `inband`, a key's
    /// tone comes to the call as one digit; with a relay, each packet goes
    /// out of the other port to its far end in that side's law. A stranger's
    /// packet and a telephone-event still go to the call.
    #[test]
    fn the_engine_reads_ports_and_keeps_what_a_rule_lets_it_handle() {
        let engine = MediaEngine::start(1, true).expect("a pacing thread");
        let caller = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        let stranger = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        let far = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        far.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("a timeout");
        let near = socket();
        let other = socket();
        let near_addr = near.local_addr().expect("address");
        let (events, mut rx) = event_channel();
        let handle = engine.listen(near.clone(), events);

        let silence = [[0i16; 160]; 1];
        let p = packets(Codec::Pcmu, &silence, 1);
        caller.send_to(&p[0], near_addr).expect("sent");
        assert_eq!(
            next_event(&mut rx),
            Some(MediaEvent::Rtp {
                data: p[0].clone(),
                from: caller.local_addr().expect("address")
            }),
            "no rule: to the call"
        );

        // In-band detection: 60 ms of the tone of 5, then silence.
        let five = senim_media::dtmf::Digit::from_char('5').expect("a key");
        let (row, col) = senim_media::dtmf::tone_frequencies(five);
        let mut frames = Vec::new();
        for f in 0..8 {
            let mut pcm = [0i16; 160];
            if f < 4 {
                for (i, x) in pcm.iter_mut().enumerate() {
                    let t = (f * 160 + i) as f32 / 8000.0;
                    let v = (2.0 * std::f32::consts::PI * row * t).sin()
                        + (2.0 * std::f32::consts::PI * col * t).sin();
                    *x = (v * 6000.0) as i16;
                }
            }
            frames.push(pcm);
        }
        handle.set_rule(Some(Rule {
            source: caller.local_addr().expect("address"),
            codec: Codec::Pcmu,
            inband: Some(senim_media::dtmf::InbandDetector::new()),
            relay: None,
        }));
        std::thread::sleep(Duration::from_millis(20));
        for p in packets(Codec::Pcmu, &frames, 10) {
            caller.send_to(&p, near_addr).expect("sent");
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(next_event(&mut rx), Some(MediaEvent::Digit(five)));

        // Relay into the other port's far end, μ-law to A-law.
        handle.set_rule(Some(Rule {
            source: caller.local_addr().expect("address"),
            codec: Codec::Pcmu,
            inband: None,
            relay: Some(Relay {
                socket: other.clone(),
                remote: far.local_addr().expect("address"),
                from_telephone_event: Some(101),
                to_codec: Codec::Pcma,
                to_telephone_event: Some(96),
            }),
        }));
        std::thread::sleep(Duration::from_millis(20));
        let p = packets(Codec::Pcmu, &silence, 30);
        caller.send_to(&p[0], near_addr).expect("sent");
        let mut buf = [0u8; 2048];
        let (n, from) = far.recv_from(&mut buf).expect("relayed");
        assert_eq!(
            from,
            other.local_addr().expect("address"),
            "from the other port"
        );
        assert_eq!(n, p[0].len());
        assert_eq!(buf[1] & 0x7f, Codec::Pcma.payload_type());
        assert!(buf[12..n].iter().all(|b| *b == Codec::Pcma.silence_byte()));

        stranger.send_to(&p[0], near_addr).expect("sent");
        assert!(
            matches!(next_event(&mut rx), Some(MediaEvent::Rtp { from, .. }) if from == stranger.local_addr().expect("address")),
            "a stranger's packet goes to the call"
        );
        let mut te = p[0].clone();
        te[1] = 101;
        caller.send_to(&te, near_addr).expect("sent");
        assert!(
            matches!(next_event(&mut rx), Some(MediaEvent::Rtp { data, .. }) if data == te),
            "a telephone-event goes to the call"
        );
        assert!(rx.try_recv().is_none(), "nothing else came to the call");
        let stats = engine.stats();
        assert!(stats.packets_handled.load(Ordering::Relaxed) >= 9);
        assert_eq!(stats.packets_relayed.load(Ordering::Relaxed), 1);
        drop(handle);
        engine.shutdown();
    }

    /// A call that does not read its port's packets gets the first
    /// MAX_QUEUED_PACKETS; the rest of a flood is dropped at the port and
    /// counted, and the call still gets the end of its prompt.
    #[test]
    fn a_flood_on_a_port_whose_call_does_not_read_is_bounded() {
        let engine = MediaEngine::start(1, true).expect("a pacing thread");
        let flood = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        let near = socket();
        let near_addr = near.local_addr().expect("address");
        let (events, mut rx) = event_channel();
        let handle = engine.listen(near.clone(), events.clone());
        let p = packets(Codec::Pcmu, &[[0i16; 160]; 1], 1);
        let sent = MAX_QUEUED_PACKETS + 200;
        for i in 0..sent {
            flood.send_to(&p[0], near_addr).expect("sent");
            if i % 10 == 0 {
                // Let the engine read (the socket's buffer is not the bound
                // being tested).
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let stats = engine.stats().clone();
        for _ in 0..200 {
            let seen = stats.packets_received.load(Ordering::Relaxed);
            if seen >= sent as u64 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Read by the engine (a busy machine may lose a few in the socket).
        let received = stats.packets_received.load(Ordering::Relaxed);
        assert!(received > MAX_QUEUED_PACKETS as u64 + 50, "{received}");
        assert_eq!(
            stats.packets_dropped.load(Ordering::Relaxed),
            received - MAX_QUEUED_PACKETS as u64
        );
        assert!(events.send(MediaEvent::PromptFinished { token: 3 }));
        let mut packets_seen = 0;
        let mut finished = false;
        while let Some(ev) = rx.try_recv() {
            match ev {
                MediaEvent::Rtp { .. } => packets_seen += 1,
                MediaEvent::PromptFinished { token: 3 } => finished = true,
                _ => {}
            }
        }
        assert_eq!(packets_seen, MAX_QUEUED_PACKETS);
        assert!(finished);
        drop(handle);
        engine.shutdown();
    }
}
