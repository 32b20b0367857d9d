//! A generated app, built and run: `maze new` + `g socket` (two channels) +
//! `g channel`, compiled with clippy and rustfmt held to `-D warnings` and
//! `--check`, then served and driven by a real WebSocket client and by
//! headless Chromium.
//!
//! Every generated app a test builds shares one target folder
//! (`target/apps`, or `$MAZE_APPS_TARGET_DIR`), so the runtime and its
//! dependencies compile once.

mod common;

use common::browser::{Browser, Tab};
use common::running::{
    BuiltApp, Server, apps_target_dir, cargo, cargo_output, phoenix_presence, receive, send,
};
use common::{maze, temp_dir};
use serde_json::{Value, json};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

/// What the app's `[metrics]` take as a token (the dashboard's too).
const DASHBOARD_TOKEN: &str = "let-me-see";

/// The app every test here uses, generated and built once.
fn app() -> &'static BuiltApp {
    static APP: OnceLock<BuiltApp> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = temp_dir().keep();
        maze(&dir).args(["new", "chat"]).assert().success();
        let root = dir.join("chat");
        maze(&root).args(["g", "socket", "ChatSocket", "chat_room", "lobby"]).assert().success();
        maze(&root).args(["g", "channel", "Presence", "--topic", "presence"]).assert().success();
        // Tracks who is on room:* (guests by the name their page makes up).
        maze(&root).args(["g", "channel", "Room", "--presence"]).assert().success();
        maze(&root).args(["g", "controller", "Posts", "index", "show"]).assert().success();
        // Sorts before `home`: its `pub mod` must not upset rustfmt.
        maze(&root).args(["g", "controller", "About"]).assert().success();
        maze(&root).args(["g", "resource", "Orders"]).assert().success();
        // A controller the user edits, then adds an action to and takes one from:
        // the edit stays, and so does the module the other actions need.
        maze(&root).args(["g", "controller", "Session", "sign_in", "sign_out", "gone"]).assert().success();
        let session = root.join("src/controllers/session.rs");
        let source = std::fs::read_to_string(&session).unwrap();
        let edited = source.replace(r#"Html("<h1>session#sign_in</h1>")"#, r#"Html("<h1>Sign in</h1>")"#);
        assert_ne!(source, edited, "the controller template changed: update this test's edit");
        std::fs::write(&session, edited).unwrap();
        maze(&root).args(["g", "controller", "Session", "me"]).assert().success();
        maze(&root).args(["g", "controller", "Session", "sign_in", "--skip"]).assert().success();
        maze(&root).args(["d", "controller", "Session", "gone"]).assert().success();
        // A socket whose on_connect refuses visitors without a signed-in
        // session; no channel yet.
        maze(&root).args(["g", "socket", "Locked"]).assert().success();
        let locked = root.join("src/sockets/locked_socket.rs");
        let source = std::fs::read_to_string(&locked).unwrap();
        let guarded = source.replace(
            "and_then(Value::as_i64);\n        true",
            "and_then(Value::as_i64);\n        self.user_id.is_some()",
        );
        assert_ne!(source, guarded, "the socket template changed: update this test's edit");
        std::fs::write(&locked, guarded).unwrap();
        // Its generated tests connect guests, which it now refuses: as the app's
        // author would, drop them.
        std::fs::remove_file(root.join("tests/locked_socket.rs")).unwrap();

        // Ping every second, so a test can watch the keep-alive.
        let config = root.join("maze.toml");
        let settings = std::fs::read_to_string(&config).unwrap();
        let settings = settings.replace("ping_interval = 30", "ping_interval = 1");
        // The live dashboard, for loopback and for whoever shows the token.
        let settings = format!(
            "{settings}\n[dashboard]\npath = \"/maze/dashboard\"\n\n[metrics]\ntrust_loopback = true\ntoken = \"{DASHBOARD_TOKEN}\"\n"
        );
        std::fs::write(&config, settings).unwrap();

        cargo(&root, &["build", "--quiet"]);
        BuiltApp { binary: apps_target_dir().join("debug/chat"), root }
    })
}

