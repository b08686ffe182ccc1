//! RFC 3264 offer/answer helpers for a media-anchoring B2BUA: rewrite addresses and ports to
//! hotline's, negotiate codecs against an allowed list (keeping the offerer's order and payload
//! type numbers), derive answer directions, and build hold/unhold re-offers.

use std::net::IpAddr;

use super::model::{
    Attribute, Connection, Direction, Media, Origin, RtpMap, SdpLine, SessionDescription,
};
use super::parse::SdpError;

/// A codec hotline can carry: matched by static payload type or by rtpmap name and clock rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Codec {
    /// Encoding name as in rtpmap (compared case-insensitively).
    pub name: &'static str,
    pub clock_rate: u32,
    /// The RFC 3551 static payload type, if it has one.
    pub static_pt: Option<u8>,
}

pub const PCMU: Codec = Codec {
    name: "PCMU",
    clock_rate: 8000,
    static_pt: Some(0),
};
pub const PCMA: Codec = Codec {
    name: "PCMA",
    clock_rate: 8000,
    static_pt: Some(8),
};
/// RFC 4733 DTMF events at 8 kHz (dynamic payload type).
pub const TELEPHONE_EVENT: Codec = Codec {
    name: "telephone-event",
    clock_rate: 8000,
    static_pt: None,
};

/// hotline's default allowed list.
pub const DEFAULT_CODECS: [Codec; 3] = [PCMU, PCMA, TELEPHONE_EVENT];

impl Codec {
    /// Whether payload type `pt` of `media` is this codec. An explicit rtpmap wins over the
    /// static number (a peer may remap 0..95, though it should not).
    pub fn matches(&self, media: &Media, pt: u8) -> bool {
        match media.rtpmap(pt) {
            Some(map) => {
                map.encoding.eq_ignore_ascii_case(self.name)
                    && map.clock_rate == self.clock_rate
                    && map.channels.unwrap_or(1) == 1
            }
            None => self.static_pt == Some(pt),
        }
    }

    fn is_event(&self) -> bool {
        self.name.eq_ignore_ascii_case("telephone-event")
    }
}

/// The offered payload types that are allowed, in the offer's order. Returns an empty list when
/// no voice codec is common (telephone-event alone does not make a call).
pub fn negotiate_formats(media: &Media, allowed: &[Codec]) -> Vec<u8> {
    let chosen: Vec<(u8, bool)> = media
        .payload_types()
        .filter_map(|pt| {
            allowed
                .iter()
                .find(|c| c.matches(media, pt))
                .map(|c| (pt, c.is_event()))
        })
        .collect();
    if chosen.iter().all(|(_, event)| *event) {
        return Vec::new();
    }
    chosen.into_iter().map(|(pt, _)| pt).collect()
}

/// Whether a media line is something hotline anchors: plain RTP audio.
fn is_supported_audio(m: &Media) -> bool {
    m.media == "audio" && m.proto.eq_ignore_ascii_case("RTP/AVP")
}

/// Attributes that describe the remote transport and are wrong once media is anchored.
fn is_transport_attr(name: &str) -> bool {
    matches!(
        name,
        "rtcp"
            | "candidate"
            | "remote-candidates"
            | "end-of-candidates"
            | "ice-ufrag"
            | "ice-pwd"
            | "ice-options"
            | "ice-lite"
            | "ice-mismatch"
    )
}

