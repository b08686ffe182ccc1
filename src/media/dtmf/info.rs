//! SIP INFO digits: the `application/dtmf-relay` body (`Signal=5\r\nDuration=160\r\n`, the
//! de-facto format from Cisco and most PBXs) and the bare `application/dtmf` body (`5`), each
//! turned into one [`DigitEvent`]. Some phones send the RFC 4733 event code (`Signal=11` for `#`):
//! codes 10–15 are accepted too.

use super::rfc4733::event_to_char;
use super::{DigitEvent, DigitSource};

/// Largest INFO body read; real ones are under 40 bytes.
pub const MAX_BODY: usize = 1024;
/// Longest duration believed, in ms (a press held for a minute is a stuck key or garbage).
pub const MAX_DURATION_MS: u32 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfoError {
    #[error("INFO content type {0:?} carries no DTMF")]
    ContentType(String),
    #[error("INFO body of {0} bytes is too large for DTMF")]
    TooLarge(usize),
    #[error("INFO DTMF body is not UTF-8")]
    NotUtf8,
    #[error("INFO DTMF body has no Signal")]
    NoSignal,
    #[error("INFO DTMF signal {0:?} is not a DTMF key")]
    BadSignal(String),
    #[error("INFO DTMF duration {0:?} is not a number of milliseconds up to 60000")]
    BadDuration(String),
}

/// The digit in an INFO request with this `Content-Type` (parameters ignored, any case) and body.
/// A dtmf-relay body without `Duration` reports `duration_ms` 0 (unknown).
pub fn parse_info(content_type: &str, body: &[u8]) -> Result<DigitEvent, InfoError> {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "application/dtmf-relay" && media != "application/dtmf" {
        return Err(InfoError::ContentType(content_type.to_owned()));
    }
    if body.len() > MAX_BODY {
        return Err(InfoError::TooLarge(body.len()));
    }
    let text = std::str::from_utf8(body).map_err(|_| InfoError::NotUtf8)?;
    if media == "application/dtmf" {
        return Ok(DigitEvent {
            digit: signal(text.trim())?,
            source: DigitSource::SipInfo,
            duration_ms: 0,
        });
    }
    let mut digit = None;
    let mut duration_ms = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue; // blank lines and unknown lines are ignored, as senders vary
        };
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "signal" if digit.is_none() => digit = Some(signal(value)?),
            "duration" => {
                duration_ms = value
                    .parse::<u32>()
                    .ok()
                    .filter(|&d| d <= MAX_DURATION_MS)
                    .ok_or_else(|| InfoError::BadDuration(value.to_owned()))?;
            }
            _ => {}
        }
    }
    Ok(DigitEvent {
        digit: digit.ok_or(InfoError::NoSignal)?,
        source: DigitSource::SipInfo,
        duration_ms,
    })
}

/// A key character (`0-9 * # A-D`, letters in either case) or an event code 0–15.
fn signal(value: &str) -> Result<char, InfoError> {
    let bad = || InfoError::BadSignal(value.chars().take(16).collect());
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => match c.to_ascii_uppercase() {
            k @ ('0'..='9' | '*' | '#' | 'A'..='D') => Ok(k),
            _ => Err(bad()),
        },
        _ => value
            .parse::<u8>()
            .ok()
            .and_then(event_to_char)
            .ok_or_else(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(digit: char, duration_ms: u32) -> DigitEvent {
        DigitEvent {
            digit,
            source: DigitSource::SipInfo,
            duration_ms,
        }
    }

    #[test]
    fn dtmf_relay_bodies() {
        let ct = "application/dtmf-relay";
        assert_eq!(
            parse_info(ct, b"Signal=5\r\nDuration=160\r\n"),
            Ok(ev('5', 160))
        );
        assert_eq!(
            parse_info(ct, b"Signal= #\nDuration= 250"),
            Ok(ev('#', 250))
        );
        assert_eq!(parse_info(ct, b"signal=*\r\n"), Ok(ev('*', 0)));
        assert_eq!(
            parse_info(ct, b"Signal=d\r\nDuration=100"),
            Ok(ev('D', 100))
        );
        assert_eq!(
            parse_info(ct, b"Signal=11\r\nDuration=100"),
            Ok(ev('#', 100))
        );
        assert_eq!(parse_info(ct, b"Signal=10"), Ok(ev('*', 0)));
        assert_eq!(
            parse_info(ct, b"\r\nFoo=bar\r\nSignal=0\r\n\r\n"),
            Ok(ev('0', 0))
        );
        assert_eq!(
            parse_info("Application/DTMF-Relay; charset=utf-8", b"Signal=9"),
            Ok(ev('9', 0))
        );
    }

    #[test]
    fn dtmf_bodies() {
        assert_eq!(parse_info("application/dtmf", b"5"), Ok(ev('5', 0)));
        assert_eq!(parse_info("application/dtmf", b" # \r\n"), Ok(ev('#', 0)));
        assert_eq!(parse_info("application/dtmf", b"11"), Ok(ev('#', 0)));
    }

    #[test]
    fn bad_bodies_are_typed_errors() {
        let ct = "application/dtmf-relay";
        assert_eq!(parse_info(ct, b"Duration=100"), Err(InfoError::NoSignal));
        assert_eq!(parse_info(ct, b""), Err(InfoError::NoSignal));
        assert_eq!(
            parse_info(ct, b"Signal=x"),
            Err(InfoError::BadSignal("x".into()))
        );
        assert_eq!(
            parse_info(ct, b"Signal=16"),
            Err(InfoError::BadSignal("16".into()))
        );
        assert_eq!(
            parse_info(ct, b"Signal=5\nDuration=-1"),
            Err(InfoError::BadDuration("-1".into()))
        );
        assert_eq!(
            parse_info(ct, b"Signal=5\nDuration=999999"),
            Err(InfoError::BadDuration("999999".into()))
        );
        assert_eq!(parse_info(ct, &[0xff, 0xfe]), Err(InfoError::NotUtf8));
        assert_eq!(
            parse_info(ct, &vec![b'a'; MAX_BODY + 1]),
            Err(InfoError::TooLarge(MAX_BODY + 1))
        );
        assert_eq!(
            parse_info("application/dtmf", b""),
            Err(InfoError::BadSignal("".into()))
        );
        assert_eq!(
            parse_info("application/sdp", b"Signal=5"),
            Err(InfoError::ContentType("application/sdp".into()))
        );
    }
}
