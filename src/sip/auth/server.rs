//! The server side of digest auth as a sans-IO value: issue nonces bound to time and a secret,
//! build challenges, verify credentials against a stored HA1, detect stale nonces and replays.
//!
//! A nonce is `base64url(issued_ms ‖ counter ‖ HMAC-SHA256(secret, realm ‖ issued_ms ‖ counter)[..16])`,
//! so any node sharing the secret can check it without storing anything. Only nonces that have
//! been *used* are tracked (for nonce-count replay protection), in a bounded table; a nonce that
//! fell out of the table is treated as stale, never as fresh, so eviction cannot enable a replay.

use std::collections::{HashMap, VecDeque};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::digest::{constant_time_eq, Algorithm, Challenge, Credentials, Qop};

const NONCE_RAW_LEN: usize = 8 + 8 + 16;

/// Tunables of a [`DigestServer`].
#[derive(Clone, Debug)]
pub struct DigestServerConfig {
    /// How long a nonce is accepted; after that the answer is a `stale=true` challenge.
    pub nonce_lifetime_ms: u64,
    /// Algorithms offered, in order of preference (one challenge each, same nonce).
    pub algorithms: Vec<Algorithm>,
    /// Accept RFC 2069 credentials without qop (old phones, some gateways).
    pub allow_legacy_no_qop: bool,
    /// With no nc to check, allow a legacy credential only once per nonce.
    pub legacy_single_use: bool,
    /// Most used nonces remembered for replay checks.
    pub max_tracked_nonces: usize,
}

impl Default for DigestServerConfig {
    fn default() -> Self {
        DigestServerConfig {
            nonce_lifetime_ms: 5 * 60 * 1000,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            allow_legacy_no_qop: true,
            legacy_single_use: false,
            max_tracked_nonces: 65_536,
        }
    }
}

/// Why a credential was not accepted, and what to answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("realm does not match")]
    WrongRealm,
    #[error("algorithm not offered")]
    AlgorithmNotOffered,
    #[error("qop=auth-int is not supported")]
    AuthIntRefused,
    #[error("credentials without qop are not accepted")]
    QopRequired,
    #[error("nonce was not issued by us")]
    UnknownNonce,
    #[error("nonce expired")]
    Stale,
    #[error("digest uri does not match the request")]
    UriMismatch,
    #[error("nonce count reused or went backwards")]
    Replay,
    #[error("wrong response (bad password or HA1)")]
    BadResponse,
}

impl VerifyError {
    /// Whether the new challenge should say `stale=true`: the client knew the password,
    /// only the nonce was not good any more, so it may retry without asking the user.
    pub fn is_stale(&self) -> bool {
        matches!(self, VerifyError::Stale | VerifyError::Replay)
    }
}

/// What a verified request carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub username: String,
    pub algorithm: Algorithm,
}

#[derive(Clone, Copy, Debug)]
struct NonceUse {
    issued_ms: u64,
    highest_nc: u32,
    legacy_used: bool,
}

/// Server-side digest state for one realm.
pub struct DigestServer {
    realm: String,
    secret: Vec<u8>,
    config: DigestServerConfig,
    counter: u64,
    used: HashMap<String, NonceUse>,
    /// Insertion order of `used`, for FIFO eviction.
    order: VecDeque<String>,
    /// Nonces issued at or before this time that are not in `used` may have been evicted.
    evicted_watermark_ms: Option<u64>,
}

