//! baresip, a real softphone, as a second independent caller: it dials Senim,
//! presses keys by RFC 4733 and records what it hears. And as a specialist's
//! softphone: it registers, answers a routed call, accepts it with 1 and
//! talks to the caller through the bridge.

mod common;

use std::path::Path;
use std::time::Duration;

use common::baresip::Baresip;
use common::caller::{ulaw_decode, Caller};
use common::{http, wait_until, Senim};
use sqlx::Row;

/// RMS of a 16-bit WAV's samples.
fn wav_rms(path: &Path) -> (f64, usize) {
    let data = std::fs::read(path).unwrap_or_default();
    let samples: Vec<i16> = data
        .get(44..)
        .unwrap_or(&[])
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let n = samples.len().max(1);
    let sum: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
    ((sum / n as f64).sqrt(), samples.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn baresip_calls_chooses_russian_and_hears_the_prompts() {
    let senim = Senim::start(&[]);
    let dir = senim.dir.path().join("baresip");
    std::fs::create_dir_all(&dir).unwrap();
    let mut phone = Baresip::start(&dir);
    phone.command("dial", &format!("sip:100@{}", senim.sip));
    assert!(
        phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(10)),
        "baresip call established\n{}\n{}",
        phone.log(),
        senim.log()
    );
    std::thread::sleep(Duration::from_millis(1500));
    phone.command("sndcode", "2");
    std::thread::sleep(Duration::from_millis(1500));
    phone.command("sndcode", "1");
    assert!(
        phone.wait_event("CALL_CLOSED", Duration::from_secs(30)),
        "Senim hangs up after goodbye\n{}",
        senim.log()
    );
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].language.as_deref(), Some("ru"), "{:?}", calls[0]);
    assert_eq!(
        calls[0].digits,
        vec![
            ("2".into(), "rfc4733".into()),
            ("1".into(), "rfc4733".into())
        ]
    );
    assert_eq!(calls[0].outcome.as_deref(), Some("completed"));
    // What baresip heard (its decoder's output): the prompts, not silence.
    let snd = dir.join("snd");
    let dec = std::fs::read_dir(&snd)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded what it received");
    let (rms, n) = wav_rms(&dec);
    assert!(
        n > 8000 * 2,
        "at least 2 s of received audio, got {n} samples"
    );
    assert!(
        rms > 300.0,
        "the prompts are audible to the caller (rms {rms:.0})"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_specialists_softphone_registers_with_digest_auth() {
    let config = r#"
# baresip 1.0 (Debian 12) gives up when a SHA-256 challenge is offered at all.
[registrar]
algorithms = ["MD5"]

[[specialist]]
id = "aigerim"
name = "Aigerim"
skills = ["psychology"]
languages = ["kk", "ru"]
username = "aigerim"
password = "correct-horse-42"

[[specialist]]
id = "daniyar"
name = "Daniyar"
skills = ["legal"]
languages = ["ru"]
username = "daniyar"
password = "another-secret-17"
"#;
    let senim = Senim::start_with(Some(config), &[]);
    let good_dir = senim.dir.path().join("good");
    let bad_dir = senim.dir.path().join("bad");
    std::fs::create_dir_all(&good_dir).unwrap();
    std::fs::create_dir_all(&bad_dir).unwrap();
    let aor = |user: &str, pass: &str| {
        format!(
            "<sip:{user}@{}>;auth_pass={pass};regint=600;answermode=auto;audio_codecs=PCMU,PCMA",
            senim.sip
        )
    };
    let _good = Baresip::start_with_account(&good_dir, Some(&aor("aigerim", "correct-horse-42")));
    let _bad = Baresip::start_with_account(&bad_dir, Some(&aor("daniyar", "wrong-password")));
    let registered = |user: &str| -> Option<usize> {
        let (_, body) = http(senim.http, "GET", "/specialists");
        let at = body.find(&format!("\"id\":\"{user}\""))?;
        let rest = &body[at..];
        let n = rest.split("\"registered\":").nth(1)?;
        n.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    assert!(
        wait_until(Duration::from_secs(15), || registered("aigerim") == Some(1)),
        "baresip registered with the right password:\n{}",
        senim.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        registered("daniyar"),
        Some(0),
        "a wrong password registers nothing"
    );
    let (_, body) = http(senim.http, "GET", "/specialists");
    assert!(
        !body.contains("correct-horse") && !body.contains("127.0.0.1"),
        "no secrets or addresses: {body}"
    );
    // The log names the specialist at info; where their phone is (its
    // Contact) only at debug.
    let log = senim.log();
    let debug = |l: &&str| l.contains(" DEBUG ") || l.contains(" TRACE ");
    let registered_at_info = log
        .lines()
        .filter(|l| !debug(l))
        .find(|l| l.contains("registration") && l.contains("user=aigerim"));
    let registered_at_info = registered_at_info.unwrap_or_else(|| panic!("{log}"));
    assert!(
        !registered_at_info.contains("127.0.0.1"),
        "{registered_at_info}"
    );
    assert!(
        log.lines()
            .filter(|l| !debug(l))
            .all(|l| !l.contains("sip:aigerim")),
        "a Contact above debug:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| debug(&l) && l.contains("registration contact") && l.contains("sip:aigerim")),
        "the Contact at debug:\n{log}"
    );
}

/// Write `secs` seconds of a sine tone at `freq_hz` as a WAV file: 16-bit
/// PCM, mono, 8 kHz, about -12 dBFS (baresip's `aufile` source).
fn write_tone_wav(path: &Path, freq_hz: f64, secs: u32) {
    let rate = 8000u32;
    let n = rate * secs;
    let mut out = Vec::with_capacity(44 + 2 * n as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + 2 * n).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(2 * rate).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(2 * n).to_le_bytes());
    for i in 0..n {
        let t = f64::from(i) / f64::from(rate);
        let s = (8000.0 * (2.0 * std::f64::consts::PI * freq_hz * t).sin()) as i16;
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out).expect("write tone");
}

/// A 16-bit mono WAV's sample rate and samples (the `data` chunk; to the
/// end of the file when its size is not filled in).
fn read_wav(path: &Path) -> (u32, Vec<i16>) {
    let data = std::fs::read(path).unwrap_or_default();
    let mut rate = 8000;
    let mut at = 12;
    while at + 8 <= data.len() {
        let id = &data[at..at + 4];
        let size =
            u32::from_le_bytes([data[at + 4], data[at + 5], data[at + 6], data[at + 7]]) as usize;
        let body = at + 8;
        if id == b"fmt " && body + 8 <= data.len() {
            rate = u32::from_le_bytes([
                data[body + 4],
                data[body + 5],
                data[body + 6],
                data[body + 7],
            ]);
        }
        if id == b"data" {
            let end = if size == 0 || body + size > data.len() {
                data.len()
            } else {
                body + size
            };
            let samples = data[body..end]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return (rate, samples);
        }
        at = body + size + (size & 1);
    }
    (rate, Vec::new())
}

/// Power at `freq_hz` relative to the whole window's power: about 1 for a
/// pure tone at that frequency, near 0 for other tones and for speech.
fn tone_purity(window: &[i16], rate: u32, freq_hz: f64) -> f64 {
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq_hz / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0;
    for &x in window {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if energy == 0.0 {
        0.0
    } else {
        2.0 * power / (window.len() as f64 * energy)
    }
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|x| f64::from(*x).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// Where a tone is in some audio, in 50 ms windows.
#[derive(Debug)]
struct Tone {
    /// Seconds of windows that are a pure tone at the frequency.
    secs: f64,
    /// The first such window's start, in seconds.
    from: Option<f64>,
    /// The median RMS of those windows.
    level: f64,
}

fn find_tone(samples: &[i16], rate: u32, freq_hz: f64) -> Tone {
    let window = (rate / 20) as usize;
    let mut hits: Vec<(usize, f64)> = samples
        .chunks_exact(window)
        .enumerate()
        .filter(|(_, w)| rms(w) > 300.0 && tone_purity(w, rate, freq_hz) > 0.8)
        .map(|(i, w)| (i, rms(w)))
        .collect();
    let from = hits.first().map(|(i, _)| *i as f64 * 0.05);
    hits.sort_by(|a, b| a.1.total_cmp(&b.1));
    Tone {
        secs: hits.len() as f64 * 0.05,
        from,
        level: hits.get(hits.len() / 2).map_or(0.0, |h| h.1),
    }
}

/// The strongest frequency (10 Hz steps, 100-3500 Hz) of each second of
/// audio: for failure messages.
fn dominant_per_second(samples: &[i16], rate: u32) -> Vec<u32> {
    samples
        .chunks(rate as usize)
        .map(|sec| {
            let w = &sec[..sec.len().min((rate / 10) as usize)];
            (10..350)
                .map(|k| k * 10)
                .max_by(|a, b| {
                    tone_purity(w, rate, f64::from(*a)).total_cmp(&tone_purity(
                        w,
                        rate,
                        f64::from(*b),
                    ))
                })
                .unwrap_or(0)
        })
        .collect()
}

/// `(step, specialist, result, detail)` of every `call_routing` row.
fn routing_steps(senim: &Senim) -> Vec<(String, Option<String>, Option<String>, String)> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        let rows = sqlx::query(
            "SELECT step, specialist, result, detail FROM call_routing ORDER BY call_id, seq",
        )
        .fetch_all(&pool)
        .await
        .expect("query call_routing");
        pool.close().await;
        rows.into_iter()
            .map(|r| {
                (
                    r.get("step"),
                    r.get("specialist"),
                    r.get("result"),
                    r.get("detail"),
                )
            })
            .collect()
    })
}

