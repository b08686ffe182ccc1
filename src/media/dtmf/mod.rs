//! DTMF: RFC 4733 telephone-events, SIP INFO bodies and in-band tones, each turned into one
//! [`DigitEvent`] stream per leg whatever the source.

pub mod inband;
pub mod info;
pub mod rfc4733;

pub use inband::{InbandConfig, InbandDetector, InbandError};
pub use info::{parse_info, InfoError};
pub use rfc4733::{DtmfDetector, DtmfDigit, DtmfEnd, DtmfError, DtmfPacket, TelephoneEvent};

/// Where a key press was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigitSource {
    /// RTP telephone-event packets.
    Rfc4733,
    /// A SIP INFO request.
    SipInfo,
    /// Tones in the audio.
    InBand,
}

/// One key press, reported once, whatever carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitEvent {
    /// `0-9 * # A-D`.
    pub digit: char,
    pub source: DigitSource,
    /// How long the key was held; 0 when the source does not say.
    pub duration_ms: u32,
}

impl DigitEvent {
    /// The event for an RFC 4733 press, if it is one of the 16 keys (not e.g. a fax tone event).
    pub fn from_rfc4733(d: &DtmfDigit) -> Option<DigitEvent> {
        d.key.map(|digit| DigitEvent {
            digit,
            source: DigitSource::Rfc4733,
            duration_ms: d.duration_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4733_digits_become_events_and_other_events_do_not() {
        let mut d = DtmfDigit {
            event: 11,
            key: Some('#'),
            duration: 800,
            duration_ms: 100,
            start_ts: 0,
            ended_by: DtmfEnd::EndPacket,
        };
        assert_eq!(
            DigitEvent::from_rfc4733(&d),
            Some(DigitEvent {
                digit: '#',
                source: DigitSource::Rfc4733,
                duration_ms: 100
            })
        );
        d.event = 32;
        d.key = None;
        assert_eq!(DigitEvent::from_rfc4733(&d), None);
    }
}
