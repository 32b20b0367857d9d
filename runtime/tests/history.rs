//! Per-topic history and recovery on one instance (memory), in the maze
//! JSON protocol: positions on broadcasts, what a rejoin is sent, trimming,
//! epochs, exclusions, and exactly once while broadcasts race the replay.
//! (Across instances through Redis, and in a browser: tests/app.rs and
//! tests/redis.rs at the workspace's root.) Each test uses topics of its own.

mod common;

use maze::prelude::*;
use maze::{App, Hub};
use serde_json::json;
use std::net::TcpStream;
use tungstenite::{Message as Frame, WebSocket};

#[derive(Default)]
struct HistorySocket;

impl Socket for HistorySocket {
    fn channels(channels: &mut Channels<Self>) {
        channels.add::<Echo>("room:*").add::<Echo>("typing:*");
    }
}

#[derive(Default)]
struct Echo;

impl Channel<HistorySocket> for Echo {
    async fn message(&mut self, ctx: &mut Context<'_, HistorySocket>, message: Message) {
        ctx.rebroadcast(message);
    }
}

fn routes(routes: &mut Routes) {
    routes.socket::<HistorySocket>("/socket");
}

const CONFIG: &str = r#"
[app]
name = "history"
[session]
secret = "a test secret that is long enough to sign cookies"
[websockets]
history_size = 200
history_exclude = ["typing:*"]
"#;

/// The history app, served for one test: its own, so that no two tests
/// share a topic's history.
struct Served {
    port: u16,
    hub: Hub,
}

impl Served {
    fn start() -> Served {
        let (port, hub) = common::serve(App::new(routes), CONFIG);
        Served { port, hub }
    }

    fn connect(&self) -> WebSocket<TcpStream> {
        common::connect(self.port, "/socket").unwrap()
    }

    fn say(&self, topic: &str, n: usize) {
        self.hub.broadcast(topic, "say", json!({"n": n}));
    }
}

fn send(ws: &mut WebSocket<TcpStream>, frame: Value) {
    ws.send(Frame::text(frame.to_string())).unwrap();
}

fn receive(ws: &mut WebSocket<TcpStream>) -> Value {
    loop {
        match ws.read().unwrap() {
            Frame::Text(text) if text.as_str() != "ping" => {
                return serde_json::from_str(text.as_str()).unwrap();
            }
            _ => {}
        }
    }
}

/// Joins `topic` asking for history (`recover`: `{}` on a first join) and
/// returns the `maze_recovery` status, after the frames before it (a replay).
fn join(ws: &mut WebSocket<TcpStream>, topic: &str, recover: Value) -> (Vec<Value>, Value) {
    send(ws, json!({"event": "join", "topic": topic, "recover": recover, "ref": "j"}));
    assert_eq!(receive(ws)["payload"]["status"], "ok");
    let mut replayed = Vec::new();
    loop {
        let frame = receive(ws);
        if frame["subject"] == "maze_recovery" {
            return (replayed, frame["payload"].clone());
        }
        replayed.push(frame);
    }
}

/// Where a client is after `frame`: the epoch from the join's
/// `maze_recovery` status, the offset from the frame.
fn position(status: &Value, frame: &Value) -> Value {
    json!({"epoch": status["epoch"], "offset": frame["offset"]})
}

#[test]
fn a_first_join_learns_the_position_and_broadcasts_carry_theirs() {
    let served = Served::start();
    let mut ws = served.connect();
    let (replayed, status) = join(&mut ws, "room:first", json!({}));
    assert!(replayed.is_empty());
    assert_eq!(status["recovered"], Value::Null);
    assert_eq!(status["offset"], "0-0", "nothing broadcast yet");
    served.say("room:first", 1);
    let frame = receive(&mut ws);
    assert_eq!((frame["payload"]["n"].clone(), frame["offset"].clone()), (json!(1), json!("1-0")));
    assert!(status["epoch"].is_string() && frame.get("epoch").is_none(), "the epoch comes once: {frame}");
}

#[test]
fn only_clients_that_ask_for_recovery_are_sent_positions() {
    let served = Served::start();
    let mut asking = served.connect();
    join(&mut asking, "room:asking", json!({}));
    let mut plain = served.connect();
    send(&mut plain, json!({"event": "join", "topic": "room:asking", "ref": "j"}));
    assert_eq!(receive(&mut plain)["payload"]["status"], "ok");
    served.say("room:asking", 1);
    let frame = receive(&mut plain);
    assert_eq!(frame["payload"]["n"], 1);
    assert!(frame.get("offset").is_none() && frame.get("epoch").is_none(), "{frame}");
    assert_eq!(receive(&mut asking)["offset"], "1-0", "the same broadcast, with its position");
}

