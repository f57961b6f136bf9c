use senim_media::g711::Codec;
use senim_media::sdp::{self, Direction, SdpError};
use std::net::{IpAddr, SocketAddr};

const BOTH: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

fn crlf(s: &str) -> String {
    s.lines()
        .map(|l| format!("{}\r\n", l.trim_start()))
        .collect()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const SIPP: &str = "v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";

const SIPP_PCAP: &str = "v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6002 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-11,16
";

const BARESIP: &str = "v=0
o=- 1837328427 3092838925 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 10492 RTP/AVP 0 8 101
b=AS:87
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=label:1
a=ssrc:1234 cname:abc@def
a=rtcp-rsize
a=ptime:20
";

const ASTERISK: &str = "v=0
o=- 1234567 1234569 IN IP4 192.0.2.10
s=Asterisk
c=IN IP4 192.0.2.10
t=0 0
m=audio 12000 RTP/AVP 8 0 3 101
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:3 GSM/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
";

const LINPHONE: &str = "v=0
o=linphone 2156 3456 IN IP4 192.168.1.20
s=Talk
c=IN IP4 192.168.1.20
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=fmtp:97 vbr=on
a=rtpmap:98 speex/8000
a=fmtp:98 vbr=on
a=fmtp:18 annexb=yes
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=rtcp-fb:* trr-int 1000
m=video 9078 RTP/AVP 96
a=rtpmap:96 VP8/90000
";

#[test]
fn sipp_offer() {
    let o = sdp::parse(SIPP).unwrap();
    assert_eq!(o.origin_session_id, 53655765);
    assert_eq!(o.origin_version, 2353687637);
    let n = sdp::negotiate_offer(&o, &BOTH).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(n.remote_rtp, sa("127.0.0.1:6000"));
    assert_eq!(n.telephone_event, None);
    assert_eq!(n.direction, Direction::SendRecv);
    let n = sdp::negotiate_offer(&sdp::parse(SIPP_PCAP).unwrap(), &BOTH).unwrap();
    assert_eq!(n.codec, Codec::Pcma);
    assert_eq!(n.telephone_event, Some(101));
}

#[test]
fn baresip_offer_crlf() {
    let o = sdp::parse(&crlf(BARESIP)).unwrap();
    let m = &o.media[0];
    assert_eq!(m.formats, vec![0, 8, 101]);
    assert_eq!(m.ptime, Some(20));
    assert_eq!(m.rtpmaps.len(), 3);
    let n = sdp::negotiate_offer(&o, &BOTH).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(n.telephone_event, Some(101));
    // Our preference does not reorder: the offer's order wins.
    let n = sdp::negotiate_offer(&o, &[Codec::Pcma, Codec::Pcmu]).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    let n = sdp::negotiate_offer(&o, &[Codec::Pcma]).unwrap();
    assert_eq!(n.codec, Codec::Pcma);
}

#[test]
fn asterisk_offer_prefers_pcma() {
    let o = sdp::parse(ASTERISK).unwrap();
    assert_eq!(o.session_name, "Asterisk");
    let n = sdp::negotiate_offer(&o, &BOTH).unwrap();
    assert_eq!(n.codec, Codec::Pcma);
    assert_eq!(n.remote_rtp, sa("192.0.2.10:12000"));
    assert_eq!(n.telephone_event, Some(101));
}

#[test]
fn linphone_offer_picks_te_8000_and_answers_every_line() {
    let o = sdp::parse(LINPHONE).unwrap();
    assert_eq!(o.media.len(), 2);
    let n = sdp::negotiate_offer(&o, &BOTH).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(n.telephone_event, Some(100));
    let ip: IpAddr = "10.0.0.5".parse().unwrap();
    let answer = sdp::build_answer_to_offer(&o, ip, 20000, 42, 43, &n);
    let a = sdp::parse(&answer).unwrap();
    assert_eq!(a.media.len(), 2);
    assert_eq!(a.media[0].port, 20000);
    assert_eq!(a.media[0].formats, vec![0, 100]);
    assert_eq!(a.media[1].kind, "video");
    assert_eq!(a.media[1].port, 0);
    assert_eq!(a.origin_version, 43);
}

#[test]
fn te_at_96() {
    let text = "v=0\no=- 1 1 IN IP4 10.1.1.1\ns=-\nc=IN IP4 10.1.1.1\nt=0 0\nm=audio 4000 RTP/AVP 8 96\na=rtpmap:96 telephone-event/8000\na=fmtp:96 0-15\n";
    let n = sdp::negotiate_offer(&sdp::parse(text).unwrap(), &BOTH).unwrap();
    assert_eq!((n.codec, n.telephone_event), (Codec::Pcma, Some(96)));
}

#[test]
fn no_common_codec_and_port_zero() {
    let g729 = "v=0\no=- 1 1 IN IP4 10.1.1.1\ns=-\nc=IN IP4 10.1.1.1\nt=0 0\nm=audio 4000 RTP/AVP 18 101\na=rtpmap:18 G729/8000\na=rtpmap:101 telephone-event/8000\n";
    let e = sdp::negotiate_offer(&sdp::parse(g729).unwrap(), &BOTH).unwrap_err();
    assert_eq!(e, SdpError::NoCommonCodec);
    assert_eq!(e.status_code(), 488);
    let port0 = SIPP.replace("m=audio 6000", "m=audio 0");
    assert_eq!(
        sdp::negotiate_offer(&sdp::parse(&port0).unwrap(), &BOTH),
        Err(SdpError::NoCommonCodec)
    );
    let video_only =
        "v=0\no=- 1 1 IN IP4 10.1.1.1\ns=-\nc=IN IP4 10.1.1.1\nt=0 0\nm=video 4000 RTP/AVP 96\n";
    assert_eq!(
        sdp::negotiate_offer(&sdp::parse(video_only).unwrap(), &BOTH),
        Err(SdpError::NoCommonCodec)
    );
    // Static PT 0 remapped to something else is not PCMU.
    let remapped = "v=0\no=- 1 1 IN IP4 10.1.1.1\ns=-\nc=IN IP4 10.1.1.1\nt=0 0\nm=audio 4000 RTP/AVP 0\na=rtpmap:0 opus/48000/2\n";
    assert_eq!(
        sdp::negotiate_offer(&sdp::parse(remapped).unwrap(), &BOTH),
        Err(SdpError::NoCommonCodec)
    );
    let srtp = SIPP.replace("RTP/AVP", "RTP/SAVP");
    let e = sdp::negotiate_offer(&sdp::parse(&srtp).unwrap(), &BOTH).unwrap_err();
    assert_eq!(e, SdpError::UnsupportedTransport("RTP/SAVP".into()));
    assert_eq!(e.status_code(), 488);
}

#[test]
fn session_vs_media_connection_and_ipv6() {
    let text = "v=0\no=- 1 1 IN IP4 10.1.1.1\ns=-\nc=IN IP4 10.1.1.1\nt=0 0\nm=audio 4000 RTP/AVP 0\nc=IN IP4 10.2.2.2\n";
    let n = sdp::negotiate_offer(&sdp::parse(text).unwrap(), &BOTH).unwrap();
    assert_eq!(n.remote_rtp, sa("10.2.2.2:4000"));
    let text = "v=0\no=- 1 1 IN IP6 2001:db8::1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 8\nc=IN IP6 2001:db8::2\n";
    let n = sdp::negotiate_offer(&sdp::parse(text).unwrap(), &BOTH).unwrap();
    assert_eq!(n.remote_rtp, sa("[2001:db8::2]:4000"));
    let ip: IpAddr = "2001:db8::9".parse().unwrap();
    let ans = sdp::build_answer(ip, 30000, 7, &n);
    assert!(ans.contains("o=senim 7 7 IN IP6 2001:db8::9\r\n"), "{ans}");
    assert!(ans.contains("c=IN IP6 2001:db8::9\r\n"));
    let no_c = "v=0\no=- 1 1 IN IP4 10.1.1.1\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n";
    assert_eq!(
        sdp::negotiate_offer(&sdp::parse(no_c).unwrap(), &BOTH),
        Err(SdpError::MissingConnection)
    );
}

#[test]
fn directions() {
    let with = |attr: &str| {
        let t = format!("{SIPP}a={attr}\n");
        sdp::negotiate_offer(&sdp::parse(&t).unwrap(), &BOTH)
            .unwrap()
            .direction
    };
    assert_eq!(with("sendonly"), Direction::RecvOnly);
    assert_eq!(with("recvonly"), Direction::SendOnly);
    assert_eq!(with("inactive"), Direction::Inactive);
    assert_eq!(with("sendrecv"), Direction::SendRecv);
    // Session-level attribute applies to media without one.
    let t = SIPP.replace("t=0 0\n", "t=0 0\na=sendonly\n");
    let o = sdp::parse(&t).unwrap();
    assert_eq!(o.media[0].direction, Direction::SendOnly);
    // Old-style hold.
    let t = SIPP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
    let n = sdp::negotiate_offer(&sdp::parse(&t).unwrap(), &BOTH).unwrap();
    assert_eq!(n.direction, Direction::RecvOnly);
}

#[test]
fn answer_and_offer_text() {
    let o = sdp::parse(ASTERISK).unwrap();
    let n = sdp::negotiate_offer(&o, &BOTH).unwrap();
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    let a = sdp::build_answer(ip, 40000, 99, &n);
    assert_eq!(
        a,
        "v=0\r\no=senim 99 99 IN IP4 192.0.2.1\r\ns=senim\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
         m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    let offer = sdp::build_offer(ip, 40002, 5, &BOTH);
    assert!(offer.contains("m=audio 40002 RTP/AVP 0 8 101\r\n"));
    let parsed = sdp::parse(&offer).unwrap();
    assert_eq!(parsed.media[0].telephone_event(), Some(101));
    assert_eq!(parsed.media[0].direction, Direction::SendRecv);
    // Late offer: Senim offers, the UAC answers.
    let answer = "v=0\no=- 3 4 IN IP4 198.51.100.7\ns=-\nc=IN IP4 198.51.100.7\nt=0 0\nm=audio 5004 RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=recvonly\n";
    let n = sdp::negotiate_answer(&sdp::parse(answer).unwrap(), &BOTH).unwrap();
    assert_eq!(n.codec, Codec::Pcma);
    assert_eq!(n.remote_rtp, sa("198.51.100.7:5004"));
    assert_eq!(n.telephone_event, Some(101));
    assert_eq!(n.direction, Direction::SendOnly);
    // An answer picking a codec we did not offer is unusable.
    assert_eq!(
        sdp::negotiate_answer(&sdp::parse(answer).unwrap(), &[Codec::Pcmu]),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn garbage_is_an_error_with_line() {
    assert_eq!(sdp::parse(""), Err(SdpError::MissingVersion));
    assert_eq!(sdp::parse("v=1\n"), Err(SdpError::MissingVersion));
    let err = |t: &str| match sdp::parse(t) {
        Err(SdpError::Syntax { line, .. }) => line,
        other => panic!("{t:?}: {other:?}"),
    };
    assert_eq!(err("hello"), 1);
    assert_eq!(err("v=0\no=x\n"), 2);
    assert_eq!(
        err("v=0\no=- 1 1 IN IP4 1.1.1.1\ns=-\nc=IN IP4 not-an-ip\n"),
        4
    );
    assert_eq!(err("v=0\r\ns=-\r\nm=audio 99999 RTP/AVP 0\r\n"), 3);
    assert_eq!(err("v=0\ns=-\nm=audio 4000 RTP/AVP 200\n"), 3);
    assert_eq!(err("v=0\ns=-\nthis is not sdp\n"), 3);
    assert_eq!(err("v=0\nc=IN IP4 ::1\n"), 2);
    assert!(sdp::parse(&"v=0\n".repeat(40_000)).is_err());
    // Unknown lines and attributes are ignored.
    let t = format!("{SIPP}x=whatever\na=foo:bar\nb=AS:64\n");
    assert!(sdp::parse(&t).is_ok());
}

// --- SRTP with SDES keys (RFC 4568) -----------------------------------------

use senim_media::sdp::SrtpPolicy;
use senim_media::srtp::{MasterKey, Suite};

/// baresip with `mediaenc=srtp-mand`: RTP/SAVP and one key per suite.
const BARESIP_SAVP: &str = "v=0
o=- 1 2 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 10492 RTP/SAVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR
a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIz
";

fn ours() -> MasterKey {
    MasterKey::new([7; 16], [8; 14])
}

#[test]
fn crypto_lines_are_parsed_and_rfc_4568_keys_read() {
    let o = sdp::parse(BARESIP_SAVP).unwrap();
    let m = &o.media[0];
    assert!(m.is_rtp_savp() && !m.is_rtp_avp());
    assert_eq!(m.crypto.len(), 2);
    assert_eq!(m.crypto[0].tag, 1);
    assert_eq!(m.crypto[1].suite, "AES_CM_128_HMAC_SHA1_80");
    // RFC 4568 §4's example key, with a lifetime and an MKI.
    let c = sdp::CryptoAttribute::parse(
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4",
    )
    .unwrap();
    let k = c.usable().unwrap();
    assert_eq!(k.suite, Suite::AesCm128HmacSha1_80);
    assert_eq!(&k.key.to_bytes()[..4], b"=-n@");
    assert_eq!(k.options.lifetime, Some(1 << 20));
    assert_eq!(k.options.mki, vec![0, 0, 0, 1]);
    let unusable = [
        // Unknown suites and suites Senim does not do.
        "1 AES_256_CM_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
        "1 aes_cm_128_hmac_sha1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
        // Protection turned off, a key derivation rate, unknown parameters.
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNENCRYPTED_SRTP",
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNAUTHENTICATED_SRTP",
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR KDR=20",
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR FEC_ORDER=FEC_SRTP",
        // Two keys (MKI selection), a short key, bad base64, a lifetime past 2^48.
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:1;inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIz|2:1",
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhc",
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaV!!",
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^49",
        "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|256:1",
        "1 AES_CM_128_HMAC_SHA1_80 key:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
    ];
    for line in unusable {
        assert!(
            sdp::CryptoAttribute::parse(line)
                .and_then(|c| c.usable())
                .is_none(),
            "{line}"
        );
    }
    assert!(sdp::CryptoAttribute::parse("x AES_CM_128_HMAC_SHA1_80 inline:a").is_none());
    let c = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR WSH=64 UNENCRYPTED_SRTCP";
    assert!(sdp::CryptoAttribute::parse(c).unwrap().usable().is_some());
}

#[test]
fn an_srtp_offer_over_secure_signalling_is_answered_with_our_key() {
    let o = sdp::parse(BARESIP_SAVP).unwrap();
    let n = sdp::negotiate_offer_with(&o, &BOTH, &SrtpPolicy::Allow(ours())).unwrap();
    let s = n.srtp.as_ref().expect("SRTP agreed");
    // The offer's first usable line, in its order of preference.
    assert_eq!(s.tag, 1);
    assert_eq!(s.suite, Suite::AesCm128HmacSha1_32);
    assert!(s.savp);
    assert_eq!(s.local, ours());
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let answer = sdp::build_answer_to_offer(&o, ip, 20000, 1, 1, &n);
    assert!(
        answer.contains("m=audio 20000 RTP/SAVP 0 101\r\n"),
        "{answer}"
    );
    let a = sdp::parse(&answer).unwrap();
    assert_eq!(
        a.media[0].crypto.len(),
        1,
        "one crypto line: the accepted tag"
    );
    let key = a.media[0].crypto[0].usable().unwrap();
    assert_eq!(a.media[0].crypto[0].tag, 1);
    assert_eq!(key.suite, Suite::AesCm128HmacSha1_32);
    assert_eq!(key.key, ours(), "Senim's own key, not the offer's");
    // The same offer under `Require` is taken too.
    let r = sdp::negotiate_offer_with(&o, &BOTH, &SrtpPolicy::Require(ours())).unwrap();
    assert_eq!(r.srtp, n.srtp);
}

#[test]
fn srtp_offers_without_secure_signalling_or_usable_keys_are_refused() {
    let o = sdp::parse(BARESIP_SAVP).unwrap();
    // Keys in clear text over UDP or TCP: refused (488).
    let e = sdp::negotiate_offer_with(&o, &BOTH, &SrtpPolicy::Off).unwrap_err();
    assert_eq!(e, SdpError::UnsupportedTransport("RTP/SAVP".into()));
    assert_eq!(e.status_code(), 488);
    // No crypto line Senim can do.
    let only_256 = BARESIP_SAVP
        .replace("AES_CM_128_HMAC_SHA1_32", "AES_256_CM_HMAC_SHA1_32")
        .replace("AES_CM_128_HMAC_SHA1_80", "F8_128_HMAC_SHA1_80");
    let e = sdp::negotiate_offer_with(
        &sdp::parse(&only_256).unwrap(),
        &BOTH,
        &SrtpPolicy::Allow(ours()),
    )
    .unwrap_err();
    assert_eq!(e, SdpError::NoUsableCrypto);
    assert_eq!(e.status_code(), 488);
    // An unusable first line is passed over for the next.
    let first_bad = BARESIP_SAVP.replace("AES_CM_128_HMAC_SHA1_32", "AES_256_CM_HMAC_SHA1_32");
    let n = sdp::negotiate_offer_with(
        &sdp::parse(&first_bad).unwrap(),
        &BOTH,
        &SrtpPolicy::Allow(ours()),
    )
    .unwrap();
    assert_eq!(
        n.srtp.map(|s| (s.tag, s.suite)),
        Some((2, Suite::AesCm128HmacSha1_80))
    );
}

#[test]
fn plain_offers_follow_the_policy() {
    let o = sdp::parse(BARESIP).unwrap();
    let n = sdp::negotiate_offer_with(&o, &BOTH, &SrtpPolicy::Allow(ours())).unwrap();
    assert!(n.srtp.is_none(), "plain RTP where SRTP is only allowed");
    let e = sdp::negotiate_offer_with(&o, &BOTH, &SrtpPolicy::Require(ours())).unwrap_err();
    assert_eq!(e, SdpError::SrtpRequired);
    assert_eq!(e.status_code(), 488);
    // "Best effort" SRTP: RTP/AVP with a=crypto, answered in kind over TLS,
    // plain over UDP.
    let best_effort = BARESIP_SAVP.replace("RTP/SAVP", "RTP/AVP");
    let o = sdp::parse(&best_effort).unwrap();
    let n = sdp::negotiate_offer_with(&o, &BOTH, &SrtpPolicy::Require(ours())).unwrap();
    assert!(n.srtp.as_ref().is_some_and(|s| !s.savp));
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let answer = sdp::build_answer_to_offer(&o, ip, 20000, 1, 1, &n);
    assert!(
        answer.contains("m=audio 20000 RTP/AVP 0 101\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:"),
        "{answer}"
    );
    let n = sdp::negotiate_offer_with(&o, &BOTH, &SrtpPolicy::Off).unwrap();
    assert!(n.srtp.is_none());
    assert!(!sdp::build_answer_to_offer(&o, ip, 20000, 1, 1, &n).contains("a=crypto"));
}

#[test]
fn an_srtp_line_wins_over_a_plain_one_and_the_other_is_rejected() {
    let text = "v=0
o=- 1 2 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 4000 RTP/AVP 0
m=audio 4002 RTP/SAVP 0
a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIz
";
    let o = sdp::parse(text).unwrap();
    let n = sdp::negotiate_offer_with(&o, &BOTH, &SrtpPolicy::Allow(ours())).unwrap();
    assert_eq!((n.index, n.remote_rtp.port()), (1, 4002));
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let answer = sdp::build_answer_to_offer(&o, ip, 20000, 1, 1, &n);
    assert!(
        answer.contains("m=audio 0 RTP/AVP 0\r\nm=audio 20000 RTP/SAVP 0\r\n"),
        "{answer}"
    );
    assert!(answer.contains("a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:"));
    // Over UDP the plain line is taken.
    let n = sdp::negotiate_offer_with(&o, &BOTH, &SrtpPolicy::Off).unwrap();
    assert_eq!((n.index, n.srtp), (0, None));
}

#[test]
fn senims_srtp_offer_and_the_answer_to_it() {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let offer = sdp::build_offer_srtp(ip, 20000, 9, 9, &BOTH, &ours());
    assert!(
        offer.contains("m=audio 20000 RTP/SAVP 0 8 101\r\n"),
        "{offer}"
    );
    let parsed = sdp::parse(&offer).unwrap();
    assert_eq!(parsed.media[0].crypto[0].tag, sdp::OFFER_CRYPTO_TAG);
    assert_eq!(parsed.media[0].crypto[0].usable().unwrap().key, ours());
    let theirs = MasterKey::new([1; 16], [2; 14]);
    let answer = sdp::build_offer_srtp(ip, 30000, 3, 3, &[Codec::Pcma], &theirs);
    let n = sdp::negotiate_answer_with(
        &sdp::parse(&answer).unwrap(),
        &BOTH,
        &SrtpPolicy::Require(ours()),
    )
    .unwrap();
    let s = n.srtp.unwrap();
    assert_eq!((s.remote, s.local), (theirs, ours()));
    // An answer that accepts a tag Senim did not offer is no answer.
    let wrong_tag = answer.replace("a=crypto:1 ", "a=crypto:2 ");
    assert_eq!(
        sdp::negotiate_answer_with(
            &sdp::parse(&wrong_tag).unwrap(),
            &BOTH,
            &SrtpPolicy::Require(ours())
        ),
        Err(SdpError::NoUsableCrypto)
    );
}

/// RFC 4475's messages offer `a=rtpmap:31 LPC` (no clock rate) for a video
/// stream: the offer is still read, and its audio is answered.
#[test]
fn an_rtpmap_without_clock_rate_does_not_fail_the_offer() {
    let rfc4475 = crlf(
        "v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
",
    );
    let offer = sdp::parse(&rfc4475).expect("the offer reads");
    assert_eq!(offer.media[1].rtpmap(31).map(|m| m.clock_rate), Some(None));
    let n = sdp::negotiate_offer(&offer, &[Codec::Pcmu, Codec::Pcma]).expect("PCMU");
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(n.remote_rtp, sa("192.0.2.1:49217"));

    // A payload type whose rtpmap cannot be read is not used, even a static
    // one: what the offerer meant by it is unknown.
    let odd = sdp::parse("v=0\ns=-\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0 8\na=rtpmap:0 PCMU\na=rtpmap:8 PCMA/8000/x\n")
        .expect("reads");
    assert_eq!(
        sdp::negotiate_offer(&odd, &[Codec::Pcmu, Codec::Pcma]),
        Err(SdpError::NoCommonCodec)
    );
    // One that does not even name a payload type is ignored.
    let junk =
        sdp::parse("v=0\ns=-\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 8\na=rtpmap:x\na=rtpmap:\n")
            .expect("reads");
    assert!(junk.media[0].rtpmaps.is_empty());
    assert_eq!(
        sdp::negotiate_offer(&junk, &[Codec::Pcma]).map(|n| n.codec),
        Ok(Codec::Pcma)
    );
}
