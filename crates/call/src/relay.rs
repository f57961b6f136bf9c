//! Media between the two sides of a bridge, and where a URI's requests go.

use std::net::SocketAddr;

use senim_media::g711::Codec;
use senim_media::rtp;
use senim_sip::message::Peer;

/// Relay one RTP packet from one side of a bridge to the other: the audio
/// payload is transcoded when the two sides chose different G.711 laws,
/// telephone-events get the other side's payload type (or are dropped when
/// that side has none). Returns the packet to send, or None to drop it.
pub fn relay_packet(
    data: &[u8],
    from_codec: Codec,
    from_te: Option<u8>,
    to_codec: Codec,
    to_te: Option<u8>,
) -> Option<Vec<u8>> {
    let mut out = data.to_vec();
    relay_in_place(&mut out, from_codec, from_te, to_codec, to_te).then_some(out)
}

/// [`relay_packet`] on a packet already where it is to be sent from (the
/// media engine's send buffer): rewritten in place, the same length; false
/// to drop it.
pub fn relay_in_place(
    packet: &mut [u8],
    from_codec: Codec,
    from_te: Option<u8>,
    to_codec: Codec,
    to_te: Option<u8>,
) -> bool {
    let Ok((header, payload)) = rtp::parse(packet) else {
        return false;
    };
    let Some(header_len) = (payload.as_ptr() as usize).checked_sub(packet.as_ptr() as usize) else {
        return false;
    };
    let payload_len = payload.len();
    let payload_type = header.payload_type;
    let Some(second) = packet.get_mut(1) else {
        return false;
    };
    let marker = *second & 0x80;
    if Some(payload_type) == from_te {
        let Some(te) = to_te else {
            return false;
        };
        *second = marker | (te & 0x7f);
        return true;
    }
    if Codec::from_payload_type(payload_type) != Some(from_codec) {
        return false;
    }
    *second = marker | (to_codec.payload_type() & 0x7f);
    if from_codec != to_codec {
        let Some(body) = header_len
            .checked_add(payload_len)
            .and_then(|end| packet.get_mut(header_len..end))
        else {
            return false;
        };
        let mut pcm = [0i16; 1];
        for byte in body.iter_mut() {
            from_codec.decode(std::slice::from_ref(byte), &mut pcm);
            let mut enc = [0u8; 1];
            to_codec.encode(&pcm, &mut enc);
            *byte = enc[0];
        }
    }
    true
}

/// Where to send a leg's INVITE for a URI: its host must be an IP literal
/// (Senim does not resolve names for outbound legs; configure addresses).
/// Only UDP: a `sips:` URI or a `transport` other than UDP gives `None`,
/// since Senim opens TCP and TLS connections only to trunks (a registered
/// softphone is reached on its own connection, its binding's source).
pub fn peer_of_uri(uri: &rsip::Uri) -> Option<Peer> {
    if uri.scheme == Some(rsip::Scheme::Sips) {
        return None;
    }
    let ip: std::net::IpAddr = match &uri.host_with_port.host {
        rsip::Host::IpAddr(ip) => *ip,
        rsip::Host::Domain(d) => d.to_string().trim_matches(['[', ']']).parse().ok()?,
    };
    let port = uri.host_with_port.port.map_or(5060, |p| *p.value());
    let stream = uri.params.iter().any(
        |p| matches!(p, rsip::Param::Transport(t) if !t.to_string().eq_ignore_ascii_case("udp")),
    );
    if stream {
        return None;
    }
    Some(Peer::udp(SocketAddr::new(ip, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_udp_uris_are_dialled_directly() {
        let peer = |text: &str| peer_of_uri(&senim_sip::message::parse_uri(text).unwrap());
        assert_eq!(
            peer("sip:crisis@192.0.2.7:5070"),
            Some(Peer::udp("192.0.2.7:5070".parse().unwrap()))
        );
        assert!(peer("sip:crisis@192.0.2.7;transport=udp").is_some());
        assert_eq!(peer("sip:crisis@192.0.2.7;transport=tcp"), None);
        assert_eq!(peer("sip:crisis@192.0.2.7;transport=tls"), None);
        assert_eq!(peer("sips:crisis@192.0.2.7"), None);
        assert_eq!(peer("sip:crisis@pbx.example"), None);
    }

    fn packet(pt: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn same_codec_is_relayed_unchanged() {
        let p = packet(0, &[0xff; 160]);
        let out = relay_packet(&p, Codec::Pcmu, Some(101), Codec::Pcmu, Some(101)).unwrap();
        assert_eq!(out, p);
    }

    #[test]
    fn law_is_converted_and_payload_type_rewritten() {
        let p = packet(0, &[0xff; 160]);
        let out = relay_packet(&p, Codec::Pcmu, None, Codec::Pcma, None).unwrap();
        assert_eq!(out[1] & 0x7f, 8);
        assert_eq!(out.len(), p.len());
        // μ-law silence becomes A-law silence.
        assert!(out[12..].iter().all(|b| *b == Codec::Pcma.silence_byte()));
    }

    #[test]
    fn telephone_events_follow_the_other_sides_payload_type() {
        let mut p = packet(101, &[1, 0x0a, 0, 160]);
        p[1] |= 0x80;
        let out = relay_packet(&p, Codec::Pcmu, Some(101), Codec::Pcmu, Some(96)).unwrap();
        assert_eq!(out[1], 0x80 | 96, "marker kept, payload type changed");
        assert!(relay_packet(&p, Codec::Pcmu, Some(101), Codec::Pcmu, None).is_none());
    }

    #[test]
    fn garbage_and_unknown_payload_types_are_dropped() {
        assert!(relay_packet(&[1, 2, 3], Codec::Pcmu, None, Codec::Pcmu, None).is_none());
        let p = packet(18, &[0; 20]);
        assert!(relay_packet(&p, Codec::Pcmu, None, Codec::Pcmu, None).is_none());
    }
}
