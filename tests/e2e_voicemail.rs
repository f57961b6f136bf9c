//! Voicemail end to end: the real binary, the test caller from
//! `common::caller` speaking (a 400 Hz tone as PCMU) and pressing keys by SIP
//! INFO. The centre is open and nobody is on duty, so the route overflows at
//! once to the plan's `<voicemail>` node. Checked: the WAV file (format,
//! length, mode 0600 in a 0700 folder, named by the call id), the
//! `voicemails` row, and that the plan goes on to goodbye.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::caller::Caller;
use common::walks::{call_choosing, OFFER, RTPMAPS};
use common::{repo_root, wait_until, Senim};
use sqlx::Row;

const OPEN: &str = "[hours.centre]\nalways = true\nholidays = \"open\"\n";

/// Senim on the default plan, with the routes overflowing to the voicemail
/// (the plan's folder is kept as long as Senim runs).
fn start() -> (Senim, tempfile::TempDir) {
    let text = std::fs::read_to_string(repo_root().join("dialplans/centre.xml"))
        .expect("dialplans/centre.xml");
    assert!(text.contains(r#"overflow="offer-callback""#));
    let text = text.replace(
        r#"overflow="offer-callback""#,
        r#"overflow="leave-message""#,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("voicemail-plan.xml");
    std::fs::write(&plan, text).expect("write plan");
    let config = format!(
        "{OPEN}\n[dialplan]\nfile = \"{}\"\nwatch = false\n",
        plan.display()
    );
    (Senim::start_with(Some(&config), &[]), dir)
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().expect("runtime").block_on(f)
}

fn steps(senim: &Senim) -> Vec<String> {
    common::call_steps(senim)
}

#[derive(Debug)]
struct Voicemail {
    call_id: String,
    path: String,
    duration_ms: i64,
    ended_by: String,
}

fn voicemails(senim: &Senim) -> Vec<Voicemail> {
    block_on(async {
        let pool = senim.db().await;
        sqlx::query("SELECT call_id, path, duration_ms, ended_by FROM voicemails ORDER BY at")
            .fetch_all(&pool)
            .await
            .map(|rows| {
                rows.into_iter()
                    .map(|r| Voicemail {
                        call_id: r.get("call_id"),
                        path: r.get("path"),
                        duration_ms: r.get("duration_ms"),
                        ended_by: r.get("ended_by"),
                    })
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn has_step(senim: &Senim, step: &str) -> bool {
    steps(senim).iter().any(|s| s == step)
}

/// Call, choose Russian and psychology; wait until the beep has played and
/// the recording runs.
fn reach_recording(senim: &Senim) -> Caller {
    reach_recording_offering(senim, OFFER, RTPMAPS)
}

/// [`reach_recording`], offering `formats` (with their `rtpmaps`).
fn reach_recording_offering(senim: &Senim, formats: &str, rtpmaps: &str) -> Caller {
    let c = call_choosing(senim, formats, rtpmaps, '2', '2');
    assert!(
        wait_until(Duration::from_secs(30), || has_step(
            senim,
            "leave-message: voicemail recording"
        )),
        "the recording did not start: {:#?}\n{}",
        steps(senim),
        senim.log()
    );
    c
}

/// The plan goes on to goodbye and Senim hangs up.
fn assert_goodbye(c: &Caller, senim: &Senim) {
    assert!(
        c.wait_bye(Duration::from_secs(30)),
        "the plan goes on to goodbye and hangs up: {:#?}",
        steps(senim)
    );
}

/// [`saved_message`], ended by `ended_by` and `about` (`about 3 s`) as
/// long as `ms` says.
fn saved_message_ended_by(
    senim: &Senim,
    ended_by: &str,
    ms: std::ops::RangeInclusive<i64>,
    about: &str,
) -> (Voicemail, Vec<i16>) {
    let (v, samples) = saved_message(senim);
    assert_eq!(v.ended_by, ended_by);
    assert!(ms.contains(&v.duration_ms), "{about}: {} ms", v.duration_ms);
    (v, samples)
}

fn voicemail_dir(senim: &Senim) -> PathBuf {
    senim.dir.path().join("voicemail")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The calls that have a voicemail follow-up.
fn voicemail_follow_ups(senim: &Senim) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        sqlx::query("SELECT call_id FROM follow_ups WHERE kind = 'voicemail' AND status = 'open'")
            .fetch_all(&pool)
            .await
            .expect("query follow_ups")
            .into_iter()
            .map(|r| r.get::<String, _>("call_id"))
            .collect()
    })
}

/// Wait for the one voicemail row and check its file; returns the row and the samples.
fn saved_message(senim: &Senim) -> (Voicemail, Vec<i16>) {
    assert!(
        wait_until(Duration::from_secs(15), || !voicemails(senim).is_empty()),
        "no voicemail row: {:#?}\n{}",
        steps(senim),
        senim.log()
    );
    let mut rows = voicemails(senim);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let v = rows.remove(0);
    assert!(
        wait_until(Duration::from_secs(5), || voicemail_follow_ups(senim)
            == vec![v.call_id.clone()]),
        "the message is a follow-up: {:?}",
        voicemail_follow_ups(senim)
    );
    eprintln!("voicemail row: {v:?}");
    let path = PathBuf::from(&v.path);
    assert!(path.is_absolute(), "{}", v.path);
    let dir = voicemail_dir(senim);
    assert_eq!(
        path,
        dir.canonicalize()
            .expect("voicemail dir")
            .join(format!("{}.wav", v.call_id)),
        "the file is named by the call id only"
    );
    assert_eq!(mode(&dir), 0o700, "voicemail folder mode");
    assert_eq!(mode(&path), 0o600, "voicemail file mode");
    let mut reader = hound::WavReader::open(&path).expect("a WAV file");
    let spec = reader.spec();
    assert_eq!(spec.sample_rate, 8000);
    assert_eq!(spec.channels, 1);
    assert_eq!(spec.bits_per_sample, 16);
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    let file_ms = samples.len() as i64 * 1000 / 8000;
    assert!(
        (v.duration_ms - file_ms).abs() <= 1,
        "row says {} ms, file has {file_ms} ms",
        v.duration_ms
    );
    // Only the one message: no temporary file left next to it.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .expect("read voicemail dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    (v, samples)
}

/// Zero crossings per second over the middle second: 800 for a 400 Hz tone.
fn crossings_per_second(samples: &[i16]) -> usize {
    let mid = samples.len() / 2;
    let second = &samples[mid.saturating_sub(4000)..(mid + 4000).min(samples.len())];
    second
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count()
        * 8000
        / second.len().max(1)
}

fn assert_is_the_tone(samples: &[i16]) {
    let z = crossings_per_second(samples);
    assert!((760..=840).contains(&z), "{z} zero crossings a second");
    let mid = samples.len() / 2;
    let rms = (samples[mid - 800..mid + 800]
        .iter()
        .map(|&s| f64::from(s).powi(2))
        .sum::<f64>()
        / 1600.0)
        .sqrt();
    assert!(rms > 3000.0, "rms {rms}");
}

#[test]
fn caller_speaks_then_presses_hash() {
    let (senim, _plan) = start();
    let mut c = reach_recording(&senim);
    c.send_tone_pcmu(400.0, Duration::from_secs(3));
    assert_eq!(c.press_info('#'), Some(200));
    assert_goodbye(&c, &senim);
    let (v, samples) = saved_message_ended_by(&senim, "key", 2000..=4000, "about 3 s");
    assert_is_the_tone(&samples);
    let calls = block_on(senim.ended_calls(1));
    assert_eq!(calls[0].id, v.call_id);
    assert_eq!(calls[0].outcome.as_deref(), Some("completed"));
    let s = steps(&senim);
    for want in [
        "leave-message: voicemail ended by key",
        "leave-message: voicemail saved",
        "leave-message: voicemail recorded",
        "goodbye: enter play",
    ] {
        assert!(s.iter().any(|x| x.starts_with(want)), "{want:?} in {s:#?}");
    }
    // The key that ended the message is in the record, in the voicemail node.
    assert!(calls[0]
        .digits
        .iter()
        .any(|(d, src)| d == "#" && src == "sip-info"));
}

#[test]
fn an_inband_key_ends_the_message_and_is_not_in_it() {
    let (senim, _plan) = start();
    // No telephone-event: Senim listens for in-band tones.
    let mut c = reach_recording_offering(&senim, "0", "a=rtpmap:0 PCMU/8000\r\n");
    c.send_tone_pcmu(400.0, Duration::from_secs(3));
    // 300 ms of silence, 120 ms of the # tone pair, 500 ms of silence.
    let pound =
        std::fs::read(repo_root().join("tests/media/dtmf-pound.ul")).expect("dtmf-pound.ul");
    c.send_pcmu(&pound);
    assert_goodbye(&c, &senim);
    let (v, samples) = saved_message(&senim);
    assert_eq!(v.ended_by, "key");
    let calls = block_on(senim.ended_calls(1));
    assert!(calls[0]
        .digits
        .iter()
        .any(|(d, src)| d == "#" && src == "inband"));
    assert_is_the_tone(&samples);
    // After the speech only silence: none of the key's tone pair.
    let tail = &samples[samples.len().saturating_sub(800)..];
    let peak = tail.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    assert!(peak < 100, "the key's tone is in the message (peak {peak})");
}

#[test]
fn caller_speaks_then_goes_silent() {
    let (senim, _plan) = start();
    let mut c = reach_recording(&senim);
    c.send_tone_pcmu(400.0, Duration::from_secs(3));
    // Silence (PCMU of zero samples) until the recorder gives up on it.
    c.send_tone_pcmu(0.0, Duration::from_secs(6));
    assert_goodbye(&c, &senim);
    // Three seconds of speech and half a second of the silence after it.
    let (_, samples) = saved_message_ended_by(&senim, "silence", 2500..=4500, "about 3.5 s");
    assert_is_the_tone(&samples[..samples.len().min(24_000)]);
    assert!(has_step(&senim, "leave-message: voicemail recorded"));
}

#[test]
fn caller_hangs_up_mid_message_and_it_is_kept() {
    let (senim, _plan) = start();
    let mut c = reach_recording(&senim);
    c.send_tone_pcmu(400.0, Duration::from_millis(2500));
    assert_eq!(c.bye(), Some(200));
    let (_, samples) = saved_message_ended_by(&senim, "hangup", 1500..=3500, "about 2.5 s");
    assert_is_the_tone(&samples);
    let calls = block_on(senim.ended_calls(1));
    assert_eq!(calls[0].outcome.as_deref(), Some("caller-hangup"));
    assert!(has_step(&senim, "leave-message: voicemail saved"));
}

#[test]
fn a_silent_caller_leaves_no_file_and_the_plan_goes_on() {
    let (senim, _plan) = start();
    let mut c = reach_recording(&senim);
    // Ten seconds without a word.
    c.send_tone_pcmu(0.0, Duration::from_secs(10));
    assert!(
        c.wait_bye(Duration::from_secs(30)),
        "the plan goes on to goodbye and hangs up: {:#?}\n{}",
        steps(&senim),
        senim.log()
    );
    let s = steps(&senim);
    for want in [
        "leave-message: voicemail ended by no-speech: no speech, nothing saved",
        "leave-message: voicemail not recorded",
        "goodbye: enter play",
    ] {
        assert!(s.iter().any(|x| x == want), "{want:?} in {s:#?}");
    }
    assert!(voicemails(&senim).is_empty());
    let dir = voicemail_dir(&senim);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(std::fs::read_dir(&dir).expect("voicemail dir").count(), 0);
}
