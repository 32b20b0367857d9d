//! The runtime's socket behaviour, against an app served in-process on an
//! ephemeral port and a real WebSocket client: join refusals, duplicate
//! joins, limits, idle timeout, slow consumers, origin checks, the Phoenix
//! V2 protocol, and cleanup on every way a connection ends.

#![cfg(feature = "websockets")]

use maze::prelude::*;
use maze::{App, Config};
use serde_json::json;
use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message as Frame, WebSocket};

/// Topics whose channel ran `leave`, and how often.
static LEFT: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);
static DISCONNECTS: Mutex<usize> = Mutex::new(0);

fn left(topic: &str) -> usize {
    LEFT.lock().unwrap().as_ref().and_then(|left| left.get(topic).copied()).unwrap_or(0)
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Default)]
struct TestSocket;

impl Socket for TestSocket {
    fn channels(channels: &mut Channels) {
        channels.add::<Room>("room:*").add::<Private>("private:*");
    }

    fn on_disconnect(&mut self) {
        *DISCONNECTS.lock().unwrap() += 1;
    }
}

#[derive(Default)]
struct Room;

impl Channel for Room {
    fn message(&mut self, ctx: &mut Context, message: maze::socket::Message) {
        if message.subject == "whoami" {
            let topic = ctx.topic().to_string();
            ctx.push("you_are", json!({"topic": topic}));
        } else {
            ctx.rebroadcast(message);
        }
    }

    fn leave(&mut self, ctx: &mut Context) {
        *LEFT.lock().unwrap().get_or_insert_with(HashMap::new).entry(ctx.topic().to_string()).or_default() +=
            1;
    }
}

#[derive(Default)]
struct Private;

impl Channel for Private {
    fn join(&mut self, _ctx: &mut Context, payload: &Value) -> Result<(), String> {
        match payload.get("token").and_then(Value::as_str) {
            Some("secret") => Ok(()),
            _ => Err("unauthorized".into()),
        }
    }
}

fn routes(routes: &mut Routes) {
    routes.socket::<TestSocket>("/socket");
}

const CONFIG: &str = r#"
[app]
name = "test"
[session]
secret = "a test secret that is long enough to sign cookies"
[websockets]
ping_interval = 30
idle_timeout = 2
max_message_size = 1024
outbound_queue = 8
max_channels = 3
allowed_origins = ["https://trusted.example"]
"#;

/// A server on its own runtime thread; stopped (gracefully) when dropped.
struct Server {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                let config = Config::parse(CONFIG).unwrap();
                App::new(routes)
                    .serve_until(listener, config, ".".into(), async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Server { port: port_rx.recv().unwrap(), stop: Some(stop), thread: Some(thread) }
    }

    fn shared() -> u16 {
        static SHARED: OnceLock<u16> = OnceLock::new();
        *SHARED.get_or_init(|| {
            let server = Server::start();
            let port = server.port;
            std::mem::forget(server);
            port
        })
    }

    fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap();
    }
}

fn connect_to(
    port: u16,
    path: &str,
    origin: Option<&str>,
) -> Result<WebSocket<TcpStream>, tungstenite::Error> {
    let mut request = format!("ws://127.0.0.1:{port}{path}").into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("Origin", origin.parse().unwrap());
    }
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tungstenite::client(request, stream).map(|(ws, _)| ws).map_err(|error| match error {
        tungstenite::HandshakeError::Failure(error) => error,
        tungstenite::HandshakeError::Interrupted(_) => panic!("handshake interrupted"),
    })
}

fn connect(path: &str) -> WebSocket<TcpStream> {
    connect_to(Server::shared(), path, None).unwrap()
}

fn send(ws: &mut WebSocket<TcpStream>, frame: Value) {
    ws.send(Frame::text(frame.to_string())).unwrap();
}

