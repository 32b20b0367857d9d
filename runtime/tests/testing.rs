//! `maze::testing`: the in-process harness itself, against a socket and
//! channels that exercise each of its assertions. Tests run in parallel in
//! one process, so each uses topics of its own.

use maze::prelude::*;
use maze::testing::{self, TestApp};
use std::time::Duration;

#[derive(Default)]
struct ChatSocket {
    user_id: Option<i64>,
    theme: String,
    token: Option<String>,
}

#[derive(Clone)]
struct AppState {
    motd: &'static str,
}

impl Socket for ChatSocket {
    fn channels(channels: &mut Channels<Self>) {
        channels.add::<RoomChannel>("room:*");
    }

    async fn on_connect(&mut self, conn: &Connect) -> bool {
        self.user_id = conn.session().get("user_id").and_then(Value::as_i64);
        self.theme = conn.cookies().get("theme").unwrap_or("light").to_string();
        self.token = conn.params().get("token").map(str::to_string);
        match conn.params().get("banned") {
            Some("") => false,
            Some(why) => conn.refuse(&format!("banned: {why}")),
            None => true,
        }
    }

    fn id(&self) -> Option<String> {
        self.user_id.map(|id| format!("user:{id}"))
    }
}

#[derive(Default)]
struct RoomChannel;

impl Channel<ChatSocket> for RoomChannel {
    async fn join(&mut self, ctx: &mut Context<'_, ChatSocket>, payload: Value) -> Result<Value, String> {
        if payload["refuse"] == true {
            return Err("refused by request".into());
        }
        ctx.push("welcome", json!({"topic": ctx.topic()}));
        let socket = ctx.socket();
        Ok(json!({"user_id": socket.user_id, "theme": socket.theme, "token": socket.token}))
    }

    async fn message(&mut self, ctx: &mut Context<'_, ChatSocket>, message: Message) {
        match message.subject.as_str() {
            "to_others" => ctx.broadcast_from("said", message.payload),
            "to_me" => ctx.push("private", message.payload),
            "panic" => panic!("a channel callback panicked (on purpose)"),
            "empty" => ctx.reply_error(json!({"reason": "empty message"})),
            "no_reason" => ctx.reply_error(json!({"code": 7})),
            "answer" => ctx.reply(json!({"answer": 42})),
            _ => ctx.rebroadcast(message),
        }
    }

    async fn leave(&mut self, ctx: &mut Context<'_, ChatSocket>) {
        ctx.broadcast_from("left", json!({"user_id": ctx.socket().user_id}));
    }
}

