//! The IVR's HTTP lookups (a flow's `lookup` node with a `url`), run by the engine's shell off
//! the engine task: one shared HTTP client (connection pool, rustls), the call's arguments as a
//! JSON body (POST) or query parameters (GET), and a flat JSON object answer mapped into the
//! flow's variables. Everything a web service can get wrong ends in a clean
//! [`LookupOutcome::Failed`] (the node's `error` branch), logged with the call's Call-ID.

use std::time::{Duration, Instant};

use crate::ivr::flow::HttpMethod;
use crate::ivr::interp::{LookupOutcome, MAX_VAR_LEN};

/// An answer body larger than this is refused (a lookup returns a few fields).
pub const MAX_BODY: usize = 64 * 1024;
/// An answer with more fields than this is refused (each becomes a call variable).
pub const MAX_FIELDS: usize = 32;
/// Longest field name accepted (it becomes `<result>.<name>`).
pub const MAX_NAME_LEN: usize = 64;

/// The shared client; cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct HttpLookups {
    client: reqwest::Client,
}

impl HttpLookups {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!(
                "hotline/",
                env!("CARGO_PKG_VERSION"),
                " ivr-lookup"
            ))
            // A redirect could lead anywhere the flow file did not name: a 3xx is a failure.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(HttpLookups { client })
    }

    /// Runs one lookup; never takes longer than `timeout` (connect, request and body).
    pub async fn run(
        &self,
        call_id: &str,
        method: HttpMethod,
        url: &str,
        args: &[(String, String)],
        timeout: Duration,
    ) -> LookupOutcome {
        let started = Instant::now();
        let outcome = match tokio::time::timeout(timeout, self.fetch(method, url, args)).await {
            Ok(o) => o,
            Err(_) => LookupOutcome::Failed(format!("no answer within {} ms", timeout.as_millis())),
        };
        // The query may carry a caller's digits: logs name the service by origin and path.
        let target = reqwest::Url::parse(url)
            .map(|u| format!("{}{}", u.origin().ascii_serialization(), u.path()))
            .unwrap_or_else(|_| "(bad url)".into());
        let ms = started.elapsed().as_millis() as u64;
        match &outcome {
            LookupOutcome::Failed(error) => {
                tracing::warn!(%call_id, method = method.as_str(), %target, ms, %error, "IVR HTTP lookup failed")
            }
            LookupOutcome::NotFound => {
                tracing::info!(%call_id, method = method.as_str(), %target, ms, "IVR HTTP lookup: not found")
            }
            LookupOutcome::Found(f) => {
                tracing::debug!(%call_id, method = method.as_str(), %target, ms, fields = f.len(), "IVR HTTP lookup answered")
            }
        }
        outcome
    }

    async fn fetch(
        &self,
        method: HttpMethod,
        url: &str,
        args: &[(String, String)],
    ) -> LookupOutcome {
        let req = match method {
            HttpMethod::Get => self.client.get(url).query(args),
            HttpMethod::Post => {
                let body: serde_json::Map<String, serde_json::Value> = args
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                self.client.post(url).json(&body)
            }
        };
        let mut resp = match req.header("accept", "application/json").send().await {
            Ok(r) => r,
            Err(e) => return LookupOutcome::Failed(describe(e)),
        };
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return LookupOutcome::NotFound;
        }
        if !status.is_success() {
            return LookupOutcome::Failed(format!("the service answered HTTP {}", status.as_u16()));
        }
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return LookupOutcome::Failed(format!("answer larger than {MAX_BODY} bytes"));
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if body.len() + c.len() > MAX_BODY {
                        return LookupOutcome::Failed(format!(
                            "answer larger than {MAX_BODY} bytes"
                        ));
                    }
                    body.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) => return LookupOutcome::Failed(describe(e)),
            }
        }
        match fields_of(&body) {
            Ok(f) => LookupOutcome::Found(f),
            Err(e) => LookupOutcome::Failed(e),
        }
    }
}

/// A reqwest error without its URL (which may carry a caller's digits), with its causes.
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "answer not read"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// The answer's fields as call variables: a JSON object of flat values (strings, numbers,
/// booleans; `null` becomes empty). Nested values, long values, odd names or too many fields
/// refuse the whole answer, so a flow never runs on half of it.
pub fn fields_of(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("answer is not JSON: {e}"))?;
    let serde_json::Value::Object(map) = v else {
        return Err("answer is not a JSON object".into());
    };
    if map.len() > MAX_FIELDS {
        return Err(format!(
            "answer has {} fields; at most {MAX_FIELDS}",
            map.len()
        ));
    }
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        if k.is_empty()
            || k.len() > MAX_NAME_LEN
            || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!(
                "field name `{}` is not a variable name (letters, digits, _; at most {MAX_NAME_LEN})",
                k.chars().take(MAX_NAME_LEN).collect::<String>()
            ));
        }
        let s = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => String::new(),
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                return Err(format!("field `{k}` is nested; only flat values are taken"));
            }
        };
        if s.len() > MAX_VAR_LEN {
            return Err(format!("field `{k}` is longer than {MAX_VAR_LEN} bytes"));
        }
        out.push((k, s));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_values_become_strings_in_name_order() {
        let body = r#"{"balance": 1234.5, "name": "张三", "frozen": false, "note": null}"#;
        let f = fields_of(body.as_bytes()).unwrap();
        assert_eq!(
            f,
            vec![
                ("balance".into(), "1234.5".into()),
                ("frozen".into(), "false".into()),
                ("name".into(), "张三".into()),
                ("note".into(), String::new()),
            ]
        );
    }

    #[test]
    fn nested_long_odd_and_non_objects_are_refused() {
        assert!(fields_of(br#"{"a": {"b": 1}}"#)
            .unwrap_err()
            .contains("nested"));
        assert!(fields_of(br#"{"a": [1]}"#).unwrap_err().contains("nested"));
        assert!(fields_of(br#"[1, 2]"#)
            .unwrap_err()
            .contains("not a JSON object"));
        assert!(fields_of(b"<html>").unwrap_err().contains("not JSON"));
        assert!(fields_of(br#"{"a b": "x"}"#)
            .unwrap_err()
            .contains("not a variable name"));
        let long = format!(r#"{{"a": "{}"}}"#, "x".repeat(MAX_VAR_LEN + 1));
        assert!(fields_of(long.as_bytes())
            .unwrap_err()
            .contains("longer than"));
        let many: Vec<String> = (0..=MAX_FIELDS).map(|i| format!(r#""f{i}": 1"#)).collect();
        let many = format!("{{{}}}", many.join(","));
        assert!(fields_of(many.as_bytes()).unwrap_err().contains("fields"));
    }
}
