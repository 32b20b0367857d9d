//! Each app owns its hub: two apps in one process, one in memory and one on
//! a real redis-server, never meet, nor do their metrics, and an app's
//! `[websockets]` settings hold whatever ran before it started.

mod common;

use maze::prelude::*;
use maze::{App, Hub};
use serde_json::json;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message as Frame, WebSocket};

#[derive(Default)]
struct RoomSocket;

impl Socket for RoomSocket {
    fn channels(channels: &mut Channels<Self>) {
        channels.add::<Room>("room:*");
    }
}

#[derive(Default)]
struct Room;

impl Channel<RoomSocket> for Room {}

fn routes(routes: &mut Routes) {
    routes.socket::<RoomSocket>("/socket");
}

/// A `redis-server` on a free loopback port, without persistence; killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        loop {
            if let Some(redis) = Redis::start_on(free_port()) {
                return redis;
            }
        }
    }

    /// A redis-server of its own on `port`, or `None` when another process
    /// (another test's server) has the port.
    fn start_on(port: u16) -> Option<Redis> {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: .ci/run installs it (apt-get install -y redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "redis-server did not start on port {port}");
            if child.try_wait().unwrap().is_some() {
                return None; // it could not bind the port
            }
            // The server answering must be this one, not another test's on the same port.
            match answering_pid(port) {
                Some(pid) if pid == child.id() => return Some(Redis { child, port }),
                Some(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The process id of the redis-server listening on `port`, if one answers.
fn answering_pid(port: u16) -> Option<u32> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(b"INFO server\r\n").ok()?;
    let mut reply = Vec::new();
    let mut buffer = [0; 4096];
    while !String::from_utf8_lossy(&reply).contains("process_id:") || !reply.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut buffer).ok()?;
        if read == 0 {
            break;
        }
        reply.extend_from_slice(&buffer[..read]);
    }
    let reply = String::from_utf8_lossy(&reply);
    reply.lines().find_map(|line| line.strip_prefix("process_id:")).and_then(|pid| pid.trim().parse().ok())
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send(ws: &mut WebSocket<TcpStream>, frame: serde_json::Value) {
    ws.send(Frame::text(frame.to_string())).unwrap();
}

/// The next JSON frame (the keep-alive `ping` text skipped).
fn receive(ws: &mut WebSocket<TcpStream>) -> serde_json::Value {
    loop {
        if let Frame::Text(text) = ws.read().unwrap()
            && text.as_str() != "ping"
        {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

/// Joins `topic` (asking for recovery when `recover` is an object) and waits for the reply.
fn join(ws: &mut WebSocket<TcpStream>, topic: &str, recover: serde_json::Value) {
    send(ws, json!({"event": "join", "topic": topic, "payload": {}, "recover": recover, "ref": "j"}));
    assert_eq!(receive(ws)["payload"]["status"], "ok");
}

/// Waits until `hub` has a subscriber on `topic` (a join's subscription
/// follows its reply).
fn wait_for_subscriber(hub: &Hub, topic: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !hub.pubsub().registry().topics().iter().any(|t| t == topic) {
        assert!(Instant::now() < deadline, "nobody joined {topic}");
        std::thread::yield_now();
    }
}

#[test]
fn two_apps_in_one_process_deliver_only_their_own_broadcasts() {
    let redis = Redis::start();
    let (memory_port, memory_hub) = common::serve(App::new(routes), "[app]\nname = \"in_memory\"\n");
    let redis_config = format!(
        "[app]\nname = \"on_redis\"\n[websockets]\nadapter = \"redis\"\nredis_url = \"redis://127.0.0.1:{}\"\n",
        redis.port
    );
    let (redis_port, redis_hub) = common::serve(App::new(routes), &redis_config);

    let mut on_memory = common::connect(memory_port, "/socket").unwrap();
    let mut on_redis = common::connect(redis_port, "/socket").unwrap();
    join(&mut on_memory, "room:1", json!(null));
    join(&mut on_redis, "room:1", json!(null));
    wait_for_subscriber(&memory_hub, "room:1");
    wait_for_subscriber(&redis_hub, "room:1");

    // The Redis app's broadcast went all the way (to its client) before the
    // memory app's: had it reached the memory app's client too, it would come first.
    redis_hub.broadcast("room:1", "from_redis", json!({}));
    assert_eq!(receive(&mut on_redis)["subject"], "from_redis");
    memory_hub.broadcast("room:1", "from_memory", json!({}));
    assert_eq!(receive(&mut on_memory)["subject"], "from_memory");
    redis_hub.broadcast("room:1", "end", json!({}));
    assert_eq!(receive(&mut on_redis)["subject"], "end", "the memory app's broadcast reached the Redis app");
}

#[test]
fn a_lazy_hub_made_before_redis_answers_reaches_it_once_it_does() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // A port nothing listens on, which Redis then takes (another port if
    // another test's server took it meanwhile).
    let (lazy, _redis, config) = loop {
        let port = free_port();
        let config = format!(
            "[app]\nname = \"lazy\"\n[websockets]\nadapter = \"redis\"\nredis_url = \"redis://127.0.0.1:{port}\"\n"
        );
        // Made in a runtime, with nothing listening on the port: no error, no wait.
        let lazy = {
            let _entered = runtime.enter();
            Hub::from_config_lazy(&maze::Config::parse(&config).unwrap()).unwrap()
        };
        if let Some(redis) = Redis::start_on(port) {
            break (lazy, redis, config);
        }
    };

    // Another instance of the app, on that Redis, has a client on room:1.
    let (other_port, other_hub) = common::serve(App::new(routes), &config);
    let mut client = common::connect(other_port, "/socket").unwrap();
    join(&mut client, "room:1", json!(null));
    wait_for_subscriber(&other_hub, "room:1");

    // The lazy hub's broadcast reaches it through Redis, once its worker has connected.
    lazy.broadcast("room:1", "from_the_lazy_hub", json!({}));
    assert_eq!(receive(&mut client)["subject"], "from_the_lazy_hub");
}

#[test]
fn an_apps_history_settings_hold_whatever_was_broadcast_before_it_started() {
    // Before the app starts, a broadcast through another hub (with the default history)...
    Hub::in_memory().broadcast("room:before", "early", json!({}));
    // ...does not decide for the app, which keeps no history.
    let config = "[app]\nname = \"no_history\"\n[websockets]\nhistory_size = 0\n";
    let (port, hub) = common::serve(App::new(routes), config);
    let mut client = common::connect(port, "/socket").unwrap();
    join(&mut client, "room:2", json!({}));
    wait_for_subscriber(&hub, "room:2");
    hub.broadcast("room:2", "said", json!({"n": 1}));
    let frame = receive(&mut client);
    assert_eq!(frame["subject"], "said", "no maze_recovery without history: {frame}");
    assert!(frame.get("offset").is_none(), "no position without history: {frame}");
}

/// The metrics an app serves at `/metrics` (scraped from loopback, which is allowed).
fn scrape(port: u16) -> String {
    let response = get_metrics(port, "");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// `GET /metrics` from loopback, with `headers`: the whole response.
fn get_metrics(port: u16, headers: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn behind_a_proxy_loopback_is_not_trusted_when_told_so() {
    let config = "[app]\nname = \"proxied\"\n[metrics]\npath = \"/metrics\"\ntoken = \"scrape\"\ntrust_loopback = false\n";
    let (port, _) = common::serve(App::new(routes), config);
    assert!(get_metrics(port, "").starts_with("HTTP/1.1 401"), "loopback alone is not enough");
    assert!(get_metrics(port, "Authorization: Bearer scrape\r\n").starts_with("HTTP/1.1 200"));
}

#[test]
fn two_apps_in_one_process_count_their_own_metrics() {
    let config = |name: &str| format!("[app]\nname = \"{name}\"\n[metrics]\npath = \"/metrics\"\n");
    let (busy, _) = common::serve(App::new(routes), &config("busy"));
    let (quiet, _) = common::serve(App::new(routes), &config("quiet"));
    let mut client = common::connect(busy, "/socket").unwrap();
    join(&mut client, "room:counted", json!(null));
    let counted = "maze_joins_total{channel=\"Room\"} 1";
    assert!(scrape(busy).contains(counted), "the busy app counts its join:\n{}", scrape(busy));
    assert!(!scrape(quiet).contains("maze_joins_total"), "the quiet app counts none:\n{}", scrape(quiet));
}
