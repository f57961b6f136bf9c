//! Randomised robustness: mutated messages (fixed seed, bounded iterations) through the parser,
//! the framer and the transaction layer. Nothing may panic, and whatever parses must print and
//! parse again.

#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use senim_sip::message::{self, Peer};
use senim_sip::transaction::{TimerConfig, TransactionLayer};

/// xorshift64*: reproducible across platforms and crate versions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const SPECIAL: &[u8] = b":;,\"<>\r\n \t%@=/\\[]?\x00\xff0123456789zZ";

fn corpus() -> Vec<Vec<u8>> {
    let mut out = vec![];
    for kind in ["valid", "invalid", "either"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/torture")
            .join(kind);
        for e in std::fs::read_dir(dir).unwrap() {
            out.push(std::fs::read(e.unwrap().path()).unwrap());
        }
    }
    out.sort();
    out
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut m = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = m.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                m[i] = SPECIAL[rng.below(SPECIAL.len())];
            }
            1 => {
                let i = rng.below(len + 1);
                let b = SPECIAL[rng.below(SPECIAL.len())];
                m.insert(i, b);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(16)).min(len);
                m.drain(i..j);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(64)).min(len);
                let seg = m[i..j].to_vec();
                let k = rng.below(m.len() + 1);
                m.splice(k..k, seg);
            }
            4 => m.truncate(rng.below(len + 1)),
            5 if len > 0 => {
                let i = rng.below(len);
                m[i] = (rng.next() & 0xff) as u8;
            }
            _ => {
                // Swap two lines.
                let lines: Vec<&[u8]> = m.split(|b| *b == b'\n').collect();
                if lines.len() > 2 {
                    let a = rng.below(lines.len());
                    let b = rng.below(lines.len());
                    let mut l: Vec<Vec<u8>> = lines.iter().map(|x| x.to_vec()).collect();
                    l.swap(a, b);
                    m = l.join(&b'\n');
                }
            }
        }
    }
    m
}

#[test]
fn mutated_messages_never_panic() {
    let corpus = corpus();
    // SENIM_FUZZ_ITERS / SENIM_FUZZ_SEED allow longer local runs; CI uses the fixed defaults.
    let iters: u64 = std::env::var("SENIM_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed: u64 = std::env::var("SENIM_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5E41_4D00_C0FF_EE01);
    let mut rng = Rng(seed | 1);
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let peers = [
        Peer::udp("192.0.2.10:5060".parse::<SocketAddr>().unwrap()),
        Peer::tcp("[2001:db8::7]:5070".parse::<SocketAddr>().unwrap()),
    ];
    let mut parsed = 0usize;
    for i in 0..iters {
        let base = &corpus[rng.below(corpus.len())];
        let data = mutate(&mut rng, base);
        let now = t0 + Duration::from_millis(i * 7);
        if let Ok(msg) = message::parse(&data) {
            parsed += 1;
            let wire = message::to_bytes(&msg);
            let again = message::parse(&wire).unwrap_or_else(|e| {
                panic!(
                    "iteration {i}: printed form does not parse ({e}):\n{}",
                    String::from_utf8_lossy(&wire)
                )
            });
            assert_eq!(again.body(), msg.body(), "iteration {i}");
        }
        let _ = message::frame_len(&data);
        let _ = message::bad_request_for_raw(&data, "fuzz");
        layer.handle_bytes(now, &data, peers[(i % 2) as usize]);
        layer.handle_timeout(now);
        while layer.poll_transmit().is_some() {}
        while layer.poll_event().is_some() {}
    }
    assert!(
        parsed > 1000,
        "mutations too destructive: only {parsed} parsed"
    );
    layer.handle_timeout(t0 + Duration::from_secs(10_000));
    assert!(layer.is_empty() || layer.poll_timeout().is_none());
}
