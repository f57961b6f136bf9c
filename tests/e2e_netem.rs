//! Calls over a bad network: Senim and SIPp callers in a network namespace
//! of the test's own (`common::netns`), whose loopback loses, delays and
//! reorders packets: with `tc netem` where the kernel has it, otherwise with
//! iptables sending the UDP packets to a netfilter queue served by a thread
//! of the test, which drops, holds and reorders them. Every call must
//! complete through the SIP retransmissions of RFC 3261, each RFC 4733 key
//! must be acted on once (never twice, never missed while part of its
//! event arrives), and the prompts must keep their pacing as the caller
//! receives them.
//!
//! The keys are the bundled SIPp pcaps (`dtmf_2833_N.pcap`: 7 packets
//! while the key is down, then the 3 end packets of RFC 4733 §2.5.1.4),
//! some cut or shuffled by the test before the network loses more: an
//! event whose end packets were all lost, one whose start was lost, one
//! whose end packets overtake the rest. Each key keeps at least 7
//! packets, so that at 20% loss a key vanishes whole with a chance of at
//! most 0.2^7 (1 in 78,000; for the 40 keys of the loss test together,
//! about 1 in 3,900 runs); a key that vanished would show as a missing
//! digit.
//!
//! Needs root, iproute2 (`ip`, `tc`), and either the kernel's `sch_netem`
//! or iptables with the kernel's xt_NFQUEUE and nfnetlink_queue; fails
//! saying so otherwise. Nothing leaves the namespace: its loopback carries
//! SIP, RTP and nothing else the test needs (the harness reads Senim's
//! readiness from its output and the call records from the database file).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::capture::{Capture, Packet};
use common::netns::{Impairment, Netns};
use common::{repo_root, sipp_file, Senim};

/// How one key's RFC 4733 event leaves the caller, before the network.
#[derive(Clone, Copy, Debug)]
enum Event {
    /// All 10 packets in order.
    Whole,
    /// The 7 packets while the key is down; its 3 end packets lost.
    EndLost,
    /// The last 4 of those and the 3 end packets: its start lost.
    StartLost,
    /// All 10, two end packets overtaking the rest, as a reordering path
    /// delivers them.
    Reordered,
}

/// The keys of one call through `tests/dialplans/menu.xml`: 2 (Russian),
/// `*` (repeat the main menu), 9 (not a choice: "invalid", the menu again),
/// 3 (a service: "your choice is recorded", goodbye, Senim hangs up).
const KEYS: [(char, &str, Event); 4] = [
    ('2', "2", Event::Whole),
    ('*', "star", Event::EndLost),
    ('9', "9", Event::StartLost),
    ('3', "3", Event::Reordered),
];

/// Time between the keys (and from the answer to the first): the prompts
/// have begun and the menu's 6 s timeout is far.
const KEY_PAUSE_MS: u64 = 1500;

/// Write `dtmf_2833_{name}.pcap` cut or shuffled as `event` says, its
/// packets 20 ms apart in their new order (SIPp plays a pcap at its
/// recorded times).
fn key_pcap(dir: &Path, name: &str, event: Event) -> PathBuf {
    let bundled = format!("/usr/share/sip-tester/dtmf_2833_{name}.pcap");
    let data = std::fs::read(&bundled).unwrap_or_else(|e| {
        panic!("{bundled}: {e}; SIPp's pcaps come with sip-tester: run scripts/test")
    });
    assert!(
        data.len() > 24 && data[0] == 0xd4,
        "{bundled}: a little-endian pcap"
    );
    let mut records: Vec<&[u8]> = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[off + 8..off + 12].try_into().unwrap()) as usize;
        records.push(&data[off + 16..off + 16 + incl]);
        off += 16 + incl;
    }
    assert_eq!(
        records.len(),
        10,
        "{bundled}: 7 packets, then 3 end packets"
    );
    let order: Vec<usize> = match event {
        Event::Whole => (0..10).collect(),
        Event::EndLost => (0..7).collect(),
        Event::StartLost => (3..10).collect(),
        Event::Reordered => vec![7, 0, 8, 1, 2, 3, 4, 9, 5, 6],
    };
    let mut out = data[..24].to_vec();
    for (i, &r) in order.iter().enumerate() {
        let usec = 100_000 + 20_000 * i as u32;
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&usec.to_le_bytes());
        let len = (records[r].len() as u32).to_le_bytes();
        out.extend_from_slice(&len);
        out.extend_from_slice(&len);
        out.extend_from_slice(records[r]);
    }
    let path = dir.join(format!("dtmf_{name}_{event:?}.pcap"));
    std::fs::write(&path, out).unwrap();
    path
}

