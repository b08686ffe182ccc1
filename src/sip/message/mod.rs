//! SIP messages: a zero-copy parser over received bytes, typed header access, and a builder.
