//! [`Broadcast`]: one message for every subscriber of a topic, with the
//! frames each protocol sends it as, encoded once however many receive it.

use serde_json::Value;
use std::sync::OnceLock;

use super::Protocol;
use super::position::Position;
use crate::websocket::Frame;

/// One message for every subscriber of a topic.
///
/// ```
/// use maze::pubsub::Broadcast;
/// use serde_json::json;
///
/// let broadcast = Broadcast::new("chat_room:lobby", "message_new", json!({"body": "hi"}));
/// assert_eq!((broadcast.topic.as_str(), broadcast.subject.as_str()), ("chat_room:lobby", "message_new"));
/// ```
#[derive(Debug)]
pub struct Broadcast {
    /// Who receives it: every subscriber of this topic.
    pub topic: String,
    /// What it is (`message_new`); clients dispatch on it (Phoenix clients
    /// see it as the frame's event).
    pub subject: String,
    /// Its data.
    pub payload: Value,
    /// The connection that sent it and does not receive it ("to others").
    /// Connection ids are local to an instance, so this only matters here.
    pub(crate) exclude: Option<u64>,
    /// Its WebSocket frames, each encoded once however many subscribers
    /// receive it: one per protocol, with its position and without (see
    /// [`Protocol::broadcast`]).
    pub(crate) frames: [OnceLock<Frame>; Protocol::COUNT * 2],
    /// Its place in the topic's history, when the topic keeps one.
    pub(crate) position: OnceLock<Position>,
    /// A permit once this instance's subscribers have it: a channel's reply
    /// waits for what its callback broadcast (with Redis history, that takes
    /// a round trip).
    pub(crate) delivered: tokio::sync::Semaphore,
}

impl Broadcast {
    /// A broadcast, not yet encoded for any protocol.
    ///
    /// ```
    /// # use maze::pubsub::Broadcast;
    /// let broadcast = Broadcast::new("room:1", "typing", serde_json::json!({"user": 42}));
    /// assert_eq!(broadcast.payload["user"], 42);
    /// ```
    pub fn new(topic: &str, subject: &str, payload: Value) -> Broadcast {
        Broadcast {
            topic: topic.into(),
            subject: subject.into(),
            payload,
            exclude: None,
            frames: Default::default(),
            position: OnceLock::new(),
            delivered: tokio::sync::Semaphore::const_new(0),
        }
    }

    /// Its place in its topic's history (see [`crate::history`]), once published
    /// on a topic that keeps one.
    ///
    /// ```
    /// let broadcast = maze::pubsub::Broadcast::new("room:1", "hi", serde_json::Value::Null);
    /// assert!(broadcast.position().is_none(), "not published yet");
    /// ```
    pub fn position(&self) -> Option<&Position> {
        self.position.get()
    }

    /// Gives the broadcast its place in its topic's history: for adapters
    /// that keep history ([`Adapter::keeps_history`]), before delivering it.
    /// A position is given once; later calls change nothing.
    ///
    /// ```
    /// use maze::history::{Offset, Position};
    /// let broadcast = maze::pubsub::Broadcast::new("room:1", "hi", serde_json::Value::Null);
    /// broadcast.set_position(Position { epoch: "e".into(), offset: Offset(1, 0) });
    /// assert_eq!(broadcast.position().unwrap().offset, Offset(1, 0));
    /// ```
    pub fn set_position(&self, position: Position) {
        let _ = self.position.set(position);
    }

    /// The same broadcast for everyone but connection `id`.
    pub(crate) fn excluding(mut self, id: u64) -> Broadcast {
        self.exclude = Some(id);
        self
    }
}
