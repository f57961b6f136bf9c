use std::path::Path;

use super::*;
use crate::g711::{alaw_encode, ulaw_encode};

fn tone(rate: u32, freq: f64, ms: u32) -> Vec<f64> {
    (0..rate * ms / 1000)
        .map(|i| 0.5 * (2.0 * std::f64::consts::PI * freq * f64::from(i) / f64::from(rate)).sin())
        .collect()
}

/// Power at `freq` relative to the whole: about 1 for a pure tone.
fn purity(samples: &[i16], freq: f64) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
    let (mut s1, mut s2, mut energy) = (0.0f64, 0.0f64, 0.0f64);
    for &x in samples {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (samples.len() as f64 * energy)
}

/// A G.711 WAV file: `tag` 7 (µ-law) or 6 (A-law), or as
/// WAVE_FORMAT_EXTENSIBLE with that sub-format.
fn g711_file(tag: u16, extensible: bool, channels: u16, rate: u32, data: &[u8]) -> Vec<u8> {
    let mut fmt = Vec::new();
    fmt.extend((if extensible { 0xFFFEu16 } else { tag }).to_le_bytes());
    fmt.extend(channels.to_le_bytes());
    fmt.extend(rate.to_le_bytes());
    fmt.extend((rate * u32::from(channels)).to_le_bytes());
    fmt.extend(channels.to_le_bytes());
    fmt.extend(8u16.to_le_bytes());
    if extensible {
        fmt.extend(22u16.to_le_bytes());
        fmt.extend(8u16.to_le_bytes());
        fmt.extend(0u32.to_le_bytes());
        fmt.extend(tag.to_le_bytes());
        fmt.extend([0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]);
    } else {
        fmt.extend(0u16.to_le_bytes());
    }
    let mut out = Vec::new();
    out.extend(b"RIFF");
    out.extend(((4 + 8 + fmt.len() + 8 + 12 + 8 + data.len()) as u32).to_le_bytes());
    out.extend(b"WAVE");
    out.extend(b"fmt ");
    out.extend((fmt.len() as u32).to_le_bytes());
    out.extend(&fmt);
    // A chunk readers must skip.
    out.extend(b"fact");
    out.extend(4u32.to_le_bytes());
    out.extend(((data.len() / usize::from(channels.max(1))) as u32).to_le_bytes());
    out.extend(b"data");
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(data);
    out
}

#[test]
fn a_mu_law_wav_is_read() {
    let original = tone(8000, 1000.0, 500);
    let data: Vec<u8> = original
        .iter()
        .map(|v| ulaw_encode((v * 32767.0) as i16))
        .collect();
    let pcm = decode_wav_8k(&g711_file(7, false, 1, 8000, &data)[..], Path::new("p.wav")).unwrap();
    assert_eq!(pcm.len(), 4000);
    for (got, want) in pcm.iter().zip(&original) {
        assert!(
            (f64::from(*got) - want * 32767.0).abs() < 600.0,
            "{got} vs {want}"
        );
    }
    assert!(purity(&pcm, 1000.0) > 0.95);
}

#[test]
fn an_a_law_extensible_stereo_wav_at_16k_is_read() {
    let left = tone(16000, 600.0, 1000);
    let data: Vec<u8> = left
        .iter()
        .flat_map(|v| {
            let b = alaw_encode((v * 32767.0) as i16);
            [b, b]
        })
        .collect();
    let pcm = decode_wav_8k(&g711_file(6, true, 2, 16000, &data)[..], Path::new("p.wav")).unwrap();
    assert!((7900..=8100).contains(&pcm.len()), "{}", pcm.len());
    assert!(purity(&pcm[800..7200], 600.0) > 0.95);
}

#[test]
fn a_44100_hz_stereo_wav_is_read() {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut bytes, spec).unwrap();
        for v in tone(44100, 1500.0, 1000) {
            let s = (v * 32767.0) as i16;
            w.write_sample(s).unwrap();
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    }
    let pcm = decode_wav_8k(&bytes.into_inner()[..], Path::new("p.wav")).unwrap();
    assert!((7900..=8100).contains(&pcm.len()), "{}", pcm.len());
    assert!(purity(&pcm[800..7200], 1500.0) > 0.95);
}

#[test]
fn broken_g711_files_are_refused_with_a_reason() {
    let err = decode_wav_8k(&g711_file(7, false, 1, 8000, &[])[..16], Path::new("p.wav"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("p.wav: "), "{err}");
    let mut wide = g711_file(7, false, 1, 8000, &[0xFF; 10]);
    // bits per sample: 16
    wide[34] = 16;
    let err = decode_wav_8k(&wide[..], Path::new("p.wav"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("µ-law") && err.contains("16 bits"), "{err}");
    let none = g711_file(7, false, 0, 8000, &[0xFF; 10]);
    assert!(decode_wav_8k(&none[..], Path::new("p.wav")).is_err());
    let slow = g711_file(6, false, 1, 10, &[0xD5; 10]);
    let err = decode_wav_8k(&slow[..], Path::new("p.wav"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sample rate"), "{err}");
    // A data chunk longer than the file: read to the end.
    let mut cut = g711_file(7, false, 1, 8000, &[0xFF; 100]);
    cut.truncate(cut.len() - 50);
    assert_eq!(
        decode_wav_8k(&cut[..], Path::new("p.wav")).unwrap().len(),
        50
    );
}

#[test]
fn any_bytes_give_an_error_or_audio_never_a_panic() {
    let base = g711_file(7, true, 1, 8000, &[0x7F; 64]);
    for cut in 0..base.len() {
        let _ = decode_wav_8k(&base[..cut], Path::new("p.wav"));
    }
    for i in 0..base.len() {
        let mut b = base.clone();
        b[i] ^= 0xFF;
        let _ = decode_wav_8k(&b[..], Path::new("p.wav"));
    }
}
