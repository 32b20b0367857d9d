//! Several app instances on one real Redis: a broadcast on either reaches
//! clients on both, per-topic subscriptions come and go with local
//! subscribers, a Redis restart or stall is survived, a panicking channel
//! leaves no subscription behind, and disconnecting a user by id reaches
//! every instance.

mod common;

use common::browser::Browser;
use common::running::{
    BuiltApp, Server, apps_target_dir, cargo, http_request, phoenix_longpoll, phoenix_presence, receive, send,
};
use common::{add_sign_in_and_kick, edit, maze, temp_dir};
use serde_json::{Value, json};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tungstenite::WebSocket;

/// `maze new chat_redis --redis` + `maze g socket ChatSocket chat_room` +
/// `maze g controller Auth sign_in kick` + `maze g channel Room --presence`
/// (guests tracked on room:* by the name they join with), built once, with these changes:
/// the socket's id is its signed-in user (`user:ID`); the channel panics
/// when asked to (join payload `{"panic": true}`, subject `panic`, leaving a
/// topic ending in `:leave`); `/auth/sign_in?id=ID` signs in and
/// `/auth/kick?id=ID` disconnects that user everywhere.
fn app() -> &'static BuiltApp {
    static APP: OnceLock<BuiltApp> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = temp_dir().keep();
        maze(&dir).args(["new", "chat_redis", "--redis"]).assert().success();
        let root = dir.join("chat_redis");
        maze(&root).args(["g", "socket", "ChatSocket", "chat_room"]).assert().success();
        add_sign_in_and_kick(&root);
        maze(&root).args(["g", "channel", "Room", "--presence"]).assert().success();
        let channel = "src/channels/chat_room_channel.rs";
        edit(&root, channel, "        let _ = (ctx, payload);", "        assert!(payload.get(\"panic\").is_none(), \"join panics\");\n        let _ = ctx;");
        edit(&root, channel, "        let mut payload = message.payload;", "        assert_ne!(message.subject, \"panic\", \"message panics\");\n        let mut payload = message.payload;");
        edit(&root, channel, "        let _ = ctx;\n    }\n}", "        assert!(!ctx.topic().ends_with(\":leave\"), \"leave panics\");\n    }\n}");
        // A history short enough to overflow in a test.
        edit(&root, "maze.toml", "ping_interval = 30\n", "ping_interval = 30\nhistory_size = 30\n");
        // Long-poll sessions that end soon after their client stops polling.
        edit(&root, "maze.toml", "history_size = 30\n", "history_size = 30\nlongpoll_timeout = 2\n");
        // The live dashboard, from loopback: it shows every instance.
        let config = root.join("maze.toml");
        let settings = std::fs::read_to_string(&config).unwrap();
        let dashboard = "\n[dashboard]\npath = \"/maze/dashboard\"\n\n[metrics]\ntrust_loopback = true\n";
        std::fs::write(&config, settings + dashboard).unwrap();
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
    instance_on(redis, 0)
}

/// An instance on `redis` listening on `port` (0: a free one; the port of
/// one that was stopped: it comes back where its clients reconnect).
fn instance_on(redis: &Redis, port: u16) -> Server {
    Server::start_with(app(), port, &[("REDIS_URL", &redis.url())])
}

fn join(ws: &mut WebSocket<TcpStream>, topic: &str) {
    send(ws, json!({"event": "join", "topic": topic, "ref": "join"}));
    assert_eq!(receive(ws)["payload"]["status"], "ok", "join {topic}");
}

/// The next JSON frame within `wait`, if one comes.
fn try_receive(ws: &mut WebSocket<TcpStream>, wait: Duration) -> Option<Value> {
    ws.get_mut().set_read_timeout(Some(wait)).unwrap();
    let frame = loop {
        match ws.read() {
            Ok(tungstenite::Message::Text(text)) if text.as_str() != "ping" => {
                break Some(serde_json::from_str(text.as_str()).unwrap());
            }
            Ok(tungstenite::Message::Close(frame)) => panic!("closed: {frame:?}"),
            Ok(_) => {}
            Err(tungstenite::Error::Io(error))
                if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                break None;
            }
            Err(error) => panic!("{error}"),
        }
    };
    ws.get_mut().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    frame
}