#[test]
fn the_generated_app_passes_clippy_and_rustfmt() {
    let app = app();
    cargo(&app.root, &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"]);
    cargo(&app.root, &["fmt", "--check"]);
}

fn visitor_broadcast(topic: &str) -> Value {
    json!({"event": "message", "topic": topic, "subject": "message_new", "payload": {"message": "A new visitor!"}})
}

fn reply(reference: &str, topic: &str, status: &str, response: Value) -> Value {
    json!({"event": "reply", "ref": reference, "topic": topic, "payload": {"status": status, "response": response}})
}

#[test]
fn sockets_and_channels_work_end_to_end() {
    let server = Server::start(app());
    assert!(server.get("/maze.js").contains("export class Socket"));
    assert!(server.get("/js/sockets/chat_socket.js").contains("new Socket(\"/chat\")"));

    let mut alice = server.connect("/chat");
    let mut bob = server.connect("/chat");
    send(&mut alice, json!({"event": "join", "topic": "chat_room:123", "ref": "1"}));
    assert_eq!(receive(&mut alice), reply("1", "chat_room:123", "ok", json!({})));
    // Amber's client joins without a ref and expects no reply; a later ref'd frame shows it was taken.
    send(&mut bob, json!({"event": "join", "topic": "chat_room:123"}));
    send(&mut bob, json!({"event": "join", "topic": "presence", "ref": "b1"}));
    assert_eq!(receive(&mut bob), reply("b1", "presence", "ok", json!({})));

    // Visiting / runs the controller's ChatSocket::broadcast.
    let page = server.get("/");
    assert!(page.contains("<script type=\"module\" src=\"/js/app.js\">"), "{page}");
    assert_eq!(receive(&mut alice), visitor_broadcast("chat_room:123"));
    let mut bob_got = vec![receive(&mut bob), receive(&mut bob)];
    bob_got.sort_by_key(|frame| frame["topic"].to_string());
    assert_eq!(bob_got, [visitor_broadcast("chat_room:123"), visitor_broadcast("presence")]);

    // A pushed message reaches every subscriber, the sender included, tagged
    // with the sender's user id (a guest's is null); then the push's reply.
    send(
        &mut alice,
        json!({"event": "message", "topic": "chat_room:123", "subject": "message_new", "payload": {"message": "hello"}, "ref": "2"}),
    );
    let relayed = json!({"event": "message", "topic": "chat_room:123", "subject": "message_new", "payload": {"message": "hello", "user_id": null}});
    assert_eq!(receive(&mut alice), relayed);
    assert_eq!(receive(&mut alice), reply("2", "chat_room:123", "ok", json!({})));
    assert_eq!(receive(&mut bob), relayed);

    // Errors get replies, never silence.
    send(&mut alice, json!({"event": "join", "topic": "nowhere:1", "ref": "3"}));
    assert_eq!(receive(&mut alice), reply("3", "nowhere:1", "error", json!({"reason": "unmatched topic"})));
    send(&mut alice, json!({"event": "join", "topic": "nowhere:2"}));
    assert_eq!(receive(&mut alice)["payload"]["status"], "error", "even without a ref");
    send(&mut alice, json!({"event": "message", "topic": "lobby:1", "subject": "x", "ref": "4"}));
    assert_eq!(receive(&mut alice), reply("4", "lobby:1", "error", json!({"reason": "not joined"})));
    alice.send(Message::text("{not json")).unwrap();
    assert_eq!(receive(&mut alice)["payload"]["status"], "error");

    // After leaving, a topic's broadcasts stop arriving.
    send(&mut alice, json!({"event": "leave", "topic": "chat_room:123", "ref": "5"}));
    assert_eq!(receive(&mut alice), reply("5", "chat_room:123", "ok", json!({})));
    server.get("/");
    assert_eq!(
        receive(&mut bob)["topic"].as_str().map(|t| t == "chat_room:123" || t == "presence"),
        Some(true)
    );
    // The broadcast was queued for every subscriber before the request
    // returned, so had it reached alice it would come before this join's reply.
    // A topic on another socket is not reachable from this one.
    send(&mut alice, json!({"event": "join", "topic": "locked:1", "ref": "6"}));
    assert_eq!(receive(&mut alice), reply("6", "locked:1", "error", json!({"reason": "unmatched topic"})));
}

#[test]
fn the_server_pings_at_the_interval_from_maze_toml() {
    let server = Server::start(app());
    let mut ws = server.connect("/chat");
    let started = Instant::now();
    let (mut control_ping, mut text_ping) = (false, false);
    while !(control_ping && text_ping) {
        match ws.read() {
            Ok(Message::Ping(_)) => control_ping = true,
            Ok(Message::Text(text)) => text_ping |= text.as_str() == "ping",
            other => panic!("expected pings, got {other:?}"),
        }
    }
    // Well under the default 30 s, with room for a loaded machine.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "both pings at the 1 s interval, not the default 30 s"
    );
}

#[test]
fn on_connect_returning_false_closes_the_connection() {
    let server = Server::start(app());
    let mut ws = server.connect("/locked");
    match ws.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Policy),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[test]
