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

            fn from_lower(lower: &[u8]) -> HeaderName {
                // Length, then first byte, then the rest: most candidates fail on a constant compare.
                let first = lower.first().map_or(0, |b| b.to_ascii_lowercase());
                $( if lower.len() == $canon.len()
                    && first == $canon.as_bytes()[0].to_ascii_lowercase()
                    && lower.eq_ignore_ascii_case($canon.as_bytes()) {
                    return HeaderName::$var;
                } )*
                HeaderName::Other
            }
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
        // Fast reject on the first byte keeps the common path short.
        match name.first().map(|b| b.to_ascii_lowercase()) {
            Some(
                b'v' | b'f' | b't' | b'c' | b'm' | b'r' | b'e' | b'a' | b'w' | b'p' | b's' | b'u'
                | b'o' | b'i' | b'n' | b'j' | b'd' | b'b' | b'x' | b'k',
            ) => HeaderName::from_lower(name),
            _ => HeaderName::Other,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
