//! A connection's outbound queue: many senders (the pub/sub fan-out, the
//! connection's own reader, [`crate::socket::Client`] handles), one receiver
//! (the connection's writer).
//!
//! Why not `tokio::sync::mpsc`: a broadcast is offered to every subscriber
//! of its topic, so the cost of one offer is paid N times per message. Here
//! an offer is one uncontended lock and a push, and wakes the writer only
//! when it is waiting (not once per item); the writer takes everything
//! queued in one step ([`Receiver::poll_drain`]) and writes it as one batch. An
//! empty queue holds no allocation.
//!
//! Bounded: [`Sender::try_send`] refuses when `capacity` messages wait (an
//! item counts for the messages it carries, see [`Counted`]) and
//! marks the queue overflowed, which its receiver sees ([`Drained`],
//! [`Receiver::overflowed`]): the connection drops a client that cannot keep
//! up. [`Sender::send`] waits for room instead (replies: a client that does
//! not read stops being read).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::sync::Notify;

/// What the queue carries: an item counts for this many messages against
/// its capacity (a batch of broadcasts for each of them).
pub(crate) trait Counted {
    fn count(&self) -> usize {
        1
    }
}

/// What a full queue means to a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenFull {
    /// The receiver is too slow: it is told ([`Sender::try_send`]).
    Overflow,
    /// The sender waits for room ([`Sender::send`]).
    Wait,
}

/// Why [`Sender::try_send`] refused an item (it is dropped).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `capacity` items wait: the receiver is too slow.
    Full,
    /// The receiver is gone.
    Closed,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Live [`Sender`]s: at zero, the receiver sees the end.
    senders: AtomicUsize,
    /// When the connection last heard from its client, in milliseconds of
    /// [`clock_ms`]: the reader marks it, the writer closes a connection
    /// silent for too long. (Here because the queue is what the two share.)
    heard: AtomicU64,
    /// Rung when a queue at least half full gets room, for [`Sender::send`]
    /// and [`Sender::poll_wait_for_room`].
    room: Notify,
}

struct State<T> {
    items: VecDeque<T>,
    /// The messages `items` count for.
    queued: usize,
    /// The receiver, when it waits for an item.
    waiting: Option<Waker>,
    /// A sender in [`Sender::poll_wait_for_room`] (the connection's reader).
    waiting_for_room: Option<Waker>,
    /// An item was refused for want of room.
    overflowed: bool,
    closed: bool,
}

impl<T> Shared<T> {
    /// Rings everyone waiting for room.
    fn made_room(&self) {
        self.room.notify_waiters();
        let waiting = self.lock().waiting_for_room.take();
        if let Some(waker) = waiting {
            waker.wake();
        }
    }

    /// Whether a queue of `len` items is at least half full: taking from
    /// it then rings `room`.
    fn busy(&self, len: usize) -> bool {
        len >= self.capacity.div_ceil(2)
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing here panics while holding the lock; a poisoned queue is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Milliseconds on a clock that starts with the process's first use of it.
fn clock_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64
}

/// A queue holding at most `capacity` items (at least 1).
pub(crate) fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            queued: 0,
            waiting: None,
            waiting_for_room: None,
            overflowed: false,
            closed: false,
        }),
        capacity: capacity.max(1),
        heard: AtomicU64::new(clock_ms()),
        senders: AtomicUsize::new(1),
        room: Notify::new(),
    });
    (Sender { shared: shared.clone() }, Receiver { shared })
}

/// The sending side; cheap to clone.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            let waiting = self.shared.lock().waiting.take();
            if let Some(waker) = waiting {
                waker.wake();
            }
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("capacity", &self.shared.capacity).finish_non_exhaustive()
    }
}

impl<T: Counted> Sender<T> {
    /// Queues `item` unless the queue is full or closed (then it is dropped).
    pub(crate) fn try_send(&self, item: T) -> Result<(), Refused> {
        self.push(item, WhenFull::Overflow).map_err(|(refused, _item)| refused)
    }

