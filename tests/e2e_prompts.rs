//! Prompts as a studio delivers them, end to end: the centre's prompts
//! folder with the greeting as a µ-law WAV and the emergency notice as a
//! 44.1 kHz stereo WAV; a caller hears each as the tone it holds (checked
//! from the RTP audio received).

mod common;

use std::path::Path;
use std::time::Duration;

use common::caller::{ulaw_decode, ulaw_encode, Caller};
use common::walks::{OFFER, RTPMAPS};
use common::{repo_root, Senim};

/// Copy the repository's prompts (manifest and both languages).
fn copy_prompts(to: &Path) {
    let from = repo_root().join("voice-prompts");
    std::fs::copy(from.join("prompts.toml"), to.join("prompts.toml")).expect("manifest");
    for lang in ["kk", "ru"] {
        std::fs::create_dir_all(to.join(lang)).expect("folder");
        for entry in std::fs::read_dir(from.join(lang)).expect("prompts") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(lang).join(entry.file_name())).expect("copy");
        }
    }
}

fn tone(rate: u32, freq: f64, secs: f64) -> Vec<f64> {
    (0..(f64::from(rate) * secs) as u32)
        .map(|i| 0.4 * (2.0 * std::f64::consts::PI * freq * f64::from(i) / f64::from(rate)).sin())
        .collect()
}

/// A µ-law WAV file (format tag 7), 8 kHz mono, as telephony studios deliver.
fn write_mulaw_wav(path: &Path, samples: &[f64]) {
    let data: Vec<u8> = samples
        .iter()
        .map(|v| ulaw_encode((v * 32767.0) as i16))
        .collect();
    let mut out = Vec::new();
    out.extend(b"RIFF");
    out.extend(((4 + 8 + 18 + 8 + data.len()) as u32).to_le_bytes());
    out.extend(b"WAVEfmt ");
    out.extend(18u32.to_le_bytes());
    out.extend(7u16.to_le_bytes()); // WAVE_FORMAT_MULAW
    out.extend(1u16.to_le_bytes()); // channels
    out.extend(8000u32.to_le_bytes()); // rate
    out.extend(8000u32.to_le_bytes()); // bytes a second
    out.extend(1u16.to_le_bytes()); // block align
    out.extend(8u16.to_le_bytes()); // bits
    out.extend(0u16.to_le_bytes()); // extra size
    out.extend(b"data");
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(&data);
    std::fs::write(path, out).expect("write µ-law wav");
}

/// A 16-bit stereo WAV at 44.1 kHz, the same tone on both channels.
fn write_cd_wav(path: &Path, samples: &[f64]) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for v in samples {
        let s = (v * 32767.0) as i16;
        w.write_sample(s).expect("sample");
        w.write_sample(s).expect("sample");
    }
    w.finalize().expect("finish wav");
}

/// Power at `freq_hz` relative to the whole window's: about 1 for a pure
/// tone at that frequency, near 0 for speech or another tone.
fn tone_purity(window: &[i16], freq_hz: f64) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq_hz / 8000.0).cos();
    let (mut s1, mut s2, mut energy) = (0.0f64, 0.0f64, 0.0f64);
    for &x in window {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if energy == 0.0 {
        return 0.0;
    }
    2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (window.len() as f64 * energy)
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|x| f64::from(*x).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// Is there a half second of the tone, loud enough, in what was heard?
fn heard_tone(pcmu: &[u8], freq_hz: f64) -> bool {
    let pcm: Vec<i16> = pcmu.iter().map(|&b| ulaw_decode(b)).collect();
    pcm.windows(4000)
        .step_by(400)
        .any(|w| tone_purity(w, freq_hz) > 0.9 && rms(w) > 3000.0)
}

#[test]
fn mu_law_and_44_1_khz_stereo_prompts_are_played_correctly() {
    let prompts = tempfile::tempdir().expect("tempdir");
    copy_prompts(prompts.path());
    for lang in ["kk", "ru"] {
        let folder = prompts.path().join(lang);
        write_mulaw_wav(
            &folder.join("greeting-bilingual.wav"),
            &tone(8000, 1000.0, 3.0),
        );
        write_cd_wav(
            &folder.join("emergency-notice.wav"),
            &tone(44100, 1500.0, 3.0),
        );
    }
    let dir = prompts.path().display().to_string();
    let senim = Senim::start(&[("SENIM_PROMPTS_DIR", dir.as_str())]);
    let mut c = Caller::new(senim.sip);
    let offer = c.offer(OFFER, RTPMAPS);
    c.call(Some(&offer), None);
    let greeting = c.listen_pcmu(Duration::from_millis(2000));
    assert!(
        heard_tone(&greeting, 1000.0),
        "the µ-law greeting was not heard as its 1 kHz tone ({} bytes)",
        greeting.len()
    );
    assert!(!heard_tone(&greeting, 1500.0));
    // 1: Kazakh; the main menu begins with the emergency notice.
    assert_eq!(c.press_info('1'), Some(200));
    let notice = c.listen_pcmu(Duration::from_millis(2000));
    assert!(
        heard_tone(&notice, 1500.0),
        "the 44.1 kHz stereo notice was not heard as its 1.5 kHz tone ({} bytes)",
        notice.len()
    );
    assert_eq!(c.bye(), Some(200));
}
