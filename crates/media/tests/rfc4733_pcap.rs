//! Feed the RTP payloads of SIPp's bundled DTMF pcaps through the receiver.

use senim_media::dtmf::Rfc4733Receiver;
use senim_media::rtp;
use std::path::Path;

/// UDP payloads of a classic little-endian pcap with Ethernet + IPv4 + UDP framing.
fn udp_payloads(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    assert!(data.len() >= 24, "pcap global header");
    assert_eq!(
        &data[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian pcap magic"
    );
    assert_eq!(
        u32::from_le_bytes(data[20..24].try_into().unwrap()),
        1,
        "Ethernet link type"
    );
    let mut off = 24;
    while off + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[off + 8..off + 12].try_into().unwrap()) as usize;
        let frame = &data[off + 16..off + 16 + incl];
        off += 16 + incl;
        if frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
            continue; // not IPv4
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0F) * 4;
        if ip[9] != 17 {
            continue; // not UDP
        }
        let udp = &ip[ihl..];
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        out.push(&udp[8..udp_len.min(udp.len())]);
    }
    out
}

fn digits_in(path: &Path) -> Option<String> {
    let data = std::fs::read(path).ok()?;
    let mut r = Rfc4733Receiver::new();
    let mut got = String::new();
    for pkt in udp_payloads(&data) {
        let (h, payload) = rtp::parse(pkt).expect("valid RTP");
        assert_eq!(h.payload_type, 101);
        if let Some(d) = r.handle(h.timestamp, payload) {
            got.push(d.as_char());
        }
    }
    Some(got)
}

const DIR: &str = "/usr/share/sip-tester";

#[test]
fn sipp_dtmf_1_pcap_gives_one_digit() {
    let path = Path::new(DIR).join("dtmf_2833_1.pcap");
    match digits_in(&path) {
        Some(got) => assert_eq!(got, "1"),
        None => eprintln!(
            "skipped: {} not found (apt install sip-tester)",
            path.display()
        ),
    }
}

#[test]
fn every_sipp_dtmf_pcap() {
    let names = [
        ("0", '0'),
        ("1", '1'),
        ("2", '2'),
        ("3", '3'),
        ("4", '4'),
        ("5", '5'),
        ("6", '6'),
        ("7", '7'),
        ("8", '8'),
        ("9", '9'),
        ("star", '*'),
        ("pound", '#'),
    ];
    for (name, digit) in names {
        let path = Path::new(DIR).join(format!("dtmf_2833_{name}.pcap"));
        match digits_in(&path) {
            Some(got) => assert_eq!(got, digit.to_string(), "{}", path.display()),
            None => eprintln!("skipped: {} not found", path.display()),
        }
    }
}

#[test]
fn sipp_dtmf_pcap_without_start_packets() {
    let Ok(data) = std::fs::read(Path::new(DIR).join("dtmf_2833_5.pcap")) else {
        eprintln!("skipped: sip-tester pcaps not found");
        return;
    };
    let mut r = Rfc4733Receiver::new();
    let mut got = String::new();
    for pkt in udp_payloads(&data) {
        let (h, payload) = rtp::parse(pkt).unwrap();
        if payload.get(1).is_some_and(|f| f & 0x80 != 0) {
            got.extend(r.handle(h.timestamp, payload).map(|d| d.as_char()));
        }
    }
    assert_eq!(got, "5");
}

#[test]
fn sipp_g711a_pcap_parses() {
    let Ok(data) = std::fs::read(Path::new(DIR).join("g711a.pcap")) else {
        eprintln!("skipped: g711a.pcap not found");
        return;
    };
    let mut count = 0;
    let mut detector = senim_media::dtmf::InbandDetector::new();
    for pkt in udp_payloads(&data) {
        let (h, payload) = rtp::parse(pkt).unwrap();
        assert_eq!(h.payload_type, 8);
        assert_eq!(payload.len(), 240, "30 ms packets");
        let mut pcm = [0i16; 240];
        senim_media::g711::Codec::Pcma.decode(payload, &mut pcm);
        assert_eq!(
            detector.push(&pcm),
            None,
            "talk-off on the SIPp audio sample"
        );
        count += 1;
    }
    assert!(count > 10);
}
