//! `maze init` on real-shaped axum apps (`tests/fixtures/axum/`): axum's
//! hello-world, an app with state, one whose router is built in a library
//! module, one with middleware, and one with two routers (refused until the
//! developer names one). Each gets `maze g socket ChatSocket chat_room`, is
//! built, serves its own routes as before, and a maze.js page in headless
//! Chromium and the official phoenix client chat on `chat_room:123`.

mod common;

use common::browser::Browser;
use common::running::{BuiltApp, Server, apps_target_dir, cargo, http_get};
use common::{maze, stderr, stdout, temp_dir, tree};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A copy of the fixture `name`, formatted by rustfmt's defaults wherever it is.
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/axum");
    let dir = temp_dir();
    let root = dir.path().join(name);
    copy_dir(&fixtures.join(name), &root);
    std::fs::copy(fixtures.join("rustfmt.toml"), root.join("rustfmt.toml")).unwrap();
    (dir, root)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// `maze init` (with `init_args`), then a socket with a channel.
fn init_with_chat(root: &Path, init_args: &[&str]) -> String {
    let output = maze(root).arg("init").args(init_args).output().unwrap();
    assert!(output.status.success(), "maze init: {}{}", stdout(&output), stderr(&output));
    maze(root).args(["g", "socket", "ChatSocket", "chat_room"]).assert().success();
    stdout(&output)
}

fn build(root: &Path, binary: &str) -> BuiltApp {
    cargo(root, &["build", "--quiet"]);
    BuiltApp { root: root.to_path_buf(), binary: apps_target_dir().join("debug").join(binary) }
}

fn serve(app: &BuiltApp) -> Server {
    Server::start_with(app, 0, &[("PORT", "0")])
}

/// A maze.js page in Chromium and the official phoenix client join
/// `chat_room:123`; each one's push reaches both.
fn chat_works(server: &Server) {
    let mut browser = Browser::launch();
    // Any page of the app's origin: the app's own `/`, with maze's scripts added
    // as its author would add them.
    browser.call("Page.navigate", json!({"url": format!("http://127.0.0.1:{}/", server.port)}));
    browser.wait_for("document.readyState", json!("complete"));
    browser.eval(
        r#"(() => {
            const demo = document.createElement("div");
            demo.id = "maze-channels";
            document.body.append(demo);
            const script = document.createElement("script");
            script.type = "module";
            script.src = "/maze/js/app.js";
            document.head.append(script);
            return true;
        })()"#,
    );
    let state = r#"document.querySelector('[data-topic="chat_room:123"]')?.dataset.state ?? null"#;
    browser.wait_for(state, json!("joined"));

    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let mut phoenix = Command::new("node")
        .args([
            "phoenix_chat.mjs",
            &server.port.to_string(),
            "chat_room:123",
            "from phoenix",
            "from chromium",
        ])
        .current_dir(&js)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(phoenix.stdout.take().unwrap()).lines();
    let mut next_step = || -> Value {
        let line = lines.next().expect("phoenix_chat.mjs ended early").unwrap();
        let step: Value = serde_json::from_str(&line).unwrap();
        assert!(step.get("failed").is_none(), "the phoenix client: {step}");
        step
    };
    assert_eq!(next_step(), json!({"step": "join", "value": "ok"}));
    // Its push is answered, and comes back to it as a broadcast (in either order).
    let mut steps = vec![next_step(), next_step()];
    steps.sort_by_key(|step| step["step"].as_str().unwrap().to_string());
    assert_eq!(
        steps,
        [
            json!({"step": "push", "value": "ok"}),
            json!({"step": "rebroadcast", "value": {"message": "from phoenix", "user_id": null}})
        ]
    );
    let messages = r#"[...document.querySelectorAll('[data-topic="chat_room:123"] li')].map(li => li.textContent).join("|")"#;
    browser.wait_for(messages, json!("from phoenix"));

    browser.say("chat_room:123", "from chromium");
    browser.wait_for(messages, json!("from phoenix|from chromium"));
    assert_eq!(
        next_step(),
        json!({"step": "received", "value": {"message": "from chromium", "user_id": null}})
    );
    assert!(phoenix.wait().unwrap().success());
}

