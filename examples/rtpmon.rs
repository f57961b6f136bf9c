//! RTP receiver for benchmarks: listens on one UDP port, tells streams apart by
//! source port and SSRC, and reports packets, loss (sequence gaps) and the
//! deviation of each packet's arrival interval from 20 ms. Used by
//! `scripts/bench`.
//!
//! rtpmon ADDR SECONDS [SKIP_SECONDS] [--echo | --source] [--outliers]
//!
//! Prints one JSON object when done. Packets are counted from SKIP_SECONDS
//! (after call set-up) until SECONDS. With `--echo`, every packet is sent back
//! to where it came from, so the sender also receives a caller's stream.
//!
//! With `--source`, rtpmon is both ends of bridged calls: for every new source
//! address it hears from (one of the sender's RTP sockets), it starts a stream
//! of its own to that address: 50 packets a second, 172-byte PCMU packets
//! (silence), its own SSRC and sequence per destination, all sent from one
//! thread on absolute deadlines in `sendmmsg` batches, the destinations spread
//! over the twenty milliseconds of the packet time (as phones' streams are,
//! and as Senim sends its own), not all at once. A destination
//! that has sent nothing for 2 s is dropped. The sending thread runs at
//! real-time priority (SCHED_FIFO 10, as Senim's pacing threads) when allowed. A bridge relays each of these
//! streams out of its other leg, back to rtpmon, where it is measured: only
//! packets carrying one of rtpmon's own SSRCs are measured then; the sender's
//! own streams (before a bridge, or a leg never bridged) are only counted
//! (`unrelayed_packets`, `unrelayed_ports`), and a source port seen with both
//! in the window is counted in `mixed_ports` (with a warning on stderr). The
//! bridge must send first: rtpmon sends only to sockets it has heard from.
//! Each packet carries its send time (the wall clock, read once per
//! `sendmmsg` batch) in its payload's first 8 bytes, which a relay passes
//! through, so the relayed streams get a second figure beside the arrival
//! spacing: `relay_dev_ms_*`, each arrival interval against the interval the
//! two packets were sent at, which is the jitter the relay added, free of
//! this program's own send schedule (whose deviation from 20 ms is
//! `source_dev_ms_*`).
//!
//! With `--outliers`, every interval more than 2 ms off is written to stderr
//! as `ms_since_start stream_port ssrc seq deviation_us` (for finding patterns).
//!
//! Arrival times are the kernel's receive timestamps (SO_TIMESTAMPNS), not the
//! time this program got round to reading the packet: on loopback the kernel
//! stamps a packet in the sender's send path, so the figures describe the
//! sender's schedule and not this program's own scheduling delays. Packets are
//! read in batches (recvmmsg) and the receive buffer is enlarged (64 MB with
//! SO_RCVBUFFORCE when permitted), so that this program keeps up with hundreds
//! of thousands of packets a second on a small machine. Linux only.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

// The few Linux socket calls needed, declared here (std already links libc).
mod sys {
    #![allow(non_camel_case_types)]
    use std::os::raw::{c_int, c_uint, c_void};

    pub const SOL_SOCKET: c_int = 1;
    pub const SO_RCVBUF: c_int = 8;
    pub const SO_SNDBUF: c_int = 7;
    pub const SO_RCVBUFFORCE: c_int = 33;
    pub const SO_SNDBUFFORCE: c_int = 32;
    pub const SO_TIMESTAMPNS: c_int = 35;
    pub const MSG_WAITFORONE: c_int = 0x10000;

    #[repr(C)]
    pub struct iovec {
        pub iov_base: *mut c_void,
        pub iov_len: usize,
    }

    #[repr(C)]
    pub struct msghdr {
        pub msg_name: *mut c_void,
        pub msg_namelen: u32,
        pub msg_iov: *mut iovec,
        pub msg_iovlen: usize,
        pub msg_control: *mut c_void,
        pub msg_controllen: usize,
        pub msg_flags: c_int,
    }