/// A caller asks for psychology; Senim rings the specialist's registered
/// baresip, which answers, hears the whisper and presses 1 (RFC 4733). Then
/// each side sends its own tone (the phone 440 Hz as PCMA, the caller
/// 1000 Hz as PCMU) and each must hear the other's, at the right level, and
/// not its own. The caller's BYE ends the specialist's call too.
#[test]
fn a_registered_softphone_takes_a_routed_call_and_both_sides_hear_each_other() {
    const PHONE_HZ: f64 = 440.0;
    const CALLER_HZ: f64 = 1000.0;
    let config = r#"
# baresip 1.0 (Debian 12) gives up when a SHA-256 challenge is offered at all.
[registrar]
algorithms = ["MD5"]

[hours.centre]
always = true
holidays = "open"

[routing]
accept_timeout = "10s"

# Senim hangs up the phone at once when the caller leaves (no wrap-up
# menu: that is tests/e2e_wrap_up.rs).
[wrap_up]
menu = false

[[specialist]]
id = "aigerim"
name = "Aigerim"
skills = ["psychology"]
languages = ["kk", "ru"]
username = "aigerim"
password = "correct-horse-42"
wrap_up = "1s"
"#;
    let senim = Senim::start_with(Some(config), &[]);
    let dir = senim.dir.path().join("phone");
    std::fs::create_dir_all(&dir).unwrap();
    let tone = dir.join("tone-440.wav");
    write_tone_wav(&tone, PHONE_HZ, 40);
    // PCMA only: the caller talks PCMU, so the bridge must transcode.
    let account = format!(
        "<sip:aigerim@{}>;auth_pass=correct-horse-42;regint=600;answermode=auto;audio_codecs=PCMA",
        senim.sip
    );
    let mut phone = Baresip::start_with_audio(&dir, Some(&account), &tone);
    let registered = || {
        let (_, body) = http(senim.http, "GET", "/specialists");
        body.contains("\"registered\":1")
    };
    assert!(
        wait_until(Duration::from_secs(10), registered),
        "baresip registered:\n{}\n{}",
        phone.log(),
        senim.log()
    );

    // The caller: Kazakh (1), psychology (2), by SIP INFO; PCMU only.
    let mut caller = Caller::new(senim.sip);
    let offer = caller.offer(
        "0 101",
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
    );
    caller.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(caller.press_info('1'), Some(200), "INFO 1");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(caller.press_info('2'), Some(200), "INFO 2");

    // The softphone rings and answers by itself; after 2 s of whisper the
    // specialist presses 1 (RFC 4733: Senim's offer has telephone-event).
    assert!(
        phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(10)),
        "baresip answered Senim's call:\n{}\n{}",
        phone.log(),
        senim.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    phone.command("sndcode", "1");
    let connected = || {
        routing_steps(&senim).iter().any(|(step, _, result, _)| {
            step == "finished" && result.as_deref() == Some("connected")
        })
    };
    assert!(
        wait_until(Duration::from_secs(10), connected),
        "the specialist's 1 connects the call:\n{:#?}\n{}\n{}",
        routing_steps(&senim),
        phone.log(),
        senim.log()
    );

    // Bridged: the caller talks (1000 Hz) for 3 s while listening.
    caller.drain_rtp();
    let heard: Vec<i16> = caller
        .send_tone_pcmu(CALLER_HZ, Duration::from_secs(3))
        .into_iter()
        .map(ulaw_decode)
        .collect();
    assert_eq!(caller.bye(), Some(200), "the caller's BYE");
    assert!(
        phone.wait_event("CALL_CLOSED", Duration::from_secs(10))
            && phone
                .events
                .iter()
                .any(|e| e.contains("CALL_CLOSED") && e.contains("reset by peer")),
        "Senim hangs up the specialist's phone after the caller's BYE:\n{:#?}\n{}\n{}",
        phone.events,
        phone.log(),
        senim.log()
    );

    // Both tones are sent at amplitude 8000 (RMS 5657). G.711 keeps the
    // level within a fraction of a dB; a law decoded as the other one (a
    // missing or wrong PCMU/PCMA conversion) about quadruples it.
    let level_ok = |t: &Tone| (4500.0..7000.0).contains(&t.level);

    // The caller heard the specialist's phone, not itself.
    let heard_phone = find_tone(&heard, 8000, PHONE_HZ);
    let heard_self = find_tone(&heard, 8000, CALLER_HZ);
    assert!(
        heard.len() >= 8000 * 2
            && heard_phone.secs >= 1.5
            && level_ok(&heard_phone)
            && heard_self.secs < 0.3,
        "the caller hears the specialist's {PHONE_HZ} Hz: {heard_phone:?} in {:.2} s \
         (its own {CALLER_HZ} Hz: {heard_self:?}); strongest Hz per second: {:?}\n{}",
        heard.len() as f64 / 8000.0,
        dominant_per_second(&heard, 8000),
        senim.log()
    );

    // The specialist heard the whisper, then the caller (sndfile's
    // recording of baresip's decoded audio, closed with the call).
    let snd = dir.join("snd");
    let dec = std::fs::read_dir(&snd)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded what it received");
    let (rate, received) = read_wav(&dec);
    let rec_caller = find_tone(&received, rate, CALLER_HZ);
    let rec_self = find_tone(&received, rate, PHONE_HZ);
    let whisper_rms = rms(&received[..(rate as usize).min(received.len())]);
    assert!(
        rec_caller.secs >= 1.5
            && level_ok(&rec_caller)
            && rec_caller.from.is_some_and(|s| s >= 1.0)
            && rec_self.secs < 0.3
            && whisper_rms > 300.0,
        "the specialist hears the whisper (RMS {whisper_rms:.0} in the first second), then \
         the caller's {CALLER_HZ} Hz: {rec_caller:?} in {:.2} s recorded at {rate} Hz (its \
         own {PHONE_HZ} Hz: {rec_self:?}); strongest Hz per second: {:?}\n{}\n{}",
        received.len() as f64 / f64::from(rate),
        dominant_per_second(&received, rate),
        phone.log(),
        senim.log()
    );
    eprintln!(
        "caller heard {PHONE_HZ} Hz: {heard_phone:?} in {:.2} s; specialist heard whisper \
         (RMS {whisper_rms:.0}) then {CALLER_HZ} Hz: {rec_caller:?} in {:.2} s",
        heard.len() as f64 / 8000.0,
        received.len() as f64 / f64::from(rate),
    );

    // The specialist's side was PCMA, the caller's PCMU: the relay transcoded.
    assert!(
        phone.log().contains("sndfile ---> PCMA"),
        "baresip sent PCMA:\n{}",
        phone.log()
    );
    assert!(
        caller.answer.contains("RTP/AVP 0"),
        "Senim answered the caller with PCMU:\n{}",
        caller.answer
    );

    // Senim saw the specialist's key as RFC 4733 and connected aigerim.
    let log = senim.log();
    assert!(
        log.lines()
            .any(|l| l.contains("leg digit") && l.contains("rfc4733")),
        "the accept key came as RFC 4733:\n{log}"
    );
    let steps = routing_steps(&senim);
    assert!(
        steps
            .iter()
            .any(|(step, who, result, _)| step == "ring-ended"
                && who.as_deref() == Some("aigerim")
                && result.as_deref() == Some("answered")),
        "{steps:#?}"
    );
    assert!(
        steps
            .iter()
            .any(|(step, _, _, detail)| step == "finished" && detail.contains("aigerim")),
        "{steps:#?}"
    );
}