/// A GET's status line, headers and body, as sent.
fn raw_get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn axums_hello_world_gets_a_socket_and_keeps_its_route() {
    let (_dir, root) = fixture("hello");
    let said = init_with_chat(&root, &[]);
    // More channels, as in a maze app; a controller is the app's own business.
    maze(&root).args(["g", "channel", "Lobby"]).assert().success();
    let controller = maze(&root).args(["g", "controller", "Posts"]).output().unwrap();
    assert_eq!(controller.status.code(), Some(1));
    assert!(
        stderr(&controller).contains("add `.route(\"/posts\", get(handler))`"),
        "{}",
        stderr(&controller)
    );
    // The diff of the app's own code is shown.
    // The diff of the app's own code is shown: the chain's line stays as it
    // was (and as rustfmt wants it); the merge is a statement after it.
    let diff = "     let app = Router::new().route(\"/\", get(|| async { \"Hello, World!\" }));\n\
                +    let app = app.merge(hello_axum::sockets::router());\n";
    assert!(said.contains(diff), "{said}");
    let app = build(&root, "hello-axum");
    // Generated code held to the app's own bar: clippy, rustfmt, its tests.
    cargo(&root, &["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"]);
    cargo(&root, &["fmt", "--check"]);
    cargo(&root, &["test", "--quiet"]);

    let routes = stdout(&maze(&root).arg("routes").output().unwrap());
    assert!(routes.contains("GET    /      || async { \"Hello, World!\" }"), "{routes}");
    assert!(routes.contains("WS     /chat  sockets::chat_socket::ChatSocket"), "{routes}");
    assert!(routes.contains("chat_room:*  channels::chat_room_channel::ChatRoomChannel"), "{routes}");
    assert!(routes.contains("lobby:*  channels::lobby_channel::LobbyChannel"), "{routes}");

    let server = serve(&app);
    assert_eq!(server.get("/"), "Hello, World!");
    chat_works(&server);
}

#[test]
fn an_app_with_state_keeps_it() {
    let (_dir, root) = fixture("state");
    init_with_chat(&root, &[]);
    let main = std::fs::read_to_string(root.join("src/main.rs")).unwrap();
    assert!(
        main.contains("        .with_state(state)\n        .merge(state_app::sockets::router());"),
        "{main}"
    );
    let app = build(&root, "state-app");
    let server = serve(&app);
    assert_eq!(server.get("/"), "visit 1");
    assert_eq!(server.get("/"), "visit 2");
    chat_works(&server);
}

#[test]
fn a_router_built_in_a_library_module_merges_from_its_crate() {
    let (_dir, root) = fixture("module");
    init_with_chat(&root, &[]);
    let routes = std::fs::read_to_string(root.join("src/routes.rs")).unwrap();
    assert!(
        routes.contains(
            "        .route(\"/users/{id}\", get(user))\n        .merge(crate::sockets::router())\n}"
        ),
        "{routes}"
    );
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    assert!(lib.ends_with("pub mod routes;\n\npub mod channels;\npub mod sockets;\n"), "{lib}");
    let app = build(&root, "module-app");
    cargo(&root, &["test", "--quiet"]);
    let server = serve(&app);
    assert_eq!(server.get("/"), "module app");
    assert_eq!(server.get("/users/7"), "user 7");
    chat_works(&server);
}

#[test]
fn an_apps_middleware_keeps_working() {
    let (_dir, root) = fixture("layer");
    init_with_chat(&root, &[]);
    let app = build(&root, "layer-app");
    let server = serve(&app);
    let response = raw_get(server.port, "/");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.to_lowercase().contains("x-served-by: layer-app"), "{response}");
    assert!(response.ends_with("layered"), "{response}");
    chat_works(&server);
}

