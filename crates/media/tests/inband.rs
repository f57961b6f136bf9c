//! In-band DTMF: acceptance (levels, durations, twist, frequency error, noise) and
//! talk-off (speech, music, noise must never produce a digit).

mod common;
use common::*;
use senim_media::dtmf::{InbandConfig, InbandDetector};
use senim_media::g711::Codec;
use std::path::{Path, PathBuf};

const KEYS: &str = "123A456B789C*0#D";

fn one_tone(
    rng: &mut Rng,
    digit: char,
    ms: u32,
    row: f32,
    col: f32,
    offset: usize,
    noise: f32,
) -> Vec<f32> {
    let mut sig = Vec::new();
    silence(&mut sig, 40);
    sig.extend(std::iter::repeat_n(0.0, offset));
    tone(&mut sig, rng, digit, ms, row, col);
    silence(&mut sig, 80);
    add_noise(&mut sig, rng, noise);
    sig
}

#[test]
fn every_digit_at_realistic_levels_and_durations() {
    let mut rng = Rng(1);
    for codec in Codec::ALL {
        for digit in KEYS.chars() {
            for level in [-10.0, -15.0, -20.0, -25.0] {
                for ms in [40, 50, 100] {
                    let offset = rng.below(26);
                    let sig = one_tone(&mut rng, digit, ms, level, level, offset, -50.0);
                    let got = detect(&through_g711(&sig, codec));
                    assert_eq!(
                        got,
                        digit.to_string(),
                        "{codec:?} {digit} {level} dBm0 {ms} ms"
                    );
                }
            }
        }
    }
}

#[test]
fn forty_ms_at_every_alignment() {
    let mut rng = Rng(2);
    for digit in KEYS.chars() {
        for offset in 0..26 {
            let sig = one_tone(&mut rng, digit, 40, -20.0, -20.0, offset, -50.0);
            assert_eq!(
                detect(&through_g711(&sig, Codec::Pcmu)),
                digit.to_string(),
                "{digit} +{offset}"
            );
        }
    }
}

#[test]
fn short_tones_are_rejected() {
    let mut rng = Rng(3);
    for codec in Codec::ALL {
        for digit in KEYS.chars() {
            for ms in [20, 25, 30] {
                for offset in 0..26 {
                    for level in [-10.0, -20.0] {
                        let sig = one_tone(&mut rng, digit, ms, level, level, offset, -50.0);
                        let got = detect(&through_g711(&sig, codec));
                        assert_eq!(got, "", "{codec:?} {digit} {ms} ms +{offset}");
                    }
                }
            }
        }
    }
}

#[test]
fn twist_limits() {
    let mut rng = Rng(4);
    for digit in KEYS.chars() {
        let case = |rng: &mut Rng, row: f32, col: f32| {
            detect(&through_g711(
                &one_tone(rng, digit, 100, row, col, 0, -50.0),
                Codec::Pcma,
            ))
        };
        assert_eq!(
            case(&mut rng, -14.0, -20.0),
            digit.to_string(),
            "{digit}: row +6 dB"
        );
        assert_eq!(
            case(&mut rng, -18.0, -15.0),
            digit.to_string(),
            "{digit}: col +3 dB"
        );
        assert_eq!(case(&mut rng, -10.0, -20.0), "", "{digit}: row +10 dB");
        assert_eq!(case(&mut rng, -21.0, -15.0), "", "{digit}: col +6 dB");
    }
}

#[test]
fn frequency_tolerance() {
    let mut rng = Rng(5);
    for digit in KEYS.chars() {
        for (error, expect) in [
            (0.015, true),
            (-0.015, true),
            (0.035, false),
            (-0.035, false),
        ] {
            let mut sig = Vec::new();
            silence(&mut sig, 20);
            tone_samples(&mut sig, &mut rng, digit, 800, -15.0, -15.0, error);
            silence(&mut sig, 40);
            add_noise(&mut sig, &mut rng, -50.0);
            let got = detect(&through_g711(&sig, Codec::Pcmu));
            assert_eq!(got == digit.to_string(), expect, "{digit} {error}: {got:?}");
        }
    }
}

#[test]
fn noise_and_minimum_level() {
    let mut rng = Rng(6);
    for digit in KEYS.chars() {
        // 15 dB signal-to-noise per tone.
        let sig = one_tone(&mut rng, digit, 60, -20.0, -20.0, 5, -35.0);
        assert_eq!(
            detect(&through_g711(&sig, Codec::Pcmu)),
            digit.to_string(),
            "{digit} in noise"
        );
        // Below the minimum level.
        let sig = one_tone(&mut rng, digit, 100, -38.0, -38.0, 5, -70.0);
        assert_eq!(
            detect(&through_g711(&sig, Codec::Pcmu)),
            "",
            "{digit} too weak"
        );
    }
}