    #[repr(C)]
    pub struct mmsghdr {
        pub msg_hdr: msghdr,
        pub msg_len: c_uint,
    }

    #[repr(C)]
    pub struct cmsghdr {
        pub cmsg_len: usize,
        pub cmsg_level: c_int,
        pub cmsg_type: c_int,
    }

    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    pub struct timespec {
        pub tv_sec: i64,
        pub tv_nsec: i64,
    }

    /// struct sockaddr_in
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    pub struct sockaddr_in {
        pub sin_family: u16,
        pub sin_port: u16,
        pub sin_addr: u32,
        pub sin_zero: [u8; 8],
    }

    pub const SCHED_FIFO: c_int = 1;

    /// struct sched_param
    #[repr(C)]
    pub struct sched_param {
        pub sched_priority: c_int,
    }

    extern "C" {
        pub fn sched_setscheduler(pid: c_int, policy: c_int, param: *const sched_param) -> c_int;
        pub fn setsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *const c_void,
            len: u32,
        ) -> c_int;
        pub fn recvmmsg(
            fd: c_int,
            msgs: *mut mmsghdr,
            vlen: c_uint,
            flags: c_int,
            timeout: *mut timespec,
        ) -> c_int;
        pub fn sendmmsg(fd: c_int, msgs: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int;
    }

    pub fn set_int(fd: c_int, level: c_int, name: c_int, value: c_int) -> bool {
        // SAFETY: a valid pointer to an int of the stated length.
        unsafe {
            setsockopt(
                fd,
                level,
                name,
                (&value as *const c_int).cast(),
                std::mem::size_of::<c_int>() as u32,
            ) == 0
        }
    }
}

const BATCH: usize = 256;
const BUF: usize = 2048;
const CTRL: usize = 64;
/// Deviation histogram: 10 µs buckets up to 100 ms.
const BUCKETS: usize = 10_001;

struct Stream {
    last_seq: u16,
    last_ns: i64,
    /// `--source`: when rtpmon sent the last packet (0: not known).
    last_sent_ns: i64,
    received: u64,
    lost: u64,
}

/// Deviations in 10 µs buckets, with the count over 2 ms and the largest.
struct Deviations {
    hist: Vec<u64>,
    over_2ms: u64,
    max_us: u64,
}

impl Deviations {
    fn new() -> Self {
        Deviations {
            hist: vec![0; BUCKETS],
            over_2ms: 0,
            max_us: 0,
        }
    }

    fn add(&mut self, dev_us: u64) {
        self.max_us = self.max_us.max(dev_us);
        if dev_us > 2000 {
            self.over_2ms += 1;
        }
        self.hist[((dev_us / 10) as usize).min(BUCKETS - 1)] += 1;
    }

    fn samples(&self) -> u64 {
        self.hist.iter().sum()
    }

    /// The p-quantile in milliseconds (10 µs resolution).
    fn quantile_ms(&self, p: f64) -> f64 {
        let samples = self.samples();
        if samples == 0 {
            return 0.0;
        }
        let target = ((samples as f64 * p).ceil() as u64).max(1);
        let mut acc = 0;
        for (i, c) in self.hist.iter().enumerate() {
            acc += c;
            if acc >= target {
                return i as f64 * 0.01;
            }
        }
        100.0
    }
}

/// The wall clock (CLOCK_REALTIME, the clock of SO_TIMESTAMPNS) in ns.
fn realtime_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// `--source`: a destination stops being sent to after this much silence.
const SOURCE_SILENCE: Duration = Duration::from_secs(2);
/// `--source`: packet interval and size (RTP header and 160 bytes of PCMU).
/// The interval is cut into slots of 1 ms; each destination has one.
const SOURCE_SLOT: Duration = Duration::from_millis(1);
const SOURCE_SLOTS: u32 = 20;
const SOURCE_PACKET: usize = 172;
/// `--source`: destinations per `sendmmsg` call (the kernel's UIO_MAXIOV).
const SOURCE_BATCH: usize = 1024;
/// `--source`: most destinations at once (a bound on memory and work).
const SOURCE_MAX: usize = 65_536;

