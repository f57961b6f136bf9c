//! RTP (RFC 3550): parsing received packets and writing sent ones, without allocation.

use thiserror::Error;

/// Length of the fixed RTP header (no CSRCs, no extension).
pub const HEADER_LEN: usize = 12;

/// Why a datagram is not a usable RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    #[error("packet too short for an RTP header ({0} bytes)")]
    TooShort(usize),
    /// The version field is not 2.
    #[error("RTP version {0} is not 2")]
    BadVersion(u8),
    /// An RTCP packet (SR, RR, SDES, BYE, APP: PT 200-204) multiplexed on the RTP port.
    #[error("RTCP packet type {0} on the RTP stream")]
    Rtcp(u8),
    /// The CSRC list runs past the end of the packet.
    #[error("CSRC list ({0} entries) runs past the end of the packet")]
    TruncatedCsrc(u8),
    /// The header extension runs past the end of the packet.
    #[error("header extension runs past the end of the packet")]
    TruncatedExtension,
    /// The padding count is zero or larger than the payload.
    #[error("invalid padding length {0}")]
    BadPadding(u8),
}

impl RtpError {
    /// True when the datagram was RTCP rather than a broken RTP packet.
    pub fn is_rtcp(self) -> bool {
        matches!(self, RtpError::Rtcp(_))
    }
}

