//! Digest authentication (RFC 7616 / RFC 8760: MD5 and SHA-256), nonces with expiry and replay protection.
