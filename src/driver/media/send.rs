//! Handing a slot's packets to the kernel. On Linux they go as one io_uring
//! submission (one system call for the slot's packets, which are each for a
//! different socket, so `sendmmsg` could not batch them); where io_uring
//! cannot be set up (an old kernel, a sandbox that forbids it), one
//! `sendto` a packet, as before.

use std::net::{SocketAddr, UdpSocket};

use senim_media::srtp::MAX_TAG_LEN;

/// One G.711 frame: 20 ms at 8 kHz.
pub const FRAME_BYTES: usize = 160;

/// A call's RTP socket, shared by the call (which reads it) and its stream
/// (which sends on it): it closes when both are done with it, so a pacing
/// thread never sends on a descriptor that was closed and given to another
/// socket, and a port costs one descriptor, not a duplicate as well.
pub trait RtpSocket: Send + Sync {
    fn udp(&self) -> &UdpSocket;
}

impl RtpSocket for UdpSocket {
    fn udp(&self) -> &UdpSocket {
        self
    }
}

/// A socket's descriptor where io_uring needs it.
#[cfg(target_os = "linux")]
pub type Fd = std::os::fd::RawFd;
#[cfg(not(target_os = "linux"))]
pub type Fd = ();

pub fn socket_fd(socket: &UdpSocket) -> Fd {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        socket.as_raw_fd()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
    }
}

/// Room for one packet: the RTP header, a G.711 frame and an SRTP tag.
pub const PACKET_ROOM: usize = 12 + FRAME_BYTES + MAX_TAG_LEN;

/// The packets of one slot, on their way out.
pub struct Packets {
    way: Way,
    sent: u64,
    errors: u64,
}

enum Way {
    OneByOne(Box<[u8; PACKET_ROOM]>),
    #[cfg(target_os = "linux")]
    Ring(Box<ring::Ring>),
}

/// How packets are sent, for the log and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    OneByOne,
    IoUring,
}

impl Packets {
    /// Batched with io_uring when `batch` and the kernel allows it.
    pub fn new(batch: bool) -> Packets {
        #[cfg(target_os = "linux")]
        if batch {
            match ring::Ring::new() {
                Ok(r) => {
                    return Packets {
                        way: Way::Ring(Box::new(r)),
                        sent: 0,
                        errors: 0,
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, "io_uring is not available: RTP is sent one packet a system call")
                }
            }
        }
        let _ = batch;
        Packets {
            way: Way::OneByOne(Box::new([0; PACKET_ROOM])),
            sent: 0,
            errors: 0,
        }
    }

    pub fn kind(&self) -> Kind {
        match self.way {
            Way::OneByOne(_) => Kind::OneByOne,
            #[cfg(target_os = "linux")]
            Way::Ring(_) => Kind::IoUring,
        }
    }

    /// Where to write the next packet.
    pub fn next_buffer(&mut self) -> &mut [u8] {
        match &mut self.way {
            Way::OneByOne(b) => b.as_mut_slice(),
            #[cfg(target_os = "linux")]
            Way::Ring(r) => r.buffer(),
        }
    }

    /// Send the first `len` bytes of the buffer last given, from `socket`
    /// (whose descriptor is `fd`; it must stay open until the next
    /// [`flush`](Self::flush)).
    pub fn send(&mut self, socket: &dyn RtpSocket, fd: Fd, len: usize, to: SocketAddr) {
        match &mut self.way {
            Way::OneByOne(b) => {
                let _ = fd;
                let ok = b
                    .get(..len)
                    .is_some_and(|p| socket.udp().send_to(p, to).is_ok());
                if ok {
                    self.sent += 1;
                } else {
                    self.errors += 1;
                }
            }
            #[cfg(target_os = "linux")]
            Way::Ring(r) => {
                if r.push(fd, len, to) {
                    if r.is_full() {
                        self.complete();
                    }
                } else {
                    self.errors += 1;
                }
            }
        }
    }

    /// Wait for what was queued to be sent.
    #[cfg(target_os = "linux")]
    fn complete(&mut self) {
        let Way::Ring(r) = &mut self.way else {
            return;
        };
        match r.complete() {
            Ok((sent, errors)) => {
                self.sent += sent;
                self.errors += errors;
            }
            Err(e) => {
                // Sends may still be in flight: the ring and its buffers are
                // kept (never freed) rather than reused, and packets go one
                // by one from now on.
                tracing::error!(error = %e, "io_uring failed: RTP is sent one packet a system call from now on");
                self.errors += r.queued() as u64;
                let old =
                    std::mem::replace(&mut self.way, Way::OneByOne(Box::new([0; PACKET_ROOM])));
                std::mem::forget(old);
            }
        }
    }

    /// Send what is queued; the packets sent and not sent since the last
    /// flush.
    pub fn flush(&mut self) -> (u64, u64) {
        #[cfg(target_os = "linux")]
        self.complete();
        let counts = (self.sent, self.errors);
        self.sent = 0;
        self.errors = 0;
        counts
    }
}

