//! The runtime's socket behaviour, against an app served in-process on an
//! ephemeral port and a real WebSocket client: join refusals, duplicate
//! joins, limits, idle timeout, slow consumers, origin checks, the Phoenix
//! V2 protocol, and cleanup on every way a connection ends.

#![cfg(feature = "websockets")]

use maze::prelude::*;
use maze::{App, Config, Hub};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message as Frame, WebSocket};

/// What one test's server saw and the gates its channels wait at: in the
/// app's state, so that no two tests share any of it.
struct Observed {
    /// How many times each topic was left.
    left: Mutex<HashMap<String, usize>>,
    /// The `name` params of the connections whose `on_disconnect` ran.
    disconnected: Mutex<HashSet<String>>,
    /// Whether each `later:*` topic's late push was sent.
    late_pushes: Mutex<HashMap<String, bool>>,
    /// `slow:*` joins wait for a permit.
    slow_joins: Semaphore,
    /// A relay's `wait` message waits for a permit.
    relay_gate: Semaphore,
}

impl Default for Observed {
    fn default() -> Self {
        Observed {
            left: Mutex::default(),
            disconnected: Mutex::default(),
            late_pushes: Mutex::default(),
            slow_joins: Semaphore::new(0),
            relay_gate: Semaphore::new(0),
        }
    }
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The app's state, as controllers and channels share it.
#[derive(Clone)]
struct TestState {
    motto: &'static str,
    observed: Arc<Observed>,
}

#[derive(Default)]
struct TestSocket {
    /// The `name` connect param.
    name: Option<String>,
    /// The `user` connect param: the connection's id is `user:<user>`.
    user: Option<String>,
    /// Where `on_disconnect` reports (the server's).
    observed: Option<Arc<Observed>>,
}

impl Socket<TestState> for TestSocket {
    fn channels(channels: &mut Channels<Self, TestState>) {
        channels
            .add::<Room>("room:*")
            .add::<Private>("private:*")
            .add::<Slow>("slow:*")
            .add::<Hung>("hung:*")
            .add::<Crash>("crash:*")
            .add::<Later>("later:*")
            .add::<Relay>("relay:*");
    }

    async fn on_connect(&mut self, conn: &Connect<TestState>) -> bool {
        self.name = conn.params().get("name").map(str::to_string);
        self.user = conn.params().get("user").map(str::to_string);
        self.observed = Some(conn.state().observed.clone());
        match conn.params().get("refuse") {
            Some("") => false,
            Some(reason) => conn.refuse(reason),
            None => true,
        }
    }

    fn id(&self) -> Option<String> {
        self.user.as_ref().map(|user| format!("user:{user}"))
    }

    async fn on_disconnect(&mut self) {
        if let (Some(name), Some(observed)) = (self.name.take(), &self.observed) {
            observed.disconnected.lock().unwrap().insert(name);
        }
    }
}

#[derive(Default)]
struct Room;

impl Channel<TestSocket, TestState> for Room {
    async fn join(
        &mut self,
        ctx: &mut Context<'_, TestSocket, TestState>,
        payload: Value,
    ) -> Result<Value, String> {
        // A channel sending recent history as pushes: `{"pushes": n}`.
        for n in 0..payload["pushes"].as_u64().unwrap_or(0) {
            ctx.push("earlier", json!({"n": n}));
        }
        let motto = Some(ctx.state().motto);
        Ok(json!({"name": ctx.socket().name, "motto": motto}))
    }

    async fn message(&mut self, ctx: &mut Context<'_, TestSocket, TestState>, message: Message) {
        match message.subject.as_str() {
            "whoami" => {
                let topic = ctx.topic().to_string();
                ctx.push("you_are", json!({"topic": topic}));
            }
            "to_others" => ctx.broadcast_from("from_other", message.payload),
            "refuse_me" => ctx.reply_error(json!({"reason": "refused", "echo": message.payload})),
            "count" => ctx.reply(json!({"counted": message.payload})),
            _ => ctx.rebroadcast(message),
        }
    }

    async fn leave(&mut self, ctx: &mut Context<'_, TestSocket, TestState>) {
        *ctx.state().observed.left.lock().unwrap().entry(ctx.topic().to_string()).or_default() += 1;
    }
}

#[derive(Default)]
struct Private;

impl Channel<TestSocket, TestState> for Private {
    async fn join(
        &mut self,
        _ctx: &mut Context<'_, TestSocket, TestState>,
        payload: Value,
    ) -> Result<Value, String> {
        match payload.get("token").and_then(Value::as_str) {
            Some("secret") => Ok(Value::Null),
            _ => Err("unauthorized".into()),
        }
    }
}

/// Its messages never finish.
#[derive(Default)]
struct Hung;

impl Channel<TestSocket, TestState> for Hung {
    async fn message(&mut self, _: &mut Context<'_, TestSocket, TestState>, _: Message) {
        std::future::pending::<()>().await;
    }
}

/// Its joins await until the test lets them through.
#[derive(Default)]
struct Slow;

impl Channel<TestSocket, TestState> for Slow {
    async fn join(
        &mut self,
        ctx: &mut Context<'_, TestSocket, TestState>,
        _payload: Value,
    ) -> Result<Value, String> {
        ctx.state().observed.slow_joins.acquire().await.expect("the semaphore stays open").forget();
        Ok(Value::Null)
    }
}

/// Panics where its client asks it to.
#[derive(Default)]
struct Crash;

impl Channel<TestSocket, TestState> for Crash {
    async fn join(
        &mut self,
        _ctx: &mut Context<'_, TestSocket, TestState>,
        payload: Value,
    ) -> Result<Value, String> {
        assert!(payload.get("panic").is_none(), "join panicked as asked");
        Ok(Value::Null)
    }

