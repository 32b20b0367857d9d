//! A connection's task, corked: run with its hub current, what it
//! broadcasts through that hub held while it is polled and delivered when
//! the poll returns (see `pubsub::cork`, which holds them).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::hub::{self, Hub};
use crate::pubsub::{PubSub, cork};

pin_project_lite::pin_project! {
    /// `task`, corked on its hub's pub/sub.
    pub(crate) struct Corked<F> {
        hub: Option<Hub>,
        pubsub: Option<Arc<PubSub>>,
        #[pin]
        task: F,
    }
}

impl<F> Corked<F> {
    pub(crate) fn new(hub: Hub, task: F) -> Corked<F> {
        Corked { pubsub: Some(hub.pubsub_handle()), hub: Some(hub), task }
    }
}

impl<F: Future> Future for Corked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Delivered even if the task panics (the cork's guard), while the hub is still current.
        hub::poll_in(this.hub, || cork::corked(this.pubsub, || this.task.poll(cx)))
    }
}
