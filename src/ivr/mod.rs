//! IVR: flow model, validator, interpreter.