/// A SIPp caller scenario: `tests/scenarios/caller_rfc4733.xml` (its
/// INVITE, ACK, and its answer to Senim's BYE) with the keys of [`KEYS`].
fn walk_scenario(dir: &Path) -> PathBuf {
    let base = std::fs::read_to_string(repo_root().join("tests/scenarios/caller_rfc4733.xml"))
        .expect("caller_rfc4733.xml");
    let head_end = base
        .find("  <!-- Listen to the greeting")
        .expect("caller_rfc4733.xml has the greeting marker");
    let tail_start = base
        .find("  <!-- Senim plays goodbye and hangs up. -->")
        .expect("caller_rfc4733.xml has the goodbye marker");
    let mut out = base[..head_end].to_string();
    for (key, name, event) in KEYS {
        let pcap = key_pcap(dir, name, event);
        out.push_str(&format!(
            r#"  <pause milliseconds="{KEY_PAUSE_MS}"/>
  <nop display="press {key} ({event:?})">
    <action>
      <exec play_pcap_audio="{}"/>
    </action>
  </nop>

"#,
            pcap.display()
        ));
    }
    out.push_str(&base[tail_start..]);
    let path = dir.join("walk_rfc4733.xml");
    std::fs::write(&path, out).unwrap();
    path
}

/// Start Senim in `netns` with the test plan, run `calls` SIPp callers
/// (at most 5 at once) walking [`KEYS`] while the caller's side of the
/// namespace's loopback is captured, and check every call's record.
/// Returns the capture and the first of Senim's RTP ports.
async fn calls_walk_the_menu(netns: &Netns, calls: usize) -> (Vec<Packet>, u16) {
    let plan = repo_root().join("tests/dialplans/menu.xml");
    let plan = plan.display().to_string();
    let senim = Senim::start_inside(&netns.prefix(), None, &[("SENIM_DIALPLAN", plan.as_str())]);
    let scenario = walk_scenario(senim.dir.path());
    let capture = Capture::start_inside(&netns.prefix(), senim.dir.path());
    let m = calls.to_string();
    let run = sipp_file(
        &senim,
        &scenario,
        &["-m", &m, "-l", "5", "-r", "2"],
        Duration::from_secs(100),
    );
    let packets = capture.stop();
    assert!(
        run.success,
        "not every call completed:\n{}\n--- senim ---\n{}",
        run.output,
        senim.log()
    );
    let records = senim.ended_calls(calls).await;
    let started: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls")
        .fetch_one(&senim.db().await)
        .await
        .unwrap();
    assert_eq!(
        (records.len(), started),
        (calls, calls as i64),
        "one call per caller, ended: a retransmitted INVITE must not start another"
    );
    let pressed: Vec<(String, String)> = KEYS
        .iter()
        .map(|(k, _, _)| (k.to_string(), "rfc4733".to_string()))
        .collect();
    for call in &records {
        assert_eq!(
            call.digits, pressed,
            "each key once, none missing (keys sent as {:?}); the call's path:\n{:#?}",
            KEYS, call.steps
        );
        assert_eq!(call.language.as_deref(), Some("ru"), "{:#?}", call.steps);
        assert_eq!(
            call.outcome.as_deref(),
            Some("completed"),
            "{:#?}",
            call.steps
        );
        assert_eq!(
            call.hangup_by.as_deref(),
            Some("senim"),
            "{:#?}",
            call.steps
        );
    }
    (packets, senim.rtp_base + 50)
}

/// What one of Senim's RTP streams looked like on arrival.
#[derive(Debug)]
struct Stream {
    #[allow(dead_code)] // read through Debug, in failure messages
    port: u16,
    #[allow(dead_code)] // read through Debug, in failure messages
    ssrc: u32,
    received: usize,
    /// Sequence numbers from the first to the last received.
    span: u32,
    /// Arrivals that came after a later packet of the stream.
    out_of_order: usize,
    /// Time per sequence number on arrival (the least-squares slope of
    /// arrival time over sequence number), in µs: the sender's pacing,
    /// whatever loss, jitter and reordering did to single packets.
    mean_spacing_us: i64,
    /// The longest silence between two arrivals, in ms.
    longest_gap_ms: i64,
}

/// The SSRC of an RTP packet of G.711 audio, or None.
fn g711_ssrc(p: &Packet) -> Option<u32> {
    let rtp = p.payload.get(..12)?;
    (rtp[0] >> 6 == 2 && matches!(rtp[1] & 0x7f, 0 | 8))
        .then(|| u32::from_be_bytes([rtp[8], rtp[9], rtp[10], rtp[11]]))
}