fn in_headless_chromium_the_page_joins_receives_and_pushes() {
    let server = Server::start(app());
    let mut browser = Browser::launch();
    browser.call("Page.navigate", json!({"url": format!("http://127.0.0.1:{}/", server.port)}));
    let box_state = r#"document.querySelector('[data-topic="chat_room:123"]')?.dataset.state ?? null"#;
    browser.wait_for(box_state, json!("joined"));
    // With channels on the page, it no longer suggests generating a socket.
    let hint = r#"getComputedStyle(document.querySelector(".maze-hint")).display"#;
    assert_eq!(browser.eval(hint), json!("none"));

    // Another visit broadcasts to the page.
    server.get("/");
    let messages = r#"[...document.querySelectorAll('[data-topic="chat_room:123"] li')].map(li => li.textContent).join("|")"#;
    browser.wait_for(messages, json!("A new visitor!"));

    // The page's form pushes; a WebSocket client on the same topic receives it.
    let mut listener = server.connect("/chat");
    send(&mut listener, json!({"event": "join", "topic": "chat_room:123", "ref": "1"}));
    assert_eq!(receive(&mut listener)["payload"]["status"], "ok");
    browser.say("chat_room:123", "from the browser");
    assert_eq!(
        receive(&mut listener),
        json!({"event": "message", "topic": "chat_room:123", "subject": "message_new", "payload": {"message": "from the browser", "user_id": null}})
    );
    browser.wait_for(messages, json!("A new visitor!|from the browser"));
}