/// The close code the server ends `ws` with.
fn close_code(ws: &mut WebSocket<TcpStream>) -> u16 {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => return frame.code.into(),
            Ok(_) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

fn visitor() -> Value {
    json!({"event": "message", "topic": "chat_room:123", "subject": "message_new", "payload": {"message": "A new visitor!"}})
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

    send(
        &mut alice,
        json!({"event": "message", "topic": "chat_room:123", "subject": "message_new", "payload": {"message": "hello"}, "ref": "p"}),
    );
    let hello = json!({"event": "message", "topic": "chat_room:123", "subject": "message_new", "payload": {"message": "hello", "user_id": null}});
    assert_eq!(receive(&mut alice), hello);
    assert_eq!(receive(&mut alice)["event"], "reply");
    assert_eq!(receive(&mut bob), hello);
    // No second copy: a broadcast from each instance follows. Each client gets
    // one of them through Redis, after any duplicate Redis would have sent it.
    for server in [&two, &one] {
        server.get("/");
    }
    for client in [&mut alice, &mut bob] {
        assert_eq!([receive(client), receive(client)], [visitor(), visitor()]);
    }
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
    // Subscription changes reach Redis in order: once a later join and leave
    // have, an unsubscribe of chat_room:7 (wrong: one subscriber is left) would have too.
    join(&mut first, "chat_room:marker");
    redis.wait_for_subscribers("chat_room:marker", 1);
    send(&mut first, json!({"event": "leave", "topic": "chat_room:marker", "ref": "m"}));
    assert_eq!(receive(&mut first)["payload"]["status"], "ok");
    redis.wait_for_subscribers("chat_room:marker", 0);
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

#[test]
fn broadcasts_holding_escapes_and_any_text_cross_instances_intact() {
    let redis = Redis::start();
    let (one, two) = (instance(&redis), instance(&redis));
    let topic = "chat_room:\"7\" \\ é 日本";
    let (mut alice, mut bob) = (one.connect("/chat"), two.connect("/chat"));
    join(&mut alice, topic);
    join(&mut bob, topic);
    redis.wait_for_subscribers(topic, 2);
    for subject in ["say \"hi\"", "back\\slash", "tab\tnew\nline\u{1}", "ünïcödé ✓"] {
        let payload =
            json!({"message": "quote \" backslash \\ nul \u{0} emoji 🎉", "nested": {"k\"ey": [subject]}});
        send(&mut alice, json!({"event": "message", "topic": topic, "subject": subject, "payload": payload}));
        let mut expected = payload.clone();
        expected["user_id"] = Value::Null;
        let relayed = json!({"event": "message", "topic": topic, "subject": subject, "payload": expected});
        assert_eq!(receive(&mut alice), relayed, "on A");
        assert_eq!(receive(&mut bob), relayed, "on B, through Redis");
    }
}

#[test]
fn a_panicking_channel_closes_with_1011_and_leaves_no_redis_subscription() {
    let redis = Redis::start();
    let server = instance(&redis);
    for (step, topic) in
        [("join", "chat_room:p1"), ("message", "chat_room:p2"), ("leave", "chat_room:p3:leave")]
    {
        let mut ws = server.connect("/chat");
        // Another joined topic, released too.
        let bystander = format!("chat_room:bystander_{step}");
        join(&mut ws, &bystander);
        match step {
            "join" => send(&mut ws, json!({"event": "join", "topic": topic, "payload": {"panic": true}})),
            "message" => {
                join(&mut ws, topic);
                redis.wait_for_subscribers(topic, 1);
                send(&mut ws, json!({"event": "message", "topic": topic, "subject": "panic", "payload": {}}));
            }
            _ => {
                join(&mut ws, topic);
                redis.wait_for_subscribers(topic, 1);
                send(&mut ws, json!({"event": "leave", "topic": topic}));
            }
        }
        assert_eq!(close_code(&mut ws), 1011, "a panic in {step}");
        redis.wait_for_subscribers(topic, 0);
        redis.wait_for_subscribers(&bystander, 0);
    }
    // The server goes on serving.
    let mut ws = server.connect("/chat");
    join(&mut ws, "chat_room:after");
    redis.wait_for_subscribers("chat_room:after", 1);
}

#[test]
fn disconnecting_a_user_closes_their_connections_on_every_instance() {
    let redis = Redis::start();
    let (one, two) = (instance(&redis), instance(&redis));
    let cookie = one.session_cookie("/auth/sign_in?id=42");
    // The same signed-in user on both instances (the session secret is the app's), and a guest.
    let mut on_one = one.connect_with_cookie("/chat", &cookie);
    let mut on_two = two.connect_with_cookie("/chat", &cookie);
    let mut guest = two.connect("/chat");
    for ws in [&mut on_one, &mut on_two, &mut guest] {
        join(ws, "chat_room:ids");
    }
    redis.wait_for_subscribers("chat_room:ids", 2);
    // Kicked from instance two: the connection on instance one closes too.
    assert_eq!(two.get("/auth/kick?id=42"), "kicked");
    assert_eq!(close_code(&mut on_one), 1000);
    assert_eq!(close_code(&mut on_two), 1000);
    // The guest stays, and its messages now carry no user.
    send(
        &mut guest,
        json!({"event": "message", "topic": "chat_room:ids", "subject": "s", "payload": {}, "ref": "g"}),
    );
    assert_eq!(receive(&mut guest)["payload"], json!({"user_id": null}));
    // Before the kick, the signed-in user's messages were tagged with its id.
    let mut again = one.connect_with_cookie("/chat", &cookie);
    join(&mut again, "chat_room:ids2");
    send(&mut again, json!({"event": "message", "topic": "chat_room:ids2", "subject": "s", "payload": {}}));
    assert_eq!(receive(&mut again)["payload"], json!({"user_id": 42}));
}

#[test]
fn a_stalled_redis_keeps_memory_bounded_and_delivery_resumes() {
    let redis = Redis::start();
    let (one, two, mut alice, mut bob) = two_instances_joined(&redis);
    join(&mut alice, "chat_room:flood");
    redis.wait_for_subscribers("chat_room:flood", 1);
    let before = one.rss_kib();

    let stop = |signal: &str| {
        let status = Command::new("kill").args([signal, &redis.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal}");
    };
    stop("-STOP");
    // Far more than the adapter's publish queue holds: 20,000 broadcasts of 4 KiB
    // (80 MiB, and twice that with their encoded frames) while Redis does not answer.
    let text = "x".repeat(4096);
    for _ in 0..200 {
        for _ in 0..100 {
            send(
                &mut alice,
                json!({"event": "message", "topic": "chat_room:flood", "subject": "flood", "payload": {"message": text}}),
            );
        }
        for _ in 0..100 {
            assert_eq!(receive(&mut alice)["subject"], "flood", "local delivery goes on");
        }
    }
    let grown = one.rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "instance one grew by {grown} KiB while Redis was stalled");

    stop("-CONT");
    // Once the adapter has reconnected and published what waited, alice's
    // messages reach bob again. Until then her newest ones may be dropped
    // (the queue is full): she repeats herself until bob hears her.
    let deadline = Instant::now() + Duration::from_secs(60);
    'resumed: loop {
        assert!(Instant::now() < deadline, "bob never heard from alice after Redis resumed");
        send(
            &mut alice,
            json!({"event": "message", "topic": "chat_room:123", "subject": "after", "payload": {}}),
        );
        assert_eq!(receive(&mut alice)["subject"], "after");
        while let Some(frame) = try_receive(&mut bob, Duration::from_millis(500)) {
            if frame["subject"] == "after" {
                break 'resumed;
            }
        }
    }
    drop(two);
}

/// A maze JSON client on room:123 as guest `name`, keeping the presence list
/// from the `presence_state` and `presence_diff` it receives.
struct Present {
    ws: WebSocket<TcpStream>,
    /// phx_refs by key.
    refs: std::collections::BTreeMap<String, Vec<String>>,
}

impl Present {
    fn join(server: &Server, name: &str) -> Present {
        let mut ws = server.connect("/chat");
        send(&mut ws, json!({"event": "join", "topic": "room:123", "payload": {"name": name}, "ref": "j"}));
        assert_eq!(receive(&mut ws)["payload"]["status"], "ok");
        Present { ws, refs: Default::default() }
    }

    /// Who is present, and in how many tabs.
    fn counts(&self) -> Vec<(String, usize)> {
        self.refs
            .iter()
            .filter(|(_, refs)| !refs.is_empty())
            .map(|(key, refs)| (key.clone(), refs.len()))
            .collect()
    }

    /// Reads presence events until the list is `expected` (`key:tabs`); fails at `deadline`.
    fn wait_for(&mut self, expected: &[(&str, usize)], deadline: Instant) {
        let expected: Vec<(String, usize)> = expected.iter().map(|(k, n)| (k.to_string(), *n)).collect();
        while self.counts() != expected {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "presence stayed {:?}, expected {expected:?}", self.counts());
            let Some(frame) = try_receive(&mut self.ws, left) else { continue };
            let refs = |presences: &Value| -> Vec<(String, String)> {
                let mut all = Vec::new();
                for (key, presence) in presences.as_object().into_iter().flatten() {
                    for meta in presence["metas"].as_array().into_iter().flatten() {
                        all.push((key.clone(), meta["phx_ref"].as_str().unwrap().to_string()));
                    }
                }
                all
            };
            match frame["subject"].as_str() {
                Some("presence_state") => {
                    self.refs.clear();
                    for (key, phx_ref) in refs(&frame["payload"]) {
                        self.refs.entry(key).or_default().push(phx_ref);
                    }
                }
                Some("presence_diff") => {
                    for (key, phx_ref) in refs(&frame["payload"]["joins"]) {
                        let held = self.refs.entry(key).or_default();
                        if !held.contains(&phx_ref) {
                            held.push(phx_ref);
                        }
                    }
                    for (key, phx_ref) in refs(&frame["payload"]["leaves"]) {
                        self.refs.entry(key).or_default().retain(|r| *r != phx_ref);
                    }
                }
                _ => {}
            }
        }
    }
}