/// Senim's audio to the callers (G.711 from its RTP ports, which start at
/// `first_port`), stream by stream (a port serves one call after another:
/// a stream is a port and an SSRC).
fn streams(packets: &[Packet], first_port: u16) -> Vec<Stream> {
    let mut keys: Vec<(u16, u32)> = packets
        .iter()
        .filter(|p| (first_port..first_port + 50).contains(&p.src_port))
        .filter_map(|p| Some((p.src_port, g711_ssrc(p)?)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|(port, ssrc)| {
            // (arrival µs, sequence unwrapped from the first arrival)
            let mut first_seq = None;
            let arrivals: Vec<(i64, i64)> = packets
                .iter()
                .filter(|p| p.src_port == port && g711_ssrc(p) == Some(ssrc))
                .map(|p| {
                    let seq = u16::from_be_bytes([p.payload[2], p.payload[3]]);
                    let first = *first_seq.get_or_insert(seq);
                    (p.at_us, i64::from(seq.wrapping_sub(first) as i16))
                })
                .collect();
            if arrivals.len() < 2 {
                return None;
            }
            let lo = arrivals.iter().map(|a| a.1).min()?;
            let hi = arrivals.iter().map(|a| a.1).max()?;
            let mut highest = i64::MIN;
            let mut out_of_order = 0;
            for a in &arrivals {
                if a.1 < highest {
                    out_of_order += 1;
                }
                highest = highest.max(a.1);
            }
            let longest_gap_ms = arrivals
                .windows(2)
                .map(|w| (w[1].0 - w[0].0) / 1000)
                .max()
                .unwrap_or(0);
            Some(Stream {
                port,
                ssrc,
                received: arrivals.len(),
                span: u32::try_from(hi - lo + 1).unwrap_or(0),
                out_of_order,
                mean_spacing_us: spacing_us(&arrivals),
                longest_gap_ms,
            })
        })
        .collect()
}

/// The least-squares slope of arrival time (µs) over sequence number.
fn spacing_us(arrivals: &[(i64, i64)]) -> i64 {
    let n = arrivals.len() as f64;
    let mean_t = arrivals.iter().map(|a| a.0 as f64).sum::<f64>() / n;
    let mean_s = arrivals.iter().map(|a| a.1 as f64).sum::<f64>() / n;
    let (mut cov, mut var) = (0.0, 0.0);
    for &(t, s) in arrivals {
        let ds = s as f64 - mean_s;
        cov += ds * (t as f64 - mean_t);
        var += ds * ds;
    }
    if var == 0.0 {
        return 0;
    }
    (cov / var).round() as i64
}

/// Every call's prompt stream kept its 20 ms pacing on average (loosely:
/// speed is for the benchmarks), and never stopped for a second.
fn assert_paced(streams: &[Stream], calls: usize) {
    assert_eq!(
        streams.len(),
        calls,
        "one audio stream from Senim per call: {streams:#?}"
    );
    for s in streams {
        // Senim plays from the ACK on; the keys are timed from the 200 the
        // caller got: a late ACK leaves only the last prompts (3 s or more).
        assert!(s.span > 50, "prompts reached the caller: {s:?}");
        assert!(
            (18_000..=22_000).contains(&s.mean_spacing_us),
            "a packet every 20 ms on average, as sent: {s:?}"
        );
        assert!(
            s.longest_gap_ms < 1000,
            "the prompts never stopped for a second: {s:?}"
        );
    }
}

/// 20% of all packets lost (SIP both ways, the keys, the prompts): ten
/// callers, five at a time, each walk the menu and are hung up on by Senim.
#[tokio::test(flavor = "multi_thread")]
async fn twenty_percent_loss_every_call_completes_each_key_once() {
    let mut netns = Netns::new();
    netns.impair(Impairment {
        loss: 0.2,
        ..Impairment::default()
    });
    let (packets, first_port) = calls_walk_the_menu(&netns, 10).await;
    let streams = streams(&packets, first_port);
    assert_paced(&streams, 10);
    let received: usize = streams.iter().map(|s| s.received).sum();
    let sent: u32 = streams.iter().map(|s| s.span).sum();
    let lost = 1.0 - received as f64 / f64::from(sent);
    eprintln!("prompts' packets lost on arrival: {lost:.3} ({received} of {sent} received)");
    assert!(
        (0.1..=0.3).contains(&lost),
        "the network lost about 20% of the prompts' packets: {lost:.3} ({received} of {sent})"
    );
}

/// 100 ms each way, ±20 ms of jitter and a quarter of the packets reordered:
/// five callers at once walk the menu; the prompts arrive out of order yet
/// paced as sent.
#[tokio::test(flavor = "multi_thread")]
async fn delay_jitter_and_reordering_every_call_completes_each_key_once() {
    let mut netns = Netns::new();
    netns.impair(Impairment {
        delay_ms: 100,
        jitter_ms: 20,
        reorder: 0.25,
        ..Impairment::default()
    });
    let (packets, first_port) = calls_walk_the_menu(&netns, 5).await;
    let streams = streams(&packets, first_port);
    assert_paced(&streams, 5);
    let reordered: usize = streams.iter().map(|s| s.out_of_order).sum();
    eprintln!("prompts' packets out of order on arrival: {reordered}");
    assert!(
        reordered > 0,
        "the network reordered some of the prompts' packets: {streams:#?}"
    );
}
