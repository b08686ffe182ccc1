//! G.711 (ITU-T G.711): μ-law (PCMU) and A-law (PCMA) encode and decode, and μ↔A transcoding.
//!
//! The algorithms are the classic segment/quantisation ones (as in the public-domain Sun g711.c); decoding and
//! transcoding use 256-entry tables built at compile time, encoding a short branch-free segment search.

use super::Codec;

pub const PT_PCMU: u8 = 0;
pub const PT_PCMA: u8 = 8;
/// μ-law code for silence (linear 0).
pub const ULAW_SILENCE: u8 = 0xff;
/// A-law code for silence (the smallest positive step).
pub const ALAW_SILENCE: u8 = 0xd5;

const ULAW_BIAS: i32 = 0x84;
/// Clip level in 14-bit units.
const ULAW_CLIP14: i32 = 8159;

const fn ulaw_decode_calc(u: u8) -> i16 {
    let u = !u;
    let mut t = (((u & 0x0f) as i32) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 {
        ULAW_BIAS - t
    } else {
        t - ULAW_BIAS
    }) as i16
}

const fn alaw_decode_calc(a: u8) -> i16 {
    let a = a ^ 0x55;
    let mut t = ((a & 0x0f) as i32) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// Encodes one linear sample to μ-law (14-bit magnitude path of the reference g711.c).
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut v = (sample as i32) >> 2;
    let mask: u8 = if v < 0 {
        v = -v;
        0x7f
    } else {
        0xff
    };
    v = v.min(ULAW_CLIP14) + (ULAW_BIAS >> 2);
    // Segment = position of the highest set bit above bit 5 (v is in 0x21..=0x2000).
    let seg = (31 - (v as u32 | 0x3f).leading_zeros()) - 5;
    if seg >= 8 {
        return 0x7f ^ mask;
    }
    let code = ((seg << 4) as u8) | (((v >> (seg + 1)) & 0x0f) as u8);
    code ^ mask
}

/// Encodes one linear sample to A-law.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    let mut v = (sample as i32) >> 3;
    let mask: u8 = if v >= 0 {
        0xd5
    } else {
        v = -v - 1;
        0x55
    };
    // 13-bit magnitude; segment from the highest set bit above bit 4.
    let v = v.min(0xfff);
    let seg = (31 - (v as u32 | 0x1f).leading_zeros()) - 4;
    let quant = if seg < 2 {
        (v >> 1) & 0x0f
    } else {
        (v >> seg) & 0x0f
    };
    (((seg << 4) as u8) | quant as u8) ^ mask
}

const fn build_ulaw_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_calc(i as u8);
        i += 1;
    }
    t
}

const fn build_alaw_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_calc(i as u8);
        i += 1;
    }
    t
}

static ULAW_TO_LINEAR: [i16; 256] = build_ulaw_table();
static ALAW_TO_LINEAR: [i16; 256] = build_alaw_table();

/// Decodes one μ-law code.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TO_LINEAR[code as usize]
}

/// Decodes one A-law code.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TO_LINEAR[code as usize]
}

fn build_u2a() -> [u8; 256] {
    let mut t = [0u8; 256];
    for (i, v) in t.iter_mut().enumerate() {
        *v = alaw_encode(ulaw_decode(i as u8));
    }
    t
}

fn build_a2u() -> [u8; 256] {
    let mut t = [0u8; 256];
    for (i, v) in t.iter_mut().enumerate() {
        *v = ulaw_encode(alaw_decode(i as u8));
    }
    t
}

static U2A: std::sync::LazyLock<[u8; 256]> = std::sync::LazyLock::new(build_u2a);
static A2U: std::sync::LazyLock<[u8; 256]> = std::sync::LazyLock::new(build_a2u);

/// Transcodes a μ-law payload to A-law in place (one table lookup per byte, no PCM step).
pub fn ulaw_to_alaw_in_place(buf: &mut [u8]) {
    let t = &*U2A;
    for b in buf {
        *b = t[*b as usize];
    }
}

/// Transcodes an A-law payload to μ-law in place.
pub fn alaw_to_ulaw_in_place(buf: &mut [u8]) {
    let t = &*A2U;
    for b in buf {
        *b = t[*b as usize];
    }
}

/// G.711 μ-law, RTP payload type 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pcmu;
/// G.711 A-law, RTP payload type 8.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pcma;

impl Codec for Pcmu {
    fn name(&self) -> &'static str {
        "PCMU"
    }
    fn static_payload_type(&self) -> Option<u8> {
        Some(PT_PCMU)
    }
    fn clock_rate(&self) -> u32 {
        8000
    }
    fn sample_rate(&self) -> u32 {
        8000
    }
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        out.extend(pcm.iter().map(|s| ulaw_encode(*s)));
    }
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        out.extend(payload.iter().map(|c| ulaw_decode(*c)));
    }
}

