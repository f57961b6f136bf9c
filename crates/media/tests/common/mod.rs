//! Signal generation shared by the integration tests.
#![allow(dead_code)]

use senim_media::dtmf::{dbm0_to_amplitude, tone_frequencies, Digit};
use senim_media::g711::Codec;

/// Small deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Approximately Gaussian, unit variance.
    pub fn gauss(&mut self) -> f32 {
        (0..12).map(|_| self.unit()).sum::<f32>() - 6.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Append `ms` of a dual tone for `digit`: row tone at `row_dbm0`, column tone at
/// `col_dbm0`, random phases.
pub fn tone(out: &mut Vec<f32>, rng: &mut Rng, digit: char, ms: u32, row_dbm0: f32, col_dbm0: f32) {
    tone_samples(out, rng, digit, ms as usize * 8, row_dbm0, col_dbm0, 0.0);
}

pub fn tone_samples(
    out: &mut Vec<f32>,
    rng: &mut Rng,
    digit: char,
    n: usize,
    row_dbm0: f32,
    col_dbm0: f32,
    freq_error: f32,
) {
    let (fr, fc) = tone_frequencies(Digit::from_char(digit).unwrap());
    let (fr, fc) = (fr * (1.0 + freq_error), fc * (1.0 + freq_error));
    let (ar, ac) = (dbm0_to_amplitude(row_dbm0), dbm0_to_amplitude(col_dbm0));
    let (pr, pc) = (
        rng.unit() * std::f32::consts::TAU,
        rng.unit() * std::f32::consts::TAU,
    );
    for i in 0..n {
        let t = i as f32 / 8000.0;
        out.push(
            ar * (2.0 * std::f32::consts::PI * fr * t + pr).sin()
                + ac * (2.0 * std::f32::consts::PI * fc * t + pc).sin(),
        );
    }
}

pub fn silence(out: &mut Vec<f32>, ms: u32) {
    out.extend(std::iter::repeat_n(0.0, ms as usize * 8));
}

/// Add white noise at `dbm0` (RMS relative to a 0 dBm0 sine's RMS).
pub fn add_noise(sig: &mut [f32], rng: &mut Rng, dbm0: f32) {
    let rms = dbm0_to_amplitude(dbm0) / std::f32::consts::SQRT_2;
    for s in sig {
        *s += rms * rng.gauss();
    }
}

/// Quantise to i16 and pass through G.711 encode/decode.
pub fn through_g711(sig: &[f32], codec: Codec) -> Vec<i16> {
    let pcm: Vec<i16> = sig
        .iter()
        .map(|&v| v.round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    let mut enc = vec![0u8; pcm.len()];
    let mut dec = vec![0i16; pcm.len()];
    codec.encode(&pcm, &mut enc);
    codec.decode(&enc, &mut dec);
    dec
}

/// Run audio through a fresh detector in 20 ms frames and collect the digits.
pub fn detect(pcm: &[i16]) -> String {
    let mut d = senim_media::dtmf::InbandDetector::new();
    detect_with(&mut d, pcm)
}

pub fn detect_with(d: &mut senim_media::dtmf::InbandDetector, pcm: &[i16]) -> String {
    let mut s = String::new();
    for frame in pcm.chunks(160) {
        d.push_each(frame, |digit| s.push(digit.as_char()));
    }
    s
}
