//! `[metrics]`: the app's metrics (its hub's) in Prometheus's text format, at the
//! path maze.toml names, for loopback and `allow`ed addresses or a bearer
//! token. (The metric names are defined in `telemetry.rs`.)

use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
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
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let from_allowed_address = peer.is_some_and(|ip| {
        (ip.is_loopback() && access.trust_loopback)
            || access.allow.iter().any(|allowed| allowed.parse().ok() == Some(ip))
    });
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let token_ok = match (&access.token, bearer) {
        (Some(token), Some(given)) => same(token.as_bytes(), given.as_bytes()),
        _ => false,
    };
    // A request that shows a token must show the right one, from anywhere.
    let allowed = if bearer.is_some() { token_ok } else { from_allowed_address };
    if !allowed {
        return (
            StatusCode::UNAUTHORIZED,
            "metrics: not from an allowed address, and no valid bearer token\n",
        )
            .into_response();
    }
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}

/// Equality in time independent of where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
