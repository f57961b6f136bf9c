//! A tcpdump capture of UDP on a loopback, read back as packets: what a
//! SIPp caller received, with the arrival times, for checks SIPp cannot make
//! (sequence numbers, pacing).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{command_in, have};

/// A tcpdump capture of UDP on loopback.
pub struct Capture {
    child: Child,
    file: PathBuf,
}

/// One UDP datagram as captured.
pub struct Packet {
    /// When it was captured, in µs since the epoch.
    pub at_us: i64,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

impl Capture {
    /// Capture UDP on this machine's loopback into `dir/caller.pcap`.
    pub fn start(dir: &Path) -> Capture {
        Self::start_inside(&[], dir)
    }

    /// Capture UDP on the loopback seen through `prefix` (for example a
    /// network namespace's: [`super::netns::Netns::prefix`]). Packets lost
    /// on that loopback ([`super::netns::Netns::impair`]: by `tc netem`, or
    /// by iptables in the OUTPUT chain, which a packet passes before the
    /// capture sees it) are not captured, and each delayed packet is stamped
    /// when it is let go: what the receiver gets, when.
    pub fn start_inside(prefix: &[String], dir: &Path) -> Capture {
        assert!(
            have("tcpdump"),
            "tcpdump is not installed: run scripts/test, which installs it"
        );
        let file = dir.join("caller.pcap");
        let mut child = command_in(prefix, "tcpdump")
            .args(["-i", "lo", "-n", "-U", "-s", "256", "-w"])
            .arg(&file)
            .arg("udp")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump");
        // Wait for "listening on lo".
        let mut err = child.stderr.take().expect("stderr");
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("listening on") {
            match err.read(&mut buf) {
                Ok(0) | Err(_) => {
                    panic!("tcpdump did not start: {}", String::from_utf8_lossy(&seen))
                }
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = err.read_to_end(&mut sink);
        });
        Capture { child, file }
    }

    /// Stop and read what was captured.
    pub fn stop(mut self) -> Vec<Packet> {
        std::thread::sleep(Duration::from_millis(200));
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let data = std::fs::read(&self.file).expect("read capture");
        parse_pcap(&data)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal pcap reader: Ethernet (loopback) / IPv4 / UDP.
pub fn parse_pcap(data: &[u8]) -> Vec<Packet> {
    let mut out = Vec::new();
    if data.len() < 24 {
        return out;
    }
    let le = data[0] == 0xd4;
    let rd32 = |b: &[u8]| -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = rd32(&data[20..24]);
    let mut off = 24;
    while off + 16 <= data.len() {
        let sec = rd32(&data[off..]) as i64;
        let usec = rd32(&data[off + 4..]) as i64;
        let incl = rd32(&data[off + 8..]) as usize;
        off += 16;
        if off + incl > data.len() {
            break;
        }
        let frame = &data[off..off + incl];
        off += incl;
        let ip = match linktype {
            1 => frame.get(14..),
            113 => frame.get(16..),
            _ => Some(frame),
        };
        let Some(ip) = ip else { continue };
        if ip.len() < 28 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let Some(udp) = ip.get(ihl..) else { continue };
        if udp.len() < 8 {
            continue;
        }
        out.push(Packet {
            at_us: sec * 1_000_000 + usec,
            src_port: u16::from_be_bytes([udp[0], udp[1]]),
            dst_port: u16::from_be_bytes([udp[2], udp[3]]),
            payload: udp[8..].to_vec(),
        });
    }
    out
}
