//! RTP receiver for benchmarks: listens on one UDP port, tells streams apart by
//! SSRC, and reports packets, loss (sequence gaps) and the deviation of each
//! packet's arrival interval from 20 ms. Used by `scripts/bench`.
//!
//! rtpmon ADDR SECONDS [SKIP_SECONDS]
//! Prints one JSON object when done. Streams are measured after SKIP_SECONDS
//! (call set-up) and until SECONDS.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

struct Stream {
    last_seq: u16,
    last_at: Instant,
    received: u64,
    lost: u64,
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.get(1).map_or("127.0.0.1:39000", String::as_str);
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(30);
    let skip: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    let socket = UdpSocket::bind(addr)?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(skip);
    let end = start + Duration::from_secs(seconds);
    let mut streams: HashMap<u32, Stream> = HashMap::new();
    // Deviation histogram in 10 µs buckets up to 100 ms.
    let mut hist = vec![0u64; 10_001];
    let mut buf = [0u8; 2048];
    let mut total = 0u64;
    while Instant::now() < end {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        if n < 12 {
            continue;
        }
        let now = Instant::now();
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let measuring = now >= measure_from;
        match streams.get_mut(&ssrc) {
            None => {
                streams.insert(
                    ssrc,
                    Stream {
                        last_seq: seq,
                        last_at: now,
                        received: 1,
                        lost: 0,
                    },
                );
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
                        let dt = now.duration_since(s.last_at).as_micros() as i64;
                        let dev = (dt - 20_000).unsigned_abs() / 10;
                        hist[(dev as usize).min(10_000)] += 1;
                    }
                }
                s.last_seq = seq;
                s.last_at = now;
            }
        }
    }
    let samples: u64 = hist.iter().sum();
    let pct = |p: f64| -> f64 {
        let target = (samples as f64 * p).ceil() as u64;
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
    println!(
        "{{\"streams\":{},\"packets\":{},\"lost\":{},\"dev_ms_p50\":{:.2},\"dev_ms_p99\":{:.2},\"dev_ms_p999\":{:.2},\"dev_ms_max\":{:.2}}}",
        streams.len(),
        total,
        lost,
        pct(0.5),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
    Ok(())
}
