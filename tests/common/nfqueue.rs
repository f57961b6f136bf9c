//! Loss, delay, jitter and reordering without `tc netem`: of the packets an
//! iptables rule sends to a netfilter queue (`-j NFQUEUE --queue-num N`), a
//! thread of the test process drops a share, lets a share through at once
//! (overtaking the others) and holds the rest for `delay ± jitter` before
//! accepting them. That is what `tc netem loss L delay D J reorder R%` does,
//! for kernels built without netem; it needs only the kernel's
//! nfnetlink_queue and xt_NFQUEUE.
//!
//! Why the loss is decided here rather than by an iptables `statistic`
//! match with `-j DROP`: a packet dropped in the OUTPUT chain fails the
//! sender's `send` with EPERM (SIPp then gives up the call), and one dropped
//! in PREROUTING was already seen by a capture on the loopback. A packet
//! dropped by a queue's verdict is silent to its sender and never reaches
//! the capture, as with netem or a real network.
//!
//! The thread enters the network namespace (`setns`) before it opens its
//! netlink socket, so it serves the queue of that namespace alone, and it
//! speaks nfnetlink_queue directly (`linux/netfilter/nfnetlink_queue.h`):
//! bind the queue, ask for each packet's metadata only, and answer each with
//! an ACCEPT verdict by its id, in any order. Bounded: at most [`MAX_HELD`]
//! packets held (more pass at once, counted), and the thread stops within
//! [`TICK`] of [`Holder::stop`], accepting whatever it still holds.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::Rng;

/// At most this many packets held at once; more are accepted at once.
pub const MAX_HELD: usize = 4096;

/// The longest the thread waits before looking at its stop flag again.
pub const TICK: Duration = Duration::from_millis(20);

/// What the queue's packets go through.
#[derive(Clone, Copy, Debug)]
pub struct Treatment {
    /// The share of packets (0 to 1) dropped.
    pub loss: f64,
    /// How long a packet is held, in ms.
    pub delay_ms: u32,
    /// Each packet's delay varies by up to this much either way (uniformly),
    /// in ms: packets closer in time than that can swap places.
    pub jitter_ms: u32,
    /// The share of packets (0 to 1) accepted at once, overtaking the held.
    pub reorder: f64,
}

/// What the thread did, for the test log.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub dropped: u64,
    pub held: u64,
    pub at_once: u64,
    /// Accepted at once because [`MAX_HELD`] were already held.
    pub overflow: u64,
    /// Times the kernel's notices overflowed the socket (packets that the
    /// kernel then drops when the queue closes).
    pub missed_notices: u64,
}

/// The thread serving one namespace's queue; stop it with [`Holder::stop`]
/// (dropping it stops it too).
pub struct Holder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Counts>>,
}