fn within(seconds: u64) -> Instant {
    Instant::now() + Duration::from_secs(seconds)
}

#[test]
fn the_dashboard_shows_every_instance_on_redis() {
    let redis = Redis::start();
    let (first, _second) = (instance(&redis), instance(&redis));
    let page = first.get("/maze/dashboard");
    let token =
        page.split("data-token=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("the page's token");
    let mut ws = first.connect(&format!("/maze/dashboard/socket?token={token}"));
    join(&mut ws, "maze:dashboard");
    let deadline = within(15);
    loop {
        let view = try_receive(&mut ws, Duration::from_secs(2)).unwrap_or(Value::Null);
        let instances = view["payload"]["instances"].as_array().map_or(0, Vec::len);
        if view["subject"] == "view" && instances == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no view with both instances; the last: {view}");
    }
}

#[test]
fn the_phoenix_presence_class_sees_users_of_another_instance() {
    let redis = Redis::start();
    let (one, two) = (instance(&redis), instance(&redis));
    // Ada on the first instance; bob, in two tabs, on the second.
    let checks = phoenix_presence(one.port, two.port);
    assert_eq!(checks["two_tabs"], json!({"keys": ["guest:ada", "guest:bob"], "bob_metas": 2}));
    assert_eq!(checks["bob_left"], json!(["guest:ada"]));
}

/// They leave once the instance has been silent for the tracker's timeout
/// (3 s, pinned by presence.rs's unit tests); the deadline here is looser,
/// as a loaded machine can delay any process by seconds.
#[test]
fn the_users_of_a_killed_instance_leave_everywhere() {
    let redis = Redis::start();
    let (one, two) = (instance(&redis), instance(&redis));
    let mut ada = Present::join(&one, "ada");
    let _bob = Present::join(&two, "bob");
    let _bob_again = Present::join(&two, "bob");
    ada.wait_for(&[("guest:ada", 1), ("guest:bob", 2)], within(20));

    drop(two); // SIGKILL: no goodbye
    ada.wait_for(&[("guest:ada", 1)], within(20));
}

#[test]
fn after_a_redis_restart_presence_is_rebuilt_without_ghosts_or_duplicates() {
    let redis = Redis::start();
    let port = redis.port;
    let (one, two) = (instance(&redis), instance(&redis));
    let mut ada = Present::join(&one, "ada");
    let bob = Present::join(&two, "bob");
    ada.wait_for(&[("guest:ada", 1), ("guest:bob", 1)], within(20));

    drop(redis);
    // Bob leaves while the instances cannot hear each other.
    drop(bob);
    let redis = Redis::start_on(port);
    let _carol = Present::join(&two, "carol");
    ada.wait_for(&[("guest:ada", 1), ("guest:carol", 1)], within(30));
    // A newcomer on the other instance is told the same, once each.
    let mut dave = Present::join(&two, "dave");
    dave.wait_for(&[("guest:ada", 1), ("guest:carol", 1), ("guest:dave", 1)], within(20));
    drop(redis);
}

/// Pushes `count` messages `<prefix>1`.. to chat_room:123 through `server`, each acknowledged.
fn push_messages(server: &Server, prefix: &str, count: usize) {
    let mut sender = server.connect("/chat");
    join(&mut sender, "chat_room:123");
    for n in 1..=count {
        let message = json!({"message": format!("{prefix}{n}")});
        send(
            &mut sender,
            json!({"event": "message", "topic": "chat_room:123", "subject": "message_new", "payload": message, "ref": "m"}),
        );
        loop {
            let frame = receive(&mut sender);
            if frame["event"] == "reply" {
                break;
            }
        }
    }
}

#[test]
fn in_headless_chromium_the_page_recovers_what_it_missed_while_its_instance_was_down() {
    let redis = Redis::start();
    let one = instance(&redis);
    let port = one.port;
    let two = instance(&redis);
    let mut page = Browser::launch();
    page.call("Page.navigate", json!({"url": format!("http://127.0.0.1:{port}/")}));
    let joined = r#"document.querySelector('[data-topic="chat_room:123"]')?.dataset.state ?? null"#;
    page.wait_for(joined, json!("joined"));
    let shown = |prefix: &str| {
        format!(
            r#"[...document.querySelectorAll('[data-topic="chat_room:123"] .messages li')].map(li => li.textContent).filter(t => t.startsWith("{prefix}")).join("|")"#
        )
    };

    // A visit's broadcast reaching the page: its position in the history is known.
    two.get("/");
    page.wait_for(&shown("A new visitor!"), json!("A new visitor!"));

    // Its instance dies; 20 messages go out through the other; it comes back.
    drop(one);
    push_messages(&two, "missed ", 20);
    let one = instance_on(&redis, port);
    let all: Vec<String> = (1..=20).map(|n| format!("missed {n}")).collect();
    page.wait_for(&shown("missed "), json!(all.join("|")));
    assert_eq!(
        page.eval(r#"document.querySelector('[data-topic="chat_room:123"]').dataset.recovery ?? null"#),
        Value::Null
    );
    // Recovered from the visit's broadcast on: it is not shown twice.
    assert_eq!(page.eval(&shown("A new visitor!")), json!("A new visitor!"));

    // Once more, missing more than the history holds (30): told, not a silent gap.
    drop(one);
    push_messages(&two, "lost ", 40);
    let _one = instance_on(&redis, port);
    page.wait_for(
        r#"document.querySelector('[data-topic="chat_room:123"]').dataset.recovery ?? null"#,
        json!("failed"),
    );
    assert_eq!(page.eval(&shown("lost ")), json!(""), "no partial replay");
}

#[test]
fn in_headless_chromium_a_page_that_joined_before_any_broadcast_recovers_everything_missed() {
    let redis = Redis::start();
    let one = instance(&redis);
    let port = one.port;
    let two = instance(&redis);
    // The home page, served as a static file: a visit to `/` would broadcast
    // first. So the topic has no history when the page joins: its position is 0-0.
    let home = std::fs::read_to_string(app().root.join("src/views/home/index.html")).unwrap();
    std::fs::write(app().root.join("public/quiet.html"), home).unwrap();
    let mut page = Browser::launch();
    page.call("Page.navigate", json!({"url": format!("http://127.0.0.1:{port}/quiet.html")}));
    let joined = r#"document.querySelector('[data-topic="chat_room:123"]')?.dataset.state ?? null"#;
    page.wait_for(joined, json!("joined"));
    let shown = r#"[...document.querySelectorAll('[data-topic="chat_room:123"] .messages li')].map(li => li.textContent).filter(t => t.startsWith("first ")).join("|")"#;

    // Its instance dies before anything was said; the first messages go out through the other.
    drop(one);
    push_messages(&two, "first ", 3);
    let _one = instance_on(&redis, port);
    page.wait_for(shown, json!("first 1|first 2|first 3"));
    assert_eq!(
        page.eval(r#"document.querySelector('[data-topic="chat_room:123"]').dataset.recovery ?? null"#),
        Value::Null,
        "recovered, not failed"
    );
}

#[test]
fn a_recovery_redis_does_not_answer_is_told_failed_rather_than_awaited() {
    let redis = Redis::start();
    let one = instance(&redis);
    let mut first = one.connect("/chat");
    send(&mut first, json!({"event": "join", "topic": "chat_room:stall", "recover": {}, "ref": "j"}));
    assert_eq!(receive(&mut first)["payload"]["status"], "ok");
    let status = receive(&mut first);
    assert_eq!(status["subject"], "maze_recovery", "{status}");
    let seen = json!({"epoch": status["payload"]["epoch"], "offset": status["payload"]["offset"]});

    let signal = |signal: &str| {
        let status = Command::new("kill").args([signal, &redis.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal}");
    };
    signal("-STOP");
    let mut back = one.connect("/chat");
    send(&mut back, json!({"event": "join", "topic": "chat_room:stall", "recover": seen, "ref": "j"}));
    assert_eq!(receive(&mut back)["payload"]["status"], "ok", "the join's reply does not wait for Redis");
    let told = try_receive(&mut back, Duration::from_secs(30));
    signal("-CONT");
    let told = told.expect("no maze_recovery while Redis did not answer");
    assert_eq!(
        (told["subject"].as_str(), told["payload"]["recovered"].as_bool()),
        (Some("maze_recovery"), Some(false)),
        "{told}"
    );
}

/// A long-poll request to `/chat/longpoll` (maze JSON): the answer's JSON.
fn long_poll(port: u16, method: &str, token: Option<&str>, lines: &[Value]) -> Value {
    long_poll_with(port, method, token, lines, &[])
}

/// [`long_poll`] with more headers (a cookie, an origin).
fn long_poll_with(
    port: u16,
    method: &str,
    token: Option<&str>,
    lines: &[Value],
    headers: &[(&str, &str)],
) -> Value {
    let path = match token {
        Some(token) => format!("/chat/longpoll?token={token}"),
        None => "/chat/longpoll".to_string(),
    };
    let body: Vec<String> = lines.iter().map(Value::to_string).collect();
    let mut headers = headers.to_vec();
    headers.push(("Content-Type", "application/x-ndjson"));
    let (head, body) = http_request(port, method, &path, &headers, &body.join("\n"));
    assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {body}"))
}

/// Polls session `token` on `port` until a message satisfies `wanted`.
fn poll_until(port: u16, token: &str, mut wanted: impl FnMut(&Value) -> bool) -> Value {
    let deadline = within(10);
    loop {
        let answer = long_poll(port, "GET", Some(token), &[]);
        assert!([200, 204].contains(&answer["status"].as_i64().unwrap()), "{answer}");
        assert!(answer["token"] == token, "{answer}");
        for message in answer["messages"].as_array().unwrap() {
            let message: Value = serde_json::from_str(message.as_str().unwrap()).unwrap();
            if wanted(&message) {
                return message;
            }
        }
        assert!(Instant::now() < deadline, "not received in time");
    }
}

#[test]
fn the_phoenix_long_poll_client_chats_across_two_instances_with_requests_alternating() {
    let redis = Redis::start();
    let (one, two) = (instance(&redis), instance(&redis));
    let checks = phoenix_longpoll(&[one.port, two.port]);
    assert_eq!(checks["presence"], "guest:ada,guest:bob");
    assert_eq!(checks["bob heard ada"], "hi from ada");
    assert_eq!(checks["ada heard bob"], "hi from bob");
    let served: Vec<u64> = serde_json::from_value(checks["served"].clone()).unwrap();
    assert!(served.iter().all(|&requests| requests >= 5), "both instances served requests: {served:?}");
}

#[test]
fn a_long_poll_session_whose_client_stops_polling_ends_and_releases_its_subscriptions() {
    let redis = Redis::start();
    let (one, two) = (instance(&redis), instance(&redis));
    let opened = long_poll(one.port, "GET", None, &[]);
    assert_eq!(opened["status"], 410, "{opened}");
    let token = opened["token"].as_str().unwrap().to_string();
    // Joined through the other instance, which forwards to the session's.
    let join = json!({"event": "join", "topic": "chat_room:lp", "ref": "j"});
    assert_eq!(long_poll(two.port, "POST", Some(&token), &[join])["status"], 200);
    let reply = poll_until(two.port, &token, |message| message["ref"] == "j");
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
    redis.wait_for_subscribers("chat_room:lp", 1);
    let session_topic = format!("\u{1}longpoll:{token}");
    assert_eq!(redis.subscribers(&session_topic), 1, "the session's own topic, on its instance");

    // Silent: no poll for longpoll_timeout (2 s), and the session ends.
    redis.wait_for_subscribers("chat_room:lp", 0);
    redis.wait_for_subscribers(&session_topic, 0);
    for server in [&one, &two] {
        assert_eq!(long_poll(server.port, "GET", Some(&token), &[])["status"], 410);
    }
}

#[test]
fn a_long_poll_session_has_the_visitors_session_and_is_disconnected_by_id_from_any_instance() {
    let redis = Redis::start();
    let (one, two) = (instance(&redis), instance(&redis));
    let cookie = one.session_cookie("/auth/sign_in?id=42");
    let opened = long_poll_with(one.port, "GET", None, &[], &[("Cookie", &cookie)]);
    let token = opened["token"].as_str().unwrap().to_string();
    let join = json!({"event": "join", "topic": "chat_room:lp-ids", "ref": "j"});
    let say =
        json!({"event": "message", "topic": "chat_room:lp-ids", "subject": "s", "payload": {}, "ref": "m"});
    assert_eq!(long_poll(one.port, "POST", Some(&token), &[join, say])["status"], 200);
    // Its messages carry the signed-in user: on_connect read the session.
    let said = poll_until(one.port, &token, |message| message["event"] == "message");
    assert_eq!(said["payload"], json!({"user_id": 42}));

    // Kicked from the other instance: the session ends, and the client is told why.
    assert_eq!(two.get("/auth/kick?id=42"), "kicked");
    let deadline = within(10);
    let ended = loop {
        let answer = long_poll(two.port, "GET", Some(&token), &[]);
        if answer["status"] == 410 {
            break answer;
        }
        assert!(Instant::now() < deadline, "the session was not ended: {answer}");
    };
    assert_eq!(ended["close"], json!([1000, "disconnected by the server"]), "{ended}");
    assert_eq!(long_poll(one.port, "POST", Some(&token), &[json!({})])["status"], 410, "ended for good");
}

#[test]
fn long_poll_sessions_have_the_websockets_origin_check_and_limits() {
    let redis = Redis::start();
    let server = instance(&redis);
    let refused = long_poll_with(server.port, "GET", None, &[], &[("Origin", "http://evil.example")]);
    assert_eq!(refused["status"], 403, "{refused}");
    assert!(refused.get("token").is_none());
    let own = format!("http://127.0.0.1:{}", server.port);
    let opened = long_poll_with(server.port, "GET", None, &[], &[("Origin", &own)]);
    assert_eq!(opened["status"], 410, "{opened}");

    // The WebSocket's limits hold: a message over max_message_size (64 KiB) ends the session.
    let token = opened["token"].as_str().unwrap();
    let big = json!({"event": "message", "topic": "chat_room:big", "payload": {"text": "x".repeat(70_000)}});
    let refused = long_poll(server.port, "POST", Some(token), &[big]);
    assert_eq!(refused, json!({"status": 413, "close": [1009, "message too big"]}));
    let deadline = within(10);
    while long_poll(server.port, "GET", Some(token), &[])["status"] != 410 {
        assert!(Instant::now() < deadline, "the session did not end");
    }
}

#[test]
fn a_long_poll_client_recovers_what_it_missed_between_two_sessions() {
    let redis = Redis::start();
    let (one, two) = (instance(&redis), instance(&redis));
    let topic = "chat_room:lp-recover";
    let first = long_poll(one.port, "GET", None, &[])["token"].as_str().unwrap().to_string();
    let joining = json!({"event": "join", "topic": topic, "recover": {}, "ref": "j"});
    assert_eq!(long_poll(one.port, "POST", Some(&first), &[joining])["status"], 200);
    let position = poll_until(one.port, &first, |message| message["subject"] == "maze_recovery");
    // The client goes (maze.js's disconnect()), and misses three messages.
    assert_eq!(long_poll(one.port, "DELETE", Some(&first), &[])["status"], 200);
    let mut sender = two.connect("/chat");
    join(&mut sender, topic);
    for n in 0..3 {
        let message = json!({"event": "message", "topic": topic, "subject": "message_new", "payload": {"message": format!("missed {n}")}, "ref": format!("m{n}")});
        send(&mut sender, message);
        while receive(&mut sender)["ref"] != format!("m{n}") {}
    }
    // A new session, on the other instance, rejoins from where it was.
    let second = long_poll(two.port, "GET", None, &[])["token"].as_str().unwrap().to_string();
    let from = json!({"epoch": position["payload"]["epoch"], "offset": position["payload"]["offset"]});
    let rejoin = json!({"event": "join", "topic": topic, "recover": from, "ref": "r"});
    assert_eq!(long_poll(two.port, "POST", Some(&second), &[rejoin])["status"], 200);
    let mut missed = Vec::new();
    let told = poll_until(two.port, &second, |message| {
        if message["subject"] == "message_new" {
            missed.push(message["payload"]["message"].as_str().unwrap().to_string());
        }
        message["subject"] == "maze_recovery"
    });
    assert_eq!(missed, ["missed 0", "missed 1", "missed 2"]);
    assert_eq!(told["payload"]["recovered"], true, "{told}");
}