/// Rewrites `sdp` so media flows through hotline: one session-level `c=` with `addr`, each media
/// line's port from `port_for(index)` (`None` leaves that line alone, e.g. a rejected stream),
/// media-level `c=` lines removed, transport attributes (rtcp, ICE) dropped, and an old-style
/// `c=0.0.0.0` hold turned into an explicit direction attribute so the hold survives the rewrite.
/// The origin address is set to `addr` and the version bumped.
pub fn anchor(
    sdp: &mut SessionDescription,
    addr: IpAddr,
    mut port_for: impl FnMut(usize) -> Option<u16>,
) {
    let directions: Vec<(Direction, bool)> = (0..sdp.media.len())
        .map(|i| {
            let zero = sdp.media_connection(i).is_some_and(Connection::is_zero);
            (sdp.direction(i), zero)
        })
        .collect();
    let conn = Connection::for_ip(addr);
    let mut replaced = false;
    sdp.lines.retain_mut(|l| match l {
        SdpLine::Connection(c) => {
            if replaced {
                return false;
            }
            *c = conn.clone();
            replaced = true;
            true
        }
        SdpLine::Attribute(a) => !is_transport_attr(&a.name),
        _ => true,
    });
    if !replaced {
        // c= goes before b=/t= (RFC 4566 §5 order); after i/u/e/p lines.
        let pos = sdp
            .lines
            .iter()
            .position(|l| !matches!(l, SdpLine::Other('i' | 'u' | 'e' | 'p', _)))
            .unwrap_or(sdp.lines.len());
        sdp.lines.insert(pos, SdpLine::Connection(conn));
    }
    for (i, m) in sdp.media.iter_mut().enumerate() {
        if m.is_rejected() {
            continue; // a rejected stream stays port 0 (RFC 3264 §6)
        }
        let Some(port) = port_for(i) else { continue };
        m.port = port;
        m.port_count = None;
        m.lines.retain(|l| match l {
            SdpLine::Connection(_) => false,
            SdpLine::Attribute(a) => !is_transport_attr(&a.name),
            _ => true,
        });
        if let Some((dir, true)) = directions.get(i).copied() {
            m.set_direction(dir);
        }
    }
    sdp.origin.address = addr.to_string();
    sdp.origin.addr_type = if addr.is_ipv4() { "IP4" } else { "IP6" }.into();
    sdp.bump_version();
}

/// Restricts every supported audio stream to the allowed codecs in place (for relaying an offer
/// onward), keeping the offerer's order and numbers and only the rtpmap/fmtp lines that still apply.
/// Streams with nothing in common are disabled (port 0).
pub fn restrict_offer(sdp: &mut SessionDescription, allowed: &[Codec]) {
    for m in &mut sdp.media {
        if !is_supported_audio(m) {
            continue;
        }
        let pts = negotiate_formats(m, allowed);
        if pts.is_empty() {
            m.port = 0;
            continue;
        }
        keep_formats(m, &pts);
    }
}

fn fmt_pt(a: &Attribute) -> Option<u8> {
    a.value.as_deref()?.split(' ').next()?.parse().ok()
}

fn keep_formats(m: &mut Media, pts: &[u8]) {
    m.formats = pts.iter().map(u8::to_string).collect();
    m.lines.retain(|l| match l {
        SdpLine::Attribute(a) if a.name == "rtpmap" || a.name == "fmtp" => {
            fmt_pt(a).is_some_and(|pt| pts.contains(&pt))
        }
        _ => true,
    });
}

/// What our side puts into an answer.
#[derive(Clone, Debug)]
pub struct AnswerParams<'a> {
    /// hotline's media address.
    pub addr: IpAddr,
    /// The local RTP port per accepted media line index (`None` rejects that line).
    pub ports: &'a [Option<u16>],
    pub allowed: &'a [Codec],
    /// What we want to do: `SendRecv` normally, `SendOnly` when we hold the peer.
    pub direction: Direction,
    /// Our `o=` line; the caller keeps it and bumps its version per new description.
    pub origin: Origin,
    pub session_name: &'a str,
}

