//! The browser pages on the real server: `/desktop` and `/wallboard` and their assets are served
//! from the binary with the right content types, a Content-Security-Policy that refuses inline
//! script, the hardening headers, and caching by version URL and ETag (304 on a match).

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use common::cti::ACD_CONSUMER_1001;
use common::{Hotline, HotlineSetup};

struct Resp {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Resp {
    fn h(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

/// A GET over HTTP/1.1 (connection closed after), with extra request headers.
fn get(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> Resp {
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    // axum answers small bodies with Content-Length; a chunked body would be decoded here.
    if let Some(len) = std::str::from_utf8(&raw[..split])
        .ok()
        .and_then(|h| {
            h.lines()
                .find(|l| l.to_ascii_lowercase().starts_with("content-length:"))
        })
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn assert_hardened(r: &Resp, what: &str) {
    let csp = r.h("content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{what}: CSP lacks {part}: {csp:?}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval") && !csp.contains('*'),
        "{what}: CSP must not allow inline script, eval or any origin: {csp:?}"
    );
    assert_eq!(r.h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(r.h("x-frame-options"), "DENY", "{what}");
    assert_eq!(r.h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(r.h("cross-origin-opener-policy"), "same-origin", "{what}");
}

/// The `/assets/...` URLs a page names.
fn asset_urls(html: &str) -> Vec<String> {
    html.split("\"/assets/")
        .skip(1)
        .map(|s| format!("/assets/{}", s.split('"').next().unwrap()))
        .collect()
}

#[test]
fn desktop_and_wallboard_are_served_with_strict_headers_and_cached_by_version() {
    let h = Hotline::start(HotlineSetup {
        acd: Some(ACD_CONSUMER_1001.into()),
        ..HotlineSetup::default()
    });
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/assets/");
    for (path, title, script) in [
        ("/desktop", "12345 坐席工作台", "desktop.js"),
        ("/wallboard", "12345 班长监控大屏", "wallboard.js"),
    ] {
        let page = get(h.http, path, &[]);
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.h("content-type"), "text/html; charset=utf-8", "{path}");
        assert_hardened(&page, path);
        assert_eq!(page.h("cache-control"), "no-cache", "{path}: revalidated");
        let etag = page.h("etag").to_string();
        assert!(
            etag.starts_with('"') && etag.len() > 8,
            "{path}: ETag {etag:?}"
        );
        let html = page.text();
        assert!(html.contains(title), "{path}: the Chinese title");
        assert!(html.contains("lang=\"zh-CN\""), "{path}");
        // No inline script or style (the CSP would refuse them), nothing from other origins.
        assert!(
            !html.contains("<script>") && !html.contains(" style="),
            "{path}"
        );
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{path}"
        );

        // The same page again with its ETag: 304 and no body.
        let again = get(h.http, path, &[("If-None-Match", &etag)]);
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty(), "{path}: a 304 has no body");
        assert_eq!(again.h("etag"), etag);
        assert_hardened(&again, path);

        let urls = asset_urls(&html);
        assert!(
            urls.iter().any(|u| u.starts_with("/assets/common.js?v="))
                && urls
                    .iter()
                    .any(|u| u.starts_with(&format!("/assets/{script}?v=")))
                && urls.iter().any(|u| u.starts_with("/assets/app.css?v=")),
            "{path}: {urls:?}"
        );
        for url in urls {
            let name = url["/assets/".len()..]
                .split('?')
                .next()
                .unwrap()
                .to_string();
            let r = get(h.http, &url, &[]);
            assert_eq!(r.status, 200, "{url}");
            let want = match name.rsplit('.').next().unwrap() {
                "js" => "text/javascript; charset=utf-8",
                "css" => "text/css; charset=utf-8",
                "svg" => "image/svg+xml",
                other => panic!("unexpected asset type {other}"),
            };
            assert_eq!(r.h("content-type"), want, "{url}");
            assert_hardened(&r, &url);
            assert_eq!(
                r.h("cache-control"),
                "public, max-age=31536000, immutable",
                "{url}: the versioned URL is cached for good"
            );
            let file = std::fs::read(format!("{src}{name}")).unwrap();
            assert!(
                r.body == file,
                "{url}: the file as it is in the source tree ({} bytes served, {} in the tree)",
                r.body.len(),
                file.len()
            );
            if name.ends_with(".js") || name.ends_with(".css") {
                let text = r.text();
                assert!(
                    !text.contains("http://") && !text.contains("https://"),
                    "{url}: nothing is fetched from another origin"
                );
            }
            // The version is the content's: an unversioned or stale URL is revalidated.
            let v = url.split("?v=").nth(1).unwrap();
            assert!(
                v.len() == 12 && v.chars().all(|c| c.is_ascii_hexdigit()),
                "{url}"
            );
            for other in [
                format!("/assets/{name}"),
                format!("/assets/{name}?v=000000000000"),
            ] {
                let r2 = get(h.http, &other, &[]);
                assert_eq!(r2.status, 200, "{other}");
                assert_eq!(r2.h("cache-control"), "no-cache", "{other}");
                assert_eq!(r2.h("etag"), r.h("etag"), "{other}");
            }
            let cached = get(h.http, &url, &[("If-None-Match", r.h("etag"))]);
            assert_eq!(cached.status, 304, "{url}");
            assert!(cached.body.is_empty());
            let changed = get(h.http, &url, &[("If-None-Match", "\"0123456789ab\"")]);
            assert_eq!(changed.status, 200, "{url}: another tag gets the file");
        }
    }

    // Anything else under /assets/ is a 404, hardened too; no directory walking.
    for missing in ["/assets/nope.js", "/assets/..%2Fdesktop.rs", "/assets/"] {
        let r = get(h.http, missing, &[]);
        assert_eq!(r.status, 404, "{missing}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("fn "),
            "{missing}"
        );
    }
    // The API and health routes beside the pages are unchanged.
    assert_eq!(get(h.http, "/healthz", &[]).status, 200);
    assert_eq!(get(h.http, "/api/v1/auth/me", &[]).status, 401);
}
