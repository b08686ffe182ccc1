//! Configuration: `hotline.toml` and `sip-profiles/*.toml`, validated with file:line:column errors.
