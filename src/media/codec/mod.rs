//! Audio codecs behind one small trait, so mixing, playing and recording can treat G.711 today and
//! G.722/Opus later the same way: payload bytes in, 16-bit PCM out, and back.

pub mod g711;

/// An audio codec for one RTP payload format. Stateful codecs (G.722, Opus) keep their state in `self`.
pub trait Codec: Send {
    /// The SDP encoding name (`a=rtpmap`), e.g. "PCMU".
    fn name(&self) -> &'static str;
    /// The static RTP payload type, if the format has one.
    fn static_payload_type(&self) -> Option<u8>;
    /// RTP clock rate in Hz.
    fn clock_rate(&self) -> u32;
    /// PCM sample rate the codec takes and gives (can differ from the RTP clock, as with G.722).
    fn sample_rate(&self) -> u32;
    /// Encodes PCM samples, appending the payload to `out`.
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>);
    /// Decodes a payload, appending PCM samples to `out`.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>);
}

/// A codec for an SDP encoding name (case-insensitive), if supported.
pub fn by_name(name: &str) -> Option<Box<dyn Codec>> {
    if name.eq_ignore_ascii_case("PCMU") {
        Some(Box::new(g711::Pcmu))
    } else if name.eq_ignore_ascii_case("PCMA") {
        Some(Box::new(g711::Pcma))
    } else {
        None
    }
}

/// A codec for a static RTP payload type (RFC 3551 table 4), if supported.
pub fn by_static_payload_type(pt: u8) -> Option<Box<dyn Codec>> {
    match pt {
        g711::PT_PCMU => Some(Box::new(g711::Pcmu)),
        g711::PT_PCMA => Some(Box::new(g711::Pcma)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_name_and_pt() {
        assert_eq!(by_name("pcmu").unwrap().static_payload_type(), Some(0));
        assert_eq!(by_name("PCMA").unwrap().static_payload_type(), Some(8));
        assert!(by_name("opus").is_none());
        assert_eq!(by_static_payload_type(8).unwrap().name(), "PCMA");
        assert!(by_static_payload_type(9).is_none());
    }

    #[test]
    fn trait_objects_round_trip() {
        let pcm: Vec<i16> = (0..160)
            .map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)
            .collect();
        for mut c in [by_name("PCMU").unwrap(), by_name("PCMA").unwrap()] {
            let mut payload = Vec::new();
            c.encode(&pcm, &mut payload);
            assert_eq!(payload.len(), 160);
            let mut back = Vec::new();
            c.decode(&payload, &mut back);
            for (a, b) in pcm.iter().zip(&back) {
                // G.711 keeps a relative error under ~1/16 (plus the step at zero).
                assert!(
                    (*a as i32 - *b as i32).abs() <= (a.unsigned_abs() as i32 / 16) + 16,
                    "{} {a} {b}",
                    c.name()
                );
            }
        }
    }
}
