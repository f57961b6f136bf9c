//! ITU-T G.711 mu-law (PCMU) and A-law (PCMA), bit-exact with the reference
//! `g711.c` (Sun Microsystems, public domain) on 16-bit linear samples.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;
const SEG_END: [i32; 8] = [0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF];

/// G.711 frame length used by Senim: 20 ms at 8 kHz.
pub const SAMPLES_PER_FRAME: usize = 160;

fn segment(value: i32) -> usize {
    SEG_END.iter().position(|&end| value <= end).unwrap_or(8)
}

/// Encode one 16-bit linear sample as mu-law.
pub fn ulaw_encode(s: i16) -> u8 {
    let mut pcm = i32::from(s);
    let mask: u8 = if pcm < 0 {
        pcm = -pcm;
        0x7F
    } else {
        0xFF
    };
    if pcm > CLIP {
        pcm = CLIP;
    }
    pcm += BIAS;
    let seg = segment(pcm);
    if seg >= 8 {
        0x7F ^ mask
    } else {
        let uval = ((seg as i32) << 4) | ((pcm >> (seg + 3)) & 0x0F);
        (uval as u8) ^ mask
    }
}

/// Decode one mu-law byte to a 16-bit linear sample.
pub fn ulaw_decode(b: u8) -> i16 {
    let u = !b;
    let mut t = ((i32::from(u) & 0x0F) << 3) + BIAS;
    t <<= (u & 0x70) >> 4;
    if u & 0x80 != 0 {
        (BIAS - t) as i16
    } else {
        (t - BIAS) as i16
    }
}

/// Encode one 16-bit linear sample as A-law.
pub fn alaw_encode(s: i16) -> u8 {
    // The reference works on 13-bit magnitudes.
    let mut pcm = i32::from(s) >> 3;
    let mask: u8 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = SEG_AEND.iter().position(|&end| pcm <= end).unwrap_or(8);
    if seg >= 8 {
        0x7F ^ mask
    } else {
        let mut aval = (seg as i32) << 4;
        if seg < 2 {
            aval |= (pcm >> 1) & 0x0F;
        } else {
            aval |= (pcm >> seg) & 0x0F;
        }
        (aval as u8) ^ mask
    }
}

const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Decode one A-law byte to a 16-bit linear sample.
pub fn alaw_decode(b: u8) -> i16 {
    let a = b ^ 0x55;
    let mut t = (i32::from(a) & 0x0F) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        (-t) as i16
    }
}

