//! Satisfaction by a signed public link (what the revisit SMS carries): the link names a ticket
//! and its handling cycle, expires, and is signed with HMAC-SHA256 so it cannot be forged or
//! pointed at another ticket. The citizen rates three dimensions (agent service, seat service,
//! handling result, 1–5) plus resolution; the rating becomes the ticket's SMS revisit.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sqlx::Row;

use super::lifecycle::{Command, Refusal};
use super::model::{Actor, Resolution, RevisitMethod, Role, Satisfaction};
use super::store::{Result, TicketError, TicketStore};

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks satisfaction links.
#[derive(Clone)]
pub struct LinkSigner {
    secret: Vec<u8>,
    /// How long a link stays valid.
    pub ttl_ms: i64,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSigner")
            .field("ttl_ms", &self.ttl_ms)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkClaims {
    pub ticket_id: String,
    pub cycle: u8,
    pub expires_ms: i64,
}

impl LinkSigner {
    /// A signer with `secret` (at least 16 bytes; shorter secrets are refused).
    pub fn new(secret: &[u8], ttl_ms: i64) -> Option<LinkSigner> {
        (secret.len() >= 16).then(|| LinkSigner {
            secret: secret.to_vec(),
            ttl_ms,
        })
    }

    /// A signer with a random secret (links die with the process: fine for tests and demos).
    pub fn random() -> LinkSigner {
        let mut s = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut s);
        LinkSigner {
            secret: s.to_vec(),
            ttl_ms: 7 * 86_400_000,
        }
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        // new_from_slice accepts any key length for HMAC.
        let mut m = HmacSha256::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(payload.as_bytes());
        m
    }

    pub fn sign(&self, ticket_id: &str, cycle: u8, now_ms: i64) -> String {
        let payload = format!("{ticket_id}|{cycle}|{}", now_ms + self.ttl_ms);
        let sig = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// The claims of a valid, unexpired link.
    pub fn verify(&self, token: &str, now_ms: i64) -> Option<LinkClaims> {
        if token.len() > 512 {
            return None;
        }
        let (p, s) = token.split_once('.')?;
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        self.mac(&payload).verify_slice(&sig).ok()?;
        let mut parts = payload.split('|');
        let claims = LinkClaims {
            ticket_id: parts.next()?.to_string(),
            cycle: parts.next()?.parse().ok()?,
            expires_ms: parts.next()?.parse().ok()?,
        };
        (parts.next().is_none() && claims.expires_ms > now_ms).then_some(claims)
    }
}

/// The citizen's rating.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rating {
    /// 话务员服务 1..5.
    pub agent_service: u8,
    /// 人工坐席服务 1..5.
    pub seat_service: u8,
    /// 工单办理结果 1..5.
    pub result: u8,
    pub resolution: Resolution,
    #[serde(default)]
    pub comment: String,
}

/// What the public page shows before rating (no personal data).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RatingPage {
    pub number: String,
    pub title: String,
    pub status: String,
    pub already_rated: bool,
}

impl TicketStore {
    pub async fn rating_page(&self, claims: &LinkClaims) -> Result<RatingPage> {
        let r = sqlx::query("SELECT number, title, status FROM tickets WHERE id = $1")
            .bind(&claims.ticket_id)
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(TicketError::NotFound)?;
        let rated =
            sqlx::query("SELECT 1 AS one FROM satisfaction WHERE ticket_id = $1 AND cycle = $2")
                .bind(&claims.ticket_id)
                .bind(claims.cycle as i64)
                .fetch_optional(&self.db.pool)
                .await?
                .is_some();
        Ok(RatingPage {
            number: r.try_get("number")?,
            title: r.try_get("title")?,
            status: r.try_get("status")?,
            already_rated: rated,
        })
    }

    /// Records a rating once per cycle and applies it as the SMS revisit.
    pub async fn rate(&self, claims: &LinkClaims, rating: &Rating, now: i64) -> Result<()> {
        let bad = |reason: &str| {
            TicketError::Refused(Refusal::Invalid {
                code: "rating",
                reason: reason.into(),
            })
        };
        for v in [rating.agent_service, rating.seat_service, rating.result] {
            if !(1..=5).contains(&v) {
                return Err(bad("scores are 1 to 5"));
            }
        }
        if rating.comment.chars().count() > 1000 {
            return Err(bad("the comment is longer than 1000 characters"));
        }
        let satisfaction = match rating.result {
            4..=5 => Satisfaction::Satisfied,
            3 => Satisfaction::Neutral,
            _ => Satisfaction::Dissatisfied,
        };
        let citizen = Actor {
            user_id: "citizen".into(),
            roles: vec![Role::Citizen],
            region_scope: String::new(),
            department: None,
        };
        let cmd = Command::Revisit {
            method: RevisitMethod::Sms,
            satisfaction,
            resolution: rating.resolution,
            note: rating.comment.clone(),
        };
        // The state check refuses a second rating (the ticket is no longer closed) or a stale cycle.
        let current: i64 = sqlx::query("SELECT cycle FROM tickets WHERE id = $1")
            .bind(&claims.ticket_id)
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(TicketError::NotFound)?
            .try_get("cycle")?;
        if current != claims.cycle as i64 {
            return Err(TicketError::Refused(Refusal::Conflict {
                code: "stale_link",
                reason: "this link belongs to an earlier handling".into(),
            }));
        }
        self.act(&claims.ticket_id, &citizen, cmd, now)
            .await
            .map_err(|e| match e {
                TicketError::Refused(Refusal::Conflict { code: "state", .. }) => {
                    TicketError::Refused(Refusal::Conflict {
                        code: "already_rated",
                        reason: "this ticket cannot be rated now".into(),
                    })
                }
                e => e,
            })?;
        sqlx::query(
            "INSERT INTO satisfaction (ticket_id, cycle, at_ms, channel, agent_service, seat_service, result, comment)
             VALUES ($1, $2, $3, 'sms', $4, $5, $6, $7)",
        )
        .bind(&claims.ticket_id)
        .bind(claims.cycle as i64)
        .bind(now)
        .bind(rating.agent_service as i64)
        .bind(rating.seat_service as i64)
        .bind(rating.result as i64)
        .bind(&rating.comment)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_and_resist_tampering() {
        let s = LinkSigner::new(b"0123456789abcdef0123", 1000).unwrap();
        let t = s.sign("T-1", 2, 5_000);
        assert_eq!(
            s.verify(&t, 5_500),
            Some(LinkClaims {
                ticket_id: "T-1".into(),
                cycle: 2,
                expires_ms: 6_000
            })
        );
        assert_eq!(s.verify(&t, 6_000), None, "expired");
        let (p, sig) = t.split_once('.').unwrap();
        let forged = format!("{}.{sig}", URL_SAFE_NO_PAD.encode("T-2|2|6000"));
        assert_eq!(s.verify(&forged, 5_500), None, "another ticket");
        assert_eq!(s.verify(&format!("{p}.AAAA"), 5_500), None);
        let other = LinkSigner::new(b"another-secret-of-len", 1000).unwrap();
        assert_eq!(other.verify(&t, 5_500), None);
        for junk in ["", ".", "x.y", "%%%.%%%", &"a".repeat(600)] {
            assert_eq!(s.verify(junk, 0), None);
        }
        assert!(LinkSigner::new(b"short", 1).is_none());
    }
}