#[test]
fn two_routers_are_refused_until_one_is_named() {
    let (_dir, root) = fixture("ambiguous");
    let before = tree(&root);
    let refused = maze(&root).arg("init").output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let error = stderr(&refused);
    assert!(error.contains("src/main.rs:8") && error.contains("src/main.rs:9"), "{error}");
    assert!(
        error.contains("--router FILE:LINE") && error.contains(".merge(ambiguous_app::sockets::router())"),
        "{error}"
    );
    assert_eq!(tree(&root), before, "a refused init wrote something");

    // The call added by hand, init writes the rest around it.
    let (_dir, by_hand) = fixture("ambiguous");
    let main = by_hand.join("src/main.rs");
    let source = std::fs::read_to_string(&main).unwrap();
    let merged = source.replace(
        ".nest(\"/api\", api);",
        ".nest(\"/api\", api)\n        .merge(ambiguous_app::sockets::router());",
    );
    std::fs::write(&main, &merged).unwrap();
    maze(&by_hand).arg("init").assert().success();
    assert_eq!(std::fs::read_to_string(&main).unwrap(), merged);
    assert!(by_hand.join("src/sockets/mod.rs").is_file());

    // A line without a router is refused too, with nothing written.
    let nowhere = maze(&root).args(["init", "--router", "src/main.rs:3"]).output().unwrap();
    assert_eq!(nowhere.status.code(), Some(1));
    assert!(
        stderr(&nowhere).contains("line 3 of src/main.rs has no `Router::new()`"),
        "{}",
        stderr(&nowhere)
    );
    assert_eq!(tree(&root), before);

    init_with_chat(&root, &["--router", "src/main.rs:9"]);
    let main = std::fs::read_to_string(root.join("src/main.rs")).unwrap();
    assert!(
        main.contains(".nest(\"/api\", api)\n        .merge(ambiguous_app::sockets::router());"),
        "{main}"
    );
    let app = build(&root, "ambiguous-app");
    let server = serve(&app);
    assert_eq!(server.get("/"), "ambiguous app");
    assert_eq!(http_get(server.port, "/api/health"), "ok");
    chat_works(&server);
}

#[test]
fn init_is_idempotent_and_destroy_undoes_it_byte_for_byte() {
    for name in ["hello", "module", "state"] {
        let (_dir, root) = fixture(name);
        let before = tree(&root);
        maze(&root).arg("init").assert().success();
        let initialised = tree(&root);
        let again = maze(&root).arg("init").output().unwrap();
        assert!(again.status.success());
        assert_eq!(tree(&root), initialised, "{name}: a second init changed the app");
        assert!(
            !stdout(&again).contains("create") && !stdout(&again).contains("insert"),
            "{}",
            stdout(&again)
        );

        maze(&root).args(["g", "socket", "ChatSocket", "chat_room"]).assert().success();
        // The socket's files are init's modules' users: undoing init first is refused.
        let refused = maze(&root).args(["d", "init"]).output().unwrap();
        assert_eq!(refused.status.code(), Some(1));
        assert!(stderr(&refused).contains("src/sockets still holds chat_socket.rs"), "{}", stderr(&refused));
        maze(&root).args(["d", "socket", "ChatSocket", "chat_room"]).assert().success();
        assert_eq!(tree(&root), initialised, "{name}: g socket then d socket is not byte-identical");
        maze(&root).args(["d", "init"]).assert().success();
        assert_eq!(tree(&root), before, "{name}: init then d init is not byte-identical");
    }
}

#[test]
fn apps_init_cannot_serve_are_refused_with_nothing_written() {
    let (_dir, root) = fixture("hello");
    let manifest = root.join("Cargo.toml");
    let original = std::fs::read_to_string(&manifest).unwrap();

    std::fs::write(&manifest, original.replace("axum = \"0.8\"", "axum = \"0.7\"")).unwrap();
    let before = tree(&root);
    let old = maze(&root).arg("init").output().unwrap();
    assert_eq!(old.status.code(), Some(1));
    assert!(stderr(&old).contains("axum 0.7, and maze's runtime on axum 0.8"), "{}", stderr(&old));
    assert_eq!(tree(&root), before);

    std::fs::write(&manifest, original.replace("axum = \"0.8\"\n", "")).unwrap();
    let before = tree(&root);
    let none = maze(&root).arg("init").output().unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("no axum dependency"), "{}", stderr(&none));
    assert_eq!(tree(&root), before);

    // A maze app is not initialised again.
    let (_dir, app) = common::new_app();
    let again = maze(&app).arg("init").output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("is a maze app already"), "{}", stderr(&again));
}
