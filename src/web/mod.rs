//! HTTP: axum routes for `/api/v1`, `/ws/cti`, `/metrics`, desktop and wallboard assets.
pub mod auth;
