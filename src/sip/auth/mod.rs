//! Digest authentication (RFC 7616 / RFC 8760: MD5 and SHA-256), nonces with expiry and replay protection.
//!
//! - [`params`]: the `Scheme name=value, ...` grammar (quoted strings with escapes, bounded).
//! - [`digest`]: [`Algorithm`], [`Qop`], [`Challenge`] and [`Credentials`] header values, [`ha1`]
//!   and [`compute_response`]. The store keeps only HA1 per base algorithm, never passwords.
//! - [`server`]: [`DigestServer`], a sans-IO nonce manager: `challenge_headers(now_ms, stale)` for a
//!   401/407, `verify(&creds, method, uri, ha1, now_ms)` → [`Verified`] or a [`VerifyError`] whose
//!   `is_stale()` says whether to re-challenge with `stale=true`.
//! - [`client`]: [`DigestClient`], answering a carrier's 401/407 with username and password.

pub mod client;
pub mod digest;
pub mod params;
pub mod server;

pub use client::{AuthHeader, DigestClient};
pub use digest::{
    compute_response, ha1, userhash, Algorithm, Challenge, Credentials, Qop, ResponseInput,
};
pub use server::{DigestServer, DigestServerConfig, Verified, VerifyError};

/// A header value that could not be used; messages are short and never echo the whole input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("malformed auth header: {0}")]
    Syntax(&'static str),
    #[error("auth header value too long")]
    TooLong,
    #[error("too many auth parameters")]
    TooManyParams,
    #[error("auth scheme is not Digest")]
    NotDigest,
    #[error("missing digest parameter {0}")]
    Missing(&'static str),
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("status is not 401 or 407")]
    NotAChallenge,
    #[error("no usable Digest challenge")]
    NoUsableChallenge,
    #[error("server rejected our credentials")]
    Rejected,
}