#[test]
fn repeated_and_held_digits() {
    let mut rng = Rng(7);
    let mut sig = Vec::new();
    silence(&mut sig, 20);
    for _ in 0..2 {
        tone(&mut sig, &mut rng, '5', 60, -15.0, -15.0);
        silence(&mut sig, 50);
    }
    // A held key: one digit.
    tone(&mut sig, &mut rng, '0', 1500, -15.0, -15.0);
    silence(&mut sig, 60);
    // A fast sequence of different keys.
    for d in "159#*".chars() {
        tone(&mut sig, &mut rng, d, 45, -18.0, -17.0);
        silence(&mut sig, 45);
    }
    // Different keys with no pause between them.
    tone(&mut sig, &mut rng, '2', 60, -15.0, -15.0);
    tone(&mut sig, &mut rng, '3', 60, -15.0, -15.0);
    silence(&mut sig, 60);
    add_noise(&mut sig, &mut rng, -50.0);
    assert_eq!(detect(&through_g711(&sig, Codec::Pcma)), "550159#*23");
}

#[test]
fn chunk_size_does_not_matter() {
    let mut rng = Rng(8);
    let mut sig = Vec::new();
    for d in "147*".chars() {
        tone(&mut sig, &mut rng, d, 70, -15.0, -15.0);
        silence(&mut sig, 70);
    }
    let pcm = through_g711(&sig, Codec::Pcmu);
    for chunk in [1, 7, 80, 160, 333, pcm.len()] {
        let mut det = InbandDetector::new();
        let mut got = String::new();
        for c in pcm.chunks(chunk) {
            det.push_each(c, |d| got.push(d.as_char()));
        }
        assert_eq!(got, "147*", "chunk {chunk}");
    }
    assert_eq!(InbandDetector::new().push(&[]), None);
    let mut det = InbandDetector::new();
    assert_eq!(
        det.push(&pcm).map(|d| d.as_char()),
        Some('1'),
        "push returns the first"
    );
}

// ---------------------------------------------------------------- talk-off

fn wavs_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wav"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Run speech through the detector at several gains, in both codecs; return the
/// longest run of passing windows seen.
fn assert_no_talk_off(name: &str, pcm: &[i16]) -> u32 {
    let mut longest = 0;
    for gain in [0.3f32, 1.0, 2.5, 5.0] {
        let sig: Vec<f32> = pcm.iter().map(|&s| f32::from(s) * gain).collect();
        for codec in Codec::ALL {
            let mut det = InbandDetector::new();
            let got = detect_with(&mut det, &through_g711(&sig, codec));
            assert_eq!(got, "", "talk-off: {name} x{gain} {codec:?}");
            longest = longest.max(det.longest_run());
        }
    }
    longest
}

#[test]
fn talk_off_bundled_speech_samples() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let files = wavs_in(&dir);
    assert!(files.len() >= 4, "speech samples in {}", dir.display());
    let mut seconds = 0.0;
    for f in files {
        let pcm = senim_media::prompts::load_wav_8k(&f).unwrap();
        seconds += pcm.len() as f32 / 8000.0;
        let longest = assert_no_talk_off(&f.display().to_string(), &pcm);
        assert!(
            longest <= 2,
            "{}: speech came within {longest} windows",
            f.display()
        );
    }
    eprintln!("talk-off: {seconds:.1} s of speech, no digits");
}

#[test]
fn talk_off_voice_prompts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../voice-prompts");
    let mut n = 0;
    for lang in ["kk", "ru"] {
        for f in wavs_in(&root.join(lang)) {
            let pcm = senim_media::prompts::load_wav_8k(&f).unwrap();
            assert_no_talk_off(&f.display().to_string(), &pcm);
            n += 1;
        }
    }
    if n == 0 {
        eprintln!("skipped: no prompts in {} yet", root.display());
    }
}

