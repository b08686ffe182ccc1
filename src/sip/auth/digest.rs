//! Digest types and arithmetic: algorithms, qop, the `Challenge` and `Credentials` header values,
//! and the response computation of RFC 7616 §3.4 (which RFC 8760 applies to SIP).

use md5::Md5;
use sha2::{Digest as _, Sha256, Sha512_256};

use super::params::{parse_auth_value, push_param, push_quoted, AuthValue, Param};
use super::AuthError;

/// A digest hash algorithm, with or without the `-sess` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
    Sha512_256,
    Sha512_256Sess,
}

impl Algorithm {
    /// Parses the `algorithm` parameter (case-insensitive).
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "MD5" => Algorithm::Md5,
            "MD5-SESS" => Algorithm::Md5Sess,
            "SHA-256" => Algorithm::Sha256,
            "SHA-256-SESS" => Algorithm::Sha256Sess,
            "SHA-512-256" => Algorithm::Sha512_256,
            "SHA-512-256-SESS" => Algorithm::Sha512_256Sess,
            _ => return Err(AuthError::UnsupportedAlgorithm(truncate(s))),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// The algorithm without `-sess`: the one whose HA1 the credential store keeps.
    pub fn base(self) -> Self {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Algorithm::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => Algorithm::Sha256,
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => Algorithm::Sha512_256,
        }
    }

    pub fn is_sess(self) -> bool {
        self != self.base()
    }

    /// Preference when a peer offers several challenges: stronger first (RFC 7616 §3.7).
    fn strength(self) -> u8 {
        match self.base() {
            Algorithm::Sha512_256 => 3,
            Algorithm::Sha256 => 2,
            _ => 1,
        }
    }

    /// Lower-case hex of H(data).
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self.base() {
            Algorithm::Sha256 => hex::encode(Sha256::digest(data)),
            Algorithm::Sha512_256 => hex::encode(Sha512_256::digest(data)),
            _ => hex::encode(Md5::digest(data)),
        }
    }
}

/// Quality of protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qop {
    Auth,
    AuthInt,
}

impl Qop {
    pub fn as_str(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

/// HA1 = H(username:realm:password): what the credential store keeps, per base algorithm.
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm
        .base()
        .hash_hex(format!("{username}:{realm}:{password}").as_bytes())
}

/// RFC 7616 §3.4.4 `userhash`: the username a client sends when it hides the real one,
/// H(username:realm). A server keeps this next to HA1 to look the account up.
pub fn userhash(algorithm: Algorithm, username: &str, realm: &str) -> String {
    algorithm
        .base()
        .hash_hex(format!("{username}:{realm}").as_bytes())
}

/// The inputs of one response computation besides HA1.
#[derive(Clone, Copy, Debug)]
pub struct ResponseInput<'a> {
    pub algorithm: Algorithm,
    pub nonce: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    /// `None` is the RFC 2069 legacy form (no qop, no nc/cnonce).
    pub qop: Option<Qop>,
    pub nc: u32,
    pub cnonce: &'a str,
    /// The message body; hashed only for `auth-int`.
    pub body: &'a [u8],
}

