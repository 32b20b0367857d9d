//! A replay racing live broadcasts, made deterministic: an adapter that
//! keeps history and, while a client's recovery is being fetched, publishes
//! one broadcast that the replay also holds and one that it does not. The
//! client must see the missed ones, then the rest, each once, in order.
//! In its own binary: it installs the process's pub/sub adapter.

mod common;

use maze::App;
use maze::Hub;
use maze::history::{Offset, Position, Recovery};
use maze::prelude::*;
use maze::pubsub::{Adapter, Broadcast, PubSub, Registry};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tungstenite::Message as Frame;

/// Keeps every broadcast; `recover` races: see the module's documentation.
struct Racing {
    registry: Arc<Registry>,
    kept: Mutex<Vec<Arc<Broadcast>>>,
}

impl Racing {
    fn keep_and_deliver(&self, broadcast: Arc<Broadcast>) {
        let mut kept = self.kept.lock().unwrap();
        broadcast.set_position(Position { epoch: "race".into(), offset: Offset(kept.len() as u64 + 1, 0) });
        kept.push(broadcast.clone());
        drop(kept);
        self.registry.deliver(broadcast);
    }
}

impl Adapter for Racing {
    fn publish(&self, broadcast: Arc<Broadcast>, _local: &Registry) {
        self.keep_and_deliver(broadcast);
    }

    fn keeps_history(&self) -> bool {
        true
    }

    fn recover(&self, topic: &str, from: Option<Position>) -> Pin<Box<dyn Future<Output = Recovery> + Send>> {
        let from = from.expect("the test rejoins from a position").offset;
        // Published after the client subscribed: live, and inside the history read below.
        self.keep_and_deliver(Arc::new(Broadcast::new(topic, "say", json!({"n": "raced"}))));
        let kept = self.kept.lock().unwrap().clone();
        // Published after the history was read: live only.
        self.keep_and_deliver(Arc::new(Broadcast::new(topic, "say", json!({"n": "after"}))));
        let missed: Vec<_> = kept.into_iter().filter(|b| b.position().unwrap().offset > from).collect();
        let position = missed.last().and_then(|b| b.position().cloned());
        Box::pin(async move { Recovery { missed, position, recovered: Some(true) } })
    }
}

#[derive(Default)]
struct RaceSocket;

impl Socket for RaceSocket {
    fn channels(channels: &mut Channels<Self>) {
        channels.add::<Quiet>("room:*");
    }
}

#[derive(Default)]
struct Quiet;

impl Channel<RaceSocket> for Quiet {}

fn routes(routes: &mut Routes) {
    routes.socket::<RaceSocket>("/socket");
}

#[test]
fn held_broadcasts_follow_the_replay_once_each() {
    let registry = Arc::new(Registry::default());
    let adapter = Racing { registry: registry.clone(), kept: Mutex::default() };
    let hub = Hub::new(PubSub::from_parts(registry, adapter));
    let (port, hub) = common::serve_with(App::new(routes), "[app]\nname = \"race\"\n", Some(hub));

    // Missed while away: two broadcasts after position 1.
    for n in ["seen", "missed 1", "missed 2"] {
        hub.broadcast("room:race", "say", json!({"n": n}));
    }
    let mut ws = common::connect(port, "/socket").unwrap();
    let rejoin = json!({"event": "join", "topic": "room:race", "recover": {"epoch": "race", "offset": "1-0"}, "ref": "j"});
    ws.send(Frame::text(rejoin.to_string())).unwrap();
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("after") {
        let Frame::Text(text) = ws.read().unwrap() else { continue };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        match frame["subject"].as_str() {
            Some("say") => seen.push(frame["payload"]["n"].as_str().unwrap().to_string()),
            Some("maze_recovery") => seen.push(format!("recovered: {}", frame["payload"]["recovered"])),
            _ => assert_eq!(frame["payload"]["status"], "ok", "{frame}"),
        }
    }
    assert_eq!(seen, ["missed 1", "missed 2", "raced", "recovered: true", "after"]);
}