/// Notes with harmonics, in chords, including notes within 0.3% of DTMF frequencies
/// (F5 = 698.5 Hz ~ 697, F#6 = 1480 Hz ~ 1477).
#[test]
fn talk_off_music_chords() {
    let mut rng = Rng(11);
    let note = |n: i32| 440.0 * 2f32.powf(n as f32 / 12.0);
    let mut chords: Vec<Vec<f32>> = vec![
        vec![note(8), note(21)],             // F5 + F#6
        vec![note(8), note(12), note(15)],   // F5 A5 C6
        vec![note(-12), note(-8), note(-5)], // A3 C#4 E4
        vec![note(3), note(7), note(10), note(22)],
    ];
    for _ in 0..40 {
        let root = rng.below(36) as i32 - 12;
        chords.push(vec![
            note(root),
            note(root + 4),
            note(root + 7),
            note(root + 12),
        ]);
    }
    let mut sig = Vec::new();
    for chord in &chords {
        let n = 8 * 250;
        let start = sig.len();
        sig.resize(start + n, 0.0);
        for &f in chord {
            let phase = rng.unit() * std::f32::consts::TAU;
            for h in 1..=5 {
                let amp = 3000.0 / (h * h) as f32;
                let fh = f * h as f32;
                if fh > 3900.0 {
                    continue;
                }
                for i in 0..n {
                    let t = i as f32 / 8000.0;
                    let env = (-(i as f32) / 4000.0).exp();
                    sig[start + i] +=
                        amp * env * (2.0 * std::f32::consts::PI * fh * t + phase * h as f32).sin();
                }
            }
        }
    }
    add_noise(&mut sig, &mut rng, -50.0);
    for codec in Codec::ALL {
        assert_eq!(detect(&through_g711(&sig, codec)), "", "chords {codec:?}");
    }
}

#[test]
fn talk_off_noise_and_sweeps() {
    let mut rng = Rng(12);
    let mut sig = vec![0.0f32; 8000 * 3];
    add_noise(&mut sig, &mut rng, -10.0);
    assert_eq!(detect(&through_g711(&sig, Codec::Pcmu)), "");
    // A siren-like dual sweep through the DTMF band (2 kHz/s) never dwells 40 ms
    // within the 1.5% tolerance of a pair. (A slow sweep does, and is a real tone pair.)
    let mut sig = Vec::new();
    let (mut p1, mut p2) = (0f32, 0f32);
    for i in 0..8000 * 4 {
        let t = (i % 1600) as f32 / 1600.0;
        let f1 = 600.0 + 400.0 * t;
        let f2 = 1150.0 + 550.0 * t;
        p1 += 2.0 * std::f32::consts::PI * f1 / 8000.0;
        p2 += 2.0 * std::f32::consts::PI * f2 / 8000.0;
        sig.push(5000.0 * (p1.sin() + p2.sin()));
    }
    assert_eq!(detect(&through_g711(&sig, Codec::Pcmu)), "");
}

#[test]
fn config_is_adjustable() {
    let cfg = InbandConfig {
        min_tone_dbm0: -20.0,
        ..InbandConfig::default()
    };
    let mut rng = Rng(13);
    let sig = one_tone(&mut rng, '8', 100, -25.0, -25.0, 0, -60.0);
    let mut det = InbandDetector::with_config(cfg);
    assert_eq!(detect_with(&mut det, &through_g711(&sig, Codec::Pcmu)), "");
    det.reset();
    let sig = one_tone(&mut rng, '8', 100, -15.0, -15.0, 0, -60.0);
    assert_eq!(detect_with(&mut det, &through_g711(&sig, Codec::Pcmu)), "8");
}

/// Rough cost of the detector: `cargo test --release --test inband -- --ignored --nocapture`.
#[test]
#[ignore]
#[allow(clippy::disallowed_methods)] // measuring wall time is the point here
fn cost_per_second_of_audio() {
    let speech = senim_media::prompts::load_wav_8k(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ru1.wav"),
    )
    .unwrap();
    // A caller listening: line noise about -60 dBm0.
    let quiet: Vec<i16> = (0..speech.len())
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 27) as i16 - 16)
        .collect();
    for (what, pcm) in [("speech", &speech), ("a quiet line", &quiet)] {
        let mut det = InbandDetector::new();
        let start = std::time::Instant::now();
        let mut seconds = 0.0;
        for _ in 0..200 {
            for frame in pcm.chunks(160) {
                let _ = det.push(frame);
            }
            seconds += pcm.len() as f64 / 8000.0;
        }
        let per_second = start.elapsed().as_secs_f64() / seconds;
        eprintln!(
            "in-band detector, {what}: {:.1} us per second of audio ({:.0} real-time calls per core)",
            per_second * 1e6,
            1.0 / per_second
        );
    }
}
