//! Test-only reference: the parser and validators exactly as they were before the speed work
//! (parse.rs, text.rs, typed.rs, uri.rs frozen), so a differential test can prove the fast path
//! accepts, rejects and reads every input the same way. Error, method, message and name types are
//! shared with the real module.
#![allow(dead_code)]

use super::error;
use super::method;
use super::msg;
use super::name;
pub(crate) mod parse;
pub(crate) mod text;
pub(crate) mod typed;
pub(crate) mod uri;
