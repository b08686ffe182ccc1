//! RFC 4028 session timers: Session-Expires / Min-SE values, negotiation for the UAC and UAS of a
//! session refresh request, 422 handling, and a sans-IO timer that says when to refresh and when
//! the session has expired.
//!
//! `refresher=uac|uas` names the roles of the *transaction* that negotiated it; [`Negotiated`]
//! turns that into "is it us" so the timer does not care who sent the re-INVITE.

use std::time::{Duration, Instant};

use crate::sip::message::SipMessage;

/// The smallest Session-Expires RFC 4028 allows (§4).
pub const MIN_SE_FLOOR: u32 = 90;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionTimerError {
    #[error("malformed Session-Expires")]
    BadSessionExpires,
    #[error("malformed Min-SE")]
    BadMinSe,
    #[error("422 without Min-SE")]
    MissingMinSe,
}

/// `Session-Expires: delta[;refresher=uac|uas]`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    pub delta: u32,
    pub refresher: Option<Refresher>,
}

fn parse_delta(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl SessionExpires {
    pub fn parse(value: &str) -> Result<Self, SessionTimerError> {
        let mut parts = value.split(';');
        let delta = parts
            .next()
            .and_then(parse_delta)
            .ok_or(SessionTimerError::BadSessionExpires)?;
        let mut refresher = None;
        for p in parts {
            let (name, val) = p.split_once('=').unwrap_or((p, ""));
            if name.trim().eq_ignore_ascii_case("refresher") {
                refresher = match val.trim().to_ascii_lowercase().as_str() {
                    "uac" => Some(Refresher::Uac),
                    "uas" => Some(Refresher::Uas),
                    _ => return Err(SessionTimerError::BadSessionExpires),
                };
            }
        }
        Ok(SessionExpires { delta, refresher })
    }

    pub fn to_header_value(&self) -> String {
        match self.refresher {
            Some(Refresher::Uac) => format!("{};refresher=uac", self.delta),
            Some(Refresher::Uas) => format!("{};refresher=uas", self.delta),
            None => self.delta.to_string(),
        }
    }

    /// From a message (`Session-Expires` or compact `x`); `Ok(None)` when absent.
    pub fn from_message(msg: &SipMessage) -> Result<Option<Self>, SessionTimerError> {
        match msg.header_str("Session-Expires") {
            Some(v) => Self::parse(v).map(Some),
            None if msg.header("Session-Expires").is_some() => {
                Err(SessionTimerError::BadSessionExpires)
            }
            None => Ok(None),
        }
    }
}

/// `Min-SE: delta` (parameters ignored).
pub fn parse_min_se(value: &str) -> Result<u32, SessionTimerError> {
    value
        .split(';')
        .next()
        .and_then(parse_delta)
        .ok_or(SessionTimerError::BadMinSe)
}

fn min_se_of(msg: &SipMessage) -> Result<Option<u32>, SessionTimerError> {
    match msg.header("Min-SE") {
        Some(v) => parse_min_se(&String::from_utf8_lossy(v)).map(Some),
        None => Ok(None),
    }
}

/// The message says `Supported: timer` or `Require: timer`.
pub fn supports_timer(msg: &SipMessage) -> bool {
    ["Supported", "Require"].iter().any(|h| {
        msg.headers(h).any(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("timer"))
        })
    })
}

/// Our session timer policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// Ask for / run session timers at all.
    pub enabled: bool,
    /// The interval we ask for and the most we accept, seconds (default 1800).
    pub session_expires: u32,
    /// The least we accept, seconds (default and floor 90).
    pub min_se: u32,
    /// When we choose, do the refreshing ourselves (a B2BUA usually wants to).
    pub prefer_local_refresh: bool,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig {
            enabled: true,
            session_expires: 1800,
            min_se: MIN_SE_FLOOR,
            prefer_local_refresh: true,
        }
    }
}

/// The outcome of a negotiation from our point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub delta: u32,
    pub local_refresher: bool,
}

/// Headers for a request we send that starts or refreshes a session (INVITE, re-INVITE, UPDATE).
/// `session_expires` overrides the configured value (after a 422).
pub fn request_headers(
    cfg: &SessionTimerConfig,
    session_expires: Option<u32>,
) -> Vec<(&'static str, String)> {
    let mut h = vec![("Supported", "timer".to_owned())];
    if cfg.enabled {
        let se = session_expires
            .unwrap_or(cfg.session_expires)
            .max(cfg.min_se);
        h.push(("Session-Expires", se.to_string()));
        h.push(("Min-SE", cfg.min_se.to_string()));
    }
    h
}

/// What the UAS of a session refresh does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UasDecision {
    /// Answer 422 Session Interval Too Small with `Min-SE: min_se`.
    TooSmall { min_se: u32 },
    /// Proceed; put `headers` into the 2xx; `timer` is the running timer's parameters, if any.
    Accept {
        headers: Vec<(&'static str, String)>,
        timer: Option<Negotiated>,
    },
}

