//! The echo server the Autobahn WebSocket test suite runs against
//! (`tests/autobahn.sh`): maze's own WebSocket code, served by maze's server.
//! Listens on 127.0.0.1:`PORT` (0: a free port) and prints where.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "9001".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("echo listening on ws://{}", listener.local_addr()?);
    maze::serve(listener, maze::socket::conformance::echo_router()).await
}
