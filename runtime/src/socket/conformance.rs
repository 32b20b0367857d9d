//! A WebSocket echo endpoint on maze's own framing (the handshake, the
//! frame reader and writer of `websocket.rs`), for the Autobahn test suite
//! (`tests/autobahn.sh`, through `runtime/examples/autobahn_echo.rs`). Not
//! part of the API.

use crate::websocket::{self, Frame, Incoming, ReadError};

/// Echoes every message at `/`; answers pings; closes as RFC 6455 says.
pub fn echo_router() -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::get(|upgrade: websocket::Upgrade| async move { upgrade.on_upgrade(echo) }))
}

async fn echo(connection: websocket::Connection) {
    let websocket::Connection { reader, writer: mut sink } = connection;
    // Autobahn's largest messages (cases 9.x) are 16 MiB.
    let mut reader = reader.max_message_size(16 << 20);
    loop {
        let reply = match std::future::poll_fn(|cx| reader.poll_next(cx)).await {
            Some(Ok(Incoming::Text(text))) => Frame::text(&text),
            Some(Ok(Incoming::Binary(data))) => Frame::binary(&data),
            Some(Ok(Incoming::Ping(payload))) => Frame::pong(&payload),
            Some(Ok(Incoming::Pong)) => continue,
            Some(Ok(Incoming::Close(code))) => {
                let echo = code.map_or_else(Frame::close_empty, |code| Frame::close(code, ""));
                let _ = sink.write([echo.as_bytes()]).await;
                break;
            }
            Some(Err(error)) => {
                let code = match error {
                    ReadError::TooBig => 1009,
                    ReadError::Protocol(_) => 1002,
                    ReadError::NotUtf8 => 1007,
                    ReadError::Io => break,
                };
                let _ = sink.write([Frame::close(code, "").as_bytes()]).await;
                break;
            }
            None => break,
        };
        if sink.write([reply.as_bytes()]).await.is_err() {
            break;
        }
    }
    sink.shutdown().await;
}