fn receive(ws: &mut WebSocket<TcpStream>) -> Value {
    loop {
        match ws.read().expect("a frame") {
            Frame::Text(text) if text.as_str() != "ping" => {
                return serde_json::from_str(text.as_str()).unwrap()
            }
            Frame::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Reads until the server's close frame; returns its code.
fn close_code(ws: &mut WebSocket<TcpStream>) -> CloseCode {
    loop {
        match ws.read() {
            Ok(Frame::Close(Some(frame))) => return frame.code,
            Ok(_) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

fn join(ws: &mut WebSocket<TcpStream>, topic: &str) -> Value {
    send(ws, json!({"event": "join", "topic": topic, "ref": "j"}));
    receive(ws)
}

#[test]
fn a_refused_join_tells_the_client_why() {
    let mut ws = connect("/socket");
    let reply = join(&mut ws, "private:1");
    assert_eq!(reply["payload"], json!({"status": "error", "response": {"reason": "unauthorized"}}));
    send(&mut ws, json!({"event": "join", "topic": "private:1", "ref": "2", "payload": {"token": "secret"}}));
    assert_eq!(receive(&mut ws)["payload"]["status"], "ok");
}

#[test]
fn a_second_join_of_a_topic_replaces_the_first() {
    let mut ws = connect("/socket");
    assert_eq!(join(&mut ws, "room:dup")["payload"]["status"], "ok");
    assert_eq!(join(&mut ws, "room:dup")["payload"]["status"], "ok");
    assert_eq!(left("room:dup"), 1, "the first channel left");
    // One subscription, not two: a broadcast arrives once.
    TestSocket::broadcast("message", "room:dup", "hi", json!({}));
    assert_eq!(receive(&mut ws)["subject"], "hi");
    send(&mut ws, json!({"event": "message", "topic": "room:dup", "subject": "whoami", "ref": "w"}));
    assert_eq!(receive(&mut ws)["event"], "reply", "no second copy of hi came first");
}

#[test]
fn channels_per_connection_are_limited() {
    let mut ws = connect("/socket");
    for n in 1..=3 {
        assert_eq!(join(&mut ws, &format!("room:limit{n}"))["payload"]["status"], "ok");
    }
    let refused = join(&mut ws, "room:limit4");
    assert_eq!(refused["payload"]["response"]["reason"], "too many channels on this connection");
}

#[test]
fn a_channel_can_answer_its_own_client() {
    let mut ws = connect("/socket");
    join(&mut ws, "room:push");
    send(&mut ws, json!({"event": "message", "topic": "room:push", "subject": "whoami", "ref": "1"}));
    assert_eq!(receive(&mut ws)["event"], "reply");
    assert_eq!(
        receive(&mut ws),
        json!({"event": "message", "topic": "room:push", "subject": "you_are", "payload": {"topic": "room:push"}})
    );
}

#[test]
fn an_oversized_message_closes_with_1009_and_cleans_up() {
    let mut ws = connect("/socket");
    join(&mut ws, "room:big");
    ws.send(Frame::text("x".repeat(2048))).unwrap();
    assert_eq!(close_code(&mut ws), CloseCode::Size);
    wait_until("room:big left", || left("room:big") == 1);
}

#[test]
fn an_idle_connection_is_closed_and_cleaned_up() {
    let mut ws = connect("/socket");
    join(&mut ws, "room:idle");
    let started = Instant::now();
    assert_eq!(close_code(&mut ws), CloseCode::Normal);
    assert!(started.elapsed() >= Duration::from_millis(1500), "closed after the 2 s idle timeout");
    wait_until("room:idle left", || left("room:idle") == 1);
}

#[test]
fn a_dropped_connection_runs_leave_and_on_disconnect() {
    let before = *DISCONNECTS.lock().unwrap();
    let mut ws = connect("/socket");
    join(&mut ws, "room:drop");
    drop(ws);
    wait_until("room:drop left", || left("room:drop") == 1);
    wait_until("on_disconnect ran", || *DISCONNECTS.lock().unwrap() > before);
}

#[test]
fn a_slow_consumer_is_disconnected_with_1013() {
    let mut slow = connect("/socket");
    join(&mut slow, "room:slow");
    // The queue holds 8; a burst far larger than what the connection can write meanwhile overflows it.
    for n in 0..20_000 {
        TestSocket::broadcast("message", "room:slow", "flood", json!({"n": n, "pad": "x".repeat(64)}));
    }
    assert_eq!(close_code(&mut slow), CloseCode::Again);
    wait_until("room:slow left", || left("room:slow") == 1);
}

#[test]
fn only_allowed_origins_may_connect() {
    let port = Server::shared();
    match connect_to(port, "/socket", Some("https://evil.example")) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| "a connection")),
    }
    assert!(connect_to(port, "/socket", Some("https://trusted.example")).is_ok(), "listed origin");
    assert!(connect_to(port, "/socket", Some(&format!("http://127.0.0.1:{port}"))).is_ok(), "own origin");
}

#[test]
fn shutdown_closes_sockets_with_1001_after_cleanup() {
    let server = Server::start();
    let mut ws = connect_to(server.port, "/socket", None).unwrap();
    join(&mut ws, "room:shutdown");
    let stopping = std::thread::spawn(move || server.stop());
    assert_eq!(close_code(&mut ws), CloseCode::Away);
    assert_eq!(left("room:shutdown"), 1, "leave ran before the close frame");
    stopping.join().unwrap();
}

#[test]
fn phoenix_v2_clients_join_push_and_heartbeat() {
    let mut ws = connect("/socket/websocket?vsn=2.0.0");
    send(&mut ws, json!(["1", "1", "room:phx", "phx_join", {}]));
    assert_eq!(
        receive(&mut ws),
        json!(["1", "1", "room:phx", "phx_reply", {"status": "ok", "response": {}}])
    );
    send(&mut ws, json!(["1", "2", "room:phx", "new_msg", {"body": "hi"}]));
    assert_eq!(
        receive(&mut ws),
        json!(["1", "2", "room:phx", "phx_reply", {"status": "ok", "response": {}}])
    );
    assert_eq!(receive(&mut ws), json!([null, null, "room:phx", "new_msg", {"body": "hi"}]));
    send(&mut ws, json!([null, "3", "phoenix", "heartbeat", {}]));
    assert_eq!(
        receive(&mut ws),
        json!([null, "3", "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
    send(&mut ws, json!(["4", "4", "nowhere", "phx_join", {}]));
    assert_eq!(receive(&mut ws)[4], json!({"status": "error", "response": {"reason": "unmatched topic"}}));
    // A second join closes the first channel (phx_close with its join ref) and replies to the new one.
    send(&mut ws, json!(["5", "5", "room:phx", "phx_join", {}]));
    assert_eq!(
        receive(&mut ws),
        json!(["5", "5", "room:phx", "phx_reply", {"status": "ok", "response": {}}])
    );
    assert_eq!(receive(&mut ws), json!(["1", "1", "room:phx", "phx_close", {}]));
    send(&mut ws, json!(["5", "6", "room:phx", "phx_leave", {}]));
    assert_eq!(
        receive(&mut ws),
        json!(["5", "6", "room:phx", "phx_reply", {"status": "ok", "response": {}}])
    );
    send(&mut ws, json!(["5", "7", "room:phx", "new_msg", {}]));
    assert_eq!(receive(&mut ws)[4]["response"]["reason"], "not joined");
}

#[test]
fn unknown_protocol_versions_are_refused() {
    match connect_to(Server::shared(), "/socket/websocket?vsn=1.0.0", None) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected 400, got {:?}", other.map(|_| "a connection")),
    }
}