/// A G.711 codec as negotiated in SDP (RFC 3551 static payload types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 mu-law, payload type 0.
    Pcmu,
    /// G.711 A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// Both codecs, in Senim's default preference order.
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    /// The static RTP payload type: 0 for PCMU, 8 for PCMA.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The SDP encoding name: "PCMU" or "PCMA".
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The codec for a static payload type (0 or 8).
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The codec for an SDP encoding name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }

    /// Encode `pcm` into `out`, one byte per sample. Only `min(pcm.len(), out.len())`
    /// samples are encoded; the rest of `out` is left untouched.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) {
        let f = match self {
            Codec::Pcmu => ulaw_encode,
            Codec::Pcma => alaw_encode,
        };
        for (o, &s) in out.iter_mut().zip(pcm) {
            *o = f(s);
        }
    }

    /// Decode `data` into `out`, one sample per byte. Only `min(data.len(), out.len())`
    /// bytes are decoded; the rest of `out` is left untouched.
    pub fn decode(self, data: &[u8], out: &mut [i16]) {
        let f = match self {
            Codec::Pcmu => ulaw_decode,
            Codec::Pcma => alaw_decode,
        };
        for (o, &b) in out.iter_mut().zip(data) {
            *o = f(b);
        }
    }

    /// The byte that encodes linear zero: 0xFF for PCMU, 0xD5 for PCMA.
    pub fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0xF0), 120);
    }

    /// Reference values from CPython's `audioop` (lin2ulaw/lin2alaw/ulaw2lin/alaw2lin).
    #[test]
    fn matches_reference_tables() {
        let enc: [(i16, u8, u8); 11] = [
            (0, 0xff, 0xd5),
            (1, 0xff, 0xd5),
            (100, 0xf2, 0xd3),
            (-100, 0x72, 0x53),
            (1000, 0xce, 0xfa),
            (-1000, 0x4e, 0x7a),
            (4000, 0xaf, 0x9a),
            (12345, 0x97, 0xbd),
            (-12345, 0x17, 0x3d),
            (32767, 0x80, 0xaa),
            (-32768, 0x00, 0x2a),
        ];
        for (s, u, a) in enc {
            assert_eq!(ulaw_encode(s), u, "ulaw({s})");
            assert_eq!(alaw_encode(s), a, "alaw({s})");
        }
        let dec: [(u8, i16, i16); 8] = [
            (0x00, -32124, -5504),
            (0x0f, -16764, -6784),
            (0x55, -716, -8),
            (0x80, 32124, 5504),
            (0x9a, 10876, 4032),
            (0xd5, 716, 8),
            (0xf0, 120, 688),
            (0xff, 0, 848),
        ];
        for (b, u, a) in dec {
            assert_eq!(ulaw_decode(b), u, "ulaw_decode({b:#04x})");
            assert_eq!(alaw_decode(b), a, "alaw_decode({b:#04x})");
        }
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
    }

    #[test]
    fn decode_encode_is_identity_on_codewords() {
        for b in 0..=255u8 {
            // mu-law has two zeros (0x7F and 0xFF); both decode to 0 and 0 encodes to 0xFF.
            let u = ulaw_encode(ulaw_decode(b));
            if b == 0x7F {
                assert_eq!(u, 0xFF);
            } else {
                assert_eq!(u, b, "mu-law {b:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(b)), b, "A-law {b:#04x}");
        }
    }

    #[test]
    fn round_trip_error_is_bounded() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let s32 = i32::from(s);
            let u = i32::from(ulaw_decode(ulaw_encode(s)));
            let a = i32::from(alaw_decode(alaw_encode(s)));
            // Quantisation step is at most 1/16 of the magnitude (plus the small-signal step).
            assert!((u - s32).abs() <= s32.abs() / 8 + 16, "mu {s} -> {u}");
            assert!((a - s32).abs() <= s32.abs() / 8 + 16, "A {s} -> {a}");
        }
    }

    #[test]
    fn monotonic_decode() {
        // Positive mu-law codes 0xFF (0) down to 0x80 (max) increase monotonically.
        let mut last = -1i32;
        for b in (0x80..=0xFFu8).rev() {
            let v = i32::from(ulaw_decode(b));
            assert!(v > last || (v == 0 && last == -1));
            last = v;
        }
    }

    #[test]
    fn codec_helpers() {
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(18), None);
        assert_eq!(Codec::Pcmu.name(), "PCMU");
        assert_eq!(Codec::from_name("pcma"), Some(Codec::Pcma));
        for c in Codec::ALL {
            let mut b = [0u8; 1];
            c.encode(&[0], &mut b);
            assert_eq!(b[0], c.silence_byte());
            let pcm: Vec<i16> = (0..160)
                .map(|i| ((i * 397) % 20000 - 10000) as i16)
                .collect();
            let mut enc = [0u8; 160];
            let mut dec = [0i16; 160];
            c.encode(&pcm, &mut enc);
            c.decode(&enc, &mut dec);
            for (a, b) in pcm.iter().zip(dec.iter()) {
                assert!((i32::from(*a) - i32::from(*b)).abs() <= i32::from(*a).abs() / 8 + 16);
            }
            // Mismatched lengths never panic.
            c.encode(&pcm, &mut enc[..3]);
            c.decode(&enc[..2], &mut dec);
        }
    }
}
