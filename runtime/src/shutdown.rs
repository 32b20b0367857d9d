//! Graceful shutdown of WebSocket connections.
//!
//! The HTTP server stops accepting on SIGINT/SIGTERM, but upgraded
//! connections live on their own: this tells each to close with 1001
//! (going away), running its channels' `leave` and `on_disconnect`, and waits
//! a moment for them to finish.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::Notify;

/// How long shutdown waits for sockets to run their `leave`/`on_disconnect`.
pub(crate) const SOCKET_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub(crate) struct Shutdown {
    signalled: AtomicBool,
    connections: Mutex<Connections>,
    drained: Notify,
}

/// The live connections, each a slot (see [`Tracked`]) holding the waker
/// to wake when shutdown begins. A slot per connection rather than a
/// future each waits on: an idle connection's task holds nothing for it.
#[derive(Debug, Default)]
struct Connections {
    slots: Vec<Option<Waker>>,
    /// Slots no connection holds, for the next ones.
    free: Vec<usize>,
}

/// Held by a live connection; dropping it counts the connection as finished.
pub(crate) struct Tracked {
    shutdown: Arc<Shutdown>,
    slot: usize,
    /// Its slot holds the waker of the task polling it.
    registered: bool,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut connections = self.shutdown.lock();
        connections.slots[self.slot] = None;
        connections.free.push(self.slot);
        if connections.free.len() == connections.slots.len() {
            // No connection left holds a slot: give back what a peak took.
            *connections = Connections::default();
            self.shutdown.drained.notify_waiters();
        }
    }
}

impl Tracked {
    /// Ready once shutdown has begun. To be polled by one task, the
    /// connection's: its waker is kept the first time, later polls only
    /// read a flag.
    pub(crate) fn poll_signalled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.shutdown.signalled.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !self.registered {
            self.shutdown.lock().slots[self.slot] = Some(cx.waker().clone());
            self.registered = true;
            // Signalled meanwhile: `close_all` may have woken the slots before this one was filled.
            if self.shutdown.signalled.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

impl Shutdown {
    pub(crate) fn new() -> Arc<Shutdown> {
        Arc::new(Shutdown::default())
    }

    fn lock(&self) -> MutexGuard<'_, Connections> {
        // Nothing panics while holding it: a poisoned list is still consistent.
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a connection as live until the returned `Tracked` is dropped.
    pub(crate) fn track(self: &Arc<Self>) -> Tracked {
        let mut connections = self.lock();
        let slot = match connections.free.pop() {
            Some(slot) => slot,
            None => {
                connections.slots.push(None);
                connections.slots.len() - 1
            }
        };
        Tracked { shutdown: self.clone(), slot, registered: false }
    }

    /// Tells every connection to close and waits up to `grace` for them.
    pub(crate) async fn close_all(&self, grace: Duration) {
        let drained = self.drained.notified();
        tokio::pin!(drained);
        drained.as_mut().enable();
        self.signalled.store(true, Ordering::Release);
        let (wakers, active) = {
            let mut connections = self.lock();
            let wakers: Vec<Waker> = connections.slots.iter_mut().filter_map(Option::take).collect();
            (wakers, connections.slots.len() - connections.free.len())
        };
        wakers.into_iter().for_each(Waker::wake);
        if active > 0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_given_back_once_every_connection_is_gone() {
        let shutdown = Shutdown::new();
        let first: Vec<Tracked> = (0..100).map(|_| shutdown.track()).collect();
        let last = shutdown.track();
        drop(first);
        let again = shutdown.track();
        assert!(again.slot < 100, "a freed slot is taken before the list grows");
        assert_eq!(shutdown.lock().slots.len(), 101);
        drop((last, again));
        let connections = shutdown.lock();
        assert_eq!((connections.slots.capacity(), connections.free.capacity()), (0, 0));
    }
}
