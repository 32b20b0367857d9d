//! The peer of `bench/autobahn.sh`: an echo server on tokio-tungstenite, the
//! Rust WebSocket library most axum apps use (through axum's `ws`), against
//! which Autobahn's large-message cases (9.x) time maze's own framing.
//! Listens on 127.0.0.1:`PORT` and prints where.

use futures_util::{SinkExt, StreamExt};

#[tokio::main]
async fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "9002".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await.expect("bind");
    println!("echo listening on ws://{}", listener.local_addr().expect("address"));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
            while let Some(Ok(message)) = ws.next().await {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    break;
                }
            }
        });
    }
}
