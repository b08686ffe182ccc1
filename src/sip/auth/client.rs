//! The client side of digest auth: answer a carrier's 401/407 for outbound REGISTER and INVITE.
//!
//! Sans-IO: the caller supplies the challenge header values and a fresh cnonce (random, from the
//! shell); the client keeps the chosen challenge and the nonce count so later requests (REGISTER
//! refreshes) can reuse the nonce with an increasing `nc` until the server says `stale=true`.

use super::digest::{ha1, pick_challenge, Challenge, Credentials, Qop, ResponseInput};
use super::AuthError;

/// Which header a challenge came in and the answer goes out in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthHeader {
    /// 401 `WWW-Authenticate` → `Authorization`.
    Www,
    /// 407 `Proxy-Authenticate` → `Proxy-Authorization`.
    Proxy,
}

impl AuthHeader {
    /// The header that carries our answer.
    pub fn answer_header(self) -> &'static str {
        match self {
            AuthHeader::Www => "Authorization",
            AuthHeader::Proxy => "Proxy-Authorization",
        }
    }

    /// The header a challenge with this status code arrives in.
    pub fn challenge_header(self) -> &'static str {
        match self {
            AuthHeader::Www => "WWW-Authenticate",
            AuthHeader::Proxy => "Proxy-Authenticate",
        }
    }

    /// 401 → Www, 407 → Proxy.
    pub fn for_status(status: u16) -> Option<Self> {
        match status {
            401 => Some(AuthHeader::Www),
            407 => Some(AuthHeader::Proxy),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
struct Held {
    header: AuthHeader,
    challenge: Challenge,
    nc: u32,
}

/// Digest credentials for one account (a trunk registration, say).
#[derive(Clone, Debug)]
pub struct DigestClient {
    username: String,
    password: String,
    /// At most one challenge per (header, realm); a request may need both a 407 and a 401 answer.
    held: Vec<Held>,
}

/// Most challenges held at once; more realms than this means a misbehaving peer.
const MAX_HELD: usize = 4;

impl DigestClient {
    pub fn new(username: &str, password: &str) -> Self {
        DigestClient {
            username: username.to_owned(),
            password: password.to_owned(),
            held: Vec::new(),
        }
    }

    /// Takes the challenge values of a 401/407 response to a request. `request_was_authorized`
    /// says whether that request carried our answer: if it did and the server challenges the
    /// same realm again without `stale=true`, the password is wrong and retrying would loop
    /// (RFC 7616 §3.3), so this returns [`AuthError::Rejected`].
    pub fn handle_challenge<'a, I>(
        &mut self,
        status: u16,
        values: I,
        request_was_authorized: bool,
    ) -> Result<(), AuthError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let header = AuthHeader::for_status(status).ok_or(AuthError::NotAChallenge)?;
        let challenge = pick_challenge(values).ok_or(AuthError::NoUsableChallenge)?;
        let answered_this_realm = self
            .held
            .iter()
            .any(|h| h.header == header && h.challenge.realm == challenge.realm && h.nc > 0);
        if request_was_authorized && answered_this_realm && !challenge.stale {
            return Err(AuthError::Rejected);
        }
        self.set_challenge(challenge, header == AuthHeader::Proxy);
        Ok(())
    }

    /// Stores a parsed challenge directly, replacing any for the same header and realm.
    pub fn set_challenge(&mut self, challenge: Challenge, proxy: bool) {
        let header = if proxy {
            AuthHeader::Proxy
        } else {
            AuthHeader::Www
        };
        self.held
            .retain(|h| !(h.header == header && h.challenge.realm == challenge.realm));
        if self.held.len() >= MAX_HELD {
            self.held.remove(0);
        }
        self.held.push(Held {
            header,
            challenge,
            nc: 0,
        });
    }

    /// Overrides the next nonce count minus one (tests, or resuming state).
    pub fn set_nc(&mut self, next: u32) {
        for h in &mut self.held {
            h.nc = next.saturating_sub(1);
        }
    }

    /// Forgets all challenges (e.g. after the registration ended).
    pub fn clear(&mut self) {
        self.held.clear();
    }

    /// Whether any challenge is held.
    pub fn has_challenge(&self) -> bool {
        !self.held.is_empty()
    }

    /// The first answer header: `(header name, credentials)`. `uri` is the Request-URI as sent.
    pub fn credentials(
        &mut self,
        method: &str,
        uri: &str,
        body: &[u8],
        cnonce: &str,
    ) -> Option<(&'static str, Credentials)> {
        self.authorize(method, uri, body, cnonce).into_iter().next()
    }

    /// One answer per held challenge, each bumping its nonce count: add these headers to the request.
    pub fn authorize(
        &mut self,
        method: &str,
        uri: &str,
        body: &[u8],
        cnonce: &str,
    ) -> Vec<(&'static str, Credentials)> {
        let mut out = Vec::with_capacity(self.held.len());
        for h in &mut self.held {
            let c = &h.challenge;
            // auth preferred; auth-int only if that is all the server offers; none = RFC 2069.
            let qop = if c.qop.contains(&Qop::Auth) {
                Some(Qop::Auth)
            } else if c.qop.contains(&Qop::AuthInt) {
                Some(Qop::AuthInt)
            } else {
                None
            };
            h.nc = h.nc.saturating_add(1);
            let ha1 = ha1(c.algorithm, &self.username, &c.realm, &self.password);
            let response = super::digest::compute_response(
                &ha1,
                &ResponseInput {
                    algorithm: c.algorithm,
                    nonce: &c.nonce,
                    method,
                    uri,
                    qop,
                    nc: h.nc,
                    cnonce,
                    body,
                },
            );
            let with_cnonce = qop.is_some() || c.algorithm.is_sess();
            out.push((
                h.header.answer_header(),
                Credentials {
                    username: self.username.clone(),
                    realm: c.realm.clone(),
                    nonce: c.nonce.clone(),
                    uri: uri.to_owned(),
                    response,
                    algorithm: c.algorithm,
                    cnonce: with_cnonce.then(|| cnonce.to_owned()),
                    opaque: c.opaque.clone(),
                    qop,
                    nc: qop.map(|_| h.nc),
                    userhash: false,
                    other: Vec::new(),
                },
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::digest::Algorithm;
    use super::super::server::{DigestServer, DigestServerConfig};
    use super::*;

    #[test]
    fn rfc7616_example_through_the_client() {
        let sha =
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, \
                   nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                   opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
        let md5 = sha.replace("SHA-256", "MD5");
        let mut c = DigestClient::new("Mufasa", "Circle of Life");
        c.handle_challenge(401, [md5.as_str(), sha], false).unwrap();
        let (name, creds) = c
            .credentials(
                "GET",
                "/dir/index.html",
                b"",
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            )
            .unwrap();
        assert_eq!(name, "Authorization");
        assert_eq!(creds.algorithm, Algorithm::Sha256);
        assert_eq!(
            creds.response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert_eq!(
            creds.opaque.as_deref(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
        let v = creds.to_header_value();
        assert!(v.contains("nc=00000001"), "{v}");
        assert!(v.contains("qop=auth"), "{v}");
    }

    #[test]
    fn nonce_count_increases_on_reuse() {
        let mut c = DigestClient::new("u", "p");
        c.handle_challenge(
            407,
            ["Digest realm=\"r\", nonce=\"n\", qop=\"auth\""],
            false,
        )
        .unwrap();
        let a = c.credentials("INVITE", "sip:x", b"", "c1").unwrap();
        let b = c.credentials("INVITE", "sip:x", b"", "c2").unwrap();
        assert_eq!(a.0, "Proxy-Authorization");
        assert_eq!((a.1.nc, b.1.nc), (Some(1), Some(2)));
        assert_ne!(a.1.response, b.1.response);
    }

    #[test]
    fn rechallenge_without_stale_means_rejected_but_stale_retries() {
        let mut c = DigestClient::new("u", "p");
        let ch = "Digest realm=\"r\", nonce=\"n1\", qop=\"auth\"";
        c.handle_challenge(401, [ch], false).unwrap();
        c.credentials("REGISTER", "sip:r", b"", "c").unwrap();
        assert_eq!(
            c.handle_challenge(401, [ch], true),
            Err(AuthError::Rejected)
        );
        // A new transaction that went out without credentials may be challenged afresh.
        c.handle_challenge(401, [ch], false).unwrap();
        c.credentials("REGISTER", "sip:r", b"", "c").unwrap();
        c.handle_challenge(
            401,
            ["Digest realm=\"r\", nonce=\"n2\", qop=\"auth\", stale=true"],
            true,
        )
        .unwrap();
        let (_, creds) = c.credentials("REGISTER", "sip:r", b"", "c").unwrap();
        assert_eq!((creds.nonce.as_str(), creds.nc), ("n2", Some(1)));
    }

    #[test]
    fn errors_for_unusable_challenges() {
        let mut c = DigestClient::new("u", "p");
        assert_eq!(
            c.handle_challenge(401, ["Basic realm=\"x\""], false),
            Err(AuthError::NoUsableChallenge)
        );
        assert_eq!(
            c.handle_challenge(403, ["Digest realm=\"r\", nonce=\"n\""], false),
            Err(AuthError::NotAChallenge)
        );
        assert!(!c.has_challenge());
    }

    #[test]
    fn legacy_and_auth_int_only_challenges() {
        let mut c = DigestClient::new("u", "p");
        c.handle_challenge(401, ["Digest realm=\"r\", nonce=\"n\""], false)
            .unwrap();
        let (_, legacy) = c.credentials("REGISTER", "sip:r", b"", "c").unwrap();
        assert_eq!((legacy.qop, legacy.nc, legacy.cnonce), (None, None, None));
        c.handle_challenge(
            401,
            ["Digest realm=\"r2\", nonce=\"n\", qop=\"auth-int\""],
            false,
        )
        .unwrap();
        let answers = c.authorize("INVITE", "sip:r", b"v=0\r\n", "c");
        assert_eq!(answers.len(), 2);
        let int = &answers[1].1;
        assert_eq!(int.qop, Some(Qop::AuthInt));
        let h = ha1(Algorithm::Md5, "u", "r2", "p");
        assert_eq!(
            int.expected_response(&h, "INVITE", b"v=0\r\n"),
            int.response
        );
        assert_ne!(int.expected_response(&h, "INVITE", b""), int.response);
    }

    #[test]
    fn client_and_server_interoperate_over_header_text() {
        let mut server = DigestServer::new("pbx", b"k", DigestServerConfig::default());
        let headers = server.challenge_headers(1_000, false);
        let mut client = DigestClient::new("alice", "s3cret");
        client
            .handle_challenge(401, headers.iter().map(String::as_str), false)
            .unwrap();
        for _ in 0..3 {
            let (_, creds) = client
                .credentials("REGISTER", "sip:pbx", b"", "xyz")
                .unwrap();
            let parsed = Credentials::parse(&creds.to_header_value()).unwrap();
            let stored = ha1(parsed.algorithm.base(), "alice", "pbx", "s3cret");
            server
                .verify(&parsed, "REGISTER", Some("sip:pbx"), &stored, 2_000)
                .unwrap();
        }
    }
}