#[test]
fn in_headless_chromium_the_page_rejoins_after_the_server_restarts() {
    let app = app();
    let server = Server::start(app);
    let port = server.port;
    let mut browser = Browser::launch();
    browser.call("Page.navigate", json!({"url": format!("http://127.0.0.1:{port}/")}));
    let box_state = r#"document.querySelector('[data-topic="lobby:123"]')?.dataset.state ?? null"#;
    browser.wait_for(box_state, json!("joined"));
    browser.eval("window.sameDocument = true");

    drop(server);
    let server = Server::start_on(app, port);
    // The new server knows no subscribers: a visit reaches the page only once it has rejoined.
    let messages = r#"[...document.querySelectorAll('[data-topic="lobby:123"] li')].length > 0"#;
    let deadline = Instant::now() + Duration::from_secs(20);
    while browser.eval(messages) != json!(true) {
        assert!(Instant::now() < deadline, "the page did not rejoin lobby:123 after the restart");
        server.get("/");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(browser.eval("window.sameDocument === true"), json!(true), "rejoined without a reload");
}

#[test]
fn the_official_phoenix_client_joins_pushes_receives_and_heartbeats() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        js.join("node_modules/phoenix").is_dir(),
        "the phoenix npm client is not installed: run `npm ci --prefix tests/js` (.ci/run does)"
    );
    let server = Server::start(app());
    let output = Command::new("node")
        .arg("phoenix_client.mjs")
        .arg(server.port.to_string())
        .current_dir(&js)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let checks: Value = stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .map(|line| (line["check"].as_str().unwrap().to_string(), line["value"].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into();
    assert_eq!(checks["join"], "ok");
    assert_eq!(checks["push"], "ok");
    assert_eq!(checks["broadcast"], json!({"message": "A new visitor!"}));
    assert!(checks["heartbeats"].as_u64().unwrap() >= 3, "{checks}");
    assert_eq!(checks["connected"], true);
}

#[test]
fn in_headless_chromium_two_tabs_chat() {
    let server = Server::start(app());
    let url = format!("http://127.0.0.1:{}/", server.port);
    let (mut first, mut second) = (Browser::launch(), Browser::launch());
    let joined = r#"document.querySelector('[data-topic="lobby:123"]')?.dataset.state ?? null"#;
    for tab in [&mut first, &mut second] {
        tab.call("Page.navigate", json!({"url": url}));
        tab.wait_for(joined, json!("joined"));
    }
    let said = r#"[...document.querySelectorAll('[data-topic="lobby:123"] li')].map(li => li.textContent).filter(t => t.startsWith("tab")).join("|")"#;
    first.say("lobby:123", "tab one here");
    second.wait_for(said, json!("tab one here"));
    second.say("lobby:123", "tab two here");
    first.wait_for(said, json!("tab one here|tab two here"));
    second.wait_for(said, json!("tab one here|tab two here"));
}

/// Makes the page's WebSockets fail as a proxy that drops upgrades does:
/// `"fail"` closes each one before it opens, `"hang"` never opens it.
fn without_websockets(tab: &mut Tab, how: &str) {
    let source = format!(
        r#"window.webSocketTries = 0;
        window.WebSocket = class extends EventTarget {{
          constructor(url) {{
            super();
            window.webSocketTries++;
            this.readyState = 0;
            if ("{how}" === "fail") setTimeout(() => {{
              this.readyState = 3;
              if (this.onerror) this.onerror(new Event("error"));
              if (this.onclose) this.onclose({{ code: 1006, reason: "", wasClean: false }});
            }}, 50);
          }}
          send() {{ throw new Error("not open"); }}
          close() {{ this.readyState = 3; }}
        }};"#
    );
    tab.call("Page.enable", json!({}));
    tab.call("Page.addScriptToEvaluateOnNewDocument", json!({"source": source}));
}

#[test]
fn in_headless_chromium_pages_without_websockets_chat_and_see_presence_over_long_poll() {
    let server = Server::start(app());
    let url = format!("http://127.0.0.1:{}/", server.port);
    let (mut blocked, mut open) = (Browser::launch(), Browser::launch());
    // Two tabs whose WebSockets never work (one fails at once, one never
    // opens: the fallback waits fallbackMs), and a page on WebSocket.
    without_websockets(&mut blocked, "fail");
    blocked.call("Page.navigate", json!({"url": url}));
    let mut hanging = blocked.open_tab("about:blank");
    without_websockets(&mut hanging, "hang");
    hanging.call("Page.navigate", json!({"url": url}));
    open.call("Page.navigate", json!({"url": url}));
    let joined =
        |topic: &str| format!(r#"document.querySelector('[data-topic="{topic}"]')?.dataset.state ?? null"#);
    let long_polls =
        r#"performance.getEntriesByType("resource").some(entry => entry.name.includes("/chat/longpoll"))"#;
    for tab in [&mut *blocked, &mut hanging, &mut *open] {
        tab.wait_for(&joined("lobby:123"), json!("joined"));
        tab.wait_for(&joined("room:123"), json!("joined"));
    }
    for tab in [&mut *blocked, &mut hanging] {
        assert_eq!(tab.eval(long_polls), json!(true));
        assert_eq!(tab.eval("window.webSocketTries >= 1"), json!(true));
        assert_eq!(
            tab.eval(r#"sessionStorage.getItem("maze:longpoll")"#),
            json!("1"),
            "remembered for the session"
        );
    }
    assert_eq!(open.eval(long_polls), json!(false), "the WebSocket page does not long-poll");

    // Long-poll tab to long-poll tab and to WebSocket, and back.
    let said = r#"[...document.querySelectorAll('[data-topic="lobby:123"] li')].map(li => li.textContent).filter(t => t.startsWith("over")).join("|")"#;
    blocked.say("lobby:123", "over long-poll");
    hanging.wait_for(said, json!("over long-poll"));
    open.wait_for(said, json!("over long-poll"));
    open.say("lobby:123", "over WebSocket");
    for tab in [&mut *blocked, &mut hanging, &mut *open] {
        tab.wait_for(said, json!("over long-poll|over WebSocket"));
    }

    // Presence: each sees the other guest, the long-poll one in two tabs.
    let name =
        |tab: &mut Tab| tab.eval(r#"localStorage.getItem("maze-guest")"#).as_str().unwrap().to_string();
    let (polling, websocket) = (name(&mut blocked), name(&mut open));
    let mut both = [format!("{polling} (2 tabs)"), websocket];
    both.sort();
    let online = r#"[...document.querySelectorAll('[data-topic="room:123"] .online li')].map(li => li.textContent).sort().join("|")"#;
    for tab in [&mut *blocked, &mut hanging, &mut *open] {
        tab.wait_for(online, json!(both.join("|")));
    }
}

#[test]
fn the_official_phoenix_presence_class_works_on_a_maze_socket() {
    let server = Server::start(app());
    let checks = phoenix_presence(server.port, server.port);
    assert_eq!(checks["both"], json!(["guest:ada", "guest:bob"]));
    assert_eq!(checks["two_tabs"], json!({"keys": ["guest:ada", "guest:bob"], "bob_metas": 2}));
    assert_eq!(checks["one_tab_closed"], json!(["guest:ada", "guest:bob"]));
    assert_eq!(checks["bob_left"], json!(["guest:ada"]));
    assert_eq!(
        checks["events"],
        json!([
            ["join", "guest:bob", "first"],
            ["join", "guest:bob", "another tab"],
            ["leave", "guest:bob", "one tab"],
            ["leave", "guest:bob", "last"]
        ])
    );
}

#[test]
fn in_headless_chromium_the_page_shows_who_is_online() {
    let server = Server::start(app());
    let url = format!("http://127.0.0.1:{}/", server.port);
    let online = r#"[...document.querySelectorAll('[data-topic="room:123"] .online li')].map(li => li.textContent).sort().join("|")"#;
    let joined = r#"document.querySelector('[data-topic="room:123"]')?.dataset.state ?? null"#;
    // Two browsers: two guests, each with the name its page made up.
    let (mut ada, mut bob) = (Browser::launch(), Browser::launch());
    let mut names = Vec::new();
    for browser in [&mut ada, &mut bob] {
        browser.call("Page.navigate", json!({"url": url}));
        browser.wait_for(joined, json!("joined"));
        names.push(browser.eval(r#"localStorage.getItem("maze-guest")"#).as_str().unwrap().to_string());
    }
    names.sort();
    assert_ne!(names[0], names[1]);
    let both = json!(names.join("|"));
    ada.wait_for(online, both.clone());
    bob.wait_for(online, both.clone());

    // Bob's second tab: still one bob, with two tabs.
    let bob_name = bob.eval(r#"localStorage.getItem("maze-guest")"#).as_str().unwrap().to_string();
    let mut second = bob.open_tab(&url);
    second.wait_for(joined, json!("joined"));
    let with_tabs = |name: &str| {
        let mut lines: Vec<String> =
            names.iter().map(|n| if n == name { format!("{n} (2 tabs)") } else { n.clone() }).collect();
        lines.sort();
        json!(lines.join("|"))
    };
    ada.wait_for(online, with_tabs(&bob_name));
    second.wait_for(online, with_tabs(&bob_name));

    // Closing that tab, then the browser: bob's tabs, then bob, leave.
    bob.close_tab(second);
    ada.wait_for(online, both);
    drop(bob);
    let ada_name = ada.eval(r#"localStorage.getItem("maze-guest")"#);
    ada.wait_for(online, ada_name);
}

#[test]
fn a_bad_maze_toml_is_reported_readably_and_exits_1() {
    let app = app();
    let dir = temp_dir();
    let config = dir.path().join("maze.toml");
    std::fs::write(&config, "[app]\nname = \"chat\"\nprot = 3000\n").unwrap();
    let output = Command::new(&app.binary).env("MAZE_CONFIG", &config).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: maze.toml is invalid\n"), "{stderr}");
    assert!(stderr.contains("\n3 | prot = 3000\n"), "the caret display, on lines of its own: {stderr}");
    assert!(stderr.contains("unknown field `prot`"), "{stderr}");
}

#[test]
fn the_runtime_route_table_equals_maze_routes() {
    let app = app();
    let run = |args: &[&str]| Command::new(&app.binary).args(args).current_dir(&app.root).output().unwrap();
    let output = run(&["routes", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let runtime: Value = serde_json::from_slice(&output.stdout).unwrap();
    let listed = maze(&app.root).args(["routes", "--json"]).output().unwrap();
    let maze_routes: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(runtime, maze_routes);
    // The table, as `maze routes` prints it.
    let table = run(&["routes"]);
    assert_eq!(
        String::from_utf8_lossy(&table.stdout),
        common::stdout(&maze(&app.root).arg("routes").output().unwrap())
    );
    // --help answers (and does not serve); a stray argument is an error.
    let help = run(&["--help"]);
    assert!(help.status.success() && common::stdout(&help).contains("routes --json"), "{help:?}");
    let stray = run(&["--port", "3000"]);
    assert_eq!(stray.status.code(), Some(1));
    assert!(common::stderr(&stray).contains("unexpected arguments `--port 3000`"), "{stray:?}");
    let paths: Vec<&str> = runtime.as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap()).collect();
    let verbs: Vec<&str> = runtime.as_array().unwrap().iter().map(|r| r["verb"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/",
            "/posts",
            "/posts/{id}",
            "/about",
            "/orders",
            "/orders/{id}",
            "/orders/new",
            "/orders",
            "/orders/{id}/edit",
            "/orders/{id}",
            "/orders/{id}",
            "/orders/{id}",
            "/session/sign_in",
            "/session/sign_out",
            "/session/me",
            "/chat",
            "/locked"
        ]
    );
    assert_eq!(verbs[4..12], ["GET", "GET", "GET", "POST", "GET", "PUT", "PATCH", "DELETE"]);
}

#[test]
fn the_generated_tests_pass_and_guard_the_channels_rebroadcast_and_refusal() {
    let app = app();
    cargo(&app.root, &["test", "--quiet"]);

    // A copy of the app whose chat_room channel no longer broadcasts what it is sent.
    let dir = temp_dir();
    let copy = dir.path().join("chat");
    copy_app(&app.root, &copy);
    let channel = copy.join("src/channels/chat_room_channel.rs");
    let source = std::fs::read_to_string(&channel).unwrap();
    let silent = source.replace("        ctx.broadcast(&message.subject, payload);\n", "");
    assert_ne!(source, silent, "the channel template changed: update this test's edit");
    // ...and that answers every push with ok, the blank message too.
    let refusal = r#"return ctx.reply_error(json!({"reason": "empty message"}));"#;
    let always_ok = silent.replace(refusal, "return;");
    assert_ne!(silent, always_ok, "the channel template changed: update this test's edit");
    std::fs::write(&channel, always_ok).unwrap();

    let output = cargo_output(&copy, &["test", "--test", "chat_room_channel"]);
    assert!(!output.status.success(), "the channel's tests passed without the rebroadcast and the refusal");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report.contains("a_pushed_message_reaches_every_client_tagged_with_its_sender ... FAILED"),
        "{report}"
    );
    assert!(report.contains("a_blank_message_is_refused_with_its_reason ... FAILED"), "{report}");
    assert!(
        report.contains("test a_client_joins ... ok"),
        "only the broken behaviours' tests fail: {report}"
    );
}

/// Copies an app's sources (not its build output) to `to`.
fn copy_app(from: &std::path::Path, to: &std::path::Path) {
    for (relative, bytes) in common::tree(from) {
        let target = to.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

#[test]
fn the_home_page_has_a_favicon() {
    let server = Server::start(app());
    assert!(server.get("/").contains(r#"<link rel="icon" href="/favicon.svg">"#));
    assert!(server.get("/favicon.svg").starts_with("<svg"));
}

#[test]
fn a_generated_controller_serves_its_actions() {
    let server = Server::start(app());
    assert!(server.get("/posts").contains("posts#index"));
    assert!(server.get("/posts/42").contains("posts#show 42"));
    assert!(server.get("/orders/7/edit").contains("orders#edit 7"));
    assert!(server.get("/orders/new").contains("orders#new"));
    // The action added to the edited controller, and the edit kept.
    assert!(server.get("/session/me").contains("session#me"));
    assert!(server.get("/session/sign_in").contains("Sign in"));
    assert!(server.get("/about").contains("about#index"));
}

/// The README's "chat that remembers" example, applied to a generated app
/// exactly as written there: each `rust,ignore` block replaces the file its
/// first line names, the `toml` block goes under `[dependencies]`. The app
/// is named `remember` here (its binary would clash with [`app`]'s `chat` in
/// the shared target folder), so the README's `chat::` paths become `remember::`.
fn readme_app() -> &'static BuiltApp {
    static APP: OnceLock<BuiltApp> = OnceLock::new();
    APP.get_or_init(|| {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
        let start = readme.find("### Example: a chat that remembers").expect("the README's example");
        let section = &readme[start..];
        let section = &section[..section[4..].find("\n### ").map_or(section.len(), |end| end + 4)];

        let dir = temp_dir().keep();
        maze(&dir).args(["new", "remember"]).assert().success();
        let root = dir.join("remember");
        maze(&root).args(["g", "socket", "ChatSocket", "chat_room"]).assert().success();
        maze(&root).args(["g", "controller", "Session", "sign_in"]).assert().success();
        let mut applied = 0;
        for block in section.split("```").skip(1).step_by(2) {
            let (lang, body) = block.split_once('\n').unwrap();
            let (first, rest) = body.split_once('\n').unwrap();
            match lang {
                "rust,ignore" => {
                    let path = first.strip_prefix("// ").expect("a block starts with its file's path");
                    std::fs::write(root.join(path), rest.replace("chat::", "remember::")).unwrap();
                }
                "toml" => {
                    assert_eq!(first, "# Cargo.toml, [dependencies]");
                    let manifest = root.join("Cargo.toml");
                    let text = std::fs::read_to_string(&manifest).unwrap();
                    std::fs::write(
                        &manifest,
                        text.replace("[dependencies]\n", &format!("[dependencies]\n{rest}")),
                    )
                    .unwrap();
                }
                other => panic!("unexpected block {other:?} in the README's example"),
            }
            applied += 1;
        }
        assert_eq!(applied, 7, "the README's example has seven blocks");
        cargo(&root, &["build", "--quiet"]);
        BuiltApp { binary: apps_target_dir().join("debug/remember"), root }
    })
}

fn history(ws: &mut WebSocket<TcpStream>, topic: &str) -> Vec<Value> {
    send(ws, json!({"event": "join", "topic": topic, "ref": "h"}));
    let reply = receive(ws);
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
    reply["payload"]["response"]["messages"].as_array().unwrap().clone()
}

#[test]
fn the_readme_sqlite_example_stores_tagged_messages_and_replays_the_last_50() {
    let app = readme_app();
    let db_dir = temp_dir();
    let db_path = db_dir.path().join("chat.db");
    let server = Server::start_with(app, 0, &[("CHAT_DB", db_path.to_str().unwrap())]);

    // A signed-in user says 55 things; the stored messages carry the user.
    let cookie = server.session_cookie("/session/sign_in?user_id=7");
    let mut ada = server.connect_with_cookie("/chat", &cookie);
    assert_eq!(history(&mut ada, "chat_room:1"), Vec::<Value>::new());
    for n in 0..55 {
        send(
            &mut ada,
            json!({"event": "message", "topic": "chat_room:1", "subject": "message_new", "payload": {"message": format!("m{n}")}}),
        );
        assert_eq!(receive(&mut ada)["payload"], json!({"message": format!("m{n}"), "user_id": 7}));
    }
    let mut guest = server.connect("/chat");
    let last = history(&mut guest, "chat_room:1");
    assert_eq!(last.len(), 50, "the join reply carries the last 50");
    assert_eq!(last[0], json!({"message": "m5", "user_id": 7}));
    assert_eq!(last[49], json!({"message": "m54", "user_id": 7}));
    assert_eq!(history(&mut guest, "chat_room:2"), Vec::<Value>::new(), "per topic");

    // The page in Chromium, signed in as user 9, says something through its form.
    let mut browser = Browser::launch();
    let base = format!("http://127.0.0.1:{}", server.port);
    browser.call("Page.navigate", json!({"url": format!("{base}/session/sign_in?user_id=9")}));
    let box_state = r#"document.querySelector('[data-topic="chat_room:123"]')?.dataset.state ?? null"#;
    browser.wait_for(box_state, json!("joined"));
    browser.say("chat_room:123", "from the browser");
    let messages = r#"[...document.querySelectorAll('[data-topic="chat_room:123"] li')].map(li => li.textContent).join("|")"#;
    browser.wait_for(messages, json!("from the browser"));
    assert_eq!(history(&mut guest, "chat_room:123"), [json!({"message": "from the browser", "user_id": 9})]);

    // It is all in the database file.
    let db = rusqlite::Connection::open(&db_path).unwrap();
    let count = |sql: &str| db.query_row(sql, [], |row| row.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM messages WHERE topic = 'chat_room:1' AND user_id = 7"), 55);
    assert_eq!(count("SELECT COUNT(*) FROM messages WHERE user_id = 9"), 1);
}

#[test]
fn in_headless_chromium_maze_js_settles_held_pushes_with_a_refused_join_and_sends_params() {
    let server = Server::start(app());
    let mut browser = Browser::launch();
    browser.call("Page.navigate", json!({"url": format!("http://127.0.0.1:{}/", server.port)}));
    let box_state = r#"document.querySelector('[data-topic="chat_room:123"]')?.dataset.state ?? null"#;
    browser.wait_for(box_state, json!("joined"));
    let outcome = browser.eval(
        r#"(async () => {
            const Maze = (await import("/maze.js")).default;
            const socket = new Maze.Socket("/chat", { params: { token: "t 1" } });
            await socket.connect();
            const channel = socket.channel("nowhere:1");
            const held = channel.push("message_new", { message: "too early" });
            const joined = channel.join();
            const settle = (push) => push.then(() => "ok", (error) => `error: ${error.message}`);
            return { join: await settle(joined), held: await settle(held), url: socket.url() };
        })()"#,
    );
    assert_eq!(outcome["join"], "error: unmatched topic");
    assert_eq!(outcome["held"], "error: unmatched topic", "the held push settles with the join's refusal");
    assert!(outcome["url"].as_str().unwrap().ends_with("/chat?token=t+1"), "{outcome}");
}

/// A GET's status code, with `headers` (`Name: value\r\n` lines).
fn status_of(port: u16, path: &str, headers: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

#[test]
fn the_dashboard_is_for_allowed_peers_only() {
    let app = app();
    let server = Server::start(app);
    // From loopback, trusted here; a wrong token is refused from anywhere.
    assert_eq!(status_of(server.port, "/maze/dashboard", ""), 200);
    assert_eq!(status_of(server.port, "/maze/dashboard?token=wrong", ""), 401);
    assert_eq!(status_of(server.port, "/maze/dashboard", "Authorization: Bearer wrong\r\n"), 401);
    assert_eq!(status_of(server.port, &format!("/maze/dashboard?token={DASHBOARD_TOKEN}"), ""), 200);

    // With loopback not trusted, only the token opens it.
    let dir = temp_dir();
    let settings = std::fs::read_to_string(app.root.join("maze.toml")).unwrap();
    let untrusted = dir.path().join("maze.toml");
    std::fs::write(&untrusted, settings.replace("trust_loopback = true", "trust_loopback = false")).unwrap();
    let strict = Server::start_with(app, 0, &[("MAZE_CONFIG", untrusted.to_str().unwrap())]);
    assert_eq!(status_of(strict.port, "/maze/dashboard", ""), 401);
    assert_eq!(status_of(strict.port, &format!("/maze/dashboard?token={DASHBOARD_TOKEN}"), ""), 200);

    // Its socket refuses a client without the page's token.
    let refused = tungstenite::connect(format!("ws://127.0.0.1:{}/maze/dashboard/socket", server.port));
    let mut ws = refused.expect("the upgrade itself is accepted").0;
    match ws.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Policy),
        other => panic!("expected a 1008 close, got {other:?}"),
    }
}

#[test]
fn in_headless_chromium_the_dashboard_shows_a_chat_live() {
    let server = Server::start(app());
    let mut browser = Browser::launch();
    browser.call("Page.navigate", json!({"url": format!("http://127.0.0.1:{}/maze/dashboard", server.port)}));
    browser.wait_for(r#"document.getElementById("state")?.textContent ?? null"#, json!("live"));

    // Two visitors chat on room:123 (a channel with presence).
    let page = format!("http://127.0.0.1:{}/", server.port);
    let joined = r#"document.querySelector('[data-topic="room:123"]')?.dataset.state ?? null"#;
    let mut tabs: Vec<_> = (0..2).map(|_| browser.open_tab(&page)).collect();
    for tab in &mut tabs {
        tab.wait_for(joined, json!("joined"));
    }

    // The dashboard shows the room's two subscribers and the guest present
    // in both tabs (one browser: one guest)...
    let cell = |table: &str, topic: &str, column: usize| {
        format!(
            r#"(() => {{
                const row = [...document.querySelectorAll('[data-table="{table}"] tr')]
                    .find(tr => tr.cells[0]?.textContent === "{topic}");
                return row ? row.cells[{column}].textContent : null;
            }})()"#
        )
    };
    browser.wait_for(&cell("topics", "room:123", 1), json!("2"));
    let present = format!(r"/^guest:guest-\d+ \(2\)$/.test({} ?? '')", cell("presences", "room:123", 1));
    browser.wait_for(&present, json!(true));
    let connections =
        r#"Number(document.querySelector('[data-number="connections"] b')?.textContent ?? 0) >= 2"#;
    browser.wait_for(connections, json!(true));

    // ...and the messages in, after the visitors talk.
    for text in ["hello", "hi there", "how are you"] {
        tabs[0].say("room:123", text);
    }
    let rate_rose =
        "(window.mazeDashboard?.instances ?? []).some(i => i.series.some(p => p.in > 0 && p.out > 0))";
    browser.wait_for(rate_rose, json!(true));

    // A screenshot for the README: `MAZE_SCREENSHOT=docs/dashboard.png cargo test ...`
    // writes it there; otherwise it goes to target/ and is checked for content.
    // Five seconds of samples in the charts, the whole page in view.
    let samples = "Math.min(...(window.mazeDashboard?.instances ?? []).map(i => i.series.length)) >= 5";
    browser.wait_for(samples, json!(true));
    let size = json!({"width": 1000, "height": 600, "deviceScaleFactor": 1, "mobile": false});
    browser.call("Emulation.setDeviceMetricsOverride", size);
    let shot = browser.call("Page.captureScreenshot", json!({"format": "png"}));
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "an empty screenshot: {} bytes", png.len());
    let target = std::env::var_os("MAZE_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard.png"));
    std::fs::write(target, png).unwrap();
    for tab in tabs {
        browser.close_tab(tab);
    }
}

#[test]
fn the_dashboard_lists_refusals_with_their_reasons_and_nothing_of_the_client() {
    let server = Server::start(app());
    let page = server.get("/maze/dashboard");
    let token = page.split("data-token=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();
    let mut viewer = server.connect(&format!("/maze/dashboard/socket?token={token}"));
    send(&mut viewer, json!({"event": "join", "topic": "maze:dashboard", "ref": "1"}));
    assert_eq!(receive(&mut viewer)["payload"]["status"], "ok");

    // A guest refused by the locked socket, with a param that must not show.
    let mut refused = server.connect("/locked?secret_param=do-not-show");
    assert!(matches!(refused.read(), Ok(Message::Close(Some(_)))));

    let deadline = Instant::now() + Duration::from_secs(15);
    let recent = loop {
        let view = receive(&mut viewer);
        let recent = view["payload"]["instances"][0]["recent"].clone();
        if recent.as_array().is_some_and(|recent| !recent.is_empty()) {
            break recent;
        }
        assert!(Instant::now() < deadline, "no refusal listed: {view}");
    };
    assert_eq!(recent[0]["what"], "connect refused", "{recent}");
    let detail = recent[0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("sockets::locked_socket::LockedSocket: "), "{detail}");
    assert!(!recent.to_string().contains("do-not-show"), "a param reached the dashboard: {recent}");
}
