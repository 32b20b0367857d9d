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
use std::sync::Arc;

use super::{Broadcast, PubSub};

/// At most this many broadcasts are held: a task that never waits (a
/// client streaming faster than it is read) still delivers every so often.
const MOST_HELD: usize = 64;

thread_local! {
    /// The cork of the task being polled on this thread, if it is corked.
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// What a corked task published on `pubsub` (its hub's), not yet delivered.
struct Held {
    pubsub: Arc<PubSub>,
    broadcasts: Vec<Arc<Broadcast>>,
}

/// Runs `poll` corked on the pub/sub in `slot`: what it publishes there is
/// held, and delivered when `poll` returns (or panics). The pub/sub moves
/// from the slot into this thread's cork and back, so no reference count
/// is touched on this hot path. An empty slot runs `poll` as it is.
pub(crate) fn corked<T>(slot: &mut Option<Arc<PubSub>>, poll: impl FnOnce() -> T) -> T {
    let Some(pubsub) = slot.take() else { return poll() };
    let previous = HELD.with(|held| held.borrow_mut().replace(Held { pubsub, broadcasts: Vec::new() }));
    let _uncork = Uncork { previous: Some(previous), slot };
    poll()
}

/// Delivers what was held, puts back the cork that was there before (none,
/// unless a corked task polls another corked future), and the pub/sub back
/// in its slot.
struct Uncork<'s> {
    previous: Option<Option<Held>>,
    slot: &'s mut Option<Arc<PubSub>>,
}

impl Drop for Uncork<'_> {
    fn drop(&mut self) {
        let previous = self.previous.take().flatten();
        let ours = HELD.with(|held| std::mem::replace(&mut *held.borrow_mut(), previous));
        if let Some(Held { pubsub, broadcasts }) = ours {
            if !broadcasts.is_empty() {
                pubsub.publish_all(broadcasts);
            }
            *self.slot = Some(pubsub);
        }
    }
}

/// Delivers what the task being polled holds, now: before it queues
/// anything for its own client, which must come after.
pub(crate) fn flush() {
    let Some(mut held) = HELD.with(|held| held.borrow_mut().take()) else { return };
    let broadcasts = std::mem::take(&mut held.broadcasts);
    if !broadcasts.is_empty() {
        held.pubsub.publish_all(broadcasts);
    }
    HELD.with(|slot| *slot.borrow_mut() = Some(held));
}

/// Holds `broadcast` when the task being polled is corked on `pubsub`;
/// gives it back when not (it is to be published at once).
pub(super) fn hold(pubsub: &PubSub, broadcast: Arc<Broadcast>) -> Result<(), Arc<Broadcast>> {
    let full = HELD.with(|held| match held.borrow_mut().as_mut() {
        Some(held) if std::ptr::eq(Arc::as_ptr(&held.pubsub), pubsub) => {
            held.broadcasts.push(broadcast);
            Ok((held.broadcasts.len() >= MOST_HELD).then(|| std::mem::take(&mut held.broadcasts)))
        }
        _ => Err(broadcast),
    })?;
    if let Some(held) = full {
        pubsub.publish_all(held);
    }
    Ok(())
}
