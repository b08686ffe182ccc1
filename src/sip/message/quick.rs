//! One-pass acceptance checks for the common shapes of Via and name-addr values, used by the
//! parse-time validation before the full parsers.
//!
//! Each check answers `true` only for values that the full parser (`Via::parse`,
//! `NameAddr::parse`) accepts: it recognises a strict subset of their grammar, one byte class per
//! position and no value built. `false` means "not sure", never "invalid": the caller then runs
//! the full parser, which gives the verdict and the exact error. So verdicts and errors cannot
//! differ from the full parsers'; only the common case gets cheaper (the full parsers look at
//! each URI four or five times, once per question).
//!
//! The subset: `[display tokens] <sip:[user@]host[:port][;p[=v]...]>[;p[=v]...]` and
//! `SIP/2.0/TRANSPORT host[:port][;p[=v]...]`, where users, hosts and parameters are plain runs
//! of safe characters (no `%` escapes, quotes, IPv6, passwords, URI headers or whitespace inside).

use super::text::{is_host_char, is_token_char, parse_u64, trim_bytes};

/// Characters safe in a URI user or URI parameter for the quick path: unreserved marks and
/// alphanumerics. A subset of what the URI grammar allows and of RFC 3261 `token`, without `%`
/// (escapes need checking) and without anything the URI forbids.
const URI_SAFE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'+');
        i += 1;
    }
    t
};

#[inline]
fn uri_safe(b: u8) -> bool {
    URI_SAFE[b as usize]
}

/// End of the run of `class` bytes starting at `i`.
#[inline]
fn run(v: &[u8], mut i: usize, class: impl Fn(u8) -> bool) -> usize {
    while v.get(i).is_some_and(|&b| class(b)) {
        i += 1;
    }
    i
}

/// `:port` at `i` if present (1 to 5 digits, at most 65535): the index after it. `None` if the
/// port is malformed; `Some(i)` if there is no `:`.
#[inline]
fn port(v: &[u8], i: usize) -> Option<usize> {
    if v.get(i) != Some(&b':') {
        return Some(i);
    }
    let end = run(v, i + 1, |b| b.is_ascii_digit());
    let digits = std::str::from_utf8(v.get(i + 1..end)?).ok()?;
    (digits.len() <= 5 && parse_u64(digits, 65535).is_some()).then_some(end)
}

/// `name[=value]` pieces separated by `;`, starting at `i`, names and values non-empty runs of
/// `class`; `each` sees every piece and may refuse it. Returns where the list stops.
#[inline]
fn params(
    v: &[u8],
    mut i: usize,
    class: impl Fn(u8) -> bool + Copy,
    mut each: impl FnMut(&[u8], Option<&[u8]>) -> bool,
) -> Option<usize> {
    loop {
        let n_end = run(v, i, class);
        let name = v.get(i..n_end).filter(|n| !n.is_empty())?;
        let mut end = n_end;
        let mut value = None;
        if v.get(n_end) == Some(&b'=') {
            end = run(v, n_end + 1, class);
            value = Some(v.get(n_end + 1..end).filter(|x| !x.is_empty())?);
        }
        if !each(name, value) {
            return None;
        }
        if v.get(end) != Some(&b';') {
            return Some(end);
        }
        i = end + 1;
    }
}

/// `sip:` or `sips:` URI starting at `i`, ended by `>`: the index of the `>`.
fn sip_uri_in_angle(v: &[u8], i: usize) -> Option<usize> {
    let rest = v.get(i..)?;
    let mut i = i + if rest.starts_with(b"sip:") {
        4
    } else if rest.starts_with(b"sips:") {
        5
    } else {
        return None;
    };
    // The user part, if the run of safe bytes ends at `@` (it is then the URI's first `@`:
    // nothing after it may hold one either, as no class below admits `@`).
    let user_end = run(v, i, uri_safe);
    if user_end > i && v.get(user_end) == Some(&b'@') {
        i = user_end + 1;
    }
    let host_end = run(v, i, is_host_char);
    if host_end == i {
        return None;
    }
    let mut end = port(v, host_end)?;
    if v.get(end) == Some(&b';') {
        end = params(v, end + 1, uri_safe, |_, _| true)?;
    }
    (v.get(end) == Some(&b'>')).then_some(end)
}

/// Does `NameAddr::parse` surely accept `v`? (`false`: not sure, ask it.)
pub(crate) fn name_addr_ok(v: &[u8]) -> bool {
    let v = trim_bytes(v);
    let lt = run(v, 0, |b| is_token_char(b) || b == b' ');
    if v.get(lt) != Some(&b'<') {
        return false;
    }
    let Some(gt) = sip_uri_in_angle(v, lt + 1) else {
        return false;
    };
    match v.get(gt + 1) {
        None => true,
        Some(b';') => params(v, gt + 2, is_token_char, |_, _| true) == Some(v.len()),
        Some(_) => false,
    }
}