/// The fields of an RTP header that Senim uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit (start of a talkspurt, or start of a DTMF event).
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp, in clock-rate units (8000 Hz for G.711 and telephone-event).
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Write the 12-byte fixed header (version 2, no padding, extension or CSRC) into
    /// `out`. Returns 12, or 0 when `out` is shorter than 12 bytes.
    pub fn write(&self, out: &mut [u8]) -> usize {
        let Some(h) = out.get_mut(..HEADER_LEN) else {
            return 0;
        };
        h[0] = 0x80;
        h[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        h[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        h[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        h[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        HEADER_LEN
    }
}

/// Parse an RTP packet: version 2, CSRC list, header extension and padding are handled.
/// Returns the header and the payload slice (without padding).
///
/// RTCP multiplexed on the same port (RFC 5761: second byte 200-204, i.e. 72..=76
/// after masking the marker bit) is reported as [`RtpError::Rtcp`].
pub fn parse(packet: &[u8]) -> Result<(RtpHeader, &[u8]), RtpError> {
    if packet.len() < HEADER_LEN {
        return Err(RtpError::TooShort(packet.len()));
    }
    let b0 = packet[0];
    let b1 = packet[1];
    let version = b0 >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    if (200..=204).contains(&b1) {
        return Err(RtpError::Rtcp(b1));
    }
    let has_padding = b0 & 0x20 != 0;
    let has_extension = b0 & 0x10 != 0;
    let csrc_count = b0 & 0x0F;
    let mut offset = HEADER_LEN + 4 * usize::from(csrc_count);
    if offset > packet.len() {
        return Err(RtpError::TruncatedCsrc(csrc_count));
    }
    if has_extension {
        let ext = packet
            .get(offset..offset + 4)
            .ok_or(RtpError::TruncatedExtension)?;
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        offset += 4 + 4 * words;
        if offset > packet.len() {
            return Err(RtpError::TruncatedExtension);
        }
    }
    let mut end = packet.len();
    if has_padding {
        let pad = packet[end - 1];
        if pad == 0 || usize::from(pad) > end - offset {
            return Err(RtpError::BadPadding(pad));
        }
        end -= usize::from(pad);
    }
    let header = RtpHeader {
        marker: b1 & 0x80 != 0,
        payload_type: b1 & 0x7F,
        sequence: u16::from_be_bytes([packet[2], packet[3]]),
        timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
    };
    Ok((header, &packet[offset..end]))
}

/// Sending side of one RTP stream: SSRC, sequence number and timestamp.
///
/// Timestamps advance by the number of samples sent (160 per 20 ms G.711 frame),
/// never from the clock.
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    marker_pending: bool,
}

impl RtpSender {
    /// A new stream; the first packet carries the marker bit.
    pub fn new(ssrc: u32, first_sequence: u16, first_timestamp: u32) -> Self {
        RtpSender {
            ssrc,
            sequence: first_sequence,
            timestamp: first_timestamp,
            marker_pending: true,
        }
    }

    /// Write header + payload into `out` and return the packet length; then the
    /// sequence number advances by one and the timestamp by `samples`.
    /// The marker bit is set on the first packet and on the first after
    /// [`mark_talkspurt`](Self::mark_talkspurt).
    ///
    /// Returns 0 and changes nothing when `out` cannot hold 12 + `payload.len()` bytes.
    pub fn write_packet(
        &mut self,
        payload_type: u8,
        payload: &[u8],
        samples: u32,
        out: &mut [u8],
    ) -> usize {
        self.write_packet_with_timestamp(payload_type, payload, self.timestamp, samples, out)
    }

    /// Like [`write_packet`](Self::write_packet), but with an explicit timestamp in the
    /// header (e.g. all packets of one RFC 4733 event carry the event's start
    /// timestamp). The stream's timestamp still advances by `samples`.
    pub fn write_packet_with_timestamp(
        &mut self,
        payload_type: u8,
        payload: &[u8],
        timestamp: u32,
        samples: u32,
        out: &mut [u8],
    ) -> usize {
        let len = HEADER_LEN + payload.len();
        let Some(buf) = out.get_mut(..len) else {
            return 0;
        };
        let header = RtpHeader {
            marker: self.marker_pending,
            payload_type,
            sequence: self.sequence,
            timestamp,
            ssrc: self.ssrc,
        };
        header.write(buf);
        buf[HEADER_LEN..].copy_from_slice(payload);
        self.marker_pending = false;
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
        len
    }

    /// Set the marker bit on the next packet (start of a new talkspurt).
    pub fn mark_talkspurt(&mut self) {
        self.marker_pending = true;
    }

    /// Skip time without sending: timestamp += `samples`, sequence unchanged.
    pub fn advance(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The sequence number the next packet will carry.
    pub fn sequence(&self) -> u16 {
        self.sequence
    }

    /// The timestamp the next packet will carry.
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_parse() {
        let mut s = RtpSender::new(0xDEADBEEF, 65534, 4_294_967_200);
        let payload = [0xFFu8; 160];
        let mut buf = [0u8; 200];
        let n = s.write_packet(0, &payload, 160, &mut buf);
        assert_eq!(n, 172);
        let (h, p) = parse(&buf[..n]).unwrap();
        assert_eq!(
            h,
            RtpHeader {
                marker: true,
                payload_type: 0,
                sequence: 65534,
                timestamp: 4_294_967_200,
                ssrc: 0xDEADBEEF
            }
        );
        assert_eq!(p, &payload[..]);
        let n = s.write_packet(8, &payload, 160, &mut buf);
        let (h, _) = parse(&buf[..n]).unwrap();
        assert!(!h.marker);
        assert_eq!(h.payload_type, 8);
        assert_eq!(h.sequence, 65535);
        assert_eq!(h.timestamp, 4_294_967_200u32.wrapping_add(160));
        let n = s.write_packet(0, &payload, 160, &mut buf);
        let (h, _) = parse(&buf[..n]).unwrap();
        assert_eq!(h.sequence, 0, "sequence wraps");
        assert_eq!(
            h.timestamp,
            4_294_967_200u32.wrapping_add(320),
            "timestamp wraps"
        );
        assert_eq!(s.sequence(), 1);
        assert_eq!(s.ssrc(), 0xDEADBEEF);
    }

    #[test]
    fn talkspurt_and_advance() {
        let mut s = RtpSender::new(1, 10, 1000);
        let mut buf = [0u8; 64];
        s.write_packet(0, &[1, 2], 160, &mut buf);
        s.advance(1600);
        assert_eq!(s.sequence(), 11);
        assert_eq!(s.timestamp(), 1000 + 160 + 1600);
        s.mark_talkspurt();
        let n = s.write_packet(0, &[1, 2], 160, &mut buf);
        let (h, _) = parse(&buf[..n]).unwrap();
        assert!(h.marker);
        assert_eq!(h.timestamp, 2760);
        assert_eq!(h.sequence, 11);
        // Too small a buffer: nothing written, state unchanged.
        assert_eq!(s.write_packet(0, &[0; 160], 160, &mut buf), 0);
        assert_eq!(s.sequence(), 12);
    }

    #[test]
    fn csrc_extension_padding() {
        let mut p = vec![0xB2u8, 0x80 | 101, 0, 5, 0, 0, 0, 9, 0, 0, 0, 7];
        p.extend_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2]); // 2 CSRCs
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // extension, 1 word
        p.extend_from_slice(&[1, 0x8A, 0, 160]); // payload
        p.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let (h, payload) = parse(&p).unwrap();
        assert!(h.marker);
        assert_eq!(h.payload_type, 101);
        assert_eq!(h.sequence, 5);
        assert_eq!(h.timestamp, 9);
        assert_eq!(h.ssrc, 7);
        assert_eq!(payload, &[1, 0x8A, 0, 160]);
    }

    #[test]
    fn malformed() {
        assert_eq!(parse(&[]), Err(RtpError::TooShort(0)));
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::TooShort(11)));
        let mut p = [0u8; 12];
        p[0] = 0x40;
        assert_eq!(parse(&p), Err(RtpError::BadVersion(1)));
        p[0] = 0x81;
        assert_eq!(parse(&p), Err(RtpError::TruncatedCsrc(1)));
        p[0] = 0x90;
        assert_eq!(parse(&p), Err(RtpError::TruncatedExtension));
        let mut e = [0u8; 16];
        e[0] = 0x90;
        e[15] = 2; // extension claims 2 words, none present
        assert_eq!(parse(&e), Err(RtpError::TruncatedExtension));
        let mut pad = [0u8; 14];
        pad[0] = 0xA0;
        pad[13] = 0;
        assert_eq!(parse(&pad), Err(RtpError::BadPadding(0)));
        pad[13] = 3;
        assert_eq!(parse(&pad), Err(RtpError::BadPadding(3)));
        pad[13] = 2;
        assert_eq!(parse(&pad).unwrap().1, &[] as &[u8]);
        // RTCP receiver report (PT 201) multiplexed on the RTP port.
        let rr = [0x81u8, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let err = parse(&rr).unwrap_err();
        assert_eq!(err, RtpError::Rtcp(201));
        assert!(err.is_rtcp());
        // A legitimate RTP packet with marker and PT 72 is indistinguishable from RTCP
        // SR; RFC 5761 forbids PT 64-95 on muxed sessions. PT 77 is fine.
        let ok = [0x80u8, 0x80 | 77, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(parse(&ok).is_ok());
    }
}
