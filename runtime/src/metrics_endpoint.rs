//! `[metrics]`: the app's metrics (its hub's) in Prometheus's text format, at the
//! path maze.toml names, for whom `access.rs` allows (loopback and `allow`ed
//! addresses, or the token). (The metric names are defined in `telemetry.rs`.)

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

use crate::Error;
use crate::config::MetricsConfig;

/// The route serving the metrics at `path`.
pub(crate) fn router(
    path: &str,
    config: &MetricsConfig,
    handle: PrometheusHandle,
) -> Result<axum::Router, Error> {
    if !path.starts_with('/') {
        return Err(Error::config(format!("[metrics] path {path:?} must start with /")));
    }
    let access = Arc::new(config.clone());
    Ok(axum::Router::new().route(
        path,
        axum::routing::get(move |request: Request| async move { scrape(&handle, &access, &request) }),
    ))
}

fn scrape(handle: &PrometheusHandle, access: &MetricsConfig, request: &Request) -> Response {
    if !crate::access::allowed(access, request) {
        return (
            StatusCode::UNAUTHORIZED,
            "metrics: not from an allowed address, and no valid bearer token\n",
        )
            .into_response();
    }
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}