/// Builds the answer to `offer` (RFC 3264 §6): the same number of m= lines in the same order;
/// supported audio with a common codec gets our port, the common formats in the offer's order
/// with their rtpmap/fmtp (and ptime), and the answering direction; anything else gets port 0.
/// Errors when no stream at all could be accepted (the caller answers 488).
pub fn answer(
    offer: &SessionDescription,
    params: &AnswerParams<'_>,
) -> Result<SessionDescription, SdpError> {
    let mut media = Vec::with_capacity(offer.media.len());
    let mut accepted = 0;
    for (i, om) in offer.media.iter().enumerate() {
        let port = params.ports.get(i).copied().flatten();
        let pts = if is_supported_audio(om) && !om.is_rejected() {
            negotiate_formats(om, params.allowed)
        } else {
            Vec::new()
        };
        let Some(port) = port.filter(|_| !pts.is_empty()) else {
            media.push(Media {
                media: om.media.clone(),
                port: 0,
                port_count: None,
                proto: om.proto.clone(),
                formats: om.formats.clone(),
                lines: Vec::new(),
            });
            continue;
        };
        accepted += 1;
        let mut lines = Vec::new();
        for &pt in &pts {
            let map = om.rtpmap(pt).or_else(|| {
                params
                    .allowed
                    .iter()
                    .find(|c| c.static_pt == Some(pt))
                    .map(|c| RtpMap {
                        payload_type: pt,
                        encoding: c.name.into(),
                        clock_rate: c.clock_rate,
                        channels: None,
                    })
            });
            if let Some(map) = map {
                lines.push(SdpLine::Attribute(Attribute::new("rtpmap", map.to_value())));
            }
            for l in &om.lines {
                if let SdpLine::Attribute(a) = l {
                    if a.name == "fmtp" && fmt_pt(a) == Some(pt) {
                        lines.push(l.clone());
                    }
                }
            }
        }
        if let Some(ptime) = om.attribute("ptime") {
            lines.push(SdpLine::Attribute(ptime.clone()));
        }
        lines.push(SdpLine::Attribute(Attribute::flag(
            offer.direction(i).answer_to(params.direction).as_str(),
        )));
        media.push(Media {
            media: om.media.clone(),
            port,
            port_count: None,
            proto: om.proto.clone(),
            formats: pts.iter().map(u8::to_string).collect(),
            lines,
        });
    }
    if accepted == 0 {
        return Err(SdpError {
            line: 0,
            reason: "no acceptable media stream",
        });
    }
    Ok(SessionDescription {
        origin: params.origin.clone(),
        session_name: params.session_name.to_owned(),
        lines: vec![
            SdpLine::Connection(Connection::for_ip(params.addr)),
            SdpLine::Other('t', "0 0".into()),
        ],
        media,
    })
}

/// A re-offer of our previous description with every active audio stream set to `dir`
/// (`SendOnly` to hold, `SendRecv` to retrieve, `Inactive` when both sides hold), version bumped.
pub fn with_direction(previous: &SessionDescription, dir: Direction) -> SessionDescription {
    let mut next = previous.clone();
    // Session-level direction would fight the media-level one; media level is explicit.
    next.lines.retain(
        |l| !matches!(l, SdpLine::Attribute(a) if a.value.is_none() && Direction::from_attr(&a.name).is_some()),
    );
    for m in &mut next.media {
        if m.media == "audio" && !m.is_rejected() {
            m.set_direction(dir);
        }
    }
    next.bump_version();
    next
}

/// A fresh offer for a call hotline originates: one audio stream on `addr:port` with `codecs` in
/// order (static payload types as-is, dynamic ones numbered from 101), ptime 20, sendrecv.
pub fn make_offer(addr: IpAddr, port: u16, codecs: &[Codec], origin: Origin) -> SessionDescription {
    let mut formats = Vec::new();
    let mut lines = Vec::new();
    let mut next_dynamic = 101u8;
    for c in codecs {
        let pt = match c.static_pt {
            Some(pt) => pt,
            None => {
                let pt = next_dynamic;
                next_dynamic = next_dynamic.saturating_add(1).min(127);
                pt
            }
        };
        if formats.contains(&pt.to_string()) {
            continue;
        }
        formats.push(pt.to_string());
        let map = RtpMap {
            payload_type: pt,
            encoding: c.name.into(),
            clock_rate: c.clock_rate,
            channels: None,
        };
        lines.push(SdpLine::Attribute(Attribute::new("rtpmap", map.to_value())));
        if c.is_event() {
            lines.push(SdpLine::Attribute(Attribute::new(
                "fmtp",
                format!("{pt} 0-16"),
            )));
        }
    }
    lines.push(SdpLine::Attribute(Attribute::new("ptime", "20")));
    lines.push(SdpLine::Attribute(Attribute::flag("sendrecv")));
    SessionDescription {
        origin,
        session_name: "hotline".into(),
        lines: vec![
            SdpLine::Connection(Connection::for_ip(addr)),
            SdpLine::Other('t', "0 0".into()),
        ],
        media: vec![Media {
            media: "audio".into(),
            port,
            port_count: None,
            proto: "RTP/AVP".into(),
            formats,
            lines,
        }],
    }
}

