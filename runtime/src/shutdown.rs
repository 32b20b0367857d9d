//! Graceful shutdown of WebSocket connections.
//!
//! The HTTP server stops accepting on SIGINT/SIGTERM, but upgraded
//! connections live on their own: this tells each to close with 1001
//! (going away), running its channels' `leave` and `on_disconnect`, and waits
//! a moment for them to finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};

#[derive(Debug)]
pub(crate) struct Shutdown {
    signal: watch::Sender<bool>,
    active: AtomicUsize,
    drained: Notify,
}

/// Held by a live connection; dropping it counts the connection as finished.
pub(crate) struct Tracked(Arc<Shutdown>);

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

impl Shutdown {
    pub(crate) fn new() -> Arc<Shutdown> {
        Arc::new(Shutdown {
            signal: watch::Sender::new(false),
            active: AtomicUsize::new(0),
            drained: Notify::new(),
        })
    }

    pub(crate) fn track(self: &Arc<Self>) -> Tracked {
        self.active.fetch_add(1, Ordering::AcqRel);
        Tracked(self.clone())
    }

    /// Resolves when shutdown begins.
    pub(crate) fn signalled(&self) -> watch::Receiver<bool> {
        self.signal.subscribe()
    }

    /// Tells every connection to close and waits up to `grace` for them.
    pub(crate) async fn close_all(&self, grace: Duration) {
        let drained = self.drained.notified();
        tokio::pin!(drained);
        drained.as_mut().enable();
        self.signal.send_replace(true);
        if self.active.load(Ordering::Acquire) > 0 {
            let _ = tokio::time::timeout(grace, drained).await;
        }
    }
}

/// SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub(crate) async fn signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
