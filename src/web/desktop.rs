//! The agent desktop (`/desktop`, 坐席工作台) and the supervisor wallboard (`/wallboard`, 班长监控大屏):
//! static HTML, vanilla JavaScript and CSS compiled into the binary (no build step, nothing fetched
//! from elsewhere: centres run without internet). The pages speak the CTI protocol of
//! `docs/cti-protocol.md` on `/ws/cti` and the REST API under `/api/v1`.
//!
//! Every response carries a Content-Security-Policy that allows scripts and styles from this
//! origin only (no inline script), plus the usual hardening headers. Assets are cached by version:
//! the pages name them as `/assets/NAME?v=HASH` (the first 12 hex digits of their SHA-256), which is
//! cached for a year; every response also has an `ETag`, so pages and unversioned asset URLs are
//! revalidated with `If-None-Match` and answered `304 Not Modified` when unchanged.

use std::sync::OnceLock;

use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

/// The policy: this origin's scripts, styles, images and sockets; nothing inline, no framing,
/// no form posts (the forms are handled by script).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'none'; \
frame-ancestors 'none'; base-uri 'none'";

/// Headers on every page and asset response.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    // The browser softphone (WebRTC) will want the microphone of this origin; nothing else.
    (
        "permissions-policy",
        "camera=(), geolocation=(), payment=(), usb=(), microphone=(self)",
    ),
];

/// `Cache-Control` of a versioned asset URL (its content never changes under that URL).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of pages and unversioned asset URLs: keep, but ask (ETag) before each use.
pub const REVALIDATE: &str = "no-cache";

/// The files under `/assets/`: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/app.css"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/common.js"),
    ),
    (
        "desktop.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/desktop.js"),
    ),
    (
        "wallboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/wallboard.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("assets/favicon.svg"),
    ),
];

/// The pages: path and HTML, whose `{{v:NAME}}` marks become the version of asset NAME.
const PAGES: &[(&str, &str)] = &[
    ("/desktop", include_str!("assets/desktop.html")),
    ("/wallboard", include_str!("assets/wallboard.html")),
];

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    version: String,
    etag: String,
}

struct Page {
    path: &'static str,
    html: String,
    etag: String,
}

struct Built {
    assets: Vec<Asset>,
    pages: Vec<Page>,
}

fn version_of(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..6])
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let assets: Vec<Asset> = ASSETS
            .iter()
            .map(|&(name, content_type, body)| {
                let version = version_of(body);
                Asset {
                    name,
                    content_type,
                    body,
                    etag: format!("\"{version}\""),
                    version,
                }
            })
            .collect();
        let pages = PAGES
            .iter()
            .map(|&(path, html)| {
                let mut html = html.to_string();
                for a in &assets {
                    html = html.replace(&format!("{{{{v:{}}}}}", a.name), &a.version);
                }
                let etag = format!("\"{}\"", version_of(html.as_bytes()));
                Page { path, html, etag }
            })
            .collect();
        Built { assets, pages }
    })
}

/// The version (`?v=`) the pages use for asset `name`, if there is such an asset.
pub fn asset_version(name: &str) -> Option<&'static str> {
    built()
        .assets
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.version.as_str())
}

fn secured(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (k, v) in SECURITY_HEADERS {
        h.insert(*k, HeaderValue::from_static(v));
    }
    r
}

/// Whether `If-None-Match` names `etag` (or is `*`); weak validators compare equal too.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

fn respond(
    headers: &HeaderMap,
    etag: &str,
    cache: &'static str,
    content_type: &'static str,
    body: axum::body::Body,
) -> Response {
    let mut r = if not_modified(headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = body.into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    secured(r)
}

fn page(path: &'static str, headers: &HeaderMap) -> Response {
    match built().pages.iter().find(|p| p.path == path) {
        Some(p) => respond(
            headers,
            &p.etag,
            REVALIDATE,
            "text/html; charset=utf-8",
            axum::body::Body::from(p.html.clone()),
        ),
        None => secured(StatusCode::NOT_FOUND.into_response()),
    }
}

async fn desktop(headers: HeaderMap) -> Response {
    page("/desktop", &headers)
}

async fn wallboard(headers: HeaderMap) -> Response {
    page("/wallboard", &headers)
}

async fn asset(Path(name): Path<String>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    let Some(a) = built().assets.iter().find(|a| a.name == name) else {
        return secured(
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "no such asset",
            )
                .into_response(),
        );
    };
    // Only the current version's URL may be cached for good; an old `?v=` is revalidated.
    let versioned = q
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .any(|kv| kv.strip_prefix("v=") == Some(a.version.as_str()));
    respond(
        &headers,
        &a.etag,
        if versioned { IMMUTABLE } else { REVALIDATE },
        a.content_type,
        axum::body::Body::from(a.body),
    )
}

/// `/desktop`, `/wallboard` and `/assets/{name}`.
pub fn router() -> Router {
    Router::new()
        .route("/desktop", get(desktop))
        .route("/wallboard", get(wallboard))
        .route("/assets/{name}", get(asset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_name_every_asset_by_its_version_and_nothing_inline() {
        for p in &built().pages {
            assert!(!p.html.contains("{{v:"), "{}: unresolved version", p.path);
            assert!(
                !p.html.contains("<script>") && !p.html.contains(" style="),
                "{}: inline script or style would be refused by the CSP",
                p.path
            );
            for src in p.html.split("/assets/").skip(1) {
                let (name, rest) = src.split_once('?').expect("a versioned asset URL");
                let v = rest.strip_prefix("v=").expect("?v=");
                assert_eq!(Some(&v[..12]), asset_version(name), "{}: {name}", p.path);
            }
        }
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, "\"x\", W/\"abc\"".parse().unwrap());
        assert!(not_modified(&h, "\"abc\""));
        assert!(!not_modified(&h, "\"abd\""));
        assert!(!not_modified(&HeaderMap::new(), "\"abc\""));
    }
}