impl DigestServer {
    /// `secret` keys the nonce MAC; nodes sharing it accept each other's nonces.
    pub fn new(realm: &str, secret: &[u8], config: DigestServerConfig) -> Self {
        DigestServer {
            realm: realm.to_owned(),
            secret: secret.to_vec(),
            config,
            counter: 0,
            used: HashMap::new(),
            order: VecDeque::new(),
            evicted_watermark_ms: None,
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Number of nonces currently tracked (bounded by `max_tracked_nonces`).
    pub fn tracked_nonces(&self) -> usize {
        self.used.len()
    }

    fn mac(&self, issued_ms: u64, counter: u64) -> [u8; 16] {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        let mut out = [0u8; 16];
        if let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.secret) {
            m.update(self.realm.as_bytes());
            m.update(&issued_ms.to_be_bytes());
            m.update(&counter.to_be_bytes());
            out.copy_from_slice(&m.finalize().into_bytes()[..16]);
        }
        out
    }

    /// Issues a fresh nonce at `now_ms` (unix milliseconds, or any clock shared by the nodes).
    pub fn new_nonce(&mut self, now_ms: u64) -> String {
        self.counter = self.counter.wrapping_add(1);
        let mut raw = Vec::with_capacity(NONCE_RAW_LEN);
        raw.extend_from_slice(&now_ms.to_be_bytes());
        raw.extend_from_slice(&self.counter.to_be_bytes());
        raw.extend_from_slice(&self.mac(now_ms, self.counter));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks a nonce's MAC and returns when it was issued.
    fn decode_nonce(&self, nonce: &str) -> Option<u64> {
        if nonce.len() > 64 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        if raw.len() != NONCE_RAW_LEN {
            return None;
        }
        let issued = u64::from_be_bytes(raw.get(0..8)?.try_into().ok()?);
        let counter = u64::from_be_bytes(raw.get(8..16)?.try_into().ok()?);
        let mac = self.mac(issued, counter);
        let got = raw.get(16..)?;
        let diff = mac.iter().zip(got).fold(0u8, |a, (x, y)| a | (x ^ y));
        (diff == 0).then_some(issued)
    }

    /// One challenge per configured algorithm, sharing one new nonce (RFC 8760 §2.4: SHA-256 first).
    pub fn challenge(&mut self, now_ms: u64, stale: bool) -> Vec<Challenge> {
        let nonce = self.new_nonce(now_ms);
        self.config
            .algorithms
            .iter()
            .map(|&alg| {
                let mut c = Challenge::new(&self.realm, &nonce, alg);
                c.stale = stale;
                c
            })
            .collect()
    }

    /// The header values for a 401 `WWW-Authenticate` or 407 `Proxy-Authenticate`, one per algorithm.
    pub fn challenge_headers(&mut self, now_ms: u64, stale: bool) -> Vec<String> {
        self.challenge(now_ms, stale)
            .iter()
            .map(Challenge::to_header_value)
            .collect()
    }

    /// Verifies `creds` for a request with `method` whose Request-URI is `request_uri`
    /// (`None` skips the uri check, e.g. behind a proxy that rewrites it). `ha1_hex` is the
    /// stored H(user:realm:password) for `creds.algorithm.base()`. On success the nonce
    /// count is recorded so the same (nonce, nc) cannot be replayed.
    pub fn verify(
        &mut self,
        creds: &Credentials,
        method: &str,
        request_uri: Option<&str>,
        ha1_hex: &str,
        now_ms: u64,
    ) -> Result<Verified, VerifyError> {
        if creds.realm != self.realm {
            return Err(VerifyError::WrongRealm);
        }
        if !self.config.algorithms.contains(&creds.algorithm) {
            return Err(VerifyError::AlgorithmNotOffered);
        }
        match creds.qop {
            Some(Qop::AuthInt) => return Err(VerifyError::AuthIntRefused),
            None if !self.config.allow_legacy_no_qop => return Err(VerifyError::QopRequired),
            _ => {}
        }
        let issued = self
            .decode_nonce(&creds.nonce)
            .ok_or(VerifyError::UnknownNonce)?;
        // A nonce from the future beyond a small clock skew between nodes is not ours.
        if issued > now_ms.saturating_add(60_000) {
            return Err(VerifyError::UnknownNonce);
        }
        if now_ms.saturating_sub(issued) > self.config.nonce_lifetime_ms {
            return Err(VerifyError::Stale);
        }
        if let Some(uri) = request_uri {
            if creds.uri != uri {
                return Err(VerifyError::UriMismatch);
            }
        }
        let expected = creds.expected_response(ha1_hex, method, b"");
        if !constant_time_eq(&expected, &creds.response) {
            return Err(VerifyError::BadResponse);
        }
        self.record_use(creds, issued, now_ms)?;
        Ok(Verified {
            username: creds.username.clone(),
            algorithm: creds.algorithm,
        })
    }

    fn record_use(
        &mut self,
        creds: &Credentials,
        issued: u64,
        now_ms: u64,
    ) -> Result<(), VerifyError> {
        if let Some(u) = self.used.get_mut(&creds.nonce) {
            match creds.nc {
                Some(nc) if nc > u.highest_nc => u.highest_nc = nc,
                Some(_) => return Err(VerifyError::Replay),
                None if self.config.legacy_single_use && u.legacy_used => {
                    return Err(VerifyError::Replay)
                }
                None => u.legacy_used = true,
            }
            return Ok(());
        }
        if self.evicted_watermark_ms.is_some_and(|w| issued <= w) {
            // We may have forgotten this nonce's count: make the client fetch a new one.
            return Err(VerifyError::Stale);
        }
        if self.used.len() >= self.config.max_tracked_nonces {
            self.purge_expired(now_ms);
        }
        while self.used.len() >= self.config.max_tracked_nonces.max(1) {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(u) = self.used.remove(&old) {
                let w = self.evicted_watermark_ms.get_or_insert(u.issued_ms);
                *w = (*w).max(u.issued_ms);
            }
        }
        if self.evicted_watermark_ms.is_some_and(|w| issued <= w) {
            return Err(VerifyError::Stale);
        }
        self.used.insert(
            creds.nonce.clone(),
            NonceUse {
                issued_ms: issued,
                highest_nc: creds.nc.unwrap_or(0),
                legacy_used: creds.nc.is_none(),
            },
        );
        self.order.push_back(creds.nonce.clone());
        Ok(())
    }

    /// Forgets nonces past their lifetime (they would be answered `stale` anyway).
    pub fn purge_expired(&mut self, now_ms: u64) {
        let lifetime = self.config.nonce_lifetime_ms;
        self.used
            .retain(|_, u| now_ms.saturating_sub(u.issued_ms) <= lifetime);
        let used = &self.used;
        self.order.retain(|n| used.contains_key(n));
    }
}

#[cfg(test)]
mod tests {
    use super::super::client::DigestClient;
    use super::super::digest::{ha1, ResponseInput};
    use super::*;

    const REALM: &str = "hotline.example";
    const T0: u64 = 1_700_000_000_000;

    fn server() -> DigestServer {
        DigestServer::new(REALM, b"secret", DigestServerConfig::default())
    }

    /// A client answer to `challenge` for REGISTER sip:hotline.example.
    fn answer(challenge: &Challenge, password: &str, nc: u32) -> Credentials {
        let mut client = DigestClient::new("1001", password);
        client.set_challenge(challenge.clone(), false);
        client.set_nc(nc);
        client
            .credentials("REGISTER", "sip:hotline.example", b"", "cn0nce")
            .unwrap()
            .1
    }

    fn stored_ha1(alg: Algorithm) -> String {
        ha1(alg, "1001", REALM, "pw")
    }

    #[test]
    fn challenge_offers_sha256_then_md5_with_one_nonce() {
        let mut s = server();
        let cs = s.challenge(T0, false);
        assert_eq!(cs.len(), 2);
        assert_eq!(cs[0].algorithm, Algorithm::Sha256);
        assert_eq!(cs[1].algorithm, Algorithm::Md5);
        assert_eq!(cs[0].nonce, cs[1].nonce);
        assert_eq!(cs[0].qop, vec![Qop::Auth]);
        let headers = s.challenge_headers(T0, true);
        assert!(headers[0].starts_with("Digest realm=\"hotline.example\""));
        assert!(headers[0].contains("stale=true"));
        assert_ne!(Challenge::parse(&headers[0]).unwrap().nonce, cs[0].nonce);
    }

    #[test]
    fn verifies_sha256_and_md5_answers() {
        let mut s = server();
        let cs = s.challenge(T0, false);
        // Both challenges share the nonce, so the counts must keep increasing across them.
        for (nc, c) in (1..).zip(&cs) {
            let creds = answer(c, "pw", nc);
            let v = s
                .verify(
                    &creds,
                    "REGISTER",
                    Some("sip:hotline.example"),
                    &stored_ha1(c.algorithm),
                    T0 + 1000,
                )
                .unwrap();
            assert_eq!(v.username, "1001");
            assert_eq!(v.algorithm, c.algorithm);
        }
    }

    #[test]
    fn wrong_password_is_bad_response_and_does_not_burn_nc() {
        let mut s = server();
        let c = &s.challenge(T0, false)[0];
        let bad = answer(c, "wrong", 1);
        assert_eq!(
            s.verify(&bad, "REGISTER", None, &stored_ha1(Algorithm::Sha256), T0),
            Err(VerifyError::BadResponse)
        );
        let good = answer(c, "pw", 1);
        assert!(s
            .verify(&good, "REGISTER", None, &stored_ha1(Algorithm::Sha256), T0)
            .is_ok());
    }

    #[test]
    fn expired_nonce_is_stale() {
        let mut s = server();
        let c = &s.challenge(T0, false)[0];
        let creds = answer(c, "pw", 1);
        let later = T0 + DigestServerConfig::default().nonce_lifetime_ms + 1;
        let err = s
            .verify(
                &creds,
                "REGISTER",
                None,
                &stored_ha1(Algorithm::Sha256),
                later,
            )
            .unwrap_err();
        assert_eq!(err, VerifyError::Stale);
        assert!(err.is_stale());
    }

    #[test]
    fn replayed_or_decreasing_nc_is_refused() {
        let mut s = server();
        let c = &s.challenge(T0, false)[0];
        let h = stored_ha1(Algorithm::Sha256);
        assert!(s
            .verify(&answer(c, "pw", 2), "REGISTER", None, &h, T0)
            .is_ok());
        assert_eq!(
            s.verify(&answer(c, "pw", 2), "REGISTER", None, &h, T0),
            Err(VerifyError::Replay)
        );
        assert_eq!(
            s.verify(&answer(c, "pw", 1), "REGISTER", None, &h, T0),
            Err(VerifyError::Replay)
        );
        assert!(s
            .verify(&answer(c, "pw", 3), "REGISTER", None, &h, T0)
            .is_ok());
    }

    #[test]
    fn forged_or_foreign_nonce_is_unknown() {
        let mut s = server();
        let mut c = s.challenge(T0, false)[0].clone();
        let h = stored_ha1(Algorithm::Sha256);
        // Another server (different secret) issued it.
        let mut other = DigestServer::new(REALM, b"other", DigestServerConfig::default());
        c.nonce = other.new_nonce(T0);
        assert_eq!(
            s.verify(&answer(&c, "pw", 1), "REGISTER", None, &h, T0),
            Err(VerifyError::UnknownNonce)
        );
        // Tampered timestamp (extend lifetime) breaks the MAC.
        let real = s.new_nonce(T0);
        let mut raw = URL_SAFE_NO_PAD.decode(&real).unwrap();
        raw[7] ^= 1;
        c.nonce = URL_SAFE_NO_PAD.encode(raw);
        assert_eq!(
            s.verify(&answer(&c, "pw", 1), "REGISTER", None, &h, T0),
            Err(VerifyError::UnknownNonce)
        );
        c.nonce = "not base64 !!".into();
        assert_eq!(
            s.verify(&answer(&c, "pw", 1), "REGISTER", None, &h, T0),
            Err(VerifyError::UnknownNonce)
        );
    }

    #[test]
    fn shared_secret_nodes_accept_each_others_nonces() {
        let mut a = server();
        let mut b = server();
        let c = &a.challenge(T0, false)[0];
        assert!(b
            .verify(
                &answer(c, "pw", 1),
                "REGISTER",
                None,
                &stored_ha1(Algorithm::Sha256),
                T0 + 5
            )
            .is_ok());
    }

    #[test]
    fn refuses_auth_int_wrong_realm_uri_and_unoffered_algorithm() {
        let mut s = DigestServer::new(
            REALM,
            b"k",
            DigestServerConfig {
                algorithms: vec![Algorithm::Sha256],
                allow_legacy_no_qop: false,
                ..Default::default()
            },
        );
        let c = &s.challenge(T0, false)[0];
        let h = stored_ha1(Algorithm::Sha256);
        let mut creds = answer(c, "pw", 1);
        creds.qop = Some(Qop::AuthInt);
        assert_eq!(
            s.verify(&creds, "REGISTER", None, &h, T0),
            Err(VerifyError::AuthIntRefused)
        );
        creds.qop = None;
        assert_eq!(
            s.verify(&creds, "REGISTER", None, &h, T0),
            Err(VerifyError::QopRequired)
        );
        let creds = answer(c, "pw", 1);
        assert_eq!(
            s.verify(&creds, "REGISTER", Some("sip:other"), &h, T0),
            Err(VerifyError::UriMismatch)
        );
        let mut wrong_realm = creds.clone();
        wrong_realm.realm = "x".into();
        assert_eq!(
            s.verify(&wrong_realm, "REGISTER", None, &h, T0),
            Err(VerifyError::WrongRealm)
        );
        let mut md5 = c.clone();
        md5.algorithm = Algorithm::Md5;
        assert_eq!(
            s.verify(&answer(&md5, "pw", 1), "REGISTER", None, &h, T0),
            Err(VerifyError::AlgorithmNotOffered)
        );
    }

    #[test]
    fn legacy_no_qop_accepted_and_optionally_single_use() {
        let mut s = DigestServer::new(
            REALM,
            b"k",
            DigestServerConfig {
                legacy_single_use: true,
                ..Default::default()
            },
        );
        let mut c = s.challenge(T0, false)[1].clone();
        c.qop.clear();
        let creds = answer(&c, "pw", 1);
        assert_eq!(creds.qop, None);
        assert_eq!(creds.nc, None);
        let h = stored_ha1(Algorithm::Md5);
        assert!(s.verify(&creds, "REGISTER", None, &h, T0).is_ok());
        assert_eq!(
            s.verify(&creds, "REGISTER", None, &h, T0),
            Err(VerifyError::Replay)
        );
    }

    #[test]
    fn tracking_is_bounded_and_evicted_nonces_go_stale() {
        let mut s = DigestServer::new(
            REALM,
            b"k",
            DigestServerConfig {
                max_tracked_nonces: 4,
                ..Default::default()
            },
        );
        let h = stored_ha1(Algorithm::Sha256);
        let mut first = None;
        for i in 0..10u64 {
            let c = s.challenge(T0 + i, false)[0].clone();
            assert!(s
                .verify(&answer(&c, "pw", 1), "REGISTER", None, &h, T0 + i)
                .is_ok());
            first.get_or_insert(c);
            assert!(s.tracked_nonces() <= 4);
        }
        // The first nonce was evicted: a replay of nc=1 must not be accepted as fresh.
        let replay = answer(first.as_ref().unwrap(), "pw", 1);
        assert_eq!(
            s.verify(&replay, "REGISTER", None, &h, T0 + 20),
            Err(VerifyError::Stale)
        );
    }

    #[test]
    fn stale_rechallenge_lets_the_client_retry_without_rejection() {
        let mut s = server();
        let mut client = DigestClient::new("1001", "pw");
        let h = stored_ha1(Algorithm::Sha256);
        let headers = s.challenge_headers(T0, false);
        client
            .handle_challenge(401, headers.iter().map(String::as_str), false)
            .unwrap();
        let (_, c1) = client
            .credentials("REGISTER", "sip:hotline.example", b"", "a")
            .unwrap();
        assert!(s.verify(&c1, "REGISTER", None, &h, T0).is_ok());
        // An hour later the registration refresh reuses the nonce: stale.
        let later = T0 + 3_600_000;
        let (_, c2) = client
            .credentials("REGISTER", "sip:hotline.example", b"", "b")
            .unwrap();
        assert_eq!(c2.nc, Some(2));
        let err = s.verify(&c2, "REGISTER", None, &h, later).unwrap_err();
        assert!(err.is_stale());
        let headers = s.challenge_headers(later, err.is_stale());
        // The request carried credentials, but stale=true means "retry", not "wrong password".
        client
            .handle_challenge(401, headers.iter().map(String::as_str), true)
            .unwrap();
        let (_, c3) = client
            .credentials("REGISTER", "sip:hotline.example", b"", "c")
            .unwrap();
        assert_eq!(c3.nc, Some(1));
        assert!(s.verify(&c3, "REGISTER", None, &h, later).is_ok());
        // Whereas a wrong password gets a non-stale challenge and the client gives up.
        let mut wrong = DigestClient::new("1001", "nope");
        let headers = s.challenge_headers(later, false);
        wrong
            .handle_challenge(401, headers.iter().map(String::as_str), false)
            .unwrap();
        let (_, bad) = wrong
            .credentials("REGISTER", "sip:hotline.example", b"", "d")
            .unwrap();
        let err = s.verify(&bad, "REGISTER", None, &h, later).unwrap_err();
        assert!(!err.is_stale());
        let headers = s.challenge_headers(later, err.is_stale());
        assert_eq!(
            wrong.handle_challenge(401, headers.iter().map(String::as_str), true),
            Err(crate::sip::auth::AuthError::Rejected)
        );
    }

    #[test]
    fn purge_drops_expired_nonces() {
        let mut s = server();
        let c = &s.challenge(T0, false)[0];
        s.verify(
            &answer(c, "pw", 1),
            "REGISTER",
            None,
            &stored_ha1(Algorithm::Sha256),
            T0,
        )
        .unwrap();
        assert_eq!(s.tracked_nonces(), 1);
        s.purge_expired(T0 + 10 * 60 * 1000);
        assert_eq!(s.tracked_nonces(), 0);
    }

    #[test]
    fn verify_matches_independent_computation() {
        let mut s = server();
        let c = &s.challenge(T0, false)[0];
        let h = stored_ha1(Algorithm::Sha256);
        let creds = answer(c, "pw", 7);
        let expected = super::super::digest::compute_response(
            &h,
            &ResponseInput {
                algorithm: Algorithm::Sha256,
                nonce: &c.nonce,
                method: "REGISTER",
                uri: "sip:hotline.example",
                qop: Some(Qop::Auth),
                nc: 7,
                cnonce: "cn0nce",
                body: b"",
            },
        );
        assert_eq!(creds.response, expected);
        assert_eq!(
            s.verify(&creds, "INVITE", None, &h, T0),
            Err(VerifyError::BadResponse)
        );
    }
}