impl Holder {
    /// Start a thread that enters the namespace at `netns` (a file such as
    /// `/var/run/netns/NAME`), binds queue `queue` there and treats its
    /// packets as `treatment` says. Returns once the queue is bound, so that a
    /// rule sending packets to it can be added next; or why it could not be.
    pub fn start(netns: &Path, queue: u16, treatment: Treatment) -> Result<Holder, String> {
        let netns = File::open(netns).map_err(|e| format!("{}: {e}", netns.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("nfqueue-{queue}"))
            .spawn(move || {
                let socket = match enter(&netns).and_then(|()| QueueSocket::bind(queue)) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Counts::default();
                    }
                };
                let _ = ready_tx.send(Ok(()));
                serve(&socket, treatment, &flag)
            })
            .map_err(|e| format!("start the queue thread: {e}"))?;
        match ready_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => Ok(Holder {
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                Err("the queue thread did not bind its queue within 5 s".into())
            }
        }
    }

    /// Stop the thread (it accepts what it still holds) and say what it did.
    pub fn stop(mut self) -> Counts {
        self.finish()
    }

    fn finish(&mut self) -> Counts {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Move the calling thread into the network namespace open as `netns`.
fn enter(netns: &File) -> Result<(), String> {
    // SAFETY: setns takes a descriptor we own and changes only this thread.
    let rc = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(format!(
            "setns into the namespace: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// What to do with a packet now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Accept,
    Drop,
    /// Held until [`Schedule::due`] returns it.
    Held,
}

/// Packets waiting for their time, earliest first: the sans-IO part.
struct Schedule {
    treatment: Treatment,
    /// (when to accept, packet id)
    held: BinaryHeap<Reverse<(Instant, u32)>>,
    counts: Counts,
}

impl Schedule {
    fn new(treatment: Treatment) -> Schedule {
        Schedule {
            treatment,
            held: BinaryHeap::new(),
            counts: Counts::default(),
        }
    }

    /// Packet `id` arrived at `now`: what to do with it.
    fn arrive(&mut self, id: u32, now: Instant, rng: &mut impl Rng) -> Verdict {
        let t = self.treatment;
        if t.loss > 0.0 && rng.gen_bool(t.loss.min(1.0)) {
            self.counts.dropped += 1;
            return Verdict::Drop;
        }
        if t.delay_ms == 0 && t.jitter_ms == 0 {
            return Verdict::Accept;
        }
        if self.held.len() >= MAX_HELD {
            self.counts.overflow += 1;
            return Verdict::Accept;
        }
        if t.reorder > 0.0 && rng.gen_bool(t.reorder.min(1.0)) {
            self.counts.at_once += 1;
            return Verdict::Accept;
        }
        let base = i64::from(t.delay_ms) * 1000;
        let jitter = i64::from(t.jitter_ms) * 1000;
        let us = base + rng.gen_range(-jitter..=jitter);
        let at = now + Duration::from_micros(u64::try_from(us).unwrap_or(0));
        self.held.push(Reverse((at, id)));
        self.counts.held += 1;
        Verdict::Held
    }

    /// The packets whose time has come at `now`.
    fn due(&mut self, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some(Reverse((at, id))) = self.held.peek().copied() {
            if at > now {
                break;
            }
            self.held.pop();
            out.push(id);
        }
        out
    }

    /// How long from `now` until the next packet is due, at most [`TICK`].
    fn wait(&self, now: Instant) -> Duration {
        self.held
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(now))
            .unwrap_or(TICK)
            .min(TICK)
    }

    fn drain(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.held)
            .into_iter()
            .map(|Reverse((_, id))| id)
            .collect()
    }
}

/// Serve the queue until `stop` is set.
fn serve(socket: &QueueSocket, treatment: Treatment, stop: &AtomicBool) -> Counts {
    let mut schedule = Schedule::new(treatment);
    let mut rng = rand::thread_rng();
    let mut buf = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Relaxed) {
        let wait = schedule.wait(Instant::now());
        if socket.readable(wait) {
            // Everything already there, without blocking.
            for _ in 0..10_000 {
                match socket.recv(&mut buf) {
                    Ok(Some(n)) => {
                        for id in packet_ids(&buf[..n]) {
                            match schedule.arrive(id, Instant::now(), &mut rng) {
                                Verdict::Held => {}
                                v => socket.verdict(id, v == Verdict::Accept),
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(Missed) => schedule.counts.missed_notices += 1,
                }
            }
        }
        for id in schedule.due(Instant::now()) {
            socket.verdict(id, true);
        }
    }
    for id in schedule.drain() {
        socket.verdict(id, true);
    }
    schedule.counts
}

// From linux/netfilter/nfnetlink.h and nfnetlink_queue.h.
const NETLINK_NETFILTER: libc::c_int = 12;
const NFNL_SUBSYS_QUEUE: u16 = 3;
const NFQNL_MSG_PACKET: u16 = 0;
const NFQNL_MSG_VERDICT: u16 = 1;
const NFQNL_MSG_CONFIG: u16 = 2;
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_COPY_META: u8 = 1;
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
// From linux/netlink.h.
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;

/// The kernel's notices overflowed the socket buffer (ENOBUFS).
struct Missed;

/// A netlink socket bound to one netfilter queue.
struct QueueSocket {
    fd: OwnedFd,
    queue: u16,
}

impl QueueSocket {
    /// Open a netfilter netlink socket (in the calling thread's namespace),
    /// bind `queue` with metadata-only copies, and wait for the kernel's
    /// acknowledgement.
    fn bind(queue: u16) -> Result<QueueSocket, String> {
        let os = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
        // SAFETY: plain socket(2); the descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(os("open a netfilter netlink socket"));
        }
        // SAFETY: fd is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_nl is valid (the kernel picks the port id).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: addr is a sockaddr_nl of the size given.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(os("bind the netlink socket"));
        }
        let size: libc::c_int = 4 << 20;
        // SAFETY: an int option of the size given. Room for bursts of notices;
        // a smaller buffer only risks ENOBUFS, which is counted.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let socket = QueueSocket { fd, queue };
        // struct nfqnl_msg_config_cmd { u8 command; u8 pad; be16 pf; }
        let cmd = [NFQNL_CFG_CMD_BIND, 0, 0, libc::AF_INET as u8];
        // struct nfqnl_msg_config_params { be32 copy_range; u8 copy_mode; } (packed)
        let params = [0, 0, 0, 0, NFQNL_COPY_META];
        let maxlen = (2 * MAX_HELD as u32).to_be_bytes();
        let msg = socket.message(
            NFQNL_MSG_CONFIG,
            NLM_F_REQUEST | NLM_F_ACK,
            &[
                (NFQA_CFG_CMD, &cmd),
                (NFQA_CFG_PARAMS, &params),
                (NFQA_CFG_QUEUE_MAXLEN, &maxlen),
            ],
        );
        socket
            .send(&msg)
            .map_err(|e| format!("bind queue {queue}: {e}"))?;
        let mut buf = vec![0u8; 8192];
        if !socket.readable(Duration::from_secs(2)) {
            return Err(format!("bind queue {queue}: no answer from the kernel"));
        }
        let n = match socket.recv(&mut buf) {
            Ok(Some(n)) => n,
            _ => return Err(format!("bind queue {queue}: no answer from the kernel")),
        };
        match ack_error(&buf[..n]) {
            Some(0) => Ok(socket),
            Some(e) => Err(format!(
                "bind queue {queue}: {} (is nfnetlink_queue in the kernel? modprobe nfnetlink_queue)",
                std::io::Error::from_raw_os_error(-e)
            )),
            None => Err(format!("bind queue {queue}: an answer that is not an ack")),
        }
    }

    /// A netfilter message to this queue with these attributes.
    fn message(&self, kind: u16, flags: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = vec![0u8; NLMSG_HDRLEN];
        m[4..6].copy_from_slice(&((NFNL_SUBSYS_QUEUE << 8) | kind).to_ne_bytes());
        m[6..8].copy_from_slice(&flags.to_ne_bytes());
        // struct nfgenmsg { u8 family; u8 version; be16 res_id; }
        m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
        m.extend_from_slice(&self.queue.to_be_bytes());
        for (kind, payload) in attrs {
            let len = 4 + payload.len();
            m.extend_from_slice(&(len as u16).to_ne_bytes());
            m.extend_from_slice(&kind.to_ne_bytes());
            m.extend_from_slice(payload);
            m.resize(m.len().next_multiple_of(4), 0);
        }
        let total = m.len() as u32;
        m[0..4].copy_from_slice(&total.to_ne_bytes());
        m
    }

    /// Let packet `id` go on its way (`accept`), or drop it.
    fn verdict(&self, id: u32, accept: bool) {
        let mut verdict = [0u8; 8];
        let v = if accept { NF_ACCEPT } else { NF_DROP };
        verdict[..4].copy_from_slice(&v.to_be_bytes());
        verdict[4..].copy_from_slice(&id.to_be_bytes());
        let msg = self.message(
            NFQNL_MSG_VERDICT,
            NLM_F_REQUEST,
            &[(NFQA_VERDICT_HDR, &verdict)],
        );
        // A verdict that cannot be sent leaves the packet queued until the
        // socket closes, when the kernel drops it: a loss the test may see.
        let _ = self.send(&msg);
    }

    fn send(&self, msg: &[u8]) -> std::io::Result<()> {
        // SAFETY: msg is a valid buffer of the length given; the socket is
        // bound, so the kernel (port 0) is the default destination.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Whether a message is waiting, after at most `wait`.
    fn readable(&self, wait: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Round up, so that a packet due in 0.4 ms is not polled for in a spin.
        let ms = wait.as_micros().div_ceil(1000).min(1000) as libc::c_int;
        // SAFETY: one pollfd, the count given.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        n > 0 && pfd.revents & libc::POLLIN != 0
    }

    /// One datagram of messages if one is waiting (None if not).
    fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, Missed> {
        // SAFETY: buf is writable for its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ENOBUFS) => Err(Missed),
            _ => Ok(None),
        }
    }
}

/// The netlink messages in one datagram: (type, payload after the header).
fn messages(mut data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len < NLMSG_HDRLEN || len > data.len() {
            break;
        }
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        out.push((kind, &data[NLMSG_HDRLEN..len]));
        data = &data[len.next_multiple_of(4).min(data.len())..];
    }
    out
}

/// The error of the first acknowledgement in `data` (0: success).
fn ack_error(data: &[u8]) -> Option<i32> {
    messages(data)
        .into_iter()
        .find(|(kind, _)| *kind == NLMSG_ERROR)
        .and_then(|(_, body)| Some(i32::from_ne_bytes(body.get(..4)?.try_into().ok()?)))
}

/// The ids of the packets the kernel queued, from one datagram.
fn packet_ids(data: &[u8]) -> Vec<u32> {
    messages(data)
        .into_iter()
        .filter(|(kind, _)| *kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)
        .filter_map(|(_, body)| {
            let mut attrs = body.get(NFGENMSG_LEN..)?;
            while attrs.len() >= 4 {
                let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
                let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
                if len < 4 || len > attrs.len() {
                    return None;
                }
                if kind == NFQA_PACKET_HDR && len >= 8 {
                    // struct nfqnl_msg_packet_hdr { be32 packet_id; ... }
                    return Some(u32::from_be_bytes(attrs[4..8].try_into().ok()?));
                }
                attrs = &attrs[len.next_multiple_of(4).min(attrs.len())..];
            }
            None
        })
        .collect()
}
