//! Header names: the known set (with RFC 3261 compact forms) and case-insensitive lookup.

macro_rules! header_names {
    ($( $var:ident => $canon:literal, $compact:expr; )*) => {
        /// A header name, recognised case-insensitively and by compact form. Unknown names are `Other`
        /// (the message keeps the name as written).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum HeaderName {
            $( $var, )*
            Other,
        }

        impl HeaderName {
            /// Canonical spelling, e.g. `Call-ID`; `None` for `Other`.
            pub fn canonical(self) -> Option<&'static str> {
                match self {
                    $( HeaderName::$var => Some($canon), )*
                    HeaderName::Other => None,
                }
            }

            /// The compact one-letter form, if the header has one.
            pub fn compact(self) -> Option<char> {
                match self {
                    $( HeaderName::$var => $compact, )*
                    HeaderName::Other => None,
                }
            }

            /// Every known name, for tests.
            #[cfg(test)]
            pub(crate) const ALL: &'static [HeaderName] = &[$( HeaderName::$var, )*];
        }
    };
}

header_names! {
    Via => "Via", Some('v');
    From => "From", Some('f');
    To => "To", Some('t');
    CallId => "Call-ID", Some('i');
    CSeq => "CSeq", None;
    Contact => "Contact", Some('m');
    MaxForwards => "Max-Forwards", None;
    ContentLength => "Content-Length", Some('l');
    ContentType => "Content-Type", Some('c');
    ContentEncoding => "Content-Encoding", Some('e');
    Route => "Route", None;
    RecordRoute => "Record-Route", None;
    Expires => "Expires", None;
    MinExpires => "Min-Expires", None;
    Authorization => "Authorization", None;
    WwwAuthenticate => "WWW-Authenticate", None;
    ProxyAuthenticate => "Proxy-Authenticate", None;
    ProxyAuthorization => "Proxy-Authorization", None;
    Subject => "Subject", Some('s');
    Supported => "Supported", Some('k');
    Require => "Require", None;
    ProxyRequire => "Proxy-Require", None;
    Unsupported => "Unsupported", None;
    Allow => "Allow", None;
    Accept => "Accept", None;
    Event => "Event", Some('o');
    ReferTo => "Refer-To", Some('r');
    ReferredBy => "Referred-By", Some('b');
    AllowEvents => "Allow-Events", Some('u');
    SessionExpires => "Session-Expires", Some('x');
    MinSe => "Min-SE", None;
    Identity => "Identity", Some('y');
    IdentityInfo => "Identity-Info", Some('n');
    AcceptContact => "Accept-Contact", Some('a');
    RejectContact => "Reject-Contact", Some('j');
    RequestDisposition => "Request-Disposition", Some('d');
    UserAgent => "User-Agent", None;
    Server => "Server", None;
    Timestamp => "Timestamp", None;
    Date => "Date", None;
    RetryAfter => "Retry-After", None;
    Warning => "Warning", None;
    RSeq => "RSeq", None;
    RAck => "RAck", None;
    Replaces => "Replaces", None;
    PAssertedIdentity => "P-Asserted-Identity", None;
    Privacy => "Privacy", None;
    SubscriptionState => "Subscription-State", None;
    ContentDisposition => "Content-Disposition", None;
}

impl HeaderName {
    /// Recognise a header name as written on the wire (any case, compact forms too).
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        if name.len() == 1 {
            return match name[0].to_ascii_lowercase() {
                b'v' => HeaderName::Via,
                b'f' => HeaderName::From,
                b't' => HeaderName::To,
                b'i' => HeaderName::CallId,
                b'm' => HeaderName::Contact,
                b'l' => HeaderName::ContentLength,
                b'c' => HeaderName::ContentType,
                b'e' => HeaderName::ContentEncoding,
                b's' => HeaderName::Subject,
                b'k' => HeaderName::Supported,
                b'o' => HeaderName::Event,
                b'r' => HeaderName::ReferTo,
                b'b' => HeaderName::ReferredBy,
                b'u' => HeaderName::AllowEvents,
                b'x' => HeaderName::SessionExpires,
                b'y' => HeaderName::Identity,
                b'n' => HeaderName::IdentityInfo,
                b'a' => HeaderName::AcceptContact,
                b'j' => HeaderName::RejectContact,
                b'd' => HeaderName::RequestDisposition,
                _ => HeaderName::Other,
            };
        }
        // At most three known names share a length and a first letter: compare only those.
        let first = name.first().map_or(0, |b| b.to_ascii_lowercase());
        candidates(name.len(), first)
            .iter()
            .find(|(_, c)| same_name(name, c))
            .map_or(HeaderName::Other, |&(h, _)| h)
    }

    /// Headers that may appear at most once (a second one is a 400).
    pub(crate) fn is_single(self) -> bool {
        matches!(
            self,
            HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
                | HeaderName::MaxForwards
                | HeaderName::ContentLength
                | HeaderName::ContentType
                | HeaderName::Expires
        )
    }

    /// Does `name` (as the caller spelled it) denote this header? Case-insensitive, compact-aware.
    pub fn matches(self, name: &[u8]) -> bool {
        self != HeaderName::Other && HeaderName::from_bytes(name) == self
    }
}

/// Case-insensitive equality in one inline pass; a byte in the canonical case (what senders
/// nearly always write) costs one compare, and no library call is made for these short names.
#[inline]
fn same_name(name: &[u8], canonical: &[u8]) -> bool {
    name.len() == canonical.len()
        && name
            .iter()
            .zip(canonical)
            .all(|(&a, &c)| a == c || a.eq_ignore_ascii_case(&c))
}