    /// Queues `item`, waiting for room; false when the receiver is gone.
    /// Waiting is not overflowing: the receiver is not told it is too slow.
    pub(crate) async fn send(&self, mut item: T) -> bool {
        loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            // Registered before trying, so room made in between is not missed.
            room.as_mut().enable();
            match self.push(item, WhenFull::Wait) {
                Ok(()) => return true,
                Err((Refused::Closed, _)) => return false,
                Err((Refused::Full, refused)) => item = refused,
            }
            room.await;
        }
    }

    fn push(&self, item: T, when_full: WhenFull) -> Result<(), (Refused, T)> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err((Refused::Closed, item));
        }
        let count = item.count();
        // An empty queue takes a batch larger than its capacity: one offer is
        // not a client falling behind.
        if state.queued > 0 && state.queued + count > self.shared.capacity {
            if when_full == WhenFull::Wait {
                return Err((Refused::Full, item));
            }
            state.overflowed = true;
            let waiting = state.waiting.take();
            drop(state);
            if let Some(waker) = waiting {
                waker.wake();
            }
            return Err((Refused::Full, item));
        }
        state.items.push_back(item);
        state.queued += count;
        let waiting = state.waiting.take();
        drop(state);
        // The receiver is woken once per batch: later items find no waker
        // until it waits again.
        if let Some(waker) = waiting {
            waker.wake();
        }
        Ok(())
    }

    /// Ready when the queue is less than half full (or closed): a
    /// connection's reader waits so before it reads what its client sends
    /// next, so that a client sending faster than it reads is slowed down
    /// rather than overflow its own queue with the answers.
    pub(crate) fn poll_wait_for_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.shared.lock();
        if state.closed || !self.shared.busy(state.queued) {
            return Poll::Ready(());
        }
        if !state.waiting_for_room.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            state.waiting_for_room = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Marks the connection's client as heard from just now.
    pub(crate) fn heard_from_client(&self) {
        self.shared.heard.store(clock_ms(), Ordering::Relaxed);
    }

    /// Whether the receiver still takes items.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

/// See [`Receiver::overflow_watch`].
pub(crate) struct OverflowWatch<T> {
    shared: Arc<Shared<T>>,
}