/// `--source`: what the receiving thread tells the sending thread.
enum SourceCmd {
    /// Start a stream to this address with this SSRC.
    Add(SocketAddrV4, u32),
    /// Stop sending to this address.
    Remove(SocketAddrV4),
}

/// `--source`: the sending thread, which returns its counts when done.
type SourceThread = std::thread::JoinHandle<(u64, u64, u64)>;

/// `--source`: the sending thread. Every millisecond (absolute deadlines from
/// the start, so lateness does not accumulate) one packet to each destination
/// of that slot, so one every 20 ms to each, in `sendmmsg` batches, from one
/// socket. Returns (packets sent, send errors,
/// ticks more than 100 ms late that restarted the schedule).
fn source_sender(
    socket: UdpSocket,
    cmds: mpsc::Receiver<SourceCmd>,
    end: Instant,
) -> (u64, u64, u64) {
    struct Dest {
        addr: SocketAddrV4,
        packet: [u8; SOURCE_PACKET],
        seq: u16,
        ts: u32,
        /// Which millisecond of the 20 it is sent in.
        slot: u32,
    }
    let mut added: u32 = 0;
    let mut due: Vec<usize> = Vec::new();
    let fd = socket.as_raw_fd();
    let mut dests: Vec<Dest> = Vec::new();
    let mut index: HashMap<SocketAddrV4, usize> = HashMap::new();
    let mut names = vec![sys::sockaddr_in::default(); SOURCE_BATCH];
    let mut iovs: Vec<sys::iovec> = (0..SOURCE_BATCH)
        .map(|_| sys::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        })
        .collect();
    let mut msgs: Vec<sys::mmsghdr> = (0..SOURCE_BATCH)
        .map(|_| sys::mmsghdr {
            msg_hdr: sys::msghdr {
                msg_name: std::ptr::null_mut(),
                msg_namelen: 0,
                msg_iov: std::ptr::null_mut(),
                msg_iovlen: 1,
                msg_control: std::ptr::null_mut(),
                msg_controllen: 0,
                msg_flags: 0,
            },
            msg_len: 0,
        })
        .collect();
    // The same real-time priority as Senim's pacing threads (when allowed),
    // so that this thread, standing in for phones on other machines, is not
    // the one kept waiting while they run.
    let param = sys::sched_param { sched_priority: 10 };
    // SAFETY: a plain system call on the calling thread with a valid pointer.
    if unsafe { sys::sched_setscheduler(0, sys::SCHED_FIFO, &param) } != 0 {
        eprintln!("rtpmon: the source thread keeps normal priority (no permission for SCHED_FIFO)");
    }
    let (mut sent_total, mut errors, mut restarts) = (0u64, 0u64, 0u64);
    let mut epoch = Instant::now();
    let mut tick: u32 = 0;
    loop {
        let deadline = epoch + SOURCE_SLOT * tick;
        if deadline >= end {
            break;
        }
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        } else if now - deadline > Duration::from_millis(100) {
            // Far behind: start the schedule again from now.
            restarts += 1;
            epoch = now;
            tick = 0;
        }
        let slot = tick % SOURCE_SLOTS;
        tick += 1;
        // New and gone destinations (bounded: what arrived since the last tick).
        while let Ok(cmd) = cmds.try_recv() {
            match cmd {
                SourceCmd::Add(addr, ssrc) => {
                    if index.contains_key(&addr) || dests.len() >= SOURCE_MAX {
                        continue;
                    }
                    let mut packet = [0xffu8; SOURCE_PACKET]; // PCMU silence
                    packet[0] = 0x80;
                    packet[1] = 0; // PCMU
                    packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
                    index.insert(addr, dests.len());
                    dests.push(Dest {
                        addr,
                        packet,
                        seq: (ssrc as u16).wrapping_mul(7),
                        ts: ssrc.wrapping_mul(13),
                        slot: added % SOURCE_SLOTS,
                    });
                    added = added.wrapping_add(1);
                }
                SourceCmd::Remove(addr) => {
                    if let Some(i) = index.remove(&addr) {
                        dests.swap_remove(i);
                        if let Some(moved) = dests.get(i) {
                            index.insert(moved.addr, i);
                        }
                    }
                }
            }
        }
        due.clear();
        for (i, d) in dests.iter_mut().enumerate() {
            if d.slot != slot {
                continue;
            }
            d.seq = d.seq.wrapping_add(1);
            d.ts = d.ts.wrapping_add(160);
            d.packet[2..4].copy_from_slice(&d.seq.to_be_bytes());
            d.packet[4..8].copy_from_slice(&d.ts.to_be_bytes());
            due.push(i);
        }
        for chunk in due.chunks(SOURCE_BATCH) {
            let n = chunk.len();
            // The send time goes in the payload's first 8 bytes, so the
            // receiving side can tell the relay's timing from this thread's.
            let sent_ns = realtime_ns();
            for (i, &at) in chunk.iter().enumerate() {
                let d = &mut dests[at];
                d.packet[12..20].copy_from_slice(&sent_ns.to_be_bytes());
                names[i] = sys::sockaddr_in {
                    sin_family: 2, // AF_INET
                    sin_port: d.addr.port().to_be(),
                    sin_addr: u32::from(*d.addr.ip()).to_be(),
                    sin_zero: [0; 8],
                };
                iovs[i] = sys::iovec {
                    iov_base: d.packet.as_mut_ptr().cast(),
                    iov_len: SOURCE_PACKET,
                };
                let h = &mut msgs[i].msg_hdr;
                h.msg_name = (&mut names[i] as *mut sys::sockaddr_in).cast();
                h.msg_namelen = std::mem::size_of::<sys::sockaddr_in>() as u32;
                h.msg_iov = &mut iovs[i];
                h.msg_iovlen = 1;
            }
            let mut sent = 0usize;
            // Bounded: each round sends at least one message or gives up.
            while sent < n {
                // SAFETY: the first n headers point at live names and packets.
                let r =
                    unsafe { sys::sendmmsg(fd, msgs.as_mut_ptr().add(sent), (n - sent) as u32, 0) };
                if r <= 0 {
                    // Skip the message that failed (e.g. a port gone away).
                    errors += 1;
                    sent += 1;
                    continue;
                }
                sent += r as usize;
                sent_total += r as u64;
            }
        }
    }
    (sent_total, errors, restarts)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let echo = args.iter().any(|a| a == "--echo");
    let source = args.iter().any(|a| a == "--source");
    if echo && source {
        eprintln!("rtpmon: --echo and --source exclude each other");
        std::process::exit(2);
    }
    let outliers = args.iter().any(|a| a == "--outliers");
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let addr = pos.first().map_or("127.0.0.1:39000", |s| s.as_str());
    let seconds: u64 = pos.get(1).and_then(|s| s.parse().ok()).unwrap_or(30);
    let skip: u64 = pos.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);

    let socket = UdpSocket::bind(addr)?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let fd = socket.as_raw_fd();
    let big = 64 << 20;
    if !sys::set_int(fd, sys::SOL_SOCKET, sys::SO_RCVBUFFORCE, big) {
        sys::set_int(fd, sys::SOL_SOCKET, sys::SO_RCVBUF, big);
    }
    if (echo || source) && !sys::set_int(fd, sys::SOL_SOCKET, sys::SO_SNDBUFFORCE, big) {
        sys::set_int(fd, sys::SOL_SOCKET, sys::SO_SNDBUF, big);
    }
    if !sys::set_int(fd, sys::SOL_SOCKET, sys::SO_TIMESTAMPNS, 1) {
        return Err(std::io::Error::last_os_error());
    }

    let mut bufs = vec![[0u8; BUF]; BATCH];
    let mut ctrls = vec![[0u64; CTRL / 8]; BATCH];
    let mut names = vec![sys::sockaddr_in::default(); BATCH];
    let mut iovs: Vec<sys::iovec> = bufs
        .iter_mut()
        .map(|b| sys::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: BUF,
        })
        .collect();
    let mut msgs: Vec<sys::mmsghdr> = (0..BATCH)
        .map(|i| sys::mmsghdr {
            msg_hdr: sys::msghdr {
                msg_name: (&mut names[i] as *mut sys::sockaddr_in).cast(),
                msg_namelen: std::mem::size_of::<sys::sockaddr_in>() as u32,
                msg_iov: &mut iovs[i],
                msg_iovlen: 1,
                msg_control: ctrls[i].as_mut_ptr().cast(),
                msg_controllen: CTRL,
                msg_flags: 0,
            },
            msg_len: 0,
        })
        .collect();

    let start = Instant::now();
    let measure_from = start + Duration::from_secs(skip);
    let end = start + Duration::from_secs(seconds);
    let mut streams: HashMap<u64, Stream> = HashMap::with_capacity(16_384);
    // Arrival spacing; with --source also the spacing the relay added (the
    // arrival spacing against the send spacing) and rtpmon's own sending.
    let mut arrival = Deviations::new();
    let mut relay = Deviations::new();
    let mut sending = Deviations::new();
    let mut total = 0u64;
    let mut no_timestamp = 0u64;
    let mut echo_errors = 0u64;
    let mut cpu_from: Option<u64> = None;
    // --source: the sending thread, and per source address the last time it
    // was heard from; rtpmon's own SSRCs; ports seen in the window with
    // rtpmon's SSRCs and with others.
    let mut sender: Option<(mpsc::Sender<SourceCmd>, SourceThread)> = None;
    if source {
        let (tx, rx) = mpsc::channel();
        let s = socket.try_clone()?;
        let handle = std::thread::Builder::new()
            .name("rtpmon-source".into())
            .spawn(move || source_sender(s, rx, end))?;
        sender = Some((tx, handle));
    }
    let mut heard: HashMap<SocketAddrV4, Instant> = HashMap::new();
    let mut own_ssrcs: HashSet<u32> = HashSet::new();
    let mut next_ssrc: u32 = 0x5e00_0000 ^ (std::process::id() << 8);
    let mut relayed_ports: HashSet<u16> = HashSet::new();
    let mut unrelayed_ports: HashSet<u16> = HashSet::new();
    let mut unrelayed_packets = 0u64;
    let mut last_sweep = Instant::now();
    while Instant::now() < end {
        for (i, m) in msgs.iter_mut().enumerate() {
            m.msg_hdr.msg_namelen = std::mem::size_of::<sys::sockaddr_in>() as u32;
            m.msg_hdr.msg_controllen = CTRL;
            m.msg_hdr.msg_flags = 0;
            m.msg_hdr.msg_iov = &mut iovs[i];
        }
        // SAFETY: every header points into buffers that live as long as `msgs`.
        let got = unsafe {
            sys::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as u32,
                sys::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if got <= 0 {
            continue;
        }
        let got = got as usize;
        let measuring = Instant::now() >= measure_from;
        if measuring && cpu_from.is_none() {
            cpu_from = Some(cpu_ticks());
        }
        for i in 0..got {
            let n = msgs[i].msg_len as usize;
            let buf = &bufs[i];
            if n < 12 {
                continue;
            }
            let Some(at_ns) = timestamp(&msgs[i].msg_hdr) else {
                no_timestamp += 1;
                continue;
            };
            let seq = u16::from_be_bytes([buf[2], buf[3]]);
            let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
            let port = u16::from_be(names[i].sin_port);
            if let Some((tx, _)) = sender.as_ref() {
                let from = SocketAddrV4::new(Ipv4Addr::from(u32::from_be(names[i].sin_addr)), port);
                let now = Instant::now();
                let known = heard.len();
                match heard.get_mut(&from) {
                    Some(t) => *t = now,
                    None if known < SOURCE_MAX => {
                        // A new source: a stream of rtpmon's own goes to it.
                        heard.insert(from, now);
                        next_ssrc = next_ssrc.wrapping_add(1);
                        while own_ssrcs.contains(&next_ssrc) {
                            next_ssrc = next_ssrc.wrapping_add(1);
                        }
                        own_ssrcs.insert(next_ssrc);
                        let _ = tx.send(SourceCmd::Add(from, next_ssrc));
                    }
                    None => {}
                }
                if !own_ssrcs.contains(&ssrc) {
                    // The sender's own stream, not a relayed one: not measured.
                    if measuring {
                        unrelayed_packets += 1;
                        unrelayed_ports.insert(port);
                    }
                    continue;
                }
                if measuring {
                    relayed_ports.insert(port);
                }
            }
            // --source: rtpmon's send time, carried through the relay in the
            // payload (0 when not known).
            let sent_ns = if sender.is_some() && n >= 20 {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[12..20]);
                i64::from_be_bytes(b)
            } else {
                0
            };
            let key = (u64::from(port) << 32) | u64::from(ssrc);
            match streams.get_mut(&key) {
                None => {
                    streams.insert(
                        key,
                        Stream {
                            last_seq: seq,
                            last_ns: at_ns,
                            last_sent_ns: sent_ns,
                            received: u64::from(measuring),
                            lost: 0,
                        },
                    );
                    if measuring {
                        total += 1;
                    }
                }
                Some(s) => {
                    let gap = seq.wrapping_sub(s.last_seq);
                    if measuring {
                        total += 1;
                        s.received += 1;
                        if gap > 1 && gap < 1000 {
                            s.lost += u64::from(gap - 1);
                        }
                        if gap == 1 {
                            let dt_us = (at_ns - s.last_ns) / 1000;
                            let dev = (dt_us - 20_000).unsigned_abs();
                            arrival.add(dev);
                            if sent_ns != 0 && s.last_sent_ns != 0 {
                                let sent_dt_us = (sent_ns - s.last_sent_ns) / 1000;
                                relay.add((dt_us - sent_dt_us).unsigned_abs());
                                sending.add((sent_dt_us - 20_000).unsigned_abs());
                            }
                            if dev > 2000 && outliers {
                                eprintln!(
                                    "{} {} {} {} {}",
                                    start.elapsed().as_millis(),
                                    key >> 32,
                                    key & 0xffff_ffff,
                                    seq,
                                    dt_us - 20_000
                                );
                            }
                        }
                    }
                    s.last_seq = seq;
                    s.last_ns = at_ns;
                    s.last_sent_ns = sent_ns;
                }
            }
        }
        if let Some((tx, _)) = sender.as_ref() {
            // Sources silent for 2 s are no longer sent to (at most 4 sweeps a second).
            if last_sweep.elapsed() >= Duration::from_millis(250) {
                last_sweep = Instant::now();
                heard.retain(|addr, t| {
                    let alive = last_sweep.duration_since(*t) < SOURCE_SILENCE;
                    if !alive {
                        let _ = tx.send(SourceCmd::Remove(*addr));
                    }
                    alive
                });
            }
        }
        if echo {
            for m in msgs.iter_mut().take(got) {
                m.msg_hdr.msg_control = std::ptr::null_mut();
                m.msg_hdr.msg_controllen = 0;
            }
            for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()).take(got) {
                iov.iov_len = m.msg_len as usize;
            }
            let mut sent = 0usize;
            while sent < got {
                // SAFETY: as above; names hold the senders' addresses.
                let r = unsafe {
                    sys::sendmmsg(fd, msgs.as_mut_ptr().add(sent), (got - sent) as u32, 0)
                };
                if r <= 0 {
                    echo_errors += (got - sent) as u64;
                    break;
                }
                sent += r as usize;
            }
            for ((m, iov), c) in msgs.iter_mut().zip(iovs.iter_mut()).zip(ctrls.iter_mut()) {
                iov.iov_len = BUF;
                m.msg_hdr.msg_control = c.as_mut_ptr().cast();
            }
        }
    }
    let (source_sent, source_errors, source_restarts) = match sender {
        Some((tx, handle)) => {
            drop(tx);
            handle.join().unwrap_or((0, 0, 0))
        }
        None => (0, 0, 0),
    };
    let mixed_ports = relayed_ports.intersection(&unrelayed_ports).count();
    if mixed_ports > 0 {
        eprintln!(
            "rtpmon: warning: {mixed_ports} source ports sent both relayed packets and streams of their own in the window"
        );
    }
    let window = end.saturating_duration_since(measure_from).as_secs_f64();
    let cpu_pct = match cpu_from {
        // Clock ticks are 10 ms on Linux (USER_HZ = 100).
        Some(t0) if window > 0.0 => (cpu_ticks() - t0) as f64 / window,
        _ => 0.0,
    };
    let lost: u64 = streams.values().map(|s| s.lost).sum();
    let lossy = streams.values().filter(|s| s.lost > 0).count();
    let measured = streams.values().filter(|s| s.received > 0).count();
    println!(
        "{{\"streams\":{},\"packets\":{},\"lost\":{},\"lossy_streams\":{},\"intervals\":{},\"over_2ms\":{},\"dev_ms_p50\":{:.2},\"dev_ms_p99\":{:.2},\"dev_ms_p999\":{:.2},\"dev_ms_max\":{:.3},\"no_timestamp\":{},\"echo\":{},\"echo_errors\":{},\"source\":{},\"source_destinations\":{},\"source_sent\":{},\"source_errors\":{},\"source_restarts\":{},\"unrelayed_packets\":{},\"unrelayed_ports\":{},\"mixed_ports\":{},\"cpu_pct\":{:.0},\"relay_intervals\":{},\"relay_over_2ms\":{},\"relay_dev_ms_p50\":{:.2},\"relay_dev_ms_p99\":{:.2},\"relay_dev_ms_p999\":{:.2},\"relay_dev_ms_max\":{:.3},\"source_dev_ms_p99\":{:.2},\"source_dev_ms_max\":{:.3}}}",
        measured,
        total,
        lost,
        lossy,
        arrival.samples(),
        arrival.over_2ms,
        arrival.quantile_ms(0.5),
        arrival.quantile_ms(0.99),
        arrival.quantile_ms(0.999),
        arrival.max_us as f64 / 1000.0,
        no_timestamp,
        echo,
        echo_errors,
        source,
        own_ssrcs.len(),
        source_sent,
        source_errors,
        source_restarts,
        unrelayed_packets,
        unrelayed_ports.len(),
        mixed_ports,
        cpu_pct,
        relay.samples(),
        relay.over_2ms,
        relay.quantile_ms(0.5),
        relay.quantile_ms(0.99),
        relay.quantile_ms(0.999),
        relay.max_us as f64 / 1000.0,
        sending.quantile_ms(0.99),
        sending.max_us as f64 / 1000.0,
    );
    Ok(())
}

/// This process's user and system time, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

/// The SCM_TIMESTAMPNS receive time of a message, in nanoseconds.
fn timestamp(h: &sys::msghdr) -> Option<i64> {
    let mut off = 0usize;
    let hdr = std::mem::size_of::<sys::cmsghdr>();
    while off + hdr <= h.msg_controllen {
        // SAFETY: within the control buffer the kernel filled.
        let c = unsafe { &*(h.msg_control.cast::<u8>().add(off).cast::<sys::cmsghdr>()) };
        if c.cmsg_len < hdr {
            return None;
        }
        if c.cmsg_level == sys::SOL_SOCKET && c.cmsg_type == sys::SO_TIMESTAMPNS {
            // SAFETY: a timespec follows the header (8-byte aligned buffer).
            let ts = unsafe {
                std::ptr::read_unaligned(
                    h.msg_control
                        .cast::<u8>()
                        .add(off + hdr)
                        .cast::<sys::timespec>(),
                )
            };
            return Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec);
        }
        off += (c.cmsg_len + 7) & !7;
    }
    None
}