#[cfg(target_os = "linux")]
mod ring {
    use std::net::SocketAddr;
    use std::os::fd::RawFd;

    use io_uring::{opcode, types, IoUring};
    use socket2::SockAddr;

    use crate::driver::media::send::PACKET_ROOM;

    /// Packets queued before they are submitted: a slot's worth at a few
    /// thousand calls, and a bound on the buffers.
    const BATCH: usize = 256;
    /// Waits for completions before the ring is given up (each wait
    /// returns once all are in; only signals interrupt it).
    const MAX_WAITS: usize = 64;

    /// Each queued send's packet and destination stay here, unmoved, until
    /// its completion is reaped.
    pub struct Ring {
        ring: IoUring,
        buffers: Box<[[u8; PACKET_ROOM]]>,
        addresses: Vec<SockAddr>,
        queued: usize,
    }

    impl Ring {
        pub fn new() -> std::io::Result<Ring> {
            let entries = u32::try_from(BATCH).unwrap_or(256);
            Ok(Ring {
                ring: IoUring::new(entries)?,
                buffers: vec![[0u8; PACKET_ROOM]; BATCH].into_boxed_slice(),
                addresses: Vec::with_capacity(BATCH),
                queued: 0,
            })
        }

        pub fn queued(&self) -> usize {
            self.queued
        }

        pub fn is_full(&self) -> bool {
            self.queued >= BATCH
        }

        pub fn buffer(&mut self) -> &mut [u8] {
            let i = self.queued.min(BATCH - 1);
            self.buffers[i].as_mut_slice()
        }

        /// Queue the first `len` bytes of the current buffer for `to`.
        pub fn push(&mut self, fd: RawFd, len: usize, to: SocketAddr) -> bool {
            let i = self.queued;
            if i >= BATCH || self.addresses.len() != i || len > PACKET_ROOM {
                return false;
            }
            self.addresses.push(SockAddr::from(to));
            let (Some(address), Some(buffer)) = (self.addresses.get(i), self.buffers.get(i)) else {
                return false;
            };
            let entry = opcode::Send::new(types::Fd(fd), buffer.as_ptr(), len as u32)
                // The socket is non-blocking anyway: a full send buffer is an
                // error for this packet, never a wait.
                .flags(libc::MSG_DONTWAIT)
                .dest_addr(address.as_ptr().cast::<libc::sockaddr>())
                .dest_addr_len(address.len())
                .build()
                .user_data(i as u64);
            // SAFETY: the buffer and the address live in `self` unmoved (the
            // boxed slice never moves; `addresses` has room for BATCH and is
            // cleared only after `complete` has reaped every completion),
            // and the caller keeps the socket open until then.
            let pushed = unsafe { self.ring.submission().push(&entry) }.is_ok();
            if pushed {
                self.queued += 1;
            } else {
                self.addresses.pop();
            }
            pushed
        }

        /// Submit what is queued and reap every completion: (sent, failed).
        pub fn complete(&mut self) -> std::io::Result<(u64, u64)> {
            let mut done = 0usize;
            let (mut sent, mut failed) = (0u64, 0u64);
            let mut waits = 0;
            while done < self.queued {
                waits += 1;
                if waits > MAX_WAITS {
                    return Err(std::io::Error::other("io_uring completions did not come"));
                }
                match self.ring.submit_and_wait(self.queued - done) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                for cqe in self.ring.completion() {
                    done += 1;
                    if cqe.result() >= 0 {
                        sent += 1;
                    } else {
                        failed += 1;
                    }
                }
            }
            self.queued = 0;
            self.addresses.clear();
            Ok((sent, failed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Every packet queued reaches its own destination, in batches larger
    /// and smaller than one submission, whichever way the kernel allows.
    #[test]
    fn every_packet_reaches_its_socket_whichever_way() {
        for batch in [true, false] {
            let mut out = Packets::new(batch);
            let from = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
            let far: Vec<UdpSocket> = (0..3)
                .map(|_| UdpSocket::bind("127.0.0.1:0").expect("a loopback socket"))
                .collect();
            for f in &far {
                f.set_read_timeout(Some(Duration::from_secs(2)))
                    .expect("a timeout");
            }
            let total = 300usize;
            for i in 0..total {
                let b = out.next_buffer();
                b[..4].copy_from_slice(&(i as u32).to_be_bytes());
                let to = far[i % 3].local_addr().expect("address");
                out.send(&from, socket_fd(&from), 4, to);
            }
            assert_eq!(
                out.flush(),
                (total as u64, 0),
                "batch {batch}: {:?}",
                out.kind()
            );
            for (k, f) in far.iter().enumerate() {
                let mut buf = [0u8; 16];
                for n in 0..total / 3 {
                    let got = f.recv(&mut buf).expect("a packet");
                    assert_eq!(got, 4);
                    let i = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                    assert_eq!(i, n * 3 + k, "in order, to its own socket");
                }
            }
            assert_eq!(out.flush(), (0, 0));
        }
    }
}