/// How a new remote description changes the hold state relative to the previous one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldTransition {
    /// No change (still active, or still held).
    Unchanged,
    /// The peer put the call on hold (sendonly/inactive or `c=0.0.0.0`).
    Hold,
    /// The peer took the call off hold.
    Unhold,
}

/// Compares the previous and new remote descriptions of a session (re-INVITE/UPDATE offers).
pub fn hold_transition(
    previous: Option<&SessionDescription>,
    next: &SessionDescription,
) -> HoldTransition {
    let was = previous.is_some_and(SessionDescription::is_hold);
    match (was, next.is_hold()) {
        (false, true) => HoldTransition::Hold,
        (true, false) => HoldTransition::Unhold,
        _ => HoldTransition::Unchanged,
    }
}

/// The media line of `answer` matching offer line `i` is accepted.
pub fn accepted(answer: &SessionDescription, i: usize) -> bool {
    answer.media.get(i).is_some_and(|m| !m.is_rejected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const OFFER: &str = "v=0\r\n\
o=carrier 123456 654321 IN IP4 198.51.100.7\r\n\
s=SBC call\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 18 8 0 101\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=rtcp:40001\r\n\
a=ptime:20\r\n\
m=video 40002 RTP/AVP 96\r\n\
a=rtpmap:96 H264/90000\r\n";

    const HOTLINE: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10));

    fn offer() -> SessionDescription {
        SessionDescription::parse(OFFER.as_bytes()).unwrap()
    }

    fn origin() -> Origin {
        Origin {
            username: "hotline".into(),
            session_id: "42".into(),
            session_version: 1,
            net_type: "IN".into(),
            addr_type: "IP4".into(),
            address: HOTLINE.to_string(),
        }
    }

    fn params<'a>(ports: &'a [Option<u16>]) -> AnswerParams<'a> {
        AnswerParams {
            addr: HOTLINE,
            ports,
            allowed: &DEFAULT_CODECS,
            direction: Direction::SendRecv,
            origin: origin(),
            session_name: "hotline",
        }
    }

    #[test]
    fn negotiation_keeps_offer_order_and_numbers() {
        let o = offer();
        assert_eq!(negotiate_formats(&o.media[0], &DEFAULT_CODECS), [8, 0, 101]);
        assert_eq!(negotiate_formats(&o.media[0], &[PCMU]), [0]);
        // telephone-event alone is no call.
        assert!(negotiate_formats(&o.media[0], &[TELEPHONE_EVENT]).is_empty());
        // dynamic PT for telephone-event keeps the offerer's number; static PT without rtpmap works.
        let m = SessionDescription::parse(
            b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nm=audio 1 RTP/AVP 0 96\r\na=rtpmap:96 TELEPHONE-EVENT/8000\r\n",
        )
        .unwrap();
        assert_eq!(negotiate_formats(&m.media[0], &DEFAULT_CODECS), [0, 96]);
        // telephone-event at 48 kHz and a remapped static number are not ours.
        let m = SessionDescription::parse(
            b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nm=audio 1 RTP/AVP 0 97\r\na=rtpmap:0 opus/48000/2\r\na=rtpmap:97 telephone-event/48000\r\n",
        )
        .unwrap();
        assert!(negotiate_formats(&m.media[0], &DEFAULT_CODECS).is_empty());
    }

    #[test]
    fn answer_accepts_audio_rejects_video() {
        let a = answer(&offer(), &params(&[Some(30000), Some(30002)])).unwrap();
        let text = a.to_sdp_string();
        assert_eq!(
            text,
            "v=0\r\n\
o=hotline 42 1 IN IP4 203.0.113.10\r\n\
s=hotline\r\n\
c=IN IP4 203.0.113.10\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 8 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
m=video 0 RTP/AVP 96\r\n"
        );
        assert!(accepted(&a, 0));
        assert!(!accepted(&a, 1));
        // and it parses back
        assert_eq!(SessionDescription::parse(text.as_bytes()).unwrap(), a);
    }

    #[test]
    fn answer_errors_when_nothing_is_acceptable() {
        let e = answer(&offer(), &params(&[None, Some(1)])).unwrap_err();
        assert_eq!(e.reason, "no acceptable media stream");
        let mut g729_only = offer();
        g729_only.media[0].formats = vec!["18".into()];
        assert!(answer(&g729_only, &params(&[Some(1), Some(2)])).is_err());
        let mut srtp = offer();
        srtp.media[0].proto = "RTP/SAVP".into();
        assert!(answer(&srtp, &params(&[Some(1), Some(2)])).is_err());
    }

    #[test]
    fn answer_directions_follow_rfc3264() {
        for (offered, ours, expect) in [
            ("sendonly", Direction::SendRecv, Direction::RecvOnly),
            ("recvonly", Direction::SendRecv, Direction::SendOnly),
            ("inactive", Direction::SendRecv, Direction::Inactive),
            ("sendrecv", Direction::SendOnly, Direction::SendOnly),
            ("sendonly", Direction::SendOnly, Direction::Inactive),
        ] {
            let mut o = offer();
            o.media[0].set_direction(Direction::from_attr(offered).unwrap());
            let mut p = params(&[Some(30000)]);
            p.direction = ours;
            let a = answer(&o, &p).unwrap();
            assert_eq!(a.direction(0), expect, "offer {offered}, ours {ours:?}");
        }
    }

    #[test]
    fn anchor_rewrites_addresses_ports_and_drops_transport_attrs() {
        let mut o = offer();
        o.media[1].lines.insert(
            0,
            SdpLine::Connection(Connection::for_ip("192.0.2.99".parse().unwrap())),
        );
        anchor(&mut o, HOTLINE, |i| Some(20000 + 2 * i as u16));
        assert_eq!(o.connection().unwrap().address, "203.0.113.10");
        assert_eq!(o.media[0].port, 20000);
        assert_eq!(o.media[1].port, 20002);
        assert!(o.media[1].connection().is_none());
        assert_eq!(o.media_connection(1).unwrap().address, "203.0.113.10");
        assert!(o.media[0].attribute("rtcp").is_none());
        assert!(o.media[0].attribute("ptime").is_some());
        assert_eq!(o.origin.address, "203.0.113.10");
        assert_eq!(o.origin.session_version, 654322);
        let text = o.to_sdp_string();
        assert!(!text.contains("198.51.100.7"), "{text}");
        assert!(!text.contains("40000"));
    }

    #[test]
    fn anchor_adds_session_connection_and_keeps_old_style_hold() {
        let mut o = SessionDescription::parse(
            b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\n",
        )
        .unwrap();
        assert!(o.is_hold());
        assert_eq!(o.direction(0), Direction::SendOnly);
        anchor(&mut o, HOTLINE, |_| Some(5000));
        assert!(o
            .to_sdp_string()
            .contains("s=-\r\nc=IN IP4 203.0.113.10\r\nt=0 0\r\n"));
        assert!(o.is_hold(), "hold lost: {o}");
        assert_eq!(o.direction(0), Direction::SendOnly);
    }

    #[test]
    fn hold_detection() {
        let mut o = offer();
        assert!(!o.is_hold());
        o.media[0].set_direction(Direction::SendOnly);
        assert!(o.is_hold());
        o.media[0].set_direction(Direction::Inactive);
        assert!(o.is_hold());
        o.media[0].set_direction(Direction::RecvOnly);
        assert!(!o.is_hold());
        // session-level attribute applies when the media has none
        let s = SessionDescription::parse(
            b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\na=sendonly\r\nm=audio 4000 RTP/AVP 0\r\n",
        )
        .unwrap();
        assert!(s.is_hold());
        // old-style session c=0.0.0.0
        let s = SessionDescription::parse(
            b"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n",
        )
        .unwrap();
        assert!(s.is_hold());
        assert_eq!(s.direction(0), Direction::SendOnly);
    }

    #[test]
    fn hold_and_retrieve_reoffers() {
        let ours = answer(&offer(), &params(&[Some(30000)])).unwrap();
        let hold = with_direction(&ours, Direction::SendOnly);
        assert!(hold.is_hold());
        assert_eq!(hold.origin.session_version, ours.origin.session_version + 1);
        assert_eq!(hold.media[1].port, 0);
        assert!(hold.media[1].lines.is_empty(), "rejected stream untouched");
        let back = with_direction(&hold, Direction::SendRecv);
        assert!(!back.is_hold());
        assert_eq!(back.origin.session_version, ours.origin.session_version + 2);
        assert_eq!(
            back.to_sdp_string().matches("a=sendrecv").count(),
            1,
            "one direction attribute"
        );
    }

    #[test]
    fn make_offer_then_answer_round_trip() {
        let o = make_offer(HOTLINE, 31000, &DEFAULT_CODECS, origin());
        assert_eq!(
            o.to_sdp_string(),
            "v=0\r\no=hotline 42 1 IN IP4 203.0.113.10\r\ns=hotline\r\nc=IN IP4 203.0.113.10\r\n\
t=0 0\r\nm=audio 31000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        // An agent phone that only does PCMA answers our offer.
        let a = answer(
            &o,
            &AnswerParams {
                allowed: &[PCMA, TELEPHONE_EVENT],
                ..params(&[Some(40000)])
            },
        )
        .unwrap();
        assert_eq!(a.media[0].formats, ["8", "101"]);
    }

    #[test]
    fn hold_transitions_between_offers() {
        let active = offer();
        let held = with_direction(&active, Direction::SendOnly);
        let mut old_style = active.clone();
        old_style
            .lines
            .retain(|l| !matches!(l, SdpLine::Connection(_)));
        old_style.lines.push(SdpLine::Connection(Connection::for_ip(
            "0.0.0.0".parse().unwrap(),
        )));
        assert_eq!(hold_transition(None, &active), HoldTransition::Unchanged);
        assert_eq!(hold_transition(Some(&active), &held), HoldTransition::Hold);
        assert_eq!(
            hold_transition(Some(&held), &held),
            HoldTransition::Unchanged
        );
        assert_eq!(
            hold_transition(Some(&held), &active),
            HoldTransition::Unhold
        );
        assert_eq!(
            hold_transition(Some(&active), &old_style),
            HoldTransition::Hold
        );
        assert_eq!(hold_transition(None, &held), HoldTransition::Hold);
    }

    #[test]
    fn anchor_leaves_rejected_streams_rejected() {
        let mut o = offer();
        o.media[1].port = 0;
        anchor(&mut o, HOTLINE, |_| Some(6000));
        assert_eq!(o.media[0].port, 6000);
        assert_eq!(o.media[1].port, 0);
    }

    #[test]
    fn restrict_offer_filters_codecs_and_lines() {
        let mut o = offer();
        restrict_offer(&mut o, &DEFAULT_CODECS);
        assert_eq!(o.media[0].formats, ["8", "0", "101"]);
        let text = o.to_sdp_string();
        assert!(!text.contains("G729"));
        assert!(!text.contains("annexb"));
        assert!(text.contains("a=fmtp:101 0-15"));
        assert_eq!(o.media[1].port, 40002, "video is not ours to touch here");
        let mut g729 = offer();
        g729.media[0].formats = vec!["18".into()];
        restrict_offer(&mut g729, &DEFAULT_CODECS);
        assert_eq!(g729.media[0].port, 0);
    }
}
