use senim_media::g711::Codec;
use senim_media::prompts::{self, load_wav_8k, Language, PromptError, PromptLibrary};
use std::path::Path;
use std::time::Duration;

/// Write a 1 kHz sine (amplitude 0.5 of full scale) of `secs` seconds.
fn write_wav(path: &Path, rate: u32, channels: u16, bits: u16, float: bool, secs: f32) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let n = (rate as f32 * secs) as usize;
    for i in 0..n {
        let v = 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate as f32).sin();
        for _ in 0..channels {
            if float {
                w.write_sample(v).unwrap();
            } else {
                let max = ((1i64 << (bits - 1)) - 1) as f32;
                w.write_sample((v * max) as i32).unwrap();
            }
        }
    }
    w.finalize().unwrap();
}

/// Energy at `freq` relative to total energy (1.0 for a pure tone at `freq`).
fn tone_purity(pcm: &[i16], freq: f32) -> f32 {
    let (mut re, mut im, mut e) = (0f64, 0f64, 0f64);
    for (n, &s) in pcm.iter().enumerate() {
        let a = 2.0 * std::f64::consts::PI * f64::from(freq) * n as f64 / 8000.0;
        re += f64::from(s) * a.cos();
        im += f64::from(s) * a.sin();
        e += f64::from(s) * f64::from(s);
    }
    (2.0 * (re * re + im * im) / pcm.len() as f64 / e) as f32
}

#[test]
fn load_any_wav_format() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("8k16mono", 8000, 1, 16, false),
        ("16k16stereo", 16000, 2, 16, false),
        ("44k24mono", 44100, 1, 24, false),
        ("48kfloat", 48000, 1, 32, true),
        ("22k8mono", 22050, 1, 8, false),
        ("11k32stereo", 11025, 2, 32, false),
    ];
    for (name, rate, ch, bits, float) in cases {
        let p = dir.path().join(format!("{name}.wav"));
        write_wav(&p, rate, ch, bits, float, 0.5);
        let pcm = load_wav_8k(&p).unwrap();
        assert!(
            (pcm.len() as i64 - 4000).abs() <= 2,
            "{name}: {} samples",
            pcm.len()
        );
        let peak = pcm[400..3600]
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap();
        assert!((15000..=17500).contains(&peak), "{name}: peak {peak}");
        let purity = tone_purity(&pcm[400..3600], 1000.0);
        assert!(purity > 0.95, "{name}: purity {purity}");
    }
}

#[test]
fn wav_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.wav");
    let e = load_wav_8k(&missing).unwrap_err();
    assert!(e.to_string().contains("nope.wav"), "{e}");
    let garbage = dir.path().join("garbage.wav");
    std::fs::write(&garbage, b"RIFF\x10\0\0\0WAVEjunkjunkjunk").unwrap();
    let e = load_wav_8k(&garbage).unwrap_err();
    assert!(e.to_string().contains("garbage.wav"), "{e}");
    // Truncated data chunk: every prefix of a valid file either loads or errors.
    let good = dir.path().join("good.wav");
    write_wav(&good, 16000, 2, 16, false, 0.05);
    let bytes = std::fs::read(&good).unwrap();
    for cut in (0..bytes.len()).step_by(37) {
        let p = dir.path().join("cut.wav");
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let _ = load_wav_8k(&p);
    }
}

fn write_library(dir: &Path, manifest: &str, ids: &[&str], secs: f32) {
    std::fs::write(dir.join("prompts.toml"), manifest).unwrap();
    for lang in ["kk", "ru"] {
        std::fs::create_dir_all(dir.join(lang)).unwrap();
        for id in ids {
            write_wav(
                &dir.join(lang).join(format!("{id}.wav")),
                16000,
                1,
                16,
                false,
                secs,
            );
        }
    }
}

const MANIFEST: &str = r#"
[[prompt]]
id = "greeting-bilingual"
kk = "Сәлеметсіз бе!"
ru = "Здравствуйте!"
notes = "warm, calm"

[[prompt]]
id = "goodbye"
kk = "Сау болыңыз."
ru = "До свидания."
"#;

#[test]
fn library_loads_and_frames() {
    let dir = tempfile::tempdir().unwrap();
    write_library(
        dir.path(),
        MANIFEST,
        &["greeting-bilingual", "goodbye"],
        0.51,
    );
    let lib = PromptLibrary::load(dir.path()).unwrap();
    assert_eq!(
        lib.ids().collect::<Vec<_>>(),
        vec!["greeting-bilingual", "goodbye"]
    );
    assert_eq!(lib.manifest().prompt[0].notes, "warm, calm");
    assert_eq!(lib.manifest().prompt[1].notes, "");
    for lang in Language::ALL {
        let p = lib.get("goodbye", lang).unwrap();
        assert_eq!(p.language(), lang);
        assert_eq!(p.id(), "goodbye");
        // 0.51 s = 4080 samples -> 25.5 frames -> 26.
        assert!((p.samples().len() as i64 - 4080).abs() <= 2);
        assert_eq!(p.frame_count(), p.samples().len().div_ceil(160));
        assert_eq!(p.frame_count(), 26);
        assert_eq!(
            p.duration(),
            Duration::from_micros(p.samples().len() as u64 * 125)
        );
        for codec in Codec::ALL {
            for i in 0..p.frame_count() {
                assert_eq!(p.frame(codec, i).unwrap().len(), 160);
            }
            assert!(p.frame(codec, p.frame_count()).is_none());
            assert!(p.frame(codec, usize::MAX).is_none());
            // The last frame is padded with silence.
            let last = p.frame(codec, 25).unwrap();
            assert!(last[100..].iter().all(|&b| b == codec.silence_byte()));
            let b = p.frame_bytes(codec, 3).unwrap();
            assert_eq!(&b[..], p.frame(codec, 3).unwrap());
        }
    }
    assert!(lib.get("nope", Language::Kk).is_none());
    // Shared, not copied.
    let a = lib.get("goodbye", Language::Ru).unwrap();
    let b = lib.get("goodbye", Language::Ru).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
}

