//! HTTP: axum routes for `/api/v1`, `/ws/cti`, `/metrics`, desktop and wallboard assets.

pub mod auth;
pub mod desktop;
pub mod metrics;

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub use metrics::Metrics;

/// The routes every node serves whatever else is mounted: health, metrics, and the browser pages
/// (the agent desktop at `/desktop`, the supervisor wallboard at `/wallboard`, their `/assets/`).
pub fn base_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(render_metrics))
        .with_state(metrics)
        .merge(desktop::router())
}

async fn render_metrics(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        m.render(),
    )
}
