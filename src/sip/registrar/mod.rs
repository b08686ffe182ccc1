//! The registrar: REGISTER handling, bindings with expiry, several contacts per extension.
