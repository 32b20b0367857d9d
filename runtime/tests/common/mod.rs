//! Shared by the runtime's integration tests that serve an app on a real
//! port: the server, and a WebSocket client to it.

#![allow(dead_code)]

use maze::{App, Config, Hub};
use std::net::TcpStream;
use std::time::Duration;
use tungstenite::WebSocket;
use tungstenite::client::IntoClientRequest;

/// Serves `app` with the maze.toml text `config` on a free loopback port,
/// on a runtime thread of its own, for the rest of the test process; its
/// port and its hub (made from `config` unless the app has one), through
/// which a test broadcasts to it.
pub fn serve<St: Clone + Send + Sync + 'static>(app: App<St>, config: &str) -> (u16, Hub) {
    serve_with(app, config, None)
}

/// [`serve`], with `hub`.
pub fn serve_with<St: Clone + Send + Sync + 'static>(
    app: App<St>,
    config: &str,
    hub: Option<Hub>,
) -> (u16, Hub) {
    let config = Config::parse(config).expect("a valid test configuration");
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let hub = match hub {
                Some(hub) => hub,
                None => Hub::from_config(&config).await.unwrap(),
            };
            port_tx.send((listener.local_addr().unwrap().port(), hub.clone())).unwrap();
            app.with_hub(hub)
                .serve_until(listener, config, ".".into(), std::future::pending())
                .await
                .unwrap();
        });
    });
    port_rx.recv().unwrap()
}

/// A WebSocket client of `ws://127.0.0.1:{port}{path}`, reading with a 10 s timeout.
pub fn connect(port: u16, path: &str) -> Result<WebSocket<TcpStream>, tungstenite::Error> {
    let request = format!("ws://127.0.0.1:{port}{path}").into_client_request().unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tungstenite::client(request, stream).map(|(ws, _)| ws).map_err(|error| match error {
        tungstenite::HandshakeError::Failure(error) => error,
        tungstenite::HandshakeError::Interrupted(_) => panic!("handshake interrupted"),
    })
}