/// The known names of this length whose canonical spelling starts with `first` (lower case), with
/// that spelling (stored here so the lookup compares at once, without a `canonical()` jump).
/// Kept in step with the list above by the `every_name_found` test.
fn candidates(len: usize, first: u8) -> &'static [(HeaderName, &'static [u8])] {
    use HeaderName::*;
    match (len, first) {
        (2, b't') => &[(To, b"To")],
        (3, b'v') => &[(Via, b"Via")],
        (4, b'f') => &[(From, b"From")],
        (4, b'c') => &[(CSeq, b"CSeq")],
        (4, b'd') => &[(Date, b"Date")],
        (4, b'r') => &[(RSeq, b"RSeq"), (RAck, b"RAck")],
        (5, b'r') => &[(Route, b"Route")],
        (5, b'a') => &[(Allow, b"Allow")],
        (5, b'e') => &[(Event, b"Event")],
        (6, b'a') => &[(Accept, b"Accept")],
        (6, b'm') => &[(MinSe, b"Min-SE")],
        (6, b's') => &[(Server, b"Server")],
        (7, b'c') => &[(CallId, b"Call-ID"), (Contact, b"Contact")],
        (7, b'e') => &[(Expires, b"Expires")],
        (7, b's') => &[(Subject, b"Subject")],
        (7, b'r') => &[(Require, b"Require")],
        (7, b'w') => &[(Warning, b"Warning")],
        (7, b'p') => &[(Privacy, b"Privacy")],
        (8, b'r') => &[(ReferTo, b"Refer-To"), (Replaces, b"Replaces")],
        (8, b'i') => &[(Identity, b"Identity")],
        (9, b's') => &[(Supported, b"Supported")],
        (9, b't') => &[(Timestamp, b"Timestamp")],
        (10, b'u') => &[(UserAgent, b"User-Agent")],
        (11, b'm') => &[(MinExpires, b"Min-Expires")],
        (11, b'u') => &[(Unsupported, b"Unsupported")],
        (11, b'r') => &[(ReferredBy, b"Referred-By"), (RetryAfter, b"Retry-After")],
        (12, b'm') => &[(MaxForwards, b"Max-Forwards")],
        (12, b'c') => &[(ContentType, b"Content-Type")],
        (12, b'r') => &[(RecordRoute, b"Record-Route")],
        (12, b'a') => &[(AllowEvents, b"Allow-Events")],
        (13, b'a') => &[(Authorization, b"Authorization")],
        (13, b'p') => &[(ProxyRequire, b"Proxy-Require")],
        (13, b'i') => &[(IdentityInfo, b"Identity-Info")],
        (14, b'c') => &[(ContentLength, b"Content-Length")],
        (14, b'a') => &[(AcceptContact, b"Accept-Contact")],
        (14, b'r') => &[(RejectContact, b"Reject-Contact")],
        (15, b's') => &[(SessionExpires, b"Session-Expires")],
        (16, b'c') => &[(ContentEncoding, b"Content-Encoding")],
        (16, b'w') => &[(WwwAuthenticate, b"WWW-Authenticate")],
        (18, b'p') => &[(ProxyAuthenticate, b"Proxy-Authenticate")],
        (18, b's') => &[(SubscriptionState, b"Subscription-State")],
        (19, b'p') => &[
            (ProxyAuthorization, b"Proxy-Authorization"),
            (PAssertedIdentity, b"P-Asserted-Identity"),
        ],
        (19, b'r') => &[(RequestDisposition, b"Request-Disposition")],
        (19, b'c') => &[(ContentDisposition, b"Content-Disposition")],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_found() {
        for &h in HeaderName::ALL {
            let c = h.canonical().unwrap_or_default();
            assert_eq!(HeaderName::from_bytes(c.as_bytes()), h, "{c}");
            assert_eq!(
                HeaderName::from_bytes(c.to_ascii_lowercase().as_bytes()),
                h,
                "{c}"
            );
            assert_eq!(
                HeaderName::from_bytes(c.to_ascii_uppercase().as_bytes()),
                h,
                "{c}"
            );
        }
        assert_eq!(HeaderName::ALL.len(), 49);
    }

    #[test]
    fn compact_and_case() {
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"V"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"vIA"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"call-id"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"I"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"l"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_bytes(b"X-Foo"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b""), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"q"), HeaderName::Other);
        assert_eq!(
            HeaderName::from_bytes(b"www-authenticate"),
            HeaderName::WwwAuthenticate
        );
        for (c, n) in [
            ('i', HeaderName::CallId),
            ('m', HeaderName::Contact),
            ('e', HeaderName::ContentEncoding),
            ('l', HeaderName::ContentLength),
            ('c', HeaderName::ContentType),
            ('f', HeaderName::From),
            ('s', HeaderName::Subject),
            ('k', HeaderName::Supported),
            ('t', HeaderName::To),
            ('v', HeaderName::Via),
            ('o', HeaderName::Event),
            ('r', HeaderName::ReferTo),
            ('u', HeaderName::AllowEvents),
            ('b', HeaderName::ReferredBy),
            ('x', HeaderName::SessionExpires),
            ('y', HeaderName::Identity),
            ('a', HeaderName::AcceptContact),
            ('j', HeaderName::RejectContact),
            ('d', HeaderName::RequestDisposition),
            ('n', HeaderName::IdentityInfo),
        ] {
            assert_eq!(HeaderName::from_bytes(c.to_string().as_bytes()), n, "{c}");
            assert_eq!(n.compact(), Some(c));
            let canon = n.canonical().unwrap_or_default();
            assert_eq!(HeaderName::from_bytes(canon.as_bytes()), n);
        }
    }
}
