//! Bounded randomized inputs (fixed seed): the parsers and receivers never panic.

mod common;
use common::Rng;
use senim_media::dtmf::{parse_info_body, InbandDetector, Rfc4733Receiver};
use senim_media::{rtp, sdp};

fn bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.below(max + 1);
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

/// Mutate a valid input: flip, insert, delete, truncate.
fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..=rng.below(8) {
        match rng.below(4) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next_u64() as u8);
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.remove(i);
            }
            _ => v.truncate(rng.below(v.len() + 1)),
        }
    }
    v
}

#[test]
fn rtp_parse_never_panics() {
    let mut rng = Rng(0x5EED);
    let valid = [
        0xB2u8, 0xE5, 0, 5, 0, 0, 0, 9, 0, 0, 0, 7, 1, 1, 1, 1, 2, 2, 2, 2, 0xBE, 0xDE, 0, 1, 9, 9,
        9, 9, 1, 0x8A, 0, 160, 0, 0, 3,
    ];
    for i in 0..50_000 {
        let p = if i % 2 == 0 {
            bytes(&mut rng, 64)
        } else {
            mutate(&mut rng, &valid)
        };
        if let Ok((_, payload)) = rtp::parse(&p) {
            assert!(payload.len() <= p.len());
        }
    }
}

#[test]
fn sdp_parse_never_panics() {
    let mut rng = Rng(0xD15C);
    let valid = b"v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
a=ptime:20\r\na=sendonly\r\nm=video 0 RTP/AVP 96\r\nc=IN IP6 ::1\r\n";
    let codecs = senim_media::g711::Codec::ALL;
    for i in 0..20_000 {
        let b = if i % 4 == 0 {
            bytes(&mut rng, 200)
        } else {
            mutate(&mut rng, valid)
        };
        let text = String::from_utf8_lossy(&b);
        if let Ok(sd) = sdp::parse(&text) {
            if let Ok(n) = sdp::negotiate_offer(&sd, &codecs) {
                let ip = "127.0.0.1".parse().unwrap();
                let _ = sdp::build_answer_to_offer(&sd, ip, 1, 1, 1, &n);
                assert!(sdp::parse(&sdp::build_answer(ip, 1, 1, &n)).is_ok());
            }
            let _ = sdp::negotiate_answer(&sd, &codecs);
        }
    }
}

#[test]
fn dtmf_receivers_never_panic() {
    let mut rng = Rng(0xD7AF);
    let mut r = Rfc4733Receiver::new();
    for _ in 0..50_000 {
        let ts = rng.next_u64() as u32 % 64;
        let p = bytes(&mut rng, 8);
        let _ = r.handle(ts, &p);
    }
    let types = [
        "application/dtmf-relay",
        "application/dtmf",
        "APPLICATION/DTMF-RELAY;x=y",
        "x",
    ];
    for _ in 0..20_000 {
        let ct = types[rng.below(types.len())];
        let body = mutate(&mut rng, b"Signal=1\r\nDuration=160\r\n");
        let _ = parse_info_body(ct, &body);
    }
    // Extreme audio: full-scale square waves, alternating extremes, random.
    let mut det = InbandDetector::new();
    let mut pcm = vec![0i16; 8000];
    for (i, s) in pcm.iter_mut().enumerate() {
        let phase = (i / 2000) % 4;
        let high = match phase {
            0 => i % 2 == 0,
            1 => (i / 6) % 2 == 0,
            _ => false,
        };
        *s = match phase {
            2 => rng.next_u64() as i16,
            3 => i16::MIN,
            _ if high => i16::MAX,
            _ => i16::MIN,
        };
    }
    assert_eq!(det.push(&pcm), None);
}

#[test]
fn wav_decode_never_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/wav_decode");
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("the wav_decode corpus")
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    assert!(seeds.len() >= 4, "the seeds are in the repository");
    let path = std::path::Path::new("fuzz.wav");
    for seed in &seeds {
        assert!(
            senim_media::prompts::decode_wav_8k(&seed[..], path).is_ok(),
            "every seed is a good prompt file"
        );
    }
    let mut rng = Rng(0x5EED_0A11);
    for i in 0..3000 {
        let input = mutate(&mut rng, &seeds[i % seeds.len()]);
        if let Ok(pcm) = senim_media::prompts::decode_wav_8k(&input[..], path) {
            let _ = senim_media::prompts::silences(&pcm);
        }
    }
}