/// The `response` value from the base-algorithm HA1 (hex), per RFC 7616 §3.4.1-3.4.3.
pub fn compute_response(ha1_hex: &str, input: &ResponseInput<'_>) -> String {
    let alg = input.algorithm;
    let ha1 = if alg.is_sess() {
        alg.hash_hex(format!("{ha1_hex}:{}:{}", input.nonce, input.cnonce).as_bytes())
    } else {
        ha1_hex.to_ascii_lowercase()
    };
    let ha2 = match input.qop {
        Some(Qop::AuthInt) => alg.hash_hex(
            format!(
                "{}:{}:{}",
                input.method,
                input.uri,
                alg.hash_hex(input.body)
            )
            .as_bytes(),
        ),
        _ => alg.hash_hex(format!("{}:{}", input.method, input.uri).as_bytes()),
    };
    match input.qop {
        Some(qop) => alg.hash_hex(
            format!(
                "{ha1}:{}:{:08x}:{}:{}:{ha2}",
                input.nonce,
                input.nc,
                input.cnonce,
                qop.as_str()
            )
            .as_bytes(),
        ),
        None => alg.hash_hex(format!("{ha1}:{}:{ha2}", input.nonce).as_bytes()),
    }
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` Digest challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub stale: bool,
    /// MD5 when the parameter is absent (RFC 7616 §3.3).
    pub algorithm: Algorithm,
    /// Offered qop values; empty means legacy RFC 2069 (no qop).
    pub qop: Vec<Qop>,
    pub domain: Option<String>,
    pub userhash: bool,
    /// Parameters we do not interpret, in order.
    pub other: Vec<Param>,
}

impl Challenge {
    pub fn new(realm: &str, nonce: &str, algorithm: Algorithm) -> Self {
        Challenge {
            realm: realm.to_owned(),
            nonce: nonce.to_owned(),
            opaque: None,
            stale: false,
            algorithm,
            qop: vec![Qop::Auth],
            domain: None,
            userhash: false,
            other: Vec::new(),
        }
    }

    /// Parses a header value. Unknown qop tokens are ignored; an unknown algorithm is an error
    /// (the client then skips this challenge, RFC 7616 §3.7).
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        let v = parse_auth_value(value)?;
        Self::from_value(v)
    }

    fn from_value(v: AuthValue) -> Result<Self, AuthError> {
        if !v.scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthError::NotDigest);
        }
        let mut c = Challenge::new("", "", Algorithm::Md5);
        c.qop.clear();
        let (mut realm, mut nonce) = (None, None);
        for p in v.params {
            match p.name.as_str() {
                "realm" => realm = Some(p.value),
                "nonce" => nonce = Some(p.value),
                "opaque" => c.opaque = Some(p.value),
                "stale" => c.stale = p.value.eq_ignore_ascii_case("true"),
                "algorithm" => c.algorithm = Algorithm::parse(&p.value)?,
                "domain" => c.domain = Some(p.value),
                "userhash" => c.userhash = p.value.eq_ignore_ascii_case("true"),
                "qop" => {
                    for t in p.value.split(',').map(str::trim) {
                        let q = if t.eq_ignore_ascii_case("auth") {
                            Qop::Auth
                        } else if t.eq_ignore_ascii_case("auth-int") {
                            Qop::AuthInt
                        } else {
                            continue;
                        };
                        if !c.qop.contains(&q) {
                            c.qop.push(q);
                        }
                    }
                }
                _ => c.other.push(p),
            }
        }
        c.realm = realm.ok_or(AuthError::Missing("realm"))?;
        c.nonce = nonce.ok_or(AuthError::Missing("nonce"))?;
        Ok(c)
    }

    /// The header value, e.g. `Digest realm="..", nonce="..", algorithm=SHA-256, qop="auth"`.
    pub fn to_header_value(&self) -> String {
        let mut s = String::from("Digest ");
        push_param(&mut s, "realm", &self.realm, true);
        if let Some(d) = &self.domain {
            push_param(&mut s, "domain", d, true);
        }
        push_param(&mut s, "nonce", &self.nonce, true);
        if let Some(o) = &self.opaque {
            push_param(&mut s, "opaque", o, true);
        }
        if self.stale {
            push_param(&mut s, "stale", "true", false);
        }
        push_param(&mut s, "algorithm", self.algorithm.as_str(), false);
        if !self.qop.is_empty() {
            let list: Vec<&str> = self.qop.iter().map(|q| q.as_str()).collect();
            push_param(&mut s, "qop", &list.join(","), true);
        }
        if self.userhash {
            push_param(&mut s, "userhash", "true", false);
        }
        for p in &self.other {
            push_param(&mut s, &p.name, &p.value, p.quoted);
        }
        s
    }
}

/// An `Authorization` / `Proxy-Authorization` Digest credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    /// Lower-case hex.
    pub response: String,
    pub algorithm: Algorithm,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub qop: Option<Qop>,
    /// The nonce count; present exactly when `qop` is.
    pub nc: Option<u32>,
    pub userhash: bool,
    pub other: Vec<Param>,
}

impl Credentials {
    /// Parses a header value, checking the combinations RFC 7616 requires (qop ⇔ nc + cnonce).
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        let v = parse_auth_value(value)?;
        if !v.scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthError::NotDigest);
        }
        let (mut username, mut realm, mut nonce, mut uri, mut response) =
            (None, None, None, None, None);
        let mut c = Credentials {
            username: String::new(),
            realm: String::new(),
            nonce: String::new(),
            uri: String::new(),
            response: String::new(),
            algorithm: Algorithm::Md5,
            cnonce: None,
            opaque: None,
            qop: None,
            nc: None,
            userhash: false,
            other: Vec::new(),
        };
        for p in v.params {
            match p.name.as_str() {
                "username" => username = Some(p.value),
                "realm" => realm = Some(p.value),
                "nonce" => nonce = Some(p.value),
                "uri" => uri = Some(p.value),
                "response" => response = Some(p.value),
                "algorithm" => c.algorithm = Algorithm::parse(&p.value)?,
                "cnonce" => c.cnonce = Some(p.value),
                "opaque" => c.opaque = Some(p.value),
                "userhash" => c.userhash = p.value.eq_ignore_ascii_case("true"),
                "qop" => {
                    c.qop = Some(if p.value.eq_ignore_ascii_case("auth") {
                        Qop::Auth
                    } else if p.value.eq_ignore_ascii_case("auth-int") {
                        Qop::AuthInt
                    } else {
                        return Err(AuthError::Syntax("unknown qop value"));
                    })
                }
                "nc" => {
                    if p.value.is_empty()
                        || p.value.len() > 8
                        || !p.value.bytes().all(|b| b.is_ascii_hexdigit())
                    {
                        return Err(AuthError::Syntax("nc must be 1-8 hex digits"));
                    }
                    c.nc = u32::from_str_radix(&p.value, 16).ok();
                }
                _ => c.other.push(p),
            }
        }
        c.username = username.ok_or(AuthError::Missing("username"))?;
        c.realm = realm.ok_or(AuthError::Missing("realm"))?;
        c.nonce = nonce.ok_or(AuthError::Missing("nonce"))?;
        c.uri = uri.ok_or(AuthError::Missing("uri"))?;
        let response = response.ok_or(AuthError::Missing("response"))?;
        if response.is_empty() || !response.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::Syntax("response must be hex"));
        }
        c.response = response.to_ascii_lowercase();
        if c.qop.is_some() {
            if c.nc.is_none() {
                return Err(AuthError::Missing("nc"));
            }
            if c.cnonce.is_none() {
                return Err(AuthError::Missing("cnonce"));
            }
        }
        Ok(c)
    }

    /// The header value. `algorithm` is always written (RFC 8760 asks for it with SHA-256).
    pub fn to_header_value(&self) -> String {
        let mut s = String::from("Digest ");
        push_param(&mut s, "username", &self.username, true);
        push_param(&mut s, "realm", &self.realm, true);
        push_param(&mut s, "nonce", &self.nonce, true);
        push_param(&mut s, "uri", &self.uri, true);
        push_param(&mut s, "response", &self.response, true);
        push_param(&mut s, "algorithm", self.algorithm.as_str(), false);
        if let Some(cn) = &self.cnonce {
            push_param(&mut s, "cnonce", cn, true);
        }
        if let Some(o) = &self.opaque {
            push_param(&mut s, "opaque", o, true);
        }
        if let Some(q) = self.qop {
            push_param(&mut s, "qop", q.as_str(), false);
        }
        if let Some(nc) = self.nc {
            push_param(&mut s, "nc", &format!("{nc:08x}"), false);
        }
        if self.userhash {
            push_param(&mut s, "userhash", "true", false);
        }
        for p in &self.other {
            s.push_str(", ");
            s.push_str(&p.name);
            s.push('=');
            if p.quoted {
                push_quoted(&mut s, &p.value);
            } else {
                s.push_str(&p.value);
            }
        }
        s
    }

    /// The response this credential should carry given the base-algorithm HA1 and the request.
    pub fn expected_response(&self, ha1_hex: &str, method: &str, body: &[u8]) -> String {
        compute_response(
            ha1_hex,
            &ResponseInput {
                algorithm: self.algorithm,
                nonce: &self.nonce,
                method,
                uri: &self.uri,
                qop: self.qop,
                nc: self.nc.unwrap_or(0),
                cnonce: self.cnonce.as_deref().unwrap_or(""),
                body,
            },
        )
    }
}

/// Picks the challenge to answer among several (RFC 7616 §3.7: the strongest we support, in
/// the server's order on ties); unparseable or unknown-algorithm values are skipped.
pub fn pick_challenge<'a, I: IntoIterator<Item = &'a str>>(values: I) -> Option<Challenge> {
    let mut best: Option<Challenge> = None;
    for v in values {
        let Ok(c) = Challenge::parse(v) else { continue };
        if best
            .as_ref()
            .is_none_or(|b| c.algorithm.strength() > b.algorithm.strength())
        {
            best = Some(c);
        }
    }
    best
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC7616_SHA256_CHALLENGE: &str = "Digest\r\n    realm=\"http-auth@example.org\",\r\n    qop=\"auth, auth-int\",\r\n    algorithm=SHA-256,\r\n    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n    opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

    fn rfc7616_input(algorithm: Algorithm) -> ResponseInput<'static> {
        ResponseInput {
            algorithm,
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            method: "GET",
            uri: "/dir/index.html",
            qop: Some(Qop::Auth),
            nc: 1,
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            body: b"",
        }
    }

    #[test]
    fn rfc7616_sha256_example() {
        let ha1 = ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(
            compute_response(&ha1, &rfc7616_input(Algorithm::Sha256)),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc7616_md5_example() {
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(
            compute_response(&ha1, &rfc7616_input(Algorithm::Md5)),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
    }

    #[test]
    fn rfc2617_example_via_parsed_credentials() {
        let creds = Credentials::parse(
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, \
             nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert_eq!(creds.algorithm, Algorithm::Md5);
        assert_eq!(creds.nc, Some(1));
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert_eq!(creds.expected_response(&ha1, "GET", b""), creds.response);
        assert_ne!(creds.expected_response(&ha1, "POST", b""), creds.response);
    }

    #[test]
    fn parses_rfc7616_challenge() {
        let c = Challenge::parse(RFC7616_SHA256_CHALLENGE).unwrap();
        assert_eq!(c.realm, "http-auth@example.org");
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert_eq!(c.qop, vec![Qop::Auth, Qop::AuthInt]);
        assert_eq!(
            c.opaque.as_deref(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
        assert!(!c.stale);
        // And it round-trips through our serializer.
        assert_eq!(Challenge::parse(&c.to_header_value()).unwrap(), c);
    }

    #[test]
    fn challenge_errors_are_specific() {
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(AuthError::NotDigest)
        );
        assert_eq!(
            Challenge::parse("Digest nonce=\"x\""),
            Err(AuthError::Missing("realm"))
        );
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA3"),
            Err(AuthError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn credentials_require_nc_and_cnonce_with_qop() {
        let base =
            "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:a\", response=\"ab\"";
        assert!(Credentials::parse(base).is_ok());
        assert_eq!(
            Credentials::parse(&format!("{base}, qop=auth, cnonce=\"c\"")),
            Err(AuthError::Missing("nc"))
        );
        assert_eq!(
            Credentials::parse(&format!("{base}, qop=auth, nc=1")),
            Err(AuthError::Missing("cnonce"))
        );
        assert!(
            Credentials::parse(&format!("{base}, qop=auth, nc=123456789, cnonce=\"c\"")).is_err()
        );
        assert!(Credentials::parse(
            "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:a\", response=\"xyz\""
        )
        .is_err());
    }

    #[test]
    fn credentials_round_trip() {
        let c = Credentials::parse(
            "digest USERNAME=\"a\\\"b\", realm=\"r\", nonce=\"n\", uri=\"sip:x@y\", response=\"AB12\", \
             algorithm=sha-256-sess, qop=\"auth\", nc=0000000a, cnonce=\"c\", foo=bar",
        )
        .unwrap();
        assert_eq!(c.username, "a\"b");
        assert_eq!(c.algorithm, Algorithm::Sha256Sess);
        assert_eq!(c.nc, Some(10));
        assert_eq!(c.response, "ab12");
        assert_eq!(Credentials::parse(&c.to_header_value()).unwrap(), c);
    }

    #[test]
    fn picks_strongest_supported_challenge() {
        let md5 = "Digest realm=\"r\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"";
        let sha = "Digest realm=\"r\", nonce=\"n2\", algorithm=SHA-256, qop=\"auth\"";
        let unknown = "Digest realm=\"r\", nonce=\"n3\", algorithm=SHA-999";
        let c = pick_challenge([md5, unknown, sha]).unwrap();
        assert_eq!(c.nonce, "n2");
        assert_eq!(pick_challenge([unknown, "junk"]), None);
    }

    #[test]
    fn sess_and_legacy_variants_differ_and_are_deterministic() {
        let ha1 = ha1(Algorithm::Md5, "u", "r", "p");
        let mut input = rfc7616_input(Algorithm::Md5Sess);
        let sess = compute_response(&ha1, &input);
        input.algorithm = Algorithm::Md5;
        assert_ne!(sess, compute_response(&ha1, &input));
        input.qop = None;
        // RFC 2069: H(HA1:nonce:HA2)
        let ha2 = Algorithm::Md5.hash_hex(b"GET:/dir/index.html");
        let expected = Algorithm::Md5.hash_hex(format!("{ha1}:{}:{ha2}", input.nonce).as_bytes());
        assert_eq!(compute_response(&ha1, &input), expected);
        input.algorithm = Algorithm::Sha512_256;
        assert_eq!(compute_response(&ha1, &input).len(), 64);
    }

    #[test]
    fn userhash_matches_rfc7616_example() {
        // RFC 7616 §3.9.2 as corrected by erratum 4897: user "J\u{e4}s\u{f8}n Doe",
        // realm "api@example.org", password "Secret, or not?", SHA-512-256.
        let (user, realm) = ("J\u{e4}s\u{f8}n Doe", "api@example.org");
        assert_eq!(
            userhash(Algorithm::Sha512_256, user, realm),
            "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
        );
        let h = ha1(Algorithm::Sha512_256, user, realm, "Secret, or not?");
        let response = compute_response(
            &h,
            &ResponseInput {
                algorithm: Algorithm::Sha512_256,
                nonce: "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK",
                method: "GET",
                uri: "/doe.json",
                qop: Some(Qop::Auth),
                nc: 1,
                cnonce: "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
                body: b"",
            },
        );
        assert_eq!(
            response,
            "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
        );
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