impl<T> OverflowWatch<T> {
    /// Resolves once an item has been refused for want of room.
    pub(crate) async fn overflowed(&self) {
        poll_fn(|cx| {
            let mut state = self.shared.lock();
            if state.overflowed {
                return Poll::Ready(());
            }
            if !state.waiting.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                state.waiting = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// What [`Receiver::poll_drain`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Drained {
    /// Items, now in the batch.
    Items,
    /// An item was refused for want of room: the receiver is too slow.
    Overflowed,
    /// Every sender is gone and nothing is left.
    Ended,
}

/// The receiving side: the connection's writer.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Counted> Receiver<T> {
    /// The next item; `None` once every sender is gone and nothing is left.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            let mut state = self.shared.lock();
            if let Some(item) = state.items.pop_front() {
                let was_busy = self.shared.busy(state.queued);
                state.queued -= item.count();
                drop(state);
                if was_busy {
                    self.shared.made_room();
                }
                return Poll::Ready(Some(item));
            }
            if self.shared.senders.load(Ordering::Acquire) == 0 {
                return Poll::Ready(None);
            }
            if !state.waiting.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                state.waiting = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// The next item if one is queued.
    #[cfg(test)]
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        let mut state = self.shared.lock();
        let was_busy = self.shared.busy(state.queued);
        let item = state.items.pop_front();
        state.queued -= item.as_ref().map_or(0, T::count);
        drop(state);
        if was_busy {
            self.shared.made_room();
        }
        item
    }

    /// Ready once there is at least one item: then moves everything queued
    /// into `batch` (which should be empty: its allocation is swapped in for
    /// the queue's); or reports an overflow, or the end.
    pub(crate) fn poll_drain(&mut self, cx: &mut Context<'_>, batch: &mut VecDeque<T>) -> Poll<Drained> {
        let mut state = self.shared.lock();
        if state.overflowed {
            return Poll::Ready(Drained::Overflowed);
        }
        if !state.items.is_empty() {
            std::mem::swap(&mut state.items, batch);
            let taken = std::mem::take(&mut state.queued);
            drop(state);
            if self.shared.busy(taken) {
                self.shared.made_room();
            }
            return Poll::Ready(Drained::Items);
        }
        if self.shared.senders.load(Ordering::Acquire) == 0 {
            return Poll::Ready(Drained::Ended);
        }
        if !state.waiting.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            state.waiting = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// How long since a sender last marked the client as heard from.
    pub(crate) fn client_silent_for(&self) -> std::time::Duration {
        let heard = self.shared.heard.load(Ordering::Relaxed);
        std::time::Duration::from_millis(clock_ms().saturating_sub(heard))
    }

    /// What tells a receiver busy elsewhere than in [`Receiver::poll_drain`]
    /// (writing) that the queue overflowed meanwhile.
    pub(crate) fn overflow_watch(&self) -> OverflowWatch<T> {
        OverflowWatch { shared: self.shared.clone() }
    }

    /// Appends everything queued to `batch` (without waiting).
    pub(crate) fn take_queued(&mut self, batch: &mut VecDeque<T>) {
        let mut state = self.shared.lock();
        let was_busy = self.shared.busy(std::mem::take(&mut state.queued));
        batch.extend(state.items.drain(..));
        drop(state);
        if was_busy {
            self.shared.made_room();
        }
    }

    /// Frees the queue's buffer if it is empty (it keeps its size between
    /// batches otherwise).
    pub(crate) fn release_memory(&mut self) {
        let mut state = self.shared.lock();
        if state.items.is_empty() {
            state.items = VecDeque::new();
        }
    }
}

impl<T> Receiver<T> {
    /// Refuses every later item and drops those queued; waiting senders return.
    pub(crate) fn close(&mut self) {
        let items = {
            let mut state = self.shared.lock();
            state.closed = true;
            state.queued = 0;
            std::mem::take(&mut state.items)
        };
        drop(items);
        self.shared.made_room();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    impl Counted for u32 {}
    impl Counted for i32 {}
    impl Counted for &str {}

    /// Waits for [`Receiver::poll_drain`], as a connection's task does.
    async fn drain<T: Counted>(receiver: &mut Receiver<T>, batch: &mut VecDeque<T>) -> Drained {
        poll_fn(|cx| receiver.poll_drain(cx, batch)).await
    }

    #[test]
    fn a_full_queue_refuses_and_a_closed_one_too() {
        let (sender, mut receiver) = bounded(2);
        assert_eq!(sender.try_send(1), Ok(()));
        assert_eq!(sender.try_send(2), Ok(()));
        assert_eq!(sender.try_send(3), Err(Refused::Full));
        let mut batch = VecDeque::new();
        let overflow = futures_util::FutureExt::now_or_never(drain(&mut receiver, &mut batch));
        assert_eq!(overflow, Some(Drained::Overflowed), "the refusal is reported");
        assert!(batch.is_empty());
        assert_eq!(receiver.try_recv(), Some(1));
        assert_eq!(sender.try_send(3), Ok(()));
        receiver.close();
        assert_eq!(sender.try_send(4), Err(Refused::Closed));
        assert!(sender.is_closed());
        assert_eq!(receiver.try_recv(), None, "closing dropped what was queued");
    }

    #[tokio::test]
    async fn drain_takes_everything_queued_in_order() {
        let (sender, mut receiver) = bounded(8);
        for item in 0..5 {
            sender.try_send(item).unwrap();
        }
        let mut batch = VecDeque::new();
        assert_eq!(drain(&mut receiver, &mut batch).await, Drained::Items);
        assert_eq!(batch, [0, 1, 2, 3, 4]);
        assert_eq!(receiver.try_recv(), None);
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send() {
        let (sender, mut receiver) = bounded(8);
        let waiting = tokio::spawn(async move {
            let mut batch = VecDeque::new();
            drain(&mut receiver, &mut batch).await;
            batch
        });
        tokio::task::yield_now().await;
        sender.try_send("hello").unwrap();
        let batch = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken").unwrap();
        assert_eq!(batch, ["hello"]);
    }

    /// A queue of one, full, and a task sending a second item; once this
    /// (single-threaded) test yields, that sender is waiting for room.
    async fn full_with_a_waiting_sender() -> (Receiver<u32>, tokio::task::JoinHandle<bool>) {
        let (sender, receiver) = bounded(1);
        sender.try_send(1).unwrap();
        let waiting = tokio::spawn(async move { sender.send(2).await });
        tokio::task::yield_now().await;
        (receiver, waiting)
    }

    #[tokio::test]
    async fn send_waits_for_room_and_returns_once_there_is_some() {
        let (mut receiver, waiting) = full_with_a_waiting_sender().await;
        assert!(!waiting.is_finished(), "no room yet");
        let told = futures_util::FutureExt::now_or_never(receiver.overflow_watch().overflowed());
        assert!(told.is_none(), "a sender waiting for room is no overflow: the receiver is not too slow");
        assert_eq!(receiver.recv().await, Some(1));
        assert!(tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("room made").unwrap());
        assert_eq!(receiver.recv().await, Some(2));
    }

    #[tokio::test]
    async fn send_to_a_closed_queue_returns_false() {
        let (mut receiver, waiting) = full_with_a_waiting_sender().await;
        receiver.close();
        assert!(!tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("released").unwrap());
    }

    #[tokio::test]
    async fn the_receiver_sees_the_end_once_every_sender_is_gone() {
        let (sender, mut receiver) = bounded(4);
        let other = sender.clone();
        sender.try_send(1).unwrap();
        drop(sender);
        assert_eq!(receiver.recv().await, Some(1));
        let ending = tokio::spawn(async move { receiver.recv().await });
        tokio::task::yield_now().await;
        drop(other);
        assert_eq!(tokio::time::timeout(Duration::from_secs(5), ending).await.expect("ended").unwrap(), None);
    }
}
