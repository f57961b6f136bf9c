//! The media engine: a few pacing threads (one per core by default) that send
//! every call's RTP from one fixed 20 ms schedule.
//!
//! A thread owns a shard of the streams. Each tick it applies queued commands
//! and sends exactly one G.711 frame per stream: the next frame of the prompt
//! that plays (frames are encoded once at start-up and shared by all calls) or
//! silence. Deadlines advance by 20 ms from the thread's start, never from the
//! time a tick happened to run, so drift does not accumulate; a late tick is
//! caught up, not skipped, unless it is more than 100 ms late. Nothing is
//! allocated per packet.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use senim_media::g711::Codec;
use senim_media::prompts::Prompt;
use senim_media::rtp::RtpSender;
use senim_media::srtp::{SrtpContext, MAX_TAG_LEN};
use tokio::sync::mpsc::UnboundedSender;

/// One RTP packet time.
pub const PTIME: Duration = Duration::from_millis(20);
const SAMPLES_PER_FRAME: u32 = 160;
const FRAME_BYTES: usize = 160;

/// Something a stream tells its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// The prompt started with this token has been sent to its last frame.
    PromptFinished { token: u64 },
}

/// Counters shared by all pacing threads.
#[derive(Debug, Default)]
pub struct MediaStats {
    pub packets_sent: AtomicU64,
    pub send_errors: AtomicU64,
    /// Ticks that ran more than 2 ms after their deadline.
    pub late_ticks: AtomicU64,
    pub streams: AtomicU64,
}

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
}

struct Stream {
    id: u64,
    socket: UdpSocket,
    /// Where the packets go; None: nowhere yet (the stream keeps time and
    /// its prompts play on, unheard).
    remote: Option<SocketAddr>,
    codec: Codec,
    rtp: RtpSender,
    /// SRTP: each packet is protected before it is sent (None: plain RTP).
    srtp: Option<Box<SrtpContext>>,
    playing: Option<(Arc<Prompt>, usize, u64)>,
    events: UnboundedSender<MediaEvent>,
}

/// Handle on the pacing threads.
pub struct MediaEngine {
    shards: Vec<mpsc::Sender<Command>>,
    threads: Vec<JoinHandle<()>>,
    next_id: AtomicU64,
    stats: Arc<MediaStats>,
}

impl MediaEngine {
    /// Start `threads` pacing threads (0: one per available core).
    pub fn start(threads: usize) -> std::io::Result<MediaEngine> {
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
            // Threads tick in turn, not all at the same instant.
            let offset = PTIME * u32::try_from(i).unwrap_or(0) / u32::try_from(n).unwrap_or(1);
            let handle = std::thread::Builder::new()
                .name(format!("senim-media-{i}"))
                .spawn(move || pace(rx, stats, offset))?;
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
        socket: UdpSocket,
        remote: Option<SocketAddr>,
        codec: Codec,
        srtp: Option<SrtpContext>,
        events: UnboundedSender<MediaEvent>,
    ) -> StreamHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let shard = self.shards[(id as usize) % self.shards.len()].clone();
        let rtp = RtpSender::new(rand::random(), rand::random(), rand::random());
        let stream = Stream {
            id,
            socket,
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

fn pace(rx: mpsc::Receiver<Command>, stats: Arc<MediaStats>, offset: Duration) {
    raise_priority();
    let mut streams: HashMap<u64, Stream> = HashMap::new();
    let silence_pcmu = [Codec::Pcmu.silence_byte(); FRAME_BYTES];
    let silence_pcma = [Codec::Pcma.silence_byte(); FRAME_BYTES];
    let mut packet = [0u8; 12 + FRAME_BYTES + MAX_TAG_LEN];
    let mut deadline = Instant::now() + PTIME + offset;
    loop {
        // Wait for the deadline, applying commands as they come.
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(cmd) => apply(&mut streams, cmd, &stats),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        while let Ok(cmd) = rx.try_recv() {
            apply(&mut streams, cmd, &stats);
        }
        let now = Instant::now();
        if now > deadline + Duration::from_millis(2) {
            stats.late_ticks.fetch_add(1, Ordering::Relaxed);
        }
        let mut sent = 0u64;
        for s in streams.values_mut() {
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
                    let mut n = s.rtp.write_packet(
                        s.codec.payload_type(),
                        frame,
                        SAMPLES_PER_FRAME,
                        &mut packet,
                    );
                    if let Some(srtp) = s.srtp.as_mut() {
                        // In place, into the room after the frame; a packet
                        // that cannot be protected is not sent in clear.
                        n = srtp.protect(&mut packet, n).unwrap_or(0);
                    }
                    let ok = n > 0
                        && packet
                            .get(..n)
                            .is_some_and(|p| s.socket.send_to(p, remote).is_ok());
                    if ok {
                        sent += 1;
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
        stats.packets_sent.fetch_add(sent, Ordering::Relaxed);
        deadline += PTIME;
        let now = Instant::now();
        if now > deadline + Duration::from_millis(100) {
            // Far behind (machine suspended, overload): restart the schedule.
            deadline = now + PTIME;
        }
    }
}

fn apply(streams: &mut HashMap<u64, Stream>, cmd: Command, stats: &MediaStats) {
    match cmd {
        Command::Add(s) => {
            streams.insert(s.id, *s);
            stats.streams.fetch_add(1, Ordering::Relaxed);
        }
        Command::Play { id, prompt, token } => {
            if let Some(s) = streams.get_mut(&id) {
                s.rtp.mark_talkspurt();
                s.playing = Some((prompt, 0, token));
            }
        }
        Command::Stop { id } => {
            if let Some(s) = streams.get_mut(&id) {
                s.playing = None;
            }
        }
        Command::SetRemote { id, remote } => {
            if let Some(s) = streams.get_mut(&id) {
                s.remote = remote;
            }
        }
        Command::SetSrtp { id, srtp } => {
            if let Some(s) = streams.get_mut(&id) {
                s.srtp = srtp;
            }
        }
        Command::Remove { id } => {
            if streams.remove(&id).is_some() {
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

    /// A prompt sent by a pacing thread with SRTP reaches a loopback
    /// socket protected: each packet is longer by the tag, its payload is
    /// not the prompt's, and under the stream's key it unprotects to the
    /// prompt's frames in order.
    #[test]
    fn prompts_go_out_protected_under_the_streams_key() {
        let engine = MediaEngine::start(1).expect("a pacing thread");
        let far = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        far.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("a timeout");
        let near = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        let key = MasterKey::new([5; 16], [6; 14]);
        let suite = Suite::AesCm128HmacSha1_80;
        let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = engine.add_stream(
            near,
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
}
