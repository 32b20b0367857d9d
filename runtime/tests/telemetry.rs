//! Tracing events and Prometheus metrics after a known sequence of connects,
//! joins, messages, refusals and a slow-consumer close. One test in its own
//! binary: the tracing subscriber and the metrics recorder are per process,
//! so nothing else may count here.

mod common;

use maze::App;
use maze::prelude::*;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tungstenite::{Message as Frame, WebSocket};

#[derive(Default)]
struct TracedSocket;

impl Socket for TracedSocket {
    fn channels(channels: &mut Channels<Self>) {
        channels.add::<TracedChannel>("room:*");
    }

    async fn on_connect(&mut self, conn: &Connect) -> bool {
        match conn.params().get("refuse") {
            Some(reason) => conn.refuse(reason),
            None => true,
        }
    }
}

#[derive(Default)]
struct TracedChannel;

impl Channel<TracedSocket> for TracedChannel {
    async fn join(&mut self, _: &mut Context<'_, TracedSocket>, payload: Value) -> Result<Value, String> {
        if payload["refuse"] == true { Err("room full".into()) } else { Ok(Value::Null) }
    }

    async fn message(&mut self, ctx: &mut Context<'_, TracedSocket>, message: Message) {
        assert_ne!(message.subject, "panic", "a message that panics (on purpose)");
        ctx.rebroadcast(message);
    }
}

fn routes(routes: &mut Routes) {
    routes.socket::<TracedSocket>("/socket");
}

const CONFIG: &str = r#"
[app]
name = "telemetry"
[session]
secret = "a test secret that is long enough to sign cookies"
[websockets]
outbound_queue = 8
[metrics]
path = "/metrics"
token = "scrape-token"
"#;

/// What the subscriber printed, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn connect(port: u16, query: &str) -> Result<WebSocket<TcpStream>, tungstenite::Error> {
    common::connect(port, &format!("/socket{query}"))
}

fn send(ws: &mut WebSocket<TcpStream>, frame: Value) {
    ws.send(Frame::text(frame.to_string())).unwrap();
}

/// The next JSON frame (pings skipped); `None` once the server closed.
fn receive(ws: &mut WebSocket<TcpStream>) -> Option<Value> {
    loop {
        match ws.read() {
            Ok(Frame::Text(text)) if text.as_str() != "ping" => {
                return serde_json::from_str(text.as_str()).ok();
            }
            Ok(Frame::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// `GET /metrics` with `authorization`: the status line and the body.
fn scrape(port: u16, authorization: Option<&str>) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let header = authorization.map(|value| format!("Authorization: {value}\r\n")).unwrap_or_default();
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n{header}Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

/// The value of the metric line starting with `series` (`name{labels}`).
fn metric(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {series} in:\n{body}"))
}

#[test]
fn events_and_metrics_tell_what_happened() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("maze=debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let (port, hub) = common::serve(App::new(routes), CONFIG);

    // Two clients join room:1 and exchange three messages.
    let (mut alice, mut bob) =
        (connect(port, "").unwrap(), connect(port, "?token=secret-token-value").unwrap());
    for client in [&mut alice, &mut bob] {
        send(client, json!({"event": "join", "topic": "room:1", "ref": "j"}));
        assert_eq!(receive(client).unwrap()["payload"]["status"], "ok");
    }
    for n in 0..3 {
        send(
            &mut alice,
            json!({"event": "message", "topic": "room:1", "subject": "say", "payload": {"n": n}, "ref": "m"}),
        );
    }
    for _ in 0..3 {
        assert_eq!(receive(&mut bob).unwrap()["subject"], "say");
    }
    // A refused join, a refused connect.
    send(&mut bob, json!({"event": "join", "topic": "room:2", "payload": {"refuse": true}, "ref": "r"}));
    assert_eq!(receive(&mut bob).unwrap()["payload"]["status"], "error");
    assert!(connect(port, "?refuse=banned").map(|mut ws| receive(&mut ws)).unwrap().is_none());
    // A callback that panics: contained, the connection closed.
    let mut crash = connect(port, "").unwrap();
    send(&mut crash, json!({"event": "join", "topic": "room:3", "ref": "j"}));
    assert_eq!(receive(&mut crash).unwrap()["payload"]["status"], "ok");
    send(&mut crash, json!({"event": "message", "topic": "room:3", "subject": "panic", "payload": {}}));
    assert!(receive(&mut crash).is_none());
    // A client that does not read while room:slow is flooded: closed as too slow.
    let mut slow = connect(port, "").unwrap();
    send(&mut slow, json!({"event": "join", "topic": "room:slow", "ref": "j"}));
    assert_eq!(receive(&mut slow).unwrap()["payload"]["status"], "ok");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = scrape(port, Some("Bearer scrape-token"));
        if body.contains("maze_slow_consumer_closes_total 1") {
            break;
        }
        assert!(Instant::now() < deadline, "no slow-consumer close:\n{body}");
        for n in 0..2_000 {
            hub.broadcast("room:slow", "flood", json!({"n": n, "pad": "x".repeat(256)}));
        }
    }

    // The endpoint: loopback may scrape; a wrong token may not.
    let (status, body) = scrape(port, None);
    assert!(status.contains("200"), "{status}");
    assert!(scrape(port, Some("Bearer wrong")).0.contains("401"));
    let channel = "channel=\"TracedChannel\"";
    assert_eq!(metric(&body, "maze_connects_total{socket=\"TracedSocket\"}"), 4.0);
    assert_eq!(
        metric(&body, "maze_connects_refused_total{socket=\"TracedSocket\",reason=\"on_connect\"}"),
        1.0
    );
    assert_eq!(metric(&body, &format!("maze_joins_total{{{channel}}}")), 4.0);
    assert_eq!(metric(&body, &format!("maze_joins_refused_total{{{channel}}}")), 1.0);
    // In: 2 + 1 + 1 + 1 joins, 3 + 1 messages; out: at least the replies and the 3 × 2 rebroadcasts.
    assert_eq!(metric(&body, "maze_messages_in_total"), 9.0);
    assert_eq!(metric(&body, "maze_panics_total{callback=\"message\"}"), 1.0);
    assert!(metric(&body, "maze_messages_out_total") >= 13.0, "{body}");
    assert_eq!(metric(&body, "maze_slow_consumer_closes_total"), 1.0);
    assert_eq!(metric(&body, "maze_connections_open"), 2.0, "alice and bob");
    assert!(body.contains("maze_callback_duration_seconds{callback=\"message\",channel=\"TracedChannel\""));

    // The same story in tracing events; the token param never shows.
    let events = captured.text();
    for expected in [
        "connect accepted socket=\"TracedSocket\"",
        "connect refused socket=\"TracedSocket\" reason=\"on_connect\" detail=\"banned\"",
        "joined channel=\"TracedChannel\"",
        "join refused channel=\"TracedChannel\" reason=\"room full\"",
        "callback callback=\"message\" channel=\"TracedChannel\" took_us=",
        "slow consumer closed",
        "panic contained callback=\"message\" channel=\"TracedChannel\"",
        "disconnected socket=\"TracedSocket\" code=1013",
    ] {
        assert!(events.contains(expected), "no {expected:?} in:\n{events}");
    }
    assert!(!events.contains("secret-token-value"), "a token was logged:\n{events}");
}
