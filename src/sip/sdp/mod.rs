//! SDP (RFC 4566/3264): parse, rewrite connection and media ports for anchoring, codec negotiation.
//!
//! - [`model`]: [`SessionDescription`] (origin, session lines, media), [`Direction`], [`RtpMap`];
//!   unknown lines are kept in order; `to_sdp_string()` writes CRLF.
//! - [`parse`]: `SessionDescription::parse(bytes)` → value or [`SdpError`] naming the line.
//! - [`offer_answer`]: [`anchor`] (our c=/ports), [`negotiate_formats`] / [`restrict_offer`]
//!   against an allowed [`Codec`] list, [`answer`], [`with_direction`] for hold/retrieve re-offers,
//!   and hold detection via `SessionDescription::is_hold()` (sendonly/inactive or `c=0.0.0.0`).

pub mod model;
pub mod offer_answer;
pub mod parse;

pub use model::{
    Attribute, Connection, Direction, Media, Origin, RtpMap, SdpLine, SessionDescription,
};
pub use offer_answer::{
    accepted, anchor, answer, hold_transition, make_offer, negotiate_formats, restrict_offer,
    with_direction, AnswerParams, Codec, HoldTransition, DEFAULT_CODECS, PCMA, PCMU,
    TELEPHONE_EVENT,
};
pub use parse::SdpError;