    async fn message(&mut self, _ctx: &mut Context<'_, TestSocket, TestState>, message: Message) {
        assert_ne!(message.subject, "panic", "message panicked as asked");
    }

    async fn leave(&mut self, ctx: &mut Context<'_, TestSocket, TestState>) {
        assert!(!ctx.topic().ends_with(":leave"), "leave panicked as asked");
    }
}

/// Answers a message later, from a spawned task, through a client handle.
#[derive(Default)]
struct Later;

impl Channel<TestSocket, TestState> for Later {
    async fn message(&mut self, ctx: &mut Context<'_, TestSocket, TestState>, message: Message) {
        let (client, observed) = (ctx.client(), ctx.state().observed.clone());
        let delay = Duration::from_millis(message.payload["after_ms"].as_u64().unwrap_or(0));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let pushed = client.push("later", json!({"after_ms": delay.as_millis() as u64})).is_ok();
            observed.late_pushes.lock().unwrap().insert(client.topic().to_string(), pushed);
        });
    }
}

/// Broadcasts in the ways a callback can: through its context and through
/// `maze::broadcast`, before and after awaiting.
#[derive(Default)]
struct Relay;

impl Channel<TestSocket, TestState> for Relay {
    async fn message(&mut self, ctx: &mut Context<'_, TestSocket, TestState>, message: Message) {
        let topic = ctx.topic().to_string();
        match message.subject.as_str() {
            "pair" => {
                ctx.broadcast("through_context", message.payload.clone());
                maze::broadcast(&topic, "through_maze", message.payload);
            }
            "push_after" => {
                ctx.broadcast("then_pushed", message.payload.clone());
                ctx.push("pushed", message.payload);
            }
            "wait" => {
                ctx.broadcast("before_waiting", message.payload.clone());
                ctx.state().observed.relay_gate.acquire().await.expect("the semaphore stays open").forget();
                ctx.broadcast("after_waiting", message.payload);
            }
            _ => {}
        }
    }
}

async fn motto(axum::extract::State(state): axum::extract::State<TestState>) -> &'static str {
    state.motto
}

/// The secret `/token`'s sockets verify connect tokens with.
const TOKEN_SECRET: &str = "the signing secret of this test, 32+ bytes";

/// Admits connections whose `token` param `TOKEN_SECRET` signed within the last minute.
#[derive(Default)]
struct TokenSocket {
    user_id: Option<i64>,
}

/// A socket that reads no state: served in an app of any state.
impl<St: Clone + Send + Sync + 'static> Socket<St> for TokenSocket {
    fn channels(channels: &mut Channels<Self, St>) {
        channels.add::<Room>("room:*");
    }

    async fn on_connect(&mut self, conn: &Connect<St>) -> bool {
        let token = conn.params().get("token").unwrap_or_default();
        self.user_id = maze::token::verify(TOKEN_SECRET, "user socket", token, Duration::from_secs(60)).ok();
        self.user_id.is_some()
    }
}

impl<St: Clone + Send + Sync + 'static> Channel<TokenSocket, St> for Room {}

