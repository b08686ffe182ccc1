//! RFC 9457 problem details (`application/problem+json`), the error body of every API route.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::lifecycle::Refusal;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    /// A URI naming the problem kind (relative: `/problems/<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Machine-readable reason, e.g. `state`, `area`, `already_extended`.
    pub code: String,
}

impl Problem {
    pub fn new(status: u16, code: &str, detail: impl Into<String>) -> Problem {
        let title = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error")
            .to_string();
        Problem {
            kind: format!("/problems/{code}"),
            title,
            status,
            detail: detail.into(),
            code: code.to_string(),
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(400, "bad_request", detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(401, "unauthorized", detail)
    }
    pub fn forbidden(code: &str, detail: impl Into<String>) -> Problem {
        Problem::new(403, code, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(404, "not_found", detail)
    }
    pub fn conflict(code: &str, detail: impl Into<String>) -> Problem {
        Problem::new(409, code, detail)
    }
    pub fn invalid(code: &str, detail: impl Into<String>) -> Problem {
        Problem::new(422, code, detail)
    }
    pub fn internal(detail: impl std::fmt::Display) -> Problem {
        // The cause goes to the log; the client gets no internals.
        tracing::error!(error = %detail, "internal error");
        Problem::new(500, "internal", "internal error")
    }
}

impl From<axum::extract::rejection::JsonRejection> for Problem {
    /// Well-formed JSON of the wrong shape is 422; anything else (syntax, content type) is 400.
    fn from(e: axum::extract::rejection::JsonRejection) -> Problem {
        use axum::extract::rejection::JsonRejection;
        match e {
            JsonRejection::JsonDataError(e) => Problem::invalid("body", e.body_text()),
            e => Problem::bad_request(e.body_text()),
        }
    }
}

impl From<Refusal> for Problem {
    fn from(r: Refusal) -> Problem {
        let detail = match &r {
            Refusal::Forbidden { reason, .. }
            | Refusal::Conflict { reason, .. }
            | Refusal::Invalid { reason, .. } => reason.clone(),
        };
        Problem::new(r.http_status(), r.code(), detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}
