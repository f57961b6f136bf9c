//! RTP receiver for benchmarks: listens on one UDP port, tells streams apart by
//! source port and SSRC, and reports packets, loss (sequence gaps) and the
//! deviation of each packet's arrival interval from 20 ms. Used by
//! `scripts/bench`.
//!
//! rtpmon ADDR SECONDS [SKIP_SECONDS] [--echo] [--outliers]
//!
//! Prints one JSON object when done. Packets are counted from SKIP_SECONDS
//! (after call set-up) until SECONDS. With `--echo`, every packet is sent back
//! to where it came from, so the sender also receives a caller's stream.
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

use std::collections::HashMap;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
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

    extern "C" {
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
    received: u64,
    lost: u64,
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let echo = args.iter().any(|a| a == "--echo");
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
    if echo && !sys::set_int(fd, sys::SOL_SOCKET, sys::SO_SNDBUFFORCE, big) {
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
    let mut hist = vec![0u64; BUCKETS];
    let mut max_dev_us = 0u64;
    let mut over_2ms = 0u64;
    let mut total = 0u64;
    let mut no_timestamp = 0u64;
    let mut echo_errors = 0u64;
    let mut cpu_from: Option<u64> = None;
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
            let key = (u64::from(u16::from_be(names[i].sin_port)) << 32) | u64::from(ssrc);
            match streams.get_mut(&key) {
                None => {
                    streams.insert(
                        key,
                        Stream {
                            last_seq: seq,
                            last_ns: at_ns,
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
                            max_dev_us = max_dev_us.max(dev);
                            if dev > 2000 {
                                over_2ms += 1;
                                if outliers {
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
                            hist[((dev / 10) as usize).min(BUCKETS - 1)] += 1;
                        }
                    }
                    s.last_seq = seq;
                    s.last_ns = at_ns;
                }
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
    let window = end.saturating_duration_since(measure_from).as_secs_f64();
    let cpu_pct = match cpu_from {
        // Clock ticks are 10 ms on Linux (USER_HZ = 100).
        Some(t0) if window > 0.0 => (cpu_ticks() - t0) as f64 / window,
        _ => 0.0,
    };
    let samples: u64 = hist.iter().sum();
    let pct = |p: f64| -> f64 {
        if samples == 0 {
            return 0.0;
        }
        let target = ((samples as f64 * p).ceil() as u64).max(1);
        let mut acc = 0;
        for (i, c) in hist.iter().enumerate() {
            acc += c;
            if acc >= target {
                return i as f64 * 0.01;
            }
        }
        100.0
    };
    let lost: u64 = streams.values().map(|s| s.lost).sum();
    let lossy = streams.values().filter(|s| s.lost > 0).count();
    let measured = streams.values().filter(|s| s.received > 0).count();
    println!(
        "{{\"streams\":{},\"packets\":{},\"lost\":{},\"lossy_streams\":{},\"intervals\":{},\"over_2ms\":{},\"dev_ms_p50\":{:.2},\"dev_ms_p99\":{:.2},\"dev_ms_p999\":{:.2},\"dev_ms_max\":{:.3},\"no_timestamp\":{},\"echo\":{},\"echo_errors\":{},\"cpu_pct\":{:.0}}}",
        measured,
        total,
        lost,
        lossy,
        samples,
        over_2ms,
        pct(0.5),
        pct(0.99),
        pct(0.999),
        max_dev_us as f64 / 1000.0,
        no_timestamp,
        echo,
        echo_errors,
        cpu_pct
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