#[test]
fn missing_prompt_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    write_library(dir.path(), MANIFEST, &["greeting-bilingual"], 0.1);
    let e = PromptLibrary::load(dir.path()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("goodbye.wav") && msg.contains("kk"), "{msg}");
    // Every missing file is listed, one per line, not only the first.
    std::fs::remove_file(dir.path().join("ru/greeting-bilingual.wav")).unwrap();
    let msg = PromptLibrary::load(dir.path()).unwrap_err().to_string();
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines.len(), 3, "{msg}");
    for file in [
        "ru/greeting-bilingual.wav",
        "kk/goodbye.wav",
        "ru/goodbye.wav",
    ] {
        assert!(lines.iter().any(|l| l.contains(file)), "{file}: {msg}");
    }
    let e = PromptLibrary::load(&dir.path().join("absent")).unwrap_err();
    assert!(matches!(e, PromptError::Io { .. }));
    assert!(e.to_string().contains("prompts.toml"));
}

#[test]
fn bad_manifest_has_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "[[prompt]]\nid = \"a\"\nkk = \"x\"\nru = \n";
    write_library(dir.path(), bad, &[], 0.1);
    match PromptLibrary::load(dir.path()).unwrap_err() {
        PromptError::Manifest {
            path, line, column, ..
        } => {
            assert!(path.ends_with("prompts.toml"));
            assert_eq!(line, 4);
            assert!(column > 0);
        }
        other => panic!("{other:?}"),
    }
    // Missing field.
    let e =
        PromptLibrary::parse_manifest(Path::new("p.toml"), "[[prompt]]\nid = \"a\"\nkk = \"x\"\n")
            .unwrap_err();
    assert!(e.to_string().contains("ru"), "{e}");
    assert!(e.to_string().starts_with("p.toml:1:"), "{e}");
    // A typo in the table name: no [[prompt]] at all.
    let e = PromptLibrary::parse_manifest(Path::new("p.toml"), "\n\n[[prompts]]\nid = \"a\"\n")
        .unwrap_err();
    assert!(e.to_string().contains("prompt"), "{e}");
    eprintln!("{e}");
    // Wrong type, with its position.
    let e =
        PromptLibrary::parse_manifest(Path::new("p.toml"), "\n\n[[prompt]]\nid = 5\n").unwrap_err();
    assert!(e.to_string().starts_with("p.toml:4:"), "{e}");
    // Bad ids and duplicates.
    let dup = "[[prompt]]\nid=\"a\"\nkk=\"\"\nru=\"\"\n[[prompt]]\nid=\"a\"\nkk=\"\"\nru=\"\"\n";
    write_library(dir.path(), dup, &["a"], 0.1);
    assert!(matches!(
        PromptLibrary::load(dir.path()).unwrap_err(),
        PromptError::DuplicateId { .. }
    ));
    let traversal = "[[prompt]]\nid=\"../x\"\nkk=\"\"\nru=\"\"\n";
    write_library(dir.path(), traversal, &[], 0.1);
    assert!(matches!(
        PromptLibrary::load(dir.path()).unwrap_err(),
        PromptError::InvalidId { .. }
    ));
}

#[test]
fn silence_over_half_a_second_at_either_end_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_library(
        dir.path(),
        MANIFEST,
        &["greeting-bilingual", "goodbye"],
        0.5,
    );
    assert!(PromptLibrary::load(dir.path())
        .unwrap()
        .silence_warnings()
        .is_empty());
    // 0.8 s of silence, then the tone.
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let path = dir.path().join("kk/goodbye.wav");
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..8000 * 2 {
        let v = if i < 6400 {
            0.0
        } else {
            (i as f32 * 0.4).sin() * 9000.0
        };
        w.write_sample(v as i16).unwrap();
    }
    w.finalize().unwrap();
    let warnings = PromptLibrary::load(dir.path()).unwrap().silence_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("kk/goodbye.wav"), "{warnings:?}");
    assert!(
        warnings[0].contains("0.8 s of silence before"),
        "{warnings:?}"
    );
}

#[test]
fn languages_and_beep() {
    assert_eq!(Language::from_code("KK"), Some(Language::Kk));
    assert_eq!(Language::from_code("ru"), Some(Language::Ru));
    assert_eq!(Language::from_code("en"), None);
    assert_eq!(Language::Kk.code(), "kk");
    let b = prompts::beep("beep", 1000.0, 300);
    assert_eq!(b.frame_count(), 15);
    assert!(tone_purity(b.samples(), 1000.0) > 0.95);
    let mut det = senim_media::dtmf::InbandDetector::new();
    assert_eq!(det.push(b.samples()), None, "the beep is not a digit");
}

#[test]
fn repository_prompts_load_if_present() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../voice-prompts");
    if !root.join("prompts.toml").exists() {
        eprintln!("skipped: {} has no prompts.toml yet", root.display());
        return;
    }
    let lib = PromptLibrary::load(&root).unwrap();
    assert!(lib.ids().count() > 0);
}
