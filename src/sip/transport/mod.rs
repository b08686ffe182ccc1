//! SIP transports: UDP, TCP and TLS, with Content-Length framing on streams and RFC 3581 rport.