/// UAS negotiation (§9) for a received INVITE/UPDATE.
pub fn uas_negotiate(
    req: &SipMessage,
    cfg: &SessionTimerConfig,
) -> Result<UasDecision, SessionTimerError> {
    let requested = SessionExpires::from_message(req)?;
    let their_min = min_se_of(req)?.unwrap_or(MIN_SE_FLOOR);
    let uac_supports = supports_timer(req);
    let chosen = match requested {
        Some(se) => {
            if se.delta < cfg.min_se {
                return Ok(UasDecision::TooSmall { min_se: cfg.min_se });
            }
            // We may shorten it to our maximum, but not below either side's minimum.
            let delta = se
                .delta
                .min(cfg.session_expires.max(their_min).max(cfg.min_se));
            let refresher = se
                .refresher
                .unwrap_or(if !uac_supports || cfg.prefer_local_refresh {
                    Refresher::Uas
                } else {
                    Refresher::Uac
                });
            Some((delta, refresher))
        }
        // The UAC did not ask; we can still run one, refreshing ourselves unless it supports timer.
        None if cfg.enabled => Some((
            cfg.session_expires.max(their_min),
            if uac_supports && !cfg.prefer_local_refresh {
                Refresher::Uac
            } else {
                Refresher::Uas
            },
        )),
        None => None,
    };
    let Some((delta, refresher)) = chosen else {
        return Ok(UasDecision::Accept {
            headers: Vec::new(),
            timer: None,
        });
    };
    if refresher == Refresher::Uac && !uac_supports {
        // It asked to refresh but cannot say it supports timers: not something we can rely on.
        return Ok(UasDecision::Accept {
            headers: Vec::new(),
            timer: None,
        });
    }
    let mut headers = vec![(
        "Session-Expires",
        SessionExpires {
            delta,
            refresher: Some(refresher),
        }
        .to_header_value(),
    )];
    if uac_supports {
        headers.push(("Require", "timer".to_owned()));
    }
    Ok(UasDecision::Accept {
        headers,
        timer: Some(Negotiated {
            delta,
            local_refresher: refresher == Refresher::Uas,
        }),
    })
}

/// UAC side (§7.2): the 2xx to our INVITE/UPDATE. No Session-Expires means no session timer.
pub fn uac_on_2xx(resp: &SipMessage) -> Result<Option<Negotiated>, SessionTimerError> {
    Ok(SessionExpires::from_message(resp)?.map(|se| Negotiated {
        delta: se.delta,
        // A 2xx without refresher leaves the refreshing to the UAC.
        local_refresher: se.refresher != Some(Refresher::Uas),
    }))
}

/// UAC side (§7.3): after a 422, the Session-Expires to retry with (at least the peer's Min-SE).
pub fn uac_on_422(resp: &SipMessage, previous: u32) -> Result<u32, SessionTimerError> {
    let min = min_se_of(resp)?.ok_or(SessionTimerError::MissingMinSe)?;
    Ok(previous.max(min))
}

/// What a [`SessionTimer`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionTimerEvent {
    /// We are the refresher and half the interval has passed: send a re-INVITE or UPDATE.
    RefreshDue,
    /// No refresh came in time: send BYE and tear the call down (§10).
    Expired,
}

/// The running timer of one session.
#[derive(Clone, Debug)]
pub struct SessionTimer {
    negotiated: Negotiated,
    refresh_at: Option<Instant>,
    expires_at: Option<Instant>,
}

impl SessionTimer {
    pub fn new(n: Negotiated, now: Instant) -> Self {
        let mut t = SessionTimer {
            negotiated: n,
            refresh_at: None,
            expires_at: None,
        };
        t.refreshed(n, now);
        t
    }

    /// A refresh succeeded (2xx to a re-INVITE/UPDATE sent or received) with these parameters.
    pub fn refreshed(&mut self, n: Negotiated, now: Instant) {
        let delta = Duration::from_secs(u64::from(n.delta.max(1)));
        self.negotiated = n;
        self.refresh_at = n.local_refresher.then(|| now + delta / 2);
        // §10: the side without the refresh sends BYE min(32, SE/3) seconds before expiry.
        let margin = Duration::from_secs(u64::from((n.delta / 3).min(32)));
        self.expires_at = Some(now + delta - margin);
    }

    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.refresh_at, self.expires_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Reports at most one event per call; call again until `None`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<SessionTimerEvent> {
        if self.expires_at.is_some_and(|t| t <= now) {
            self.expires_at = None;
            self.refresh_at = None;
            return Some(SessionTimerEvent::Expired);
        }
        if self.refresh_at.is_some_and(|t| t <= now) {
            self.refresh_at = None;
            return Some(SessionTimerEvent::RefreshDue);
        }
        None
    }

    /// Stops the timer (session ended or timers turned off by a re-negotiation).
    pub fn stop(&mut self) {
        self.refresh_at = None;
        self.expires_at = None;
    }
}
