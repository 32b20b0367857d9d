//! Who may see the app's insides (the metrics, the dashboard): `[metrics]`'s
//! `allow` list and `trust_loopback`, or its `token`, shown as a bearer
//! token or as `?token=`. A request that shows a token must show the right
//! one, from anywhere.

use axum::extract::{ConnectInfo, Request};
use axum::http::header;
use std::net::SocketAddr;

use crate::config::MetricsConfig;

/// Whether `request` may see what `access` guards.
pub(crate) fn allowed(access: &MetricsConfig, request: &Request) -> bool {
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
    let query = request.uri().query().unwrap_or_default();
    let in_query = query.split('&').find_map(|pair| pair.strip_prefix("token="));
    match (bearer.or(in_query), &access.token) {
        (Some(given), Some(token)) => same(token.as_bytes(), given.as_bytes()),
        (Some(_), None) => false,
        (None, _) => from_allowed_address,
    }
}

/// Equality in time independent of where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
