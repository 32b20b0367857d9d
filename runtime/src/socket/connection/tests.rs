//! Property tests: whatever a client sends, the connection answers and
//! keeps working; it never panics.

use super::*;
use crate::Config;
use crate::socket::{Channels, Connect};
use proptest::prelude::*;
use std::sync::atomic::Ordering;

#[derive(Default)]
struct Echo;
impl Channel<TestSocket> for Echo {
    async fn message(&mut self, ctx: &mut Context<'_, TestSocket>, message: Message) {
        ctx.push(&message.subject, message.payload);
    }
}
use crate::socket::Channel;

#[derive(Default)]
struct TestSocket;
impl Socket for TestSocket {
    fn channels(channels: &mut Channels<Self>) {
        channels.add::<Echo>("room:*");
    }
}

/// A reader whose frames for the client can be read back, encoded.
struct Harness {
    reader: Reader<TestSocket, ()>,
    outgoing: mailbox::Receiver<Outgoing>,
    runtime: tokio::runtime::Runtime,
}

impl Harness {
    fn new(serializer: Protocol) -> Harness {
        let config = Config::parse("[app]\nname = \"t\"\n").unwrap();
        let (queue, outgoing) = mailbox::bounded(64);
        let endpoint = Endpoint::new(&config, crate::Hub::in_memory()).expect("valid patterns");
        let connect = Connect {
            session: Default::default(),
            cookies: Default::default(),
            params: Default::default(),
            state: (),
        };
        let link = Subscriber::new(pubsub::next_id(), queue);
        let conn = Conn { socket: TestSocket, connect, endpoint, serializer, link };
        let reader = Reader {
            conn,
            joined: JoinedTopics::default(),
            in_flight: VecDeque::new(),
            client_closed: false,
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        Harness { reader, outgoing, runtime }
    }

    /// Handles `text` and returns what the client receives, as JSON.
    fn handle(&mut self, text: &str) -> Vec<Value> {
        let handled = self.runtime.block_on(self.reader.handle(text));
        assert!(handled.is_ok());
        self.sent()
    }

    fn sent(&mut self) -> Vec<Value> {
        let mut sent = Vec::new();
        while let Some(item) = self.outgoing.try_recv() {
            let text = match item {
                Outgoing::Frame(frame) => self.reader.conn.serializer.encode(&frame),
                Outgoing::Broadcast(broadcast) => {
                    Some(self.reader.conn.serializer.broadcast(&broadcast, true).text_payload().to_string())
                }
                Outgoing::AfterBroadcasts(after) => self.reader.conn.serializer.encode(&after.1),
                Outgoing::Hold(_) | Outgoing::LeftRecovering | Outgoing::Replay(_) | Outgoing::Pong(_) => {
                    None
                }
                Outgoing::Broadcasts(_) => {
                    unreachable!("this queue's subscriber takes broadcasts one by one")
                }
            };
            if let Some(text) = text {
                sent.push(serde_json::from_str(&text).expect("frames are JSON"));
            }
        }
        sent
    }

    fn leave_all(&mut self) {
        self.runtime.block_on(self.reader.leave_all());
        self.sent();
    }
}

/// Frames a fuzzer would send: random text, random JSON, and near-valid frames.
fn frame() -> impl Strategy<Value = String> {
    let json_leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z_:*0-9]{0,12}".prop_map(Value::from),
    ];
    let json = json_leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("event|topic|subject|payload|ref|[a-z]{1,4}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    });
    prop_oneof![
        ".{0,64}",
        json.prop_map(|value| value.to_string()),
        ("join|message|leave|shout", "[a-z_:0-9]{0,10}", proptest::option::of("[a-z]{0,6}")).prop_map(
            |(event, topic, subject)| {
                serde_json::json!({"event": event, "topic": topic, "subject": subject}).to_string()
            }
        ),
        ("phx_join|phx_leave|heartbeat|phx_reply|new", "phoenix|room:[0-9]|x")
            .prop_map(|(event, topic)| serde_json::json!([null, "1", topic, event, {}]).to_string()),
    ]
}

