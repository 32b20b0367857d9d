//! The HTTP/1.1 server: accepts TCP connections and serves the app's router
//! on each with hyper, until told to stop.
//!
//! Not `axum::serve`: it serves through hyper-util's HTTP/1-or-2 detection,
//! which wraps each connection in a private type, so an upgraded WebSocket
//! could only be read through a buffer that every idle connection holds.
//! Served here, an upgrade hands back the `TcpStream` itself
//! (`socket::websocket`). The rest is what `axum::serve` does: the peer's
//! address for `ConnectInfo`, errors that do not stop the server, a graceful
//! end.

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// Serves `router` on `listener` with maze's HTTP/1.1 server, as `maze::App`
/// does: a drop-in for `axum::serve` in an app that embeds maze (see
/// [`crate::Sockets`]). Under it an upgraded WebSocket is the TCP stream
/// itself, where `axum::serve` hands it over wrapped: an idle connection
/// then costs three times the memory (BENCHMARKS.md). HTTP/1.1 only; the
/// peer's address is there for axum's `ConnectInfo`.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> std::io::Result<()> {
/// let app = maze::axum::Router::new().route("/", maze::axum::routing::get(|| async { "home" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// maze::serve(listener, app)
///     .with_graceful_shutdown(async {
///         let _ = tokio::signal::ctrl_c().await;
///     })
///     .await
/// # }
/// ```
pub fn serve(listener: TcpListener, router: Router) -> Serve {
    Serve { listener, router, stop: Box::pin(std::future::pending()) }
}

/// What [`serve`] returns: `.await` it to serve.
pub struct Serve {
    listener: TcpListener,
    router: Router,
    stop: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Serve {
    /// Stops accepting once `signal` completes, lets each connection finish
    /// the request it is on (for 5 s at most), then returns. (Close an embedded hub's sockets
    /// in `signal`: `hub.close_sockets().await`.)
    pub fn with_graceful_shutdown(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Serve {
        self.stop = Box::pin(signal);
        self
    }
}

impl std::future::IntoFuture for Serve {
    type Output = std::io::Result<()>;
    type IntoFuture = std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            run(self.listener, self.router, self.stop).await;
            Ok(())
        })
    }
}

/// Serves `router` on `listener` until `stop` completes; then stops
/// accepting, lets each connection finish the request it is on, and returns
/// once all have, or after the grace (a request that never ends is dropped).
pub(crate) async fn run(listener: TcpListener, router: Router, stop: impl Future<Output = ()>) {
    // Receivers are the open connections; sending `true` asks them to finish.
    let (finish, connections) = watch::channel(false);
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, say: wait rather than spin; the server goes on.
                    tracing::error!(target: "maze", %error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        tokio::spawn(serve_connection(stream, peer, router.clone(), connections.clone()));
    }
    drop(listener);
    drop(connections);
    let _ = finish.send(true);
    // A request that never ends does not hold the server up past the grace.
    let _ = tokio::time::timeout(crate::shutdown::SOCKET_GRACE, finish.closed()).await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    mut finish: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(target: "maze", %error, %peer, "HTTP connection ended with an error");
                }
                return;
            }
            Ok(()) = finish.changed() => connection.as_mut().graceful_shutdown(),
        }
    }
}