#[tokio::test]
async fn a_push_answered_with_an_error_is_err_and_with_a_response_is_ok() {
    let mut client = testing::connect::<ChatSocket>().await.unwrap();
    client.join("room:replies", json!({})).await.unwrap();
    assert_eq!(client.push("room:replies", "empty", json!({})).await, Err("empty message".to_string()));
    let without_reason = client.push("room:replies", "no_reason", json!({})).await;
    assert_eq!(without_reason, Err(r#"{"code":7}"#.to_string()), "the whole response when it has no reason");
    assert_eq!(client.push("room:replies", "answer", json!({})).await, Ok(json!({"answer": 42})));
    assert_eq!(client.push("room:replies", "anything", json!({})).await, Ok(json!({})));
}

#[tokio::test]
async fn the_connection_sees_the_session_cookies_params_and_state() {
    let mut client = testing::connect::<ChatSocket>()
        .session("user_id", 7)
        .cookie("theme", "dark; or not")
        .param("token", "t0k3n")
        .await
        .unwrap();
    let reply = client.join("room:seen", json!({})).await.unwrap();
    assert_eq!(reply, json!({"user_id": 7, "theme": "dark; or not", "token": "t0k3n"}));
}

/// A socket of an app with state: its channels read it, typed.
#[derive(Default)]
struct StatefulSocket;

impl Socket<AppState> for StatefulSocket {
    fn channels(channels: &mut Channels<Self, AppState>) {
        channels.add::<MotdChannel>("motd");
    }
}

#[derive(Default)]
struct MotdChannel;

impl Channel<StatefulSocket, AppState> for MotdChannel {
    async fn join(
        &mut self,
        ctx: &mut Context<'_, StatefulSocket, AppState>,
        _: Value,
    ) -> Result<Value, String> {
        Ok(json!({"motd": ctx.state().motd}))
    }
}

#[tokio::test]
async fn channels_read_the_apps_state_typed() {
    let mut client = testing::connect::<StatefulSocket>().state(AppState { motd: "hello" }).await.unwrap();
    assert_eq!(client.join("motd", json!({})).await, Ok(json!({"motd": "hello"})));
}

#[tokio::test]
async fn a_refused_connection_is_an_error_with_its_close_code() {
    let refused = testing::connect::<ChatSocket>().param("banned", "spam").await.unwrap_err();
    assert_eq!((refused.code, refused.reason.as_str()), (1008, "banned: spam"));
    let refused = testing::connect::<ChatSocket>().param("banned", "").await.unwrap_err();
    assert_eq!((refused.code, refused.reason.as_str()), (1008, "refused by on_connect"));
}

#[tokio::test]
async fn joins_answer_with_the_reply_or_the_reason() {
    let mut client = testing::connect::<ChatSocket>().await.unwrap();
    assert_eq!(client.join("elsewhere:1", json!({})).await, Err("unmatched topic".into()));
    assert_eq!(client.join("room:join", json!({"refuse": true})).await, Err("refused by request".into()));
    assert_eq!(client.push("room:join", "hi", json!({})).await, Err("not joined".into()));
    assert!(client.join("room:join", json!({})).await.is_ok());
    // What the join pushed reaches the client after the reply.
    assert_eq!(client.assert_push("room:join", "welcome").await, json!({"topic": "room:join"}));
}

#[tokio::test]
async fn pushes_and_broadcasts_are_told_apart_and_asserted_once() {
    let (mut alice, mut bob) =
        (testing::connect::<ChatSocket>().await.unwrap(), testing::connect::<ChatSocket>().await.unwrap());
    for client in [&mut alice, &mut bob] {
        client.join("room:push", json!({})).await.unwrap();
        client.assert_push("room:push", "welcome").await;
    }

    alice.push("room:push", "to_me", json!({"n": 1})).await.unwrap();
    assert_eq!(alice.assert_push("room:push", "private").await, json!({"n": 1}));
    bob.refute_push("room:push", "private").await;
    alice.refute_broadcast("room:push", "private").await;

    // To others: bob receives it, alice does not, and it was broadcast.
    alice.push("room:push", "to_others", json!({"n": 2})).await.unwrap();
    assert_eq!(bob.assert_push("room:push", "said").await, json!({"n": 2}));
    alice.refute_push("room:push", "said").await;
    assert_eq!(alice.assert_broadcast("room:push", "said").await, json!({"n": 2}));

    // To everyone, once each.
    bob.push("room:push", "shout", json!({"n": 3})).await.unwrap();
    for client in [&mut alice, &mut bob] {
        assert_eq!(client.assert_push("room:push", "shout").await, json!({"n": 3}));
        client.refute_push("room:push", "shout").await;
    }
}

#[tokio::test]
async fn leaving_and_disconnecting_run_the_channels_leave() {
    let (mut alice, mut bob) =
        (testing::connect::<ChatSocket>().await.unwrap(), testing::connect::<ChatSocket>().await.unwrap());
    alice.join("room:leave", json!({})).await.unwrap();
    bob.join("room:leave", json!({})).await.unwrap();
    alice.leave("room:leave").await.unwrap();
    bob.assert_push("room:leave", "left").await;

    alice.join("room:leave", json!({})).await.unwrap();
    alice.disconnect().await;
    bob.assert_push("room:leave", "left").await;
}

#[tokio::test]
async fn a_panic_closes_the_connection_with_1011() {
    let mut client = testing::connect::<ChatSocket>().await.unwrap();
    client.join("room:panic", json!({})).await.unwrap();
    let result = tokio::spawn(async move {
        let _ = client.push("room:panic", "panic", json!({})).await;
    })
    .await;
    let message = result.unwrap_err().into_panic();
    let message = message.downcast_ref::<String>().unwrap();
    assert!(message.contains("no reply to \"message\" \"room:panic\""), "{message}");
    assert!(message.contains("the connection closed (Some((1011, \"internal error\")))"), "{message}");
}

#[tokio::test]
async fn disconnect_by_id_closes_the_connection() {
    let mut client = testing::connect::<ChatSocket>().session("user_id", 4242).await.unwrap();
    client.join("room:by_id", json!({})).await.unwrap();
    testing::hub().disconnect("user:4242");
    client.refute_push("room:by_id", "anything").await;
    assert_eq!(client.closed(), Some(Some((1000, "disconnected by the server".to_string()))));
}

#[tokio::test]
#[should_panic(expected = "no \"never\" on \"room:timeout\" reached the client within 20ms")]
async fn an_assertion_fails_after_the_timeout() {
    let mut client = testing::connect::<ChatSocket>().timeout(Duration::from_millis(20)).await.unwrap();
    client.join("room:timeout", json!({})).await.unwrap();
    client.assert_push("room:timeout", "never").await;
}

async fn index() -> Html<&'static str> {
    Html("<h1>Home</h1>")
}

fn routes(routes: &mut Routes) {
    routes.get("/", index).socket::<ChatSocket>("/chat");
}

#[tokio::test]
async fn a_test_app_answers_requests_in_process() {
    let app = TestApp::new(maze::App::new(routes)).await;
    let home = app.get("/").await;
    assert_eq!((home.status.as_u16(), home.body.as_str()), (200, "<h1>Home</h1>"));
    assert_eq!(app.get("/missing").await.status, 404);
    assert!(app.get("/maze.js").await.body.contains("export class Socket"));
    // No [metrics] path in the configuration: no metrics endpoint.
    assert_eq!(app.get("/metrics").await.status, 404);
}

#[tokio::test]
#[should_panic(expected = "the client received \"shout\" on \"room:refute\"")]
async fn a_refutation_fails_when_the_message_arrives() {
    let mut client = testing::connect::<ChatSocket>().await.unwrap();
    client.join("room:refute", json!({})).await.unwrap();
    client.push("room:refute", "shout", json!({})).await.unwrap();
    client.refute_push("room:refute", "shout").await;
}

#[tokio::test]
async fn a_rejoining_client_recovers_what_it_missed_once_and_in_order() {
    let topic = "room:recovered";
    let mut ada = testing::connect::<ChatSocket>().await.unwrap();
    ada.join_recovering(topic, json!({}), None).await.unwrap();
    ada.push(topic, "said", json!({"n": 1})).await.unwrap();
    assert_eq!(ada.assert_push(topic, "said").await, json!({"n": 1}));
    let seen = ada.position(topic).expect("a recovering client has a position");
    ada.disconnect().await;

    // Missed while away.
    for n in [2, 3] {
        testing::hub().broadcast(topic, "said", json!({"n": n}));
    }
    let mut back = testing::connect::<ChatSocket>().await.unwrap();
    back.join_recovering(topic, json!({}), Some(seen)).await.unwrap();
    assert_eq!(back.assert_push(topic, "said").await, json!({"n": 2}));
    assert_eq!(back.assert_push(topic, "said").await, json!({"n": 3}));
    assert_eq!(back.assert_push(topic, "maze_recovery").await["recovered"], true);
    back.refute_push(topic, "said").await; // each once
}

#[tokio::test]
async fn a_broadcast_asserted_as_received_is_not_seen_again_by_refute_broadcast() {
    let mut alice = testing::connect::<ChatSocket>().await.unwrap();
    alice.join("room:once", json!({})).await.unwrap();
    alice.push("room:once", "shout", json!({"n": 1})).await.unwrap();
    assert_eq!(alice.assert_push("room:once", "shout").await, json!({"n": 1}));
    alice.refute_broadcast("room:once", "shout").await; // asserted once, above
    alice.push("room:once", "shout", json!({"n": 2})).await.unwrap();
    assert_eq!(alice.assert_broadcast("room:once", "shout").await, json!({"n": 2}), "the next one is seen");
}