#[test]
fn positions_stop_once_the_last_topic_asking_for_recovery_is_left() {
    let served = Served::start();
    let mut ws = served.connect();
    join(&mut ws, "room:recovering", json!({}));
    send(&mut ws, json!({"event": "join", "topic": "room:plain", "ref": "p"}));
    assert_eq!(receive(&mut ws)["payload"]["status"], "ok");
    // While one topic recovers, the connection's broadcast frames carry positions.
    served.say("room:plain", 1);
    assert_eq!(receive(&mut ws)["offset"], "1-0");

    send(&mut ws, json!({"event": "leave", "topic": "room:recovering", "ref": "l"}));
    assert_eq!(receive(&mut ws)["payload"]["status"], "ok");
    served.say("room:plain", 2);
    let frame = receive(&mut ws);
    assert_eq!(frame["payload"]["n"], 2);
    assert!(frame.get("offset").is_none(), "no topic asks for positions any more: {frame}");
}

#[test]
fn a_rejoin_gets_what_it_missed_in_order_once_then_live_broadcasts() {
    let served = Served::start();
    let mut ws = served.connect();
    let (_, status) = join(&mut ws, "room:missed", json!({}));
    served.say("room:missed", 0);
    let last_seen = position(&status, &receive(&mut ws));
    drop(ws);
    for n in 1..=5 {
        served.say("room:missed", n);
    }
    let mut again = served.connect();
    let (replayed, status) = join(&mut again, "room:missed", last_seen);
    let numbers: Vec<_> = replayed.iter().map(|frame| frame["payload"]["n"].clone()).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5].map(|n| json!(n)));
    assert_eq!(status["recovered"], true);
    assert_eq!(status["offset"], replayed[4]["offset"]);
    served.say("room:missed", 6);
    assert_eq!(receive(&mut again)["payload"]["n"], 6, "then live, nothing twice");
}

#[test]
fn recovery_fails_explicitly_past_the_history_or_from_another_epoch() {
    let served = Served::start();
    let mut ws = served.connect();
    let (_, status) = join(&mut ws, "room:trimmed", json!({}));
    served.say("room:trimmed", 0);
    let last_seen = position(&status, &receive(&mut ws));
    drop(ws);
    // history_size is 200: 201 missed broadcasts cannot all be replayed.
    for n in 1..=201 {
        served.say("room:trimmed", n);
    }
    let mut again = served.connect();
    let (replayed, status) = join(&mut again, "room:trimmed", last_seen.clone());
    assert!(replayed.is_empty(), "no partial replay: {replayed:?}");
    assert_eq!(status["recovered"], false);

    let foreign = json!({"epoch": "another-epoch", "offset": last_seen["offset"]});
    let (_, status) = join(&mut served.connect(), "room:trimmed", foreign);
    assert_eq!(status["recovered"], false);
}

#[test]
fn excluded_topics_keep_no_history() {
    let served = Served::start();
    let mut ws = served.connect();
    send(&mut ws, json!({"event": "join", "topic": "typing:1", "recover": {}, "ref": "j"}));
    assert_eq!(receive(&mut ws)["payload"]["status"], "ok");
    served.say("typing:1", 1);
    let frame = receive(&mut ws);
    assert_eq!(frame["subject"], "say", "no maze_recovery for a topic without history");
    assert!(frame.get("offset").is_none(), "{frame}");
}

#[test]
fn a_replay_racing_live_broadcasts_shows_each_exactly_once_in_order() {
    let served = Served::start();
    let topic = "room:race";
    let mut ws = served.connect();
    let (_, status) = join(&mut ws, topic, json!({}));
    served.say(topic, 0);
    let last_seen = position(&status, &receive(&mut ws));
    drop(ws);
    // Broadcasts keep coming while the client rejoins: some are missed, some
    // land between its subscription and its replay, some after.
    let hub = served.hub.clone();
    let flood = std::thread::spawn(move || {
        for n in 1..=150 {
            hub.broadcast(topic, "say", json!({"n": n}));
        }
    });
    let mut again = served.connect();
    let (replayed, _) = join(&mut again, topic, last_seen);
    flood.join().unwrap();
    let mut seen: Vec<u64> = replayed.iter().map(|frame| frame["payload"]["n"].as_u64().unwrap()).collect();
    while seen.last() != Some(&150) {
        seen.push(receive(&mut again)["payload"]["n"].as_u64().unwrap());
    }
    // Fewer than history_size: all recoverable, so every one arrives, once, in order.
    assert_eq!(seen, (1..=150).collect::<Vec<_>>(), "replayed {} of them", replayed.len());
}
