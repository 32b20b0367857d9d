//! Testing an app in-process: no TCP port, no browser.
//!
//! - [`connect`] opens a connection to a socket the way a client would,
//!   with a session, cookies and connect params, and gives a [`TestClient`]
//!   that joins, pushes and leaves, and asserts what it receives
//!   ([`TestClient::assert_push`]) and what is broadcast on a topic it
//!   joined ([`TestClient::assert_broadcast`]), or their absence.
//! - [`TestApp`] serves the app's router to requests, for controllers.
//!
//! The connection is the real one: the same channels, callbacks, pub/sub
//! and protocol code as in production; only the WebSocket is replaced.
//! Waiting is event-driven: an assertion returns as soon as what it waits
//! for arrives, and fails after the client's timeout (100 ms unless
//! [`ConnectTest::timeout`] or [`TestClient::set_timeout`] says otherwise);
//! a `refute_*` is decided by a marker (the connection's answer to a
//! request made then comes after everything it sent before), not a wait.
//! Use them in `#[tokio::test]`s.
//!
//! ```
//! use maze::prelude::*;
//! use maze::testing;
//!
//! #[derive(Default)]
//! struct ChatSocket {
//!     user_id: Option<i64>,
//! }
//!
//! impl Socket for ChatSocket {
//!     fn channels(channels: &mut Channels<Self>) {
//!         channels.add::<RoomChannel>("room:*");
//!     }
//!
//!     async fn on_connect(&mut self, conn: &Connect) -> bool {
//!         self.user_id = conn.session().get("user_id").and_then(Value::as_i64);
//!         true
//!     }
//! }
//!
//! #[derive(Default)]
//! struct RoomChannel;
//!
//! impl Channel<ChatSocket> for RoomChannel {
//!     async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, _: Value) -> Result<Value, String> {
//!         ctx.socket().user_id.map(|id| json!({"user_id": id})).ok_or_else(|| "sign in first".into())
//!     }
//!
//!     async fn message(&mut self, ctx: &mut Context<'_, ChatSocket>, message: Message) {
//!         ctx.rebroadcast(message);
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut guest = testing::connect::<ChatSocket>().await.unwrap();
//! assert_eq!(guest.join("room:1", json!({})).await, Err("sign in first".to_string()));
//!
//! let mut ada = testing::connect::<ChatSocket>().session("user_id", 42).await.unwrap();
//! assert_eq!(ada.join("room:1", json!({})).await, Ok(json!({"user_id": 42})));
//! ada.push("room:1", "shout", json!({"text": "hi"})).await.unwrap();
//! assert_eq!(ada.assert_broadcast("room:1", "shout").await, json!({"text": "hi"}));
//! assert_eq!(ada.assert_push("room:1", "shout").await, json!({"text": "hi"}));
//! ada.refute_push("room:1", "shout").await; // once only
//! # }
//! ```

mod app;
#[cfg(feature = "websockets")]
mod client;

pub use app::{TestApp, TestResponse};
#[cfg(feature = "websockets")]
pub use client::{ConnectTest, Refused, TestClient, connect, hub};

/// How long an assertion waits unless the test says otherwise.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(100);