impl Codec for Pcma {
    fn name(&self) -> &'static str {
        "PCMA"
    }
    fn static_payload_type(&self) -> Option<u8> {
        Some(PT_PCMA)
    }
    fn clock_rate(&self) -> u32 {
        8000
    }
    fn sample_rate(&self) -> u32 {
        8000
    }
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        out.extend(pcm.iter().map(|s| alaw_encode(*s)));
    }
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        out.extend(payload.iter().map(|c| alaw_decode(*c)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference encoders: the table search of the public-domain Sun g711.c, kept literal for cross-checking.
    fn ref_linear2ulaw(pcm: i16) -> u8 {
        const SEG_UEND: [i32; 8] = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
        let mut v = (pcm as i32) >> 2;
        let mask = if v < 0 {
            v = -v;
            0x7f
        } else {
            0xff
        };
        v = v.min(8159) + (0x84 >> 2);
        let seg = SEG_UEND.iter().position(|e| v <= *e).unwrap_or(8);
        if seg >= 8 {
            return 0x7f ^ mask;
        }
        (((seg << 4) as i32 | ((v >> (seg + 1)) & 0xf)) as u8) ^ mask
    }

    fn ref_linear2alaw(pcm: i16) -> u8 {
        const SEG_AEND: [i32; 8] = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
        let mut v = (pcm as i32) >> 3;
        let mask = if v >= 0 {
            0xd5
        } else {
            v = -v - 1;
            0x55
        };
        let seg = SEG_AEND.iter().position(|e| v <= *e).unwrap_or(8);
        if seg >= 8 {
            return 0x7f ^ mask;
        }
        let mut a = (seg << 4) as i32;
        a |= if seg < 2 {
            (v >> 1) & 0xf
        } else {
            (v >> seg) & 0xf
        };
        (a as u8) ^ mask
    }

    #[test]
    fn known_points_ulaw() {
        // G.711 μ-law: 0xFF and 0x7F are ±0, 0x80/0x00 the extremes ±8031 in 14-bit units (±32124 here).
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x7f), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0xfe), 8); // first step: 2 in 14-bit units
        assert_eq!(ulaw_decode(0xef), 132); // end of segment 0 chord: 33 in 14-bit units
        assert_eq!(ulaw_encode(0), ULAW_SILENCE);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_encode(3), ULAW_SILENCE);
        assert_eq!(ulaw_encode(-8), 0x7e); // -2 in 14-bit units: the first negative step
    }

    #[test]
    fn known_points_alaw() {
        // G.711 A-law: 0xD5/0x55 are ±1 step (±8 here), 0xAA/0x2A the extremes ±4032 in 13-bit units.
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xaa), 32256);
        assert_eq!(alaw_decode(0x2a), -32256);
        assert_eq!(alaw_encode(0), ALAW_SILENCE);
        assert_eq!(alaw_encode(i16::MAX), 0xaa);
        assert_eq!(alaw_encode(i16::MIN), 0x2a);
    }

    #[test]
    fn encoders_match_reference_for_every_sample() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(ulaw_encode(s), ref_linear2ulaw(s), "ulaw {s}");
            assert_eq!(alaw_encode(s), ref_linear2alaw(s), "alaw {s}");
        }
    }

    #[test]
    fn decode_then_encode_is_identity_on_codes() {
        for c in 0..=255u8 {
            // μ-law has two zeros (0x7F, 0xFF); the encoder picks +0.
            let expect_u = if c == 0x7f { 0xff } else { c };
            assert_eq!(ulaw_encode(ulaw_decode(c)), expect_u, "ulaw {c:#x}");
            assert_eq!(alaw_encode(alaw_decode(c)), c, "alaw {c:#x}");
        }
    }

    #[test]
    fn decode_tables_are_monotonic_per_sign() {
        // Positive μ-law codes 0xFF..0x80 increase in magnitude as the code decreases.
        for c in 0x81..=0xffu8 {
            assert!(ulaw_decode(c - 1) > ulaw_decode(c));
        }
        let mut pos: Vec<i16> = (0..=255u8).map(alaw_decode).filter(|v| *v > 0).collect();
        let n = pos.len();
        pos.sort();
        pos.dedup();
        assert_eq!(pos.len(), n, "A-law positive levels are distinct");
        assert_eq!(n, 128);
    }

    #[test]
    fn transcoding_known_points_and_error_bound() {
        let mut b = [ULAW_SILENCE, 0x80, 0x00];
        ulaw_to_alaw_in_place(&mut b);
        assert_eq!(b, [ALAW_SILENCE, 0xaa, 0x2a]);
        alaw_to_ulaw_in_place(&mut b);
        // A-law's smallest level (+8) is exactly μ-law's first step (0xFE), not μ-law's zero.
        assert_eq!(b, [0xfe, 0x80, 0x00]);
        // Every μ code maps to an A code within one A-law step of the same level.
        for c in 0..=255u8 {
            let mut x = [c];
            ulaw_to_alaw_in_place(&mut x);
            let (u, a) = (ulaw_decode(c) as i32, alaw_decode(x[0]) as i32);
            let step = (u.abs() / 16).max(16);
            assert!((u - a).abs() <= step, "{c:#x}: {u} vs {a}");
        }
    }
}
