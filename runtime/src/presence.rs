//! Presence: who is on a topic, in Phoenix's own wire format.
//!
//! A channel tracks its client under a key (a user) with metadata
//! ([`Context::track`](crate::socket::Context::track)); leaving the topic or
//! disconnecting untracks it. Each tracked presence gets a `phx_ref`, so one
//! key (a user in two tabs) holds several metas. Clients receive
//! `presence_state` (the whole list) after they track, then `presence_diff`
//! events (`{"joins": {...}, "leaves": {...}}`, each key mapping to
//! `{"metas": [...]}`), which the `phoenix` npm client's `Presence` class and
//! maze.js's `Presence` turn into `onJoin` / `onLeave` / `onSync`.
//!
//! Each app's [`Hub`] keeps its own presences; [`list`] reads the current
//! app's (see [`crate::hub`]), [`Hub::presence_list`] a given one's.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # let hub = maze::Hub::in_memory();
//! # let _current = hub.enter();
//! // In a controller: "3 online".
//! let here = maze::presence::list("chat_room:lobby");
//! println!("{} online", here.as_object().map_or(0, |keys| keys.len()));
//! # }
//! ```
//!
//! # How instances agree
//!
//! Each instance owns the presences of its own clients and replicates them
//! to the others through the pub/sub adapter (Redis), on an internal topic:
//! batched deltas with a sequence number, a heartbeat every second, and the
//! full state on request (on start, after a gap in the sequence, or when an
//! unknown instance is heard). An instance silent for 3 seconds (killed, or
//! cut off from Redis) is dropped: its users leave everywhere. After a Redis
//! restart the heartbeats resume, each instance asks for the others' state,
//! and the lists are rebuilt from what the live instances own: no ghosts,
//! no duplicates.
//!
//! Changes reach clients in batches, every 50 ms at most per topic: a storm
//! of joins becomes a few diffs, not one frame per join per client.

use serde_json::Value;

/// The presences on `topic`, from every instance, in Phoenix's shape:
/// `{"user:42": {"metas": [{"phx_ref": "...", ...}, ...]}, ...}`; of the
/// current app (see [`crate::hub`]: it panics where there is none).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let hub = maze::Hub::in_memory();
/// # let _current = hub.enter();
/// let list = maze::presence::list("room:1");
/// for (key, presence) in list.as_object().unwrap() {
///     println!("{key} in {} tab(s)", presence["metas"].as_array().unwrap().len());
/// }
/// # }
/// ```
#[track_caller]
pub fn list(topic: &str) -> Value {
    crate::Hub::current().presence_list(topic)
}