fn routes(routes: &mut Routes<TestState>) {
    routes.get("/motto", motto).socket::<TestSocket>("/socket").socket::<TokenSocket>("/token");
    routes.get("/hang", std::future::pending::<()>);
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

/// A test's own server, on a runtime thread of its own (stopped, gracefully,
/// by [`Server::stop`]; else it ends with the test process).
struct Server {
    port: u16,
    /// The app's hub: tests broadcast through it from their own threads.
    hub: Hub,
    /// What its channels saw, and their gates.
    observed: Arc<Observed>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start() -> Server {
        Server::start_with(CONFIG.to_string())
    }

    fn start_with(config: String) -> Server {
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let observed = Arc::new(Observed::default());
        let state = TestState { motto: "stay curious", observed: observed.clone() };
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let config = Config::parse(&config).unwrap();
                let hub = Hub::from_config(&config).await.unwrap();
                port_tx.send((listener.local_addr().unwrap().port(), hub.clone())).unwrap();
                App::new(routes)
                    .with_state(state)
                    .with_hub(hub)
                    .serve_until(listener, config, ".".into(), async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let (port, hub) = port_rx.recv().unwrap();
        Server { port, hub, observed, stop: Some(stop), thread: Some(thread) }
    }

    /// A WebSocket client of `path` on this server.
    fn connect(&self, path: &str) -> WebSocket<TcpStream> {
        connect_to(self.port, path, None).unwrap()
    }

    /// How many times `topic` was left.
    fn left(&self, topic: &str) -> usize {
        self.observed.left.lock().unwrap().get(topic).copied().unwrap_or(0)
    }

    /// Whether the connection named `name` ran its `on_disconnect`.
    fn disconnected(&self, name: &str) -> bool {
        self.observed.disconnected.lock().unwrap().contains(name)
    }

    /// Whether the late push on `topic` was sent, once it was tried.
    fn late_push(&self, topic: &str) -> Option<bool> {
        self.observed.late_pushes.lock().unwrap().get(topic).copied()
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

fn send(ws: &mut WebSocket<TcpStream>, frame: Value) {
    ws.send(Frame::text(frame.to_string())).unwrap();
}

fn receive(ws: &mut WebSocket<TcpStream>) -> Value {
    loop {
        match ws.read().expect("a frame") {
            Frame::Text(text) if text.as_str() != "ping" => {
                return serde_json::from_str(text.as_str()).unwrap();
            }
            Frame::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Reads until the server's close frame; returns its code.
fn close_code(ws: &mut WebSocket<TcpStream>) -> CloseCode {
    close_frame(ws).0
}

/// The code and reason of the close frame that comes next (other frames skipped).
fn close_frame(ws: &mut WebSocket<TcpStream>) -> (CloseCode, String) {
    loop {
        match ws.read() {
            Ok(Frame::Close(Some(frame))) => return (frame.code, frame.reason.to_string()),
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
    let server = Server::start();
    let mut ws = server.connect("/socket");
    let reply = join(&mut ws, "private:1");
    assert_eq!(reply["payload"], json!({"status": "error", "response": {"reason": "unauthorized"}}));
    send(&mut ws, json!({"event": "join", "topic": "private:1", "ref": "2", "payload": {"token": "secret"}}));
    assert_eq!(receive(&mut ws)["payload"]["status"], "ok");
}

#[test]
fn a_second_join_of_a_topic_replaces_the_first() {
    let server = Server::start();
    let mut ws = server.connect("/socket");
    assert_eq!(join(&mut ws, "room:dup")["payload"]["status"], "ok");
    assert_eq!(join(&mut ws, "room:dup")["payload"]["status"], "ok");
    assert_eq!(server.left("room:dup"), 1, "the first channel left");
    // One subscription, not two: a broadcast arrives once.
    server.hub.broadcast("room:dup", "hi", json!({}));
    assert_eq!(receive(&mut ws)["subject"], "hi");
    send(&mut ws, json!({"event": "message", "topic": "room:dup", "subject": "whoami", "ref": "w"}));
    assert_eq!(receive(&mut ws)["subject"], "you_are", "no second copy of hi came first");
}

#[test]
fn channels_per_connection_are_limited() {
    let server = Server::start();
    let mut ws = server.connect("/socket");
    for n in 1..=3 {
        assert_eq!(join(&mut ws, &format!("room:limit{n}"))["payload"]["status"], "ok");
    }
    let refused = join(&mut ws, "room:limit4");
    assert_eq!(refused["payload"]["response"]["reason"], "too many channels on this connection");
}

#[test]
fn a_channel_can_answer_its_own_client() {
    let server = Server::start();
    let mut ws = server.connect("/socket");
    join(&mut ws, "room:push");
    send(&mut ws, json!({"event": "message", "topic": "room:push", "subject": "whoami", "ref": "1"}));
    // What the callback pushed, then the reply that says it finished.
    assert_eq!(
        receive(&mut ws),
        json!({"event": "message", "topic": "room:push", "subject": "you_are", "payload": {"topic": "room:push"}})
    );
    assert_eq!(receive(&mut ws)["event"], "reply");
}

#[test]
fn an_oversized_message_closes_with_1009_and_cleans_up() {
    let server = Server::start();
    let mut ws = server.connect("/socket");
    join(&mut ws, "room:big");
    ws.send(Frame::text("x".repeat(2048))).unwrap();
    assert_eq!(close_code(&mut ws), CloseCode::Size);
    wait_until("room:big left", || server.left("room:big") == 1);
}

#[test]
fn an_idle_connection_is_closed_and_cleaned_up() {
    let server = Server::start();
    let mut ws = server.connect("/socket");
    join(&mut ws, "room:idle");
    let started = Instant::now();
    assert_eq!(close_code(&mut ws), CloseCode::Normal);
    assert!(started.elapsed() >= Duration::from_millis(1500), "closed after the 2 s idle timeout");
    wait_until("room:idle left", || server.left("room:idle") == 1);
}

#[test]
fn a_dropped_connection_runs_leave_and_on_disconnect() {
    let server = Server::start();
    let mut ws = server.connect("/socket?name=dropped");
    join(&mut ws, "room:drop");
    drop(ws);
    wait_until("room:drop left", || server.left("room:drop") == 1);
    wait_until("on_disconnect ran", || server.disconnected("dropped"));
}

#[test]
fn a_slow_consumer_is_disconnected_with_1013() {
    let server = Server::start();
    let mut slow = server.connect("/socket");
    join(&mut slow, "room:slow");
    // The queue holds 8; a burst far larger than what the connection can write meanwhile overflows it.
    for n in 0..20_000 {
        server.hub.broadcast("room:slow", "flood", json!({"n": n, "pad": "x".repeat(64)}));
    }
    assert_eq!(close_code(&mut slow), CloseCode::Again);
    wait_until("room:slow left", || server.left("room:slow") == 1);
}

#[test]
fn the_websocket_protocol_pings_fragments_and_closes_as_rfc_6455_says() {
    let server = Server::start();
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::{Frame as RawFrame, FrameHeader};
    let mut ws = server.connect("/socket");
    // A ping is answered with a pong carrying its payload.
    ws.send(Frame::Ping(b"are you there".to_vec().into())).unwrap();
    loop {
        match ws.read().expect("a frame") {
            Frame::Pong(payload) => break assert_eq!(&payload[..], b"are you there"),
            Frame::Text(_) => {}
            other => panic!("expected the pong, got {other:?}"),
        }
    }
    // A message sent in fragments is one message.
    let join = json!({"event": "join", "topic": "room:fragments", "ref": "f"}).to_string();
    let (head, tail) = join.as_bytes().split_at(10);
    let fragment = |is_final, opcode, data: &[u8]| {
        let header = FrameHeader { is_final, opcode, ..FrameHeader::default() };
        Frame::Frame(RawFrame::from_payload(header, data.to_vec().into()))
    };
    ws.send(fragment(false, OpCode::Data(Data::Text), head)).unwrap();
    ws.send(fragment(true, OpCode::Data(Data::Continue), tail)).unwrap();
    let reply = receive(&mut ws);
    assert_eq!((reply["ref"].as_str(), reply["payload"]["status"].as_str()), (Some("f"), Some("ok")));
    // The client closes: the server answers with a close frame of its own,
    // echoing the client's code.
    let code = CloseCode::from(3000);
    ws.close(Some(tungstenite::protocol::CloseFrame { code, reason: "done".into() })).unwrap();
    loop {
        match ws.read() {
            Ok(Frame::Close(Some(frame))) => {
                assert_eq!(frame.code, code, "the client's code, echoed");
                break;
            }
            Ok(Frame::Close(None)) | Err(tungstenite::Error::ConnectionClosed) => {
                panic!("the server's close frame did not echo the client's code")
            }
            Ok(_) => {}
            Err(error) => panic!("expected the server's close frame, got {error:?}"),
        }
    }
}

#[test]
fn a_client_sending_faster_than_it_reads_is_slowed_down_not_dropped() {
    let server = Server::start();
    let mut ws = server.connect("/socket");
    join(&mut ws, "room:flood");
    // Each message brings back its rebroadcast and a reply: far more than the
    // queue of 8 holds while the client reads nothing.
    for n in 0..200 {
        send(
            &mut ws,
            json!({"event": "message", "topic": "room:flood", "subject": "n", "payload": n, "ref": n}),
        );
    }
    let (mut echoes, mut replies) = (Vec::new(), 0);
    while echoes.len() < 200 || replies < 200 {
        let frame = receive(&mut ws);
        match frame["event"].as_str() {
            Some("message") => echoes.push(frame["payload"].as_u64().unwrap()),
            Some("reply") => replies += 1,
            _ => panic!("unexpected {frame}"),
        }
    }
    assert_eq!(echoes, (0..200).collect::<Vec<_>>(), "every message, once, in order");
}

#[test]
fn a_client_that_stops_reading_is_dropped_mid_write() {
    let server = Server::start();
    let mut stalled = server.connect("/socket");
    join(&mut stalled, "room:stalled");
    // More than the socket buffers hold: the server's write waits for a
    // client that does not read...
    let big = "x".repeat(12 << 20);
    for n in 0..2 {
        server.hub.broadcast("room:stalled", "big", json!({"n": n, "pad": big}));
    }
    let mut first = [0; 1];
    wait_until("the server is writing", || stalled.get_ref().peek(&mut first).is_ok_and(|n| n > 0));
    // ...while its queue overflows: the server gives the write a moment to
    // end, then drops the connection rather than wait for the client.
    for n in 0..20 {
        server.hub.broadcast("room:stalled", "flood", json!({"n": n}));
    }
    wait_until("room:stalled left", || server.left("room:stalled") == 1);
    // What was written arrives, cut short; no closing handshake can follow a partial frame.
    loop {
        match stalled.read() {
            Ok(Frame::Close(frame)) => panic!("the server finished its write and closed normally: {frame:?}"),
            Ok(_) => {}
            Err(_cut_short) => break,
        }
    }
}

#[test]
fn a_callbacks_broadcast_goes_out_while_the_callback_still_waits() {
    let server = Server::start();
    let (mut subscriber, mut sender) = (server.connect("/socket"), server.connect("/socket"));
    join(&mut subscriber, "relay:wait");
    join(&mut sender, "relay:wait");
    send(&mut sender, json!({"event": "message", "topic": "relay:wait", "subject": "wait", "payload": 1}));
    // Broadcasts are held while a connection's task runs, not while it waits.
    assert_eq!(receive(&mut subscriber)["subject"], "before_waiting");
    server.observed.relay_gate.add_permits(1);
    assert_eq!(receive(&mut subscriber)["subject"], "after_waiting");
}

#[test]
fn a_burst_of_messages_is_broadcast_once_each_in_order() {
    // Queues that hold the burst (the shared server's hold 8).
    let server = Server::start_with(CONFIG.replace("outbound_queue = 8", "outbound_queue = 1024"));
    let (mut subscriber, mut sender) = (server.connect("/socket"), server.connect("/socket"));
    join(&mut subscriber, "relay:burst");
    join(&mut sender, "relay:burst");
    // Written at once: the server reads them in one go, and their broadcasts
    // go out together. What the sender is sent back (an error reply to a
    // message on a topic it has not joined, a push, a reply) must not
    // overtake what was broadcast before it.
    for n in 0..100 {
        for (topic, subject, reference) in [
            ("relay:burst", "pair", None),
            ("relay:unjoined", "pair", Some(n)),
            ("relay:burst", "push_after", None),
            ("relay:burst", "quiet", Some(n)),
        ] {
            let frame = json!({"event": "message", "topic": topic, "subject": subject, "payload": n, "ref": reference});
            sender.write(Frame::text(frame.to_string())).unwrap();
        }
    }
    sender.flush().unwrap();
    let expected: Vec<(String, u64)> = (0..100)
        .flat_map(|n| [("through_context".into(), n), ("through_maze".into(), n), ("then_pushed".into(), n)])
        .collect();
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let frame = receive(&mut subscriber);
        got.push((frame["subject"].as_str().unwrap().to_string(), frame["payload"].as_u64().unwrap()));
    }
    assert_eq!(got, expected, "every broadcast, once, in the order the callbacks made them");
    // The sender gets everything in the order its callbacks made it.
    let expected: Vec<(String, u64)> = (0..100)
        .flat_map(|n| {
            [
                ("through_context".into(), n),
                ("through_maze".into(), n),
                ("error reply".into(), n),
                ("then_pushed".into(), n),
                ("pushed".into(), n),
                ("ok reply".into(), n),
            ]
        })
        .collect();
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let frame = receive(&mut sender);
        match frame["event"].as_str() {
            Some("reply") => {
                let status = frame["payload"]["status"].as_str().unwrap();
                got.push((format!("{status} reply"), frame["ref"].as_u64().unwrap()))
            }
            _ => {
                got.push((frame["subject"].as_str().unwrap().to_string(), frame["payload"].as_u64().unwrap()))
            }
        }
    }
    assert_eq!(got, expected);
    server.stop();
}

#[test]
fn only_allowed_origins_may_connect() {
    let server = Server::start();
    let port = server.port;
    match connect_to(port, "/socket", Some("https://evil.example")) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| "a connection")),
    }
    assert!(connect_to(port, "/socket", Some("https://trusted.example")).is_ok(), "listed origin");
    assert!(connect_to(port, "/socket", Some(&format!("http://127.0.0.1:{port}"))).is_ok(), "own origin");
}

#[test]
fn shutdown_closes_sockets_with_1001_after_cleanup() {
    // A connection's timer ticks far apart here (every 15 s, after the
    // shutdown's 5 s of grace): what closes it is the shutdown itself.
    let server = Server::start_with(CONFIG.replace("idle_timeout = 2", "idle_timeout = 60"));
    let mut ws = connect_to(server.port, "/socket", None).unwrap();
    join(&mut ws, "room:shutdown");
    let observed = server.observed.clone();
    let stopping = std::thread::spawn(move || server.stop());
    assert_eq!(close_code(&mut ws), CloseCode::Away);
    let left = observed.left.lock().unwrap().get("room:shutdown").copied();
    assert_eq!(left, Some(1), "leave ran before the close frame");
    stopping.join().unwrap();
}

#[test]
fn phoenix_v2_clients_join_push_and_heartbeat() {
    let server = Server::start();
    let mut ws = server.connect("/socket/websocket?vsn=2.0.0");
    send(&mut ws, json!(["1", "1", "room:phx", "phx_join", {}]));
    assert_eq!(
        receive(&mut ws),
        json!(["1", "1", "room:phx", "phx_reply", {"status": "ok", "response": {"name": null, "motto": "stay curious"}}])
    );
    send(&mut ws, json!(["1", "2", "room:phx", "new_msg", {"body": "hi"}]));
    // A broadcast: no join_ref, and no position in the ref slot (this client
    // did not ask for recovery: see `phoenix_clients_that_ask_for_recovery_get_positions`).
    assert_eq!(receive(&mut ws), json!([null, null, "room:phx", "new_msg", {"body": "hi"}]));
    assert_eq!(
        receive(&mut ws),
        json!(["1", "2", "room:phx", "phx_reply", {"status": "ok", "response": {}}])
    );
    send(&mut ws, json!([null, "3", "phoenix", "heartbeat", {}]));
    assert_eq!(
        receive(&mut ws),
        json!([null, "3", "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
    send(&mut ws, json!(["4", "4", "nowhere", "phx_join", {}]));
    assert_eq!(receive(&mut ws)[4], json!({"status": "error", "response": {"reason": "unmatched topic"}}));
    // A second join closes the first channel (phx_close with its join ref) and replies to the new one.
    send(&mut ws, json!(["5", "5", "room:phx", "phx_join", {}]));
    assert_eq!(receive(&mut ws), json!(["1", "1", "room:phx", "phx_close", {}]));
    assert_eq!(
        receive(&mut ws),
        json!(["5", "5", "room:phx", "phx_reply", {"status": "ok", "response": {"name": null, "motto": "stay curious"}}])
    );
    send(&mut ws, json!(["5", "6", "room:phx", "phx_leave", {}]));
    assert_eq!(
        receive(&mut ws),
        json!(["5", "6", "room:phx", "phx_reply", {"status": "ok", "response": {}}])
    );
    send(&mut ws, json!(["5", "7", "room:phx", "new_msg", {}]));
    assert_eq!(receive(&mut ws)[4]["response"]["reason"], "not joined");
}

#[test]
fn phoenix_clients_that_ask_for_recovery_get_positions() {
    let server = Server::start();
    let mut ws = server.connect("/socket/websocket?vsn=2.0.0");
    send(&mut ws, json!(["1", "1", "room:phx-recover", "phx_join", {"recover": {}}]));
    assert_eq!(receive(&mut ws)[3], "phx_reply");
    let status = receive(&mut ws);
    assert_eq!(status[3], "maze_recovery");
    send(&mut ws, json!(["1", "2", "room:phx-recover", "new_msg", {"body": "hi"}]));
    assert!(status[4]["epoch"].is_string(), "the epoch, told once: {status}");
    // The broadcast's offset in the topic's history, in the ref slot.
    let broadcast = receive(&mut ws);
    assert_eq!(broadcast[3], "new_msg");
    assert_eq!(broadcast[1], "1-0");
}

#[test]
fn unknown_protocol_versions_are_refused() {
    let server = Server::start();
    match connect_to(server.port, "/socket/websocket?vsn=1.0.0", None) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected 400, got {:?}", other.map(|_| "a connection")),
    }
}

#[test]
fn a_join_reply_carries_the_channels_answer_and_the_socket_state() {
    let server = Server::start();
    let mut ws = server.connect("/socket?name=ada");
    let reply = join(&mut ws, "room:answer");
    assert_eq!(
        reply["payload"],
        json!({"status": "ok", "response": {"name": "ada", "motto": "stay curious"}})
    );
}

#[test]
fn controllers_take_the_apps_state() {
    let server = Server::start();
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream.write_all(b"GET /motto HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("stay curious"), "{response}");
}

#[test]
fn a_join_that_awaits_does_not_delay_another_client() {
    let server = Server::start();
    let mut waiting = server.connect("/socket");
    send(&mut waiting, json!({"event": "join", "topic": "slow:1", "ref": "s"}));
    // While that join awaits, another client joins, pushes and hears back.
    let mut other = server.connect("/socket");
    join(&mut other, "room:while_slow");
    send(
        &mut other,
        json!({"event": "message", "topic": "room:while_slow", "subject": "whoami", "ref": "w"}),
    );
    assert_eq!(receive(&mut other)["subject"], "you_are");
    // The waiting connection still gets its pings and broadcasts' turn: the join completes once let through.
    server.observed.slow_joins.add_permits(1);
    assert_eq!(receive(&mut waiting)["payload"]["status"], "ok");
}

/// Whether this instance has a subscriber to `topic`.
fn subscribed(server: &Server, topic: &str) -> bool {
    server.hub.pubsub().registry().topics().iter().any(|t| t == topic)
}

#[test]
fn a_panic_in_a_callback_closes_a_maze_connection_with_1011_and_cleans_up() {
    let server = Server::start();
    for (step, topic) in [("join", "crash:join"), ("message", "crash:message"), ("leave", "crash:leave")] {
        let name = format!("crash-{step}");
        let mut ws = server.connect(&format!("/socket?name={name}"));
        join(&mut ws, "room:bystander_".to_string().as_str());
        let bystander = format!("room:bystander_{step}");
        join(&mut ws, &bystander);
        match step {
            "join" => send(&mut ws, json!({"event": "join", "topic": topic, "payload": {"panic": true}})),
            "message" => {
                join(&mut ws, topic);
                send(&mut ws, json!({"event": "message", "topic": topic, "subject": "panic"}));
            }
            _ => {
                join(&mut ws, topic);
                send(&mut ws, json!({"event": "leave", "topic": topic}));
            }
        }
        assert_eq!(close_code(&mut ws), CloseCode::Error, "{step}");
        wait_until("the other channels left", || server.left(&bystander) == 1);
        wait_until("on_disconnect ran", || server.disconnected(&name));
        assert!(
            !subscribed(&server, topic) && !subscribed(&server, &bystander),
            "{step}: no subscription is left"
        );
    }
    // The server goes on.
    let mut ws = server.connect("/socket");
    assert_eq!(join(&mut ws, "room:after_crash")["payload"]["status"], "ok");
}

#[test]
fn a_panic_in_a_phoenix_channel_sends_phx_error_and_the_connection_goes_on() {
    let server = Server::start();
    let mut ws = server.connect("/socket/websocket?vsn=2.0.0");
    send(&mut ws, json!(["1", "1", "crash:phx", "phx_join", {}]));
    assert_eq!(receive(&mut ws)[4]["status"], "ok");
    send(&mut ws, json!(["1", "2", "crash:phx", "panic", {}]));
    assert_eq!(receive(&mut ws), json!(["1", "1", "crash:phx", "phx_error", {}]));
    assert!(!subscribed(&server, "crash:phx"), "the crashed channel's subscription is released");
    // Like Phoenix, a crashing join answers an error.
    send(&mut ws, json!(["3", "3", "crash:phx_join", "phx_join", {"panic": true}]));
    assert_eq!(receive(&mut ws)[4], json!({"status": "error", "response": {"reason": "join crashed"}}));
    // The client rejoins and goes on.
    send(&mut ws, json!(["4", "4", "crash:phx", "phx_join", {}]));
    assert_eq!(receive(&mut ws)[4]["status"], "ok");
    send(&mut ws, json!([null, "5", "phoenix", "heartbeat", {}]));
    assert_eq!(receive(&mut ws)[4]["status"], "ok");
}

#[test]
fn a_client_handle_pushes_after_the_callback_returned_and_fails_once_the_client_is_gone() {
    let server = Server::start();
    let mut ws = server.connect("/socket");
    join(&mut ws, "later:1");
    send(
        &mut ws,
        json!({"event": "message", "topic": "later:1", "subject": "go", "payload": {"after_ms": 1000}, "ref": "g"}),
    );
    assert_eq!(receive(&mut ws)["event"], "reply", "the callback returned first");
    assert_eq!(
        receive(&mut ws),
        json!({"event": "message", "topic": "later:1", "subject": "later", "payload": {"after_ms": 1000}})
    );
    assert_eq!(server.late_push("later:1"), Some(true));

    join(&mut ws, "later:2");
    send(
        &mut ws,
        json!({"event": "message", "topic": "later:2", "subject": "go", "payload": {"after_ms": 300}}),
    );
    drop(ws);
    wait_until("the late push was tried", || server.late_push("later:2").is_some());
    assert_eq!(server.late_push("later:2"), Some(false), "pushing to a client that is gone is an error");
}

#[test]
fn a_broadcast_to_others_skips_its_sender() {
    let server = Server::start();
    let mut sender = server.connect("/socket");
    let mut other = server.connect("/socket");
    join(&mut sender, "room:others");
    join(&mut other, "room:others");
    send(
        &mut sender,
        json!({"event": "message", "topic": "room:others", "subject": "to_others", "payload": {"n": 1}, "ref": "o"}),
    );
    assert_eq!(receive(&mut other)["subject"], "from_other");
    // The sender's next frame is its reply: no copy of its own broadcast came first.
    assert_eq!(receive(&mut sender)["event"], "reply");
    send(&mut sender, json!({"event": "message", "topic": "room:others", "subject": "whoami", "ref": "w"}));
    assert_eq!(receive(&mut sender)["subject"], "you_are");
}

#[test]
fn disconnect_closes_every_connection_of_an_id_and_no_other() {
    let server = Server::start();
    let mut first = server.connect("/socket?user=42&name=tab1");
    let mut second = server.connect("/socket?user=42&name=tab2");
    let mut someone_else = server.connect("/socket?user=7");
    for ws in [&mut first, &mut second, &mut someone_else] {
        join(ws, "room:ids");
    }
    server.hub.disconnect("user:42");
    assert_eq!(close_code(&mut first), CloseCode::Normal);
    assert_eq!(close_code(&mut second), CloseCode::Normal);
    wait_until("both tabs cleaned up", || server.disconnected("tab1") && server.disconnected("tab2"));
    send(
        &mut someone_else,
        json!({"event": "message", "topic": "room:ids", "subject": "whoami", "ref": "w"}),
    );
    assert_eq!(receive(&mut someone_else)["subject"], "you_are");
}

#[test]
fn on_connect_may_refuse_with_1008_and_a_reason() {
    let server = Server::start();
    let mut ws = server.connect("/socket?refuse=banned");
    assert_eq!(close_frame(&mut ws), (CloseCode::Policy, "banned".to_string()));
    let mut ws = server.connect("/socket?refuse=");
    assert_eq!(close_frame(&mut ws), (CloseCode::Policy, "refused by on_connect".to_string()));
}

#[test]
fn routes_that_cannot_be_served_stop_the_app_with_the_reason() {
    #[derive(Default)]
    struct BadSocket;
    impl Socket for BadSocket {
        fn channels(channels: &mut Channels<Self>) {
            channels.add::<Room2>("room:*:x");
        }
    }
    #[derive(Default)]
    struct Room2;
    impl Channel<BadSocket> for Room2 {}

    fn clashing(routes: &mut Routes) {
        routes.socket::<BadSocket>("/bad");
    }
    fn overlapping(routes: &mut Routes<TestState>) {
        routes.socket::<TestSocket>("/chat").get("/chat/websocket", motto);
    }
    let error = startup_error(App::new(clashing));
    assert!(error.contains("WS /bad") && error.contains("`*` may only end a pattern"), "{error}");
    let state = TestState { motto: "", observed: Default::default() };
    let error = startup_error(App::new(overlapping).with_state(state));
    assert!(error.contains("GET /chat/websocket") && error.contains("by `WS /chat`"), "{error}");
}

/// Why `app` does not start.
fn startup_error<St: Clone + Send + Sync + 'static>(app: App<St>) -> String {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = Config::parse(CONFIG).unwrap();
        app.serve_until(listener, config, ".".into(), std::future::ready(())).await.unwrap_err().to_string()
    })
}

/// Runs `tests/js/{script}` with node against the shared server; its output.
fn run_js(server: &Server, script: &str) -> String {
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/js");
    assert!(
        js.join("node_modules/phoenix").is_dir(),
        "the npm clients are not installed: run `npm ci --prefix tests/js` (.ci/run does)"
    );
    let output = std::process::Command::new("node")
        .arg(script)
        .arg(server.port.to_string())
        .current_dir(&js)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[test]
fn a_broadcast_to_others_skips_its_sender_with_the_phoenix_client_and_maze_js() {
    let server = Server::start();
    let stdout = run_js(&server, "to_others.mjs");
    for client in ["phoenix", "maze.js"] {
        assert!(
            stdout.contains(&format!(r#""client":"{client}","receiver":{{"n":1}},"sender_heard":0"#)),
            "{stdout}"
        );
    }
}

#[test]
fn a_channel_answers_a_push_with_an_error_or_a_response_with_the_phoenix_client_and_maze_js() {
    let server = Server::start();
    let stdout = run_js(&server, "replies.mjs");
    for client in ["phoenix", "maze.js"] {
        let refused = r#""refused":{"status":"error","response":{"echo":{"bid":1},"reason":"refused"}}"#;
        let counted = r#""counted":{"status":"ok","response":{"counted":{"n":2}}}"#;
        let line = format!(r#"{{"client":"{client}",{refused},{counted}}}"#);
        assert!(stdout.contains(&line), "expected {line} in\n{stdout}");
    }
}

#[test]
fn signed_tokens_in_connect_params_admit_only_fresh_genuine_ones_with_both_clients() {
    let server = Server::start();
    use std::time::SystemTime;
    let fresh = maze::token::sign(TOKEN_SECRET, "user socket", &42);
    let expired =
        maze::token::sign_at(TOKEN_SECRET, "user socket", &42, SystemTime::now() - Duration::from_secs(120));
    let (body, signature) = fresh.split_once('.').unwrap();
    let tampered = format!("{}.{signature}", body.replacen('e', "f", 1));
    let foreign = maze::token::sign("another application's secret, 32+ bytes", "user socket", &42);
    let other_purpose = maze::token::sign(TOKEN_SECRET, "password reset", &42);
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/js");
    let output = std::process::Command::new("node")
        .arg("tokens.mjs")
        .arg(server.port.to_string())
        .args(
            [
                ("fresh", &fresh),
                ("expired", &expired),
                ("tampered", &tampered),
                ("foreign", &foreign),
                ("other_purpose", &other_purpose),
            ]
            .map(|(name, token)| format!("{name}={token}")),
        )
        .current_dir(&js)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let outcome = |token: &str| {
        stdout
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .find(|line| line["token"] == token)
            .unwrap_or_else(|| panic!("no outcome for {token}: {stdout}"))
    };
    assert_eq!(outcome("fresh"), json!({"token": "fresh", "phoenix": "joined", "maze.js": "joined"}));
    for refused in ["expired", "tampered", "foreign", "other_purpose"] {
        assert_eq!(
            outcome(refused),
            json!({"token": refused, "phoenix": "closed 1008", "maze.js": "closed 1008"}),
            "{refused}"
        );
    }
}

#[test]
fn a_join_pushing_more_than_the_queue_holds_waits_for_room_rather_than_closing() {
    let server = Server::start();
    // The queue holds 8; the join pushes 20 after its reply.
    let mut ws = server.connect("/socket");
    send(&mut ws, json!({"event": "join", "topic": "room:pushes", "payload": {"pushes": 20}, "ref": "j"}));
    assert_eq!(receive(&mut ws)["payload"]["status"], "ok");
    for n in 0..20 {
        let push = receive(&mut ws);
        assert_eq!(
            (push["subject"].as_str(), push["payload"]["n"].as_u64()),
            (Some("earlier"), Some(n)),
            "{push}"
        );
    }
}

#[test]
fn with_a_queue_of_one_a_message_that_broadcasts_still_gets_its_reply() {
    let server = Server::start_with(CONFIG.replace("outbound_queue = 8", "outbound_queue = 1"));
    let mut ws = connect_to(server.port, "/socket", None).unwrap();
    send(&mut ws, json!({"event": "join", "topic": "room:one", "ref": "j"}));
    assert_eq!(receive(&mut ws)["payload"]["status"], "ok");
    for n in 0..5 {
        let message = json!({"event": "message", "topic": "room:one", "subject": "said", "payload": {"n": n}, "ref": n});
        send(&mut ws, message);
        // Its broadcast reaches the sender too, then the reply that says it was handled.
        assert_eq!(receive(&mut ws)["payload"], json!({"n": n}));
        let reply = receive(&mut ws);
        assert_eq!((reply["event"].as_str(), reply["ref"].as_u64()), (Some("reply"), Some(n)), "{reply}");
    }
    server.stop();
}

#[test]
fn a_hung_callback_or_request_cannot_delay_shutdown_past_the_grace() {
    use std::io::{Read, Write};
    let server = Server::start_with(CONFIG.replace("idle_timeout = 2", "idle_timeout = 60"));
    let mut hung_socket = connect_to(server.port, "/socket", None).unwrap();
    join(&mut hung_socket, "hung:1");
    send(&mut hung_socket, json!({"event": "message", "topic": "hung:1", "subject": "wait", "ref": "w"}));
    let mut hung_request = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(hung_request, "GET /hang HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    // The request is being handled once a second one on the server is answered.
    let mut probe = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(probe, "GET /motto HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut answered = String::new();
    probe.read_to_string(&mut answered).unwrap();
    assert!(answered.contains("stay curious"), "{answered}");

    let (stopped, has_stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        server.stop();
        let _ = stopped.send(());
    });
    // 5 s for the sockets, 5 s for the requests: well within this bound, which
    // only tells a stop that ends from one that never does.
    assert!(has_stopped.recv_timeout(Duration::from_secs(60)).is_ok(), "the server never stopped");
    drop((hung_socket, hung_request));
}

#[test]
fn a_close_the_server_starts_waits_for_the_clients_before_closing_tcp() {
    use std::io::Read;
    let server = Server::start();
    let mut ws = server.connect("/socket?user=closing");
    join(&mut ws, "room:closing");
    server.hub.disconnect("user:closing");
    // Read the server's close frame off the raw stream: tungstenite would answer it itself.
    let stream = ws.get_mut();
    let mut header = [0u8; 2];
    stream.read_exact(&mut header).unwrap();
    assert_eq!(header[0], 0x88, "a close frame");
    let mut payload = vec![0u8; (header[1] & 0x7F) as usize];
    stream.read_exact(&mut payload).unwrap();
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1000);
    // Not closed yet: the server waits for the client's close frame.
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let peeked = stream.peek(&mut byte);
    assert!(
        matches!(&peeked, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the server closed TCP before the client's close frame: {peeked:?}"
    );
    stream.set_nonblocking(false).unwrap();
    // The client's close (masked, code 1000): then the server closes.
    std::io::Write::write_all(stream, &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8]).unwrap();
    assert_eq!(stream.read(&mut byte).unwrap(), 0, "closed once the client answered");
}
