//! Broadcasts made by a connection's task, delivered together.
//!
//! A client that sends many messages at once (read in one go) makes a
//! channel broadcast once per message. Delivered one by one, each costs
//! every subscriber of the topic one offer to its queue (a lock, a wake),
//! and the cost of a fan-out is the number of subscribers times the number
//! of messages. Held while the task runs and delivered when it stops
//! (because it waits: for the client, for a callback's database, for
//! anything), they cost each subscriber one offer for the lot; the writers
//! then write them as one batch. This is uWebSockets' cork, per task
//! instead of per event-loop iteration.
//!
//! Nothing is held across a wait, so nothing is delayed by one: a
//! message's broadcasts leave when its connection's task next waits. What a
//! task publishes keeps its order (held ones are delivered in order, and a
//! publish while some are held joins them), and so does what it sends its
//! own client: anything the connection queues for its client (a reply, a
//! push, an error) first delivers what the task holds ([`flush`]), so its
//! client gets them in the order the callbacks made them, as without the
//! cork. Bursts of broadcasts with nothing for the sender in between are
//! what gets batched.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{Broadcast, PubSub};
use crate::hub::{self, Hub};

/// At most this many broadcasts are held: a task that never waits (a
/// client streaming faster than it is read) still delivers every so often.
const MOST_HELD: usize = 64;

thread_local! {
    /// What the task being polled on this thread published, when it is corked.
    static HELD: RefCell<Option<Vec<Arc<Broadcast>>>> = const { RefCell::new(None) };
}

pin_project_lite::pin_project! {
    /// `task`, run with its app's hub current; what it broadcasts through
    /// that hub is held while it is polled and delivered when its poll returns.
    pub(crate) struct Corked<F> {
        hub: Option<Hub>,
        #[pin]
        task: F,
    }
}

impl<F> Corked<F> {
    pub(crate) fn new(hub: Hub, task: F) -> Corked<F> {
        Corked { hub: Some(hub), task }
    }
}

impl<F: Future> Future for Corked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        hub::poll_in(this.hub, || {
            // Delivered even if the task panics (the guard's drop), while the hub is still current.
            let _delivering = Uncork(HELD.with(|held| held.borrow_mut().replace(Vec::new())));
            this.task.poll(cx)
        })
    }
}

/// Delivers what was held, and puts back the cork that was there before
/// (none, unless a corked task polls another corked future).
struct Uncork(Option<Vec<Arc<Broadcast>>>);

impl Drop for Uncork {
    fn drop(&mut self) {
        let held = HELD.with(|held| std::mem::replace(&mut *held.borrow_mut(), self.0.take()));
        deliver(held);
    }
}

/// Publishes `held` through the current hub (the corked task's).
fn deliver(held: Option<Vec<Arc<Broadcast>>>) {
    if let Some(held) = held.filter(|held| !held.is_empty()) {
        hub::with_current(|hub| {
            if let Some(hub) = hub {
                hub.pubsub().publish_all(held);
            }
        });
    }
}

/// Delivers what the task being polled holds, now: before it queues
/// anything for its own client, which must come after.
pub(crate) fn flush() {
    deliver(HELD.with(|held| held.borrow_mut().as_mut().map(std::mem::take)));
}

/// Holds `broadcast` when the task being polled is corked and `pubsub` is
/// its hub's; gives it back when not (it is to be published at once).
pub(super) fn hold(pubsub: &PubSub, broadcast: Arc<Broadcast>) -> Result<(), Arc<Broadcast>> {
    let corked_here = hub::with_current(|hub| hub.is_some_and(|hub| std::ptr::eq(hub.pubsub(), pubsub)));
    if !corked_here {
        return Err(broadcast);
    }
    let full = HELD.with(|held| match held.borrow_mut().as_mut() {
        Some(held) => {
            held.push(broadcast);
            Ok((held.len() >= MOST_HELD).then(|| std::mem::take(held)))
        }
        None => Err(broadcast),
    })?;
    if let Some(held) = full {
        pubsub.publish_all(held);
    }
    Ok(())
}