proptest! {
    #[test]
    fn decoders_never_panic(text in frame()) {
        let _ = Protocol::Maze.decode(&text);
        let _ = Protocol::PhoenixV2.decode(&text);
    }

    #[test]
    fn every_malformed_frame_gets_an_error_reply(text in frame()) {
        for serializer in [Protocol::Maze, Protocol::PhoenixV2] {
            if serializer.decode(&text).is_err() && text != "ping" && text != "pong" {
                let replies = Harness::new(serializer).handle(&text);
                prop_assert_eq!(replies.len(), 1, "{:?}", text);
                let status = match serializer {
                    Protocol::Maze => replies[0]["payload"]["status"].clone(),
                    Protocol::PhoenixV2 => replies[0][4]["status"].clone(),
                };
                prop_assert_eq!(status, "error");
            }
        }
    }

    #[test]
    fn garbage_never_wedges_a_connection(garbage in prop::collection::vec(frame(), 0..12)) {
        let mut maze = Harness::new(Protocol::Maze);
        let mut phoenix = Harness::new(Protocol::PhoenixV2);
        for text in &garbage {
            maze.handle(text);
            phoenix.handle(text);
        }
        maze.leave_all();
        phoenix.leave_all();
        let join = maze.handle(r#"{"event":"join","topic":"room:ok","ref":"z"}"#);
        prop_assert_eq!(&join[0]["payload"]["status"], "ok");
        let join = phoenix.handle(r#"["z","z","room:ok","phx_join",{}]"#);
        prop_assert_eq!(&join[0][4]["status"], "ok");
        let echo = maze.handle(r#"{"event":"message","topic":"room:ok","subject":"s","payload":1}"#);
        prop_assert_eq!(&echo[0]["payload"], 1);
        maze.leave_all();
        phoenix.leave_all();
    }
}

/// A sink that queues one more frame for its connection each time it is
/// written to: the connection always has something to write. Notes
/// when a write holds `awaited`. Each write first waits a turn, as a
/// socket does now and then (twice: the writer polls a write once before
/// it sets its timers): the connection's task yields, and the test can
/// time out.
struct Flooding {
    link: Subscriber,
    awaited: &'static str,
    seen: Arc<std::sync::atomic::AtomicBool>,
    polls: u8,
}

impl tokio::io::AsyncWrite for Flooding {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.polls = (self.polls + 1) % 3;
        if self.polls != 0 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if String::from_utf8_lossy(bytes).contains(self.awaited) {
            self.seen.store(true, Ordering::Release);
        }
        self.link.offer(Outgoing::Pong(Box::new(Frame::pong(b""))));
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[test]
fn what_a_recovering_writer_holds_counts_against_the_queue_bound() {
    let config = Config::parse("[app]\nname = \"t\"\n[websockets]\noutbound_queue = 4\n").unwrap();
    let endpoint: Endpoint<TestSocket, ()> = Endpoint::new(&config, crate::Hub::in_memory()).unwrap();
    let (_queue, outgoing) = mailbox::bounded(4);
    let tracked = endpoint.hub.shutdown().track();
    let mut writer = Writer::new(
        FrameWriter::to(tokio::io::sink()),
        Protocol::Maze,
        outgoing,
        endpoint.limits.clone(),
        "T",
        tracked,
    );
    assert!(writer.frame(Outgoing::Hold("room:1".into())).is_none());
    let broadcast = || Outgoing::Broadcast(Arc::new(Broadcast::new("room:1", "said", Value::Null)));
    for _ in 0..4 {
        assert!(writer.frame(broadcast()).is_none(), "held while the replay is fetched");
    }
    assert!(
        matches!(writer.frame(broadcast()), Some(Ending::Stop(TOO_SLOW))),
        "one more than the queue holds: too slow"
    );
}

// Two workers: a connection that never stops writing would hold one for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_always_writing_still_reads_its_client() {
    let config = Config::parse("[app]\nname = \"t\"\n").unwrap();
    let endpoint = Endpoint::new(&config, crate::Hub::in_memory()).expect("valid patterns");
    let shutdown = endpoint.hub.shutdown().clone();
    let connect = Connect {
        session: Default::default(),
        cookies: Default::default(),
        params: Default::default(),
        state: (),
    };
    let limits = endpoint.limits.clone();
    let (reader, outgoing) = Reader::new(TestSocket, connect, endpoint, Protocol::Maze);
    let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sink =
        Flooding { link: reader.conn.link.clone(), awaited: "not joined", seen: answered.clone(), polls: 0 };
    let writer =
        Writer::new(FrameWriter::to(sink), Protocol::Maze, outgoing, limits, "TestSocket", shutdown.track());
    let (client, frames) = mpsc::unbounded_channel();
    let message = r#"{"event": "message", "topic": "room:1", "subject": "hi", "payload": {}, "ref": "r1"}"#;
    client.send(Incoming::Text(message.into())).unwrap();
    // Something to write first, so that the flood starts before the client is read.
    reader.conn.link.offer(Outgoing::Pong(Box::new(Frame::pong(b""))));
    let serving = tokio::spawn(Opened { reader, frames: ClientFrames::InProcess(frames), writer }.serve());
    let read = async {
        while !answered.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("the client's message is read and answered while the writer is busy");
    drop(client);
    tokio::time::timeout(std::time::Duration::from_secs(10), serving)
        .await
        .expect("the connection ends with its client")
        .unwrap();
}