/// Does every element of the comma list `v` pass [`name_addr_ok`]? Such a list is plain ASCII
/// with no quote and every `<...>` closed before the next comma (no accepted class holds `"`, `,`,
/// `<` or `>` where the check does not expect them), so its commas are exactly where `split_top`
/// splits, the value is valid UTF-8, and no element is `*`: the caller's per-element loop would
/// accept every element. (`false`: not sure, run that loop.)
pub(crate) fn name_addr_list_ok(v: &[u8]) -> bool {
    v.split(|&b| b == b',').all(name_addr_ok)
}

/// Does every element of the comma list `v` pass [`via_ok`]? As for [`name_addr_list_ok`]: an
/// accepted element holds no `"`, `,`, `<` or `>`, so the commas are where `split_top` splits and
/// the value is ASCII. (`false`: not sure, split and check element by element.)
pub(crate) fn via_list_ok(v: &[u8]) -> bool {
    v.split(|&b| b == b',').all(via_ok)
}

/// Does `Via::parse` surely accept `v`? (`false`: not sure, ask it.)
pub(crate) fn via_ok(v: &[u8]) -> bool {
    let v = trim_bytes(v);
    if !v.starts_with(b"SIP/2.0/") {
        return false;
    }
    let t_end = run(v, 8, is_token_char);
    if t_end == 8 || v.get(t_end) != Some(&b' ') {
        return false;
    }
    let host = t_end + 1;
    let host_end = run(v, host, is_host_char);
    if host_end == host {
        return false;
    }
    let Some(end) = port(v, host_end) else {
        return false;
    };
    match v.get(end) {
        None => true,
        Some(b';') => params(v, end + 1, is_token_char, via_param_ok) == Some(v.len()),
        Some(_) => false,
    }
}

/// The numeric Via parameters `Via::parse` checks: `rport` (flag or port) and `ttl` (0-255).
fn via_param_ok(name: &[u8], value: Option<&[u8]>) -> bool {
    let num = |max| {
        value
            .and_then(|x| std::str::from_utf8(x).ok())
            .and_then(|x| parse_u64(x, max))
            .is_some()
    };
    if name.eq_ignore_ascii_case(b"rport") {
        value.is_none() || num(65535)
    } else if name.eq_ignore_ascii_case(b"ttl") {
        num(255)
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::typed::{NameAddr, Via};
    use super::*;

    #[test]
    fn quick_accepts_only_what_the_full_parsers_accept() {
        for v in [
            &b"Bob <sip:bob@biloxi.example.com>;tag=a6c85cf"[..],
            b"<sip:p1.example.com;lr>",
            b"<sips:+1555@h:5061;transport=tls>;expires=60;q=0.5",
            b" <sip:h> ",
        ] {
            assert!(name_addr_ok(v), "{}", String::from_utf8_lossy(v));
            assert!(NameAddr::parse(v).is_ok());
        }
        // Not sure (the full parser decides, accepting some and rejecting others).
        for v in [
            &b"\"Bob\" <sip:bob@h>"[..],
            b"sip:bob@h;tag=1",
            b"<sip:b%40@h>",
            b"<sip:[::1]>",
            b"<sip:h:99999>",
            b"<sip:h;>",
            b"<sip:h;a=b@c>",
            b"<sip:h> ;tag=1",
            b"<sip:h>;tag=",
            b"<sip:u:p@h>",
            b"<tel:+1555>",
        ] {
            assert!(!name_addr_ok(v), "{}", String::from_utf8_lossy(v));
        }
        for v in [
            &b"SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK7;rport;received=1.2.3.4"[..],
            b"SIP/2.0/TCP h;ttl=255;rport=5060",
        ] {
            assert!(via_ok(v), "{}", String::from_utf8_lossy(v));
            assert!(Via::parse(std::str::from_utf8(v).unwrap_or("")).is_ok());
        }
        for v in [
            &b"SIP/2.0/UDP h;rport=x"[..],
            b"SIP/2.0/UDP h;ttl=256",
            b"SIP/2.0/UDP h;ttl",
            b"SIP/2.0/UDP  h",
            b"SIP/2.0/UDP h:65536",
            b"SIP/2.0/UDP [::1]",
            b"SIP/2.0/UDP h;;",
        ] {
            assert!(!via_ok(v), "{}", String::from_utf8_lossy(v));
        }
    }
}
