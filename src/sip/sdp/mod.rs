//! SDP (RFC 4566/3264): parse, rewrite connection and media ports for anchoring, codec negotiation.
