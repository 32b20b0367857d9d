//! Several app instances on one real Redis: a broadcast on either reaches
//! clients on both, per-topic subscriptions come and go with local
//! subscribers, and a Redis restart is survived.

mod common;

use common::running::{apps_target_dir, cargo, receive, send, BuiltApp, Server};
use common::{maze, temp_dir};
use serde_json::{json, Value};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tungstenite::WebSocket;

/// `maze new chat_redis --redis` + `maze g socket ChatSocket chat_room`, built once.
fn app() -> &'static BuiltApp {
    static APP: OnceLock<BuiltApp> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = temp_dir().keep();
        maze(&dir).args(["new", "chat_redis", "--redis"]).assert().success();
        let root = dir.join("chat_redis");
        maze(&root).args(["g", "socket", "ChatSocket", "chat_room"]).assert().success();
        cargo(&root, &["build", "--quiet"]);
        BuiltApp { binary: apps_target_dir().join("debug/chat_redis"), root }
    })
}

/// A `redis-server` on a free loopback port, without persistence; killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Redis::start_on(port)
    }

    fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: .ci/run installs it (apt-get install -y redis-server)");
        let redis = Redis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.cli(&["PING"]) != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str]) -> String {
        let output =
            Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// How many instances subscribe to `topic`'s channel.
    fn subscribers(&self, topic: &str) -> usize {
        let channel = format!("maze:chat_redis:{topic}");
        let reply = self.cli(&["PUBSUB", "NUMSUB", &channel]);
        reply.lines().nth(1).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
    }

    fn wait_for_subscribers(&self, topic: &str, expected: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.subscribers(topic) != expected {
            assert!(
                Instant::now() < deadline,
                "{topic}: {} instance(s) subscribed, expected {expected}; channels: {}",
                self.subscribers(topic),
                self.cli(&["PUBSUB", "CHANNELS"])
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn instance(redis: &Redis) -> Server {
    Server::start_with(app(), 0, &[("REDIS_URL", &redis.url())])
}

fn join(ws: &mut WebSocket<TcpStream>, topic: &str) {
    send(ws, json!({"event": "join", "topic": topic, "ref": "join"}));
    assert_eq!(receive(ws)["payload"]["status"], "ok", "join {topic}");
}

fn visitor() -> Value {
    json!({"event": "message", "topic": "chat_room:123", "subject": "message_new", "payload": {"message": "A new visitor!"}})
}

/// Nothing arrives for half a second (pings aside).
fn assert_nothing_more(ws: &mut WebSocket<TcpStream>) {
    common::running::assert_silent(ws, Duration::from_millis(500));
}

/// Two instances on `redis`, with alice on the first and bob on the second,
/// both joined to `chat_room:123` and subscribed through Redis.
fn two_instances_joined(redis: &Redis) -> (Server, Server, WebSocket<TcpStream>, WebSocket<TcpStream>) {
    let (one, two) = (instance(redis), instance(redis));
    let mut alice = one.connect("/chat");
    let mut bob = two.connect("/chat");
    join(&mut alice, "chat_room:123");
    join(&mut bob, "chat_room:123");
    redis.wait_for_subscribers("chat_room:123", 2);
    (one, two, alice, bob)
}

#[test]
fn a_broadcast_on_either_instance_reaches_clients_on_both_once() {
    let redis = Redis::start();
    let (one, two, mut alice, mut bob) = two_instances_joined(&redis);

    for server in [&one, &two] {
        server.get("/");
        assert_eq!(receive(&mut alice), visitor());
        assert_eq!(receive(&mut bob), visitor());
    }

    let hello = json!({"event": "message", "topic": "chat_room:123", "subject": "message_new", "payload": {"message": "hello"}});
    let mut push = hello.clone();
    push["ref"] = json!("p");
    send(&mut alice, push);
    assert_eq!(receive(&mut alice)["event"], "reply");
    assert_eq!(receive(&mut alice), hello);
    assert_eq!(receive(&mut bob), hello);
    assert_nothing_more(&mut alice);
    assert_nothing_more(&mut bob);
}

#[test]
fn an_instance_subscribes_to_a_topic_only_while_it_has_local_subscribers() {
    let redis = Redis::start();
    let server = instance(&redis);
    assert_eq!(redis.subscribers("chat_room:7"), 0);
    let mut first = server.connect("/chat");
    let mut second = server.connect("/chat");
    join(&mut first, "chat_room:7");
    join(&mut second, "chat_room:7");
    redis.wait_for_subscribers("chat_room:7", 1);

    send(&mut first, json!({"event": "leave", "topic": "chat_room:7", "ref": "l"}));
    assert_eq!(receive(&mut first)["payload"]["status"], "ok");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(redis.subscribers("chat_room:7"), 1, "one local subscriber is left");

    drop(second);
    redis.wait_for_subscribers("chat_room:7", 0);
    assert!(!redis.cli(&["PUBSUB", "CHANNELS"]).contains("chat_room:7"));
}

#[test]
fn a_redis_restart_is_survived() {
    let redis = Redis::start();
    let port = redis.port;
    let (one, two, mut alice, mut bob) = two_instances_joined(&redis);

    drop(redis);
    // While Redis is away, each instance still delivers to its own clients.
    one.get("/");
    assert_eq!(receive(&mut alice), visitor());

    let redis = Redis::start_on(port);
    redis.wait_for_subscribers("chat_room:123", 2);
    two.get("/");
    assert_eq!(receive(&mut alice), visitor(), "alice, on the other instance, hears it again");
    assert_eq!(receive(&mut bob), visitor());
}

#[test]
fn a_bad_redis_url_is_a_clear_error_at_startup() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for (url, expected) in [
        ("not a url", "is not a Redis URL"),
        (&format!("redis://127.0.0.1:{closed}") as &str, "cannot reach Redis"),
    ] {
        let output = Command::new(&app().binary)
            .current_dir(&app().root)
            .env("REDIS_URL", url)
            .env("MAZE_PORT", "0")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{url}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{url}: {stderr}");
    }
}
